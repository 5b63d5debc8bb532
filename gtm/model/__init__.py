"""gtm's model: frozen values built by ``gtm.config`` and read by everything else (stdlib only)."""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from gtm.model.records import (  # noqa: F401  (re-exported)
    A, AAAA, ADDITIONAL_TARGETS, ANY, CAA, CNAME, COMPRESSIBLE, DS, FIELDS, HINFO, MX, NS, OPT, PTR, SOA, SRV, TXT,
    TYPE_NAMES, TYPE_NUMBERS, Rdata, RRset, is_subdomain, parent, quote_text, type_name,
)
from gtm.model.health import (  # noqa: F401  (re-exported)
    MAX_REPORT_BYTES, AdminSettings, HealthSettings, Observation, Report, ReportError, RrlSettings,
)
from gtm.model.override import (  # noqa: F401  (re-exported)
    ACTIONS as OVERRIDE_ACTIONS, Demand, DrillSettings, NodeAddress, Override, StoreSettings, Window,
)
from gtm.model.traffic import (  # noqa: F401  (re-exported)
    Bias, Endpoint, FailMode, Force, GeoInfo, GeoIPSource, HealthSnapshot, NOWHERE, FailoverPolicy, GeoMatch, GeoPolicy, GeoRule, IPAddress, IPNetwork, LatencyPolicy, Location,
    Monitor, MonitorType, OnResolveFailure, Policy, ProbeMode, ProximityPolicy, Region, Service, Vantage,
    WeightedPolicy,
)
from gtm.model.names import NO_NAMES, Lookup, Names, ResolverSettings  # noqa: F401  (re-exported)
from gtm.model.dnssec import DnssecSettings  # noqa: F401  (re-exported)

_EMPTY: Mapping = MappingProxyType({})  # (the model's read-only mappings pickle through gtm.proc.channel)


@dataclass(frozen=True)
class Zone:
    """One authoritative zone: its RRsets by owner and type, and the services that live in it.

    ``nodes`` holds every owner name that has data; ``rrsets[name][rtype]``. The apex always has SOA and NS.
    ``source`` is the file it came from (for messages and status).
    """

    origin: str
    source: str
    rrsets: Mapping[str, Mapping[int, RRset]]
    services: tuple[Service, ...] = ()
    signed: bool = False  # DNSSEC: signed with the keys in dnssec.key_dir (``signed: true``)
    keys: tuple[Any, ...] = ()  # a signed zone's keys (gtm.dnssec.keys.Key), read at each load (gtm.dnssec.zone)

    @property
    def soa(self) -> RRset:
        return self.rrsets[self.origin][SOA]

    @property
    def negative_ttl(self) -> int:
        """TTL of the SOA in negative answers: min(SOA TTL, SOA MINIMUM) (RFC 2308 section 5)."""
        soa = self.soa
        return min(soa.ttl, int(soa.rdatas[0].fields[6]))

    def record_count(self) -> int:
        records = getattr(self.rrsets, "records", None)  # a packed zone counts them once
        if isinstance(records, int):
            return records
        return sum(len(rs.rdatas) for types in self.rrsets.values() for rs in types.values())


@dataclass(frozen=True)
class Config:
    """Everything ``zones/`` says: zones with their services, and the shared regions, monitors, vantages."""

    zones: Mapping[str, Zone] = field(default_factory=lambda: _EMPTY)
    regions: Mapping[str, Region] = field(default_factory=lambda: _EMPTY)
    monitors: Mapping[str, Monitor] = field(default_factory=lambda: _EMPTY)
    vantages: Mapping[str, Vantage] = field(default_factory=lambda: _EMPTY)
    geoip: GeoIPSource = GeoIPSource()
    health: HealthSettings = HealthSettings()
    admin: AdminSettings = AdminSettings()
    sources: tuple[str, ...] = ()
    overrides: StoreSettings = StoreSettings()
    drills: DrillSettings = DrillSettings()
    rrl: RrlSettings = RrlSettings()
    resolvers: ResolverSettings = ResolverSettings()
    dnssec: DnssecSettings = DnssecSettings()

    @property
    def hostnames(self) -> tuple[str, ...]:
        """Every hostname endpoint's name, once each, in config order (what the resolver keeps resolved)."""
        return tuple(dict.fromkeys(h for r in self.regions.values() for h in r.hostnames))

    @property
    def services(self) -> tuple[Service, ...]:
        return tuple(s for z in self.zones.values() for s in z.services)

    def keeps(self) -> dict[str, frozenset[str]]:
        """Per service ref, the hostnames whose last addresses it keeps answering once they fail to resolve:
        ``on_resolve_failure`` of the service, else of the region, else ``resolvers.on_failure``."""
        out = {}
        for s in self.services:
            kept = frozenset(h for r in s.regions for h in self.regions[r].hostnames
                             if (s.on_resolve_failure or self.regions[r].on_resolve_failure
                                 or self.resolvers.on_failure) is OnResolveFailure.KEEP)
            if kept:
                out[s.ref] = kept
        return out

    def service_label(self, service: Service) -> str:
        """How a person reads the service's name: its key where no other zone has a service of that key,
        else ``zone/key``."""
        return service.key if sum(s.key == service.key for s in self.services) == 1 else service.ref

    def find_service(self, text: str) -> Service:
        """The service ``text`` names: ``zone/key`` (the zone with or without its final dot), or the key alone
        where only one zone has a service of that key. LookupError with what to write instead."""
        services = self.services
        zone, slash, key = text.rpartition("/")
        if slash:
            origin = zone.lower().rstrip(".") + "."
            found = [s for s in services if s.key == key and s.zone == origin]
        else:
            found = [s for s in services if s.key == text]
        if len(found) == 1:
            return found[0]
        if found:
            raise LookupError(f"service {text!r} is in {len(found)} zones; name one of "
                              f"{', '.join(s.ref for s in found)}")
        raise LookupError(f"unknown service {text!r}; services: "
                          f"{', '.join(sorted(self.service_label(s) for s in services)) or '(none)'}")
