"""failover: the service's regions in their configured order, for every client."""
from __future__ import annotations

from gtm.model import Service
from gtm.steering.types import Client, Ranking


def select(service: Service, client: Client, ctx: object) -> Ranking:
    return Ranking(service.regions, 0, ("failover: configured order",), key="order")
