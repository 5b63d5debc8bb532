"""From probers' reports to verdicts (pure: plain values in, plain values out; the clock is an argument).

Four steps (DESIGN.md section 4):

1. **Observation → view.** Each vantage's view of each check (monitor, region, address) follows rise/fall:
   ``fall`` consecutive failures make it down, ``rise`` consecutive successes make it up; until one of them
   happens the view is not established and does not vote.
2. **Views → endpoint verdict.** Only fresh vantages vote (a vantage whose last report is older than
   ``stale_after`` rounds, the round being the shortest configured monitor interval, is silent). At least ``quorum`` down votes make a check down, at least
   ``quorum`` up votes make it up; otherwise the verdict stays as it was (so when every prober goes silent,
   the last known state stands). During the warm-up after start, down votes do not count. A vantage with an
   established view of every check, all down, while another fresh vantage sees some of them up is **sick**: it
   does not vote, and is flagged, because it is far likelier that one prober lost its network than that the world went down.
3. **Endpoints → region.** For each monitor, a region is up when at least ``region_min_up`` of its checked
   endpoints are up (an endpoint without a verdict yet counts as up, as everywhere: fail open).
4. **RTT.** Each successful observation's RTT feeds an EWMA per (vantage, region), for the latency policy.

Every change of a verdict, a region or a vantage's sickness is a :class:`Transition` with its cause.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Mapping

from gtm.model import Config, HealthSnapshot, ProbeMode, Report

Check = tuple[str, str, str]  # (monitor, region, address)
DEFAULT_ROUND = 5.0  # seconds between reports when nothing is monitored (the prober's default)


def per_address(config: Config) -> dict[Check, tuple[int, int, int]]:
    """The hostname endpoints probed per address (``probe: addresses``), as (monitor, region, hostname) with
    their monitor's (rise, fall, quorum): each resolved address is a check of its own, ``HOSTNAME/ADDRESS``,
    whose set follows the name (see :func:`ingest`)."""
    return {c: p for c, p in checks_of(config).items() if c[2] in _addressed(config, c[1])}


def _addressed(config: Config, region: str) -> set[str]:
    return {e.hostname for e in config.regions[region].endpoints
            if e.hostname is not None and e.probe is ProbeMode.ADDRESSES}


def address_check(check: Check, address: str) -> Check:
    """The check of one resolved address of a hostname endpoint probed per address."""
    return (check[0], check[1], f"{check[2]}/{address}")


def checks_of(config: Config) -> dict[Check, tuple[int, int, int]]:
    """Every check in use, with its monitor's (rise, fall, quorum): each endpoint of each region of each
    service that has a monitor."""
    out: dict[Check, tuple[int, int, int]] = {}
    for svc in config.services:
        if svc.monitor is None:
            continue
        mon = config.monitors[svc.monitor]
        for region in svc.regions:
            for ep in config.regions[region].endpoints:
                out[(mon.name, region, ep.key)] = (mon.rise, mon.fall,
                                                            mon.quorum_among(len(config.vantages)))
    return out


@dataclass(frozen=True)
class View:
    """One vantage's view of one check."""

    up: bool | None = None       # None: not established yet (fewer than rise successes / fall failures)
    ok_streak: int = 0
    fail_streak: int = 0
    rtt_ms: float | None = None
    detail: str = ""


@dataclass(frozen=True)
class Seen:
    """When a vantage last reported (node clock) and at what interval."""

    at: float
    interval: float
    seq: int


@dataclass(frozen=True)
class Transition:
    at: float
    kind: str            # "endpoint", "region" or "vantage"
    name: str            # "web eu-west 198.51.100.10", "web eu-west", "frankfurt"
    state: str           # "up", "down", "sick", "well"
    cause: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name} is {self.state}: {self.cause}"


@dataclass(frozen=True)
class State:
    """Everything aggregation knows; a new value after each report or evaluation."""

    started: float
    views: Mapping[tuple[str, Check], View] = field(default_factory=lambda: MappingProxyType({}))
    seen: Mapping[str, Seen] = field(default_factory=lambda: MappingProxyType({}))
    verdicts: Mapping[Check, bool] = field(default_factory=lambda: MappingProxyType({}))
    regions: Mapping[tuple[str, str], bool] = field(default_factory=lambda: MappingProxyType({}))
    rtt: Mapping[tuple[str, str], float] = field(default_factory=lambda: MappingProxyType({}))
    sick: frozenset[str] = frozenset()


def ingest(state: State, report: Report, now: float, config: Config) -> tuple[State, int]:
    """Apply one report from ``report.vantage`` received at ``now``; returns the new state and how many
    observations were ignored (unknown checks or vantage). Does not evaluate verdicts."""
    checks = checks_of(config)
    if report.vantage not in config.vantages:
        return state, len(report.observations)
    views = dict(state.views)
    # A hostname endpoint probed per address: each address observed is a check of its own (HOSTNAME/ADDRESS)
    # under the endpoint's parameters; a report that observes the name lists every address it resolves to
    # now, so this vantage's views of the addresses it no longer lists are dropped.
    addressed = per_address(config)
    present = {(o.monitor, o.region, o.address) for o in report.observations}
    for (v, check) in list(views):
        if v == report.vantage and check not in checks and check not in present \
                and (check[0], check[1], check[2].partition("/")[0]) in present & set(addressed):
            del views[(v, check)]
    checks = {**checks, **{(o.monitor, o.region, o.address): addressed[(o.monitor, o.region, host)]
                           for o in report.observations
                           for host in [o.address.partition("/")[0]]
                           if "/" in o.address and (o.monitor, o.region, host) in addressed}}
    rtt = dict(state.rtt)
    alpha = config.health.rtt_alpha
    ignored = 0
    counted: set[Check] = set()
    for obs in report.observations:
        check = (obs.monitor, obs.region, obs.address)
        params = checks.get(check)
        if params is None or check in counted:  # one observation per check and report counts toward rise/fall
            ignored += 1
            continue
        counted.add(check)
        rise, fall, _ = params
        old = views.get((report.vantage, check), View())
        if obs.ok:
            ok, bad = old.ok_streak + 1, 0
            up = True if ok >= rise else old.up
        else:
            ok, bad = 0, old.fail_streak + 1
            up = False if bad >= fall else old.up
        views[(report.vantage, check)] = View(up, ok, bad, obs.rtt_ms, obs.detail)
        if obs.ok and obs.rtt_ms is not None:
            key = (report.vantage, obs.region)
            rtt[key] = obs.rtt_ms if key not in rtt else alpha * obs.rtt_ms + (1 - alpha) * rtt[key]
    seen = dict(state.seen)
    seen[report.vantage] = Seen(now, report.interval, report.seq)
    return replace(state, views=MappingProxyType(views), rtt=MappingProxyType(rtt),
                   seen=MappingProxyType(seen)), ignored


def round_of(config: Config) -> float:
    """Seconds between a prober's reports, as configured: the shortest interval of the monitors in use (what
    ``gtm.health.prober`` reports at). Staleness is judged on it, never on the interval a report declares."""
    intervals = {config.monitors[m].interval for m, _, _ in checks_of(config)}
    return min(intervals, default=DEFAULT_ROUND)


def fresh_vantages(state: State, now: float, config: Config) -> set[str]:
    limit = config.health.stale_after * round_of(config)
    return {v for v, s in state.seen.items() if now - s.at <= limit}


def evaluate(state: State, now: float, config: Config) -> tuple[State, list[Transition]]:
    """Verdicts from the current views: quorum of fresh, well vantages; regions; sick vantages."""
    settings = config.health
    checks = checks_of(config)
    addressed = per_address(config)
    # the addresses of hostname endpoints probed per address, as the fresh views have them
    extra = {c: addressed[(c[0], c[1], c[2].partition("/")[0])] for (_, c) in state.views
             if c not in checks and (c[0], c[1], c[2].partition("/")[0]) in addressed}
    fresh = fresh_vantages(state, now, config)
    transitions: list[Transition] = []

    # Sick vantages: a view of every check established, all of them down, while another fresh vantage sees one
    # of those checks up. Until all of its views are established a vantage is not judged: at start, fall may be
    # met for the checks it fails before rise is met for the ones it passes, and that is no sickness.
    sick = set()
    for v in fresh:
        mine = {c: state.views[(v, c)].up for c in checks if (v, c) in state.views}
        if mine and len(mine) == len(checks) and not any(up is not False for up in mine.values()):
            others_up = any(state.views.get((o, c), View()).up for o in fresh if o != v for c in mine)
            if others_up:
                sick.add(v)
    for v in sorted(sick - state.sick):
        transitions.append(Transition(now, "vantage", v, "sick", "sees every endpoint down while other "
                                                                "vantages see some up; its votes are ignored"))
    for v in sorted(state.sick - sick):
        transitions.append(Transition(now, "vantage", v, "well", "its view agrees with the others again"
                                      if v in fresh else "it went silent"))

    in_warmup = now - state.started < settings.warmup
    verdicts: dict[Check, bool] = {}
    for check, (_, _, quorum) in {**checks, **extra}.items():
        voters = [(v, state.views[(v, check)].up) for v in fresh - sick
                  if (v, check) in state.views and state.views[(v, check)].up is not None]
        ups = [v for v, up in voters if up]
        downs = [v for v, up in voters if not up] if not in_warmup else []
        need = min(quorum, len(config.vantages)) or 1
        old = state.verdicts.get(check)
        if len(downs) >= need and len(downs) >= len(ups):
            new: bool | None = False
            cause = f"down at {', '.join(sorted(downs))} ({len(downs)} of quorum {need})"
        elif len(ups) >= need:
            new = True
            cause = f"up at {', '.join(sorted(ups))} ({len(ups)} of quorum {need})"
        else:
            new = old  # no quorum either way: the last verdict stands (last known good)
            cause = ""
        if new is not None:
            verdicts[check] = new
        if new is not None and new != old:
            details = {state.views[(v, check)].detail for v in downs} if new is False else set()
            why = cause + (f"; {', '.join(sorted(d for d in details if d))}" if details - {""} else "")
            transitions.append(Transition(now, "endpoint", " ".join(check), "up" if new else "down",
                                          why if old is not None else f"first verdict: {why}"))

    regions: dict[tuple[str, str], bool] = {}
    by_region: dict[tuple[str, str], list[bool | None]] = {}
    for (mon, region, _addr) in checks:
        by_region.setdefault((mon, region), []).append(verdicts.get((mon, region, _addr)))
    for key, vs in by_region.items():
        if all(v is None for v in vs):
            continue
        # An endpoint without a verdict yet (e.g. just added by a reload) counts as up, as it does in the
        # snapshot (fail open): it must not take a region whose known endpoints are up below region_min_up.
        up_count = sum(1 for v in vs if v)
        unknown = sum(1 for v in vs if v is None)
        needs = min(settings.region_min_up, len(vs))
        regions[key] = up_count + unknown >= needs
        if state.regions.get(key) != regions[key]:
            transitions.append(Transition(now, "region", " ".join(key), "up" if regions[key] else "down",
                                          f"{up_count} of {len(vs)} endpoints up"
                                          + (f", {unknown} without a verdict" if unknown else "")
                                          + f" (needs {needs})"))
    new_state = replace(state, verdicts=MappingProxyType(verdicts), regions=MappingProxyType(regions),
                        sick=frozenset(sick))
    return new_state, transitions


def ready(state: State, config: Config) -> bool:
    """Whether every check has a verdict (the first full round is in)."""
    return all(c in state.verdicts for c in checks_of(config))


def snapshot(state: State, config: Config, previous: HealthSnapshot, generation: int) -> HealthSnapshot:
    """The health steering answers under. A check without a verdict counts as up (fail open); a region that
    is down for a monitor has all of its endpoints down for that monitor."""
    down = {c for c, up in state.verdicts.items() if not up}
    for (mon, region), up in state.regions.items():
        if not up:
            down |= {(mon, region, ep.key) for ep in config.regions[region].endpoints}
    return replace(previous, down_checks=frozenset(down), rtt_ms=tuple(sorted(state.rtt.items())),
                   generation=generation)
