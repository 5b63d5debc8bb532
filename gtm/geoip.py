"""Client location from MaxMind-format databases (the only ``geoip2`` importer).

:class:`Locator` answers "where is this client network?" with a :class:`GeoInfo`: continent, country,
subdivisions, coordinates, ASN, and the prefix lengths of the database networks that hold the answer (the ECS
scope is built from them). Lookups are cached per database network, not per address: the raw lookup returns the
record's network, and the parsed record is kept under that network, so any address inside it reuses it.

Without a configured database, the GeoLite2 City database shipped by the PyPI package ``maxminddb-geolite2``
is used (2018 data, CC BY-SA 4.0, by MaxMind: see NOTICE).
"""
from __future__ import annotations

import ipaddress
import logging
from typing import Any

import geoip2.database
import geoip2.errors
import maxminddb

from gtm.model import GeoInfo, GeoIPSource, IPAddress, Location

log = logging.getLogger(__name__)

NETWORK_CACHE = 200_000  # parsed records kept, one per database network


def embedded_city_database() -> str:
    """Path of the GeoLite2 City database that the ``maxminddb-geolite2`` package ships."""
    import _maxminddb_geolite2  # type: ignore[import-not-found,import-untyped]

    return str(_maxminddb_geolite2.geolite2_database())


class Locator:
    """Looks client addresses up in the city (and optional ASN) database, caching per database network."""

    def __init__(self, source: GeoIPSource = GeoIPSource()):
        self.source = source
        self.city_path = source.city or embedded_city_database()
        self.asn_path = source.asn
        # MODE_AUTO: the maxminddb C extension when it is installed, else the pure Python reader.
        self._city = geoip2.database.Reader(self.city_path, mode=maxminddb.MODE_AUTO)
        self._asn = geoip2.database.Reader(self.asn_path, mode=maxminddb.MODE_AUTO) if self.asn_path else None
        self._raw_city = self._city._db_reader  # get_with_prefix_len: record and network in one lookup
        self._raw_asn = self._asn._db_reader if self._asn else None
        self._by_network: dict[tuple[int, int, int, int, int], GeoInfo] = {}
        self.lookups = 0
        self.misses = 0  # addresses with no city record: they fall to the policies' defaults

    @property
    def description(self) -> str:
        meta = self._raw_city.metadata()
        return f"{meta.database_type} ({self.city_path})" + (f" + ASN ({self.asn_path})" if self.asn_path else "")

    def locate(self, address: IPAddress) -> GeoInfo:
        """Where ``address`` is, as far as the databases know; never raises for an address."""
        self.lookups += 1
        city_rec, city_len = _lookup(self._raw_city, address)
        asn_rec, asn_len = _lookup(self._raw_asn, address) if self._raw_asn is not None else (None, 0)
        bits, width = int(address), address.max_prefixlen
        # The key is the pair of database networks that hold the address: same networks, same records.
        key = (address.version, bits >> (width - city_len), city_len, bits >> (width - asn_len), asn_len)
        info = self._by_network.get(key)
        if info is None:
            if len(self._by_network) >= NETWORK_CACHE:
                self._by_network.clear()
            info = _info(city_rec, city_len, asn_rec, asn_len)
            self._by_network[key] = info
        if not info.found:
            self.misses += 1
        return info

    def close(self) -> None:
        self._city.close()
        if self._asn is not None:
            self._asn.close()


def _lookup(reader: Any, address: IPAddress) -> tuple[Any, int]:
    try:
        rec, plen = reader.get_with_prefix_len(str(address))
    except (ValueError, maxminddb.InvalidDatabaseError, geoip2.errors.GeoIP2Error) as e:
        log.debug("lookup of %s failed: %s", address, e)
        return None, 0
    return rec, int(plen)


def _asn_number(rec: Any) -> int:
    try:
        return int(rec.get("autonomous_system_number") or 0)
    except (AttributeError, TypeError, ValueError):
        return 0


def _info(rec: Any, city_len: int, asn_rec: Any, asn_len: int) -> GeoInfo:
    asn = _asn_number(asn_rec) or None if isinstance(asn_rec, dict) else None
    if not isinstance(rec, dict):
        return GeoInfo(False, asn=asn, city_prefix=city_len, asn_prefix=asn_len)
    continent = (rec.get("continent") or {}).get("code")
    country = (rec.get("country") or {}).get("iso_code")
    subs = tuple(f"{country}-{s['iso_code']}" for s in rec.get("subdivisions") or () if country and s.get("iso_code"))
    loc = rec.get("location") or {}
    location = None
    if isinstance(loc.get("latitude"), (int, float)) and isinstance(loc.get("longitude"), (int, float)):
        location = Location(float(loc["latitude"]), float(loc["longitude"]))
    return GeoInfo(True, continent, country, subs, location, asn, city_len, asn_len)


def sample_networks(source: GeoIPSource, countries: set[str], continents: set[str], per: int,
                    max_records: int = 3_000_000) -> list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network,
                                                                 str, str]]:
    """Client networks to verify answers from: ``per`` networks in each of ``countries`` (ISO codes) and in
    each of ``continents`` (from distinct countries where it can), as (network, continent, country), in
    database order. Networks of one country come from different /8s, so that they are not neighbours; each is
    narrowed to at most a /24 (IPv4) or /48 (IPv6) inside it. The scan stops when every quota is met or after
    ``max_records`` records."""
    path = source.city or embedded_city_database()
    reader = maxminddb.open_database(path, maxminddb.MODE_AUTO)
    want_country = {c: per for c in countries}
    want_continent = {c: per for c in continents}
    continent_countries: dict[str, set[str]] = {c: set() for c in continents}
    used: set[tuple[str, int]] = set()
    out: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str, str]] = []
    try:
        for n, (network, record) in enumerate(reader):
            if n >= max_records or (not any(want_country.values()) and not any(want_continent.values())):
                break
            if not isinstance(record, dict):
                continue
            country = (record.get("country") or {}).get("iso_code")
            continent = (record.get("continent") or {}).get("code")
            if not country or not continent:
                continue
            first = int(network.network_address) >> (24 if network.version == 4 else 120)
            if (country, first) in used:
                continue
            take = want_country.get(country, 0) > 0
            if not take and want_continent.get(continent, 0) > 0:
                take = country not in continent_countries[continent] or \
                    len(continent_countries[continent]) >= per
            if not take:
                continue
            used.add((country, first))
            if want_country.get(country, 0) > 0:
                want_country[country] -= 1
            elif want_continent.get(continent, 0) > 0:
                want_continent[continent] -= 1
                continent_countries[continent].add(country)
            width = 24 if network.version == 4 else 48
            narrow = network if network.prefixlen >= width else ipaddress.ip_network(
                (network.network_address, width))
            out.append((narrow, continent, country))
    finally:
        reader.close()
    return out
