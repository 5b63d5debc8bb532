"""Health at start-up, end to end: a node without persisted state holds its DNS socket until the first full round
of reports (bounded by health.start_timeout) and never answers "all up" before the probes ran; a node that
restarts serves its persisted state (health.state_file) at once, before any new report. Fixture:
tests/fixtures/health/ (see tests/support/health_fleet.py)."""
from __future__ import annotations

import json
import time
from pathlib import Path


from tests.support.health_fleet import (
    ENDPOINTS, INTERVAL, VANTAGES, ask, lab, node, running, wait_until, write_setup,
)

EU, US = ENDPOINTS["eu"], ENDPOINTS["us"]


def test_without_persisted_state_the_node_waits_for_the_first_full_round(tmp_path: Path) -> None:
    """eu is down from the start. Until the probers have reported a full round the node does not answer DNS
    (its health check says "starting"); its first answer already avoids eu."""
    with lab() as the_lab:
        setup = write_setup(tmp_path, the_lab.ports)
        the_lab.set("eu", status=503)
        with node(setup.node) as n:
            n.wait_for_log(r"waiting for the first full round of health reports \(up to 10 s\)")
            time.sleep(3 * INTERVAL)  # no prober yet: nothing may be served in the meantime
            assert not n.serving()
            assert n.get("/healthz") == (503, "starting\n")
            assert not n.health()["ready"]
            for v in VANTAGES:
                the_lab.start_prober(setup, v, n.admin)
            port = n.wait_serving(timeout=10 * INTERVAL)
            assert ask(port, "fo") == sorted(US)  # the very first answer: eu was never "up"
            log = n.log
            assert log.index("first health round complete") < log.index("listening on")
            assert log.index(f"endpoint web eu {EU[0]} is down: first verdict") < log.index("listening on")
            assert n.get("/healthz") == (200, "ok\n")
            n.no_errors()


def test_the_wait_for_the_first_round_is_bounded_by_start_timeout(tmp_path: Path) -> None:
    """No prober at all: after start_timeout the node serves, every endpoint without a verdict counting as up."""
    setup = write_setup(tmp_path, {v: 1 for v in VANTAGES}, {"start_timeout": "2.0"})
    started = time.monotonic()
    with node(setup.node) as n:
        port = n.wait_serving(timeout=8.0)
        waited = time.monotonic() - started
        assert 2.0 <= waited < 6.0, waited
        assert "no full health round within 2 s: endpoints without a verdict count as up" in n.log
        assert ask(port, "fo") == sorted(EU)
        assert not n.health()["ready"]
    assert not setup.state_file.exists()  # nothing was known: nothing persisted


def test_a_restarted_node_serves_its_persisted_state_at_once(tmp_path: Path) -> None:
    """eu goes down, the node stops; it starts again with no prober running: it answers at once (no wait for a
    round) and still avoids eu. Once probers report eu healthy again, eu is answered again."""
    with lab() as the_lab:
        setup = write_setup(tmp_path, the_lab.ports)
        with running(setup, the_lab) as n:
            port = n.wait_serving()
            the_lab.set("eu", status=503)
            wait_until("fo answered from us", lambda: ask(port, "fo") == sorted(US), timeout=8 * INTERVAL)
            for v in VANTAGES:
                the_lab.stop_prober(v)
        saved = json.loads(setup.state_file.read_text())
        assert ["web", "eu", False] in saved["regions"]

        the_lab.set("eu", status=200)  # eu recovers while the node is down; nobody has reported it yet
        with node(setup.node) as n:
            port = n.wait_serving(timeout=5.0)
            assert ask(port, "fo") == sorted(US)  # the persisted state, at once
            log = n.log
            assert "restored the last-known-good health state" in log
            assert "waiting for the first full round" not in log
            health = n.health()
            assert health["ready"] and health["reports"]["accepted"] == 0
            assert {e["address"]: e["up"] for e in health["endpoints"]}[EU[0]] is False
            assert health["rtt_ms"]  # RTTs survive too (the latency policy's input)

            for v in VANTAGES:
                the_lab.start_prober(setup, v, n.admin)
            wait_until("fo answered from eu again", lambda: ask(port, "fo") == sorted(EU), timeout=8 * INTERVAL)
            n.no_errors()


def test_sigterm_during_the_start_up_wait_stops_the_node_promptly(tmp_path: Path) -> None:
    setup = write_setup(tmp_path, {v: 1 for v in VANTAGES}, {"start_timeout": "2.0"})
    with node(setup.node) as n:
        n.wait_for_log("waiting for the first full round")
        stopping = time.monotonic()
        n.stop()
        took = time.monotonic() - stopping
        assert took < 1.0, f"SIGTERM took {took:.1f} s to stop the node"
        assert not n.serving(), "the node opened its DNS socket after SIGTERM"
