"""Elastic Load Balancing names and their Route53 alias targets (pure, stdlib only).

An alias to a load balancer names the load balancer's DNS name and the *canonical hosted zone id* of Elastic
Load Balancing in its AWS region: one id per region for Application and Classic Load Balancers, another for
Network Load Balancers. The load balancer's kind and region are in its name:

* ALB and CLB: ``NAME-ID.REGION.elb.amazonaws.com`` (``internal-NAME-ID...`` for an internal one);
* NLB: ``NAME-ID.elb.REGION.amazonaws.com`` (and per zone, ``AZ.NAME-ID.elb.REGION.amazonaws.com``);
* the China partition ends in ``.amazonaws.com.cn``.

An alias to an ALB or CLB names its ``dualstack.`` form, as the Route53 console does (the API reference: for a
Classic Load Balancer, the value that begins with dualstack), so one A and one AAAA alias serve both families
(an AAAA alias to a load balancer without IPv6 answers nothing, which is harmless); an NLB's name is used as it
is.

The table (:data:`ZONE_IDS`) is from the AWS General Reference, "Elastic Load Balancing endpoints and quotas"
(https://docs.aws.amazon.com/general/latest/gr/elb.html), as kept by kubernetes-sigs/external-dns
``provider/aws/aws.go`` at commit 2bf1bf8af2b70f23579f9147c1f7e9394f7f83d5 (2026-08-22), and cross-checked on
2026-12-05 against hashicorp/terraform-provider-aws ``internal/service/elbv2/hosted_zone_id_data_source.go``,
which agrees on every region both list (it lacks ap-east-2 and ap-southeast-6). Regions it does not list (the
ISO partitions, the European Sovereign Cloud) are not mirrored as aliases: the plan says so.
"""
from __future__ import annotations

from dataclasses import dataclass

# AWS region -> (ALB and CLB zone id, NLB zone id)
ZONE_IDS: dict[str, tuple[str, str]] = {
    "af-south-1": ("Z268VQBMOI5EKX", "Z203XCE67M25HM"),
    "ap-east-1": ("Z3DQVH9N71FHZ0", "Z12Y7K3UBGUAD1"),
    "ap-east-2": ("Z02789141MW7T1WBU19PO", "Z09176273OC2HWIAUNYW"),
    "ap-northeast-1": ("Z14GRHDCWA56QT", "Z31USIVHYNEOWT"),
    "ap-northeast-2": ("ZWKZPGTI48KDX", "ZIBE1TIR4HY56"),
    "ap-northeast-3": ("Z5LXEXXYW11ES", "Z1GWIQ4HH19I5X"),
    "ap-south-1": ("ZP97RAFLXTNZK", "ZVDDRBQ08TROA"),
    "ap-south-2": ("Z0173938T07WNTVAEPZN", "Z0711778386UTO08407HT"),
    "ap-southeast-1": ("Z1LMS91P8CMLE5", "ZKVM4W9LS7TM"),
    "ap-southeast-2": ("Z1GM3OXH4ZPM65", "ZCT6FZBF4DROD"),
    "ap-southeast-3": ("Z08888821HLRG5A9ZRTER", "Z01971771FYVNCOVWJU1G"),
    "ap-southeast-4": ("Z09517862IB2WZLPXG76F", "Z01156963G8MIIL7X90IV"),
    "ap-southeast-5": ("Z06010284QMVVW7WO5J", "Z026317210H9ACVTRO6FB"),
    "ap-southeast-6": ("Z023301818UFJ50CIO0MV", "Z01392953RKV2Q3RBP0KU"),
    "ap-southeast-7": ("Z0390008CMBRTHFGWBCB", "Z054363131YWATEMWRG5L"),
    "ca-central-1": ("ZQSVJUPU6J1EY", "Z2EPGBW3API2WT"),
    "ca-west-1": ("Z06473681N0SF6OS049SD", "Z02754302KBB00W2LKWZ9"),
    "eu-central-1": ("Z215JYRZR1TBD5", "Z3F0SRJ5LGBH90"),
    "eu-central-2": ("Z06391101F2ZOEP8P5EB3", "Z02239872DOALSIDCX66S"),
    "eu-north-1": ("Z23TAZ6LKFMNIO", "Z1UDT6IFJ4EJM"),
    "eu-south-1": ("Z3ULH7SSC9OV64", "Z23146JA1KNAFP"),
    "eu-south-2": ("Z0956581394HF5D5LXGAP", "Z1011216NVTVYADP1SSV"),
    "eu-west-1": ("Z32O12XQLNTSW2", "Z2IFOLAFXWLO4F"),
    "eu-west-2": ("ZHURV8PSTC4K8", "ZD4D7Y8KGAS4G"),
    "eu-west-3": ("Z3Q77PNBQS71R4", "Z1CMS0P5QUZ6D5"),
    "il-central-1": ("Z09170902867EHPV2DABU", "Z0313266YDI6ZRHTGQY4"),
    "me-central-1": ("Z08230872XQRWHG2XF6I", "Z00282643NTTLPANJJG2P"),
    "me-south-1": ("ZS929ML54UICD", "Z3QSRYVP46NYYV"),
    "mx-central-1": ("Z023552324OKD1BB28BH5", "Z02031231H3ID6HYJ9A7U"),
    "sa-east-1": ("Z2P70J7HTTTPLU", "ZTK26PT1VY4CU"),
    "us-east-1": ("Z35SXDOTRQ7X7K", "Z26RNL4JYFTOTI"),
    "us-east-2": ("Z3AADJGX6KTTL2", "ZLMOA37VPKANP"),
    "us-west-1": ("Z368ELLRRE2KJ0", "Z24FKFUX50B4VW"),
    "us-west-2": ("Z1H1FL5HABSF5", "Z18D5FSROUN65G"),
    "cn-north-1": ("Z1GDH35T77C1KE", "Z3QFB96KMJ7ED6"),
    "cn-northwest-1": ("ZM7IZAIOVVDZF", "ZQEIKTCZ8352D"),
    "us-gov-east-1": ("Z166TLBEWOO7G0", "Z1ZSMQQ6Q24QQ8"),
    "us-gov-west-1": ("Z33AYJ8TM3BH4J", "ZMG1MZ2THAWF1"),
}


@dataclass(frozen=True)
class ElbTarget:
    """Where an alias to a load balancer points: ``dns_name`` (absolute, lower case, final dot) in Elastic Load
    Balancing's hosted zone ``zone_id`` of ``region``; ``kind`` "alb" (ALB or CLB) or "nlb"."""

    hostname: str
    kind: str
    region: str
    dns_name: str
    zone_id: str


def parse(hostname: str) -> tuple[str, str] | None:
    """(kind, AWS region) of a load balancer's DNS name, or None for a name that is not one."""
    labels = hostname.lower().rstrip(".").split(".")
    if labels[-2:] == ["amazonaws", "com"]:
        rest = labels[:-2]
    elif labels[-3:] == ["amazonaws", "com", "cn"]:
        rest = labels[:-3]
    else:
        return None
    if len(rest) >= 3 and rest[-1] == "elb":   # NAME-ID.REGION.elb.amazonaws.com
        return "alb", rest[-2]
    if len(rest) >= 3 and rest[-2] == "elb":   # NAME-ID.elb.REGION.amazonaws.com
        return "nlb", rest[-1]
    return None


def target(hostname: str) -> ElbTarget | None:
    """The alias target of a load balancer's DNS name; None for another name, or a region the table lacks."""
    found = parse(hostname)
    if found is None or found[1] not in ZONE_IDS:
        return None
    kind, region = found
    name = hostname.lower().rstrip(".")
    if kind == "alb" and not name.startswith("dualstack."):
        name = "dualstack." + name
    return ElbTarget(hostname, kind, region, name + ".", ZONE_IDS[region][0 if kind == "alb" else 1])

