"""The one way new answers reach the wire: a new :class:`Snapshot`, compiled, handed to :meth:`Serving.swap`.

A :class:`Snapshot` is a value: the config, the probers' health, the ``--health`` file, the operators'
overrides, steering's memory and the hostname endpoints' addresses. :meth:`Snapshot.compile` turns it into an answer table. :class:`Serving`
holds the table a :class:`~gtm.dns.server.Responder` answers from; :meth:`Serving.swap` replaces it in one
reference assignment (each query sees the old table or the new one, never a mix) and wires what every swap
needs, once: the counts' eviction hook and the folding of a replaced table's counts (``gtm.dns.counts``), the
GeoIP locator, the rate limiter and the listeners (the control process ships each swapped snapshot to its
workers and updates its metrics).

The control process and every worker process swap through it alike::

    config ──▶ Snapshot.with_config ─┐
    probe report ──▶ with_health ────┤
    override ──▶ with_overrides ─────┼──▶ Snapshot ──compile──▶ Table ──Serving.swap──▶ Responder ──▶ wire
    resolved name ──▶ with_names ────┘
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, Callable

from gtm.config import load
from gtm.config.healthfile import load_health
from gtm.dns.counts import Counts
from gtm.dns.rrl import RateLimiter
from gtm.dns.server import Responder
from gtm.dnssec.sign import period_start
from gtm.dnssec.zone import published
from gtm.dns.table import Table
from gtm.errors import GtmError
from gtm.geoip import Locator
from gtm.model import Config, HealthSnapshot, RrlSettings
from gtm.model.effective import Effective, Overrides, PinnedHealth, SteeringMemory
from gtm.model.names import NO_NAMES, Names
from gtm.state.overrides import apply
from gtm.steering import memory as steering_memory


@dataclass(frozen=True, eq=False)
class Snapshot:
    """Everything answers depend on, as one value. Make a changed one with :meth:`with_config`,
    :meth:`with_health` or :meth:`with_overrides` (each keeps the rest), never by hand: they keep steering's
    memory up to date."""

    config: Config
    health: HealthSnapshot = HealthSnapshot()      # the probers' verdicts and RTTs
    pinned: PinnedHealth | None = None             # the --health file, read at start and at each reload
    overrides: Overrides = Overrides()             # operators' overrides in force
    memory: SteeringMemory = SteeringMemory()      # latency choices, last-known-good views
    names: Names = NO_NAMES                        # hostname endpoints' addresses (gtm.control.names)
    # signed zones: the start of the signing period whose window the signatures carry (gtm.dnssec.sign.window;
    # 0 without signed zones). The same on every node and in every process, so their signatures agree; a new
    # period (:meth:`with_epoch`, at the renewal) compiles every answer afresh.
    epoch: int = 0

    @classmethod
    def first(cls, config: Config, health: HealthSnapshot = HealthSnapshot(), pinned: PinnedHealth | None = None,
              overrides: Overrides = Overrides(), names: Names = NO_NAMES, now: float | None = None) -> "Snapshot":
        return cls(config, health, pinned, overrides,
                   steering_memory.advance(SteeringMemory(), config, health, pinned, names), names,
                   signing_epoch(config, now))

    def with_config(self, config: Config, pinned: PinnedHealth | None) -> "Snapshot":
        # the signing period in force goes on while the config signs with the same period length
        same = self.epoch and config.dnssec.signature_period == self.config.dnssec.signature_period
        epoch = (self.epoch if same else signing_epoch(config)) if any(z.signed for z in config.zones.values()) else 0
        return replace(self, config=config, pinned=pinned,
                       memory=steering_memory.advance(self.memory, config, self.health, pinned, self.names),
                       epoch=epoch)

    def with_epoch(self, epoch: int) -> "Snapshot":
        return replace(self, epoch=epoch)

    def with_health(self, health: HealthSnapshot) -> "Snapshot":
        return replace(self, health=health,
                       memory=steering_memory.advance(self.memory, self.config, health, self.pinned, self.names))

    def with_overrides(self, overrides: Overrides) -> "Snapshot":
        return replace(self, overrides=overrides)

    def with_names(self, names: Names) -> "Snapshot":
        return replace(self, names=names,
                       memory=steering_memory.advance(self.memory, self.config, self.health, self.pinned, names))

    @cached_property
    def effective(self) -> Effective:
        """The health steering answers under (``gtm.state.overrides.apply``)."""
        return apply(self.overrides, self.health, self.config.services, self.memory, self.pinned, self.names,
                     self.config.keeps())

    @cached_property
    def by_verdicts(self) -> Effective:
        """The same without operators' overrides: what the probers and the health file alone say."""
        return apply(Overrides(), self.health, self.config.services, self.memory, self.pinned, self.names,
                     self.config.keeps())

    @cached_property
    def answer_key(self) -> tuple[Any, ...]:
        """What the compiled answers depend on besides the config: equal keys (same config) give equal tables.
        RTTs count by their order per vantage (what rankings use), not their values: rebuilding answers on every
        jitter would throw the per-client caches away several times a second. Regions with equal RTTs form one
        group (a ranking orders a tie by the service's own order, so a tie that breaks must count)."""
        e = self.effective
        by_vantage: dict[str, dict[float, list[str]]] = {}
        for (vantage, region), ms in e.rtt_ms:
            by_vantage.setdefault(vantage, {}).setdefault(ms, []).append(region)
        order = tuple(sorted((v, tuple(tuple(sorted(rs[ms])) for ms in sorted(rs))) for v, rs in by_vantage.items()))
        return (e.views, e.default, e.memory, e.forces, order, self.epoch)

    def answers_like(self, other: "Snapshot") -> bool:
        return self.config is other.config and self.answer_key == other.answer_key

    def compile(self, locate: Any, previous: Table | None = None) -> Table:
        """The answer table of this snapshot. With ``previous`` of the same config, only the managed names
        start afresh and static answers are shared (cheap); else every zone is compiled (seconds for a big
        config: call it off the event loop)."""
        if previous is not None and previous.config is self.config and previous.epoch == self.epoch:
            return previous.with_health(self.effective)
        return Table(self.config, self.effective, locate, now=self.epoch or None)

    def parts(self) -> tuple[Config, "Snapshot"]:
        """The config and the rest, apart: a worker gets the config once per reload and the rest per change."""
        return self.config, replace(self, config=None)  # type: ignore[arg-type]

    def joined(self, config: Config) -> "Snapshot":
        return replace(self, config=config)


def signing_epoch(config: Config, now: float | None = None) -> int:
    """The signing period holding ``now`` (default: the clock) for a config with signed zones, else 0."""
    if not any(z.signed for z in config.zones.values()):
        return 0
    return period_start(time.time() if now is None else now, config.dnssec.signature_period)


@dataclass
class Prepared:
    """A snapshot compiled off the event loop (a reload), with the GeoIP locator its table locates with."""

    snapshot: Snapshot
    table: Table
    locator: Locator


def open_locator(config: Config, current: Locator | None = None) -> Locator:
    """The GeoIP locator for ``config``: ``current`` while the databases are the same, else a new one."""
    if current is not None and current.source == config.geoip:
        return current
    try:
        return Locator(config.geoip)
    except Exception as e:  # maxminddb raises InvalidDatabaseError (a RuntimeError), OSError, ValueError
        raise GtmError(f"cannot open the GeoIP database: {e}") from None


Listener = Callable[[Snapshot, bool], None]  # (the new snapshot, whether its config is new)


class Serving:
    """What a process answers from: the current snapshot, its table in the responder, and :meth:`swap`.

    ``counts`` (``gtm.dns.counts.Counts``) gets every replaced table's counts and every eviction; ``rrl_share`` is
    this process's share of the configured rate limits (a worker of N allows 1/N: SO_REUSEPORT spreads a
    flood's flows over every worker, each with its own buckets). ``servers`` get the TCP limits of each new
    config. Not thread-safe: swap on the event loop; :meth:`prepare` may run in a thread."""

    def __init__(self, snapshot: Snapshot, counts: Counts | None = None, udp_payload: int = 1232,
                 rrl_share: int = 1, prepared: Prepared | None = None):
        self.counts = counts
        self.rrl_share = max(1, rrl_share)
        self.listeners: list[Listener] = []
        self.servers: list[Any] = []
        self.swaps = 0
        self.locator = prepared.locator if prepared else open_locator(snapshot.config)
        prepared = prepared or self.prepare(snapshot)
        self.snapshot = prepared.snapshot
        self.locator = prepared.locator
        self.responder = Responder(prepared.table, udp_payload=udp_payload)
        self._limits(self.snapshot.config.rrl)
        if counts is not None:
            counts.responder = self.responder

    @property
    def table(self) -> Table:
        return self.responder.table

    def prepare(self, snapshot: Snapshot) -> Prepared:
        """Compile ``snapshot`` afresh (every zone), leaving what is served alone; safe in a thread."""
        locator = open_locator(snapshot.config, self.locator)
        return Prepared(snapshot, snapshot.compile(locator.locate), locator)

    def swap(self, snapshot: Snapshot, prepared: Prepared | None = None) -> bool:
        """Answer from ``snapshot`` from now on. ``prepared``: its config compiled off the loop already (a
        snapshot changed since then, by health or overrides, is applied on top cheaply). Returns whether the
        answers changed; a snapshot that answers like the current one is kept without building a table."""
        base = prepared or Prepared(self.snapshot, self.responder.table, self.locator)
        if snapshot.answers_like(base.snapshot):
            table = base.table
        elif snapshot.config is base.snapshot.config:
            table = snapshot.compile(base.locator.locate, base.table)
        else:  # a new config that was not prepared: compile it here
            base = self.prepare(snapshot)
            table = base.table
        old, before = self.responder.table, self.snapshot
        self.snapshot = snapshot
        if table is old:
            return False
        new_config = snapshot.config is not before.config
        self.responder.table = table  # one reference swap: each query sees old or new, never a mix
        self.locator = base.locator
        self.swaps += 1
        if self.counts is not None:
            self.counts.fold(old)  # what the replaced table answered is kept, with its config
        if new_config and snapshot.config.rrl != before.config.rrl:
            self._limits(snapshot.config.rrl)
        for listener in self.listeners:
            listener(snapshot, new_config)
        return True

    def _limits(self, rrl: RrlSettings) -> None:
        """Response rate limiting as configured, this process's share (called when the limits change: a swap
        to a config with the same ``rrl`` keeps the limiter and its buckets); and the servers' TCP cap per
        client network."""
        n = self.rrl_share
        self.responder.rrl = None if not rrl.enabled else RateLimiter(replace(
            rrl, answers=rrl.answers / n, nodata=rrl.nodata / n, nxdomains=rrl.nxdomains / n, errors=rrl.errors / n))
        for server in self.servers:
            server.set_limits(rrl)

    def add_server(self, server: Any) -> None:
        self.servers.append(server)
        server.set_limits(self.snapshot.config.rrl)


def pinned_health(config: Config, health_file: str | None) -> PinnedHealth | None:
    """The ``--health`` file read for ``config`` (ConfigError when it is wrong)."""
    return load_health(health_file, config) if health_file else None


def build(paths: list[str], health_file: str | None = None) -> Table:
    """Load ``paths`` and compile their answers as ``gtm serve`` would before any report (all regions up, or
    as the health file says); raises ConfigError, and GtmError for a bad GeoIP database. (A caller loading a big
    configuration pauses the garbage collector around it: ``gtm.proc.memory.gc_paused``.)"""
    config = published(load(paths))
    snapshot = Snapshot.first(config, pinned=pinned_health(config, health_file))
    return snapshot.compile(open_locator(config).locate)


__all__ = ["Snapshot", "Serving", "Prepared", "open_locator", "build", "pinned_health"]
