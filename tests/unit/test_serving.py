"""Snapshot and Serving: a new config, a probe's verdict and an operator's override each reach a changed answer
through a new Snapshot and Serving.swap(), the one way; what every swap needs (counts, listeners, the rate
limiter) is wired there. Queries go through the real query path (Responder.answer) as bytes from dnspython."""
from __future__ import annotations

from pathlib import Path

import dns.edns
import dns.message
import pytest

from gtm.admin.metrics import NodeMetrics
from gtm.config import load
from gtm.model import Force, HealthSnapshot
from gtm.model.effective import Overrides
from gtm.serving import Serving, Snapshot

ZONE = """\
zone: t.test
soa: {}
ns: [ns1]
records:
  ns1: {A: 192.0.2.1}
regions:
  r1: {location: {lat: 50, lon: 8}, endpoints: [192.0.2.10]}
  r2: {location: {lat: 39, lon: -77}, endpoints: [192.0.2.20]}
vantages:
  v1: {location: {lat: 50, lon: 8}}
monitors:
  web: {type: tcp, port: 80}
services:
  www: {regions: [r1, r2], policy: failover, monitor: web}
"""
R1 = ("web", "r1", "192.0.2.10")


def write(tmp_path: Path, text: str = ZONE) -> Path:
    (tmp_path / "t.yaml").write_text(text)
    return tmp_path


def www(serving: Serving) -> list[str]:
    wire = serving.responder.answer(dns.message.make_query("www.t.test", "A").to_wire(), "192.0.2.99")
    assert wire is not None
    return [rr.address for rrset in dns.message.from_wire(wire).answer for rr in rrset]


@pytest.fixture
def serving(tmp_path: Path) -> Serving:
    return Serving(Snapshot.first(load([str(write(tmp_path))])), NodeMetrics())


def test_a_verdict_reaches_the_answer_through_swap(serving: Serving) -> None:
    assert www(serving) == ["192.0.2.10"]
    before = serving.table
    assert serving.swap(serving.snapshot.with_health(HealthSnapshot(down_checks=frozenset({R1}))))
    assert www(serving) == ["192.0.2.20"]
    # the same config: static answers are shared, not compiled again
    key = b"\x03ns1\x01t\x04test\x00\x00\x01"
    assert serving.table.entries[key] is before.entries[key]
    assert serving.swap(serving.snapshot.with_health(HealthSnapshot()))
    assert www(serving) == ["192.0.2.10"]


def test_an_override_reaches_the_answer_and_beats_the_verdict(serving: Serving) -> None:
    serving.swap(serving.snapshot.with_overrides(Overrides((Force("drain", "r1"),), 1)))
    assert www(serving) == ["192.0.2.20"]
    assert serving.table.health.forces == (Force("drain", "r1"),)
    # the probers say r2 is down too: r1 stays drained, fail_open answers r2 as if up
    serving.swap(serving.snapshot.with_health(HealthSnapshot(down_checks=frozenset({("web", "r2", "192.0.2.20")}))))
    assert www(serving) == ["192.0.2.20"]
    serving.swap(serving.snapshot.with_overrides(Overrides((Force("drain", "r1"), Force("up", "r1")), 2)))
    assert www(serving) == ["192.0.2.10"]


def test_a_snapshot_that_answers_alike_keeps_the_table(serving: Serving) -> None:
    """RTT values move with every report; only their order per vantage changes rankings."""
    first = serving.snapshot.with_health(HealthSnapshot(rtt_ms=((("v1", "r1"), 10.0), (("v1", "r2"), 90.0))))
    serving.swap(first)
    table, swaps = serving.table, serving.swaps
    assert not serving.swap(serving.snapshot.with_health(
        HealthSnapshot(rtt_ms=((("v1", "r1"), 11.0), (("v1", "r2"), 80.0)))))
    assert serving.table is table and serving.swaps == swaps
    assert serving.snapshot.health.rtt()[("v1", "r1")] == 11.0  # the newest health is kept all the same
    assert serving.swap(serving.snapshot.with_health(
        HealthSnapshot(rtt_ms=((("v1", "r1"), 95.0), (("v1", "r2"), 80.0)))))
    assert serving.table is not table


def test_a_new_config_is_compiled_and_counts_survive_the_swap(tmp_path: Path, serving: Serving) -> None:
    seen: list[tuple[Snapshot, bool]] = []
    serving.listeners.append(lambda snap, new: seen.append((snap, new)))
    for _ in range(3):
        www(serving)
    config = load([str(write(tmp_path, ZONE.replace("192.0.2.10", "192.0.2.11")))])
    new = serving.snapshot.with_config(config, None)
    assert serving.swap(new, serving.prepare(new))
    assert www(serving) == ["192.0.2.11"]
    assert seen == [(new, True)]
    serving.swap(serving.snapshot.with_overrides(Overrides((Force("down", "r2"),))))
    assert seen[-1][1] is False
    # the replaced tables' answers were folded into the metrics' totals, not lost
    assert sum(n for (svc, _), n in serving.counts.totals()["answers"].items() if svc == "t.test/www") == 4


def test_a_prepared_config_gets_what_changed_while_it_compiled(tmp_path: Path, serving: Serving) -> None:
    """A reload compiles off the loop; an override arriving meanwhile is in the snapshot swapped at its end."""
    config = load([str(write(tmp_path, ZONE + "  api: {regions: [r1, r2], policy: failover}\n"))])
    prepared = serving.prepare(serving.snapshot.with_config(config, None))
    serving.swap(serving.snapshot.with_overrides(Overrides((Force("drain", "r1"),))))  # while compiling
    assert www(serving) == ["192.0.2.20"]
    serving.swap(serving.snapshot.with_config(config, None), prepared)
    assert www(serving) == ["192.0.2.20"] and serving.snapshot.config is config
    assert serving.table is not prepared.table and serving.table.config is config


def test_memory_follows_each_new_health(serving: Serving) -> None:
    """last_known_good remembers the verdicts a service last had a region up under, whatever overrides say."""
    serving.swap(serving.snapshot.with_health(HealthSnapshot(down_checks=frozenset({R1}))))
    assert serving.snapshot.effective.last_good("t.test/www") is not None
    assert serving.snapshot.effective.last_good("t.test/www").down_endpoints == {("r1", "192.0.2.10")}  # type: ignore[union-attr]
    both = frozenset({R1, ("web", "r2", "192.0.2.20")})
    serving.swap(serving.snapshot.with_health(HealthSnapshot(down_checks=both)))
    assert serving.snapshot.memory.last_good[0][1].down_endpoints == {("r1", "192.0.2.10")}  # kept from before


def test_the_rate_limiter_is_this_process_share(tmp_path: Path) -> None:
    config = load([str(write(tmp_path, ZONE + "rrl: {answers: 90}\n"))])
    s = Serving(Snapshot.first(config), rrl_share=3)
    assert s.responder.rrl is not None and s.responder.rrl.settings.answers == 30
    limiter = s.responder.rrl
    s.swap(s.snapshot.with_config(load([str(write(tmp_path, ZONE + "rrl: {answers: 90}\n"))]), None))
    assert s.responder.rrl is limiter  # same limits: the buckets are kept
    s.swap(s.snapshot.with_config(load([str(write(tmp_path, ZONE + "rrl: {enabled: false}\n"))]), None))
    assert s.responder.rrl is None


LATENCY = ZONE.replace("policy: failover, monitor: web", "policy: {type: latency, hysteresis: 0.2}, monitor: web")
UK = dns.edns.ECSOption("81.2.69.0", 24)  # a client the embedded GeoIP database locates: nearest vantage v1


def www_from(serving: Serving, ecs: dns.edns.ECSOption) -> list[str]:
    q = dns.message.make_query("www.t.test", "A", use_edns=0, options=[ecs])
    wire = serving.responder.answer(q.to_wire(), "192.0.2.99")
    assert wire is not None
    return [rr.address for rrset in dns.message.from_wire(wire).answer for rr in rrset]


def rtts(r1: float, r2: float) -> HealthSnapshot:
    return HealthSnapshot(rtt_ms=((("v1", "r1"), r1), (("v1", "r2"), r2)))


def test_a_latency_choice_that_moves_without_the_rtt_order_moving_reaches_the_answer(tmp_path: Path) -> None:
    """The hysteresis memory is part of what answers depend on: r2 stays the choice while within 20 % of the
    fastest, and when it falls behind by more the answer moves to r1, though r1 was the fastest all along."""
    serving = Serving(Snapshot.first(load([str(write(tmp_path, LATENCY))])))
    serving.swap(serving.snapshot.with_health(rtts(12.0, 10.0)))   # r2 fastest: chosen
    assert www_from(serving, UK) == ["192.0.2.20"]
    serving.swap(serving.snapshot.with_health(rtts(10.0, 11.5)))   # r1 now fastest, r2 within 20 %: kept
    assert serving.snapshot.memory.choices() == {("t.test/www", "v1"): "r2"} and www_from(serving, UK) == ["192.0.2.20"]
    table = serving.table
    assert serving.swap(serving.snapshot.with_health(rtts(10.0, 12.5)))  # same order, r2 25 % slower: moves
    assert serving.snapshot.memory.choices() == {("t.test/www", "v1"): "r1"}
    assert serving.table is not table and www_from(serving, UK) == ["192.0.2.10"]


def test_a_tie_that_breaks_counts_as_a_new_order(tmp_path: Path) -> None:
    serving = Serving(Snapshot.first(load([str(write(tmp_path, LATENCY.replace(
        "regions: [r1, r2], policy", "regions: [r2, r1], policy")))])))
    serving.swap(serving.snapshot.with_health(rtts(10.0, 10.0)))  # a tie: the service's order, r2 first
    tie = serving.snapshot
    assert serving.swap(serving.snapshot.with_health(rtts(9.9, 10.0)))  # r1 ahead now
    assert serving.snapshot.answer_key != tie.answer_key
