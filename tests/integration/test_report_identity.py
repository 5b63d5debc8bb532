"""Reports bound to identity (issue: hardening, finding 1): a vantage's reports count only when signed with its
own key, for this node, newer than its last one; one report moves a check by one observation at most; staleness
is judged on the configured interval; the default quorum is a majority. Real nodes, real admin API."""
from __future__ import annotations

import time
from pathlib import Path

from gtm.health import signing
from gtm.model.health import Report
from tests.support.admin_node import (
    APP, ENDPOINTS, KEYS, ZONE, AdminNode, all_obs, obs, report, running_node, write_node,
)

EU, US = ENDPOINTS["eu-west"], ENDPOINTS["us-east"]


def answered(node: AdminNode) -> set[str]:
    return {rr.address for rrset in node.query(APP).answer for rr in rrset}


def config_with(directory: Path, monitor: str, health: str = "") -> Path:
    """A node's config whose ``web`` monitor is ``monitor`` (YAML flow mapping)."""
    write_node(directory, health=health)
    path = directory / f"{ZONE}.yaml"
    text = path.read_text()
    old = "  web: {type: http, path: /healthz, interval: 1, timeout: 0.5, rise: 1, fall: 1, quorum: 1}"
    assert old in text
    path.write_text(text.replace(old, f"  web: {monitor}"))
    return directory


def test_one_stolen_key_cannot_report_as_other_vantages(tmp_path: Path) -> None:
    """Before: with virginia's key, reports posing as frankfurt and singapore took eu-west down (quorum 1, and
    the key was never matched to the vantage). Now each is refused as signed with the wrong key, and the default
    quorum (a majority: 2 of 3) means virginia alone cannot take eu-west down either."""
    d = config_with(tmp_path, "{type: http, path: /healthz, interval: 1, timeout: 0.5, rise: 1, fall: 1}")
    with running_node(d) as node:
        node.send("frankfurt", all_obs(up=["eu-west", "us-east"]))
        node.send("virginia", all_obs(up=["eu-west", "us-east"]))  # two of three: the verdicts are up
        assert answered(node) == set(EU)
        for posing in ("frankfurt", "singapore"):
            r = node.post_report(report(posing, all_obs(down=["eu-west"])), "virginia", KEYS["virginia"])
            assert (r.status, r.json()["reason"]) == (403, "wrong_key"), r.body
            assert f"does not sign for vantage '{posing}'" in r.json()["error"]
        node.send("virginia", all_obs(down=["eu-west"]))  # with its own key: one down vote of the two needed
        time.sleep(0.3)
        assert answered(node) == set(EU)
        endpoint = next(e for e in node.status()["health"]["endpoints"] if e["address"] == EU[0])
        assert endpoint["up"] is True
        node.send("singapore", all_obs(down=["eu-west"]))  # a second vantage agrees: the majority
        deadline = time.monotonic() + 3
        while answered(node) != set(US) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert answered(node) == set(US)
        assert node.sample("gtm_reports_rejected", "_total", reason="wrong_key") == 2


def test_three_failures_in_one_report_count_as_one(tmp_path: Path) -> None:
    """Before: one report carrying three failures of one check met ``fall: 3`` at once."""
    d = config_with(tmp_path, "{type: http, path: /healthz, interval: 1, timeout: 0.5, rise: 1, fall: 3, quorum: 1}")
    with running_node(d) as node:
        node.send("frankfurt", all_obs(up=["eu-west", "us-east"]))
        thrice = tuple(obs("eu-west", a, False) for a in EU for _ in range(3))
        out = node.send("frankfurt", thrice)
        assert out == {"applied": 2, "ignored": 4}
        view = {v["address"]: v for v in next(v for v in node.status()["health"]["vantages"]
                                               if v["name"] == "frankfurt")["view"]}
        assert view[EU[0]]["up"] is True  # one failure counted of the three needed
        assert answered(node) == set(EU)
        node.send("frankfurt", all_obs(down=["eu-west"]))
        node.send("frankfurt", all_obs(down=["eu-west"]))  # the third consecutive report: down
        assert answered(node) == set(US)


def test_a_declared_interval_does_not_keep_a_vantage_fresh(tmp_path: Path) -> None:
    """Before: a report declaring ``interval: 3600`` kept its vantage fresh for hours. Staleness is judged on
    the configured interval (1 s here, stale after 2 of them)."""
    d = config_with(tmp_path, "{type: http, path: /healthz, interval: 1, timeout: 0.5, rise: 1, fall: 1, quorum: 1}",
                    health="stale_after: 2\n")
    with running_node(d) as node:
        node.send("frankfurt", all_obs(up=["eu-west"]))  # report() declares interval 60; this one 3600:
        r = node.post_report(Report("virginia", time.time(), 10**15, 3600.0, all_obs(up=["eu-west"])).to_json())
        assert r.status == 200, r.body

        def fresh() -> dict[str, bool]:
            return {v["name"]: v["fresh"] for v in node.status()["health"]["vantages"]}

        assert fresh()["virginia"] is True
        deadline = time.monotonic() + 5
        while fresh()["virginia"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert fresh()["virginia"] is False


def test_a_report_for_one_node_is_refused_by_another_and_sequences_only_go_up(tmp_path: Path) -> None:
    """Before: a report captured on its way to one node was accepted by another. Now it names its audience."""
    with running_node(write_node(tmp_path / "a")) as a, running_node(write_node(tmp_path / "b")) as b:
        body = report("frankfurt", all_obs(up=["eu-west"]))
        headers = signing.sign(body, "frankfurt", KEYS["frankfurt"], time.time(), a.audience)
        assert a.request("POST", "/v1/reports", body, headers).status == 200
        replayed = b.request("POST", "/v1/reports", body, headers)
        assert (replayed.status, replayed.json()["reason"]) == (403, "wrong_audience")
        # a report older than the last one applied from its vantage, even one never seen, is refused
        older = Report("frankfurt", time.time(), 1, 1.0, all_obs(up=["eu-west"])).to_json()
        r = a.post_report(older)
        assert (r.status, r.json()["reason"]) == (409, "old_seq")
        assert r.json()["last_seq"] > 1  # (a prober whose clock went back counts on from there)


def test_a_report_captured_before_a_restart_is_refused_after_it(tmp_path: Path) -> None:
    """Before: nonces lived in memory only, so a restarted node accepted a report it had already applied."""
    d = write_node(tmp_path, health=f"state_file: {tmp_path / 'health.json'}\n")
    with running_node(d) as node:
        body = report("frankfurt", all_obs(up=["eu-west"]))
        headers = signing.sign(body, "frankfurt", KEYS["frankfurt"], time.time(), node.audience)
        assert node.request("POST", "/v1/reports", body, headers).status == 200
        audience = node.audience
    with running_node(d) as again:
        headers[signing.HEADER_AUDIENCE] = audience  # (the new node has another port; signed for the old one)
        body2 = report("frankfurt", all_obs(up=["eu-west"]))
        # the same report, signed again for the new node's address but with the old time: before it started
        late = signing.sign(body2, "frankfurt", KEYS["frankfurt"], float(headers[signing.HEADER_TS]), again.audience)
        r = again.request("POST", "/v1/reports", body2, late)
        assert (r.status, r.json()["reason"]) == (401, "before_start"), r.body
        # and the sequence number persisted: a report not after the last one applied before the restart
        old = Report("frankfurt", time.time(), 0, 1.0, all_obs(up=["eu-west"])).to_json()
        r = again.post_report(old)
        assert (r.status, r.json()["reason"]) == (409, "old_seq"), r.body


def test_a_newline_in_a_report_cannot_forge_a_log_line(tmp_path: Path) -> None:
    d = config_with(tmp_path, "{type: http, path: /healthz, interval: 1, timeout: 0.5, rise: 1, fall: 1, quorum: 1}")
    with running_node(d, expected="FORGED") as node:  # (the escaped detail, on the transition's own line)
        node.send("frankfurt", all_obs(up=["eu-west", "us-east"]))
        forged = "503\n2026-12-04 00:00:00,000 ERROR gtm.runtime: FORGED"
        node.send("frankfurt", [obs("eu-west", a, False, detail=forged) for a in EU])
        deadline = time.monotonic() + 5
        while not any("is down" in line for line in node.proc.lines):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        down = next(line for line in node.proc.lines if "is down" in line)
        assert down.endswith("(1 of quorum 1); 503\\n2026-12-04 00:00:00,000 ERROR gtm.runtime: FORGED"), down
        assert not any(line.startswith("2026-12-04 00:00:00,000") for line in node.proc.lines)
