"""failover: the configured order for every client, scope 0; the first healthy region answers."""
from __future__ import annotations

from gtm import steering
from gtm.model import Location
from tests.unit.steering.world import (
    ALL,
    AP_SOUTHEAST,
    BERLIN,
    EU_WEST,
    TOKYO,
    UP,
    US_EAST,
    client,
    config,
    geo,
    health,
    region,
    service,
)

CFG = config()


def test_configured_order_and_scope_zero_for_every_client() -> None:
    svc = service(("eu-west", "ap-southeast", "us-east"))
    for c in (steering.Client(), client("192.0.2.1", geo(BERLIN, city_prefix=20)),
              client("2001:db8::/56", geo(TOKYO, city_prefix=32))):
        d = steering.decide(svc, c, CFG, UP)
        assert d.ranking.order == ("eu-west", "ap-southeast", "us-east")
        assert d.scope == 0
        assert (d.a, d.aaaa, d.regions, d.mode) == (("198.51.100.10",), ("2001:db8:2::10",), ("eu-west",), "normal")


def test_first_healthy_region_answers_all_its_endpoints() -> None:
    d = steering.decide(service(), steering.Client(), CFG, UP)
    assert (d.a, d.aaaa, d.regions) == (("192.0.2.10", "192.0.2.11"), ("2001:db8:1::10",), ("us-east",))
    d = steering.decide(service(), steering.Client(), CFG, health("us-east"))
    assert (d.a, d.aaaa, d.regions) == (("198.51.100.10",), ("2001:db8:2::10",), ("eu-west",))
    assert "down: us-east" in d.trail
    d = steering.decide(service(), steering.Client(), CFG, health("us-east", "eu-west/198.51.100.10",
                                                                   "eu-west/2001:db8:2::10"))
    assert (d.a, d.aaaa, d.regions) == (("203.0.113.10",), ("2001:db8:3::10",), ("ap-southeast",))


def test_a_down_endpoint_is_left_out_and_its_region_stays() -> None:
    d = steering.decide(service(), steering.Client(), CFG, health("us-east/192.0.2.10"))
    assert (d.a, d.aaaa, d.regions) == (("192.0.2.11",), ("2001:db8:1::10",), ("us-east",))


def test_families_are_decided_apart() -> None:
    # us-east's only IPv6 endpoint is down: AAAA comes from eu-west, A still from us-east
    d = steering.decide(service(), steering.Client(), CFG, health("us-east/2001:db8:1::10"))
    assert (d.a, d.aaaa, d.regions) == (("192.0.2.10", "192.0.2.11"), ("2001:db8:2::10",), ("us-east", "eu-west"))
    # a region without any IPv6 endpoint lets AAAA spill to the next one that has some
    v4only = region("v4only", Location(0, 0), "192.0.2.99")
    cfg = config(regions=(v4only, US_EAST, EU_WEST, AP_SOUTHEAST))
    d = steering.decide(service(("v4only",) + ALL), steering.Client(), cfg, UP)
    assert (d.a, d.aaaa, d.regions) == (("192.0.2.99",), ("2001:db8:1::10",), ("v4only", "us-east"))


def test_heavier_endpoints_first_equal_weights_keep_configured_order() -> None:
    r = region("r", Location(0, 0), "192.0.2.1", ("192.0.2.2", 5), ("192.0.2.3", 5), ("192.0.2.4", 2))
    d = steering.decide(service(("r",)), steering.Client(), config(regions=(r,)), UP)
    assert d.a == ("192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.1")


def test_weight_zero_endpoints_only_when_no_weighted_endpoint_of_the_region_and_family_is_up() -> None:
    r = region("r", Location(0, 0), ("192.0.2.1", 0), "192.0.2.2", ("2001:db8::1", 0), "2001:db8::2")
    other = region("o", Location(0, 0), "198.51.100.1", "2001:db8:9::1")
    cfg = config(regions=(r, other))
    svc = service(("r", "o"))
    d = steering.decide(svc, steering.Client(), cfg, UP)
    assert (d.a, d.aaaa, d.regions) == (("192.0.2.2",), ("2001:db8::2",), ("r",))
    # the weighted IPv4 endpoint is down: the weight-0 one stands in for it; IPv6 is untouched
    d = steering.decide(svc, steering.Client(), cfg, health("r/192.0.2.2"))
    assert (d.a, d.aaaa, d.regions) == (("192.0.2.1",), ("2001:db8::2",), ("r",))
    d = steering.decide(svc, steering.Client(), cfg, health("r/2001:db8::2"))
    assert (d.a, d.aaaa, d.regions) == (("192.0.2.2",), ("2001:db8::1",), ("r",))
    # stand-ins down too: that family spills to the next region
    d = steering.decide(svc, steering.Client(), cfg, health("r/192.0.2.2", "r/192.0.2.1"))
    assert (d.a, d.aaaa, d.regions) == (("198.51.100.1",), ("2001:db8::2",), ("r", "o"))
    # only weight-0 endpoints: the region counts as up and answers them
    zero = region("z", Location(0, 0), ("192.0.2.5", 0), ("192.0.2.6", 0))
    d = steering.decide(service(("z", "o")), steering.Client(), config(regions=(zero, other)), UP)
    assert (d.a, d.aaaa, d.regions) == (("192.0.2.5", "192.0.2.6"), ("2001:db8:9::1",), ("z", "o"))


def test_drained_region_and_down_endpoints_are_the_same_to_steering() -> None:
    by_region = steering.decide(service(), steering.Client(), CFG, health("us-east"))
    by_endpoints = steering.decide(service(), steering.Client(), CFG,
                                   health("us-east/192.0.2.10", "us-east/192.0.2.11", "us-east/2001:db8:1::10"))
    assert (by_region.a, by_region.aaaa) == (by_endpoints.a, by_endpoints.aaaa)
