"""Drills, failover and restore: the steps, each checked before the next.

``drill``: precheck (guardrails, every node reachable, every other region up, a baseline of answers) ->
drain (the override store, and with Route53 the region's switch check) -> verify that no answer names the
region, per node, within TTL + budget -> hold, checking that the other regions stay up and the region stays
out -> restore -> verify that every client the region answered before gets it again -> report. Any failure,
Ctrl-C or error after the drain rolls back (the override cleared, the switch flipped back) before reporting.

``failover`` drains and verifies, without a rollback; ``restore`` clears and verifies the region is answered
again. Blocking IO (the store, Route53, the nodes' admin APIs) runs in threads; the DNS queries are async.
"""
from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from gtm import fleet
from gtm.fleet import NodeStatus, fetch_status
from gtm.drill.report import Report
from gtm.drill.verify import Probe, Seen, Verifier, probes_for
from gtm.dns.client import IPNet, ask
from gtm.errors import GtmError, UnsafePlan
from gtm.model import A, Config, NodeAddress, Override, Service
from gtm.state import overrides as ov
from gtm.state.store import Store, Stored

log = logging.getLogger(__name__)


class VerificationFailed(GtmError):
    """What was changed did not show in the answers (or broke something) in time."""


@dataclass
class Settings:
    region: str
    services: list[Service]
    hold: float = 30.0
    budget: float = 30.0
    interval: float = 0.2
    reason: str = ""
    author: str = ""
    force: bool = False
    route53: Any = None                      # a Route53 client when the Route53 leg is on
    owner: str = "gtm"
    clients: list[tuple[IPNet, str, str]] = field(default_factory=list)


class Run:
    def __init__(self, config: Config, store: Store, nodes: Sequence[NodeAddress], token: str | None,
                 settings: Settings, report: Report):
        self.config, self.store, self.nodes, self.token = config, store, list(nodes), token
        self.s = settings
        self.report = report
        self.statuses: list[NodeStatus] = []
        self.verifier: Verifier | None = None
        self.baseline: dict[Probe, Seen] = {}
        self.override: Override | None = None     # the one we wrote (and must take back)
        self.switched: list[str] = []             # Route53 checks we inverted
        self.last: dict[Probe, Seen] = {}         # the latest answer per probe

    async def io(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    @property
    def names(self) -> list[str]:
        return [n for s in self.s.services for n in s.names]

    @property
    def ttl(self) -> int:
        return max((s.ttl for s in self.s.services), default=0)

    # -- precheck -----------------------------------------------------------------------------------------
    async def precheck(self, mode: str = "drill") -> None:
        """Everything checked before anything is written; UnsafePlan says what is wrong. ``mode``: a drill needs
        every other region healthy and a baseline of answers; a failover warns about unhealthy regions instead
        (an incident is no time to insist on a healthy fleet); a restore checks neither, nor the guardrails."""
        baseline = mode == "drill"
        r, s = self.report, self.s
        if s.region not in self.config.regions:
            raise UnsafePlan(f"unknown region {s.region!r}; regions: {', '.join(sorted(self.config.regions))}")
        if not s.services:
            raise UnsafePlan(f"no service uses region {s.region}")
        statuses = []
        for node in self.nodes:
            try:
                statuses.append(await self.io(fetch_status, node, self.token))
            except GtmError as e:
                raise UnsafePlan(str(e)) from None
        self.statuses = statuses
        r.event("nodes reachable", nodes=[n.admin for n in self.nodes])
        if mode != "restore":
            for st in statuses:
                answered = st.healthy_regions()  # health and the overrides in force
                for svc in s.services:
                    out = [x for x in svc.regions if x != s.region and x not in answered.get(svc.ref, [])]
                    if out and mode == "drill":
                        raise UnsafePlan(f"node {st.where}: service {self.config.service_label(svc)} has {', '.join(out)} down or drained: "
                                      f"a drill needs every other region healthy")
                    if out:
                        r.event("warning", detail=f"node {st.where}: service {self.config.service_label(svc)} has {', '.join(out)} "
                                                  f"down or drained")
            current = await self.io(self.store.read)
            for o in ov.active(current.overrides, time.time()):
                if o.region == s.region and o.address is None and o.service is None:
                    state = "drained" if o.action == "drain" else f"forced {o.action}"
                    raise UnsafePlan(f"{s.region} is already {state} ({o.author}: {o.reason or 'no reason'}); "
                                  f"gtm restore {s.region} (or gtm override clear {s.region}) first")
            # the drain planned (not written) against the store as it is: the guardrails' verdict before any change
            plan = fleet.plan_override(self.config, current, self._drain_change("precheck", None), author=s.author,
                                       reason=s.reason, guarded=lambda: fleet.combined(self.statuses), force=s.force)
            for note in plan.notes:
                if not note.startswith("forced"):
                    r.event("guardrail note", detail=note)
            if plan.forced:
                r.event("guardrails forced", detail="; ".join(plan.forced))
        region_of = {f"{st.node.dns[0]}:{st.node.dns[1]}": st.addresses() for st in statuses if st.node is not None}
        families = {k: {4 if ":" not in a else 6 for a in m} for k, m in region_of.items()}
        for node in self.nodes:  # DNS itself must answer
            try:
                await ask(node.dns, self.names[0], A, None, timeout=1.0)
            except (TimeoutError, OSError) as e:
                raise UnsafePlan(f"node {node.dns[0]}:{node.dns[1]} does not answer DNS: {e}") from None
        self.verifier = Verifier(probes_for(self.nodes, self.names, families, s.clients), region_of)
        if baseline:
            seen = await self.verifier.round()
            self.report.queries = self.verifier.queries
            errors = [x for x in seen if x.error]
            if errors:
                raise UnsafePlan(f"{len(errors)} of {len(seen)} baseline queries failed, e.g. {errors[0].probe.label()} "
                              f"at {errors[0].probe.node_key}: {errors[0].error}")
            self.baseline = {x.probe: x for x in seen}
            answered = [x for x in seen if s.region in x.regions]
            if not answered:
                raise UnsafePlan(f"no sampled client is answered with {s.region} now: a drill would prove nothing")
            r.event("baseline", queries=len(seen), answering_region=len(answered))

    def _drain_change(self, new_id: str, expires_in: float | None) -> fleet.Change:
        def change(current: Stored, now: float) -> tuple[list[Override], str, list[Override]]:
            new = ov.make(self.config, current.overrides, "drain", self.s.region, service=None, reason=self.s.reason,
                          author=self.s.author, now=now, expires_in=expires_in, new_id=new_id)
            return ov.put(current.overrides, new, now), "drain", [new]
        return change

    def _restore_change(self) -> fleet.Change:
        region = self.s.region

        def change(current: Stored, now: float) -> tuple[list[Override], str, list[Override]]:
            kept, removed = ov.clear(current.overrides, region, None, True, now)
            if not removed:
                raise GtmError(f"no override in force on {region}")
            return kept, "clear", removed
        return change

    def plan(self, kind: str) -> fleet.OverridePlan:
        """What ``failover`` or ``restore`` would write, planned against the store as it is now; a failover's
        guardrails judge what the nodes say now. Blocking; writes nothing (``--dry-run``)."""
        s = self.s
        if kind == "failover":
            return fleet.plan_override(self.config, self.store.read(), self._drain_change("dry-run", None),
                                       author=s.author, reason=s.reason, guarded=lambda: fleet.situation(
                                           self.nodes, self.token), force=s.force, via=kind)
        return fleet.plan_override(self.config, self.store.read(), self._restore_change(), author=s.author,
                                   reason=s.reason, via=kind)

    # -- changes ------------------------------------------------------------------------------------------
    async def drain(self, expires_in: float | None) -> float:
        """Write the drain (and flip the switch); returns the monotonic time the store write completed."""
        s = self.s

        new_id = secrets.token_hex(6)
        # Ours from before the write: if its outcome is unclear (an interruption, a lost reply), taking it
        # back (by id, a no-op when it is not there) is still right.
        self.override = Override(new_id, "drain", s.region)

        def write() -> tuple[Stored, fleet.OverridePlan, int]:
            # planned again at write time: someone may have drained another region since the precheck
            plan = fleet.plan_override(self.config, self.store.read(), self._drain_change(new_id, expires_in),
                                       author=s.author, reason=s.reason, guarded=lambda: fleet.combined(self.statuses),
                                       force=s.force, via=self.report.kind)
            return fleet.apply(plan, self.store)

        try:
            stored, _, conflicts = await self.io(write)
        except UnsafePlan:
            self.override = None
            raise
        t0 = time.monotonic()
        self.report.event("drained", store_version=stored.version, override=self.override.id if self.override else "",
                          conflicts=conflicts)
        if s.route53 is not None:
            from gtm.route53.sync import switch_regions

            try:
                self.switched = await self.io(switch_regions, s.route53, self.config, s.owner, s.region, True)
            except GtmError as e:
                self.report.fail(f"route53: {e}")
                try:  # some zones may have flipped before one failed: flip back whatever did
                    await self.io(switch_regions, s.route53, self.config, s.owner, s.region, False)
                except GtmError as back:
                    self.report.fail(f"route53: flipping back failed too ({back}); run gtm route53 apply")
                await self.take_back(route53=False)
                self.report.rolled_back = True
                raise GtmError(f"Route53 switch failed ({e}); the override store was rolled back") from None
            self.report.event("route53 switch inverted", checks=self.switched)
        return t0

    async def take_back(self, route53: bool = True) -> float:
        """Clear the override we wrote (only ours) and flip the switch back; the store write's monotonic time."""
        mine = self.override

        def change(current: Stored, now: float) -> tuple[list[Override], str, list[Override]]:
            kept = [o for o in current.overrides if mine is None or o.id != mine.id]
            return kept, "clear", [mine] if mine else []

        def write() -> tuple[Stored, fleet.OverridePlan, int]:
            return fleet.apply(fleet.plan_override(self.config, self.store.read(), change, author=self.s.author,
                                                   reason=self.s.reason or "rollback", via=self.report.kind),
                               self.store)

        stored, _, _ = await self.io(write)
        t0 = time.monotonic()
        self.report.event("override cleared", store_version=stored.version)
        if route53 and self.s.route53 is not None:
            from gtm.route53.sync import switch_regions

            back = await self.io(switch_regions, self.s.route53, self.config, self.s.owner, self.s.region, False)
            self.report.event("route53 switch restored", checks=back)
            self.switched = []
        self.override = None
        return t0

    # -- verification -------------------------------------------------------------------------------------
    async def wait(self, t0: float, done: Callable[[Seen], bool], what: str,
                   probes: Sequence[Probe] | None = None,
                   node_done: Callable[[list[Seen]], bool] | None = None) -> dict[str, float | None]:
        """Rounds of queries until, on every node, every probe is ``done`` (or the node's answers of a round
        are ``node_done``); seconds after ``t0`` per node (None: not within the TTL + budget)."""
        settled = node_done or (lambda seen: all(done(x) for x in seen))
        assert self.verifier is not None
        probes = list(self.verifier.probes if probes is None else probes)
        nodes = sorted({p.node_key for p in probes})
        took: dict[str, float | None] = {n: None for n in nodes}
        deadline = t0 + self.ttl + self.s.budget
        last: dict[Probe, Seen] = {}
        while any(v is None for v in took.values()) and time.monotonic() < deadline:
            started = time.monotonic()
            todo = [p for p in probes if took[p.node_key] is None]
            for x in await self.verifier.round(todo):
                last[x.probe] = x
            for n in nodes:
                mine = [last[p] for p in todo if p.node_key == n]
                if took[n] is None and mine and settled(mine):
                    took[n] = round(max(0.0, started - t0), 3)
                    self.report.event(what, node=n, after_s=took[n])
            await asyncio.sleep(max(0.0, self.s.interval - (time.monotonic() - started)))
        self.report.queries = self.verifier.queries
        self.last = last
        return took

    async def hold(self) -> None:
        """Keep checking for ``hold`` seconds: the other regions up, the region in no answer."""
        assert self.verifier is not None
        s = self.s
        end = time.monotonic() + s.hold
        rounds = 0
        while time.monotonic() < end:
            started = time.monotonic()
            statuses = []
            for node in self.nodes:
                try:
                    statuses.append(await self.io(fetch_status, node, self.token))
                except GtmError as e:
                    raise VerificationFailed(f"during the hold: {e}") from None
            for st in statuses:
                up = st.up_regions()
                for svc in s.services:
                    down = [x for x in svc.regions if x != s.region and x not in up.get(svc.ref, [])]
                    if down:
                        raise VerificationFailed(f"during the hold, node {st.where}: {', '.join(down)} went down "
                                                 f"(service {self.config.service_label(svc)})")
            seen = await self.verifier.round()
            bad = [x for x in seen if s.region in x.regions]
            if bad:
                raise VerificationFailed(f"during the hold, {bad[0].probe.label()} at {bad[0].probe.node_key} was "
                                         f"answered with {s.region} again")
            failed = [x for x in seen if x.error]
            if failed:
                raise VerificationFailed(f"during the hold, {failed[0].probe.label()} at {failed[0].probe.node_key} "
                                         f"got no answer: {failed[0].error}")
            rounds += 1
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
        self.report.queries = self.verifier.queries
        self.report.event("hold passed", seconds=s.hold, rounds=rounds)

    def client_table(self, during: dict[Probe, Seen], after: dict[Probe, Seen]) -> list[dict[str, Any]]:
        """Per service and client network, the regions answered before, during and after (a row per service:
        services steer the same client differently)."""
        service_of = {name.lower(): self.config.service_label(svc) for svc in self.s.services for name in svc.names}
        rows: dict[tuple[str, str, str], dict[str, Any]] = {}
        for probe, before in self.baseline.items():
            service = service_of.get(probe.name.lower(), probe.name)
            key = (service, str(probe.client), probe.where)
            row = rows.setdefault(key, {"service": service, "client": key[1], "where": key[2], "before": [],
                                        "during": [], "after": []})
            for col, src in (("before", {probe: before}), ("during", during), ("after", after)):
                x = src.get(probe)
                if x is not None:
                    for reg in x.regions:
                        if reg not in row[col]:
                            row[col].append(reg)
        return [rows[k] for k in sorted(rows)]


# -- the three commands ---------------------------------------------------------------------------------------
async def drill(run: Run) -> Report:
    r, s = run.report, run.s
    r.settings.update({"hold": f"{s.hold:g} s", "budget": f"TTL {run.ttl} s + {s.budget:g} s",
                       "route53": "yes" if s.route53 is not None else "no", "nodes": len(run.nodes),
                       "client networks": len(s.clients)})
    if not await _prechecked(run, "drill"):
        return r
    during: dict[Probe, Seen] = {}
    try:
        # A safety net: if this process dies, the drain still ends by itself.
        try:
            t0 = await run.drain(expires_in=s.hold + 2 * (run.ttl + s.budget) + 300)
        except UnsafePlan as e:
            r.outcome, r.summary = "refused", f"refused at the drain, nothing changed: {e}"
            r.fail(str(e))
            return r
        moved = await run.wait(t0, lambda x: not x.error and s.region not in x.regions, "shifted")
        r.shift = moved
        during = dict(run.last)
        late = [n for n, t in moved.items() if t is None]
        if late:
            stuck = [x for x in run.last.values() if s.region in x.regions or x.error]
            example = f"; e.g. {stuck[0].probe.label()}: {', '.join(stuck[0].regions) or stuck[0].error}" if stuck else ""
            raise VerificationFailed(f"{', '.join(late)} still answered {s.region} after TTL {run.ttl} s + budget "
                                     f"{s.budget:g} s{example}")
        await run.hold()
        t1 = await run.take_back()
        # Every client the region answered before must get it again, except for latency-steered names: their
        # hysteresis rightly keeps a client on the region it moved to until the drained one is better by the
        # margin. Those only need the region answered somewhere again.
        sticky = {n for svc in s.services if svc.policy.kind == "latency" for n in svc.names}
        expected = [p for p, x in run.baseline.items() if s.region in x.regions and p.name not in sticky]
        if len(expected) < len([p for p, x in run.baseline.items() if s.region in x.regions]):
            r.event("note", detail="latency-steered names are not required to return to the region (hysteresis)")
        if expected:
            back = await run.wait(t1, lambda x: s.region in x.regions, "restored", expected)
        else:
            back = await run.wait(t1, lambda x: s.region in x.regions, "restored",
                                  node_done=lambda seen: any(s.region in x.regions for x in seen))
        r.restore = back
        after = {x.probe: x for x in await run.verifier.round()} if run.verifier else {}
        r.queries = run.verifier.queries if run.verifier else r.queries
        r.clients = run.client_table(during, after)
        late = [n for n, t in back.items() if t is None]
        if late:
            r.outcome = "verification failed"
            r.summary = f"{s.region} was not answered again on {', '.join(late)} in time after the restore"
            r.fail(r.summary)
            return r
        r.outcome = "passed"
        worst_shift = max(t for t in moved.values() if t is not None)
        worst_back = max(t for t in back.values() if t is not None)
        r.summary = (f"{s.region} drained and restored on {len(run.nodes)} node(s): every sampled client moved off "
                     f"it within {worst_shift:.2f} s and was back within {worst_back:.2f} s; held {s.hold:g} s.")
        return r
    except (VerificationFailed, GtmError) as e:
        r.outcome = "verification failed" if isinstance(e, VerificationFailed) else "error"
        r.summary = f"{e}; rolled back"
        r.fail(str(e))
    except (asyncio.CancelledError, KeyboardInterrupt):
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        r.outcome, r.summary = "interrupted", "interrupted; rolled back"
        r.event("interrupted")
    if not r.clients and run.baseline:
        r.clients = run.client_table(during, {})
    if run.override is not None or run.switched:
        try:
            await run.take_back()
            r.rolled_back = True
        except GtmError as e:
            r.fail(f"ROLLBACK FAILED: {e}; clear it by hand: gtm override clear {s.region}")
            r.outcome = "error"
    return r


async def _prechecked(run: Run, mode: str) -> bool:
    """The precheck; on a refusal the report says so (outcome "refused") and False is returned."""
    try:
        await run.precheck(mode)
        return True
    except UnsafePlan as e:
        run.report.outcome, run.report.summary = "refused", f"refused before any change: {e}"
        run.report.fail(str(e))
        return False


async def failover(run: Run) -> Report:
    """Drain everywhere and verify; no rollback (an incident)."""
    r, s = run.report, run.s
    if not await _prechecked(run, "failover"):
        return r
    try:
        t0 = await run.drain(expires_in=None)
    except GtmError as e:
        r.outcome, r.summary = "error", str(e)
        r.fail(str(e))
        return r
    moved = await run.wait(t0, lambda x: not x.error and s.region not in x.regions, "shifted")
    r.shift = moved
    late = [n for n, t in moved.items() if t is None]
    if late:
        r.outcome = "verification failed"
        r.summary = f"drained, but {', '.join(late)} still answer {s.region} (the drain stays in force)"
        r.fail(r.summary)
    else:
        r.outcome = "passed"
        r.summary = f"{s.region} drained; no sampled client is answered with it (within " \
                    f"{max(t for t in moved.values() if t is not None):.2f} s). gtm restore {s.region} brings it back."
    return r


async def restore(run: Run) -> Report:
    """Clear the region's overrides everywhere and verify it is answered again."""
    r, s = run.report, run.s
    if not await _prechecked(run, "restore"):
        return r

    def write() -> tuple[Stored, fleet.OverridePlan, int]:
        return fleet.apply(fleet.plan_override(run.config, run.store.read(), run._restore_change(), author=s.author,
                                               reason=s.reason, via="restore"), run.store)

    try:
        stored, _, _ = await run.io(write)
        r.event("override cleared", store_version=stored.version)
        t0 = time.monotonic()
        if s.route53 is not None:
            from gtm.route53.sync import switch_regions

            back = await run.io(switch_regions, s.route53, run.config, s.owner, s.region, False)
            r.event("route53 switch restored", checks=back)
    except GtmError as e:
        r.outcome, r.summary = "error", str(e)
        r.fail(str(e))
        return r
    assert run.verifier is not None
    back = await run.wait(t0, lambda x: s.region in x.regions, "restored",
                          node_done=lambda seen: any(s.region in x.regions for x in seen))
    r.restore = back
    late = [n for n, t in back.items() if t is None]
    if late:
        r.outcome = "verification failed"
        r.summary = f"cleared, but no sampled client is answered with {s.region} on {', '.join(late)}"
        r.fail(r.summary)
    else:
        r.outcome = "passed"
        r.summary = f"{s.region} is answered again on every node"
    return r
