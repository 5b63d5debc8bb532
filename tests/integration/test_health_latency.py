"""Measured RTTs steer the latency policy, end to end: each vantage's probes of some regions are made slower (the
load balancers answer that vantage after a delay), the node's EWMAs show it in /v1/status, and a latency service
answers each client with the region its nearest vantage measures fastest, not the nearest region. Fixture:
tests/fixtures/health/ (see tests/support/health_fleet.py)."""
from __future__ import annotations

from pathlib import Path

from tests.support.health_fleet import (
    CLIENTS, ENDPOINTS, INTERVAL, ask, lab, regions_answered, running, wait_until, write_setup,
)

SLOW = 0.15  # seconds; the monitor's timeout is 0.4


def test_rtt_ewmas_feed_the_latency_policy(tmp_path: Path) -> None:
    with lab() as the_lab:
        setup = write_setup(tmp_path, the_lab.ports)
        # frankfurt reaches us fastest; singapore reaches eu fastest; virginia sees no difference to speak of
        the_lab.set(ENDPOINTS["eu"] + ENDPOINTS["ap"], "frankfurt", delay=SLOW)
        the_lab.set(ENDPOINTS["us"] + ENDPOINTS["ap"], "singapore", delay=SLOW)
        with running(setup, the_lab) as n:
            port = n.wait_serving()
            rtt = {(r["vantage"], r["region"]): r["ms"] for r in n.health()["rtt_ms"]}
            assert len(rtt) == 9
            assert rtt[("frankfurt", "eu")] >= SLOW * 1000 and rtt[("frankfurt", "ap")] >= SLOW * 1000
            assert rtt[("frankfurt", "us")] < SLOW * 1000 / 2
            assert rtt[("singapore", "eu")] < SLOW * 1000 / 2 <= SLOW * 1000 <= rtt[("singapore", "us")]

            # a client next to frankfurt is nearest to eu, but frankfurt measures us fastest
            assert regions_answered(port, "fast", CLIENTS["frankfurt"]) == ["us"]
            # a client in Singapore is nearest to ap, but its vantage measures eu fastest
            assert ask(port, "fast", CLIENTS["singapore"]) == sorted(ENDPOINTS["eu"])
            explain = n.get(f"/v1/explain?name=fast.health.test&client={CLIENTS['frankfurt']}")
            assert explain[0] == 200 and "nearest vantage frankfurt" in explain[1], explain
            assert ask(port, "fo") == sorted(ENDPOINTS["eu"])  # failover does not care

            # the path from frankfurt to us gets slow, to eu fast: the EWMA follows, and the answer moves once
            # eu is faster by more than the hysteresis
            the_lab.set(ENDPOINTS["us"], "frankfurt", delay=SLOW * 2)
            the_lab.set(ENDPOINTS["eu"], "frankfurt", delay=0.0)
            wait_until("frankfurt's clients answered from eu",
                       lambda: regions_answered(port, "fast", CLIENTS["frankfurt"]) == ["eu"], timeout=12 * INTERVAL)
            rtt = {(r["vantage"], r["region"]): r["ms"] for r in n.health()["rtt_ms"]}
            assert rtt[("frankfurt", "eu")] < rtt[("frankfurt", "us")]
