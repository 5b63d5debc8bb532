"""failover: the service's regions in their configured order, for every client."""
from __future__ import annotations

from gtm.model import FailoverPolicy, Service
from gtm.steering.context import Context, PolicyInput, PolicyKind
from gtm.steering.types import Client, Ranking


def parse(p: PolicyInput) -> FailoverPolicy:
    return FailoverPolicy()


def select(service: Service, client: Client, ctx: Context) -> Ranking:
    return Ranking(service.regions, 0, ("failover: configured order",), key="order")


KIND = PolicyKind("failover", frozenset(), parse, select,
                  "the regions in the configured order: the first with an endpoint up answers")
