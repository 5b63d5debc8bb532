"""Records -> a validated :class:`~gtm.model.Zone`, the same for YAML zones and master files.

Checks (each a problem naming the record's file and line): data outside the zone (including out-of-zone
glue), SOA only at the apex and exactly one, NS at the apex, CNAME next to other data or more than one CNAME
(RFC 1034 section 3.6.2, RFC 2181 section 10.1), data at or below a delegation other than glue for name
servers, a delegation whose in-bailiwick name server has no glue, TTL bounds.

A record read from YAML has the field path it was written at (``records.www.A[0]``) and messages read
``path: what is wrong (got X)``; a record of a master file has no path, so the record itself
(``www.example.com. A``) stands in its place.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from gtm.config.checks import show
from gtm.errors import Problem
from gtm.model import A, AAAA, CNAME, DS, NS, SOA, Rdata, RRset, Service, Zone, is_subdomain, type_name
from gtm.model.packed import PackedRRsets, pack

MAX_TTL = 2**31 - 1  # RFC 2181 section 8
# Zones of more records than this are kept packed (gtm.model.packed): a fraction of the memory, shared by the
# worker processes, decoded per owner when a query asks.
PACK_THRESHOLD = 100_000


@dataclass(frozen=True)
class RecordIn:
    """One record as read, with where it was read (for messages); ``path`` is empty for master files."""

    name: str
    rtype: int
    ttl: int
    rdata: Rdata
    file: str
    line: int
    path: str = ""


def build_zone(origin: str, source: str, records: list[RecordIn], services: tuple[Service, ...],
               problems: list[Problem], line: int = 0, yaml: bool = False) -> Zone | None:
    """Group ``records`` into RRsets and validate the zone; problems are appended, None when unusable.

    ``line`` is where the zone is declared in ``source`` (problems of the whole zone, such as a missing SOA,
    point there); with ``yaml`` those problems name the YAML key to add (``soa``, ``ns``).
    """
    start = len(problems)

    def err(r: RecordIn, message: str, got: str | None = None) -> None:
        """A problem at record ``r``; ``got`` (the owner, usually) is shown only where the path hides it."""
        if r.path:
            problems.append(Problem(r.file, r.line, r.path, f"{message} (got {show(got)})" if got else message))
        else:
            problems.append(Problem(r.file, r.line, f"{r.name} {type_name(r.rtype)}", message))

    by_name: dict[str, dict[int, list[RecordIn]]] = {}
    for r in records:
        if not is_subdomain(r.name, origin):
            err(r, f"is outside zone {origin}", r.name)
        elif not 0 <= r.ttl <= MAX_TTL:
            err(r, f"TTL must be between 0 and {MAX_TTL}", str(r.ttl))
        elif r.rtype == SOA and r.name != origin:
            err(r, f"SOA is only allowed at the zone apex {origin}", r.name)
        else:
            by_name.setdefault(r.name, {}).setdefault(r.rtype, []).append(r)

    apex = by_name.get(origin, {})
    if SOA not in apex:
        problems.append(Problem(source, line, "soa" if yaml else "", f"zone {origin} has no SOA record"))
    elif len({r.rdata for r in apex[SOA]}) > 1:
        second = next(r for r in apex[SOA] if r.rdata != apex[SOA][0].rdata)
        err(second, f"zone {origin} has more than one SOA record")
    if NS not in apex:
        problems.append(Problem(source, line, "ns" if yaml else "", f"zone {origin} has no NS records at its apex"))

    for name, types in by_name.items():
        if CNAME not in types:
            continue
        first = types[CNAME][0]
        other = next((r for r in types[CNAME] if r.rdata != first.rdata), None)
        if other is not None:
            err(other, f"a name can have only one CNAME record (RFC 2181 section 10.1); the first is "
                       f"{first.rdata.target}", other.rdata.target)
        others = sorted(type_name(t) for t in types if t != CNAME)
        if others:
            err(first, f"a CNAME cannot have other data at its name (RFC 1034 section 3.6.2) "
                       f"(got {', '.join(others)})")

    # Delegations: NS below the apex cuts the zone. At a cut only NS, DS and glue may live; below it only glue,
    # that is A/AAAA records of names that some NS RRset of the zone names (sibling glue included).
    cuts = {n for n, types in by_name.items() if n != origin and NS in types}
    servers = {r.rdata.target for types in by_name.values() for r in types.get(NS, ())}
    for name, types in by_name.items():
        cut = _cut_above(name, cuts, origin)
        if cut is None:
            continue
        for t, rs in sorted(types.items()):
            if (name == cut and t in (NS, DS)) or (t in (A, AAAA) and name in servers):
                continue
            if name == cut:
                err(rs[0], f"cannot be at the delegation point {cut}: only NS, DS and glue addresses may be there")
            else:
                err(rs[0], f"lies below the delegation {cut}: only glue addresses of name servers may be there",
                    name)
    for cut in sorted(cuts):
        for r in by_name[cut][NS]:
            target = r.rdata.target or ""
            if is_subdomain(target, cut) and not (by_name.get(target, {}).keys() & {A, AAAA}):
                err(r, f"name server {target} lies inside the delegation {cut} and needs glue (an A or AAAA "
                       f"record)")

    # Every RRset must fit one DNS message (RFC 1035 section 4.2.2: TCP frames hold 65535 octets), and each
    # RDATA its 16-bit length field. A generous 600 octets are kept for header, question, SOA and OPT.
    for name, types in by_name.items():
        for t, rs in types.items():
            sizes = {r.rdata: r.rdata.wire_size() for r in rs}
            big = next((r for r in rs if sizes[r.rdata] > 65535), None)
            if big is not None:
                err(big, f"RDATA of {sizes[big.rdata]} octets does not fit DNS's 65535-octet limit")
                continue
            total = sum(len(name) + 12 + n for n in sizes.values())
            if total > 65535 - 600:
                err(rs[0], f"{name} {type_name(t)} would take {total} octets, more than one DNS message can carry "
                           f"(at most about {65535 - 600})")

    if len(problems) > start:
        return None
    if len(records) > PACK_THRESHOLD:  # a big zone: one flat buffer instead of an object per record
        owners = ((name, [(t, min(r.ttl for r in rs), tuple(dict.fromkeys(r.rdata.fields for r in rs)))
                          for t, rs in types.items()]) for name, types in by_name.items())
        return Zone(origin=origin, source=source, rrsets=PackedRRsets(pack(origin, owners, cuts)),
                    services=services)
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
