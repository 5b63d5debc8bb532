"""Operators' overrides as values (stdlib only): a forced state on a region or one endpoint, for every service
or one, with who, why and until when. The store keeps them; ``gtm.state.overrides`` turns them into the
``Force`` values steering applies."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

ACTIONS = ("drain", "down", "up")


@dataclass(frozen=True)
class Override:
    """``action`` on ``region`` (or its endpoint ``address``), for every service or only ``service``.

    ``created`` and ``expires`` are Unix times (seconds); ``expires`` None means until cleared. ``id`` is
    unique; overrides on the same target and service replace each other (the later wins).
    """

    id: str
    action: str                 # drain | down | up
    region: str
    address: str | None = None
    service: str | None = None
    reason: str = ""
    author: str = ""
    created: float = 0.0
    expires: float | None = None

    @property
    def target(self) -> str:
        return self.region if self.address is None else f"{self.region}/{self.address}"

    @property
    def slot(self) -> tuple[str, str | None, str | None]:
        """What it overrides: a newer override with the same slot replaces it."""
        return (self.region, self.address, self.service)

    def active(self, now: float) -> bool:
        return self.expires is None or now < self.expires

    def describe(self) -> str:
        scope = f" for {self.service}" if self.service else ""
        return f"{self.action} {self.target}{scope}"

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: Any) -> "Override":
        """Raises ValueError for anything that is not a well-formed override."""
        if not isinstance(data, dict):
            raise ValueError(f"an override is an object (got {type(data).__name__})")
        unknown = set(data) - {f for f in cls.__dataclass_fields__}
        if unknown:
            raise ValueError(f"unknown override fields {sorted(unknown)}")
        try:
            o = cls(id=str(data["id"]), action=str(data["action"]), region=str(data["region"]),
                    address=None if data.get("address") is None else str(data["address"]),
                    service=None if data.get("service") is None else str(data["service"]),
                    reason=str(data.get("reason", "")), author=str(data.get("author", "")),
                    created=float(data.get("created", 0.0)),
                    expires=None if data.get("expires") is None else float(data["expires"]))
        except KeyError as e:
            raise ValueError(f"an override needs {e.args[0]}") from None
        except (TypeError, ValueError) as e:
            raise ValueError(f"bad override: {e}") from None
        if o.action not in ACTIONS:
            raise ValueError(f"override action must be one of {', '.join(ACTIONS)} (got {o.action!r})")
        return o


@dataclass(frozen=True)
class StoreSettings:
    """The ``overrides:`` section: where overrides live and how often nodes look for changes."""

    kind: str = "file"               # file | dynamodb
    path: str | None = None          # file: the store (None: .gtm-overrides.json beside the first config file)
    table: str = "gtm-overrides"     # dynamodb: the table
    aws_region: str | None = None    # dynamodb: its AWS region (None: boto3's default chain)
    poll: float = 0.5                # seconds between looks for a new version


@dataclass(frozen=True)
class Window:
    """A time when drills and overrides are refused (without ``--force``): either every week on ``days``
    (0 = Monday) from ``start`` to ``end`` (minutes after midnight, in ``tz``), or once, between the Unix
    times ``at``."""

    days: tuple[int, ...] = ()
    start: int = 0
    end: int = 24 * 60
    tz: str = "UTC"
    at: tuple[float, float] | None = None
    text: str = ""                   # as written, for messages


@dataclass(frozen=True)
class NodeAddress:
    """A gtm DNS node as drills see it: where it answers DNS and where its admin API is."""

    dns: tuple[str, int]
    admin: str | None = None


@dataclass(frozen=True)
class DrillSettings:
    """The ``drills:`` section."""

    blackout: tuple[Window, ...] = ()
    budget: float = 30.0             # seconds beyond the names' TTL that a shift may take before it fails
    nodes: tuple[NodeAddress, ...] = ()
    clients: int = 2                 # client networks sampled per country


@dataclass(frozen=True)
class Demand:
    """What a service carries: requests/s (``rps``, or ``per_query`` times the node's DNS queries/s for it)
    at a mean latency; in flight = rps x latency (Little's law), compared with the regions' capacity."""

    latency_ms: float
    rps: float | None = None
    per_query: float | None = None
