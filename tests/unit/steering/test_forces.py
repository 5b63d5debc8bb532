"""Operators' overrides as steering sees them (through gtm.state.overrides.apply): down, drain and up on regions and
endpoints, for every service or one, the later winning; drained targets stay out even of the fail modes."""
from __future__ import annotations

from gtm import steering
from gtm.model import FailMode, FailoverPolicy, Force, HealthSnapshot, Service
from gtm.model.effective import Effective, Overrides
from gtm.state.overrides import apply
from tests.unit.steering.test_choose import CFG, EVERYTHING, ORDER
from tests.unit.steering.world import health, service

WWW, API = service(EVERYTHING), service(EVERYTHING, key="api")
BOTH = (WWW, API)


def answer(svc: object, h: Effective) -> tuple[str, ...]:
    return steering.choose(svc, ORDER, CFG, h).regions  # type: ignore[arg-type]


def test_a_drained_region_is_not_answered_for_any_service() -> None:
    h = health(forces=(Force("drain", "r1"),), services=BOTH)
    assert answer(WWW, h) == ("r2",) and answer(API, h) == ("r2",)
    assert steering.healthy_regions(WWW, CFG, h) == ["r2", "r3"]


def test_a_service_scoped_override_concerns_that_service_only() -> None:
    h = health(forces=(Force("down", "r1", service="api"),), services=BOTH)
    assert answer(WWW, h) == ("r1",) and answer(API, h) == ("r2",)


def test_the_later_override_wins() -> None:
    up_last = health(forces=(Force("down", "r1"), Force("up", "r1")), services=BOTH)
    down_last = health(forces=(Force("up", "r1"), Force("down", "r1")), services=BOTH)
    assert answer(WWW, up_last) == ("r1",) and answer(WWW, down_last) == ("r2",)
    # a forced up beats the probers' verdict, a service's own up beats a global drain made before it
    assert answer(WWW, health("r1", forces=(Force("up", "r1"),), services=BOTH)) == ("r1",)
    mixed = health(forces=(Force("drain", "r1"), Force("up", "r1", service="www")), services=BOTH)
    assert answer(WWW, mixed) == ("r1",) and answer(API, mixed) == ("r2",)


def test_endpoint_overrides() -> None:
    h = health(forces=(Force("drain", "r1", "192.0.2.3"), Force("down", "r1", "192.0.2.1")), services=BOTH)
    d = steering.choose(WWW, ORDER, CFG, h)
    assert d.a == ("192.0.2.2",) and d.regions == ("r1",)
    up = health("r1/192.0.2.3", forces=(Force("up", "r1", "192.0.2.3"),), services=BOTH)
    assert "192.0.2.3" in steering.choose(WWW, ORDER, CFG, up).a


def test_drained_stays_out_when_everything_else_is_down_and_fail_open_answers() -> None:
    h = health("r2", "r3", forces=(Force("drain", "r1"),), services=BOTH)
    d = steering.choose(WWW, ORDER, CFG, h)
    assert d.mode == "fail_open" and d.regions == ("r2",)  # r2 and r3 as if up; r1 stays drained
    lkg = service(EVERYTHING, fail_mode=FailMode.LAST_KNOWN_GOOD)
    before = health()  # everything was up before the outage
    h2 = health("r2", "r3", last_good={"example.com/www": before}, forces=(Force("drain", "r1"),), services=BOTH)
    assert steering.choose(lkg, ORDER, CFG, h2).regions == ("r2",)


def test_everything_drained_still_answers() -> None:
    h = health(forces=tuple(Force("drain", r) for r in EVERYTHING), services=BOTH)
    d = steering.choose(WWW, ORDER, CFG, h)
    assert d.regions == ("r1",) and d.a and d.mode == "fail_open"


def test_a_force_for_one_zones_service_leaves_another_zones_service_of_the_same_key_alone() -> None:
    other = Service("www", "example.org.", ("www.example.org.",), 30, EVERYTHING, FailoverPolicy())
    e = apply(Overrides((Force("drain", "r1", service="example.org/www"),)), HealthSnapshot(), (WWW, other))
    assert e.for_service("example.org/www").drained_regions == {"r1"}
    assert e.for_service("example.com/www").drained_regions == frozenset()
    # an override an earlier version stored under the key alone concerns every zone's www
    e = apply(Overrides((Force("drain", "r1", service="www"),)), HealthSnapshot(), (WWW, other))
    assert e.for_service("example.org/www").drained_regions == e.for_service("example.com/www").drained_regions \
        == {"r1"}


def test_apply_is_the_one_combination_per_service() -> None:
    forces = (Force("drain", "r1"), Force("down", "r2", service="www"))
    e = apply(Overrides(forces), HealthSnapshot(down_regions=frozenset({"r3"})), BOTH)
    www, api = e.for_service("example.com/www"), e.for_service("example.com/api")
    assert www.drained_regions == {"r1"} and www.down_regions == {"r2", "r3"}
    assert api.drained_regions == {"r1"} and api.down_regions == {"r3"}
    assert e.for_service("other") == e.default and e.default.down_regions == {"r3"}
    assert e.forces == forces
    # a monitor's down checks concern the services it checks only
    checks = HealthSnapshot(down_checks=frozenset({("web", "r1", "192.0.2.1")}))
    mon = service(EVERYTHING, key="mon", monitor="web")
    e2 = apply(Overrides(), checks, (mon, WWW))
    assert e2.for_service("example.com/mon").down_endpoints == {("r1", "192.0.2.1")}
    assert e2.for_service("example.com/www").down_endpoints == frozenset()
