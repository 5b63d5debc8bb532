"""choose: health, multi-value (``answers: N``, A and AAAA apart) and the fail modes, on a given ranking."""
from __future__ import annotations

import ipaddress
import random
from collections import Counter

import pytest

from gtm import steering
from gtm.model import FailMode, Location, Service, WeightedPolicy
from gtm.model.effective import Effective
from tests.unit.steering.world import ALL, UP, config, health, region, service

R1 = region("r1", Location(0, 0), "192.0.2.1", "192.0.2.2", ("192.0.2.3", 2), "2001:db8:1::1")
R2 = region("r2", Location(0, 0), "198.51.100.1", "2001:db8:2::1", "2001:db8:2::2")
R3 = region("r3", Location(0, 0), "203.0.113.1", "203.0.113.2", "2001:db8:3::1")
CFG = config(regions=(R1, R2, R3))
ORDER = steering.Ranking(("r1", "r2", "r3"), 16, ("test ranking",))
EVERYTHING = ("r1", "r2", "r3")


def pick(answers: int | None, *down: str, ranking: steering.Ranking = ORDER, **kw: object) -> steering.Decision:
    svc = service(EVERYTHING, answers=answers, **kw)  # type: ignore[arg-type]
    return steering.choose(svc, ranking, CFG, health(*down))


def test_unset_answers_is_every_usable_endpoint_of_the_first_healthy_region_per_family() -> None:
    d = pick(None)
    assert (d.a, d.aaaa, d.regions, d.mode) == (("192.0.2.3", "192.0.2.1", "192.0.2.2"), ("2001:db8:1::1",),
                                                 ("r1",), "normal")
    assert d.scope == 16 and d.trail[0] == "test ranking"
    d = pick(None, "r1/2001:db8:1::1")  # r1 has no IPv6 left: AAAA is r2's, A still r1's
    assert (d.a, d.aaaa, d.regions) == (("192.0.2.3", "192.0.2.1", "192.0.2.2"), ("2001:db8:2::1", "2001:db8:2::2"),
                                        ("r1", "r2"))


def test_answers_n_takes_up_to_n_per_family_spilling_to_the_next_regions() -> None:
    d = pick(1)
    assert (d.a, d.aaaa, d.regions) == (("192.0.2.3",), ("2001:db8:1::1",), ("r1",))
    d = pick(2)
    assert (d.a, d.aaaa, d.regions) == (("192.0.2.3", "192.0.2.1"), ("2001:db8:1::1", "2001:db8:2::1"), ("r1", "r2"))
    d = pick(4)
    assert d.a == ("192.0.2.3", "192.0.2.1", "192.0.2.2", "198.51.100.1")
    assert d.aaaa == ("2001:db8:1::1", "2001:db8:2::1", "2001:db8:2::2", "2001:db8:3::1")
    assert d.regions == ("r1", "r2", "r3")
    d = pick(10)  # more than there are: all of them, in region order
    assert len(d.a) == 6 and len(d.aaaa) == 4 and d.a[-2:] == ("203.0.113.1", "203.0.113.2")


def test_answers_n_skips_down_regions_and_endpoints() -> None:
    d = pick(3, "r2", "r1/192.0.2.3")
    assert (d.a, d.aaaa, d.regions) == (("192.0.2.1", "192.0.2.2", "203.0.113.1"),
                                        ("2001:db8:1::1", "2001:db8:3::1"), ("r1", "r3"))
    assert "down: r2" in d.trail


def test_answers_follow_the_ranking_order() -> None:
    d = pick(2, ranking=steering.Ranking(("r3", "r1", "r2")))
    assert (d.a, d.aaaa, d.regions) == (("203.0.113.1", "203.0.113.2"), ("2001:db8:3::1", "2001:db8:1::1"),
                                        ("r3", "r1"))


def test_fail_open_answers_as_if_every_candidate_were_up() -> None:
    d = pick(None, "r1", "r2", "r3")
    assert (d.a, d.aaaa, d.regions, d.mode) == (("192.0.2.3", "192.0.2.1", "192.0.2.2"), ("2001:db8:1::1",),
                                                 ("r1",), "fail_open")
    # every endpoint down one by one is the same as the regions down
    d = pick(2, *(f"{r.name}/{e.address}" for r in (R1, R2, R3) for e in r.endpoints))
    assert (d.a, d.aaaa, d.mode) == (("192.0.2.3", "192.0.2.1"), ("2001:db8:1::1", "2001:db8:2::1"), "fail_open")


def test_fail_closed_answers_nothing() -> None:
    d = pick(2, "r1", "r2", "r3", fail_mode=FailMode.FAIL_CLOSED)
    assert (d.a, d.aaaa, d.regions, d.mode) == ((), (), (), "fail_closed")
    # while anything is up, the fail mode plays no part
    d = pick(2, "r1", "r2", fail_mode=FailMode.FAIL_CLOSED)
    assert (d.a, d.mode) == (("203.0.113.1", "203.0.113.2"), "normal")


def test_static_answers_the_fallback_addresses_per_family() -> None:
    fb = tuple(ipaddress.ip_address(a) for a in ("192.0.2.99", "2001:db8::99", "192.0.2.98"))
    d = pick(1, "r1", "r2", "r3", fail_mode=FailMode.STATIC, fallback_addresses=fb)
    assert (d.a, d.aaaa, d.regions, d.mode) == (("192.0.2.99", "192.0.2.98"), ("2001:db8::99",), (), "static")
    v4only = (ipaddress.ip_address("192.0.2.99"),)
    d = pick(1, "r1", "r2", "r3", fail_mode=FailMode.STATIC, fallback_addresses=v4only)
    assert (d.a, d.aaaa) == (("192.0.2.99",), ())


def test_last_known_good_answers_under_the_health_before_the_outage() -> None:
    before = health("r1")  # r1 was already down, r2 up
    svc = service(EVERYTHING, answers=1, fail_mode=FailMode.LAST_KNOWN_GOOD)
    now = health("r1", "r2", "r3", last_good={"example.com/www": before})
    d = steering.choose(svc, ORDER, CFG, now)
    assert (d.a, d.aaaa, d.regions, d.mode) == (("198.51.100.1",), ("2001:db8:2::1",), ("r2",), "last_known_good")
    assert "answered with the health from before the outage" in d.trail
    # another service's state is not this one's: fail_open
    other = health("r1", "r2", "r3", last_good={"example.com/api": before})
    d = steering.choose(svc, ORDER, CFG, other)
    assert (d.a, d.regions, d.mode) == (("192.0.2.3",), ("r1",), "last_known_good")
    assert "no earlier healthy state known: answering as fail_open" in d.trail
    # a state in which every candidate was down too is no help: fail_open
    d = steering.choose(svc, ORDER, CFG, health("r1", "r2", "r3", last_good={"example.com/www": health("r1", "r2", "r3")}))
    assert (d.a, d.regions) == (("192.0.2.3",), ("r1",))
    # while anything is up, it plays no part
    d = steering.choose(svc, ORDER, CFG, health("r1", "r2", last_good={"example.com/www": before}))
    assert (d.a, d.mode) == (("203.0.113.1",), "normal")


def test_answering_health() -> None:
    lkg = service(EVERYTHING, fail_mode=FailMode.LAST_KNOWN_GOOD)
    before = health("r1")
    some = health("r1", last_good={"example.com/www": before})
    assert steering.answering_health(lkg, ORDER, CFG, some) is some.for_service("example.com/www")
    none = health("r1", "r2", "r3", last_good={"example.com/www": before})
    assert steering.answering_health(lkg, ORDER, CFG, none) is before.default
    assert steering.answering_health(service(EVERYTHING), ORDER, CFG, none) is steering.ALL_UP
    for mode in (FailMode.FAIL_CLOSED, FailMode.STATIC):
        assert steering.answering_health(service(EVERYTHING, fail_mode=mode), ORDER, CFG, none) is None


def weighted(mode: FailMode) -> tuple[Service, steering.Ranking]:
    svc = service(EVERYTHING, WeightedPolicy((("r1", 1), ("r2", 3), ("r3", 0))), fail_mode=mode)
    return svc, steering.rank(svc, steering.Client(), steering.Context(CFG, UP))


def draw_firsts(svc: Service, ranking: steering.Ranking, h: Effective) -> Counter[str]:
    rng = random.Random(5)
    return Counter(steering.choose(svc, ranking, CFG, h, rng).regions[0] for _ in range(8000))


def test_weighted_fail_open_draws_by_weight_as_if_all_were_up() -> None:
    svc, ranking = weighted(FailMode.FAIL_OPEN)
    got = draw_firsts(svc, ranking, health("r1", "r2", "r3"))
    assert set(got) == {"r1", "r2"}
    assert got["r2"] / 8000 == pytest.approx(0.75, abs=0.02)


def test_weighted_last_known_good_draws_under_the_earlier_health() -> None:
    svc, ranking = weighted(FailMode.LAST_KNOWN_GOOD)
    got = draw_firsts(svc, ranking, health("r1", "r2", "r3", last_good={"example.com/www": health("r2")}))
    assert set(got) == {"r1"}  # r3 weighs 0: r1 was the only weighted region up
    got = draw_firsts(svc, ranking, health("r1", "r2", "r3", last_good={"example.com/www": health()}))
    assert got["r2"] / 8000 == pytest.approx(0.75, abs=0.02)


def test_decide_is_rank_then_choose() -> None:
    svc = service(ALL)
    cfg = config()
    d = steering.decide(svc, steering.Client(), cfg, UP)
    r = steering.rank(svc, steering.Client(), steering.Context(cfg, UP))
    assert d == steering.choose(svc, r, cfg, UP)


def test_unknown_policy_lists_the_known_ones() -> None:
    class Odd:
        kind = "odd"

    svc = service(ALL, Odd())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown policy 'odd'; known: failover, weighted, geo, proximity, latency"):
        steering.rank(svc, steering.Client(), steering.Context(config(), UP))
