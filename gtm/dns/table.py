"""Answer tables: every answer as ready wire bytes, built ahead of the queries that need them.

A :class:`Table` is built from a Config (and, from the steering issue on, from health and overrides) and is
never changed afterwards except for its bounded cache of lazily compiled answers; a reload builds a new
Table and swaps the reference, so a query sees either the old or the new table, never a mix.

Keys are the question name in lower-case wire form followed by the 2-byte QTYPE, exactly as the query
carries them, so the query path looks an answer up with one slice, one ``lower()`` and one dict access.
"""
from __future__ import annotations

import logging
import struct
from typing import Callable, Mapping

from gtm.dns.authority import NOERROR, RR, Authority, Resolution, ZoneIndex
from gtm.dns.codec import AA, QR, TC, Writer, name_to_wire
from gtm.model import A, AAAA, Config, Rdata, RRset, Service

log = logging.getLogger(__name__)

CACHE_LIMIT = 20_000  # lazily compiled answers (negative answers, wildcards, REFUSED) kept per table


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

    __slots__ = ("heads", "tc_heads", "body", "lean_heads", "lean_body", "rcode", "scope", "resolution")

    def __init__(self, res: Resolution, qname_wire: bytes, scope: int = 0):
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


ServiceAnswers = Callable[[Service, Config], Mapping[int, RRset]]


def first_regions_answer(service: Service, config: Config) -> Mapping[int, RRset]:
    """Client-independent answer of a service: the endpoints of its first ``answers`` regions.

    This is the answer for a client the policy knows nothing about, with every region healthy; per-client
    answers come with the steering engine.
    """
    out: dict[int, list[Rdata]] = {A: [], AAAA: []}
    for name in service.regions[: service.answers]:
        for ep in config.regions[name].endpoints:
            if ep.weight > 0:
                t = A if ep.address.version == 4 else AAAA
                out[t].append(Rdata(t, (str(ep.address),)))
    return {t: RRset("", t, service.ttl, tuple(rds)) for t, rds in out.items() if rds}


class Table:
    """All answers of one configuration; see the module docstring."""

    def __init__(self, config: Config, service_answers: ServiceAnswers = first_regions_answer):
        self.config = config
        indexes = []
        for zone in config.zones.values():
            managed: dict[str, tuple[str, Mapping[int, RRset]]] = {}
            for svc in zone.services:
                sets = service_answers(svc, config)
                for name in svc.names:
                    managed[name] = (svc.key, {t: RRset(name, t, rs.ttl, rs.rdatas) for t, rs in sets.items()})
            indexes.append(ZoneIndex(zone, managed))
        self.authority = Authority(indexes)
        self.entries: dict[bytes, Entry] = {}
        self.cache: dict[bytes, Entry] = {}
        for z in indexes:
            for name in z.exists:
                for rtype in z.types_at(name):
                    self._compile(name, rtype, self.entries)

    def _compile(self, qname: str, qtype: int, into: dict[bytes, Entry]) -> Entry:
        wire = name_to_wire(qname)
        res = self.authority.resolve(qname, qtype)
        entry = Entry(res, wire)
        into[wire + struct.pack("!H", qtype)] = entry
        return entry

    def lookup(self, key: bytes, qname: str, qtype: int) -> Entry:
        """The entry for ``key`` (lower-case wire name + QTYPE), compiling and caching it when new."""
        entry = self.entries.get(key) or self.cache.get(key)
        if entry is None:
            if len(self.cache) >= CACHE_LIMIT:
                self.cache.clear()  # bounded: a flood of random names cannot grow memory
            res = self.authority.resolve(qname, qtype)
            entry = Entry(res, key[:-2])
            self.cache[key] = entry
        return entry

    def summary(self) -> str:
        zones = self.config.zones.values()
        return (f"{len(self.config.zones)} zones, {sum(z.record_count() for z in zones)} records, "
                f"{len(self.config.services)} services, {len(self.entries)} precompiled answers")


__all__ = ["Entry", "Table", "first_regions_answer", "NOERROR", "RR"]
