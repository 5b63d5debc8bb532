"""Proximity (with a bias), latency (RTTs and a sticky choice from a health file; without RTTs, proximity),
failover, weighted (with and without ``affinity: hash``) and multi-value ``answers: N``, end to end through a
real `gtm serve --health tests/fixtures/steering/health-rtt.yaml` asked with EDNS Client Subnet.

health-rtt.yaml: nothing is down; from frankfurt eu-central 40 ms, eu-west 35, us-east 95; from virginia
us-east 20, us-west 18, eu-west 80; service ``fast`` sticks to us-east at virginia. california and singapore
have no measurements.
"""
from __future__ import annotations

import ipaddress
from collections import Counter
from typing import Iterator

import pytest

from tests.conftest import GtmProcess
from tests.support.steering_world import (
    HEALTH_RTT, OUTSIDE_V4, PLACES, addresses, ask, build_config, region, regions, reply_ecs, scope, serve, steer,
)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GtmProcess]:
    cfg = build_config(tmp_path_factory.mktemp("steer-policies"))
    yield from serve(cfg, "--health", HEALTH_RTT)


@pytest.fixture(scope="module")
def port(srv: GtmProcess) -> int:
    return srv.port


# -- proximity ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("place, expect", [
    ("munich", "eu-central"), ("paris", "eu-central"), ("london", "eu-west"), ("sf", "us-west"),
    ("nyc", "us-east"), ("saopaulo", "us-east"), ("singapore", "ap-southeast"), ("sydney", "ap-southeast"),
])
def test_proximity_nearest_region(port: int, place: str, expect: str) -> None:
    """The nearest region by great-circle distance; scope: the city database network."""
    assert steer(port, "near", PLACES[place].v4_client) == (expect, 16)
    v6 = PLACES[place].v6_client
    if v6 is not None:
        assert steer(port, "near", v6, "AAAA") == (expect, 32)


@pytest.mark.parametrize("place, expect, why", [
    ("paris", "eu-west", "Dublin 781 km - 500 km bias beats Frankfurt 478 km"),
    ("sydney", "us-west", "San Jose 11964 km at -50% beats Singapore 6306 km"),
    ("saopaulo", "us-west", "San Jose 10370 km at -50% beats Virginia 7664 km"),
    ("munich", "eu-central", "Dublin 1378 km - 500 km is still farther than Frankfurt 304 km"),
    ("singapore", "ap-southeast", "7 km: no bias reaches that"),
    ("london", "eu-west", "nearest anyway"),
])
def test_proximity_bias_in_km_and_percent(port: int, place: str, expect: str, why: str) -> None:
    assert steer(port, "nearb", PLACES[place].v4_client) == (expect, 16), why


def test_proximity_without_location_is_the_configured_order(port: int) -> None:
    resp = ask(port, "near", "A", OUTSIDE_V4)
    assert region(resp) == "eu-central"
    assert scope(resp) > 0  # the database network that has no record


# -- latency --------------------------------------------------------------------------------------------------
def test_latency_lowest_rtt_from_the_nearest_vantage(port: int) -> None:
    """Munich and Paris are nearest to frankfurt, where eu-west (35 ms) beats the nearer eu-central (40 ms)."""
    assert steer(port, "fast", PLACES["munich"].v4_client) == ("eu-west", 16)
    assert steer(port, "fast", PLACES["paris"].v4_client) == ("eu-west", 16)
    assert steer(port, "fast", PLACES["munich"].v6_client or "", "AAAA") == ("eu-west", 32)


def test_latency_keeps_the_sticky_choice_within_the_hysteresis(port: int) -> None:
    """New York and Sao Paulo are nearest to virginia: us-west is fastest (18 ms) but the service sticks to
    us-east (20 ms, within 20%)."""
    assert steer(port, "fast", PLACES["nyc"].v4_client) == ("us-east", 16)
    assert steer(port, "fast", PLACES["saopaulo"].v4_client) == ("us-east", 16)


@pytest.mark.parametrize("place, expect", [("sf", "us-west"), ("singapore", "ap-southeast"),
                                           ("sydney", "ap-southeast")])
def test_latency_without_measurements_is_proximity(port: int, place: str, expect: str) -> None:
    """california and singapore have no RTTs: the nearest region."""
    assert steer(port, "fast", PLACES[place].v4_client) == (expect, 16)
    assert steer(port, "fast", PLACES[place].v4_client) == steer(port, "near", PLACES[place].v4_client)


def test_latency_without_location_is_the_configured_order(port: int) -> None:
    assert region(ask(port, "fast", "A", OUTSIDE_V4)) == "eu-central"


# -- failover -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("subnet", [PLACES["munich"].v4_client, PLACES["sydney"].v4_client, OUTSIDE_V4,
                                    "2400:500:2::/48"])
def test_failover_first_configured_region_for_everyone(port: int, subnet: str) -> None:
    """Every client gets the first region, and the answer holds for every network: scope 0."""
    assert steer(port, "fo", subnet) == ("us-west", 0)
    assert steer(port, "fo", subnet, "AAAA") == ("us-west", 0)


# -- weighted with affinity -----------------------------------------------------------------------------------
def test_weighted_affinity_same_network_same_region(port: int) -> None:
    """Each /24 keeps its region over repeated queries, whatever part of it the ECS source names; the scope is
    the service's ecs_scope (v4 default 24); over many /24s both regions get networks."""
    seen: dict[str, str] = {}
    for i in range(64):
        net = f"198.51.{i}.0"
        picks = set()
        for subnet in (f"{net}/24", f"198.51.{i}.77/32", f"198.51.{i}.128/25", f"{net}/24"):
            r, s = steer(port, "wa", subnet)
            assert s == 24
            picks.add(r)
        picks.add(region(ask(port, "wa", "AAAA", f"{net}/24")))
        assert len(picks) == 1, f"{net}/24 answered {picks}"
        seen[net] = picks.pop()
    counts = Counter(seen.values())
    assert set(counts) == {"us-east", "eu-central"}
    assert counts["us-east"] > counts["eu-central"]  # weights 3:1; 64 networks (deterministic hash)


def test_weighted_affinity_short_ecs_source_is_hashed_as_its_first_scope_network(port: int) -> None:
    """An ECS /16 gets the answer of its first /24 (the reply's scope says the answer holds for that /24)."""
    for i in range(0, 64, 8):
        assert steer(port, "wa", f"198.{i}.0.0/16") == steer(port, "wa", f"198.{i}.0.0/24")
        assert steer(port, "wa", f"198.{i}.0.0/16")[1] == 24


def test_weighted_affinity_ipv6_scope_is_56(port: int) -> None:
    """IPv6: the /56 is the client network (ecs_scope v6 default); a /64 inside it gets the same answer."""
    base = ipaddress.IPv6Network("2001:db8:aa00::/40")
    for sub in list(base.subnets(new_prefix=56))[:16]:
        inside = f"{sub.network_address + (0x12 << 64)}/64"  # a /64 inside the /56
        first = steer(port, "wa", str(sub), "AAAA")
        assert first[1] == 56
        assert steer(port, "wa", inside, "AAAA") == first


def test_weighted_affinity_without_ecs_is_stable(port: int) -> None:
    """Without ECS the source address 127.0.0.1 is the client network: one region, every time."""
    assert len({region(ask(port, "wa", "A", edns=False)) for _ in range(10)}) == 1


# -- weighted without affinity --------------------------------------------------------------------------------
@pytest.mark.parametrize("rdtype", ["A", "AAAA"])
def test_weighted_without_affinity_follows_the_weights(port: int, rdtype: str) -> None:
    """200 queries from one client: both regions, in about the proportion 3:1; scope 0 (the same for every
    network)."""
    counts: Counter[str] = Counter()
    for _ in range(200):
        r, s = steer(port, "wr", PLACES["munich"].v4_client, rdtype)
        assert s == 0
        counts[r] += 1
    assert set(counts) == {"us-east", "eu-central"}
    assert 130 <= counts["us-east"] <= 170, counts


def test_weighted_without_affinity_and_without_ecs(port: int) -> None:
    counts = Counter(region(ask(port, "wr", "A", edns=False)) for _ in range(40))
    assert set(counts) == {"us-east", "eu-central"}
    assert counts["us-east"] > counts["eu-central"]


def test_weighted_draws_the_lead_endpoint_by_weight_when_answers_leaves_some_out(port: int) -> None:
    """``wl``: us-east weighs 1, eu-central 0 (never first), ``answers: 1``. us-east has two IPv4 endpoints,
    192.0.2.21 (weight 1) and 192.0.2.22 (weight 2): each answer holds one, drawn about 1:2."""
    counts: Counter[str] = Counter()
    for _ in range(90):
        resp = ask(port, "wl", "A", PLACES["paris"].v4_client)
        assert len(addresses(resp)) == 1 and scope(resp) == 0
        counts[addresses(resp)[0]] += 1
    assert set(counts) == {"192.0.2.21", "192.0.2.22"}
    assert 20 <= counts["192.0.2.21"] <= 40, counts
    assert {tuple(addresses(ask(port, "wl", "AAAA", PLACES["paris"].v4_client))) for _ in range(6)} == \
        {("2001:db8:21::1",)}


# -- answers: N -----------------------------------------------------------------------------------------------
def test_answers_n_spills_over_regions_per_family(port: int) -> None:
    """``answers: 3`` means up to 3 addresses per family, from the ranked regions in order: for a Paris client
    (eu-central, eu-west, us-east, ...) A takes one address from each of three regions, and so does AAAA."""
    a = ask(port, "multi", "A", PLACES["paris"].v4_client)
    assert addresses(a) == ["192.0.2.11", "192.0.2.12", "192.0.2.22"]  # us-east's heavier endpoint
    aaaa = ask(port, "multi", "AAAA", PLACES["paris"].v4_client)
    assert addresses(aaaa) == ["2001:db8:11::1", "2001:db8:12::1", "2001:db8:21::1"]
    assert scope(a) == scope(aaaa) == 16


def test_answers_n_counts_a_and_aaaa_apart(port: int) -> None:
    """New York: us-east has two IPv4 load balancers and one IPv6 one, so A is filled by us-east and the next
    region (us-west), while AAAA needs three regions (us-east, us-west, eu-west)."""
    a = ask(port, "multi", "A", PLACES["nyc"].v4_client)
    assert sorted(addresses(a)[:2]) == ["192.0.2.21", "192.0.2.22"] and addresses(a)[2:] == ["192.0.2.31"]
    assert regions(a) == ["us-east", "us-west"]
    aaaa = ask(port, "multi", "AAAA", PLACES["nyc"].v4_client)
    assert addresses(aaaa) == ["2001:db8:21::1", "2001:db8:31::1", "2001:db8:12::1"]
    assert regions(aaaa) == ["us-east", "us-west", "eu-west"]


def test_answers_n_for_a_client_without_ecs(port: int) -> None:
    """No location: the configured order, still three addresses per family."""
    resp = ask(port, "multi", "AAAA", edns=False)
    assert addresses(resp) == ["2001:db8:11::1", "2001:db8:12::1", "2001:db8:21::1"]
    assert reply_ecs(resp) is None
