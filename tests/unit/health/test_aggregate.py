"""Aggregation on plain values (gtm.health.aggregate): rise/fall per vantage, quorum of fresh vantages, staleness,
warm-up, sick vantages, regions (region_min_up), RTT EWMA, transitions and their causes, unknown checks, `ready`
and the snapshot steering reads. No clock, no network: `now` is an argument."""
from __future__ import annotations

import ipaddress
from dataclasses import replace

import pytest

from gtm.health import aggregate
from gtm.health.aggregate import Check, State, Transition
from gtm.model import (
    Config, Endpoint, FailoverPolicy, HealthSettings, HealthSnapshot, Location, Monitor, MonitorType, Observation,
    Region, Report, Service, Vantage, Zone,
)

EU1, EU2, US1 = "10.0.1.1", "10.0.1.2", "10.0.2.1"
ENDPOINTS = {"eu": (EU1, EU2), "us": (US1,)}
REGION_OF = {a: r for r, addrs in ENDPOINTS.items() for a in addrs}
VANTAGES = ("a", "b", "c")
DEFAULTS = HealthSettings()


def config(*, quorum: int | None = 2, rise: int = 2, fall: int = 2, vantages: tuple[str, ...] = VANTAGES,
           health: HealthSettings = DEFAULTS, api: bool = False) -> Config:
    """Regions eu (two endpoints) and us (one); service www on monitor web over both; with ``api``, service api
    on monitor api over eu only (another monitor's verdicts on the same addresses); service plain unmonitored."""
    regions = {name: Region(name, Location(0, 0), tuple(Endpoint(ipaddress.ip_address(a)) for a in addrs))
               for name, addrs in ENDPOINTS.items()}
    monitors = {"web": Monitor("web", MonitorType.HTTP, 80, interval=1.0, timeout=0.5, rise=rise, fall=fall,
                               quorum=quorum)}
    services = [Service("www", "t.", ("www.t.",), 30, ("eu", "us"), FailoverPolicy(), "web"),
                Service("plain", "t.", ("plain.t.",), 30, ("eu", "us"), FailoverPolicy(), None)]
    if api:
        monitors["api"] = Monitor("api", MonitorType.TCP, 8080, interval=1.0, timeout=0.5, rise=1, fall=1,
                                  quorum=1)
        services.append(Service("api", "t.", ("api.t.",), 30, ("eu",), FailoverPolicy(), "api"))
    zone = Zone("t.", "test", {}, tuple(services))
    return Config(zones={"t.": zone}, regions=regions, monitors=monitors,
                  vantages={v: Vantage(v, Location(0, 0)) for v in vantages}, health=health)


def obs(address: str, ok: bool, rtt: float | None = 10.0, monitor: str = "web", region: str | None = None,
        detail: str | None = None) -> Observation:
    return Observation(monitor, region or REGION_OF[address], address, ok, rtt if ok else None,
                       detail if detail is not None else ("200" if ok else "status 503"))


def report(vantage: str, *observations: Observation, interval: float = 1.0, seq: int = 1) -> Report:
    return Report(vantage, 0.0, seq, interval, observations)


class Run:
    """Drives aggregation like a node does: ingest each report, then evaluate; keeps every transition."""

    def __init__(self, cfg: Config, started: float = 0.0):
        self.cfg = cfg
        self.state = State(started=started)
        self.transitions: list[Transition] = []
        self.ignored = 0

    def send(self, now: float, vantage: str, *observations: Observation, interval: float = 1.0) -> list[Transition]:
        self.state, ignored = aggregate.ingest(self.state, report(vantage, *observations, interval=interval),
                                               now, self.cfg)
        self.ignored += ignored
        return self.evaluate(now)

    def evaluate(self, now: float) -> list[Transition]:
        self.state, ts = aggregate.evaluate(self.state, now, self.cfg)
        self.transitions += ts
        return ts

    def round(self, now: float, views: dict[str, dict[str, bool]]) -> list[Transition]:
        """One report from each vantage in ``views`` (vantage -> address -> ok) at ``now``."""
        out = []
        for v, results in views.items():
            out += self.send(now, v, *(obs(a, ok) for a, ok in results.items()))
        return out

    def rounds(self, start: float, n: int, views: dict[str, dict[str, bool]]) -> float:
        for i in range(n):
            self.round(start + i, views)
        return start + n

    def view(self, vantage: str, address: str) -> bool | None:
        return self.state.views[(vantage, check(address))].up

    def verdict(self, address: str) -> bool | None:
        return self.state.verdicts.get(check(address))


def check(address: str, monitor: str = "web") -> Check:
    return (monitor, REGION_OF[address], address)


def views(*down: str) -> dict[str, bool]:
    """A vantage's results: every address ok but the ones named."""
    return {a: a not in down for a in REGION_OF}


NOTHING = tuple(REGION_OF)  # views(*NOTHING): every address failing


ALL_UP = {v: views() for v in VANTAGES}


# -- checks ------------------------------------------------------------------------------------------------------
def test_checks_are_the_endpoints_of_monitored_services_with_their_monitors_parameters() -> None:
    cfg = config(quorum=3, rise=4, fall=5, api=True)
    assert aggregate.checks_of(cfg) == {
        ("web", "eu", EU1): (4, 5, 3), ("web", "eu", EU2): (4, 5, 3), ("web", "us", US1): (4, 5, 3),
        ("api", "eu", EU1): (1, 1, 1), ("api", "eu", EU2): (1, 1, 1)}  # the unmonitored service has none


# -- rise / fall -------------------------------------------------------------------------------------------------
def test_a_view_comes_up_after_rise_successes_and_does_not_vote_before() -> None:
    run = Run(config(rise=3))
    run.send(0, "a", obs(EU1, True))
    run.send(1, "a", obs(EU1, True))
    assert run.view("a", EU1) is None and run.state.views[("a", check(EU1))].ok_streak == 2
    run.send(2, "a", obs(EU1, True))
    assert run.view("a", EU1) is True


def test_a_view_goes_down_after_fall_consecutive_failures_and_a_success_resets_the_count() -> None:
    run = Run(config(rise=2, fall=3))
    run.rounds(0, 2, {"a": {EU1: True}})
    assert run.view("a", EU1) is True
    for t, ok in enumerate([False, False, True, False, False], start=2):  # never three failures in a row
        run.send(t, "a", obs(EU1, ok))
        assert run.view("a", EU1) is True
    run.send(7, "a", obs(EU1, False))
    assert run.view("a", EU1) is False
    v = run.state.views[("a", check(EU1))]
    assert (v.fail_streak, v.ok_streak, v.detail) == (3, 0, "status 503")
    run.send(8, "a", obs(EU1, True))
    assert run.view("a", EU1) is False  # one success is not rise 2
    run.send(9, "a", obs(EU1, True))
    assert run.view("a", EU1) is True


def test_a_view_that_starts_failing_is_established_down_after_fall() -> None:
    run = Run(config(rise=2, fall=2))
    run.send(0, "a", obs(EU1, False))
    assert run.view("a", EU1) is None
    run.send(1, "a", obs(EU1, False))
    assert run.view("a", EU1) is False


def test_flapping_faster_than_rise_and_fall_changes_no_view_no_verdict() -> None:
    run = Run(config(rise=2, fall=2))
    t = run.rounds(0, 2, ALL_UP)
    assert run.verdict(EU1) is True
    before = len(run.transitions)
    for i in range(20):  # ok, fail, ok, fail ... from every vantage
        run.round(t + i, {v: views(*(() if i % 2 else (EU1,))) for v in VANTAGES})
        assert all(run.view(v, EU1) is True for v in VANTAGES)
        assert run.verdict(EU1) is True
    assert run.transitions[before:] == []


def test_flapping_from_the_start_never_gets_a_verdict() -> None:
    run = Run(config(rise=2, fall=2))
    for i in range(10):
        run.round(i, {v: views(*((EU1,) if i % 2 == 0 else ())) for v in VANTAGES})
    assert run.verdict(EU1) is None and run.verdict(EU2) is True
    assert not aggregate.ready(run.state, run.cfg)


# -- quorum ------------------------------------------------------------------------------------------------------
def test_one_vantage_of_three_seeing_an_endpoint_down_changes_nothing_two_do() -> None:
    run = Run(config(quorum=2))
    t = run.rounds(0, 2, ALL_UP)
    assert run.verdict(EU1) is True
    t = run.rounds(t, 3, {"a": views(EU1), "b": views(), "c": views()})
    assert run.view("a", EU1) is False and run.verdict(EU1) is True
    assert not [x for x in run.transitions if x.state == "down"]
    run.rounds(t, 2, {"a": views(EU1), "b": views(EU1), "c": views()})
    assert run.verdict(EU1) is False
    down = [x for x in run.transitions if x.state == "down"]
    assert [(x.kind, x.name) for x in down] == [("endpoint", f"web eu {EU1}")]
    assert down[0].cause == "down at a, b (2 of quorum 2); status 503"
    assert run.state.regions[("web", "eu")] is True  # EU2 still up: region_min_up 1


def test_an_endpoint_comes_up_with_quorum_up_votes_and_stays_while_votes_are_split() -> None:
    run = Run(config(quorum=2))
    t = run.rounds(0, 2, {v: views(EU1) for v in VANTAGES})
    assert run.verdict(EU1) is False
    t = run.rounds(t, 2, {"a": views(), "b": views(EU1), "c": views(EU1)})
    assert run.verdict(EU1) is False  # 1 up, 2 down
    run.rounds(t, 2, {"a": views(), "b": views(), "c": views(EU1)})
    assert run.verdict(EU1) is True
    assert run.transitions[-1].cause.startswith("up at a, b (2 of quorum 2)")


def test_quorum_larger_than_the_vantages_is_capped_and_no_vantages_means_one() -> None:
    run = Run(config(quorum=3, vantages=("a",)))
    run.rounds(0, 2, {"a": views(EU1)})
    assert run.verdict(EU1) is False and run.verdict(US1) is True
    assert "(1 of quorum 1)" in run.transitions[0].cause


def test_with_quorum_one_a_tie_goes_down_and_a_majority_up_wins() -> None:
    run = Run(config(quorum=1, vantages=("a", "b")))
    run.rounds(0, 2, {"a": views(), "b": views(EU1)})
    assert run.verdict(EU1) is False  # 1 down, 1 up: at least quorum down and no fewer than up
    run = Run(config(quorum=1))
    run.rounds(0, 2, {"a": views(), "b": views(), "c": views(EU1)})
    assert run.verdict(EU1) is True


def test_without_quorum_either_way_the_verdict_stands() -> None:
    run = Run(config(quorum=2))
    t = run.rounds(0, 2, ALL_UP)
    # only one vantage keeps reporting, and it sees EU1 down: one vote is no quorum
    run.rounds(t, 3, {"a": views(EU1)})
    assert run.view("a", EU1) is False and run.verdict(EU1) is True


# -- staleness ---------------------------------------------------------------------------------------------------
def test_a_vantage_is_fresh_for_stale_after_rounds_of_the_configured_interval_whatever_it_declares() -> None:
    """The monitors' interval is 1 s: every vantage is fresh for 3 s, one that declares 3600 s too (before, a
    report declaring ``interval: 3600`` kept its vantage fresh for hours)."""
    cfg = config(health=HealthSettings(stale_after=3))
    run = Run(cfg)
    run.send(10.0, "a", obs(EU1, True), interval=1.0)
    run.send(10.0, "b", obs(EU1, True), interval=3600.0)
    assert aggregate.round_of(cfg) == 1.0
    assert aggregate.fresh_vantages(run.state, 13.0, cfg) == {"a", "b"}
    assert aggregate.fresh_vantages(run.state, 13.01, cfg) == set()


def test_one_observation_per_check_and_report_counts() -> None:
    """Before: a report carrying fall failures of one check took it down at once."""
    run = Run(config(quorum=1, fall=3))
    run.rounds(0, 2, ALL_UP)
    run.send(3.0, "a", obs(EU1, False), obs(EU1, False), obs(EU1, False))
    assert run.view("a", EU1) is True and run.state.views[("a", check(EU1))].fail_streak == 1


def test_the_default_quorum_is_a_majority_of_the_vantages() -> None:
    for vantages, majority in ((1, 1), (2, 2), (3, 2), (4, 3), (5, 3)):
        names = tuple(f"v{i}" for i in range(vantages))
        cfg = config(quorum=None, vantages=names)
        assert {q for _, _, q in aggregate.checks_of(cfg).values()} == {majority}


def test_stale_vantages_do_not_vote() -> None:
    # quorum 1: a sees EU1 down, b and c up, so it is up; once b and c are silent for 3 intervals, a decides
    run = Run(config(quorum=1, health=HealthSettings(stale_after=3)))
    run.rounds(0, 2, {"a": views(EU1), "b": views(), "c": views()})
    assert run.verdict(EU1) is True
    run.round(2, {"a": views(EU1)})
    run.evaluate(4.0)  # b and c last reported at 1: 3 intervals ago, still fresh
    assert run.verdict(EU1) is True
    ts = run.evaluate(4.1)
    assert run.verdict(EU1) is False
    assert [(t.kind, t.name, t.state, t.cause) for t in ts] == [
        ("endpoint", f"web eu {EU1}", "down", "down at a (1 of quorum 1); status 503")]


def test_when_every_vantage_goes_silent_every_verdict_stands() -> None:
    run = Run(config(quorum=2))
    t = run.rounds(0, 2, {v: views(US1) for v in VANTAGES})
    verdicts, regions = dict(run.state.verdicts), dict(run.state.regions)
    assert verdicts[check(US1)] is False and regions[("web", "us")] is False
    assert run.evaluate(t + 1000.0) == []
    assert aggregate.fresh_vantages(run.state, t + 1000.0, run.cfg) == set()
    assert dict(run.state.verdicts) == verdicts and dict(run.state.regions) == regions
    assert aggregate.ready(run.state, run.cfg)


# -- warm-up -----------------------------------------------------------------------------------------------------
def test_down_votes_do_not_count_during_the_warmup() -> None:
    run = Run(config(health=HealthSettings(warmup=10.0)), started=100.0)
    run.rounds(107.0, 3, {v: views(EU1) for v in VANTAGES})  # at 107, 108, 109
    assert run.view("a", EU1) is False
    assert run.verdict(EU1) is None and run.verdict(EU2) is True  # up votes count, down votes wait
    assert not aggregate.ready(run.state, run.cfg)
    run.evaluate(109.9)
    assert run.verdict(EU1) is None
    ts = run.evaluate(110.0)
    assert run.verdict(EU1) is False and aggregate.ready(run.state, run.cfg)
    assert [(t.name, t.state) for t in ts] == [(f"web eu {EU1}", "down")]
    assert ts[0].cause.startswith("first verdict: down at a, b, c")


def test_an_endpoint_up_before_the_warmup_ends_stays_up_through_down_votes() -> None:
    run = Run(config(health=HealthSettings(warmup=5.0)), started=0.0)
    t = run.rounds(0, 2, ALL_UP)
    run.rounds(t, 3, {v: views(EU1) for v in VANTAGES})  # at 2, 3, 4
    assert run.verdict(EU1) is True
    run.evaluate(5.0)  # the warm-up is over and the down votes are fresh
    assert run.verdict(EU1) is False


# -- sick vantages ------------------------------------------------------------------------------------------------
def test_a_vantage_that_sees_everything_down_while_others_see_up_is_sick_and_its_votes_are_ignored() -> None:
    run = Run(config(quorum=2))
    t = run.rounds(0, 2, ALL_UP)
    t = run.rounds(t, 2, {"a": views(*NOTHING), "b": views(), "c": views()})
    assert run.state.sick == {"a"}
    sick = [x for x in run.transitions if x.kind == "vantage"]
    assert [(x.name, x.state) for x in sick] == [("a", "sick")]
    assert "sees every endpoint down while other vantages see some up" in sick[0].cause
    assert "ignored" in sick[0].cause
    # b now sees EU1 down too: with a's vote that would be 2 of quorum 2; a is ignored, so 1 down, 1 up
    t = run.rounds(t, 2, {"a": views(*NOTHING), "b": views(EU1), "c": views()})
    assert run.verdict(EU1) is True
    assert all(run.verdict(x) for x in REGION_OF)
    # a agrees with the others again
    t = run.rounds(t, 2, {"a": views(), "b": views(), "c": views()})
    assert run.state.sick == frozenset()
    assert [(x.name, x.state, x.cause) for x in run.transitions if x.kind == "vantage"][-1] == \
        ("a", "well", "its view agrees with the others again")


def test_a_sick_vantage_that_goes_silent_is_well_again_with_that_cause() -> None:
    run = Run(config(quorum=2, health=HealthSettings(stale_after=3)))
    t = run.rounds(0, 2, ALL_UP)
    t = run.rounds(t, 2, {"a": views(*NOTHING), "b": views(), "c": views()})
    assert run.state.sick == {"a"}
    run.rounds(t, 5, {"b": views(), "c": views()})
    assert run.state.sick == frozenset()
    assert [(x.name, x.state, x.cause) for x in run.transitions if x.kind == "vantage"][-1] == \
        ("a", "well", "it went silent")


def test_everything_down_everywhere_is_an_outage_not_a_sick_vantage() -> None:
    run = Run(config(quorum=2))
    t = run.rounds(0, 2, ALL_UP)
    run.rounds(t, 2, {v: views(*NOTHING) for v in VANTAGES})
    assert run.state.sick == frozenset()
    assert not any(run.state.verdicts.values()) and not any(run.state.regions.values())


def test_a_vantage_with_nothing_established_is_not_sick() -> None:
    run = Run(config(quorum=2))
    run.rounds(0, 2, {"b": views(), "c": views()})
    run.round(2, {"a": views(*NOTHING)})  # one failure: not fall 2, no established view
    assert run.state.sick == frozenset()


def test_a_vantage_failing_one_region_from_the_start_is_not_sick_before_its_other_views_rise() -> None:
    """rise 3, fall 2: a vantage whose path to eu fails from the start has eu down after two rounds, while us
    (which it sees up) is established only after three. In between, every view it has established is down;
    that is no sickness, and no transition says so. (b and c started earlier and see everything up.)"""
    run = Run(config(quorum=2, rise=3, fall=2))
    run.rounds(0, 3, {"b": views(), "c": views()})
    run.rounds(3, 2, {"a": views(EU1, EU2), "b": views(), "c": views()})
    assert run.view("a", EU1) is False and run.view("a", US1) is None and run.view("b", EU1) is True
    assert run.state.sick == frozenset()
    run.rounds(5, 3, {"a": views(EU1, EU2), "b": views(), "c": views()})
    assert run.view("a", US1) is True
    assert run.state.sick == frozenset()
    assert not [x for x in run.transitions if x.kind == "vantage"]


# -- regions -----------------------------------------------------------------------------------------------------
def test_a_region_is_up_while_region_min_up_endpoints_are() -> None:
    run = Run(config(health=HealthSettings(region_min_up=1)))
    t = run.rounds(0, 2, ALL_UP)
    run.rounds(t, 2, {v: views(EU1) for v in VANTAGES})
    assert run.state.regions[("web", "eu")] is True
    snap = aggregate.snapshot(run.state, run.cfg, HealthSnapshot(), 1)
    assert snap.down_checks == {check(EU1)}


def test_below_region_min_up_the_whole_region_is_down() -> None:
    run = Run(config(health=HealthSettings(region_min_up=2)))
    t = run.rounds(0, 2, ALL_UP)
    assert run.state.regions == {("web", "eu"): True, ("web", "us"): True}
    run.rounds(t, 2, {v: views(EU1) for v in VANTAGES})
    assert run.state.regions[("web", "eu")] is False and run.verdict(EU2) is True
    region = [x for x in run.transitions if x.kind == "region" and x.state == "down"]
    assert [(x.name, x.cause) for x in region] == [("web eu", "1 of 2 endpoints up (needs 2)")]
    snap = aggregate.snapshot(run.state, run.cfg, HealthSnapshot(), 1)
    assert snap.down_checks == {check(EU1), check(EU2)}  # EU2 is up but its region is not
    # us has one endpoint: region_min_up 2 is capped at what the region has
    assert run.state.regions[("web", "us")] is True


def test_an_endpoint_without_a_verdict_does_not_take_its_region_below_region_min_up() -> None:
    """EU2 has no verdict yet (say a reload just added it): it counts as up, as it does in the snapshot, rather
    than taking its region, whose other endpoint is up, down with it."""
    run = Run(config(health=HealthSettings(region_min_up=2)))
    run.rounds(0, 2, {v: {EU1: True, US1: True} for v in VANTAGES})
    assert run.verdict(EU2) is None and run.verdict(EU1) is True
    assert run.state.regions[("web", "eu")] is True
    assert aggregate.snapshot(run.state, run.cfg, HealthSnapshot(), 1).down_checks == frozenset()
    assert [x.cause for x in run.transitions if x.name == "web eu"] == \
        ["1 of 2 endpoints up, 1 without a verdict (needs 2)"]


def test_a_region_with_no_verdict_at_all_has_none() -> None:
    run = Run(config())
    run.rounds(0, 2, {v: {US1: True} for v in VANTAGES})
    assert ("web", "eu") not in run.state.regions and run.state.regions[("web", "us")] is True


# -- RTT ---------------------------------------------------------------------------------------------------------
def test_rtt_is_an_ewma_per_vantage_and_region_with_alpha() -> None:
    run = Run(config(health=HealthSettings(rtt_alpha=0.5)))
    run.send(0, "a", obs(EU1, True, rtt=10.0))
    assert run.state.rtt[("a", "eu")] == 10.0  # the first sample is taken as it is
    run.send(1, "a", obs(EU1, True, rtt=20.0))
    assert run.state.rtt[("a", "eu")] == 15.0
    run.send(2, "a", obs(EU2, True, rtt=35.0))  # every endpoint of the region feeds the region's average
    assert run.state.rtt[("a", "eu")] == 25.0
    run.send(3, "a", obs(EU1, False, rtt=None), Observation("web", "eu", EU2, False, 900.0, "status 503"))
    assert run.state.rtt[("a", "eu")] == 25.0  # failed observations do not feed it, even with an RTT
    run.send(4, "a", obs(EU1, True, rtt=None))
    assert run.state.rtt[("a", "eu")] == 25.0  # nor ones without one
    run.send(5, "b", obs(US1, True, rtt=80.0))
    assert dict(run.state.rtt) == {("a", "eu"): 25.0, ("b", "us"): 80.0}


def test_rtt_alpha_weights_the_new_sample() -> None:
    run = Run(config(health=HealthSettings(rtt_alpha=0.3)))
    for t, sample in enumerate([100.0, 0.0, 0.0]):
        run.send(t, "a", obs(US1, True, rtt=sample))
    assert run.state.rtt[("a", "us")] == pytest.approx(100.0 * 0.7 * 0.7)
    snap = aggregate.snapshot(run.state, run.cfg, HealthSnapshot(), 7)
    assert snap.rtt_ms == ((("a", "us"), pytest.approx(49.0)),) and snap.generation == 7


# -- transitions, unknown checks, ready, snapshot ----------------------------------------------------------------------
def test_first_verdicts_and_regions_are_transitions_with_their_causes() -> None:
    run = Run(config(quorum=2))
    run.rounds(0, 2, {"a": views(), "b": views(US1), "c": views(US1)})
    got = {(t.kind, t.name): (t.state, t.cause) for t in run.transitions}
    # the verdict is made as soon as quorum agrees: c's second report came after a's and b's
    assert got[("endpoint", f"web eu {EU1}")] == ("up", "first verdict: up at a, b (2 of quorum 2)")
    assert got[("endpoint", f"web us {US1}")] == ("down", "first verdict: down at b, c (2 of quorum 2); status 503")
    assert got[("region", "web eu")] == ("up", "2 of 2 endpoints up (needs 1)")
    assert got[("region", "web us")] == ("down", "0 of 1 endpoints up (needs 1)")
    assert str(Transition(1.0, "region", "web us", "down", "0 of 1 endpoints up (needs 1)")) == \
        "region web us is down: 0 of 1 endpoints up (needs 1)"
    assert run.evaluate(2.5) == []  # nothing changed: nothing to report


def test_the_details_of_every_down_vote_name_the_cause() -> None:
    run = Run(config(quorum=2))
    t = run.rounds(0, 2, ALL_UP)
    for i in range(2):
        run.send(t + i, "a", obs(EU1, False, detail="timeout"))
        run.send(t + i, "b", obs(EU1, False, detail="refused"))
    assert run.transitions[-1].cause == "down at a, b (2 of quorum 2); refused, timeout"


def test_unknown_checks_are_ignored_and_counted() -> None:
    run = Run(config())
    run.send(0, "a", obs(EU1, True), Observation("web", "eu", "10.9.9.9", False, None, "refused"),
             Observation("nope", "eu", EU1, False, None, ""), Observation("web", "mars", EU1, False, None, ""))
    assert run.ignored == 3
    assert set(run.state.views) == {("a", check(EU1))}


def test_a_report_from_an_unknown_vantage_is_ignored_entirely() -> None:
    state = State(started=0.0)
    new, ignored = aggregate.ingest(state, report("mars", obs(EU1, True), obs(US1, True)), 1.0, config())
    assert ignored == 2 and new == state


def test_ready_once_every_check_has_a_verdict() -> None:
    run = Run(config())
    assert not aggregate.ready(run.state, run.cfg)
    run.rounds(0, 2, {v: {EU1: True, EU2: False} for v in VANTAGES})
    assert not aggregate.ready(run.state, run.cfg)  # US1 never reported
    run.rounds(2, 2, ALL_UP)
    assert aggregate.ready(run.state, run.cfg)
    assert aggregate.ready(State(started=0.0), replace(config(), zones={}))  # nothing monitored: ready at once


def test_the_snapshot_holds_each_monitors_verdicts_and_services_see_their_own() -> None:
    cfg = config(api=True)
    run = Run(cfg)
    for t in range(2):
        for v in VANTAGES:
            run.send(t, v, *(obs(a, True) for a in REGION_OF),
                     Observation("api", "eu", EU1, False, None, "refused"), Observation("api", "eu", EU2, True, 1.0))
    assert run.state.verdicts[check(EU1, "api")] is False and run.verdict(EU1) is True
    snap = aggregate.snapshot(run.state, cfg, HealthSnapshot(), 3)
    assert snap.down_checks == {("api", "eu", EU1)}
    assert snap.down_for("api") == {("eu", EU1)}
    assert snap.down_for("web") == frozenset()
    assert snap.down_for(None) == frozenset()


def test_aggregation_is_pure() -> None:
    run = Run(config())
    run.rounds(0, 2, ALL_UP)
    state = run.state
    again, ts = aggregate.evaluate(state, 2.0, run.cfg)
    assert again == state and ts == []
    aggregate.ingest(state, report("a", obs(EU1, False)), 3.0, run.cfg)
    assert run.state is state and state.views[("a", check(EU1))].fail_streak == 0


def test_one_failed_probe_repeated_in_two_reports_is_one_failure() -> None:
    """The prober's rounds and a target's probes are not in step (±10 % jitter), so a round may come with no new
    probe of a target; its report then carries the previous observation again. `fall: 2` must mean two failed
    probes, not one failed probe seen in two reports."""
    import asyncio

    from gtm.health.prober import Prober

    cfg = config(quorum=1, fall=2, vantages=("a",))
    run = Run(cfg)
    run.rounds(0, 2, {"a": views()})
    assert run.verdict(EU1) is True

    async def two_rounds_one_probe() -> tuple[Report, Report]:
        prober = Prober(cfg, "a", [], "a", b"0123456789abcdef")
        prober.latest = {check(a): obs(a, True) for a in REGION_OF}
        prober.latest[check(EU1)] = obs(EU1, False)  # one probe of EU1 failed...
        prober.unreported = set(prober.latest)       # ...all observed since the last report
        first = prober.build_report()
        return first, prober.build_report()          # ...and the next round came before the next probe

    first, second = asyncio.run(two_rounds_one_probe())
    assert obs(EU1, False) in first.observations and not second.observations  # each probe reported once
    for t, r in enumerate((first, second), start=2):
        run.state, _ = aggregate.ingest(run.state, r, float(t), cfg)
        run.evaluate(float(t))
    assert run.view("a", EU1) is True, "one failed probe took the view down"


# --- hostname endpoints probed per address ---------------------------------------------------------------------
LB = "lb.example.net"


def lb_config() -> Config:
    """Region eu: a hostname endpoint probed per address (``probe: addresses``); us: one address."""
    from gtm.model import ProbeMode

    base = config()
    eu = Region("eu", Location(0, 0), (Endpoint(hostname=LB, probe=ProbeMode.ADDRESSES),))
    return replace(base, regions={"eu": eu, "us": base.regions["us"]})


def lb_obs(ok: bool, **addresses: bool) -> list[Observation]:
    """The name's observation and each address's (``a_b_c_d=True`` for a.b.c.d)."""
    out = [Observation("web", "eu", LB, ok, 5.0 if ok else None, "200" if ok else "status 503")]
    out += [Observation("web", "eu", f"{LB}/{a.replace('_', '.')}", up, 5.0 if up else None, "200" if up else "503")
            for a, up in addresses.items()]
    return out


def test_each_address_of_a_hostname_probed_per_address_has_its_own_verdict_and_follows_the_name() -> None:
    run = Run(lb_config())
    for t in range(3):  # rise 2, fall 2, quorum 2: two vantages agree
        for v in ("a", "b"):
            run.send(float(t), v, *lb_obs(True, **{"192_0_2_7": True, "192_0_2_8": t == 0}),
                     obs(US1, True))
    a7, a8 = ("web", "eu", f"{LB}/192.0.2.7"), ("web", "eu", f"{LB}/192.0.2.8")
    assert run.state.verdicts[("web", "eu", LB)] is True
    assert run.state.verdicts[a7] is True and run.state.verdicts[a8] is False
    snap = aggregate.snapshot(run.state, run.cfg, HealthSnapshot(), 1)
    assert a8 in snap.down_checks and a7 not in snap.down_checks
    # The region's verdict counts the endpoint (the name), not its addresses.
    assert run.state.regions[("web", "eu")] is True
    # The name now resolves to .7 and .9 only: .8's views go, .9 starts afresh (no verdict before rise).
    for v in ("a", "b"):
        run.send(3.0, v, *lb_obs(True, **{"192_0_2_7": True, "192_0_2_9": True}), obs(US1, True))
    assert a8 not in run.state.verdicts and ("web", "eu", f"{LB}/192.0.2.9") not in run.state.verdicts
    assert not any(c == a8 for _, c in run.state.views)
    # An address observation of a name not probed per address is ignored, as any unknown check.
    before = run.ignored
    run.send(4.0, "a", Observation("web", "us", f"{US1}/192.0.2.1", True, 1.0, "200"))
    assert run.ignored == before + 1
