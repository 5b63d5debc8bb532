"""Overrides as pure values: parse a target, make an override, apply "later wins" and expiry, and turn what is
in force into the ``Force`` values steering applies (no IO, no clock: ``now`` is an argument)."""
from __future__ import annotations

import ipaddress
import re
from dataclasses import replace
from typing import Iterable, Mapping, Sequence

from gtm.errors import GtmError
from gtm.model import OVERRIDE_ACTIONS, Config, Force, HealthSnapshot, Override, Service
from gtm.model.effective import Effective, Overrides, PinnedHealth, SteeringMemory, View, verdicts
from gtm.model.names import NO_NAMES, Names

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(s|m|h|d)")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """``90s``, ``15m``, ``2h``, ``1d``, ``1h30m`` -> seconds; GtmError otherwise."""
    parts = _DURATION.findall(text.strip().lower())
    if not parts or "".join(f"{n}{u}" for n, u in parts) != re.sub(r"\s+", "", text.strip().lower()):
        raise GtmError(f"a duration is a number and a unit s, m, h or d, e.g. 30m or 1h30m (got {text!r})")
    seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise GtmError(f"a duration must be positive (got {text!r})")
    return seconds


def parse_target(config: Config, text: str) -> tuple[str, str | None]:
    """A region (``eu-west``), one of its endpoints (``eu-west/192.0.2.10``, ``eu-west/my-lb.example.net``) or
    an endpoint address or hostname alone; GtmError naming the known regions (or the region's endpoints)
    otherwise."""
    region, _, address = text.partition("/")
    if not address:
        key = _endpoint_key(text)
        if key is None:
            if text not in config.regions:
                raise GtmError(f"unknown region {text!r}; regions: {', '.join(sorted(config.regions))}") from None
            return text, None
        owners = [r.name for r in config.regions.values() if any(e.key == key for e in r.endpoints)]
        if len(owners) != 1:
            if not owners and text in config.regions:
                return text, None  # a region whose name looks like a host name
            raise GtmError(f"{text} is an endpoint of {len(owners)} regions; name it as REGION/ADDRESS"
                           if owners else f"no region has an endpoint {text}")
        return owners[0], key
    if region not in config.regions:
        raise GtmError(f"unknown region {region!r}; regions: {', '.join(sorted(config.regions))}")
    key = _endpoint_key(address)
    if key is None:
        raise GtmError(f"{address!r} is not an IP address or a host name")
    if not any(e.key == key for e in config.regions[region].endpoints):
        raise GtmError(f"region {region} has no endpoint {address}; it has "
                       f"{', '.join(e.key for e in config.regions[region].endpoints)}")
    return region, key


def _endpoint_key(text: str) -> str | None:
    """An endpoint's key as written: an IP address in canonical form, a host name lower-cased without its final
    dot (something with a dot in it), else None."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        name = text.strip().lower().removesuffix(".")
        return name if "." in name and " " not in name else None


def check_service(config: Config, service: str | None, region: str) -> str | None:
    """The ``zone/key`` of the service ``service`` names (its key alone where no other zone has one), which
    must use ``region``; None for every service. GtmError otherwise."""
    if service is None:
        return None
    try:
        found = config.find_service(service)
    except LookupError as e:
        raise GtmError(str(e)) from None
    if region not in found.regions:
        raise GtmError(f"service {service} does not use region {region} (it uses "
                       f"{', '.join(found.regions)})")
    return found.ref


def make(config: Config, current: Sequence[Override], action: str, target: str, *, service: str | None,
         reason: str, author: str, now: float, expires_in: float | None, new_id: str) -> Override:
    """A new override, checked against the config and what is in force: GtmError for an unknown target or
    service, and for one that would change nothing (draining what is already drained the same way)."""
    if action not in OVERRIDE_ACTIONS:
        raise GtmError(f"action must be one of {', '.join(OVERRIDE_ACTIONS)} (got {action!r})")
    region, address = parse_target(config, target)
    service = check_service(config, service, region)
    new = Override(new_id, action, region, address, service, reason, author, now,
                   None if expires_in is None else now + expires_in)
    same = next((o for o in active(current, now) if o.slot == new.slot), None)
    if same is not None and same.action == action:
        by = f" by {same.author}" if same.author else ""
        why = f" ({same.reason})" if same.reason else ""
        raise GtmError(f"{new.describe()}: already in force{by}{why}; clear it first or choose another action")
    return new


def put(current: Iterable[Override], new: Override, now: float) -> list[Override]:
    """``current`` with ``new`` in force: it replaces any override of the same slot; expired ones go."""
    return [o for o in current if o.slot != new.slot and o.active(now)] + [new]


def clear(current: Iterable[Override], region: str, address: str | None, service: str | None | bool,
          now: float) -> tuple[list[Override], list[Override]]:
    """Remove the overrides on ``region``/``address``: for ``service`` only (its ``zone/key``; an override an
    earlier version stored under the key alone goes too), or for every scope when ``service`` is True.
    Returns (kept, removed); expired ones are dropped silently."""
    kept: list[Override] = []
    removed: list[Override] = []
    mine = (service, service.rpartition("/")[2]) if isinstance(service, str) else (service,)
    for o in current:
        if not o.active(now):
            continue
        hit = o.region == region and o.address == address and (service is True or o.service in mine)
        (removed if hit else kept).append(o)
    return kept, removed


def active(overrides: Iterable[Override], now: float) -> list[Override]:
    """What is in force at ``now``, oldest first (a later one wins)."""
    return sorted((o for o in overrides if o.active(now)), key=lambda o: (o.created, o.id))


def forces(overrides: Iterable[Override], now: float) -> tuple[Force, ...]:
    return tuple(Force(o.action, o.region, o.address, o.service) for o in active(overrides, now))


def next_expiry(overrides: Iterable[Override], now: float) -> float | None:
    """When the next override in force runs out (None when none will)."""
    times = [o.expires for o in overrides if o.expires is not None and o.expires > now]
    return min(times) if times else None


def in_force(overrides: Iterable[Override], now: float, version: int = 0) -> Overrides:
    """The :class:`Overrides` value of what is in force at ``now``."""
    return Overrides(forces(overrides, now), version)


def _overridden(base: View, forces: Iterable[Force], service: Service | None) -> View:
    """``base`` under the forces for every service and those for ``service``: by its ``zone/key``, or by its key
    alone as earlier versions stored it (that one then concerns every zone's service of the key)."""
    if not forces:
        return base
    mine = (service.ref, service.key) if service is not None else ()
    down_r, down_e = set(base.down_regions), set(base.down_endpoints)
    drained_r, drained_e = set(base.drained_regions), set(base.drained_endpoints)
    for f in forces:
        if f.service is not None and f.service not in mine:
            continue
        if f.address is None:
            if f.action == "up":
                down_r.discard(f.region)
                drained_r.discard(f.region)
                down_e = {e for e in down_e if e[0] != f.region}
                drained_e = {e for e in drained_e if e[0] != f.region}
            else:
                (down_r if f.action == "down" else drained_r).add(f.region)
        else:
            target = (f.region, f.address)
            if f.action == "up":
                down_e.discard(target)
                drained_e.discard(target)
            else:
                (down_e if f.action == "down" else drained_e).add(target)
    return replace(base, down_endpoints=frozenset(down_e), down_regions=frozenset(down_r),
                   drained_regions=frozenset(drained_r), drained_endpoints=frozenset(drained_e))


def apply(overrides: Overrides, health: HealthSnapshot, services: Iterable[Service],
          memory: SteeringMemory = SteeringMemory(), pinned: PinnedHealth | None = None,
          names: Names = NO_NAMES, keeps: Mapping[str, frozenset[str]] | None = None) -> Effective:
    """The one place where verdicts, the health file and operators' overrides combine; pure.

    For each service, in this order (in the manner of gdnsd's ``admin_state``: an operator's forced state
    stands above what the monitors say):

    1. Verdicts: the endpoints its monitor's checks judged down, and the regions and endpoints down for every
       monitor (the probers' region verdicts, the ``--health`` file).
    2. Overrides that concern it (those for every service, and its own), oldest first, so that a later one wins
       over an earlier one on the same target:
       ``down`` and ``drain`` take a region or an endpoint out (``drain`` also out of every fail mode);
       ``up`` on a region puts it and each of its endpoints back in, whatever the verdicts or earlier
       overrides said; ``up`` on an endpoint puts that endpoint back in.

    RTTs are the probers'; while they have measured none, the health file's. A service the config does not
    list gets ``default``: the verdicts down for every monitor, and the overrides for every service.

    Every view carries the hostname endpoints' addresses (``names``) and the names the service keeps answering
    once they fail to resolve (``keeps``, by service ref: ``Config.keeps``).
    """
    forces = overrides.forces
    keeps = keeps or {}
    views = {s.ref: _overridden(verdicts(health, s.monitor, pinned, names, keeps.get(s.ref, frozenset())),
                                forces, s) for s in services}
    rtt = health.rtt_ms or (pinned.health.rtt_ms if pinned is not None else ())
    return Effective(views, _overridden(verdicts(health, None, pinned, names), forces, None), rtt, memory, forces)


def drained_everywhere(config: Config, overrides: Iterable[Override], now: float) -> frozenset[str]:
    """Regions out (drained or forced down) for every service that uses them: what Route53's per-region
    switch can express. A service-scoped override, or a later ``up`` for one service, keeps a region in."""
    effective = apply(in_force(overrides, now), HealthSnapshot(), config.services)
    out = set()
    for region in config.regions:
        users = [s for s in config.services if region in s.regions]
        if users and all(effective.for_service(s.ref).region_out(region) for s in users):
            out.add(region)
    return frozenset(out)


def endpoints_out_everywhere(config: Config, overrides: Iterable[Override], now: float) -> frozenset[tuple[str, str]]:
    """Endpoints (region, address) drained or forced down for every service whose regions include theirs, and
    whose region is not out as a whole: what Route53 can express as the endpoint's health checks made always
    unhealthy (Disabled and Inverted)."""
    effective = apply(in_force(overrides, now), HealthSnapshot(), config.services)
    out = set()
    for region in config.regions.values():
        users = [s for s in config.services if region.name in s.regions]
        if not users or all(effective.for_service(s.ref).region_out(region.name) for s in users):
            continue
        for e in region.endpoints:
            if all(not effective.for_service(s.ref).endpoint_up(region.name, e.key) for s in users):
                out.add((region.name, e.key))
    return frozenset(out)
