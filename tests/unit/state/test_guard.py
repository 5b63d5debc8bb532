"""gtm.state.guard: the checks made before an override is written. Every service keeps a usable region; the
regions left carry the demand (Little's law: requests in flight = R x L, against the regions' capacity); no
change in a blackout window. Pure: health, query rates and the clock are arguments."""
from __future__ import annotations

import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gtm.config import load
from gtm.model import Config, Demand, Override, Window
from gtm.state import guard
from tests.unit.steering.world import ALL, config, service

ZONES = Path(__file__).resolve().parents[3] / "zones"
EXAMPLE = ZONES / "example.com.yaml"
NOW = 1_800_000_000.0
# The example's demand: www 100,000 req/s x 250 ms + api 20,000 req/s x 100 ms = 27,000 requests in flight;
# capacity us-east 40,000, eu-west 30,000, ap-southeast 20,000.
DEMANDS = "www 100000 req/s x 250 ms + api 20000 req/s x 100 ms"


@pytest.fixture(scope="module")
def cfg() -> Config:
    return load(str(ZONES))


def drain(region: str, service: str | None = None, created: float = NOW - 10, action: str = "drain",
          expires: float | None = None) -> Override:
    return Override(f"{action}-{region}-{service}-{created}", action, region, service=service, created=created,
                    expires=expires)


def example_with(tmp_path: Path, old: str, new: str) -> Config:
    """The bundled example with one line of it replaced."""
    text = EXAMPLE.read_text()
    assert text.count(old) == 1
    (tmp_path / "example.com.yaml").write_text(text.replace(old, new))
    return load(str(tmp_path))


# -- usable_regions -------------------------------------------------------------------------------------------
def test_usable_regions(cfg: Config) -> None:
    assert guard.usable_regions(cfg, {}, [], NOW) == {"example.com/www": ["us-east", "eu-west", "ap-southeast"],
                                                     "example.com/api": ["eu-west", "us-east", "ap-southeast"],
                                                     "example.com/shop": ["sa-east", "us-east"]}
    after = [drain("us-east"), drain("eu-west", "api", action="down"), drain("ap-southeast", expires=NOW)]
    assert guard.usable_regions(cfg, {"example.com/www": ["us-east", "eu-west"]}, after, NOW) == {
        "example.com/www": ["eu-west"], "example.com/api": ["ap-southeast"], "example.com/shop": ["sa-east"]}


def test_usable_regions_honours_a_later_up(cfg: Config) -> None:
    after = [drain("us-east", created=NOW - 20), drain("us-east", "www", created=NOW - 10, action="up")]
    usable = guard.usable_regions(cfg, {}, after, NOW)
    assert usable["example.com/www"] == ["us-east", "eu-west", "ap-southeast"] and usable["example.com/api"] == ["eu-west", "ap-southeast"]


# -- check: a region left for every service -------------------------------------------------------------------
def test_refused_when_a_service_would_have_no_region_left(cfg: Config) -> None:
    up = {"example.com/www": ["us-east", "eu-west"], "example.com/api": ["eu-west", "us-east", "ap-southeast"]}
    verdict = guard.check(cfg, [drain("us-east"), drain("eu-west", "www")], up, {}, NOW)
    assert not verdict.ok
    assert verdict.problems[0] == "service www would have no healthy region left (up by health: us-east, eu-west)"
    assert len(verdict.problems) == 1  # api keeps eu-west and ap-southeast (50,000 for 27,000 in flight)


def test_a_service_with_nothing_up_by_health_says_none(cfg: Config) -> None:
    verdict = guard.check(cfg, [], {"example.com/api": []}, {}, NOW)
    assert verdict.problems == ("service api would have no healthy region left (up by health: none)",)


def test_passes_with_one_region_left(cfg: Config) -> None:
    up = {"example.com/www": ["us-east", "eu-west"]}
    verdict = guard.check(cfg, [drain("us-east", "www")], up, {}, NOW)
    assert verdict.ok and verdict.problems == ()


def test_draining_the_last_live_endpoints_of_the_last_region_is_refused(cfg: Config) -> None:
    # www has us-east alone up by health, and of its endpoints only 192.0.2.10 is up (the nodes say so)
    up = {"example.com/www": ["us-east"]}
    live = {"example.com/www": ["us-east/192.0.2.10"]}
    endpoint = Override("e", "drain", "us-east", "192.0.2.10", created=NOW - 10)
    verdict = guard.check(cfg, [endpoint], up, {}, NOW, live)
    assert verdict.problems == ("service www would have no healthy region left (up by health: us-east with "
                                "192.0.2.10 up)",)
    # another endpoint of it drained instead leaves the live one: fine
    other = Override("e", "drain", "us-east", "192.0.2.11", created=NOW - 10)
    assert guard.check(cfg, [other], up, {}, NOW, live).ok
    # nodes that do not say which endpoints are up: judged by regions, as before
    assert guard.check(cfg, [endpoint], up, {}, NOW).ok
    # a node that serves other addresses for the region (the demo's simulated load balancers) says nothing
    # about this config's endpoints: the region is judged as a whole
    assert guard.check(cfg, [endpoint], up, {}, NOW, {"example.com/www": ["us-east/127.0.1.1"]}).ok
    # every endpoint of a region drained one by one takes the region out, health or not
    each = [Override(f"e{i}", "drain", "us-east", str(e.address), created=NOW - 10)
            for i, e in enumerate(cfg.regions["us-east"].endpoints)]
    assert not guard.check(cfg, each, up, {}, NOW).ok


# -- check: capacity ------------------------------------------------------------------------------------------
def test_nothing_drained_fits(cfg: Config) -> None:
    verdict = guard.check(cfg, [], {}, {}, NOW)
    assert verdict.ok
    assert verdict.notes == ("capacity: 27,000 requests in flight fit in 1 of the remaining 3 regions "
                             "(capacity 90,000)",)


def test_draining_us_east_passes_with_a_note(cfg: Config) -> None:
    verdict = guard.check(cfg, [drain("us-east")], {}, {}, NOW)
    assert verdict.ok
    assert verdict.notes == ("capacity: 27,000 requests in flight fit in 1 of the remaining 2 regions "
                             "(capacity 50,000)",)


def test_draining_us_east_and_eu_west_is_refused(cfg: Config) -> None:
    verdict = guard.check(cfg, [drain("us-east"), drain("eu-west")], {}, {}, NOW)
    assert not verdict.ok
    (problem,) = verdict.problems
    assert "27,000 requests in flight" in problem and "N = ceil(R*L/C)" in problem
    assert problem == (f"capacity: {DEMANDS} = 27,000 requests in flight need N = ceil(R*L/C) = 2 regions of "
                       "the remaining ap-southeast (capacity 20,000 in flight in all)")


def test_a_region_down_by_health_counts_as_gone(cfg: Config) -> None:
    up = {"example.com/www": ["eu-west", "ap-southeast"], "example.com/api": ["eu-west", "ap-southeast"]}
    assert guard.check(cfg, [], up, {}, NOW).ok
    verdict = guard.check(cfg, [drain("eu-west")], up, {}, NOW)
    assert len(verdict.problems) == 1 and verdict.problems[0].startswith(f"capacity: {DEMANDS} = 27,000 ")


def test_a_per_query_demand_uses_the_query_rate(tmp_path: Path) -> None:
    cfg = example_with(tmp_path, "demand: {rps: 20000, latency_ms: 100}", "demand: {per_query: 0.5, latency_ms: 100}")
    api = next(s for s in cfg.services if s.key == "api")
    assert api.demand == Demand(latency_ms=100.0, per_query=0.5)
    # 30,000 queries/s x 0.5 = 15,000 req/s x 100 ms = 1,500; with www's 25,000: 26,500 > 20,000
    verdict = guard.check(cfg, [drain("us-east"), drain("eu-west")], {}, {"example.com/api": 30000.0}, NOW)
    assert verdict.problems == ("capacity: www 100000 req/s x 250 ms + api 15000 req/s x 100 ms = 26,500 requests "
                                "in flight need N = ceil(R*L/C) = 2 regions of the remaining ap-southeast "
                                "(capacity 20,000 in flight in all)",)
    # a query rate that does not concern api is no rate for it
    verdict = guard.check(cfg, [drain("us-east")], {}, {"example.com/www": 1e6}, NOW)
    assert verdict.ok
    assert verdict.notes == ("service api: no query rate from a node, its demand is not counted",
                             "capacity: 25,000 requests in flight fit in 1 of the remaining 2 regions "
                             "(capacity 50,000)")


def test_a_per_query_demand_alone_can_be_refused_or_not(tmp_path: Path) -> None:
    cfg = example_with(tmp_path, "demand: {rps: 100000, latency_ms: 250}", "demand: {per_query: 2, latency_ms: 250}")
    after = [drain("us-east"), drain("eu-west")]
    # www: 2 x 10,000 q/s = 20,000 req/s x 250 ms = 5,000, + api 2,000 = 7,000: fits in ap-southeast
    assert guard.check(cfg, after, {}, {"example.com/www": 10000.0}, NOW).ok
    # 2 x 40,000 q/s: 20,000 + 2,000 = 22,000 > 20,000
    verdict = guard.check(cfg, after, {}, {"example.com/www": 40000.0}, NOW)
    assert verdict.problems[0].startswith("capacity: www 80000 req/s x 250 ms + api 20000 req/s x 100 ms = "
                                          "22,000 requests in flight need N = ceil(R*L/C) = 2 regions")


def test_without_capacity_there_is_a_note_and_no_refusal() -> None:
    heavy = Demand(latency_ms=1000, rps=1e9)
    c = config(services=(service(ALL, key="www", demand=heavy),))  # world's regions have no capacity
    verdict = guard.check(c, [drain("us-east")], {}, {}, NOW)
    assert verdict.ok
    assert verdict.notes == ("capacity not checked: no capacity configured for ap-southeast, eu-west",)


def test_without_demand_capacity_is_not_looked_at() -> None:
    c = config(services=(service(ALL, key="www"),))
    assert guard.check(c, [drain("us-east"), drain("eu-west")], {}, {}, NOW) == guard.Verdict()


# -- blackout -------------------------------------------------------------------------------------------------
def test_no_window_no_blackout() -> None:
    assert guard.blackout([], NOW) is None


def test_an_absolute_window_includes_its_start_and_excludes_its_end() -> None:
    w = Window(at=(NOW, NOW + 3600), text="start: ..., end: ...")
    assert guard.blackout([w], NOW - 0.001) is None
    assert guard.blackout([w], NOW) is w
    assert guard.blackout([w], NOW + 3599.999) is w
    assert guard.blackout([w], NOW + 3600) is None


def berlin(year: int, month: int, day: int, hour: int, minute: int, second: int = 0) -> float:
    """A Unix time given as Berlin's wall clock."""
    return datetime.datetime(year, month, day, hour, minute, second, tzinfo=ZoneInfo("Europe/Berlin")).timestamp()


def test_a_weekly_window_in_a_time_zone() -> None:
    # Saturdays and Sundays 09:00-17:00 Berlin time; 2026-03-21 is a Saturday (CET, UTC+1)
    w = Window(days=(5, 6), start=9 * 60, end=17 * 60, tz="Europe/Berlin", text="days: [sat, sun]")
    assert datetime.date(2026, 3, 21).weekday() == 5
    assert guard.blackout([w], berlin(2026, 3, 21, 9, 0)) is w
    assert guard.blackout([w], berlin(2026, 3, 21, 8, 59, 59)) is None
    assert guard.blackout([w], berlin(2026, 3, 21, 16, 59, 59)) is w
    assert guard.blackout([w], berlin(2026, 3, 21, 17, 0)) is None
    assert guard.blackout([w], berlin(2026, 3, 22, 12, 0)) is w      # Sunday
    assert guard.blackout([w], berlin(2026, 3, 20, 12, 0)) is None   # Friday
    # the day is Berlin's: 23:30 UTC on Friday is already Saturday 00:30 in Berlin, yet before 09:00
    assert guard.blackout([w], berlin(2026, 3, 21, 0, 30)) is None
    # 08:30 UTC on Saturday is 09:30 in Berlin: inside, though 08:30 is before 09:00
    sat_0830_utc = datetime.datetime(2026, 3, 21, 8, 30, tzinfo=datetime.timezone.utc).timestamp()
    assert guard.blackout([w], sat_0830_utc) is w


def test_a_weekly_window_across_the_daylight_saving_change() -> None:
    # Berlin goes from UTC+1 to UTC+2 on Sunday 2026-03-29: 09:00 local is 08:00 UTC the Sunday before, 07:00 after
    w = Window(days=(6,), start=9 * 60, end=10 * 60, tz="Europe/Berlin")
    before = datetime.datetime(2026, 3, 22, 7, 30, tzinfo=datetime.timezone.utc).timestamp()
    after = datetime.datetime(2026, 3, 29, 7, 30, tzinfo=datetime.timezone.utc).timestamp()
    assert berlin(2026, 3, 22, 9, 0) - datetime.datetime(2026, 3, 22, tzinfo=ZoneInfo("UTC")).timestamp() == 8 * 3600
    assert berlin(2026, 3, 29, 9, 0) - datetime.datetime(2026, 3, 29, tzinfo=ZoneInfo("UTC")).timestamp() == 7 * 3600
    assert guard.blackout([w], before) is None   # 08:30 CET
    assert guard.blackout([w], after) is w       # 09:30 CEST
    assert guard.blackout([w], berlin(2026, 3, 29, 9, 59)) is w
    assert guard.blackout([w], berlin(2026, 3, 29, 10, 0)) is None


def test_a_window_without_days_is_every_day() -> None:
    w = Window(start=2 * 60, end=3 * 60, tz="America/New_York")
    for day in range(1, 8):
        ny = ZoneInfo("America/New_York")
        assert guard.blackout([w], datetime.datetime(2026, 6, day, 2, 15, tzinfo=ny).timestamp()) is w
        assert guard.blackout([w], datetime.datetime(2026, 6, day, 3, 15, tzinfo=ny).timestamp()) is None
    # and in UTC by default, the whole day when no range is given
    assert guard.blackout([Window()], NOW) is not None


def test_the_first_matching_window_is_returned() -> None:
    miss = Window(at=(NOW + 10, NOW + 20), text="miss")
    weekly = Window(text="every day")
    once = Window(at=(NOW - 10, NOW + 10), text="once")
    assert guard.blackout([miss, weekly, once], NOW) is weekly
    assert guard.blackout([miss, once, weekly], NOW) is once
    assert guard.blackout([miss], NOW) is None
