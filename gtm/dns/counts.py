"""What a process answered, counted without walking its tables: the query path increments ``Entry.hits`` and,
at an entry's first hit since it was last counted, appends it to ``Table.touched``. :class:`Counts` folds the
touched entries into running totals per label set (and sets their hits back to 0) when asked, and when a table
is replaced, with that table's config. A collection costs what was answered since the last one, not the size
of a table or of its caches (a flood of random names fills those). A worker process reports its
:meth:`Counts.totals` to the control process; the control process's Prometheus collector (``gtm.admin.metrics``)
adds them up."""
from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from gtm.dns.signing import STATS
from gtm.dns.table import Entry, Table
from gtm.model import CNAME, TYPE_NAMES, Config, Endpoint
from gtm.model.names import Names

if TYPE_CHECKING:
    from gtm.dns.server import Responder

RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED", 16: "BADVERS"}


EVENTS = ("queries_tcp", "slow_path", "formerr", "dropped", "truncated", "errors", "tcp_rejected", "udp_oversized",
          "udp_send_failed", "udp_recv_errors")


def _answered_regions(e: Entry, config: Config, names: Names) -> tuple[str, ...]:
    """The regions whose endpoints are in this answer. ``Entry.regions`` are the decision's, for both address
    families: an AAAA answer without addresses (NODATA: no region has IPv6 endpoints) answers no region, and a
    multi-value answer may spill over to a region in one family only. A hostname endpoint is in the answer by
    its addresses as resolved (``names``), or as the target of the answer's CNAME."""
    if not e.regions:
        return ()
    answered = {str(rd.fields[0]) for rr in e.resolution.answer if rr.rrset.rtype in (e.qtype, CNAME)
                for rd in rr.rrset.rdatas}

    def there(ep: Endpoint) -> bool:
        if ep.hostname is None:
            return ep.key in answered
        lookup = names.get(ep.hostname)
        return ep.hostname + "." in answered or any(a in answered for a in lookup.v4 + lookup.v6)

    return tuple(r for r in e.regions if r in config.regions and any(there(ep) for ep in config.regions[r].endpoints))


class Counts:
    """The running totals of one process, over its responder's current table and every table before it."""

    def __init__(self) -> None:
        self.responder: Responder | None = None
        self.queries: Counter[tuple[str, str, str]] = Counter()  # folded so far: (zone, qtype, rcode)
        self.answers: Counter[tuple[str, str]] = Counter()       # folded so far: (service, region)
        self.workers: Any = None  # a WorkerPool when worker processes answer the queries: their totals count

    def fold(self, table: Table) -> None:
        """Add what ``table``'s touched entries answered to the running totals (with its config: which
        regions an answer names), and start their counts afresh."""
        touched, table.touched = table.touched, []
        config = table.config
        names = table.health.default.names
        queries, answers = self.queries, self.answers
        for e in touched:
            n = e.hits
            if not n:
                continue  # folded already (an entry shared by two tables)
            e.hits = 0
            res = e.resolution
            # A type we do not know is "other": random types from scanners would otherwise add a label value
            # (a series in Prometheus, and memory here) each, up to 65,536 of them.
            queries[(res.zone or "", TYPE_NAMES.get(e.qtype, "other"), RCODES.get(e.rcode, str(e.rcode)))] += n
            if res.service is not None:
                for region in _answered_regions(e, config, names) or ("none",):
                    answers[(res.service, region)] += n

    def totals(self) -> dict[str, Any]:
        """What this process answered so far: queries by (zone, qtype, rcode), answers by (service, region),
        query-path events and RRL counts (retired tables included). Worker processes report these to the
        control process, whose own totals are then the sum of its workers' (``self.workers``)."""
        r = self.responder
        if r is not None and self.workers is None:
            self.fold(r.table)
        queries, answers = Counter(self.queries), Counter(self.answers)
        events: Counter[str] = Counter()
        rrl: Counter[tuple[str, str]] = Counter()
        if r is not None and self.workers is None:
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
        # what this process signed (gtm.dns.signing), and its workers
        signing: Counter[str] = Counter()
        signing.update({"signatures": STATS.signatures, "cache_hits": STATS.cache_hits})
        signing["seconds"] += STATS.seconds  # type: ignore[assignment]  # (a float total, as Counter allows)
        if self.workers is not None:
            for report in self.workers.reports():
                queries.update(report["queries"])
                answers.update(report["answers"])
                events.update(report["events"])
                rrl.update(report["rrl"])
                signing.update(report["signing"])
        return {"queries": queries, "answers": answers, "events": events, "rrl": rrl, "signing": signing}
