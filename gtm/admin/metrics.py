"""Prometheus metrics of a node, on its own registry, read from plain counters when scraped.

Nothing on the query path calls prometheus-client: answers count themselves (``Entry.hits``, see
``gtm.dns.counts``) and this collector reads the running totals at scrape time; a scrape costs what was answered
since the last one, never a walk of the answer tables. Scrapes are coalesced by the admin API (one collection
in flight, shared by the scrapes that arrive meanwhile).
"""
from __future__ import annotations

import platform
from collections import Counter
from typing import TYPE_CHECKING, Any, Iterable

from prometheus_client import CollectorRegistry, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from gtm import __version__, steering
from gtm.dns.counts import EVENTS, Counts

if TYPE_CHECKING:
    from gtm.geoip import Locator
    from gtm.health.node import HealthNode

DURATION_BUCKETS = (5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 5e-3, 0.05)

class NodeMetrics(Counts):
    """The registry and the collector over one node's counts (``gtm.dns.counts``), health and GeoIP locator."""

    def __init__(self) -> None:
        super().__init__()
        self.registry = CollectorRegistry(auto_describe=True)
        self.duration = Histogram("gtm_dns_query_duration_seconds",
                                  "Time to answer a UDP query in the server (sampled: 1 query in 64)",
                                  buckets=DURATION_BUCKETS, registry=self.registry)
        self.node: HealthNode | None = None
        self.locator: Locator | None = None
        self.generation = 0                     # configs served (the first is 1)
        self.loaded_at = 0.0                    # when the config in force was loaded (Unix time)
        self.reloads: Counter[str] = Counter()  # "success" / "failure"
        self.admin_guard: Any = None            # the admin API's connection guard (refused, timed out)
        self.names: Any = None                  # the hostname endpoints' resolver (gtm.control.names.NameWatcher)
        self.registry.register(_Collector(self))  # type: ignore[arg-type]
        ProcessCollector(registry=self.registry)  # process_cpu_seconds_total, memory, open descriptors

    def service_totals(self) -> Counter[str]:
        """Answers given per service (by ``zone/key``) so far (retired tables and the current one)."""
        out: Counter[str] = Counter()
        for (service, _), n in self.totals()["answers"].items():
            out[service] += n
        return out

    def _node(self) -> Iterable[Metric]:
        info = GaugeMetricFamily("gtm_build_info", "gtm's version and Python's (always 1)",
                                 labels=["version", "python"])
        info.add_metric([__version__, platform.python_version()], 1.0)
        yield info
        gen = GaugeMetricFamily("gtm_config_generation", "Configurations served since start (the first is 1)")
        gen.add_metric([], self.generation)
        yield gen
        at = GaugeMetricFamily("gtm_config_loaded_timestamp_seconds",
                               "When the configuration in force was loaded (Unix time): its age is time() - this")
        at.add_metric([], self.loaded_at)
        yield at
        reloads = CounterMetricFamily("gtm_reloads", "Reloads (SIGHUP or --watch), by result", labels=["result"])
        for result in ("success", "failure"):
            reloads.add_metric([result], self.reloads.get(result, 0))
        yield reloads
        guard = self.admin_guard
        if guard is not None:
            conns = CounterMetricFamily("gtm_admin_connections_closed", "Admin API connections the guard closed: "
                                        "over the cap or a client's share (refused), or too slow (timed_out)",
                                        labels=["reason"])
            conns.add_metric(["refused"], guard.refused)
            conns.add_metric(["timed_out"], guard.timed_out)
            yield conns
            held = GaugeMetricFamily("gtm_admin_connections", "Admin API connections open")
            held.add_metric([], len(guard.open))
            yield held

    def collect(self) -> Iterable[Metric]:
        yield from self._node()
        totals = self.totals()
        queries, answers = totals["queries"], totals["answers"]
        r = self.responder
        q = CounterMetricFamily("gtm_dns_queries", "DNS queries answered", labels=["zone", "qtype", "rcode"])
        for qkey, n in sorted(queries.items()):
            q.add_metric(list(qkey), n)
        yield q
        a = CounterMetricFamily("gtm_answers", "Answers of managed names, by region answered",
                                labels=["zone", "service", "region"])
        for (ref, region), n in sorted(answers.items()):
            zone, _, key = ref.rpartition("/")  # a key has no '/'
            a.add_metric([zone, key, region], n)
        yield a
        if r is not None:
            table = r.table
            c = CounterMetricFamily("gtm_dns_events", "Unusual events on the query path", labels=["event"])
            for name in EVENTS + ("queries_udp",):
                c.add_metric([name], totals["events"].get(name, 0))
            yield c
            rl = CounterMetricFamily("gtm_rrl_responses", "UDP responses held back by response rate limiting",
                                     labels=["kind", "action"])
            for (kind, action), n in sorted(totals["rrl"].items()):
                rl.add_metric([kind, action], n)
            yield rl
            if table.signers:
                yield from self._dnssec(table, totals["signing"])
            if self.workers is not None:
                w = GaugeMetricFamily("gtm_workers", "Worker processes answering queries", labels=["state"])
                w.add_metric(["running"], self.workers.running())
                yield w
                restarts = CounterMetricFamily("gtm_worker_restarts", "Worker processes restarted after dying")
                restarts.add_metric([], self.workers.restarts)
                yield restarts
            forced = GaugeMetricFamily("gtm_overrides", "Operators' overrides in force", labels=["action"])
            counts = Counter(f.action for f in table.health.forces)
            for action in ("drain", "down", "up"):
                forced.add_metric([action], counts.get(action, 0))
            yield forced
            healthy = GaugeMetricFamily("gtm_healthy_regions", "Candidate regions with an endpoint up",
                                        labels=["zone", "service"])
            for svc in table.config.services:
                healthy.add_metric([svc.zone[:-1] or ".", svc.key], len(steering.healthy_regions(svc, table.config, table.health)))
            yield healthy
        node = self.node
        if node is not None:
            yield from self._health(node)
        book = getattr(self.names, "book", None)
        if book is not None and book.records:
            yield from self._hostnames(book)
        if self.locator is not None:
            g = CounterMetricFamily("gtm_geoip_lookups", "Client locations looked up", labels=["result"])
            g.add_metric(["found"], self.locator.lookups - self.locator.misses)
            g.add_metric(["missing"], self.locator.misses)
            yield g

    def _hostnames(self, book: Any) -> Iterable[Metric]:
        """Hostname endpoints: each name's state and the age of its last good answer, its addresses, and the
        lookups made and failed by kind."""
        now = book.clock()
        state = GaugeMetricFamily("gtm_hostname_state", "Hostname endpoint's state (1 for the state it is in)",
                                  labels=["hostname", "state"])
        age = GaugeMetricFamily("gtm_hostname_age_seconds", "Age of a hostname's last good answer",
                                labels=["hostname"])
        count = GaugeMetricFamily("gtm_hostname_addresses", "Addresses a hostname resolves to (last good answer)",
                                  labels=["hostname"])
        for name, rec in sorted(book.records.items()):
            for st in ("ok", "stale", "failed", "unresolved"):
                state.add_metric([name, st], 1.0 if rec.lookup.state == st else 0.0)
            a = rec.age(now)
            if a is not None:
                age.add_metric([name], a)
            count.add_metric([name], len(rec.lookup.v4) + len(rec.lookup.v6))
        yield from (state, age, count)
        looked = CounterMetricFamily("gtm_hostname_lookups", "Hostname lookups made")
        looked.add_metric([], book.lookups)
        yield looked
        failed = CounterMetricFamily("gtm_hostname_lookup_failures", "Hostname lookups that gave no address, by "
                                     "kind (timeout, servfail, nxdomain, no address, bad answer)", labels=["kind"])
        for kind, n in sorted(book.failures.items()):
            failed.add_metric([kind], n)
        yield failed

    def _health(self, node: "HealthNode") -> Iterable[Metric]:
        ep = GaugeMetricFamily("gtm_endpoint_up", "Endpoint verdict (1 up, 0 down)",
                               labels=["monitor", "region", "address"])
        for (mon, region, addr), up in sorted(node.state.verdicts.items()):
            ep.add_metric([mon, region, addr], 1.0 if up else 0.0)
        yield ep
        rg = GaugeMetricFamily("gtm_region_up", "Region verdict per monitor (1 up, 0 down)",
                               labels=["monitor", "region"])
        for (mon, region), up in sorted(node.state.regions.items()):
            rg.add_metric([mon, region], 1.0 if up else 0.0)
        yield rg
        if node.verifier is not None and node.verifier.offset is not None:
            off = GaugeMetricFamily("gtm_clock_offset_seconds", "This node's clock minus the timestamp of the last "
                                    "authenticated probe report (signed answers carry this clock's time)")
            off.add_metric([], node.verifier.offset)
            yield off
        rtt = GaugeMetricFamily("gtm_probe_rtt_seconds", "Smoothed probe RTT per vantage and region",
                                labels=["vantage", "region"])
        for (v, region), ms in sorted(node.state.rtt.items()):
            rtt.add_metric([v, region], ms / 1000.0)
        yield rtt
        res = CounterMetricFamily("gtm_probe_results", "Probe observations received", labels=["vantage", "result"])
        for (v, result), n in sorted(node.results.items()):
            res.add_metric([v, result], n)
        yield res
        rej = CounterMetricFamily("gtm_reports_rejected", "Reports refused", labels=["reason"])
        for reason, n in sorted(node.rejected.items()):
            rej.add_metric([reason], n)
        yield rej
        acc = CounterMetricFamily("gtm_reports_accepted", "Reports applied")
        acc.add_metric([], node.accepted)
        yield acc
        ign = CounterMetricFamily("gtm_report_observations_ignored", "Observations naming no known check")
        ign.add_metric([], node.ignored)
        yield ign
        tr = CounterMetricFamily("gtm_health_transitions", "Verdict changes", labels=["kind", "state"])
        for (kind, state), n in sorted(node.transition_counts.items()):
            tr.add_metric([kind, state], n)
        yield tr
        gen = GaugeMetricFamily("gtm_health_generation", "Health snapshots published")
        gen.add_metric([], node.generation)
        yield gen


    def _dnssec(self, table: Any, signing: Counter[str]) -> Iterable[Metric]:
        """Signed zones: what was signed (every process), the window of the signatures served, and the clock."""
        made = CounterMetricFamily("gtm_dnssec_signatures", "RRSIGs made (each RRset signed once per key and window)")
        made.add_metric([], signing.get("signatures", 0))
        yield made
        spent = CounterMetricFamily("gtm_dnssec_signing_seconds", "Time spent making RRSIGs")
        spent.add_metric([], signing.get("seconds", 0.0))
        yield spent
        hits = CounterMetricFamily("gtm_dnssec_signature_cache_hits", "RRsets whose RRSIGs were made already")
        hits.add_metric([], signing.get("cache_hits", 0))
        yield hits
        expiry = GaugeMetricFamily("gtm_dnssec_signature_expiry_timestamp_seconds",
                                   "When the signatures served now expire (renewed a period before)", labels=["zone"])
        inception = GaugeMetricFamily("gtm_dnssec_signature_inception_timestamp_seconds",
                                      "When the signatures served now became valid", labels=["zone"])
        for origin, signer in sorted(table.signers.items()):
            expiry.add_metric([origin[:-1] or "."], signer.expiration)
            inception.add_metric([origin[:-1] or "."], signer.inception)
        yield expiry
        yield inception


class _Collector:
    def __init__(self, metrics: NodeMetrics):
        self.metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self.metrics.collect()

    def describe(self) -> Iterable[Metric]:
        return []
