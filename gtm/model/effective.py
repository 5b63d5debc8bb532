"""The health answers are chosen under, and the values it is made of (stdlib only).

Four owners, four values:

* :class:`~gtm.model.HealthSnapshot` — what the probers say (verdicts, RTTs); the health node owns it.
* :class:`PinnedHealth` — what the ``--health`` file says (down regions and endpoints, RTTs, latency choices);
  read at start and at each reload, never per health change.
* :class:`Overrides` — the operators' overrides in force, oldest first; the override watcher owns it.
* :class:`SteeringMemory` — what steering remembers between snapshots: the latency policy's sticky choices and
  each service's last healthy view (for ``last_known_good``); ``gtm.steering.memory.advance`` updates it.

``gtm.state.overrides.apply`` combines them into one :class:`Effective` value, the only health that steering
and the answer tables read.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Mapping

from gtm.model.names import NO_NAMES, Names
from gtm.model.traffic import Force, HealthSnapshot


@dataclass(frozen=True)
class View:
    """Health as one service sees it: endpoints and regions down (by verdict, the health file or an override)
    and drained (by an override). Drained ones are never answered, not even when every candidate is down and
    the fail mode answers as if all were up. ``assumed``: the fail_open stand-in (every endpoint taken as up,
    but the drained)."""

    down_endpoints: frozenset[tuple[str, str]] = frozenset()
    down_regions: frozenset[str] = frozenset()
    drained_regions: frozenset[str] = frozenset()
    drained_endpoints: frozenset[tuple[str, str]] = frozenset()
    assumed: bool = False
    names: Names = NO_NAMES                 # hostname endpoints' addresses (the resolver's part of the snapshot)
    keep: frozenset[str] = frozenset()      # hostnames whose last addresses are kept once they fail to resolve

    def endpoint_up(self, region: str, address: str) -> bool:
        return (region not in self.down_regions and (region, address) not in self.down_endpoints and
                region not in self.drained_regions and (region, address) not in self.drained_endpoints)

    def region_out(self, region: str) -> bool:
        """Whether the region as a whole is down or drained."""
        return region in self.down_regions or region in self.drained_regions

    def touches(self, region: str) -> bool:
        """Whether any single endpoint of ``region`` is down or drained (the region as a whole aside)."""
        return any(r == region for r, _ in self.down_endpoints) or \
            any(r == region for r, _ in self.drained_endpoints)

    def all_up(self) -> "View":
        """The fail_open stand-in for this view: every endpoint up, except the drained ones."""
        return View(drained_regions=self.drained_regions, drained_endpoints=self.drained_endpoints, assumed=True,
                    names=self.names, keep=self.keep)

    def every_up(self) -> "View":
        """Every endpoint up, nothing drained (the hostnames' addresses as they are)."""
        if self.names is NO_NAMES and not self.keep:
            return ALL_UP
        return View(assumed=True, names=self.names, keep=self.keep)

    def with_names_of(self, other: "View") -> "View":
        """This view with ``other``'s hostname addresses (a remembered view answers with today's)."""
        if self.names is other.names and self.keep == other.keep:
            return self
        return replace(self, names=other.names, keep=other.keep)

    def addresses(self, hostname: str, family: int) -> tuple[str, ...]:
        """A hostname endpoint's addresses of one family that may be answered under this view: while its name
        resolves (or is stale within stale_for, or failed and kept); in the fail_open stand-in, its last
        addresses whatever the state (when every candidate is down, an address that may be stale beats none)."""
        lookup = self.names.get(hostname)
        if self.assumed or lookup.usable(hostname in self.keep):
            return lookup.addresses(family)
        return ()


ALL_UP = View(assumed=True)  # every endpoint up, nothing drained


@dataclass(frozen=True)
class PinnedHealth:
    """The ``--health`` file: regions and endpoints down for every monitor, RTTs used while the probers have
    measured none, and latency choices that steering sticks to (``sticky:``)."""

    health: HealthSnapshot = HealthSnapshot()
    choices: tuple[tuple[tuple[str, str], str], ...] = ()


@dataclass(frozen=True)
class Overrides:
    """The operators' overrides in force (``Force`` values), oldest first: a later one wins. ``version`` is
    the store's version they were read at (0: none read)."""

    forces: tuple[Force, ...] = ()
    version: int = 0


@dataclass(frozen=True)
class SteeringMemory:
    """What steering remembers from one snapshot to the next. ``latency_choice``: the region each (service,
    vantage) sticks to (hysteresis); ``last_good``: per service, the view it last had a healthy candidate
    under (verdicts only, before overrides), for ``last_known_good``."""

    latency_choice: tuple[tuple[tuple[str, str], str], ...] = ()
    last_good: tuple[tuple[str, View], ...] = ()

    def choices(self) -> dict[tuple[str, str], str]:
        return dict(self.latency_choice)


@dataclass(frozen=True)
class Effective:
    """The health steering answers under: a :class:`View` per service (``views``; ``default`` for a key it
    does not list), the RTTs, steering's memory and the overrides that went into the views. Built by
    ``gtm.state.overrides.apply`` and nowhere else."""

    views: Mapping[str, View] = field(default_factory=dict)
    default: View = View()
    rtt_ms: tuple[tuple[tuple[str, str], float], ...] = ()
    memory: SteeringMemory = SteeringMemory()
    forces: tuple[Force, ...] = ()

    def for_service(self, key: str) -> View:
        return self.views.get(key, self.default)

    def rtt(self) -> dict[tuple[str, str], float]:
        return dict(self.rtt_ms)

    def choices(self) -> dict[tuple[str, str], str]:
        return self.memory.choices()

    def last_good(self, key: str) -> View | None:
        return dict(self.memory.last_good).get(key)


def verdicts(health: HealthSnapshot, monitor: str | None, pinned: PinnedHealth | None = None,
             names: Names = NO_NAMES, keep: frozenset[str] = frozenset()) -> View:
    """A service's view of the verdicts alone (no override): its monitor's down checks, and what is down for
    every monitor (by the probers' health or the ``--health`` file); with the hostnames' addresses."""
    down_e, down_r = health.down_for(monitor), health.down_regions
    if pinned is not None:
        down_e, down_r = down_e | pinned.health.down_endpoints, down_r | pinned.health.down_regions
    return View(down_endpoints=down_e, down_regions=down_r, names=names, keep=keep)
