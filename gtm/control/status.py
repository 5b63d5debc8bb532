"""``GET /v1/status``: what a node serves, as a :class:`~gtm.fleet.NodeStatus`, and the query rates it shows
per service."""
from __future__ import annotations

import time
from collections import deque
from typing import Any, Callable, Mapping

from gtm import steering
from gtm.fleet import NodeStatus, OverridesStatus, ServiceStatus
from gtm.model import Config, Service
from gtm.serving import Snapshot


class Rates:
    """Answers per second per service over the last half minute or so, from samples of the running totals
    taken at most every 5 s (``sample`` is called often; empty until two samples)."""

    def __init__(self, totals: Callable[[], Mapping[str, int]], clock: Callable[[], float] = time.monotonic):
        self.totals, self.clock = totals, clock
        self._samples: deque[tuple[float, dict[str, int]]] = deque(maxlen=8)

    def sample(self) -> None:
        now = self.clock()
        if not self._samples or now - self._samples[-1][0] >= 5:
            self._samples.append((now, dict(self.totals())))

    def per_second(self) -> dict[str, float]:
        if len(self._samples) < 2:
            return {}
        (t0, first), (t1, last) = self._samples[0], self._samples[-1]
        return {k: round((n - first.get(k, 0)) / (t1 - t0), 3) for k, n in last.items()} if t1 > t0 else {}


def node_status(snapshot: Snapshot | None, generation: int, last_error: str | None, listen: list[tuple[str, int]],
                serving: bool, workers: int, health: dict[str, Any], overrides: OverridesStatus,
                rates: Mapping[str, float], hostnames: list[dict[str, Any]] | None = None) -> NodeStatus:
    config = snapshot.config if snapshot is not None else None
    services, regions = None, {}
    if snapshot is not None and config is not None:
        services = tuple(ServiceStatus(s.ref, s.policy.kind, s.names,
                                       tuple(steering.healthy_regions(s, config, snapshot.effective)),
                                       tuple(steering.healthy_regions(s, config, snapshot.by_verdicts)),
                                       rates.get(s.ref), _up_endpoints(s, config, snapshot))
                         for s in config.services)
        regions = {name: tuple(e.key for e in r.endpoints) for name, r in config.regions.items()}
    return NodeStatus(generation, config.sources if config else (), tuple(sorted(config.zones)) if config else (),
                      last_error, tuple(f"{h}:{p}" for h, p in listen), serving, workers, health, overrides,
                      services, regions, hostnames=tuple(hostnames or ()))


def _up_endpoints(service: Service, config: Config, snapshot: Snapshot) -> tuple[str, ...]:
    """The service's endpoints (REGION/ADDRESS) up by health alone, for the guardrails."""
    view = snapshot.by_verdicts.for_service(service.ref)
    return tuple(f"{r}/{e.key}" for r in service.regions for e in config.regions[r].endpoints
                 if view.endpoint_up(r, e.key))
