"""Affinity: weighted rendezvous hashing keeps client networks on their region; a region leaving moves ~1/N."""
from __future__ import annotations

import ipaddress
import random
from collections import Counter

import pytest

from gtm import steering
from gtm.model import Location, WeightedPolicy
from gtm.steering import affinity
from tests.unit.steering.world import config, health, region, service

NAMES = ("r0", "r1", "r2", "r3", "r4")
REGIONS = tuple(region(n, Location(0, 10 * i), f"192.0.2.{i + 1}", f"2001:db8::{i + 1}")
                for i, n in enumerate(NAMES))
CFG = config(regions=REGIONS)
SVC = service(NAMES, WeightedPolicy(), affinity=True)
NETWORKS = 8_000


def random_nets(n: int, seed: int) -> list[steering.Client]:
    rng = random.Random(seed)
    nets = {rng.getrandbits(24) << 8 for _ in range(n * 2)}
    return [steering.Client(ipaddress.IPv4Address(bits), 24) for bits in sorted(nets)[:n]]


def test_one_of_five_regions_leaving_moves_only_its_networks_about_a_fifth() -> None:
    clients = random_nets(NETWORKS, seed=11)
    up, drained = health(), health("r2")
    before = [steering.decide(SVC, c, CFG, up).regions[0] for c in clients]
    after = [steering.decide(SVC, c, CFG, drained).regions[0] for c in clients]
    moved = [(b, a) for b, a in zip(before, after) if b != a]
    assert {b for b, _ in moved} == {"r2"}  # every moved network was on the removed region
    assert all(a != "r2" for _, a in moved)
    assert len(moved) / NETWORKS == pytest.approx(1 / 5, abs=0.015)
    assert len(moved) == before.count("r2")  # and every network of that region moved
    # its networks spread over the remaining four about evenly (no single heir takes them all)
    heirs = Counter(a for _, a in moved)
    assert set(heirs) == set(NAMES) - {"r2"}
    assert all(abs(n / len(moved) - 0.25) < 0.03 for n in heirs.values())
    # and they come back when it does
    assert [steering.decide(SVC, c, CFG, up).regions[0] for c in clients] == before


def test_removing_a_region_from_the_config_moves_the_same_networks() -> None:
    clients = random_nets(3000, seed=5)
    four = service(tuple(n for n in NAMES if n != "r2"), WeightedPolicy(), affinity=True)
    drained = health("r2")
    for c in clients:
        assert steering.decide(four, c, CFG, health()).regions == \
            steering.decide(SVC, c, CFG, drained).regions


def test_ranking_is_deterministic_and_independent_of_health() -> None:
    clients = random_nets(500, seed=3)
    ctx = steering.Context(CFG, health())
    first = [steering.rank(SVC, c, ctx).order for c in clients]
    assert [steering.rank(SVC, c, steering.Context(CFG, health("r1", "r3"))).order for c in clients] == first
    assert [steering.rank(SVC, c, ctx).order for c in clients] == first
    # the member order given does not matter either
    key = affinity.network_key(ipaddress.ip_address("198.51.100.0"), 24)
    members = [(n, 1.0) for n in NAMES]
    assert affinity.rank(key, members) == affinity.rank(key, list(reversed(members)))
    # a fixed value, so that a change of the hash (which would move every client at once) is a conscious one
    assert affinity.rank(key, members) == ["r4", "r2", "r1", "r3", "r0"]


def test_first_place_shares_follow_the_weights() -> None:
    weights = {"r0": 1, "r1": 2, "r2": 3, "r3": 4, "r4": 0}
    svc = service(NAMES, WeightedPolicy(tuple(weights.items())), affinity=True)
    ctx = steering.Context(CFG, health())
    got = Counter(steering.rank(svc, c, ctx).order[0] for c in random_nets(NETWORKS, seed=2))
    assert got["r4"] == 0
    for name, w in weights.items():
        assert got[name] / NETWORKS == pytest.approx(w / 10, abs=0.015), name


def test_a_weight_zero_member_always_ranks_last() -> None:
    for c in random_nets(300, seed=4):
        key = affinity.network_key(c.address, 24)  # type: ignore[arg-type]
        assert affinity.rank(key, [("a", 1.0), ("z", 0.0), ("b", 5.0)])[-1] == "z"


def test_network_key_is_the_truncated_network() -> None:
    a = affinity.network_key(ipaddress.ip_address("192.0.2.77"), 24)
    assert a == affinity.network_key(ipaddress.ip_address("192.0.2.0"), 24)
    assert a != affinity.network_key(ipaddress.ip_address("192.0.3.0"), 24)
    assert a != affinity.network_key(ipaddress.ip_address("192.0.2.0"), 25)  # the length is part of the key
    assert affinity.network_key(ipaddress.ip_address("10.0.0.1"), 0) == \
        affinity.network_key(ipaddress.ip_address("192.0.2.1"), 0)
    v6 = affinity.network_key(ipaddress.ip_address("2001:db8:0:12ff::1"), 56)
    assert v6 == affinity.network_key(ipaddress.ip_address("2001:db8:0:1200::"), 56)
    assert v6 != affinity.network_key(ipaddress.ip_address("2001:db8:0:1300::"), 56)
    # IPv4 and IPv6 keys never collide
    assert affinity.network_key(ipaddress.ip_address("0.0.0.0"), 0) != \
        affinity.network_key(ipaddress.ip_address("::"), 0)
