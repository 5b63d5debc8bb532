"""The traffic-management model: regions and their endpoints, monitors, vantages, services and policies.

All values are frozen; ``gtm.config`` builds them once from YAML and nothing reads raw dicts afterwards.
Units: distances in kilometres, times in seconds, coordinates in decimal degrees (WGS 84).
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from enum import Enum
from typing import Union

from gtm.model.override import Demand

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


@dataclass(frozen=True)
class Location:
    lat: float  # -90..90
    lon: float  # -180..180


class ProbeMode(str, Enum):
    """How a hostname endpoint is probed (``probe:``)."""

    NAME = "name"            # one check for the name: up while a probe through any of its addresses passes
    ADDRESSES = "addresses"  # one check per resolved address; flattened answers carry only the addresses up


class OnResolveFailure(str, Enum):
    """What a hostname endpoint answers once its name has failed to resolve for longer than ``stale_for``
    (``on_resolve_failure:``)."""

    DOWN = "down"  # the endpoint is down (the default: its last addresses may belong to someone else by now)
    KEEP = "keep"  # the endpoint keeps its last addresses until the name resolves again


@dataclass(frozen=True)
class Endpoint:
    """A regional load balancer: an ``address``, or a ``hostname`` whose addresses are resolved at run time
    (an ELB, a cloud load balancer, a CDN). ``weight`` 0..255 (Route53's range); 0 = only when nothing else.

    ``key`` names the endpoint everywhere an endpoint is named (health checks, overrides, drills, status):
    the address in its canonical text form, or the hostname (lower case, no final dot)."""

    address: IPAddress | None = None
    weight: int = 1
    hostname: str | None = None
    probe: ProbeMode = ProbeMode.NAME

    @property
    def key(self) -> str:
        return self.hostname if self.hostname is not None else str(self.address)

    @property
    def version(self) -> int | None:
        """The IP version of an address endpoint (None for a hostname: it may have both)."""
        return self.address.version if self.address is not None else None


@dataclass(frozen=True)
class Region:
    name: str
    location: Location
    endpoints: tuple[Endpoint, ...]
    aws_region: str | None = None
    capacity: int | None = None  # requests per second the region can serve (drills compare it to load)
    on_resolve_failure: OnResolveFailure | None = None  # for its hostname endpoints (None: the default)

    @property
    def hostnames(self) -> tuple[str, ...]:
        return tuple(e.hostname for e in self.endpoints if e.hostname is not None)


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
    quorum: int | None = None        # fresh vantages that must agree (None: a majority of the vantages)
    tls_verify: bool = True

    def quorum_among(self, vantages: int) -> int:
        """The quorum in force with ``vantages`` vantages: as set, else a majority of them (so one vantage,
        lying or lost, can neither take an endpoint down nor keep it up alone when there are three or more)."""
        return self.quorum if self.quorum is not None else vantages // 2 + 1


@dataclass(frozen=True)
class Vantage:
    """A prober location; every vantage probes every endpoint of every monitored service."""

    name: str
    location: Location
    key: str | None = None           # the id of the report key that signs for it (None: its name)

    @property
    def key_id(self) -> str:
        return self.key if self.key is not None else self.name


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
class Bias:
    """How much nearer a region counts: ``km`` subtracted from, then ``percent`` taken off, its distance."""

    km: float = 0.0
    percent: float = 0.0

    def apply(self, distance_km: float) -> float:
        return (distance_km - self.km) * (1.0 - self.percent / 100.0)


@dataclass(frozen=True)
class ProximityPolicy:
    """Nearest region by great-circle distance from the client, each region's distance adjusted by its bias."""

    bias: tuple[tuple[str, Bias], ...] = ()
    kind = "proximity"


@dataclass(frozen=True)
class LatencyPolicy:
    """Lowest measured RTT from the client's nearest vantage; without data, proximity.

    ``hysteresis`` (fraction) keeps the current choice until another region is that much faster, and by at least
    ``hysteresis_ms`` (an absolute floor: two regions a few tenths of a millisecond apart would otherwise trade
    places on every jitter). (The RTTs are smoothed per vantage and region, for every service alike:
    ``health.rtt_alpha``.)
    """

    hysteresis: float = 0.2
    hysteresis_ms: float = 1.0
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
    answers: int | None = None    # multi-value: up to N addresses per family, spilling to the next region;
                                  # None = every healthy endpoint of the first healthy region
    affinity: bool = False        # consistent-hash client networks onto regions (``affinity: hash``)
    fail_mode: FailMode = FailMode.FAIL_OPEN
    fallback_addresses: tuple[IPAddress, ...] = field(default=())
    ecs_scope_v4: int = 24        # ECS scope for steered answers (RFC 7871 section 7.2.1)
    ecs_scope_v6: int = 56
    demand: Demand | None = None  # what it carries, for the drills' capacity guardrail
    route53_checks: bool = True   # the Route53 mirror checks its endpoints (``route53: {health_checks: false}``)
    answer_as: str = "addresses"  # hostname endpoints answered as their addresses, or as a "cname" to the name
    on_resolve_failure: OnResolveFailure | None = None  # over its regions' setting and the default

    @property
    def ref(self) -> str:
        """``zone/key`` (``example.com/www``): unique across the config, whatever other zones hold. Health,
        overrides, the sticky choices and the fleet's status know a service by it; keys alone repeat across
        zones (each zone may have its ``www``)."""
        return f"{self.zone[:-1] or '.'}/{self.key}"


@dataclass(frozen=True)
class GeoIPSource:
    """MaxMind-format databases: ``city`` (None = the embedded GeoLite2 City) and an optional ``asn``."""

    city: str | None = None
    asn: str | None = None


@dataclass(frozen=True)
class HealthSnapshot:
    """What the probers (and nothing else) say at one moment: verdicts and RTTs. Everything is up unless said
    otherwise. Operators' overrides (:class:`~gtm.model.effective.Overrides`) and steering's memory
    (:class:`~gtm.model.effective.SteeringMemory`) are values of their own; ``gtm.state.overrides.apply``
    combines the three into the :class:`~gtm.model.effective.Effective` health that steering reads.

    ``down_checks`` holds (monitor, region, address) judged down by the probers; ``down_endpoints`` and
    ``down_regions`` are down for every monitor (the ``--health`` file says so). ``rtt_ms`` is the smoothed RTT
    (milliseconds) per (vantage, region).
    """

    down_endpoints: frozenset[tuple[str, str]] = frozenset()
    down_regions: frozenset[str] = frozenset()
    rtt_ms: tuple[tuple[tuple[str, str], float], ...] = ()
    generation: int = 0
    down_checks: frozenset[tuple[str, str, str]] = frozenset()  # (monitor, region, address) judged down

    def down_for(self, monitor: str | None) -> frozenset[tuple[str, str]]:
        """The endpoints down for a service checked by ``monitor``: that monitor's down checks (other monitors'
        verdicts do not concern it) and the endpoints down for every monitor."""
        if not self.down_checks:
            return self.down_endpoints
        return self.down_endpoints | frozenset((r, a) for m, r, a in self.down_checks if m == monitor)

    def rtt(self) -> dict[tuple[str, str], float]:
        return dict(self.rtt_ms)


@dataclass(frozen=True)
class Force:
    """An operator's override as steering applies it: ``action`` ("down", "drain" or "up") on a region, or on
    one endpoint of it (``address``), for every service or only ``service`` (a service key)."""

    action: str
    region: str
    address: str | None = None
    service: str | None = None


@dataclass(frozen=True)
class GeoInfo:
    """What the GeoIP databases say about a client network; ``*_prefix`` are database network lengths."""

    found: bool                         # the city database had a record for the address
    continent: str | None = None
    country: str | None = None
    subdivisions: tuple[str, ...] = ()  # ISO 3166-2 codes, most general first (US-CA; GB-ENG, GB-BEN)
    location: Location | None = None
    asn: int | None = None
    city_prefix: int = 0                # prefix length of the city record's network
    asn_prefix: int = 0                 # prefix length of the ASN record's network (0 without ASN data)

    def describe(self) -> str:
        if not self.found and self.asn is None:
            return "not in the database"
        parts = [p for p in (self.continent, self.country, ",".join(self.subdivisions)) if p]
        if self.location is not None:
            parts.append(f"({self.location.lat:.2f}, {self.location.lon:.2f})")
        if self.asn is not None:
            parts.append(f"AS{self.asn}")
        return " ".join(parts) or "no location"


NOWHERE = GeoInfo(False)
