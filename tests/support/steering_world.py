"""Shared helpers for the end-to-end steering tests (``test_steering_*.py``, ``test_explain.py``).

The configuration is ``tests/fixtures/steering/steer.test.yaml`` (zone ``steer.test``, five regions, four
vantages, one service per policy and fail mode). Its GeoIP databases are built here with mmdb-writer, next to
a copy of the YAML in a temporary directory: a handful of city networks in distinct places, IPv4 and IPv6,
and an ASN database whose AS64501 is the upper half of the Munich network. Queries go through a real
``gtm serve`` with dnspython, steered by EDNS Client Subnet (RFC 7871).
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import dns.edns
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from tests.conftest import FIXTURES, GtmProcess, serve_checked
from tests.support.mmdb import city_record, write_asn, write_city

HOST = "127.0.0.1"
STEERING = FIXTURES / "steering"
ZONE = "steer.test"
HEALTH_RTT = STEERING / "health-rtt.yaml"
HEALTH_RTT_UNSTICKY = STEERING / "health-rtt-unsticky.yaml"
HEALTH_DOWN = STEERING / "health-down.yaml"
HEALTH_ALL_DOWN = STEERING / "health-all-down.yaml"
SOA_TEXT = "steer.test. 300 IN SOA ns1.steer.test. hostmaster.steer.test. 2026010101 3600 900 1209600 300"


@dataclass(frozen=True)
class Place:
    """A client network of the test databases: where it is and a /24 (and /48) inside it to send as ECS."""

    v4_net: str
    v4_client: str
    v6_net: str | None
    v6_client: str | None
    continent: str
    country: str
    lat: float
    lon: float
    subdivisions: tuple[str, ...] = ()


PLACES = {
    "munich": Place("31.10.0.0/16", "31.10.1.0/24", "2a01:100::/32", "2a01:100:1::/48", "EU", "DE", 48.14, 11.58, ("BY",)),
    "paris": Place("37.10.0.0/16", "37.10.5.0/24", None, None, "EU", "FR", 48.86, 2.35),
    "london": Place("51.10.0.0/16", "51.10.7.0/24", "2a02:200::/32", "2a02:200:7::/48", "EU", "GB", 51.51, -0.13, ("ENG",)),
    "sf": Place("64.10.0.0/16", "64.10.3.0/24", "2600:300::/32", "2600:300:3::/48", "NA", "US", 37.77, -122.42, ("CA",)),
    "nyc": Place("64.20.0.0/16", "64.20.9.0/24", None, None, "NA", "US", 40.71, -74.01, ("NY",)),
    "saopaulo": Place("177.10.0.0/16", "177.10.4.0/24", "2804:400::/32", "2804:400:4::/48", "SA", "BR", -23.55, -46.63, ("SP",)),
    "singapore": Place("103.10.0.0/16", "103.10.2.0/24", "2400:500::/32", "2400:500:2::/48", "AS", "SG", 1.29, 103.85),
    "sydney": Place("1.10.0.0/16", "1.10.8.0/24", "2401:600::/32", "2401:600:8::/48", "OC", "AU", -33.87, 151.21, ("NSW",)),
}
ASN_NETWORKS = {
    "31.10.128.0/17": 64501,        # the upper half of the Munich network
    "2a01:100:8000::/33": 64501,
    "51.10.0.0/16": 64600,          # London's network, an AS that no rule names
}
OUTSIDE_V4 = "198.18.0.0/24"        # in neither database
OUTSIDE_V6 = "2001:db8:ffff::/48"

# endpoint address -> region (steer.test.yaml)
REGION_OF = {
    "192.0.2.11": "eu-central", "2001:db8:11::1": "eu-central",
    "192.0.2.12": "eu-west", "2001:db8:12::1": "eu-west",
    "192.0.2.21": "us-east", "192.0.2.22": "us-east", "2001:db8:21::1": "us-east",
    "192.0.2.31": "us-west", "2001:db8:31::1": "us-west",
    "192.0.2.41": "ap-southeast", "192.0.2.49": "ap-southeast", "2001:db8:41::1": "ap-southeast",
}


def build_config(directory: Path) -> Path:
    """steer.test.yaml and its two databases in ``directory``; returns the YAML file."""
    directory.mkdir(parents=True, exist_ok=True)
    city = {}
    for p in PLACES.values():
        rec = city_record(p.continent, p.country, p.lat, p.lon, p.subdivisions)
        city[p.v4_net] = rec
        if p.v6_net:
            city[p.v6_net] = rec
    write_city(directory / "city.mmdb", city)
    write_asn(directory / "asn.mmdb", ASN_NETWORKS)
    return Path(shutil.copy(STEERING / "steer.test.yaml", directory / "steer.test.yaml"))


def serve(config: Path, *extra: str | Path) -> Iterator[GtmProcess]:
    """Body of a module-scoped fixture: one server on ``config``; afterwards its log must show no error."""
    yield from serve_checked([config, *extra])


# -- queries --------------------------------------------------------------------------------------------------
def ecs_option(subnet: str) -> dns.edns.ECSOption:
    """``31.10.1.0/24`` -> an ECS option with that SOURCE PREFIX-LENGTH (``0.0.0.0/0``: SOURCE 0)."""
    address, _, length = subnet.partition("/")
    return dns.edns.ECSOption(address, int(length) if length else None)


def ask(port: int, name: str, rdtype: str = "A", subnet: str | None = None, *, edns: bool = True,
        tcp: bool = False, options: list[dns.edns.Option] | None = None) -> dns.message.Message:
    """One query for ``name`` (relative to steer.test unless it ends in a dot), with ECS ``subnet`` if given."""
    qname = name if name.endswith(".") else f"{name}.{ZONE}."
    opts = list(options or [])
    if subnet is not None:
        opts.append(ecs_option(subnet))
    q = dns.message.make_query(qname, rdtype, use_edns=0 if (edns or opts) else False, options=opts or None)
    q.flags &= ~dns.flags.RD
    resp = (dns.query.tcp if tcp else dns.query.udp)(q, HOST, port=port, timeout=2.0)
    assert resp.rcode() == dns.rcode.NOERROR, dns.rcode.to_text(resp.rcode())
    assert resp.flags & dns.flags.AA
    return resp


def addresses(resp: dns.message.Message) -> list[str]:
    """The A/AAAA addresses of the answer, in answer order."""
    return [rd.address for rrset in resp.answer if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA)
            for rd in rrset]


def regions(resp: dns.message.Message) -> list[str]:
    """The regions whose endpoints the answer holds, in answer order."""
    return list(dict.fromkeys(REGION_OF[a] for a in addresses(resp)))


def region(resp: dns.message.Message) -> str:
    """The one region the answer names (fails when it names none or several)."""
    found = regions(resp)
    assert len(found) == 1, f"expected one region, got {found}: {addresses(resp)}"
    return found[0]


def reply_ecs(resp: dns.message.Message) -> dns.edns.ECSOption | None:
    found = [o for o in resp.options if isinstance(o, dns.edns.ECSOption)]
    assert len(found) <= 1
    return found[0] if found else None


def scope(resp: dns.message.Message) -> int:
    """The ECS SCOPE PREFIX-LENGTH of the reply (fails when there is no ECS option)."""
    opt = reply_ecs(resp)
    assert opt is not None, "no ECS option in the reply"
    return int(opt.scopelen)


def steer(port: int, name: str, subnet: str | None, rdtype: str = "A") -> tuple[str, int]:
    """(region answered, ECS scope) for one ECS query."""
    resp = ask(port, name, rdtype, subnet)
    return region(resp), scope(resp)
