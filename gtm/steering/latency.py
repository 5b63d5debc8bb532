"""latency: the lowest measured RTT from the vantage nearest to the client, with hysteresis.

The probers measure RTT from every vantage to every region; the control plane keeps an EWMA per (vantage,
region) and the region each (service, vantage) currently sticks to (:func:`sticky_choices`, kept in the
steering memory by :mod:`gtm.steering.memory`): it moves only when another region is faster by more than the
policy's ``hysteresis`` fraction and by at least ``hysteresis_ms``, so answers do not flap.
A vantage without measurements, or a client without a location, falls back to proximity.
"""
from __future__ import annotations

from typing import Mapping

from gtm.model import Config, LatencyPolicy, Service
from gtm.steering import proximity
from gtm.steering.context import Context, PolicyInput, PolicyKind
from gtm.steering.geomath import distance_km
from gtm.steering.types import Client, Ranking


def nearest_vantage(config: Config, client: Client) -> str | None:
    if client.geo.location is None or not config.vantages:
        return None
    return min(config.vantages.values(), key=lambda v: (distance_km(client.geo.location, v.location), v.name)).name  # type: ignore[arg-type]


def ewma(previous: float | None, sample: float, alpha: float) -> float:
    """Exponentially weighted moving average; the first sample is taken as it is."""
    return sample if previous is None else alpha * sample + (1 - alpha) * previous


def _best(service: Service, vantage: str, rtt: Mapping[tuple[str, str], float], sticky: str | None,
          policy: LatencyPolicy) -> str | None:
    measured = [(rtt[(vantage, r)], i, r) for i, r in enumerate(service.regions) if (vantage, r) in rtt]
    if not measured:
        return None
    best_rtt, _, best = min(measured)
    # the sticky region must still be a candidate: RTTs are per region and shared by every service, so a region
    # since taken out of this service's list may still be measured
    if sticky is not None and sticky in service.regions and (vantage, sticky) in rtt \
            and rtt[(vantage, sticky)] <= max(best_rtt * (1 + policy.hysteresis), best_rtt + policy.hysteresis_ms):
        return sticky
    return best


def sticky_choices(config: Config, rtt: Mapping[tuple[str, str], float],
                   previous: Mapping[tuple[str, str], str]) -> tuple[tuple[tuple[str, str], str], ...]:
    """The region each (latency service, vantage) sticks to given the RTTs and the previous choices."""
    out = []
    for service in config.services:
        if not isinstance(service.policy, LatencyPolicy):
            continue
        for vantage in config.vantages:
            best = _best(service, vantage, rtt, previous.get((service.ref, vantage)), service.policy)
            if best is not None:
                out.append(((service.ref, vantage), best))
    return tuple(sorted(out))


def parse(p: PolicyInput) -> LatencyPolicy | None:
    if not p.has_vantages:
        p.error("type", "latency needs measurements, but no vantages are defined (add a top-level 'vantages' section)")
    hysteresis = p.number("hysteresis", 0.2, 0, 10)
    floor = p.number("hysteresis_ms", 1.0, 0, 10_000)
    return LatencyPolicy(hysteresis, floor) if hysteresis is not None and floor is not None else None


def select(service: Service, client: Client, ctx: Context) -> Ranking:
    config, health = ctx.config, ctx.health
    vantage = nearest_vantage(config, client)
    fallback = proximity.select(service, client, ctx)
    if vantage is None:
        return Ranking(fallback.order, fallback.scope, ("latency: no nearest vantage; proximity",) + fallback.notes,
                       key="prox:" + fallback.key)
    rtt = health.rtt()
    measured = sorted((rtt[(vantage, r)], i, r) for i, r in enumerate(service.regions) if (vantage, r) in rtt)
    if not measured:
        return Ranking(fallback.order, fallback.scope,
                       (f"latency: nearest vantage {vantage} has no measurements yet; proximity",) + fallback.notes,
                       key="prox:" + fallback.key)
    order = [r for _, _, r in measured]
    sticky = health.choices().get((service.ref, vantage))
    notes = [f"latency: nearest vantage {vantage}: " + ", ".join(f"{r} {t:.1f} ms" for t, _, r in measured)]
    if sticky in order and sticky != order[0]:
        order.remove(sticky)
        order.insert(0, sticky)
        policy = service.policy if isinstance(service.policy, LatencyPolicy) else LatencyPolicy(0.0, 0.0)
        notes.append(f"latency: keeps {sticky} (within the hysteresis: {policy.hysteresis:.0%}, at least "
                     f"{policy.hysteresis_ms:g} ms)")
    order += [r for r in fallback.order if r not in order]  # unmeasured regions last, nearest first
    return Ranking(tuple(order), client.geo.city_prefix, tuple(notes), key=f"vantage:{vantage}:" + ",".join(order))


KIND = PolicyKind("latency", frozenset({"hysteresis", "hysteresis_ms"}), parse, select,
                  "the lowest RTT measured from the vantage nearest the client; the current choice is kept until "
                  "another region is hysteresis (a fraction) and hysteresis_ms faster; without measurements, "
                  "proximity",
                  ignored={"alpha": "is ignored: RTTs are smoothed with health.rtt_alpha, for every service alike"})
