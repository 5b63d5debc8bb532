"""Small MaxMind-format databases built on the fly with mmdb-writer, so tests never need the real ones."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from mmdb_writer import MMDBWriter
from netaddr import IPSet


def city_record(continent: str, country: str, lat: float, lon: float, subdivisions: tuple[str, ...] = ()) -> dict[str, Any]:
    """A GeoIP2-City-shaped record; ``subdivisions`` are the codes after the dash (``CA`` for US-CA)."""
    rec: dict[str, Any] = {"continent": {"code": continent}, "country": {"iso_code": country},
                           "location": {"latitude": lat, "longitude": lon}}
    if subdivisions:
        rec["subdivisions"] = [{"iso_code": s} for s in subdivisions]
    return rec


def write_city(path: Path, networks: dict[str, dict[str, Any]]) -> Path:
    """A GeoIP2-City database with one record per network (IPv4 and IPv6 networks alike)."""
    w = MMDBWriter(ip_version=6, database_type="GeoIP2-City", ipv4_compatible=True)
    for net, rec in networks.items():
        w.insert_network(IPSet([net]), rec)
    w.to_db_file(str(path))
    return path


def write_asn(path: Path, networks: dict[str, int]) -> Path:
    """A GeoLite2-ASN database: network -> AS number."""
    w = MMDBWriter(ip_version=6, database_type="GeoLite2-ASN", ipv4_compatible=True)
    for net, asn in networks.items():
        w.insert_network(IPSet([net]), {"autonomous_system_number": asn,
                                        "autonomous_system_organization": f"AS{asn} test"})
    w.to_db_file(str(path))
    return path
