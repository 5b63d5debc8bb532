"""Health end to end: regional load balancers (aiohttp on 127.0.X.1), real probers for three vantages, a real
`gtm serve` node taking their signed reports on its admin API, and DNS answers read over its socket.

A region that dies loses its answers within a few intervals and gets them back when it recovers; one vantage
alone seeing a region down changes nothing (quorum 2 of 3); when every prober goes silent the last verdicts
stand; an endpoint flapping faster than rise/fall changes nothing; a vantage that sees everything down while
the others do not is flagged sick and its votes are ignored. Fixture: tests/fixtures/health/ (see
tests/support/health_fleet.py). Monitor: interval 0.5 s, rise 2, fall 2, quorum 2.
"""
from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from tests.support.health_fleet import (
    CLIENTS, ENDPOINTS, INTERVAL, VANTAGES, Node, answers_during, ask, lab, probe_processes, regions_answered, running,
    node as node_process, wait_until, write_setup,
)

EU = ENDPOINTS["eu"]
US = ENDPOINTS["us"]


def test_a_dead_region_loses_its_answers_within_a_few_intervals_and_gets_them_back(tmp_path: Path) -> None:
    """Three `gtm probe` processes; eu's first load balancer answers 503, its second stops listening."""
    with lab() as the_lab:
        setup = write_setup(tmp_path, the_lab.ports)
        with node_process(setup.node) as n, probe_processes(setup, n.admin):
            port = n.wait_serving()
            assert ask(port, "fo") == sorted(EU)

            the_lab.set(EU[0], status=503)
            the_lab.stop_listening(EU[1])
            died = time.monotonic()
            wait_until("fo answered from us", lambda: ask(port, "fo") == sorted(US), timeout=8 * INTERVAL)
            took = time.monotonic() - died
            assert took < 6 * INTERVAL, took  # fall 2: about two intervals, plus one report
            assert "eu" not in regions_answered(port, "fast", CLIENTS["frankfurt"])
            health = n.health()
            assert {e["address"]: e["up"] for e in health["endpoints"]} == \
                {EU[0]: False, EU[1]: False, US[0]: True, "127.0.3.1": True}
            assert {(r["region"], r["up"]) for r in health["regions"]} == {("eu", False), ("us", True), ("ap", True)}
            causes = {t["name"]: t["cause"] for t in health["transitions"] if t["state"] == "down"}
            assert re.fullmatch(r"down at \w+, \w+(, \w+)? \([23] of quorum 2\); status 503", causes[f"web eu {EU[0]}"])
            assert causes[f"web eu {EU[1]}"].endswith("; refused"), causes
            assert causes["web eu"] == "0 of 2 endpoints up (needs 1)"
            services = {s["name"]: s["healthy_regions"] for s in n.status()["services"]}
            assert services == {"health.test/fo": ["us", "ap"], "health.test/fast": ["us", "ap"]}

            the_lab.set(EU[0], status=200)  # one of eu's two comes back: enough (region_min_up 1)
            wait_until("fo answered from eu again", lambda: ask(port, "fo") == [EU[0]], timeout=8 * INTERVAL)
            n.no_errors()


def test_one_partitioned_vantage_changes_nothing(tmp_path: Path) -> None:
    """singapore's path to eu fails (its probes of both eu load balancers get 503); frankfurt and virginia see
    eu up. One down vote is no quorum: eu keeps its answers, and singapore is not sick (it sees us and ap)."""
    with lab() as the_lab:
        setup = write_setup(tmp_path, the_lab.ports)
        the_lab.set("eu", "singapore", status=503)  # from the start
        with running(setup, the_lab) as n:
            port = n.wait_serving()
            wait_until("singapore sees eu down", lambda: _view(n, "singapore", EU) == [False, False], timeout=4.0)
            assert answers_during(port, "fo", 3 * INTERVAL) == {tuple(sorted(EU))}
            health = n.health()
            assert all(e["up"] for e in health["endpoints"])
            assert not [t for t in health["transitions"] if t["state"] in ("down", "sick")]
            assert {v["name"]: (v["fresh"], v["sick"]) for v in health["vantages"]} == \
                {v: (True, False) for v in VANTAGES}
            assert _view(n, "frankfurt", EU) == [True, True]
            # a second vantage seeing the same makes it quorum
            the_lab.set("eu", "virginia", status=503)
            wait_until("fo answered from us", lambda: ask(port, "fo") == sorted(US), timeout=8 * INTERVAL)


def test_when_every_prober_goes_silent_the_last_verdicts_stand(tmp_path: Path) -> None:
    with lab() as the_lab:
        setup = write_setup(tmp_path, the_lab.ports)
        the_lab.set("eu", status=503)
        with running(setup, the_lab) as n:
            port = n.wait_serving()
            assert ask(port, "fo") == sorted(US)
            before = {c: regions_answered(port, "fast", client) for c, client in CLIENTS.items()}
            verdicts = n.verdicts()
            for v in VANTAGES:
                the_lab.stop_prober(v)
            the_lab.set("eu", status=200)  # nobody is looking any more
            wait_until("every vantage silent", lambda: not any(v["fresh"] for v in n.health()["vantages"]),
                       timeout=3 * INTERVAL * 3 + 2)  # stale after 3 intervals
            assert answers_during(port, "fo", 3 * INTERVAL) == {tuple(US)}  # never empty, never back to eu
            assert {c: regions_answered(port, "fast", client) for c, client in CLIENTS.items()} == before
            assert all(before.values())
            assert n.verdicts() == verdicts
            assert n.health()["ready"]


def test_an_endpoint_flapping_faster_than_rise_and_fall_is_damped(tmp_path: Path) -> None:
    """eu's first load balancer alternates 503 and 200 on every probe, from every vantage: never two of the same
    in a row, so neither fall 2 nor rise 2 is ever met and nothing changes. The probers run without jitter (one
    probe per round exactly); with jitter a round may repeat the previous probe's result, see
    tests/unit/health/test_aggregate.py::test_one_failed_probe_repeated_in_two_reports_is_one_failure."""
    with lab() as the_lab:
        setup = write_setup(tmp_path, the_lab.ports)
        with running(setup, the_lab, steady=True) as n:
            port = n.wait_serving()
            transitions = len(n.health()["transitions"])
            served = sum(the_lab.behaviour[(EU[0], v)].served for v in VANTAGES)
            the_lab.set(EU[0], flap=True)
            assert answers_during(port, "fo", 6 * INTERVAL) == {tuple(sorted(EU))}
            health = n.health()
            assert len(health["transitions"]) == transitions
            assert all(e["up"] for e in health["endpoints"])
            flapped = sum(the_lab.behaviour[(EU[0], v)].served for v in VANTAGES) - served
            assert flapped >= 3 * 5, flapped  # each vantage probed it about 6 times, half of them failing
            code, metrics = n.get("/metrics")
            fails = sum(float(m) for m in re.findall(r'gtm_probe_results_total\{[^}]*result="fail"[^}]*\} (\S+)',
                                                     metrics))
            assert code == 200 and fails >= 6, metrics


def test_a_vantage_that_sees_everything_down_is_sick_and_its_votes_are_ignored(tmp_path: Path) -> None:
    """virginia loses its network: every probe of it fails, while frankfurt and singapore see everything up. It is
    flagged sick. Then frankfurt sees eu down too: with virginia's votes that would be 2 of quorum 2, without
    them it is 1 down against 1 up, and eu keeps its answers."""
    with lab() as the_lab:
        setup = write_setup(tmp_path, the_lab.ports)
        with running(setup, the_lab) as n:
            port = n.wait_serving()
            the_lab.set(tuple(a for addrs in ENDPOINTS.values() for a in addrs), "virginia", status=503)
            wait_until("virginia flagged sick", lambda: _vantage(n, "virginia")["sick"], timeout=4.0)
            assert _view(n, "virginia", EU + US) == [False, False, False]
            sick = [t for t in n.health()["transitions"] if t["kind"] == "vantage"]
            assert [(t["name"], t["state"]) for t in sick] == [("virginia", "sick")]
            assert "its votes are ignored" in sick[0]["cause"]

            the_lab.set("eu", "frankfurt", status=503)
            wait_until("frankfurt sees eu down", lambda: _view(n, "frankfurt", EU) == [False, False], timeout=4.0)
            assert answers_during(port, "fo", 3 * INTERVAL) == {tuple(sorted(EU))}
            assert all(n.verdicts().values())
            assert not _vantage(n, "frankfurt")["sick"] and _vantage(n, "virginia")["sick"]


def _vantage(n: Node, name: str) -> dict[str, Any]:
    return next(v for v in n.health()["vantages"] if v["name"] == name)


def _view(n: Node, vantage: str, addresses: tuple[str, ...]) -> list[bool | None]:
    """That vantage's views of these addresses, as the node's status shows them."""
    view = {x["address"]: x["up"] for x in _vantage(n, vantage)["view"]}
    return [view.get(a) for a in addresses]
