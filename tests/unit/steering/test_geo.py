"""geo: the most specific rule wins; its regions, then the default's; the scope is where that cannot change."""
from __future__ import annotations

import ipaddress

from gtm import steering
from gtm.model import GeoInfo, GeoMatch, GeoPolicy, GeoRule
from tests.unit.steering.world import BERLIN, UP, client, config, geo, health, service

CFG = config()
CTX = steering.Context(CFG, UP)
DEFAULT = ("us-east", "eu-west", "ap-southeast")


def net(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text)


def rule(regions: str, **match: object) -> GeoRule:
    if "cidr" in match:
        match["cidr"] = net(str(match["cidr"]))
    return GeoRule(GeoMatch(**match), tuple(regions.split()))  # type: ignore[arg-type]


ALL_KINDS = (
    rule("us-east", continent="EU"),
    rule("eu-west", country="DE"),
    rule("ap-southeast eu-west", subdivision="DE-BE"),
    rule("eu-west ap-southeast", asn=64500),
    rule("ap-southeast", cidr="10.0.0.0/8"),
    rule("us-east ap-southeast", cidr="10.1.0.0/16"),
)
# a client that every rule above matches (10.1.2.0/24 in Berlin, AS64500)
EVERYWHERE = geo(BERLIN, "EU", "DE", ("DE-BE",), asn=64500, city_prefix=20, asn_prefix=18)


def ranking(rules: tuple[GeoRule, ...], c: steering.Client, default: tuple[str, ...] = DEFAULT) -> steering.Ranking:
    return steering.rank(service(policy=GeoPolicy(rules, default)), c, CTX)


def test_most_specific_rule_wins_cidr_asn_subdivision_country_continent_default() -> None:
    c = client("10.1.2.0/24", EVERYWHERE)
    expected = [
        ("cidr 10.1.0.0/16", ("us-east", "ap-southeast", "eu-west")),  # longest CIDR, then the default's rest
        ("cidr 10.0.0.0/8", ("ap-southeast", "us-east", "eu-west")),
        ("asn 64500", ("eu-west", "ap-southeast", "us-east")),
        ("subdivision DE-BE", ("ap-southeast", "eu-west", "us-east")),
        ("country DE", ("eu-west", "us-east", "ap-southeast")),
        ("continent EU", ("us-east", "eu-west", "ap-southeast")),
        ("no rule matched; default", DEFAULT),
    ]
    rules: tuple[GeoRule, ...] = ALL_KINDS
    for what, order in expected:
        r = ranking(rules, c)
        assert (r.key, r.order) == (f"rule {what}" if what[0] != "n" else what, order)
        winner = max(rules, key=lambda x: x.match.specificity) if rules else None
        rules = tuple(x for x in rules if x is not winner)


def test_rule_order_in_the_list_does_not_matter() -> None:
    c = client("10.1.2.0/24", EVERYWHERE)
    assert ranking(tuple(reversed(ALL_KINDS)), c).order == ranking(ALL_KINDS, c).order


def test_cidr_longest_match() -> None:
    rules = (rule("ap-southeast", cidr="10.0.0.0/8"), rule("ap-southeast", cidr="10.1.2.0/24"),
             rule("eu-west", cidr="2001:db8::/32"))
    assert ranking(rules, client("10.1.2.7")).key == "rule cidr 10.1.2.0/24"
    assert ranking(rules, client("10.1.3.7")).key == "rule cidr 10.0.0.0/8"
    assert ranking(rules, client("11.0.0.1")).key == "no rule matched; default"
    assert ranking(rules, client("2001:db8:5::/48")).order == ("eu-west", "us-east", "ap-southeast")
    assert ranking(rules, client("2001:db9::/48")).order == DEFAULT


def test_deeper_subdivision_wins() -> None:
    london = geo(None, "EU", "GB", ("GB-ENG", "GB-LND"))
    rules = (rule("us-east", subdivision="GB-ENG"), rule("ap-southeast", subdivision="GB-LND"))
    assert ranking(rules, client("81.2.69.0/24", london)).key == "rule subdivision GB-LND"
    assert ranking(tuple(reversed(rules)), client("81.2.69.0/24", london)).key == "rule subdivision GB-LND"
    assert ranking(rules, client("81.2.69.0/24", geo(None, "EU", "GB", ("GB-ENG", "GB-MAN")))).key == \
        "rule subdivision GB-ENG"


def test_rule_regions_then_default_without_repeats() -> None:
    rules = (rule("ap-southeast", country="JP"),)
    tokyo = geo(None, "AS", "JP")
    assert ranking(rules, client("1.2.3.4", tokyo), default=("us-east",)).order == ("ap-southeast", "us-east")
    assert ranking(rules, client("1.2.3.4", tokyo), default=("ap-southeast", "eu-west")).order == \
        ("ap-southeast", "eu-west")


def test_rule_regions_down_fall_back_to_the_default_list() -> None:
    svc = service(policy=GeoPolicy((rule("ap-southeast", country="JP"),), ("eu-west", "us-east")))
    c = client("1.2.3.4", geo(None, "AS", "JP"))
    d = steering.decide(svc, c, CFG, health("ap-southeast"))
    assert (d.regions, d.a) == (("eu-west",), ("198.51.100.10",))


def test_unknown_client_and_client_outside_the_database_get_the_default() -> None:
    rules: tuple[GeoRule, ...] = ALL_KINDS
    r = ranking(rules, steering.Client())
    assert (r.order, r.scope) == (DEFAULT, 0)
    r = ranking(rules, client("192.0.2.1", GeoInfo(False, city_prefix=7)))
    assert (r.order, r.scope) == (DEFAULT, 7)  # the database's empty network around the address


def test_scope_is_the_database_network_of_location_or_asn() -> None:
    c = client("81.2.69.0/24", geo(BERLIN, "EU", "DE", city_prefix=19, asn=64999, asn_prefix=22))
    assert ranking((rule("eu-west", country="DE"),), c).scope == 19
    assert ranking((rule("eu-west", asn=64500),), c).scope == 22
    # both kinds of rule: the answer depends on both records, so the narrower network
    assert ranking((rule("eu-west", country="DE"), rule("us-east", asn=64500)), c).scope == 22
    # a default-only policy never depends on the client
    assert ranking((), c).scope == 0


def test_scope_narrows_next_to_a_cidr_rule() -> None:
    rules = (rule("eu-west", country="DE"), rule("ap-southeast", cidr="10.1.2.0/24"))
    berlin = geo(BERLIN, "EU", "DE", city_prefix=8)
    # 10.0.0.0 and 10.1.2.0 first differ in bit 16: /16 is the widest network around 10.0.0.0 without the rule
    assert ranking(rules, client("10.0.0.0/24", berlin)).scope == 16
    # 10.1.3.0 and 10.1.2.0 differ in bit 24
    assert ranking(rules, client("10.1.3.0/24", berlin)).scope == 24
    assert ranking(rules, client("10.1.3.128/25", berlin)).scope == 24
    # far from the rule: the database network stands
    assert ranking(rules, client("172.16.0.0/24", berlin)).scope == 8
    # inside the rule: the rule's own network
    inside = ranking(rules, client("10.1.2.0/24", berlin))
    assert (inside.order[0], inside.scope) == ("ap-southeast", 24)
    assert ranking(rules, client("10.1.2.64/26", berlin)).scope == 24
    # only CIDR rules: no database network to start from
    assert ranking(rules[1:], client("10.1.3.0/24", berlin)).scope == 24
    assert ranking(rules[1:], client("192.0.2.0/24", berlin)).scope == 1
    # rules of the other family never narrow
    assert ranking((rule("ap-southeast", cidr="2001:db8::/32"),), client("10.1.3.0/24", berlin)).scope == 0


def test_scope_inside_nested_cidr_rules() -> None:
    # overlapping rules with the same regions (what the loader allows): the widest of them holds
    same = (rule("ap-southeast", cidr="10.0.0.0/8"), rule("ap-southeast", cidr="10.1.0.0/16"))
    assert ranking(same, client("10.1.2.0/24")).scope == 8
    assert ranking(same, client("10.2.0.0/24")).scope == 8
    # different regions (built by hand): each client's scope stays inside its own answer
    diff = (rule("ap-southeast", cidr="10.0.0.0/8"), rule("eu-west", cidr="10.1.0.0/16"))
    assert ranking(diff, client("10.1.2.0/24")).scope == 16
    r = ranking(diff, client("10.2.0.0/24"))
    assert (r.order[0], r.scope) == ("ap-southeast", 15)  # 10.2/15 holds no part of 10.1/16
    assert ranking(diff, client("10.128.0.0/24")).scope == 9


def test_scope_for_ipv6_clients() -> None:
    rules = (rule("ap-southeast", country="JP"), rule("eu-west", cidr="2001:db8:a::/48"))
    tokyo = geo(None, "AS", "JP", city_prefix=32)
    assert ranking(rules, client("2001:db8:b::/56", tokyo)).scope == 48  # 0x000a vs 0x000b differ in bit 47
    assert ranking(rules, client("2001:db8:a:1::/64", tokyo)).scope == 48
    assert ranking(rules, client("2a00::/56", tokyo)).scope == 32
