"""The traffic-management model: regions and their endpoints, monitors, vantages, services and policies.

All values are frozen; ``gtm.config`` builds them once from YAML and nothing reads raw dicts afterwards.
Units: distances in kilometres, times in seconds, coordinates in decimal degrees (WGS 84).
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from enum import Enum
from typing import Union

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


@dataclass(frozen=True)
class Location:
    lat: float  # -90..90
    lon: float  # -180..180


@dataclass(frozen=True)
class Endpoint:
    """A regional load balancer's address. ``weight`` 0..255 (Route53's range); 0 = only when nothing else."""

    address: IPAddress
    weight: int = 1


@dataclass(frozen=True)
class Region:
    name: str
    location: Location
    endpoints: tuple[Endpoint, ...]
    aws_region: str | None = None
    capacity: int | None = None  # requests per second the region can serve (drills compare it to load)


class MonitorType(str, Enum):
    HTTP = "http"
    HTTPS = "https"
    TCP = "tcp"


@dataclass(frozen=True)
class Monitor:
    """How every vantage checks an endpoint, and how observations turn into a verdict."""

    name: str
    type: MonitorType
    port: int
    path: str = "/"
    host: str | None = None          # HTTP Host header and TLS SNI
    expect: tuple[int, ...] = (200,)  # accepted HTTP statuses
    body: str | None = None          # regular expression the body must match
    interval: float = 5.0
    timeout: float = 2.0
    rise: int = 2                    # consecutive successes to come up
    fall: int = 3                    # consecutive failures to go down
    quorum: int = 1                  # fresh vantages that must agree
    tls_verify: bool = True


@dataclass(frozen=True)
class Vantage:
    """A prober location; every vantage probes every endpoint of every monitored service."""

    name: str
    location: Location


class FailMode(str, Enum):
    FAIL_OPEN = "fail_open"              # every candidate down: answer all candidates
    LAST_KNOWN_GOOD = "last_known_good"  # answer what was answered before the outage
    FAIL_CLOSED = "fail_closed"          # answer nothing (NODATA)
    STATIC = "static"                    # answer ``fallback_addresses``


@dataclass(frozen=True)
class FailoverPolicy:
    """Regions in the service's ``regions`` order; the first healthy one wins."""

    kind = "failover"


@dataclass(frozen=True)
class WeightedPolicy:
    """Random choice in proportion to ``weights`` (region -> 0..255); a region not named weighs 1."""

    weights: tuple[tuple[str, int], ...] = ()
    kind = "weighted"


@dataclass(frozen=True)
class GeoMatch:
    """What a geo rule matches; exactly one field is set."""

    continent: str | None = None    # two-letter continent code (EU, NA, ...)
    country: str | None = None      # ISO 3166-1 alpha-2
    subdivision: str | None = None  # ISO 3166-2, e.g. US-CA
    cidr: IPNetwork | None = None
    asn: int | None = None

    @property
    def specificity(self) -> int:
        """Higher wins when several rules match: CIDR/ASN > subdivision > country > continent."""
        if self.cidr is not None:
            return 100 + self.cidr.prefixlen
        if self.asn is not None:
            return 90
        if self.subdivision is not None:
            return 30
        if self.country is not None:
            return 20
        return 10


@dataclass(frozen=True)
class GeoRule:
    match: GeoMatch
    regions: tuple[str, ...]


@dataclass(frozen=True)
class GeoPolicy:
    rules: tuple[GeoRule, ...]
    default: tuple[str, ...]
    kind = "geo"


@dataclass(frozen=True)
class ProximityPolicy:
    """Nearest region by great-circle distance; ``bias`` (region -> km) is subtracted from its distance."""

    bias: tuple[tuple[str, float], ...] = ()
    kind = "proximity"


@dataclass(frozen=True)
class LatencyPolicy:
    """Lowest measured RTT from the client's nearest vantage; without data, proximity.

    ``hysteresis`` (fraction) keeps the current choice until another region is that much faster;
    ``alpha`` is the EWMA weight of a new RTT sample.
    """

    hysteresis: float = 0.2
    alpha: float = 0.3
    kind = "latency"


Policy = Union[FailoverPolicy, WeightedPolicy, GeoPolicy, ProximityPolicy, LatencyPolicy]


@dataclass(frozen=True)
class Service:
    """A managed name (or several) answered with the endpoints of the best region for each client."""

    key: str                      # the name it has in the config
    zone: str                     # origin of the zone it lives in
    names: tuple[str, ...]        # absolute, lower-case owner names
    ttl: int
    regions: tuple[str, ...]      # candidate regions, in preference order
    policy: Policy
    monitor: str | None = None
    answers: int = 1              # how many regions' endpoints to return (multi-value)
    affinity: bool = False        # consistent-hash client networks onto regions
    fail_mode: FailMode = FailMode.FAIL_OPEN
    fallback_addresses: tuple[IPAddress, ...] = field(default=())
    ecs_scope_v4: int = 24        # ECS scope for steered answers (RFC 7871 section 7.2.1)
    ecs_scope_v6: int = 56
