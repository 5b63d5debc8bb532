"""latency: lowest RTT from the client's nearest vantage, sticky within the hysteresis; no data -> proximity."""
from __future__ import annotations

import pytest

from gtm import steering
from gtm.model import GeoInfo, HealthSnapshot, LatencyPolicy, Location, Service, Vantage
from gtm.model.effective import Effective, SteeringMemory
from gtm.steering import latency
from gtm.steering.memory import advance
from tests.unit.steering.world import (
    ALL,
    BERLIN,
    NEW_YORK,
    TOKYO,
    UP,
    client,
    config,
    geo,
    health,
    service,
)

SVC = service(policy=LatencyPolicy(hysteresis=0.2), key="api")
CFG = config(services=(SVC,))
# from frankfurt: eu-west fastest; from singapore: ap-southeast; virginia has no data at all
RTT = {("frankfurt", "eu-west"): 20.0, ("frankfurt", "us-east"): 90.0, ("frankfurt", "ap-southeast"): 160.0,
       ("singapore", "ap-southeast"): 5.0, ("singapore", "eu-west"): 150.0}


def rank(where: Location | None, h: HealthSnapshot, svc: Service = SVC, prefix: int = 18) -> steering.Ranking:
    return steering.rank(svc, client("192.0.2.0/24", geo(where, city_prefix=prefix)), steering.Context(CFG, h))


def test_nearest_vantage() -> None:
    assert latency.nearest_vantage(CFG, client("192.0.2.1", geo(BERLIN))) == "frankfurt"
    assert latency.nearest_vantage(CFG, client("192.0.2.1", geo(TOKYO))) == "singapore"
    assert latency.nearest_vantage(CFG, client("192.0.2.1", geo(NEW_YORK))) == "virginia"
    assert latency.nearest_vantage(CFG, client("192.0.2.1", geo(None))) is None
    assert latency.nearest_vantage(config(vantages=()), client("192.0.2.1", geo(BERLIN))) is None
    # equidistant vantages: the name decides, so every process picks the same one
    twins = config(vantages=(Vantage("b", Location(0, 10)), Vantage("a", Location(0, -10))))
    assert latency.nearest_vantage(twins, client("192.0.2.1", geo(Location(0, 0)))) == "a"


def test_lowest_rtt_from_the_nearest_vantage() -> None:
    r = rank(BERLIN, health(rtt=RTT))
    assert r.order == ("eu-west", "us-east", "ap-southeast")
    assert (r.scope, r.weights) == (18, None)
    assert r.key.startswith("vantage:frankfurt:")
    r = rank(TOKYO, health(rtt=RTT))
    # us-east is not measured from singapore: after the measured regions, nearest (to Tokyo) first
    assert r.order == ("ap-southeast", "eu-west", "us-east")


def test_rtt_ties_keep_the_configured_order() -> None:
    tied = {("frankfurt", "us-east"): 50.0, ("frankfurt", "eu-west"): 50.0, ("frankfurt", "ap-southeast"): 50.0}
    assert rank(BERLIN, health(rtt=tied)).order == ALL


def test_no_measurements_from_the_nearest_vantage_is_proximity() -> None:
    # New York's nearest vantage (virginia) has no data, though frankfurt has: proximity from New York
    r = rank(NEW_YORK, health(rtt=RTT), prefix=21)
    assert (r.order, r.scope) == (("us-east", "eu-west", "ap-southeast"), 21)
    assert "no measurements" in r.notes[0]
    # no data anywhere
    assert rank(TOKYO, UP).order == ("ap-southeast", "eu-west", "us-east")


def test_client_without_location_is_proximity_without_location() -> None:
    r = steering.rank(SVC, client("192.0.2.1", GeoInfo(False, city_prefix=3)), steering.Context(CFG, health(rtt=RTT)))
    assert (r.order, r.scope) == (ALL, 3)
    r = steering.rank(SVC, steering.Client(), steering.Context(CFG, health(rtt=RTT)))
    assert (r.order, r.scope) == (ALL, 0)


def test_sticky_choice_leads_while_it_holds() -> None:
    h = health(rtt=RTT, choices={("example.com/api", "frankfurt"): "us-east"})
    assert rank(BERLIN, h).order == ("us-east", "eu-west", "ap-southeast")
    # the choice of another service or vantage does not matter
    h = health(rtt=RTT, choices={("example.com/other", "frankfurt"): "us-east", ("example.com/api", "singapore"): "eu-west"})
    assert rank(BERLIN, h).order == ("eu-west", "us-east", "ap-southeast")
    # a choice the vantage has no measurement of is ignored
    h = health(rtt=RTT, choices={("example.com/api", "singapore"): "us-east"})
    assert rank(TOKYO, h).order == ("ap-southeast", "eu-west", "us-east")


def test_down_region_gives_way_to_the_next_fastest() -> None:
    d = steering.decide(SVC, client("192.0.2.0/24", geo(BERLIN)), CFG, health("eu-west", rtt=RTT))
    assert (d.regions, d.a) == (("us-east",), ("192.0.2.10", "192.0.2.11"))


def probed(rtt: dict[tuple[str, str], float]) -> HealthSnapshot:
    return HealthSnapshot(rtt_ms=tuple(sorted(rtt.items())))


def test_sticky_choices_hysteresis_keeps_and_switches() -> None:
    def chosen(rtt: dict[tuple[str, str], float], previous: str | None) -> str | None:
        before = SteeringMemory(((("example.com/api", "frankfurt"), previous),) if previous else ())
        return advance(before, CFG, probed(rtt)).choices().get(("example.com/api", "frankfurt"))

    # no previous choice: the fastest
    assert chosen({("frankfurt", "eu-west"): 100.0, ("frankfurt", "us-east"): 90.0}, None) == "us-east"
    # eu-west 100 ms vs best 90 ms: within 20 % of the best (108), kept
    assert chosen({("frankfurt", "eu-west"): 100.0, ("frankfurt", "us-east"): 90.0}, "eu-west") == "eu-west"
    # exactly at the margin: kept
    assert chosen({("frankfurt", "eu-west"): 108.0, ("frankfurt", "us-east"): 90.0}, "eu-west") == "eu-west"
    # beyond it: switch
    assert chosen({("frankfurt", "eu-west"): 109.0, ("frankfurt", "us-east"): 90.0}, "eu-west") == "us-east"
    # the previous choice has no measurement any more: the fastest
    assert chosen({("frankfurt", "us-east"): 90.0, ("frankfurt", "ap-southeast"): 95.0}, "eu-west") == "us-east"
    # the previous choice is no candidate of the service any more (still measured for other services)
    assert chosen({("frankfurt", "us-east"): 90.0, ("frankfurt", "gone"): 10.0}, "gone") == "us-east"
    # a vantage without measurements has no choice
    assert chosen({("virginia", "us-east"): 9.0}, "eu-west") is None


def test_the_absolute_floor_keeps_regions_a_fraction_of_a_millisecond_apart_from_trading_places() -> None:
    """Before: purely relative, so 1.0 ms against 1.3 ms (30 % apart) switched on every jitter."""
    def chosen(rtt: dict[tuple[str, str], float], previous: str, floor: float = 1.0) -> str | None:
        svc = service(policy=LatencyPolicy(hysteresis=0.2, hysteresis_ms=floor), key="api")
        before = SteeringMemory(((("example.com/api", "frankfurt"), previous),))
        return advance(before, config(services=(svc,)), probed(rtt)).choices().get(("example.com/api", "frankfurt"))

    close = {("frankfurt", "eu-west"): 1.3, ("frankfurt", "us-east"): 1.0}
    assert chosen(close, "eu-west") == "eu-west"  # 0.3 ms slower: within the 1 ms floor
    assert chosen(close, "eu-west", floor=0.0) == "us-east"  # the relative share alone: 30 % > 20 %
    assert chosen({("frankfurt", "eu-west"): 2.1, ("frankfurt", "us-east"): 1.0}, "eu-west") == "us-east"  # > 1 ms
    # far apart, the relative share is what holds: 108 vs 90 is kept, 109 is not (the floor, 1 ms, is smaller)
    assert chosen({("frankfurt", "eu-west"): 108.0, ("frankfurt", "us-east"): 90.0}, "eu-west") == "eu-west"
    assert chosen({("frankfurt", "eu-west"): 109.0, ("frankfurt", "us-east"): 90.0}, "eu-west") == "us-east"


def test_sticky_choices_cover_every_latency_service_and_vantage() -> None:
    other = service(policy=LatencyPolicy(hysteresis=0.0), key="b")
    cfg = config(services=(SVC, other, service(key="plain")))
    got = advance(SteeringMemory(), cfg, probed(RTT)).latency_choice
    assert got == ((("example.com/api", "frankfurt"), "eu-west"), (("example.com/api", "singapore"), "ap-southeast"),
                   (("example.com/b", "frankfurt"), "eu-west"), (("example.com/b", "singapore"), "ap-southeast"))


def test_choices_feed_back_into_the_ranking() -> None:
    def step(choices: dict[tuple[str, str], str], rtt: dict[tuple[str, str], float]) -> Effective:
        """New RTTs arrive: the steering memory moves the choices on from the previous ones."""
        new = advance(SteeringMemory(tuple(sorted(choices.items()))), CFG, probed(rtt)).choices()
        return health(rtt=rtt, choices=new)

    h = step({}, RTT)
    assert rank(BERLIN, h).order[0] == "eu-west"
    faster_us = dict(RTT)
    faster_us[("frankfurt", "us-east")] = 18.0  # 10 % faster than eu-west (20 ms): within the hysteresis
    h = step(h.choices(), faster_us)
    assert rank(BERLIN, h).order[:2] == ("eu-west", "us-east")
    faster_us[("frankfurt", "us-east")] = 10.0  # twice as fast: switch
    h = step(h.choices(), faster_us)
    assert rank(BERLIN, h).order[:2] == ("us-east", "eu-west")
    faster_us[("frankfurt", "us-east")] = 23.0  # now slower, but within 20 % of eu-west: stays on us-east
    h = step(h.choices(), faster_us)
    assert rank(BERLIN, h).order[:2] == ("us-east", "eu-west")


def test_ewma() -> None:
    assert latency.ewma(None, 80.0, 0.3) == 80.0
    assert latency.ewma(80.0, 40.0, 0.3) == pytest.approx(68.0)
    assert latency.ewma(68.0, 68.0, 0.9) == pytest.approx(68.0)
