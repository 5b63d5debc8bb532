"""The geo policy end to end: a real `gtm serve` on tests/fixtures/steering/steer.test.yaml with test GeoIP
databases, asked with EDNS Client Subnet by dnspython. Also: clients without ECS (the source address), ECS
SOURCE 0, other ways of carrying ECS (TCP, next to another option), and the bundled example's done-check.

The service ``geo.steer.test`` (regions eu-central, eu-west, us-east, us-west, ap-southeast) has rules
continent EU/NA/AS/OC, country GB/US/BR, subdivision US-CA/DE-BY, ASN 64501, CIDR 31.10.250.0/24 and
2a01:100:ffff::/48, default [us-east, eu-central]. The city networks are /16 (IPv4) and /32 (IPv6); AS64501
is 31.10.128.0/17 and 2a01:100:8000::/33, inside the Munich network.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import dns.edns
import maxminddb
import pytest

from tests.conftest import ROOT, GtmProcess
from tests.support.steering_world import (
    OUTSIDE_V4, OUTSIDE_V6, PLACES, addresses, ask, build_config, region, reply_ecs, scope, serve, steer,
)


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_config(tmp_path_factory.mktemp("steer-geo"))


@pytest.fixture(scope="module")
def srv(cfg: Path) -> Iterator[GtmProcess]:
    yield from serve(cfg)


@pytest.fixture(scope="module")
def port(srv: GtmProcess) -> int:
    return srv.port


def miss_prefix(db: Path, subnet: str) -> int:
    """The prefix length of the widest network around ``subnet`` that the database says nothing about."""
    with maxminddb.open_database(str(db)) as reader:
        rec, plen = reader.get_with_prefix_len(subnet.split("/")[0])
    assert rec is None
    return int(plen)


# -- one rule kind per client; the most specific matching rule wins ------------------------------------------
@pytest.mark.parametrize("place, expect, why", [
    ("paris", "eu-central", "continent EU"),
    ("singapore", "ap-southeast", "continent AS"),
    ("sydney", "ap-southeast", "continent OC"),
    ("london", "eu-west", "country GB beats continent EU (eu-central)"),
    ("nyc", "us-east", "country US beats continent NA (us-west)"),
    ("saopaulo", "us-east", "country BR; no rule for continent SA"),
    ("sf", "us-west", "subdivision US-CA beats country US (us-east)"),
])
def test_geo_rule_per_place_ipv4(port: int, place: str, expect: str, why: str) -> None:
    """Scope: the city database network (/16); no ASN or CIDR rule reaches into these networks."""
    assert steer(port, "geo", PLACES[place].v4_client) == (expect, 16), why
    assert steer(port, "geo", PLACES[place].v4_client, "AAAA") == (expect, 16), why


@pytest.mark.parametrize("place, expect", [
    ("london", "eu-west"), ("sf", "us-west"), ("saopaulo", "us-east"), ("singapore", "ap-southeast"),
    ("sydney", "ap-southeast"),
])
def test_geo_rule_per_place_ipv6(port: int, place: str, expect: str) -> None:
    """IPv6 clients: the same rules; scope is the database's /32."""
    subnet = PLACES[place].v6_client
    assert subnet is not None
    assert steer(port, "geo", subnet, "AAAA") == (expect, 32)
    assert steer(port, "geo", subnet, "A") == (expect, 32)


@pytest.mark.parametrize("subnet, expect, want_scope, why", [
    # Munich, outside AS64501: subdivision DE-BY. The /16 city network holds AS64501's /17, so the scope
    # narrows to the /17 the client is in (the lower half, where no ASN rule applies).
    ("31.10.1.0/24", "eu-central", 17, "subdivision DE-BY"),
    ("31.10.127.0/24", "eu-central", 17, "subdivision DE-BY, last /24 before AS64501"),
    # Inside AS64501: the ASN rule beats the subdivision. The /17 is narrowed by the CIDR rule
    # 31.10.250.0/24 to the widest network around the client that does not reach into the rule.
    ("31.10.130.0/24", "eu-west", 18, "asn 64501 beats subdivision DE-BY"),
    ("31.10.200.0/24", "eu-west", 19, "asn 64501"),
    ("31.10.251.0/24", "eu-west", 24, "asn 64501, right next to the CIDR rule"),
    ("31.10.249.0/24", "eu-west", 23, "asn 64501, next to the CIDR rule"),
    # Inside the CIDR rule: it beats everything, and the scope is the rule's prefix.
    ("31.10.250.0/24", "us-east", 24, "cidr beats asn"),
    ("31.10.250.128/25", "us-east", 24, "cidr, a longer ECS source"),
    ("31.10.250.7/32", "us-east", 24, "cidr, a full address as ECS source"),
])
def test_geo_specificity_and_scope_munich_ipv4(port: int, subnet: str, expect: str, want_scope: int,
                                               why: str) -> None:
    assert steer(port, "geo", subnet) == (expect, want_scope), why


@pytest.mark.parametrize("subnet, expect, want_scope", [
    ("2a01:100:1::/48", "eu-central", 33),      # DE-BY; the /32 narrowed by AS64501's /33
    ("2a01:100:8001::/48", "eu-west", 34),      # AS64501's /33 narrowed by the CIDR rule's /48
    ("2a01:100:fffe::/48", "eu-west", 48),      # next to the CIDR rule
    ("2a01:100:ffff::/48", "us-east", 48),      # the CIDR rule itself
    ("2a01:100:ffff:1::/64", "us-east", 48),    # inside it: the rule's prefix
])
def test_geo_specificity_and_scope_munich_ipv6(port: int, subnet: str, expect: str, want_scope: int) -> None:
    assert steer(port, "geo", subnet, "AAAA") == (expect, want_scope)


def test_geo_asn_of_a_network_no_rule_names_changes_nothing(port: int) -> None:
    """London is in AS64600 (a /16, like its city network), which no rule names: country GB decides."""
    assert steer(port, "geo", "51.10.200.0/24") == ("eu-west", 16)


def test_geo_default_for_a_client_outside_the_database(port: int, cfg: Path) -> None:
    """Not in the city database: the default list; scope is the widest network the database knows nothing
    about (no ASN or CIDR rule is nearer)."""
    city = cfg.parent / "city.mmdb"
    resp = ask(port, "geo", "A", OUTSIDE_V4)
    assert region(resp) == "us-east" and sorted(addresses(resp)) == ["192.0.2.21", "192.0.2.22"]
    assert scope(resp) == miss_prefix(city, OUTSIDE_V4) > 0
    resp6 = ask(port, "geo", "AAAA", OUTSIDE_V6)
    assert addresses(resp6) == ["2001:db8:21::1"]
    assert scope(resp6) == miss_prefix(city, OUTSIDE_V6) > 0


def test_geo_reply_echoes_the_ecs_option(port: int) -> None:
    """FAMILY, SOURCE PREFIX-LENGTH and ADDRESS are echoed as sent (RFC 7871 section 7.2.1)."""
    resp = ask(port, "geo", "A", "31.10.250.128/25")
    opt = reply_ecs(resp)
    assert opt is not None
    assert (opt.family, opt.srclen, opt.scopelen, opt.address) == (1, 25, 24, "31.10.250.128")
    resp6 = ask(port, "geo", "AAAA", "2a01:100:1::/48")
    opt6 = reply_ecs(resp6)
    assert opt6 is not None
    assert (opt6.family, opt6.srclen, opt6.scopelen, opt6.address) == (2, 48, 33, "2a01:100:1::")


def test_geo_answer_carries_the_service_ttl_and_every_endpoint_of_the_region(port: int) -> None:
    """Every usable endpoint of the region, heavier first; a weight-0 endpoint only when no weighted one is up
    (see test_steering_health.py)."""
    resp = ask(port, "geo", "A", PLACES["nyc"].v4_client)
    assert [(rrset.ttl, [rd.address for rd in rrset]) for rrset in resp.answer] == [(30, ["192.0.2.22", "192.0.2.21"])]
    assert addresses(ask(port, "geo", "A", PLACES["singapore"].v4_client)) == ["192.0.2.41"]
    assert addresses(ask(port, "geo", "AAAA", PLACES["singapore"].v4_client)) == ["2001:db8:41::1"]


# -- clients without ECS, and ECS SOURCE 0 --------------------------------------------------------------------
@pytest.mark.parametrize("name, expect", [
    ("geo", "us-east"),          # 127.0.0.1 is in no database: the default list
    ("near", "eu-central"),      # proximity without a location: the configured order
    ("fast", "eu-central"),      # latency without a location: proximity, so the configured order
    ("fo", "us-west"),
])
def test_without_ecs_the_client_is_the_source_address(port: int, name: str, expect: str) -> None:
    plain = ask(port, name, "A", edns=False)
    assert plain.edns == -1 and region(plain) == expect
    with_edns = ask(port, name, "A")
    assert with_edns.edns == 0 and reply_ecs(with_edns) is None   # no ECS option when the query had none
    assert region(with_edns) == expect
    assert region(ask(port, name, "AAAA", edns=False)) == expect


@pytest.mark.parametrize("subnet", ["0.0.0.0/0", "::/0"])
@pytest.mark.parametrize("name, expect", [("geo", "us-east"), ("near", "eu-central"), ("fast", "eu-central"),
                                          ("wa", "us-east")])
def test_ecs_source_zero_means_an_unknown_client(port: int, subnet: str, name: str, expect: str) -> None:
    """SOURCE 0: the client asked that its address not be used (RFC 7871 section 7.1.2): the answer for an
    unknown client (not the resolver's own), with scope 0."""
    resp = ask(port, name, "A", subnet)
    assert region(resp) == expect
    opt = reply_ecs(resp)
    assert opt is not None and (opt.srclen, opt.scopelen) == (0, 0)


def test_ecs_over_tcp_and_next_to_another_option(port: int) -> None:
    """The same client gets the same answer and scope however the ECS option travels."""
    subnet = "31.10.130.0/24"
    want = ("eu-west", 18)
    assert steer(port, "geo", subnet) == want
    tcp = ask(port, "geo", "A", subnet, tcp=True)
    assert (region(tcp), scope(tcp)) == want
    cookie = dns.edns.GenericOption(dns.edns.OptionType.COOKIE, b"\x01\x02\x03\x04\x05\x06\x07\x08")
    both = ask(port, "geo", "A", subnet, options=[cookie])
    assert (region(both), scope(both)) == want


def test_every_place_in_one_pass_is_stable(port: int) -> None:
    """Asking again (now from the per-client cache) gives the same answers."""
    first = {p: steer(port, "geo", PLACES[p].v4_client) for p in PLACES}
    assert {p: steer(port, "geo", PLACES[p].v4_client) for p in PLACES} == first
    assert {r for r, _ in first.values()} == {"eu-central", "eu-west", "us-east", "us-west", "ap-southeast"}


# -- the bundled example (the done-check) -------------------------------------------------------------
def test_bundled_example_steers_uk_and_us_clients_to_different_regions(gtm_server) -> None:  # type: ignore[no-untyped-def]
    """`gtm serve zones/` with the embedded GeoLite2 database: +subnet=81.2.69.0/24 (GB: continent EU) and
    +subnet=8.8.8.0/24 (US: the default list) get different regions for www.example.com."""
    srv = gtm_server(ROOT / "zones")
    uk = ask(srv.port, "www.example.com.", "A", "81.2.69.0/24")
    us = ask(srv.port, "www.example.com.", "A", "8.8.8.0/24")
    assert sorted(addresses(uk)) == ["198.51.100.10", "198.51.100.11"]   # eu-west
    assert sorted(addresses(us)) == ["192.0.2.10", "192.0.2.11"]         # us-east
    assert scope(uk) > 0 and scope(us) > 0
