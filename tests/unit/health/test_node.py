"""The health node (gtm.health.node.HealthNode): signed reports in, verdicts out. Every refusal has its status and
its reason, is counted, and applies nothing; accepted reports say what they applied; changes are published
once the node is live; the state survives a restart (persist/restore). A controlled clock, real key files."""
from __future__ import annotations

import ipaddress
import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from gtm.health import signing
from gtm.health.node import HealthNode
from gtm.health.signing import HEADER_NONCE, HEADER_SIG
from gtm.model.effective import SteeringMemory
from gtm.steering.memory import advance
from gtm.model import (
    Config, Endpoint, FailoverPolicy, HealthSettings, HealthSnapshot, LatencyPolicy, Location, Monitor, MonitorType,
    Observation, Region, Report, Service, Vantage, Zone,
)

SECRETS = {"a": b"secret-of-vantage-a-0123", "b": b"secret-of-vantage-b-0123", "c": b"secret-of-vantage-c-0123"}
EU1, EU2, US1 = "10.0.1.1", "10.0.1.2", "10.0.2.1"
REGION_OF = {EU1: "eu", EU2: "eu", US1: "us"}
T0 = 1_764_201_000.0


class Clock:
    def __init__(self, now: float = T0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def config(tmp_path: Path, *, keys: bool = True, state_file: bool = True, start_timeout: float = 15.0,
           regions: dict[str, tuple[str, ...]] | None = None) -> Config:
    regions = regions or {"eu": (EU1, EU2), "us": (US1,)}
    if keys:
        (tmp_path / "keys").write_text("".join(f"{k}:{v.decode()}\n" for k, v in SECRETS.items()))
    regs = {n: Region(n, Location(0, 0), tuple(Endpoint(ipaddress.ip_address(a)) for a in addrs))
            for n, addrs in regions.items()}
    web = Monitor("web", MonitorType.HTTP, 80, interval=1.0, timeout=0.5, rise=2, fall=2, quorum=2)
    services = (Service("www", "t.", ("www.t.",), 30, tuple(regs), FailoverPolicy(), "web"),
                Service("fast", "t.", ("fast.t.",), 30, tuple(regs), LatencyPolicy(), "web"))
    health = HealthSettings(keys_file=str(tmp_path / "keys") if keys else None, skew=30.0,
                            state_file=str(tmp_path / "state.json") if state_file else None,
                            start_timeout=start_timeout)
    return Config(zones={"t.": Zone("t.", "test", {}, services)}, regions=regs, monitors={"web": web},
                  vantages={v: Vantage(v, Location(0, 0)) for v in SECRETS}, health=health)


_SEQ = iter(range(1, 1 << 30))


def body(vantage: str, results: dict[str, bool], *, extra: tuple[Observation, ...] = (), seq: int | None = None,
         rtt: float = 10.0) -> bytes:
    """A report body; its seq one more than the last one made (sequence numbers only go up)."""
    seq = next(_SEQ) if seq is None else seq
    observations = tuple(Observation("web", REGION_OF[a], a, ok, rtt if ok else None, "200" if ok else "status 503")
                         for a, ok in results.items()) + extra
    return Report(vantage, T0, seq, 1.0, observations).to_json()


def signed(data: bytes, key_id: str = "a", now: float = T0, secret: bytes | None = None) -> dict[str, str]:
    return signing.sign(data, key_id, secret if secret is not None else SECRETS[key_id], now, "node-a:8053")


def up(*down: str) -> dict[str, bool]:
    return {a: a not in down for a in REGION_OF}


class Published:
    """on_change: every snapshot handed over."""

    def __init__(self) -> None:
        self.snapshots: list[HealthSnapshot] = []

    def __call__(self, snap: HealthSnapshot) -> None:
        self.snapshots.append(snap)


def feed(node: HealthNode, clock: Clock, rounds: int, results: dict[str, dict[str, bool]]) -> None:
    """``rounds`` rounds one second apart, each a signed report of every vantage in ``results``."""
    for _ in range(rounds):
        for v, res in results.items():
            data = body(v, res)
            code, out = node.receive(signed(data, v, clock.now), data)
            assert code == 200, out
        clock.now += 1.0


ALL = {v: up() for v in SECRETS}


# -- receive ---------------------------------------------------------------------------------------------------
def test_an_accepted_report_says_what_it_applied_and_ignored(tmp_path: Path) -> None:
    node = HealthNode(config(tmp_path), clock=Clock())
    data = body("a", {EU1: True, US1: False}, extra=(Observation("web", "eu", "10.9.9.9", True, 1.0),), seq=7)
    assert node.receive(signed(data), data) == (200, {"applied": 2, "ignored": 1})
    assert (node.accepted, node.ignored, dict(node.rejected)) == (1, 1, {})
    assert node.results == {("a", "ok"): 2, ("a", "fail"): 1}
    st = node.status()
    assert st["reports"] == {"accepted": 1, "ignored_observations": 1, "rejected": {}}
    va = {v["name"]: v for v in st["vantages"]}
    assert va["a"]["fresh"] and va["a"]["seq"] == 7 and va["a"]["last_report_age_s"] == 0.0
    assert not va["b"]["fresh"] and va["b"]["seq"] is None
    assert [(x["address"], x["up"]) for x in va["a"]["view"]] == [(EU1, None), (US1, None)]  # not yet rise/fall


def test_signing_header_names_are_case_insensitive(tmp_path: Path) -> None:
    """HTTP header names are case-insensitive; HTTP/2 (and many proxies) send them in lower case."""
    node = HealthNode(config(tmp_path), clock=Clock())
    data = body("a", {EU1: True})
    lower = {k.lower(): v for k, v in signed(data).items()}
    assert node.receive(lower, data) == (200, {"applied": 1, "ignored": 0})


def _forged(data: bytes) -> dict[str, str]:
    h = signed(data)
    h[HEADER_SIG] = signed(data + b" ")[HEADER_SIG]
    return h


REFUSALS = [
    # (name, headers from the body, body, status, reason)
    ("forged signature", _forged, body("a", {EU1: True}), 401, "bad_signature"),
    ("signed with another key's secret", lambda d: signed(d, "a", secret=SECRETS["b"]), body("a", {EU1: True}),
     401, "bad_signature"),
    ("unknown key", lambda d: signed(d, "zz", secret=b"0123456789abcdef"), body("a", {EU1: True}), 401,
     "unknown_key"),
    ("stale", lambda d: signed(d, now=T0 - 31), body("a", {EU1: True}), 401, "stale"),
    ("from the future", lambda d: signed(d, now=T0 + 31), body("a", {EU1: True}), 401, "stale"),
    ("unsigned", lambda d: {}, body("a", {EU1: True}), 401, "unsigned"),
    ("signature headers missing one", lambda d: {k: v for k, v in signed(d).items() if k != HEADER_NONCE},
     body("a", {EU1: True}), 401, "unsigned"),
    ("malformed body", signed, b'{"vantage": "a", "seq": 1}', 400, "malformed"),
    ("not JSON", signed, b"\xff\xfe garbage", 400, "malformed"),
    ("negative rtt", signed, body("a", {EU1: True}, rtt=-1.0), 400, "malformed"),
    ("unknown vantage", signed, Report("mars", T0, 1, 1.0, ()).to_json(), 400, "unknown_vantage"),
]


@pytest.mark.parametrize("name, headers, data, status, reason", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_a_refused_report_has_its_status_and_reason_is_counted_and_applies_nothing(
        tmp_path: Path, name: str, headers: Any, data: bytes, status: int, reason: str) -> None:
    node = HealthNode(config(tmp_path), clock=Clock())
    feed(node, Clock(T0), 1, {"b": up()})  # something known beforehand
    before = node.state
    code, out = node.receive(headers(data), data)
    assert (code, out["reason"]) == (status, reason), out
    assert out["error"]
    assert node.rejected == {reason: 1}
    assert node.state is before and node.accepted == 1


def test_a_replayed_report_is_refused_409(tmp_path: Path) -> None:
    node = HealthNode(config(tmp_path), clock=Clock())
    data = body("a", {EU1: False})
    headers = signed(data)
    assert node.receive(headers, data)[0] == 200
    state = node.state
    code, out = node.receive(dict(headers), data)
    assert (code, out["reason"]) == (409, "replay")
    assert node.rejected == {"replay": 1} and node.accepted == 1 and node.state is state
    assert node.state.views[("a", ("web", "eu", EU1))].fail_streak == 1  # counted once


def test_a_report_captured_before_a_reload_cannot_be_replayed_after_it(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    node = HealthNode(cfg, clock=Clock())
    data = body("a", {EU1: False})
    headers = signed(data)
    assert node.receive(headers, data)[0] == 200
    node.set_config(replace(cfg))  # a reload (SIGHUP): the keys are read again
    assert node.receive(dict(headers), data)[0] == 409


def test_a_node_without_keys_accepts_no_report_403(tmp_path: Path) -> None:
    node = HealthNode(config(tmp_path, keys=False), clock=Clock())
    data = body("a", {EU1: True})
    code, out = node.receive(signed(data), data)
    assert code == 403 and out["reason"] == "no_keys" and "health.keys" in out["error"]
    assert node.rejected == {"no_keys": 1} and node.accepted == 0 and not node.state.seen


def test_every_refusal_is_counted_by_reason(tmp_path: Path) -> None:
    node = HealthNode(config(tmp_path), clock=Clock())
    for _, headers, data, _, _ in REFUSALS:
        node.receive(headers(data), data)
    assert node.status()["reports"]["rejected"] == {
        "bad_signature": 2, "unknown_key": 1, "stale": 2, "unsigned": 2, "malformed": 3, "unknown_vantage": 1}
    assert node.accepted == 0 and not node.state.views


# -- verdicts and publishing ---------------------------------------------------------------------------------------
def test_changes_are_published_once_the_first_round_is_in(tmp_path: Path) -> None:
    clock, published = Clock(), Published()
    node = HealthNode(config(tmp_path), on_change=published, clock=clock)
    assert not node.ready() and node.monitored
    feed(node, clock, 1, ALL)
    assert published.snapshots == [] and not node.ready()  # one report each: not rise 2
    feed(node, clock, 1, ALL)
    assert node.ready() and published.snapshots
    first = published.snapshots[-1]
    assert first.down_checks == frozenset() and first == node.current
    n = len(published.snapshots)
    feed(node, clock, 2, {v: up(US1) for v in SECRETS})
    assert node.current.down_checks == {("web", "us", US1)}
    assert published.snapshots[-1] == node.current and len(published.snapshots) > n
    # generations only grow; an evaluation that changes nothing publishes nothing
    gens = [s.generation for s in published.snapshots]
    assert gens == sorted(set(gens))
    n = len(published.snapshots)
    node.evaluate()
    node.evaluate()
    assert len(published.snapshots) == n


def test_the_snapshot_carries_rtts_and_steering_memory_follows_it(tmp_path: Path) -> None:
    clock = Clock()
    node = HealthNode(config(tmp_path), clock=clock)
    feed(node, clock, 2, ALL)
    snap = node.current
    assert dict(snap.rtt_ms) == {(v, r): 10.0 for v in SECRETS for r in ("eu", "us")}
    # steering's memory is not the health node's: it is made from the snapshot (gtm.steering.memory)
    memory = advance(SteeringMemory(), node.config, snap)
    assert dict(memory.latency_choice) == {("t/fast", v): "eu" for v in SECRETS}  # equal RTTs: the first region
    assert {k for k, _ in memory.last_good} == {"t/www", "t/fast"}


def test_after_start_timeout_changes_are_published_even_without_a_full_round(tmp_path: Path) -> None:
    """US1 flaps from the start and never gets a verdict, so the first full round never completes. Once
    start_timeout has passed the runtime answers anyway, and from then on it must get every change (here EU1
    going down), not wait for a round that will never be full."""
    clock, published = Clock(), Published()
    node = HealthNode(config(tmp_path, start_timeout=5.0), on_change=published, clock=clock)
    for i in range(4):
        feed(node, clock, 1, {v: {EU1: True, EU2: True, US1: i % 2 == 0} for v in SECRETS})
    assert not node.ready() and published.snapshots == []
    clock.now = T0 + 5.0
    node.evaluate()  # the runtime's timer
    assert not node.ready() and node.live()
    assert published.snapshots and published.snapshots[-1].down_checks == frozenset()
    for i in range(2):
        feed(node, clock, 1, {v: {EU1: False, EU2: True, US1: i % 2 == 0} for v in SECRETS})
    assert published.snapshots[-1].down_checks == {("web", "eu", EU1)}
    assert node.state.verdicts.get(("web", "us", US1)) is None
    assert json.loads((tmp_path / "state.json").read_text())["verdicts"]  # persisted too


# -- persistence ---------------------------------------------------------------------------------------------------
def test_persist_and_restore_round_trip(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    first = HealthNode(config(tmp_path), clock=clock)
    feed(first, clock, 2, ALL)
    feed(first, clock, 2, {v: up(EU1, EU2) for v in SECRETS})  # eu down
    assert first.state.regions[("web", "eu")] is False
    saved = json.loads((tmp_path / "state.json").read_text())  # persisted on the change, no persist() needed
    assert ["web", "eu", EU1, False] in saved["verdicts"] and ["web", "eu", False] in saved["regions"]
    assert saved["saved_at"] == clock.now - 1.0
    assert not list(tmp_path.glob("*.tmp"))

    clock.now += 100.0
    published = Published()
    with caplog.at_level(logging.INFO, logger="gtm.health.node"):
        second = HealthNode(config(tmp_path), on_change=published, clock=clock)
    assert second.restored and second.ready()
    assert "restored the last-known-good health state" in caplog.text and "saved 101 s ago" in caplog.text
    assert dict(second.state.verdicts) == dict(first.state.verdicts)
    assert dict(second.state.regions) == dict(first.state.regions)
    assert dict(second.state.rtt) == dict(first.state.rtt)
    assert second.current.down_checks == first.current.down_checks == {
        ("web", "eu", EU1), ("web", "eu", EU2)}
    assert published.snapshots == [second.current]  # live at once
    st = second.status()
    assert st["ready"] and [e["up"] for e in st["endpoints"]] == [False, False, True]
    assert all(not v["fresh"] for v in st["vantages"])


def test_restored_verdicts_stand_until_new_reports_reach_quorum(tmp_path: Path) -> None:
    clock = Clock()
    first = HealthNode(config(tmp_path), clock=clock)
    feed(first, clock, 2, {v: up(US1) for v in SECRETS})
    second = HealthNode(config(tmp_path), clock=clock)
    feed(second, clock, 1, ALL)  # one report each: no view established yet
    assert second.current.down_checks == {("web", "us", US1)}
    feed(second, clock, 1, ALL)
    assert second.current.down_checks == frozenset()


def test_restore_keeps_only_what_the_config_still_knows(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text(json.dumps({
        "saved_at": T0 - 5,
        "verdicts": [["web", "eu", EU1, False], ["web", "eu", "10.0.1.99", False], ["old", "us", US1, False]],
        "regions": [["web", "eu", True]],
        "rtt": [["a", "eu", 12.5], ["mars", "eu", 1.0], ["a", "atlantis", 1.0]]}))
    node = HealthNode(config(tmp_path), clock=Clock())
    assert node.restored
    assert dict(node.state.verdicts) == {("web", "eu", EU1): False}
    assert dict(node.state.rtt) == {("a", "eu"): 12.5}
    assert node.current.down_checks == {("web", "eu", EU1)}


BROKEN_STATES = ["{not json", "[]", '{"verdicts": 5}', '{"verdicts": [["web"]], "regions": [], "rtt": []}', "",
                 "[" * 100_000]  # nested too deeply: before, a RecursionError that stopped the start


@pytest.mark.parametrize("content", BROKEN_STATES)
def test_a_broken_state_file_is_ignored_with_a_warning(tmp_path: Path, content: str,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "state.json").write_text(content)
    with caplog.at_level(logging.WARNING, logger="gtm.health.node"):
        node = HealthNode(config(tmp_path), clock=Clock())
    assert not node.restored and not node.ready()
    assert "ignoring the persisted health state" in caplog.text


def test_a_node_stopped_before_any_verdict_leaves_no_state_that_would_count_as_known(tmp_path: Path) -> None:
    """Persisting an empty state (a node stopped during its start-up wait) and restoring it at the next start
    would make that node ready at once, answering "all up" before any probe ran."""
    clock = Clock()
    first = HealthNode(config(tmp_path, start_timeout=0.0), clock=clock)
    feed(first, clock, 1, {"a": up()})  # no verdict yet
    first.persist()  # the runtime persists at exit
    second = HealthNode(config(tmp_path), clock=clock)
    assert not second.restored and not second.ready()


def test_a_state_with_no_verdict_of_this_config_is_not_restored(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text(json.dumps({"saved_at": T0, "verdicts": [["old", "eu", EU1, True]],
                                                     "regions": [], "rtt": []}))
    node = HealthNode(config(tmp_path), clock=Clock())
    assert not node.restored and not node.ready()


def test_restore_happens_before_anything_is_persisted(tmp_path: Path) -> None:
    """With start_timeout 0 the node is live at once; its first publication must not overwrite the saved state
    before reading it."""
    clock = Clock()
    first = HealthNode(config(tmp_path), clock=clock)
    feed(first, clock, 2, {v: up(US1) for v in SECRETS})
    second = HealthNode(config(tmp_path, start_timeout=0.0), clock=clock)
    assert second.restored and second.current.down_checks == {("web", "us", US1)}


def test_without_a_state_file_nothing_is_written(tmp_path: Path) -> None:
    clock = Clock()
    node = HealthNode(config(tmp_path, state_file=False), clock=clock)
    feed(node, clock, 2, ALL)
    node.persist()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keys"]


def test_an_unwritable_state_file_is_a_warning_not_a_crash(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg = config(tmp_path)
    cfg = replace(cfg, health=replace(cfg.health, state_file=str(tmp_path / "missing-dir" / "state.json")))
    clock = Clock()
    node = HealthNode(cfg, clock=clock)
    with caplog.at_level(logging.WARNING, logger="gtm.health.node"):
        feed(node, clock, 2, ALL)
    assert node.ready() and "cannot persist health state" in caplog.text


# -- status --------------------------------------------------------------------------------------------------------
def test_status_shows_views_verdicts_sick_vantages_rtts_and_transitions(tmp_path: Path) -> None:
    clock = Clock()
    node = HealthNode(config(tmp_path), clock=clock)
    feed(node, clock, 2, ALL)
    feed(node, clock, 2, {"a": up(EU1, EU2, US1), "b": up(), "c": up()})
    st = node.status()
    assert st["ready"] and st["generation"] == node.generation
    assert [(e["region"], e["address"], e["up"]) for e in st["endpoints"]] == \
        [("eu", EU1, True), ("eu", EU2, True), ("us", US1, True)]
    assert st["regions"] == [{"monitor": "web", "region": "eu", "up": True},
                             {"monitor": "web", "region": "us", "up": True}]
    va = {v["name"]: v for v in st["vantages"]}
    assert va["a"]["sick"] and not va["b"]["sick"] and all(v["fresh"] for v in va.values())
    assert [x["up"] for x in va["a"]["view"]] == [False, False, False]
    assert va["a"]["view"][0]["detail"] == "status 503"
    assert {(r["vantage"], r["region"]) for r in st["rtt_ms"]} == {(v, r) for v in SECRETS for r in ("eu", "us")}
    newest = st["transitions"][0]
    assert (newest["kind"], newest["name"], newest["state"]) == ("vantage", "a", "sick")
    assert node.transition_counts[("vantage", "sick")] == 1 and node.transition_counts[("endpoint", "up")] == 3
    clock.now += 10
    va = {v["name"]: v for v in node.status()["vantages"]}
    assert not va["b"]["fresh"] and va["b"]["last_report_age_s"] == 11.0


def test_a_comment_with_a_comma_in_the_key_file_is_a_comment(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    (tmp_path / "keys").write_text("# probers' keys, one per line\n" + (tmp_path / "keys").read_text())
    node = HealthNode(cfg, clock=Clock())
    assert node.verifier is not None and set(node.verifier.keys) == set(SECRETS)
