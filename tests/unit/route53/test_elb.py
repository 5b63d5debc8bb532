"""The ELB canonical hosted zone ids against the names' region part: every region of the table is found from
an ALB's, a CLB's, an internal one's and an NLB's DNS name, with the table's id for that kind; names that are
not load balancers are not taken for one."""
from __future__ import annotations

import re

import pytest

from gtm.route53.elb import ZONE_IDS, parse, target
from gtm.route53.validate import AWS_REGIONS


def suffix(region: str) -> str:
    return "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"


@pytest.mark.parametrize("region", sorted(ZONE_IDS))
def test_every_region_is_found_from_its_load_balancers_names(region: str) -> None:
    alb_zone, nlb_zone = ZONE_IDS[region]
    for name in (f"my-alb-1234567890.{region}.elb.{suffix(region)}",
                 f"internal-my-alb-1234567890.{region}.elb.{suffix(region)}",
                 f"dualstack.my-clb-42.{region}.elb.{suffix(region)}"):
        t = target(name)
        assert t is not None and (t.kind, t.region, t.zone_id) == ("alb", region, alb_zone), name
        assert t.dns_name.startswith("dualstack.") and t.dns_name.endswith(".") and "dualstack.dualstack" not in t.dns_name
    for name in (f"my-nlb-0123456789abcdef.elb.{region}.{suffix(region)}",
                 f"{region}a.my-nlb-0123456789abcdef.elb.{region}.{suffix(region)}"):
        t = target(name)
        assert t is not None and (t.kind, t.region, t.zone_id) == ("nlb", region, nlb_zone), name
        assert t.dns_name == name + "."


def test_the_table_is_well_formed() -> None:
    ids = [z for pair in ZONE_IDS.values() for z in pair]
    assert all(re.fullmatch(r"Z[0-9A-Z]{8,31}", z) for z in ids)
    assert len(set(ids)) == len(ids)  # no id twice: a kind and a region each have their own
    assert all(re.fullmatch(r"[a-z]{2}(-[a-z]+)+-[0-9]", r) for r in ZONE_IDS)
    # Every region gtm lets a config name (aws_region) that has load balancers in the table is one it knows.
    assert set(ZONE_IDS) - set(AWS_REGIONS) <= {"ap-east-2", "ap-southeast-6", "ap-southeast-7", "mx-central-1",
                                                "ca-west-1", "ap-southeast-5", "cn-north-1", "cn-northwest-1",
                                                "us-gov-east-1", "us-gov-west-1"}


def test_other_names_are_not_load_balancers() -> None:
    for name in ("lb.example.net", "d111111abcdef8.cloudfront.net", "my-bucket.s3.amazonaws.com",
                 "ec2-192-0-2-1.compute-1.amazonaws.com", "elb.amazonaws.com", "x.elb.amazonaws.com"):
        assert parse(name) is None or target(name) is None, name
    assert target("my-alb-1.xx-nowhere-9.elb.amazonaws.com") is None  # a region the table does not have

