"""Answer tables: every answer as ready wire bytes, built ahead of the queries that need them.

A :class:`Table` is built from a snapshot (the Config and the health) and is never changed afterwards except
for its bounded caches of lazily compiled answers; a reload or a health change builds a new Table and swaps
the reference, so a query sees either the old or the new table, never a mix.

Managed names (services) are :class:`Steered` entries: one compiled answer per client class, where a class
is what the service's policy cannot tell apart (a geo rule, a nearest-vantage cell, a distance ranking, a
hash bucket). The query path asks a Steered entry for the client's :class:`Entry` and renders it like any.

Keys are the question name in lower-case wire form followed by the 2-byte QTYPE, exactly as the query
carries them, so the query path looks an answer up with one slice, one ``lower()`` and one dict access.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
import logging
import math
import struct
from fractions import Fraction
from typing import Callable, Mapping

from gtm import steering
from gtm.dns.authority import NOERROR, NXDOMAIN, RR, Authority, Resolution, ZoneIndex
from gtm.dns.codec import AA, QR, TC, Writer, name_to_wire
from gtm.dns.signing import ZoneSigner, signed_resolution, signers
from gtm.model import A, AAAA, ANY, CNAME, NOWHERE, Config, GeoInfo, IPAddress, Rdata, RRset, Service, WeightedPolicy
from gtm.model.effective import Effective
from gtm.steering import Client, Decision, Ranking

log = logging.getLogger(__name__)

CACHE_LIMIT = 20_000  # lazily compiled answers (negative answers, wildcards, REFUSED) kept per table
PRECOMPILE_LIMIT = 200_000  # answers compiled ahead at most; bigger zones compile the rest on first query


class Entry:
    """One compiled answer for one (name, type) and one client class.

    ``heads[rd * 2 + edns]`` is flags + the four counts for that combination; ``tc_heads`` the same for the
    truncated form (question only). ``body`` holds the answer, authority and additional sections, compressed
    against the question at offset 12, so it fits any spelling of the question name.

    ``lean_heads``/``lean_body`` are the same answer without its additional section, or None when there is
    none to drop or it may not be dropped. When the whole answer does not fit a UDP reply, the lean one is
    tried before setting TC: additional records are extra information, and "the TC bit should not be set
    merely because some extra information could have been included" (RFC 2181 section 9). A referral's glue
    is not optional (RFC 9471), so referrals have no lean form. Cutting the body short is safe because
    compression pointers only point backwards.
    """

    steered = False
    __slots__ = ("heads", "tc_heads", "body", "lean_heads", "lean_body", "rcode", "scope", "resolution", "hits",
                 "qtype", "regions", "dnssec", "co")

    def __init__(self, res: Resolution, qname_wire: bytes, scope: int = 0, qtype: int = 0,
                 regions: tuple[str, ...] = ()):
        self.hits = 0          # queries answered with it since the counts last folded it (see Table.touched)
        # A signed zone's answer: its DO=1 form (an Entry, or a _Pending one until the first DO=1 query for an
        # answer compiled on first query); None for an unsigned zone's. ``co``: a compact NXDOMAIN's form for a
        # query with RFC 9824's CO flag (rcode NXDOMAIN instead of NOERROR).
        self.dnssec: "Entry | _Pending | None" = None
        self.co: "Entry | None" = None
        self.qtype = qtype
        self.regions = regions  # for a managed name: the regions whose endpoints are in the answer
        w = Writer(qname_wire, 12 + len(qname_wire) + 4)
        counts = []
        cut = 0
        for section in (res.answer, res.authority, res.additional):
            cut = len(w.buf)
            n = 0
            for rr in section:
                for rd in rr.rrset.rdatas:
                    w.rr(rr.owner, rr.rrset.rtype, rr.rrset.ttl, rd)
                    n += 1
            counts.append(n)
        self.body = bytes(w.buf)
        self.rcode = res.rcode
        self.scope = scope
        self.resolution = res
        flags = QR | (AA if res.aa else 0) | res.rcode
        self.heads = tuple(struct.pack("!HHHHH", flags | (0x100 if v >> 1 else 0), 1, counts[0], counts[1],
                                       counts[2] + (v & 1)) for v in range(4))
        self.tc_heads = tuple(struct.pack("!HHHHH", flags | TC | (0x100 if v >> 1 else 0), 1, 0, 0, v & 1)
                              for v in range(4))
        self.lean_heads: tuple[bytes, ...] | None = None
        self.lean_body: bytes | None = None
        if counts[2] and res.aa:
            self.lean_body = self.body[:cut]
            self.lean_heads = tuple(struct.pack("!HHHHH", flags | (0x100 if v >> 1 else 0), 1, counts[0],
                                                counts[1], v & 1) for v in range(4))


class _Pending:
    """The DO=1 form of an answer not signed yet (see ``Entry.dnssec``): :meth:`build` signs it. Holds what
    signing needs, not the entry (which refers to it: a cycle otherwise)."""

    __slots__ = ("env", "res", "wire", "qname", "qtype", "scope", "regions")

    def __init__(self, env: "TableEnv", res: Resolution, wire: bytes, qname: str, qtype: int, scope: int,
                 regions: tuple[str, ...]):
        self.env, self.res, self.wire, self.qname = env, res, wire, qname
        self.qtype, self.scope, self.regions = qtype, scope, regions

    def build(self) -> Entry:
        got = signed_resolution(self.res, self.qname, self.qtype, self.env.authority, self.env.signers)
        assert got is not None  # (made only for an answer of a signed zone: see compiled)
        res, nx = got
        signed = Entry(res, self.wire, self.scope, self.qtype, self.regions)
        signed.rcode = self.res.rcode  # counted as what it is: a compact NXDOMAIN is sent as NOERROR
        if nx:
            signed.co = Entry(replace(res, rcode=NXDOMAIN), self.wire, self.scope, self.qtype, self.regions)
        return signed


def compiled(env: "TableEnv", res: Resolution, wire: bytes, qname: str, qtype: int, scope: int = 0,
             regions: tuple[str, ...] = (), lazy: bool = False) -> Entry:
    """The Entry of ``res``; in a signed zone with its DO=1 form, signed now or (``lazy``) at the first DO=1
    query."""
    entry = Entry(res, wire, scope, qtype, regions)
    if env.signers and res.zone in env.signers:
        pending = _Pending(env, res, wire, qname, qtype, scope, regions)
        entry.dnssec = pending if lazy else pending.build()
    return entry


Locate = Callable[[IPAddress], GeoInfo]
STEER_CACHE_LIMIT = 50_000  # client networks remembered per steered name and table
ROTATION_LIMIT = 4096       # longest weighted rotation (weights are scaled down to fit)


def client_of(key: bytes | str | None, locate: Locate | None) -> Client:
    """The client a table key stands for: ECS option bytes (FAMILY, SOURCE, SCOPE, ADDRESS as on the wire),
    a source address string, or None (unknown)."""
    if key is None:
        return Client()
    if isinstance(key, bytes):
        source, width = key[2], (4 if key[1] == 1 else 16)
        if source == 0:  # RFC 7871 section 7.1.2: the client asked that its address not be used
            return Client()
        address = ipaddress.ip_address(key[4:] + b"\0" * (width - len(key) + 4))
    else:
        address = ipaddress.ip_address(key.partition("%")[0])
        if address.version == 6 and address.ipv4_mapped is not None:
            # an IPv4 client seen through a dual-stack IPv6 socket (::ffff:a.b.c.d): locate and hash it as the
            # IPv4 address it is (the databases and the ecs_scope.v4 setting are about IPv4)
            address = address.ipv4_mapped
        source = address.max_prefixlen
    return Client(address, source, locate(address) if locate is not None else NOWHERE)


@dataclass(frozen=True)
class TableEnv:
    """What a Steered entry needs of its table. Not the Table itself: a Table refers to its entries, and an
    entry referring back would make a reference cycle, which only the cyclic garbage collector could free;
    the runtime freezes long-lived objects out of that collector's reach (``gc.freeze``) to keep its pauses
    off the query path, so replaced tables must be freed by reference counting alone."""

    config: Config
    health: Effective
    locate: "Locate | None"
    context: steering.Context
    authority: Authority
    signers: Mapping[str, ZoneSigner] = field(default_factory=dict)  # the signed zones' (gtm.dns.signing)


class Steered:
    """The answers of one managed name and type, one compiled :class:`Entry` per client class.

    :meth:`pick` maps a client key (see :func:`client_of`) to its entry: remembered per key, else ranked by the
    service's policy (``steering.rank``), decided (``steering.choose``) and compiled once per ranking. A weighted
    service without affinity instead hands out a precomputed rotation whose frequencies are the weights.
    """

    steered = True
    __slots__ = ("table", "base", "service", "rtype", "qname_wire", "by_client", "by_ranking", "rotation",
                 "turn", "qtype")

    def __init__(self, table: "TableEnv", base: Resolution, service: Service, rtype: int, qname_wire: bytes,
                 qtype: int | None = None):
        self.table, self.base, self.service, self.rtype = table, base, service, rtype
        self.qtype = rtype if qtype is None else qtype  # (differs for a CNAME service's MX, TXT, ... questions)
        self.qname_wire = qname_wire
        self.by_client: dict[bytes | str | None, Entry] = {}
        self.by_ranking: dict[tuple[object, ...], Entry] = {}
        self.rotation: list[Entry] = []
        self.turn = 0
        if isinstance(service.policy, WeightedPolicy) and not service.affinity:
            self.rotation = self._rotation()

    def pick(self, key: bytes | str | None) -> Entry:
        """The entry for a client key. (A method, not a bound method stored on the instance: that would be a
        reference cycle, which reference counting alone cannot free.)"""
        if self.rotation:
            self.turn = (self.turn + 1) % len(self.rotation)
            return self.rotation[self.turn]
        entry = self.by_client.get(key)
        if entry is None:
            if len(self.by_client) >= STEER_CACHE_LIMIT:
                self.by_client.clear()
            client = client_of(key, self.table.locate)
            ranking = steering.rank(self.service, client, self.table.context)
            entry = self.for_ranking(ranking)
            self.by_client[key] = entry
        return entry

    def decision(self, ranking: Ranking, first: str | None = None, lead: steering.Lead | None = None) -> Decision:
        return steering.choose(self.service, ranking, self.table.config, self.table.health, first=first, lead=lead)

    def for_ranking(self, ranking: Ranking, first: str | None = None, lead: steering.Lead | None = None) -> Entry:
        key = (ranking.order, ranking.scope, first, tuple(sorted((lead or {}).items())))
        entry = self.by_ranking.get(key)
        if entry is None:
            entry = self.compile(self.decision(ranking, first, lead), ranking.scope)
            self.by_ranking[key] = entry
        return entry

    def compile(self, decision: Decision, scope: int) -> Entry:
        """The base resolution with the placeholder replaced by the decision's addresses, or by its CNAME
        (followed to the target's data where the target is in one of our zones: RFC 1034 section 4.3.2)."""
        base = self.base
        assert base.steered is not None
        addrs = decision.addresses(self.rtype) if self.rtype in (A, AAAA) else ()
        res = Resolution(base.rcode, base.aa, list(base.answer), list(base.authority), list(base.additional),
                         base.zone, base.service)
        at = res.answer.index(base.steered)
        if decision.cname is not None:
            owner = base.steered.owner
            target = decision.cname + "."
            res.answer[at] = RR(owner, RRset(owner, CNAME, base.steered.rrset.ttl, (Rdata(CNAME, (target,)),)))
            if self.qtype not in (CNAME, ANY):
                self._follow(res, target)
        elif addrs:
            owner = base.steered.owner
            rrset = RRset(owner, self.rtype, base.steered.rrset.ttl, tuple(Rdata(self.rtype, (a,)) for a in addrs))
            res.answer[at] = RR(owner, rrset)
        else:  # no address of this family (or fail_closed): NODATA, with the SOA (RFC 2308 section 2.2)
            del res.answer[at]
            res.authority.append(self.table.authority.zones[base.zone or ""].negative_soa)
        # (signed at its first DO=1 query: a client class compiled for DO=0 traffic costs no signature)
        return compiled(self.table, res, self.qname_wire, base.steered.owner, self.qtype, scope, decision.regions,
                        lazy=True)

    def _follow(self, res: Resolution, target: str) -> None:
        """The target's answer for the question's type, when the target is in one of our zones (the config
        refuses one that is a managed name): its RRsets after the CNAME, its RCODE (RFC 6604), its negative
        SOA. A target elsewhere is the resolver's to follow."""
        authority = self.table.authority
        z = authority.find_zone(target)
        if z is None or authority._cut(z, target) is not None:  # (below a delegation: another server's data)
            return
        more = authority.resolve(target, self.qtype)
        res.answer += more.answer
        res.authority += more.authority
        res.additional += more.additional
        res.rcode = more.rcode

    def _rotation(self) -> list[Entry]:
        """Entries in smooth weighted round-robin order over (first region, lead endpoints) variants."""
        ranking = steering.rank(self.service, Client(), self.table.context)
        config = self.table.config
        # The draw happens under the health the answer is chosen under: when every region is down, that of
        # last_known_good or fail_open (all up), as in steering.choose; None (fail_closed, static): no draw.
        health = steering.answering_health(self.service, ranking, config, self.table.health)
        healthy = steering.regions_up(self.service, config, health) if health is not None else []
        # Each variant's share is the probability of that draw in steering.choose: the region's weight over the
        # total, times, per family, the lead endpoint's weight over its region's total of that family. (Plain
        # products of the endpoint weights would favour regions with heavier endpoints.)
        shares: list[tuple[Fraction, str | None, steering.Lead | None]] = []
        for region, weight in ranking.weights or ():
            r = config.regions[region]
            if weight <= 0 or region not in healthy:
                continue
            leads: list[tuple[Fraction, steering.Lead | None]] = [(Fraction(1), None)]
            if steering.draws_endpoints(self.service, r, health):
                leads = [(Fraction(1), {})]
                for family in (4, 6):
                    eps = steering.endpoints_of(r, family, health)
                    if eps:
                        total_w = sum(e.weight or 1 for e in eps)
                        leads = [(p * Fraction(e.weight or 1, total_w),
                                  {**lead, (region, family): e.address})  # type: ignore[dict-item]
                                 for p, lead in leads for e in eps]
            shares += [(weight * p, region, lead) for p, lead in leads]
        if not shares:  # nothing healthy with weight: the fail mode decides, the same for every query
            return [self.for_ranking(ranking)]
        scale = math.lcm(*(p.denominator for p, _, _ in shares))
        variants = [(int(p * scale), first, lead) for p, first, lead in shares]
        total = sum(w for w, _, _ in variants)
        if total > ROTATION_LIMIT:
            variants = [(max(1, w * ROTATION_LIMIT // total), r, lead) for w, r, lead in variants]
        divisor = math.gcd(*(w for w, _, _ in variants))
        weights = [w // divisor for w, _, _ in variants]
        current = [0] * len(variants)
        out = []
        for _ in range(sum(weights)):  # smooth weighted round robin: heavy variants spread out, not bunched
            for i, w in enumerate(weights):
                current[i] += w
            i = max(range(len(variants)), key=lambda j: current[j])
            current[i] -= sum(weights)
            _, first, lead = variants[i]
            out.append(self.for_ranking(ranking, first, lead))
        return out


class Table:
    """All answers of one snapshot (the config and the effective health); see the module docstring. Built by
    ``gtm.serving.Snapshot.compile``."""

    def __init__(self, config: Config, health: Effective = Effective(), locate: Locate | None = None,
                 now: float | None = None):
        self.config = config
        self.health = health
        self.locate = locate
        self.context = steering.Context(config, health)
        self.services = {svc.ref: svc for svc in config.services}
        self.authority = Authority([ZoneIndex(zone) for zone in config.zones.values()])
        # signed zones: their signers, over the validity window holding ``now`` (a new window needs a new Table)
        self.signers = signers(config.zones, now, config.dnssec.signature_period)
        self.epoch = int(now) if now is not None and self.signers else 0  # (see gtm.serving.Snapshot.epoch)
        self.env = TableEnv(config, health, locate, self.context, self.authority, self.signers)
        self.entries: dict[bytes, Entry | Steered] = {}
        self.cache: dict[bytes, Entry | Steered] = {}
        # The entries answered since the counts last looked (the query path appends an entry at its first hit):
        # counting costs what was answered, never a walk of the table or its caches (gtm.dns.counts).
        self.touched: list[Entry] = []
        # UDP replies by the query's bytes after its ID (gtm.dns.server._keep): what depends on nothing else.
        self.replies: dict[bytes, tuple[Entry, bytes]] = {}
        # Every answer is compiled ahead while the zones are of ordinary size; past PRECOMPILE_LIMIT answers
        # (a zone of a million records, which is packed) only the apexes and managed names are, the rest on
        # first query (and kept in the bounded cache): loading stays fast and memory proportional to what is
        # asked.
        zones = self.authority.zones.values()
        everything = not any(z.packed for z in zones) and sum(
            len(z.types_at(name)) for z in zones for name in z.names) <= PRECOMPILE_LIMIT
        for z in zones:
            names = z.names if everything else dict.fromkeys([z.origin, *z.managed])
            for name in names:
                for rtype in z.types_at(name):
                    wire = name_to_wire(name)
                    self.entries[wire + struct.pack("!H", rtype)] = self._compile(wire, name, rtype)
        self.lazy = not everything
        # (a packed zone's answers, compiled on first query, are signed at their first DO=1 query: compiled())

    def with_health(self, health: Effective) -> "Table":
        """The same config under new health: static answers are shared, managed names start afresh.

        Cheap (no zone is resolved again), so a health change costs only the steered names' classes, which
        are compiled again as clients arrive."""
        t = Table.__new__(Table)
        t.config, t.health, t.locate = self.config, health, self.locate
        t.context = steering.Context(self.config, health)
        t.services, t.authority, t.signers, t.epoch = self.services, self.authority, self.signers, self.epoch
        t.env = TableEnv(self.config, health, self.locate, t.context, self.authority, self.signers)
        t.entries = {k: (Steered(t.env, v.base, v.service, v.rtype, v.qname_wire, v.qtype) if isinstance(v, Steered)
                         else v)
                     for k, v in self.entries.items()}
        t.cache = {k: v for k, v in self.cache.items() if not isinstance(v, Steered)}
        t.touched = []
        t.replies = {}
        t.lazy = self.lazy
        return t

    def _compile(self, wire: bytes, qname: str, qtype: int, lazy: bool = False) -> Entry | Steered:
        res = self.authority.resolve(qname, qtype)
        if res.steered is not None and res.service is not None:
            return Steered(self.env, res, self.services[res.service], res.steered.rrset.rtype, wire, qtype)
        return compiled(self.env, res, wire, qname, qtype, lazy=lazy)

    def lookup(self, key: bytes, qname: str, qtype: int) -> Entry | Steered:
        """The entry for ``key`` (lower-case wire name + QTYPE), compiling and caching it when new."""
        entry = self.entries.get(key) or self.cache.get(key)
        if entry is None:
            if len(self.cache) >= CACHE_LIMIT:
                self.cache.clear()  # bounded: a flood of random names cannot grow memory (``touched`` keeps counts)
            # signed on the first DO=1 query (a flood of random names without DO costs no signature)
            entry = self._compile(key[:-2], qname, qtype, lazy=True)
            self.cache[key] = entry
        return entry

    def summary(self) -> str:
        zones = self.config.zones.values()
        return (f"{counted(len(self.config.zones), 'zone')}, {counted(sum(z.record_count() for z in zones), 'record')}, "
                f"{counted(len(self.config.services), 'service')}, "
                f"{counted(len(self.entries), 'precompiled answer')}"
                + (" (the rest compiled on first query)" if self.lazy else ""))


def counted(n: int, noun: str) -> str:
    """``1 zone``, ``2 zones``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


__all__ = ["Entry", "Steered", "Table", "client_of", "NOERROR", "RR"]
