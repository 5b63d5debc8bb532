"""weighted: regions in proportion to their weights; with ``affinity: hash`` a client network keeps its region.

Without affinity the first region is drawn per query (the ranking carries the weights; ``order`` is heaviest
first, for spilling over). With affinity, weighted rendezvous hashing of the client network orders the regions:
deterministic per network, and when a region leaves, only its networks move.
"""
from __future__ import annotations

from gtm.model import Service, WeightedPolicy
from gtm.steering import affinity
from gtm.steering.context import Context, PolicyInput, PolicyKind
from gtm.steering.types import Client, Ranking


def weights_of(service: Service) -> list[tuple[str, int]]:
    assert isinstance(service.policy, WeightedPolicy)
    given = dict(service.policy.weights)
    return [(r, given.get(r, 1)) for r in service.regions]


def parse(p: PolicyInput) -> WeightedPolicy:
    return WeightedPolicy(p.region_map("weights", "integer", 0, 255))


def select(service: Service, client: Client, ctx: Context) -> Ranking:
    weights = weights_of(service)
    heaviest = tuple(r for r, _ in sorted(weights, key=lambda rw: -rw[1]))
    if not service.affinity or client.address is None:
        note = "weighted: first region drawn per query by weight " + \
               ", ".join(f"{r}={w}" for r, w in weights)
        return Ranking(heaviest, 0, (note,), weights=tuple(weights), key="draw")
    width = client.address.max_prefixlen
    scope = min(service.ecs_scope_v4 if client.address.version == 4 else service.ecs_scope_v6, width)
    # The hash is of the /scope network, whatever the client's own prefix: an ECS /16 query is hashed as its
    # first /24, so it gets the same answer as that /24 and as any address in it (hashing the /16 itself gave a
    # different region, while the reply's scope /24 told the resolver the answer held for that /24).
    key = affinity.network_key(client.address, scope)
    order = tuple(affinity.rank(key, [(r, float(w)) for r, w in weights]))
    return Ranking(order, scope, (f"weighted with affinity: rendezvous hash of the client's /{scope} network",),
                   key="hash:" + ",".join(order))


KIND = PolicyKind("weighted", frozenset({"weights"}), parse, select,
                  "the first region drawn per query in proportion to its weight (0 - 255, default 1); with "
                  "affinity, a client network keeps its region")
