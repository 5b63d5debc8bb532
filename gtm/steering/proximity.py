"""proximity: the nearest region by great-circle distance from the client's location, after each region's bias."""
from __future__ import annotations

from typing import Mapping

from gtm.model import Bias, Config, Location, ProximityPolicy, Service
from gtm.steering.context import Context, PolicyInput, PolicyKind
from gtm.steering.geomath import distance_km
from gtm.steering.types import Client, Ranking


def by_distance(service: Service, config: Config, where: Location,
                bias: Mapping[str, Bias] | None = None) -> list[tuple[float, str]]:
    """(adjusted distance km, region) for every candidate, nearest first; ties keep the configured order."""
    out = []
    for i, name in enumerate(service.regions):
        d = distance_km(where, config.regions[name].location)
        b = (bias or {}).get(name)
        out.append((b.apply(d) if b is not None else d, i, name))
    return [(d, n) for d, _, n in sorted(out)]


def parse(p: PolicyInput) -> ProximityPolicy:
    return ProximityPolicy(p.region_map("bias", "bias", -20000, 20000))


def select(service: Service, client: Client, ctx: Context) -> Ranking:
    config = ctx.config
    policy = service.policy
    bias = dict(policy.bias) if isinstance(policy, ProximityPolicy) else {}
    scope = client.geo.city_prefix
    if client.geo.location is None:
        return Ranking(service.regions, scope, ("proximity: client has no location; configured order",),
                       key="nowhere")
    ranked = by_distance(service, config, client.geo.location, bias)
    note = "proximity: " + ", ".join(f"{n} {d:.0f} km" for d, n in ranked)
    order = tuple(n for _, n in ranked)
    return Ranking(order, scope, (note,), key="near:" + ",".join(order))


KIND = PolicyKind("proximity", frozenset({"bias"}), parse, select,
                  "the nearest region by great-circle distance from the client's location, after each region's bias "
                  "(km, or a percentage)")
