"""Authoritative resolution for static data, like Knot or NSD answer (pure: no IO).

Given the served zones and a question, :func:`Authority.resolve` returns what to answer: RCODE, AA, and the
answer/authority/additional RRs. It implements RFC 1034 section 4.3.2 with the clarifications of RFC 2308
(negative answers carry the SOA with TTL min(SOA TTL, MINIMUM)), RFC 4592 (wildcards, closest encloser,
empty non-terminals), RFC 6604 (RCODE of CNAME chains) and RFC 8482 (minimal ANY).

Managed names (services) are given as ready RRsets by the caller, one per client class; this module only
places them, so that steering stays in ``gtm.steering``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Container, Mapping

from gtm.dnssec.zone import apex_rrsets
from gtm.model import A, AAAA, ADDITIONAL_TARGETS, ANY, CNAME, DS, NS, SOA, RRset, Zone, is_subdomain
from gtm.model.packed import PackedRRsets
from gtm.model.records import label_parent

NOERROR, NXDOMAIN, REFUSED = 0, 3, 5
MAX_CHAIN = 8  # CNAME hops followed inside a zone before giving up (loops end here too)


parent = label_parent  # (escape-aware: see gtm.model.records.label_parent)


@dataclass(frozen=True)
class RR:
    """One RRset placed in a section, under ``owner`` (differs from rrset.name when synthesised)."""

    owner: str
    rrset: RRset


@dataclass
class Resolution:
    rcode: int
    aa: bool
    answer: list[RR] = field(default_factory=list)
    authority: list[RR] = field(default_factory=list)
    additional: list[RR] = field(default_factory=list)
    zone: str | None = None  # origin of the zone that answered
    service: str | None = None  # key of the managed service whose RRset is in the answer
    steered: RR | None = None  # the placeholder of that RRset in ``answer``, filled per client by the table


class _Exists:
    """Names of a packed zone, plus those its managed names add (``in`` only: a packed zone is not walked)."""

    __slots__ = ("packed", "extra")

    def __init__(self, packed: PackedRRsets, extra: frozenset[str]):
        self.packed, self.extra = packed, extra

    def __contains__(self, name: object) -> bool:
        return name in self.extra or (isinstance(name, str) and self.packed.exists(name))


class ZoneIndex:
    """One zone with the lookup sets resolution needs, computed once per config."""

    def __init__(self, zone: Zone):
        self.zone = zone
        self.origin = zone.origin
        # managed owner -> (service ref, {A: placeholder, AAAA: placeholder}); a placeholder is an RRset with
        # the service's TTL and no data, which the answer tables replace with each client's addresses.
        # A service answered as a CNAME (answer_as: cname) also has a CNAME placeholder: every type of
        # question at its names is steered (RFC 1034 section 3.6.2: a CNAME owner has no other data).
        self.managed: dict[str, tuple[str, Mapping[int, RRset]]] = {
            name: (svc.ref, {t: RRset(name, t, svc.ttl, ())
                             for t in ((A, AAAA, CNAME) if svc.answer_as == "cname" else (A, AAAA))})
            for svc in zone.services for name in svc.names}
        packed = zone.rrsets if isinstance(zone.rrsets, PackedRRsets) else None
        self.packed = packed is not None
        exists: set[str] = set()
        if packed is not None:  # its cuts and names are in the buffer; only the managed names are added here
            self.cuts = packed.cuts
            owners: list[str] = list(self.managed)
        else:
            self.cuts = frozenset(n for n, t in zone.rrsets.items() if n != zone.origin and NS in t)
            owners = list(zone.rrsets) + list(self.managed)
        for name in owners:
            n = name
            while n not in exists and not (packed is not None and packed.exists(n)):
                exists.add(n)
                if n == zone.origin or n == ".":
                    break
                n = parent(n)
        # owners plus empty non-terminals (RFC 4592 section 2.2.2)
        self.names = frozenset(exists)  # every name, for a zone that is not packed
        self.exists: Container[str] = self.names if packed is None else _Exists(packed, self.names)
        soa = zone.soa
        self.negative_soa = RR(zone.origin, RRset(zone.origin, SOA, zone.negative_ttl, soa.rdatas))
        # a signed zone's DNSKEY, CDS and CDNSKEY, beside the apex's own data (a packed zone's included)
        self.apex_keys = apex_rrsets(zone)

    def types_at(self, name: str) -> Mapping[int, RRset]:
        got = self.zone.rrsets.get(name)
        keys = self.apex_keys if name == self.origin else None
        if name in self.managed or keys:
            merged = dict(got or {})
            merged.update(keys or {})
            if name in self.managed:
                merged.update({t: rs for t, rs in self.managed[name][1].items()})
            return merged
        return got or {}


class Authority:
    """The set of served zones; resolve() picks the most specific zone for each question."""

    def __init__(self, zones: list[ZoneIndex]):
        self.zones = {z.origin: z for z in zones}

    def find_zone(self, qname: str) -> ZoneIndex | None:
        n = qname
        while True:
            z = self.zones.get(n)
            if z is not None:
                return z
            if n == ".":
                return None
            n = parent(n)

    def resolve(self, qname: str, qtype: int) -> Resolution:
        z = self.find_zone(qname)
        if z is None:
            return Resolution(REFUSED, False)
        if qtype == DS and z.origin == qname and qname != ".":
            # The DS of a zone we also serve the parent of is the parent's data (RFC 4035 section 3.1.4.1)
            above = self.find_zone(parent(qname))
            z = above if above is not None else z
        res = Resolution(NOERROR, True, zone=z.origin)
        self._lookup(z, qname, qtype, res, 0)
        self._additional(z, res)
        return res

    def _lookup(self, z: ZoneIndex, qname: str, qtype: int, res: Resolution, depth: int) -> None:
        # 1. A delegation at or above qname (below the apex) makes this a referral (RFC 1034 4.3.2 step 3b),
        #    except a DS query at the cut itself, which the parent answers (RFC 4035 section 3.1.4.1).
        cut = self._cut(z, qname)
        if cut is not None and not (qtype == DS and cut == qname):
            if depth:  # a CNAME pointed into a delegation: the answer so far stands, the resolver follows
                return
            res.aa = False
            res.authority.append(RR(cut, z.zone.rrsets[cut][NS]))
            for rd in z.zone.rrsets[cut][NS].rdatas:
                self._glue(z, rd.target or "", res)
            return
        owner = qname
        types = z.types_at(qname)
        if not types and qname not in z.exists:
            # 2. Wildcard synthesis from the closest encloser (RFC 4592 section 3.3.1).
            encloser = parent(qname)
            while encloser not in z.exists:
                encloser = parent(encloser)
            wild = "*." + encloser if encloser != "." else "*."
            types = z.types_at(wild)
            if not types and wild not in z.exists:
                res.rcode = NXDOMAIN  # after a CNAME too: the RCODE is the last name's (RFC 6604)
                res.authority.append(z.negative_soa)
                return
        if qname in z.managed and (qtype in (A, AAAA, ANY) or CNAME in z.managed[qname][1]):
            service, placeholders = z.managed[qname]
            res.service = service
            # ANY: one RRset (RFC 8482); a CNAME service's other types: the CNAME placeholder
            res.steered = RR(owner, placeholders[qtype if qtype in (A, AAAA) else CNAME if CNAME in placeholders
                                                 else A])
            res.answer.append(res.steered)
            return
        if qtype == ANY:
            # RFC 8482 section 4.1: answer one RRset rather than all of them.
            if types:
                first = types.get(SOA) or types[min(types)]
                res.answer.append(RR(owner, first))
            else:
                res.authority.append(z.negative_soa)
            return
        rs = types.get(qtype)
        if rs is not None and rs.rdatas:
            res.answer.append(RR(owner, rs))
            return
        cname = types.get(CNAME)
        if cname is not None and qtype != CNAME:
            res.answer.append(RR(owner, cname))
            target = cname.rdatas[0].target or ""
            if depth + 1 >= MAX_CHAIN or any(r.owner == target for r in res.answer):
                return  # a loop or an over-long chain: answer what we have
            if is_subdomain(target, z.origin):
                self._lookup(z, target, qtype, res, depth + 1)
            return
        # 3. NODATA: the name exists (or is an empty non-terminal) but not with this type.
        res.authority.append(z.negative_soa)

    @staticmethod
    def _cut(z: ZoneIndex, qname: str) -> str | None:
        if not z.cuts:
            return None
        n = qname
        found = None
        while n != z.origin and n != ".":
            if n in z.cuts:
                found = n
            n = parent(n)
        return found

    def _glue(self, z: ZoneIndex, target: str, res: Resolution) -> None:
        types = z.zone.rrsets.get(target)
        if not types or not is_subdomain(target, z.origin):
            return
        for t in (A, AAAA):
            if t in types and not any(r.owner == target and r.rrset.rtype == t for r in res.additional):
                res.additional.append(RR(target, types[t]))

    def _additional(self, z: ZoneIndex, res: Resolution) -> None:
        """A/AAAA for NS, MX and SRV targets inside the zone (RFC 1034 section 4.3.2 step 6)."""
        if res.rcode != NOERROR or not res.aa:
            return
        for rr in res.answer:
            if rr.rrset.rtype in ADDITIONAL_TARGETS:
                for rd in rr.rrset.rdatas:
                    target = rd.target or ""
                    if self._cut(z, target) is None or rr.rrset.rtype == NS:
                        self._glue(z, target, res)
