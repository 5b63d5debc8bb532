"""The values steering works with: the client, a ranking of regions, the decision and its trail."""
from __future__ import annotations

from dataclasses import dataclass, field

from gtm.model import NOWHERE, GeoInfo, IPAddress


@dataclass(frozen=True)
class Client:
    """Who asks: the client network (the ECS prefix, else the resolver's address) and where it is."""

    address: IPAddress | None = None  # network address of the client's prefix
    prefix: int = 0                   # ECS SOURCE PREFIX-LENGTH, or 32/128 for a source address
    geo: GeoInfo = NOWHERE

    def describe(self) -> str:
        if self.address is None:
            return "unknown client"
        return f"{self.address}/{self.prefix} ({self.geo.describe()})"


@dataclass(frozen=True)
class Ranking:
    """A policy's verdict for one client class: every candidate region, best first.

    ``scope`` is the ECS scope prefix length for which this ranking holds (0: the same for every client).
    ``weights``, when set, means the first region is drawn per query in proportion to these weights (the
    weighted policy without affinity) and ``order`` is only the order to spill over in.
    ``key`` names the client class (the rule matched, the nearest vantage, ...); equal keys, equal rankings.
    """

    order: tuple[str, ...]
    scope: int = 0
    notes: tuple[str, ...] = ()
    weights: tuple[tuple[str, int], ...] | None = None
    key: str = ""


@dataclass(frozen=True)
class Decision:
    """What a managed name answers for one client: addresses per family, and how it came to that."""

    a: tuple[str, ...]
    aaaa: tuple[str, ...]
    regions: tuple[str, ...]          # regions whose endpoints are in the answer, in ranking order
    ranking: Ranking
    mode: str = "normal"              # normal, or the fail mode used when every candidate was down
    trail: tuple[str, ...] = field(default=())
    cname: str | None = None          # answer_as: cname: the hostname answered (a and aaaa are then empty)

    @property
    def scope(self) -> int:
        return self.ranking.scope

    def addresses(self, rtype: int) -> tuple[str, ...]:
        return self.a if rtype == 1 else self.aaaa
