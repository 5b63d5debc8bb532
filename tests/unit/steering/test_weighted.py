"""weighted: a draw by weight per query (scope 0), or with ``affinity: hash`` a rendezvous hash per network."""
from __future__ import annotations

import random
from collections import Counter

import pytest

from gtm import steering
from gtm.model import Config, HealthSnapshot, Location, Service, WeightedPolicy
from tests.unit.steering.world import (
    ALL,
    BERLIN,
    UP,
    client,
    config,
    geo,
    health,
    region,
    service,
)

CFG = config()
POLICY = WeightedPolicy(weights=(("us-east", 3), ("eu-west", 0)))  # ap-southeast not named: weight 1
DRAWS = 8_000


def firsts(svc: Service, h: HealthSnapshot, cfg: Config = CFG,
           seed: int = 1) -> Counter[str]:
    rng = random.Random(seed)
    return Counter(steering.decide(svc, steering.Client(), cfg, h, rng).regions[0] for _ in range(DRAWS))


def test_ranking_without_affinity_carries_the_weights_and_scope_zero() -> None:
    r = steering.rank(service(policy=POLICY), client("192.0.2.1", geo(BERLIN)), steering.Context(CFG, UP))
    assert r.weights == (("us-east", 3), ("eu-west", 0), ("ap-southeast", 1))
    assert r.order == ("us-east", "ap-southeast", "eu-west")  # heaviest first, for spilling over
    assert (r.scope, r.key) == (0, "draw")


def test_draw_frequencies_follow_the_weights() -> None:
    got = firsts(service(policy=POLICY), UP)
    assert got["eu-west"] == 0  # weight 0: never first while a weighted region is up
    assert got["us-east"] / DRAWS == pytest.approx(0.75, abs=0.02)
    assert got["ap-southeast"] / DRAWS == pytest.approx(0.25, abs=0.02)


def test_draw_is_among_healthy_regions_only() -> None:
    svc = service(policy=WeightedPolicy((("us-east", 1), ("eu-west", 2), ("ap-southeast", 1))))
    got = firsts(svc, health("eu-west"))
    assert set(got) == {"us-east", "ap-southeast"}
    assert got["us-east"] / DRAWS == pytest.approx(0.5, abs=0.02)


def test_weight_zero_region_answers_when_every_weighted_region_is_down() -> None:
    d = steering.decide(service(policy=POLICY), steering.Client(), CFG, health("us-east", "ap-southeast"),
                        random.Random(1))
    assert (d.a, d.regions, d.mode) == (("198.51.100.10",), ("eu-west",), "normal")


def test_without_rng_the_heaviest_healthy_region_answers() -> None:
    d = steering.decide(service(policy=POLICY), steering.Client(), CFG, UP)
    assert d.regions == ("us-east",)
    d = steering.decide(service(policy=POLICY), steering.Client(), CFG, health("us-east"))
    assert d.regions == ("ap-southeast",)


def test_drawn_region_leads_and_answers_n_spill_in_heaviest_order() -> None:
    svc = service(policy=POLICY, answers=3)
    d = steering.choose(svc, steering.rank(svc, steering.Client(), steering.Context(CFG, UP)), CFG, UP,
                        first="ap-southeast")
    assert d.a == ("203.0.113.10", "192.0.2.10", "192.0.2.11")
    assert d.aaaa == ("2001:db8:3::10", "2001:db8:1::10", "2001:db8:2::10")
    assert d.regions == ("ap-southeast", "us-east", "eu-west")


def test_lead_endpoint_is_drawn_by_endpoint_weight_when_answers_leave_some_out() -> None:
    r = region("r", Location(0, 0), ("192.0.2.1", 3), ("192.0.2.2", 1), "2001:db8::1")
    cfg = config(regions=(r,))
    svc = service(("r",), WeightedPolicy(), answers=1)
    assert steering.draws_endpoints(svc, r, UP.default)
    rng = random.Random(7)
    got = Counter(steering.decide(svc, steering.Client(), cfg, UP, rng).a for _ in range(DRAWS))
    assert set(got) == {("192.0.2.1",), ("192.0.2.2",)}
    assert got[("192.0.2.1",)] / DRAWS == pytest.approx(0.75, abs=0.02)
    # the AAAA side has one endpoint: always it
    assert {steering.decide(svc, steering.Client(), cfg, UP, rng).aaaa for _ in range(50)} == {("2001:db8::1",)}


def test_no_lead_draw_when_answers_cover_every_endpoint() -> None:
    r = region("r", Location(0, 0), ("192.0.2.1", 3), ("192.0.2.2", 1))
    cfg = config(regions=(r,))
    for answers in (None, 2, 5):
        svc = service(("r",), WeightedPolicy(), answers=answers)
        assert not steering.draws_endpoints(svc, r, UP.default)
        rng = random.Random(3)
        assert {steering.decide(svc, steering.Client(), cfg, UP, rng).a for _ in range(200)} == \
            {("192.0.2.1", "192.0.2.2")}


def test_affinity_is_deterministic_per_network_with_the_configured_scope() -> None:
    svc = service(policy=POLICY, affinity=True)
    ctx = steering.Context(CFG, UP)
    a = steering.rank(svc, client("192.0.2.77"), ctx)
    assert a.weights is None and a.scope == 24 and sorted(a.order) == sorted(ALL)
    # the same /24, however the client is given: the same ranking
    for net in ("192.0.2.1", "192.0.2.255", "192.0.2.0/24", "192.0.2.128/25"):
        assert steering.rank(svc, client(net), ctx).order == a.order, net
    # a shorter ECS prefix is hashed as its first /24, like any client in that /24
    for i in range(30):
        wide = steering.rank(svc, client(f"10.{i}.0.0/16"), ctx)
        assert wide.order == steering.rank(svc, client(f"10.{i}.0.9"), ctx).order and wide.scope == 24
    v6 = steering.rank(svc, client("2001:db8:0:1::/64"), ctx)
    assert v6.scope == 56
    assert steering.rank(svc, client("2001:db8:0:1::/56"), ctx).order == v6.order
    narrow = service(policy=POLICY, affinity=True, ecs_scope_v4=20, ecs_scope_v6=48)
    assert steering.rank(narrow, client("192.0.2.1"), ctx).scope == 20
    assert steering.rank(narrow, client("2001:db8::1"), ctx).scope == 48


def test_affinity_keeps_weight_zero_regions_last() -> None:
    svc = service(policy=POLICY, affinity=True)
    ctx = steering.Context(CFG, UP)
    for i in range(200):
        assert steering.rank(svc, client(f"10.{i}.0.0/24"), ctx).order[-1] == "eu-west"


def test_affinity_without_a_client_address_draws() -> None:
    r = steering.rank(service(policy=POLICY, affinity=True), steering.Client(), steering.Context(CFG, UP))
    assert r.weights is not None and r.scope == 0
