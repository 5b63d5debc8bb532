"""Bounds of the answer tables: the lazily filled cache, CNAME chain length, ANY's one RRset."""
from __future__ import annotations

from pathlib import Path

import dns.message
import dns.rcode

from gtm.config import load
from gtm.dns import table as table_mod
from gtm.dns.server import Responder
from gtm.dns.table import Table

ZONE = """\
zone: t.test
soa: {}
ns: [ns1]
records:
  ns1: {A: 192.0.2.1}
  multi: {A: 192.0.2.7, TXT: hello, MX: "10 ns1"}
"""


def _table(tmp_path: Path, extra: str = "") -> Table:
    (tmp_path / "t.yaml").write_text(ZONE + extra)
    return Table(load([str(tmp_path)]))


def test_cache_of_lazy_answers_is_bounded(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(table_mod, "CACHE_LIMIT", 50)
    t = _table(tmp_path)
    for i in range(120):
        label = f"x{i}".encode()
        t.lookup(bytes([len(label)]) + label + b"\x01t\x04test\x00\x00\x01", f"x{i}.t.test.", 1)
        assert len(t.cache) <= 50
    assert len(t.cache) > 0


def test_cname_chains_stop_after_eight_hops(tmp_path: Path) -> None:
    chain = "".join(f"  c{i}: {{CNAME: c{i + 1}}}\n" for i in range(12)) + "  c12: {A: 192.0.2.12}\n"
    t = _table(tmp_path, chain)
    r = Responder(t)
    reply = dns.message.from_wire(r.answer(dns.message.make_query("c0.t.test", "A").to_wire(), "192.0.2.1"))
    assert reply.rcode() == dns.rcode.NOERROR
    assert [rrset.name.to_text() for rrset in reply.answer] == [f"c{i}.t.test." for i in range(8)]
    short = dns.message.from_wire(r.answer(dns.message.make_query("c6.t.test", "A").to_wire(), "192.0.2.1"))
    assert short.answer[-1].to_text() == "c12.t.test. 3600 IN A 192.0.2.12"


def test_any_answers_the_lowest_type(tmp_path: Path) -> None:
    r = Responder(_table(tmp_path))
    reply = dns.message.from_wire(r.answer(dns.message.make_query("multi.t.test", "ANY").to_wire(), "192.0.2.1"))
    assert [rrset.to_text() for rrset in reply.answer] == ["multi.t.test. 3600 IN A 192.0.2.7"]


def test_replaced_tables_are_freed_without_the_cyclic_collector(tmp_path: Path) -> None:
    """The runtime freezes long-lived objects out of the cyclic GC; a table replaced on a health change must
    then be freed by reference counting alone, so it may hold no reference cycle (Steered included)."""
    import gc
    import weakref

    from gtm.model import HealthSnapshot
    from gtm.model.effective import Overrides
    from gtm.state.overrides import apply

    extra = ("regions:\n  r1: {location: {lat: 1, lon: 2}, endpoints: [192.0.2.10]}\n"
             "  r2: {location: {lat: 3, lon: 4}, endpoints: [192.0.2.20]}\n"
             "services:\n  www: {regions: [r1, r2], policy: {type: weighted, weights: {r1: 3, r2: 1}}}\n"
             "  geo: {regions: [r1, r2], policy: proximity}\n")
    table = _table(tmp_path, extra)
    gc.disable()
    try:
        refs, envs = [], []
        for i in range(20):
            new = table.with_health(apply(Overrides(), HealthSnapshot(down_regions=frozenset({"r1"} if i % 2 else set())),
                                                 table.config.services))
            for v in new.entries.values():
                if getattr(v, "steered", False):
                    v.pick("192.0.2.1")
            refs.append(weakref.ref(table))
            envs.append(table.env)  # a TableEnv does not refer to its Steered entries: holding it keeps none alive
            table = new
        assert sum(1 for r in refs if r() is not None) == 0
        from gtm.dns.table import Steered

        old = {id(e) for e in envs}
        assert [o for o in gc.get_objects() if isinstance(o, Steered) and id(o.table) in old] == []
    finally:
        gc.enable()


def test_unknown_query_types_share_one_metrics_label(tmp_path: Path) -> None:
    """Random types (scanners, fuzzers) must not grow the query counters (and Prometheus series) one label
    value per type: a type gtm does not know counts as "other"."""
    from gtm.admin.metrics import NodeMetrics

    r = Responder(_table(tmp_path))
    metrics = NodeMetrics()
    metrics.responder = r
    for qtype in range(65000, 65100):
        r.answer(dns.message.make_query("multi.t.test", qtype).to_wire(), "192.0.2.1")
    r.answer(dns.message.make_query("multi.t.test", "TXT").to_wire(), "192.0.2.1")
    queries = metrics.totals()["queries"]
    assert queries[("t.test.", "other", "NOERROR")] == 100
    assert queries[("t.test.", "TXT", "NOERROR")] == 1
    assert not [k for k in queries if k[1].startswith("TYPE") or k[1].isdigit()]
