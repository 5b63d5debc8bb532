"""The deployment guide's topology, as separate processes on loopback: two DNS nodes (`gtm serve`) sharing an
override store, three probers (`gtm probe`, one per vantage, each with its own key) reporting to both, and HTTP
load balancers per region (the lab's backends). Then, in turn: a region dies, a prober dies, a node restarts,
an operator drains a region with `gtm override` (both nodes apply it) and `gtm drill run` passes on both.

Loopback addresses stand for the machines: this test does not create network namespaces (it needs none of
their isolation to show the processes' and the protocol's behaviour), which the note of the issue says.
"""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, run_gtm
from tests.support.health_fleet import VANTAGES, Node, ask, lab, wait_until, write_setup

STORE = "overrides.json"


def test_two_nodes_three_probers_a_shared_store_and_the_failures_of_a_fleet(tmp_path: Path) -> None:
    with lab() as the_lab:
        setup = write_setup(tmp_path, the_lab.ports)
        configs = []
        for name in ("n1", "n2"):
            text = setup.node.read_text().replace("state_file: health-state.json", f"state_file: health-{name}.json")
            path = tmp_path / f"{name}.yaml"
            path.write_text(text + f"\noverrides: {{store: file, path: {STORE}, poll: 0.2}}\n")
            configs.append(path)
        admin_ports = []
        for _ in configs:  # fixed admin addresses: a restarted node is reached where it was
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                admin_ports.append(probe.getsockname()[1])
        nodes = [Node(c, "--admin-listen", f"127.0.0.1:{p}") for c, p in zip(configs, admin_ports)]
        probers: dict[str, subprocess.Popen[str]] = {}
        try:
            def start_prober(vantage: str) -> subprocess.Popen[str]:
                return subprocess.Popen(
                    [sys.executable, "-m", "gtm.cli", "probe", "--vantage", vantage,
                     *[a for n in nodes for a in ("--report-to", n.admin)], str(setup.probers[vantage])],
                    cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

            for v in VANTAGES:
                probers[v] = start_prober(v)
            for n in nodes:
                n.wait_serving(30)
            assert all(ask(n.port, "fo") == ["127.0.1.1", "127.0.1.2"] for n in nodes)

            # a region dies (its load balancers answer 503 to every vantage): both nodes move fo to us
            the_lab.set("eu", status=503)
            for n in nodes:
                wait_until(f"{n.admin} moves fo off eu", lambda n=n: ask(n.port, "fo") == ["127.0.2.1"], 15)
            the_lab.set("eu", status=200)
            for n in nodes:
                wait_until(f"{n.admin} takes eu back", lambda n=n: ask(n.port, "fo") == ["127.0.1.1", "127.0.1.2"], 15)

            # a prober dies: the other two still make a quorum, and a region that dies now still moves
            probers["singapore"].send_signal(signal.SIGTERM)
            assert probers["singapore"].wait(10) == 0
            the_lab.set("eu", status=503)
            for n in nodes:
                wait_until(f"{n.admin} moves fo off eu with two probers", lambda n=n: ask(n.port, "fo") ==
                           ["127.0.2.1"], 15)
            the_lab.set("eu", status=200)
            for n in nodes:
                wait_until(f"{n.admin} takes eu back", lambda n=n: ask(n.port, "fo") == ["127.0.1.1", "127.0.1.2"], 15)
            probers["singapore"] = start_prober("singapore")

            # a node restarts: it serves at once with the verdicts it saved (health.state_file), and the probers,
            # which kept retrying with backoff, reach it again at the same address
            nodes[1].stop()
            nodes[1] = Node(configs[1], "--admin-listen", f"127.0.0.1:{admin_ports[1]}")
            nodes[1].wait_serving(30)
            assert ask(nodes[1].port, "fo") == ["127.0.1.1", "127.0.1.2"]
            wait_until("n2 hears every vantage again", lambda: all(
                v["fresh"] for v in json.loads(_get(nodes[1].admin + "/v1/status"))["health"]["vantages"]), 40)

            # an operator drains eu with gtm override: both nodes apply it
            node_args = [a for n in nodes for a in ("--nodes", f"127.0.0.1:{n.port}", "--admin", n.admin)]
            drained = run_gtm("override", "drain", "eu", "--reason", "maintenance", "--wait", "5", "-c",
                              configs[0], *node_args)
            assert drained.returncode == 0, drained.stdout + drained.stderr
            assert drained.stdout.count("applied after") == 2, drained.stdout
            assert all(ask(n.port, "fo") == ["127.0.2.1"] for n in nodes)
            cleared = run_gtm("override", "clear", "eu", "-c", configs[0], "--wait", "5", *node_args)
            assert cleared.returncode == 0, cleared.stdout + cleared.stderr

            # and a drill against both nodes passes
            drill = run_gtm("drill", "run", "--region", "eu", "--hold", "1s", "--budget", "5", "-c", configs[0],
                            *node_args, "--report", str(tmp_path / "drill"), timeout=120)
            assert drill.returncode == 0, drill.stdout + drill.stderr
            report = json.loads((tmp_path / "drill.json").read_text())
            assert report["outcome"] == "passed" and len(report["shift"]) == 2 and len(report["restore"]) == 2
            assert all(ask(n.port, "fo") == ["127.0.1.1", "127.0.1.2"] for n in nodes)
        finally:
            for p in probers.values():
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
                    try:
                        p.wait(10)
                    except subprocess.TimeoutExpired:
                        p.kill()
            for n in nodes:
                n.stop()


def _get(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()
