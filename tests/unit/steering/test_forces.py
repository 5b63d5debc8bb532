"""Operators' overrides as steering applies them (HealthSnapshot.forces): down, drain and up on regions and
endpoints, for every service or one, the later winning; drained targets stay out even of the fail modes."""
from __future__ import annotations

from dataclasses import replace

from gtm import steering
from gtm.model import FailMode, Force, HealthSnapshot
from tests.unit.steering.test_choose import CFG, EVERYTHING, ORDER
from tests.unit.steering.world import health, service

WWW, API = service(EVERYTHING), service(EVERYTHING, key="api")


def answer(svc: object, h: HealthSnapshot) -> tuple[str, ...]:
    return steering.choose(svc, ORDER, CFG, h).regions  # type: ignore[arg-type]


def test_a_drained_region_is_not_answered_for_any_service() -> None:
    h = replace(health(), forces=(Force("drain", "r1"),))
    assert answer(WWW, h) == ("r2",) and answer(API, h) == ("r2",)
    assert steering.healthy_regions(WWW, CFG, h) == ["r2", "r3"]


def test_a_service_scoped_override_concerns_that_service_only() -> None:
    h = replace(health(), forces=(Force("down", "r1", service="api"),))
    assert answer(WWW, h) == ("r1",) and answer(API, h) == ("r2",)


def test_the_later_override_wins() -> None:
    up_last = replace(health(), forces=(Force("down", "r1"), Force("up", "r1")))
    down_last = replace(health(), forces=(Force("up", "r1"), Force("down", "r1")))
    assert answer(WWW, up_last) == ("r1",) and answer(WWW, down_last) == ("r2",)
    # a forced up beats the probers' verdict, a service's own up beats a global drain made before it
    assert answer(WWW, replace(health("r1"), forces=(Force("up", "r1"),))) == ("r1",)
    mixed = replace(health(), forces=(Force("drain", "r1"), Force("up", "r1", service="www")))
    assert answer(WWW, mixed) == ("r1",) and answer(API, mixed) == ("r2",)


def test_endpoint_overrides() -> None:
    h = replace(health(), forces=(Force("drain", "r1", "192.0.2.3"), Force("down", "r1", "192.0.2.1")))
    d = steering.choose(WWW, ORDER, CFG, h)
    assert d.a == ("192.0.2.2",) and d.regions == ("r1",)
    up = replace(health("r1/192.0.2.3"), forces=(Force("up", "r1", "192.0.2.3"),))
    assert "192.0.2.3" in steering.choose(WWW, ORDER, CFG, up).a


def test_drained_stays_out_when_everything_else_is_down_and_fail_open_answers() -> None:
    h = replace(health("r2", "r3"), forces=(Force("drain", "r1"),))
    d = steering.choose(WWW, ORDER, CFG, h)
    assert d.mode == "fail_open" and d.regions == ("r2",)  # r2 and r3 as if up; r1 stays drained
    lkg = service(EVERYTHING, fail_mode=FailMode.LAST_KNOWN_GOOD)
    before = health()  # everything was up before the outage
    h2 = replace(health("r2", "r3", last_good={"www": before}), forces=(Force("drain", "r1"),))
    assert steering.choose(lkg, ORDER, CFG, h2).regions == ("r2",)


def test_everything_drained_still_answers() -> None:
    h = replace(health(), forces=tuple(Force("drain", r) for r in EVERYTHING))
    d = steering.choose(WWW, ORDER, CFG, h)
    assert d.regions == ("r1",) and d.a and d.mode == "fail_open"


def test_projection_is_idempotent_and_free_without_forces() -> None:
    h = replace(health(), forces=(Force("drain", "r1"), Force("down", "r2", service="www")))
    once = h.for_service("www", None)
    assert once.for_service("www", None) == once and once.forces == ()
    assert once.drained_regions == {"r1"} and once.down_regions == {"r2"}
    plain = health("r3")
    assert plain.for_service("www", None) is plain
