"""`gtm demo`: one command, the whole system on loopback, as the README promises."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import dns.edns
import dns.message
import dns.query
import pytest

from tests.conftest import run_gtm

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = {"eu-west": "81.2.69.0", "us-east": "8.8.8.0", "ap-southeast": "1.128.0.0"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _region(port: int, client: str) -> set[str]:
    q = dns.message.make_query("www.example.com", "A", use_edns=0, options=[dns.edns.ECSOption(client, 24)])
    r = dns.query.udp(q, "127.0.0.1", port=port, timeout=2)
    names = {"1": "us-east", "2": "eu-west", "3": "ap-southeast"}
    return {names[rd.address.split(".")[2]] for rrset in r.answer for rd in rrset}


def _shop(port: int) -> list[str]:
    r = dns.query.udp(dns.message.make_query("shop.example.com", "A"), "127.0.0.1", port=port, timeout=2)
    return sorted(rd.address for rrset in r.answer for rd in rrset)


def _until(pred, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return False


def _start_demo(cwd: Path) -> tuple[subprocess.Popen[str], int, int]:
    """`gtm demo` on free ports, run from ``cwd``: the process, its DNS port and its admin port."""
    dns_port, admin_port = _free_port(), _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "gtm", "demo", "--dns-listen", f"127.0.0.1:{dns_port}",
                             "--admin-listen", f"127.0.0.1:{admin_port}"], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return proc, dns_port, admin_port


def _banner(proc: subprocess.Popen[str], dns_port: int, admin_port: int) -> list[str]:
    """The demo's first lines (where it listens, checked) and its banner, up to the "Ctrl-C" line, stripped."""
    assert proc.stdout is not None
    first = [proc.stdout.readline().rstrip("\n") for _ in range(2)]
    assert first == [f"dns: 127.0.0.1:{dns_port}", f"admin: http://127.0.0.1:{admin_port}"]
    banner = []
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        assert line, "the demo exited early"
        banner.append(line.strip())
        if line.startswith("Ctrl-C"):
            break
    return banner


def test_demo_runs_steers_fails_over_and_stops_cleanly() -> None:
    proc, dns_port, admin_port = _start_demo(ROOT)
    try:
        text = "\n".join(_banner(proc, dns_port, admin_port))
        assert f"dig @127.0.0.1 -p {dns_port} www.example.com +subnet=81.2.69.0/24" in text
        assert f"curl -X POST http://127.0.0.1:{admin_port}/demo/regions/eu-west/fail" in text
        # Clients in Europe, America and Asia get their own region.
        for region, client in CLIENTS.items():
            assert _region(dns_port, client) == {region}
        # The status page and the status API answer without a token on loopback.
        admin = f"http://127.0.0.1:{admin_port}"
        with urllib.request.urlopen(admin + "/", timeout=5) as r:
            assert b"gtm status" in r.read()
        with urllib.request.urlopen(admin + "/v1/status", timeout=5) as r:
            status = json.load(r)
        assert {v["name"] for v in status["health"]["vantages"]} == {"virginia", "frankfurt", "singapore"}
        # A page of another site cannot fail a region (CSRF: the browser sends its Origin), nor read the status
        # through a name of its own that resolves to this address (DNS rebinding: the Host header names it).
        for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(urllib.request.Request(admin + "/demo/regions/eu-west/fail", method="POST",
                                                              data=b"", headers=headers), timeout=5)
            assert refused.value.code == 403 and json.load(refused.value)["reason"] == "cross_origin"
        with pytest.raises(urllib.error.HTTPError) as rebound:
            urllib.request.urlopen(urllib.request.Request(admin + "/v1/status",
                                                          headers={"Host": f"evil.example:{admin_port}"}), timeout=5)
        assert rebound.value.code == 421 and json.load(rebound.value)["reason"] == "misdirected"
        assert "eu-west" in _region(dns_port, CLIENTS["eu-west"])  # nothing was failed
        # Fail eu-west: European clients move within a few seconds; recover: they come back.
        urllib.request.urlopen(urllib.request.Request(admin + "/demo/regions/eu-west/fail", method="POST",
                                                      data=b""), timeout=5).read()
        assert _until(lambda: "eu-west" not in _region(dns_port, CLIENTS["eu-west"]), 10)
        urllib.request.urlopen(urllib.request.Request(admin + "/demo/regions/eu-west/recover", method="POST",
                                                      data=b""), timeout=5).read()
        assert _until(lambda: _region(dns_port, CLIENTS["eu-west"]) == {"eu-west"}, 10)
        # shop: sa-east's load balancer known by name (lb.sa-east.example.com, simulated as 127.0.4.1 and .2), its
        # addresses answered; fail it and shop moves to us-east; the status names the hostname as resolved.
        assert _shop(dns_port) == ["127.0.4.1", "127.0.4.2"]
        with urllib.request.urlopen(admin + "/v1/status", timeout=5) as r:
            names = {h["hostname"]: h for h in json.load(r)["hostnames"]}
        assert names["lb.sa-east.example.com"]["state"] == "ok"
        urllib.request.urlopen(urllib.request.Request(admin + "/demo/regions/sa-east/fail", method="POST",
                                                      data=b""), timeout=5).read()
        assert _until(lambda: _shop(dns_port) == ["127.0.1.1", "127.0.1.2"], 10)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            rc = proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert rc == 0
    err = proc.stderr.read() if proc.stderr else ""
    assert "Traceback" not in err, err


def test_a_newcomer_drills_the_demo_with_the_commands_it_prints(tmp_path: Path) -> None:
    """docs/drills.md's walkthrough: `gtm demo` on a copy of zones/ (its override store beside it), then the
    override and drill commands exactly as the demo's banner prints them, run from that directory."""
    import shlex
    import shutil

    shutil.copytree(ROOT / "zones", tmp_path / "zones", ignore=shutil.ignore_patterns(".gtm-overrides.json*"))
    proc, dns_port, admin_port = _start_demo(tmp_path)
    try:
        banner = _banner(proc, dns_port, admin_port)
        # the commands as printed run as printed: the gtm beside the demo's Python (this venv's), not a bare
        # `gtm` that is not on PATH
        script = str(Path(sys.executable).parent / "gtm")
        commands = [shlex.split(line) for line in banner if line.startswith(f"{script} ")]
        assert [c[1:3] for c in commands] == [["explain", "zones"], ["override", "drain"], ["override", "clear"],
                                             ["drill", "run"]], banner
        explained = subprocess.run(commands[0], cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert explained.returncode == 0 and explained.stdout.startswith("from the node at"), explained
        commands = commands[1:]

        def gtm(args: list[str]) -> subprocess.CompletedProcess[str]:
            return run_gtm(*args[1:], cwd=tmp_path)

        drain = gtm(commands[0])
        assert drain.returncode == 0, drain.stdout + drain.stderr
        assert "drain eu-west: in force" in drain.stdout and "applied after" in drain.stdout
        assert "eu-west" not in _region(dns_port, CLIENTS["eu-west"])
        assert gtm(commands[1]).returncode == 0
        assert _until(lambda: _region(dns_port, CLIENTS["eu-west"]) == {"eu-west"}, 5)
        drill = gtm([c.replace("10s", "2s") for c in commands[2]])
        assert drill.returncode == 0, drill.stdout + drill.stderr
        report = json.loads((tmp_path / "drill.json").read_text())
        assert report["outcome"] == "passed" and report["shift"] and report["restore"]
        assert (tmp_path / "drill.md").read_text().startswith("# gtm drill: eu-west — PASSED")
        # an endpoint override names the configured address (gtm override reads the files); the demo applies it
        # to the simulated load balancer that stands for it (before: "applied", and nothing changed)
        def us_answers() -> set[str]:
            q = dns.message.make_query("www.example.com", "A", use_edns=0,
                                       options=[dns.edns.ECSOption(CLIENTS["us-east"], 24)])
            return {rd.address for rrset in dns.query.udp(q, "127.0.0.1", port=dns_port, timeout=2).answer
                    for rd in rrset}

        assert us_answers() == {"127.0.1.1", "127.0.1.2"}
        nodes = commands[0][commands[0].index("--nodes"):]  # where the demo listens, as the banner says
        drained = gtm(["gtm", "override", "drain", "us-east/192.0.2.10", "--wait", "5", *nodes])
        assert drained.returncode == 0, drained.stdout + drained.stderr
        assert _until(lambda: us_answers() == {"127.0.1.2"}, 5)
        assert gtm(["gtm", "override", "clear", "us-east/192.0.2.10"]).returncode == 0
        assert _until(lambda: us_answers() == {"127.0.1.1", "127.0.1.2"}, 5)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
