"""Records -> a validated :class:`~gtm.model.Zone`, the same for YAML zones and master files.

Checks (each a problem naming the record's file and line): data outside the zone (including out-of-zone
glue), SOA only at the apex and exactly one, NS at the apex, CNAME next to other data or more than one CNAME
(RFC 1034 section 3.6.2, RFC 2181 section 10.1), data below a delegation other than glue for its name
servers, a delegation whose in-bailiwick name server has no glue, TTL bounds.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from gtm.errors import Problem
from gtm.model import A, AAAA, CNAME, NS, SOA, Rdata, RRset, Service, Zone, is_subdomain, type_name

MAX_TTL = 2**31 - 1  # RFC 2181 section 8


@dataclass(frozen=True)
class RecordIn:
    """One record as read, with where it was read (for messages)."""

    name: str
    rtype: int
    ttl: int
    rdata: Rdata
    file: str
    line: int
    path: str = ""


def build_zone(origin: str, source: str, records: list[RecordIn], services: tuple[Service, ...],
               problems: list[Problem]) -> Zone | None:
    """Group ``records`` into RRsets and validate the zone; problems are appended, None when unusable."""
    start = len(problems)

    def err(r: RecordIn, message: str) -> None:
        problems.append(Problem(r.file, r.line, r.path, message))

    by_name: dict[str, dict[int, list[RecordIn]]] = {}
    for r in records:
        if not is_subdomain(r.name, origin):
            err(r, f"{r.name} {type_name(r.rtype)} is outside zone {origin} (out-of-zone data or glue)")
            continue
        if not 0 <= r.ttl <= MAX_TTL:
            err(r, f"TTL must be between 0 and {MAX_TTL} (got {r.ttl})")
            continue
        if r.rtype == SOA and r.name != origin:
            err(r, f"SOA is only allowed at the zone apex {origin} (got {r.name})")
            continue
        by_name.setdefault(r.name, {}).setdefault(r.rtype, []).append(r)

    apex = by_name.get(origin, {})
    if SOA not in apex:
        problems.append(Problem(source, 0, "soa", f"zone {origin} has no SOA record"))
    elif len({r.rdata for r in apex[SOA]}) > 1:
        err(apex[SOA][1], f"zone {origin} has more than one SOA record")
    if NS not in apex:
        problems.append(Problem(source, 0, "ns", f"zone {origin} has no NS records at its apex"))

    for name, types in by_name.items():
        if CNAME in types:
            first = types[CNAME][0]
            if len({r.rdata for r in types[CNAME]}) > 1:
                err(types[CNAME][1], f"{name} has more than one CNAME record")
            others = sorted(type_name(t) for t in types if t != CNAME)
            if others:
                err(first, f"CNAME at {name} cannot coexist with other data ({', '.join(others)})")

    # Delegations: NS below the apex cuts the zone; below a cut only glue for that cut's servers may live.
    cuts = {n for n, types in by_name.items() if n != origin and NS in types}
    for name, types in by_name.items():
        cut = _cut_above(name, cuts, origin)
        if cut is None:
            continue
        if name == cut:
            extra = sorted(type_name(t) for t in types if t not in (NS,) and t not in (A, AAAA))
            if extra:
                err(types[next(t for t in types if type_name(t) in extra)][0],
                    f"{name} is a delegation point: only NS (and glue) may be there (got {', '.join(extra)})")
            continue
        servers = {r.rdata.target for r in by_name[cut][NS]}
        for t, rs in types.items():
            if t not in (A, AAAA) or name not in servers:
                err(rs[0], f"{name} {type_name(t)} lies below the delegation at {cut}: only glue addresses "
                           f"of its name servers may be there")
    for cut in sorted(cuts):
        for r in by_name[cut][NS]:
            target = r.rdata.target or ""
            if is_subdomain(target, cut) and not (by_name.get(target, {}).keys() & {A, AAAA}):
                err(r, f"name server {target} of delegation {cut} lies inside it and needs glue (A or AAAA)")

    if len(problems) > start:
        return None
    rrsets: dict[str, MappingProxyType[int, RRset]] = {}
    for name, types in by_name.items():
        sets = {}
        for t, rs in types.items():
            rdatas = tuple(dict.fromkeys(r.rdata for r in rs))  # RFC 2181 section 5: no duplicate RRs
            sets[t] = RRset(name, t, min(r.ttl for r in rs), rdatas)
        rrsets[name] = MappingProxyType(sets)
    return Zone(origin=origin, source=source, rrsets=MappingProxyType(rrsets), services=services)


def _cut_above(name: str, cuts: set[str], origin: str) -> str | None:
    """The highest delegation point at or above ``name`` (below the apex), if any."""
    found = None
    n = name
    while n != origin and n != ".":
        if n in cuts:
            found = n
        n = n.partition(".")[2] or "."
    return found
