"""Guardrails, checked before an override is written (pure: health, demand and the clock are arguments).

* Every service must keep a region that is up (by the probers' health) and not drained or forced down, with an
  endpoint that is up and not drained or forced down (draining a region's last live endpoint empties it as
  surely as draining the region).
* The regions left must carry the demand: each service with ``demand`` has R requests/s at a mean latency L,
  so R·L requests in flight (Little's law); a region's ``capacity`` is the requests it can have in flight.
  The regions still answering some service must hold the sum: N = ceil(R·L / C) regions of capacity C.
* No change during a blackout window (``drills.blackout``).

Each refusal is one line; ``--force`` goes past them, and the reason is logged with the override.
"""
from __future__ import annotations

import datetime
import math
import zoneinfo
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from gtm.model import Config, HealthSnapshot, Override, Window
from gtm.state.overrides import apply, in_force


@dataclass(frozen=True)
class Verdict:
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems


def usable_regions(config: Config, up: Mapping[str, Sequence[str]], overrides: Sequence[Override],
                   now: float, endpoints: Mapping[str, Sequence[str]] | None = None) -> dict[str, list[str]]:
    """Per service (``zone/key``): its regions that are up (``up``: by health alone) and not drained or down by
    overrides, with an endpoint that is up (``endpoints``: REGION/ADDRESS by health alone, where the nodes say)
    and not drained or down by overrides."""
    effective = apply(in_force(overrides, now), HealthSnapshot(), config.services)
    out = {}
    for svc in config.services:
        mine = effective.for_service(svc.ref)
        live = set(endpoints[svc.ref]) if endpoints is not None and svc.ref in endpoints else set()
        judged = _judged(config, live)
        out[svc.ref] = [r for r in up.get(svc.ref, svc.regions) if not mine.region_out(r) and any(
            mine.endpoint_up(r, e.key) and (r not in judged or f"{r}/{e.key}" in live)
            for e in config.regions[r].endpoints)]
    return out


def _judged(config: Config, live: set[str]) -> set[str]:
    """The regions whose endpoints the nodes' list can judge: those where it names endpoints this config has. A
    node serving other addresses for a region (the demo's simulated load balancers) leaves it to be judged as a
    whole."""
    named: dict[str, set[str]] = {e.partition("/")[0]: set() for e in live}
    for e in live:
        region, _, address = e.partition("/")
        named[region].add(address)
    return {r for r, addresses in named.items() if r in config.regions
            and addresses & {e.key for e in config.regions[r].endpoints}}


def check(config: Config, after: Sequence[Override], up: Mapping[str, Sequence[str]],
          qps: Mapping[str, float], now: float, endpoints: Mapping[str, Sequence[str]] | None = None) -> Verdict:
    """Whether the overrides ``after`` (everything in force once the change is made) are safe, given the
    regions each service has up by health (``up``) and its DNS queries/s (``qps``, for ``per_query``)."""
    problems, notes = [], []
    usable = usable_regions(config, up, after, now, endpoints)
    for svc in config.services:
        if not usable[svc.ref]:
            live = endpoints.get(svc.ref) if endpoints is not None else None
            had = ", ".join(r if live is None else
                            f"{r} with {', '.join(e.split('/', 1)[1] for e in live if e.startswith(r + '/')) or 'no endpoint'} up"
                            for r in up.get(svc.ref, svc.regions)) or "none"
            problems.append(f"service {config.service_label(svc)} would have no healthy region left (up by health: {had})")
    loads = []
    carrying: set[str] = set()  # the services whose demand counts: only their regions can take it
    for svc in config.services:
        d = svc.demand
        if d is None:
            continue
        if d.rps is not None:
            rps = d.rps
        elif svc.ref in qps:
            rps = (d.per_query or 0) * qps[svc.ref]
        else:
            notes.append(f"service {config.service_label(svc)}: no query rate from a node, its demand is not counted")
            continue
        loads.append((config.service_label(svc), rps, d.latency_ms))
        carrying.add(svc.ref)
    if loads:
        in_flight = sum(rps * ms / 1000 for _, rps, ms in loads)
        left = sorted({r for ref, regions in usable.items() if ref in carrying for r in regions})
        unknown = [r for r in left if config.regions[r].capacity is None]
        if unknown:
            notes.append(f"capacity not checked: no capacity configured for {', '.join(unknown)}")
        else:
            caps = sorted((config.regions[r].capacity or 0 for r in left), reverse=True)
            total = sum(caps)
            need, acc = 0, 0.0
            for c in caps:
                if acc >= in_flight:
                    break
                acc += c
                need += 1
            shown = " + ".join(f"{k} {rps:g} req/s x {ms:g} ms" for k, rps, ms in loads)
            if total < in_flight:
                mean = total / len(caps) if caps else 0
                want = math.ceil(in_flight / mean) if mean else math.inf
                problems.append(f"capacity: {shown} = {in_flight:,.0f} requests in flight need "
                                f"N = ceil(R*L/C) = {want} regions of the remaining "
                                f"{', '.join(left) or 'none'} (capacity {total:,} in flight in all)")
            else:
                notes.append(f"capacity: {in_flight:,.0f} requests in flight fit in {need} of the remaining "
                             f"{len(left)} regions (capacity {total:,})")
    return Verdict(tuple(problems), tuple(notes))


def blackout(windows: Sequence[Window], now: float) -> Window | None:
    """The blackout window ``now`` falls in, if any."""
    for w in windows:
        if w.at is not None:
            if w.at[0] <= now < w.at[1]:
                return w
            continue
        local = datetime.datetime.fromtimestamp(now, zoneinfo.ZoneInfo(w.tz))
        minute = local.hour * 60 + local.minute
        if (not w.days or local.weekday() in w.days) and w.start <= minute < w.end:
            return w
    return None
