"""A small world of plain values for the steering tests: regions, vantages, clients, health (no IO)."""
from __future__ import annotations

import ipaddress
from typing import Any

from gtm.model import (
    Config,
    Endpoint,
    FailoverPolicy,
    Force,
    GeoInfo,
    HealthSnapshot,
    Location,
    Policy,
    Region,
    Service,
    Vantage,
    Zone,
)
from gtm.model.effective import Effective, Overrides, SteeringMemory, View
from gtm.state.overrides import apply
from gtm.steering import Client

BERLIN = Location(52.52, 13.40)
TOKYO = Location(35.68, 139.69)
NEW_YORK = Location(40.71, -74.0)
SAO_PAULO = Location(-23.55, -46.63)
REYKJAVIK = Location(64.15, -21.94)


def region(name: str, loc: Location, *endpoints: str | tuple[str, int]) -> Region:
    """``endpoints``: an address, or (address, weight)."""
    eps = tuple(Endpoint(ipaddress.ip_address(e), 1) if isinstance(e, str) else
                Endpoint(ipaddress.ip_address(e[0]), e[1]) for e in endpoints)
    return Region(name, loc, eps)


# Distances (km): from Berlin eu-west 1317, us-east 6731, ap-southeast 9917; from Tokyo ap-southeast 5315,
# eu-west 9586, us-east 10876; from New York us-east 354, eu-west 5115, ap-southeast 15333.
US_EAST = region("us-east", Location(39.0, -77.5), "192.0.2.10", "192.0.2.11", "2001:db8:1::10")
EU_WEST = region("eu-west", Location(53.35, -6.26), "198.51.100.10", "2001:db8:2::10")
AP_SOUTHEAST = region("ap-southeast", Location(1.35, 103.82), "203.0.113.10", "2001:db8:3::10")
REGIONS = (US_EAST, EU_WEST, AP_SOUTHEAST)
ALL = ("us-east", "eu-west", "ap-southeast")

FRANKFURT = Vantage("frankfurt", Location(50.11, 8.68))
VIRGINIA = Vantage("virginia", Location(38.9, -77.0))
SINGAPORE = Vantage("singapore", Location(1.29, 103.85))
VANTAGES = (FRANKFURT, VIRGINIA, SINGAPORE)
FAILOVER = FailoverPolicy()


def service(regions: tuple[str, ...] = ALL, policy: Policy = FAILOVER, key: str = "www",
            **kw: Any) -> Service:
    return Service(key, "example.com.", (f"{key}.example.com.",), 30, regions, policy, **kw)


def config(regions: tuple[Region, ...] = REGIONS, vantages: tuple[Vantage, ...] = VANTAGES,
           services: tuple[Service, ...] = ()) -> Config:
    zones = {"example.com.": Zone("example.com.", "test", {}, services)} if services else {}
    return Config(zones=zones, regions={r.name: r for r in regions}, vantages={v.name: v for v in vantages})


def geo(loc: Location | None = None, continent: str | None = None, country: str | None = None,
        subdivisions: tuple[str, ...] = (), asn: int | None = None, city_prefix: int = 16,
        asn_prefix: int = 0) -> GeoInfo:
    return GeoInfo(True, continent, country, subdivisions, loc, asn, city_prefix, asn_prefix)


def client(net: str, info: GeoInfo | None = None) -> Client:
    """``net``: ``a.b.c.d`` (a source address) or ``a.b.c.0/24`` (an ECS prefix)."""
    n = ipaddress.ip_network(net, strict=False)
    prefix = n.prefixlen if "/" in net else n.max_prefixlen
    return Client(n.network_address, prefix, info if info is not None else GeoInfo(False))


def health(*down: str, rtt: dict[tuple[str, str], float] | None = None,
           choices: dict[tuple[str, str], str] | None = None,
           last_good: dict[str, Effective | View] | None = None, forces: tuple[Force, ...] = (),
           services: tuple[Service, ...] = ()) -> Effective:
    """The effective health steering reads, made the one way it is made (``gtm.state.overrides.apply``).
    ``down``: ``region`` or ``region/address``; ``forces``: overrides in force, oldest first; ``services``: the
    services whose own view is computed (needed for service-scoped forces; others see the default view)."""
    snap = HealthSnapshot(
        down_endpoints=frozenset(tuple(d.split("/", 1)) for d in down if "/" in d),  # type: ignore[misc]
        down_regions=frozenset(d for d in down if "/" not in d),
        rtt_ms=tuple(sorted((rtt or {}).items())),
    )
    memory = SteeringMemory(tuple(sorted((choices or {}).items())),
                            tuple(sorted((k, v.default if isinstance(v, Effective) else v)
                                         for k, v in (last_good or {}).items())))
    return apply(Overrides(forces), snap, services, memory)


UP = health()
