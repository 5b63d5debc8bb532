"""A DNS node's health: verifies and ingests reports, keeps the aggregation state, publishes snapshots.

This is the IO-facing shell around the pure :mod:`gtm.health.aggregate`: it owns the clock, the signature
verifier, the persisted last-known-good state and the counters the metrics endpoint exposes. Each change of
verdicts yields a new :class:`~gtm.model.HealthSnapshot` through ``on_change``, from which the runtime builds
and swaps new answer tables.
"""
from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter, deque
from dataclasses import replace
from types import MappingProxyType
from typing import Any, Callable

from gtm.files import write_atomic
from gtm.health import aggregate
from gtm.health.aggregate import State, Transition
from gtm.health.signing import HEADERS, Rejected, Verifier, load_keys
from gtm.model import Config, HealthSnapshot, Report, ReportError

log = logging.getLogger(__name__)

PERSIST_SEQS_EVERY = 5.0  # seconds: reports' sequence numbers are saved at least this often while they arrive

# HTTP header names are case-insensitive (RFC 9110 section 5.1), and HTTP/2 proxies send them in lower case.
_SIGNING_HEADERS = {h.lower(): h for h in HEADERS}


class HealthNode:
    """Health state of one DNS node. Not thread-safe: call it from the event loop."""

    def __init__(self, config: Config, on_change: Callable[[HealthSnapshot], None] | None = None,
                 clock: Callable[[], float] = time.time, own_keys: dict[str, bytes] | None = None):
        self.clock = clock
        self.config = config
        self.on_change = on_change
        self.state = State(started=clock())
        self.verifier: Verifier | None = None
        self.rejected: Counter[str] = Counter()     # reason -> reports refused
        self.results: Counter[tuple[str, str]] = Counter()  # (vantage, ok|fail) -> observations
        self.ignored = 0                             # observations naming no known check
        self.accepted = 0
        self.transitions: deque[Transition] = deque(maxlen=200)
        self.transition_counts: Counter[tuple[str, str]] = Counter()
        self.generation = 0
        self.seqs: dict[str, int] = {}               # vantage -> the seq of its last report applied (persisted)
        self.audiences: frozenset[str] | None = None  # the names this node is reached at (set by the admin API)
        self.restored = False
        self._persisted = 0.0
        self.current = HealthSnapshot()
        self._delivered = False                      # on_change has seen a snapshot since the node went live
        self.own_keys = dict(own_keys or {})           # keys of the prober in this process (--probe-as)
        self._load_keys(config)
        # Restore before the first evaluation: publishing first could persist an empty state over the saved one.
        self._restore()
        self.evaluate()

    # -- configuration ------------------------------------------------------------------------------------
    @staticmethod
    def check_keys(config: Config) -> dict[str, bytes] | None:
        """The report keys a config names (None: it names none); ValueError when they cannot be read."""
        h = config.health
        return load_keys(h.keys_file, h.keys_env) if (h.keys_file or h.keys_env) else None

    def set_config(self, config: Config, keys: dict[str, bytes] | None | bool = False) -> None:
        """Adopt a (re)loaded config: keys, checks. Raises ValueError when the keys cannot be read; ``keys``
        may carry the keys already read with :meth:`check_keys` (so that nothing can fail any more)."""
        self._load_keys(config, keys)
        self.evaluate()

    def _load_keys(self, config: Config, keys: dict[str, bytes] | None | bool = False) -> None:
        h = config.health
        if keys is False or keys is True:
            keys = self.check_keys(config)
        # The nonces seen so far outlive a reload: a report captured before it must not be replayable after it.
        seen = self.verifier.seen if self.verifier is not None else {}
        keys = {**self.own_keys, **(keys or {})}  # a key the file names wins over one made up at start
        self.verifier = Verifier(keys, h.skew, seen, self.audiences, self.state.started) if keys else None
        self.config = config

    def set_audiences(self, audiences: frozenset[str] | None) -> None:
        """The names probers reach this node at (``HOST:PORT``); None: any (see ``gtm.admin.app.audiences``)."""
        self.audiences = audiences
        if self.verifier is not None:
            self.verifier.audiences = audiences

    @property
    def monitored(self) -> bool:
        """Whether anything is probed at all (services with monitors)."""
        return bool(aggregate.checks_of(self.config))

    def ready(self) -> bool:
        """Whether the node knows the health it should answer under: restored, or the first full round is in."""
        return self.restored or aggregate.ready(self.state, self.config)

    def live(self) -> bool:
        """Whether changes are published (persisted, handed to ``on_change``): once ready, or once
        ``health.start_timeout`` has passed without a full round (the runtime then answers with what is known,
        and must keep getting changes even while some check never gets a verdict)."""
        return self.ready() or self.clock() - self.state.started >= self.config.health.start_timeout

    # -- reports ------------------------------------------------------------------------------------------
    def receive(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """Verify, parse and apply one report request; (HTTP status, JSON body). Nothing is applied on error."""
        now = self.clock()
        if self.verifier is None:
            self.rejected["no_keys"] += 1
            return 403, {"error": "this node accepts no reports: no report keys configured (health.keys)",
                         "reason": "no_keys"}
        headers = {_SIGNING_HEADERS.get(k.lower(), k): v for k, v in headers.items()}
        try:
            key_id = self.verifier.verify(headers, body, now)
            report = Report.from_json(body)
            self._admit(report, key_id)
        except Rejected as e:
            self.rejected[e.reason] += 1
            return e.status, {"error": str(e), "reason": e.reason, **e.extra}
        except ReportError as e:
            self.rejected["malformed"] += 1
            return 400, {"error": f"malformed report: {e}", "reason": "malformed"}
        self.seqs[report.vantage] = report.seq
        if now - self._persisted >= PERSIST_SEQS_EVERY:
            self.persist()  # the sequence numbers survive a restart (a verdict change saves them too)
        self.state, ignored = aggregate.ingest(self.state, report, now, self.config)
        self.accepted += 1
        self.ignored += ignored
        for o in report.observations:
            self.results[(report.vantage, "ok" if o.ok else "fail")] += 1
        self.evaluate()
        return 200, {"applied": len(report.observations) - ignored, "ignored": ignored}

    def _admit(self, report: Report, key_id: str) -> None:
        """A verified report is applied only from a known vantage, signed with that vantage's own key, and newer
        than the last one applied from it (sequence numbers only go up: a report captured earlier, even one
        this node never saw, is refused)."""
        vantage = self.config.vantages.get(report.vantage)
        if vantage is None:
            raise Rejected("unknown_vantage", f"unknown vantage {report.vantage[:64]!r}", 400)
        if key_id != vantage.key_id:
            raise Rejected("wrong_key", f"key {key_id!r} does not sign for vantage {vantage.name!r} (its key is "
                           f"{vantage.key_id!r})", 403)
        last = self.seqs.get(report.vantage)
        if last is not None and report.seq <= last:
            raise Rejected("old_seq", f"seq {report.seq} of {vantage.name} is not after the last applied, {last}", 409,
                           {"last_seq": last})

    # -- verdicts -----------------------------------------------------------------------------------------
    def evaluate(self) -> None:
        """Recompute verdicts (also called on a timer: reports going stale change them too)."""
        self.state, transitions = aggregate.evaluate(self.state, self.clock(), self.config)
        for t in transitions:
            log.info("health: %s", t)
            self.transitions.append(t)
            self.transition_counts[(t.kind, t.state)] += 1
        snap = aggregate.snapshot(self.state, self.config, HealthSnapshot(), self.generation + 1)
        self._publish(snap)

    def _publish(self, snap: HealthSnapshot) -> None:
        # RTTs move with every report. Verdicts and the order of RTTs per vantage make a new generation (and
        # are persisted); a change of RTT values alone is still handed on, since the latency policy's
        # hysteresis is judged on values (whether answers change is decided where snapshots are swapped: gtm.serving).
        same = (snap.down_checks, _rtt_order(snap)) == (self.current.down_checks, _rtt_order(self.current))
        if not same or not self.generation:
            self.generation += 1
            self.current = replace(snap, generation=self.generation)
        elif snap.rtt_ms != self.current.rtt_ms:
            self.current = replace(snap, generation=self.generation)
            if self._delivered:
                if self.on_change is not None:
                    self.on_change(self.current)
                return
        elif self._delivered:
            return
        if self.live():
            # Also the first time the node goes live with a snapshot computed (unpublished) while it was not.
            self._delivered = True
            self.persist()
            if self.on_change is not None:
                self.on_change(self.current)

    # -- persistence --------------------------------------------------------------------------------------
    def persist(self) -> None:
        """Save the verdicts and RTTs to ``health.state_file`` (atomically). Nothing is saved while no check has
        a verdict: an empty state restored at the next start would count as known and answer "all up"."""
        path = self.config.health.state_file
        if not path or not (self.state.verdicts or self.seqs):
            return
        self._persisted = self.clock()
        body = {"saved_at": self.clock(), "seqs": dict(sorted(self.seqs.items())),
                "verdicts": [[*check, up] for check, up in sorted(self.state.verdicts.items())],
                "regions": [[*key, up] for key, up in sorted(self.state.regions.items())],
                "rtt": [[*key, ms] for key, ms in sorted(self.state.rtt.items())]}
        try:
            # a crash never leaves half a file; not fsynced (this runs on the event loop, which answers DNS too)
            write_atomic(path, json.dumps(body).encode(), durable=False)
        except OSError as e:
            log.warning("cannot persist health state to %s: %s", path, e)

    def _restore(self) -> None:
        path = self.config.health.state_file
        if not path or not os.path.exists(path):
            return
        try:
            with open(path, encoding="utf-8") as fh:
                body = json.load(fh)
            seqs = body.get("seqs") or {}
            self.seqs = {str(v): int(n) for v, n in seqs.items() if v in self.config.vantages}
            known = aggregate.checks_of(self.config)
            verdicts = {(m, r, a): bool(up) for m, r, a, up in body["verdicts"] if (m, r, a) in known}
            regions = {(m, r): bool(up) for m, r, up in body["regions"]}
            rtt = {(v, r): float(ms) for v, r, ms in body["rtt"]
                   if v in self.config.vantages and r in self.config.regions}
            saved_at = float(body.get("saved_at", 0))
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as e:
            log.warning("ignoring the persisted health state in %s: %s", path, e)
            return
        if not verdicts:  # nothing known about the checks of this config: wait for the first round instead
            log.warning("ignoring the persisted health state in %s: no verdict on any check of this config", path)
            return
        self.state = replace(self.state, verdicts=MappingProxyType(verdicts), regions=MappingProxyType(regions),
                             rtt=MappingProxyType(rtt))
        self.restored = True
        log.info("restored the last-known-good health state from %s (%d verdicts, saved %.0f s ago)", path,
                 len(verdicts), self.clock() - saved_at)

    # -- status -------------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        now = self.clock()
        fresh = aggregate.fresh_vantages(self.state, now, self.config)
        views: dict[str, list[dict[str, Any]]] = {}
        for (vantage, (mon, region, addr)), view in sorted(self.state.views.items()):
            views.setdefault(vantage, []).append({
                "monitor": mon, "region": region, "address": addr,
                "up": view.up, "rtt_ms": view.rtt_ms, "detail": view.detail})
        return {
            "generation": self.generation, "ready": self.ready(),
            "endpoints": [{"monitor": m, "region": r, "address": a, "up": self.state.verdicts.get((m, r, a))}
                          for (m, r, a) in sorted(aggregate.checks_of(self.config))],
            "regions": [{"monitor": m, "region": r, "up": up} for (m, r), up in sorted(self.state.regions.items())],
            "vantages": [{"name": v, "fresh": v in fresh, "sick": v in self.state.sick,
                          "last_report_age_s": round(now - s.at, 3) if (s := self.state.seen.get(v)) else None,
                          "seq": s.seq if s else None, "view": views.get(v, [])}
                         for v in self.config.vantages],
            "rtt_ms": [{"vantage": v, "region": r, "ms": round(ms, 3)} for (v, r), ms in sorted(self.state.rtt.items())],
            "transitions": [{"at": t.at, "kind": t.kind, "name": t.name, "state": t.state, "cause": t.cause}
                            for t in reversed(self.transitions)],
            "reports": {"accepted": self.accepted, "ignored_observations": self.ignored,
                        "rejected": dict(self.rejected)},
        }


def _rtt_order(snap: HealthSnapshot) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Per vantage, its regions from fastest to slowest."""
    by_vantage: dict[str, list[tuple[float, str]]] = {}
    for (vantage, region), ms in snap.rtt_ms:
        by_vantage.setdefault(vantage, []).append((ms, region))
    return tuple(sorted((v, tuple(r for _, r in sorted(rs))) for v, rs in by_vantage.items()))
