"""What a process answered, counted without touching the query path: answers count themselves
(``Entry.hits``, one integer increment) and :class:`Counts` sums them per label set when asked. Counts of answer
tables that are replaced (reload, health change) or evicted from a table's cache are folded into running
totals first, so totals never go backwards. A worker process reports its :meth:`Counts.totals` to the control
process; the control process's Prometheus collector (``gtm.admin.metrics``) adds them up."""
from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any, Iterable

from gtm.dns.table import Entry, Steered, Table
from gtm.model import TYPE_NAMES, Config

if TYPE_CHECKING:
    from gtm.dns.server import Responder

RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED", 16: "BADVERS"}


EVENTS = ("queries_tcp", "slow_path", "formerr", "dropped", "truncated", "errors", "tcp_rejected")


def _entries(table: Table, steered_only: bool = False) -> Iterable[Entry]:
    seen: set[int] = set()
    for v in list(table.entries.values()) + list(table.cache.values()):
        if isinstance(v, Steered):
            for e in list(v.by_ranking.values()) + v.rotation:
                if id(e) not in seen:
                    seen.add(id(e))
                    yield e
        elif not steered_only and id(v) not in seen:
            seen.add(id(v))
            yield v


def _answered_regions(e: Entry, config: Config) -> tuple[str, ...]:
    """The regions whose endpoints are in this answer. ``Entry.regions`` are the decision's, for both address
    families: an AAAA answer without addresses (NODATA: no region has IPv6 endpoints) answers no region, and a
    multi-value answer may spill over to a region in one family only."""
    if not e.regions:
        return ()
    answered = {str(rd.fields[0]) for rr in e.resolution.answer if rr.rrset.rtype == e.qtype
                for rd in rr.rrset.rdatas}
    return tuple(r for r in e.regions if r in config.regions
                 and any(str(ep.address) in answered for ep in config.regions[r].endpoints))


class Counts:
    """The running totals of one process, over its responder's current table and every table before it."""

    def __init__(self) -> None:
        self.responder: Responder | None = None
        self.queries: Counter[tuple[str, str, str]] = Counter()  # retired tables: (zone, qtype, rcode)
        self.answers: Counter[tuple[str, str]] = Counter()       # retired tables: (service, region)
        self.workers: Any = None  # a WorkerPool when worker processes answer the queries: their totals count

    def evicted(self, table: Table, entries: list[Entry | Steered]) -> None:
        """Fold the counts of answers dropped from a table's bounded cache into the running totals."""
        seen: set[int] = set()
        for v in entries:
            for e in (list(v.by_ranking.values()) + v.rotation) if isinstance(v, Steered) else [v]:
                if id(e) not in seen:  # a rotation repeats its entries
                    seen.add(id(e))
                    self._count(e, table.config, self.queries, self.answers)

    def retire(self, table: Table, steered_only: bool) -> None:
        """Fold the counts of a table being replaced into the running totals."""
        for e in _entries(table, steered_only):
            self._count(e, table.config, self.queries, self.answers)

    def _count(self, e: Entry, config: Config, queries: Counter[tuple[str, str, str]],
               answers: Counter[tuple[str, str]]) -> None:
        if not e.hits:
            return
        res = e.resolution
        # A type we do not know is "other": random types from scanners would otherwise add a label value (a
        # series in Prometheus, and memory here) each, up to 65,536 of them.
        queries[(res.zone or "", TYPE_NAMES.get(e.qtype, "other"), RCODES.get(e.rcode, str(e.rcode)))] += e.hits
        if res.service is not None:
            for region in _answered_regions(e, config) or ("none",):
                answers[(res.service, region)] += e.hits

    def totals(self) -> dict[str, Any]:
        """What this process answered so far: queries by (zone, qtype, rcode), answers by (service, region),
        query-path events and RRL counts (retired tables included). Worker processes report these to the
        control process, whose own totals are then the sum of its workers' (``self.workers``)."""
        queries, answers = Counter(self.queries), Counter(self.answers)
        events: Counter[str] = Counter()
        rrl: Counter[tuple[str, str]] = Counter()
        r = self.responder
        if r is not None and self.workers is None:
            table = r.table
            for e in _entries(table):
                self._count(e, table.config, queries, answers)
            for rcode, n in r.stats.rcodes.items():
                queries[("", "", RCODES.get(rcode, str(rcode)))] += n
            for name in EVENTS:
                events[name] = getattr(r.stats, name)
            events["queries_udp"] = r.udp_queries()
            if r.rrl is not None:
                for kind, n in r.rrl.stats.limited.items():
                    rrl[(kind, "dropped")] += n
                for kind, n in r.rrl.stats.slipped.items():
                    rrl[(kind, "slipped")] += n
        if self.workers is not None:
            for report in self.workers.reports():
                queries.update(report["queries"])
                answers.update(report["answers"])
                events.update(report["events"])
                rrl.update(report["rrl"])
        return {"queries": queries, "answers": answers, "events": events, "rrl": rrl}
