"""The deployment guide's fleet with a host per process: two DNS nodes, three probers (one per vantage, each with
its own key and only that key) and a host of load balancers per region, each in a network namespace of its own
on a bridge (``tests/support/netns.py``), talking as docs/deploy.md sets them up: reports and operator commands
over HTTPS to each node's admin API (a test CA, names checked, a bearer token), an override store both nodes read.

The load balancers delay their replies per vantage (``tests/support/delaying_lb.py``; these kernels have no netem),
against geography: from Frankfurt, us answers in 10 ms and eu in 80. The latency policy must follow the
measurements, not the map, and move when they change. Then: a region dies, a prober dies, a node restarts, an
operator drains a region from the operator's machine (the root namespace), and a drill passes on both nodes.

Where namespaces cannot be made (not root, no ``ip``, no bridge), the same topology runs on loopback addresses
(127.213.N.x); each vantage then probes a port of its own, which is how its load balancer knows who asks. The
test prints which it used.
"""
from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import dns.flags
import dns.message
import dns.query
import pytest
import trustme

from tests.conftest import ROOT
from tests.support.health_fleet import CITY, CLIENTS, HEALTH, VANTAGES, wait_until
from tests.support.mmdb import write_city
from tests.support.netns import Host, Net
from tests.support.steering_world import ecs_option

TOKEN = "fleet-admin-token-0123456789abcdef"
REGIONS = {"eu": 2, "us": 1, "ap": 1}
LB_PORT = 8080
# Seconds each vantage's probes wait for each region's reply, against geography (phase 1) ...
AGAINST_THE_MAP = {"frankfurt": {"eu": 0.08, "us": 0.01, "ap": 0.15},
                   "virginia": {"eu": 0.08, "us": 0.0, "ap": 0.15},
                   "singapore": {"eu": 0.10, "us": 0.15, "ap": 0.0}}
# ... and after the path from Frankfurt to eu got fast (phase 2).
FRANKFURT_FIXED = {**AGAINST_THE_MAP, "frankfurt": {"eu": 0.0, "us": 0.08, "ap": 0.15}}


class Fleet:
    """The processes of the topology, on ``net``'s hosts, with their files in ``directory``."""

    def __init__(self, net: Net, directory: Path):
        self.net, self.dir = net, directory
        self.dns_port = 53 if net.namespaces else 5300
        self.lbs = {r: net.host(f"lb-{r}", n) for r, n in REGIONS.items()}
        self.prober_hosts = {v: net.host(f"p-{v}") for v in VANTAGES}
        self.node_hosts = [net.host("n1"), net.host("n2")]
        self.delays = directory / "delays.json"
        self.delays.write_text(json.dumps(AGAINST_THE_MAP))
        self.ca = trustme.CA()
        self.ca_file = directory / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        (directory / "token").write_text(TOKEN + "\n")
        os.chmod(directory / "token", 0o600)
        write_city(directory / "city.mmdb", CITY)
        self.lb_procs: dict[str, subprocess.Popen[Any]] = {}
        self.prober_procs: dict[str, subprocess.Popen[Any]] = {}
        self.node_procs: list[subprocess.Popen[Any] | None] = [None, None]
        self.keys = dict(line.split(":", 1) for line in (HEALTH / "report.keys").read_text().splitlines()
                         if line.strip() and not line.startswith("#"))

    # -- addresses --------------------------------------------------------------------------------------------
    def admin(self, i: int) -> str:
        return f"https://{self.node_hosts[i].addresses[0]}:8053"

    def dns(self, i: int) -> tuple[str, int]:
        return self.node_hosts[i].addresses[0], self.dns_port

    def monitor_port(self, vantage: str | None) -> int:
        """On loopback each vantage probes a port of its own; in namespaces, all probe LB_PORT."""
        if self.net.namespaces or vantage is None:
            return LB_PORT
        return LB_PORT + 1 + VANTAGES.index(vantage)

    # -- configuration ----------------------------------------------------------------------------------------
    def config_text(self, vantage: str | None, health: str, admin: str) -> str:
        n1, n2 = (h.addresses[0] for h in self.node_hosts)
        endpoints = {r: ", ".join(h.addresses) for r, h in self.lbs.items()}
        return f"""zone: fleet.test
ttl: 3600
soa: {{mname: ns1.fleet.test., rname: hostmaster.fleet.test., serial: 1, minimum: 300}}
ns: [ns1, ns2]
records:
  ns1: {{A: {n1}}}
  ns2: {{A: {n2}}}
geoip: {{city: {self.dir / 'city.mmdb'}}}
regions:
  eu: {{location: {{lat: 50.11, lon: 8.68}}, endpoints: [{endpoints['eu']}], capacity: 1000}}
  us: {{location: {{lat: 39.04, lon: -77.49}}, endpoints: [{endpoints['us']}], capacity: 1000}}
  ap: {{location: {{lat: 1.35, lon: 103.82}}, endpoints: [{endpoints['ap']}], capacity: 1000}}
monitors:
  web: {{type: http, port: {self.monitor_port(vantage)}, path: /health, interval: 0.5, timeout: 0.4, rise: 2, fall: 2}}
vantages:
  frankfurt: {{location: {{lat: 50.11, lon: 8.68}}}}
  virginia: {{location: {{lat: 38.9, lon: -77.0}}}}
  singapore: {{location: {{lat: 1.29, lon: 103.85}}}}
{health}
{admin}
overrides: {{store: file, path: {self.dir / 'overrides.json'}, poll: 0.2}}
drills:
  nodes:
    - {{dns: "{n1}:{self.dns_port}", admin: "{self.admin(0)}"}}
    - {{dns: "{n2}:{self.dns_port}", admin: "{self.admin(1)}"}}
services:
  fo:
    ttl: 5
    regions: [eu, us, ap]
    monitor: web
    policy: failover
  fast:
    ttl: 5
    regions: [eu, us, ap]
    monitor: web
    policy: {{type: latency, hysteresis: 0.2, hysteresis_ms: 1}}
"""

    def write_configs(self) -> None:
        report_to = f"report_to: [{self.admin(0)}, {self.admin(1)}]"
        for i, host in enumerate(self.node_hosts):
            d = self.dir / f"n{i + 1}"
            d.mkdir(exist_ok=True)
            self._tls(host, d)
            (d / "report.keys").write_text("".join(f"{v}:{self.keys[v].strip()}\n" for v in VANTAGES))
            os.chmod(d / "report.keys", 0o600)
            health = (f"health:\n  keys: {{file: {d / 'report.keys'}}}\n  stale_after: 3\n  start_timeout: 10\n"
                      f"  state_file: {d / 'health-state.json'}\n  {report_to}")
            admin = (f"admin:\n  listen: \"{host.addresses[0]}:8053\"\n  names: [\"{host.addresses[0]}:8053\"]\n"
                     f"  token: {{file: {self.dir / 'token'}}}\n"
                     f"  tls: {{cert: {d / 'cert.pem'}, key: {d / 'key.pem'}}}")
            (d / "config.yaml").write_text(self.config_text(None, health, admin))
        for v in VANTAGES:
            d = self.dir / f"p-{v}"
            d.mkdir(exist_ok=True)
            (d / "report.keys").write_text(f"{v}:{self.keys[v].strip()}\n")  # its own key, and no other
            os.chmod(d / "report.keys", 0o600)
            health = f"health:\n  keys: {{file: {d / 'report.keys'}}}\n  {report_to}"
            (d / "config.yaml").write_text(self.config_text(v, health, ""))

    def _tls(self, host: Host, d: Path) -> None:
        cert = self.ca.issue_cert(host.addresses[0])
        cert.cert_chain_pems[0].write_to_path(str(d / "cert.pem"))
        for pem in cert.cert_chain_pems[1:]:
            pem.write_to_path(str(d / "cert.pem"), append=True)
        cert.private_key_pem.write_to_path(str(d / "key.pem"))
        os.chmod(d / "key.pem", 0o600)

    # -- processes --------------------------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONUNBUFFERED": "1", "SSL_CERT_FILE": str(self.ca_file),
                "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}

    def start_lb(self, region: str) -> None:
        host = self.lbs[region]
        listen = ([f"{a}:{LB_PORT}" for a in host.addresses] if self.net.namespaces else
                  [f"{a}:{self.monitor_port(v)}={v}" for a in host.addresses for v in VANTAGES])
        probers = [f"{self.prober_hosts[v].addresses[0]}={v}" for v in VANTAGES]
        argv = [sys.executable, "-m", "tests.support.delaying_lb", "--region", region, "--delays", str(self.delays),
                *[x for a in listen for x in ("--listen", a)], *[x for p in probers for x in ("--prober", p)]]
        p = self.net.popen(host, argv, cwd=ROOT, env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
        assert p.stdout is not None and p.stdout.readline().strip() == "listening", f"lb {region} did not start"
        self.lb_procs[region] = p

    def stop_lb(self, region: str) -> None:
        self.net.stop(self.lb_procs.pop(region))

    def start_prober(self, vantage: str) -> None:
        d = self.dir / f"p-{vantage}"
        argv = [sys.executable, "-m", "gtm.cli", "probe", "--vantage", vantage, "--token-file", str(self.dir / "token"),
                str(d / "config.yaml")]
        self.prober_procs[vantage] = self.net.popen(self.prober_hosts[vantage], argv, cwd=d, env=self.env(),
                                                    stdout=open(d / "log", "a"), stderr=subprocess.STDOUT)

    def start_node(self, i: int) -> None:
        d = self.dir / f"n{i + 1}"
        ready = d / "ready.json"
        ready.unlink(missing_ok=True)
        argv = [sys.executable, "-m", "gtm.cli", "serve", "--workers", "0", "--listen",
                f"{self.node_hosts[i].addresses[0]}:{self.dns_port}", "--ready-file", str(ready),
                str(d / "config.yaml")]
        p = self.net.popen(self.node_hosts[i], argv, cwd=d, env=self.env(), stdout=open(d / "log", "a"),
                           stderr=subprocess.STDOUT)
        self.node_procs[i] = p
        wait_until(f"node {i + 1} serves", lambda: p.poll() is None and ready.exists()
                   and json.loads(ready.read_text() or "{}").get("serving"), 30)

    def stop_node(self, i: int) -> None:
        p = self.node_procs[i]
        assert p is not None and self.net.stop(p) == 0, (self.dir / f"n{i + 1}" / "log").read_text()
        self.node_procs[i] = None

    def log(self, name: str) -> str:
        path = self.dir / name / "log"
        return path.read_text() if path.exists() else ""

    # -- asking -----------------------------------------------------------------------------------------------
    def ask(self, i: int, name: str, client: str | None = None) -> list[str]:
        """The addresses node ``i`` answers for ``name``.fleet.test (A), to ECS ``client`` if given."""
        q = dns.message.make_query(f"{name}.fleet.test.", "A", use_edns=0,
                                   options=[ecs_option(client)] if client else None)
        q.flags &= ~dns.flags.RD
        host, port = self.dns(i)
        r = dns.query.udp(q, host, port=port, timeout=2.0)
        return sorted(rd.address for rrset in r.answer for rd in rrset)

    def regions(self, i: int, name: str, client: str | None = None) -> list[str]:
        of = {a: r for r, h in self.lbs.items() for a in h.addresses}
        return sorted({of[a] for a in self.ask(i, name, client)})

    def status(self, i: int) -> dict[str, Any]:
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        req = urllib.request.Request(self.admin(i) + "/v1/status", headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(req, timeout=5, context=ctx) as r:
            return json.loads(r.read())  # type: ignore[no-any-return]

    def gtm(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """A gtm command on the operator's machine (the root namespace), trusting the fleet's CA."""
        return subprocess.run([sys.executable, "-m", "gtm.cli", *args], cwd=self.dir, capture_output=True, text=True,
                              timeout=timeout, env=self.env())


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    net = Net()
    try:
        print(f"fleet on {'network namespaces, 10.213.%d.0/24' % net.subnet if net.namespaces else 'loopback addresses'}"
              + (f" (no namespaces: {net.why_loopback})" if not net.namespaces else ""))
        f = Fleet(net, tmp_path)
        f.write_configs()
        yield f
    finally:
        net.close()


def test_a_fleet_of_hosts_steers_by_measured_latency_and_survives_its_failures(fleet: Fleet,
                                                                                capsys: pytest.CaptureFixture[str]
                                                                                ) -> None:
    for r in REGIONS:
        fleet.start_lb(r)
    for i in (0, 1):
        fleet.start_node(i)
    for v in VANTAGES:
        fleet.start_prober(v)
    both = (0, 1)
    for i in both:
        wait_until(f"node {i + 1} hears every vantage", lambda i=i: all(
            v["fresh"] for v in fleet.status(i)["health"]["vantages"]), 30)
        assert fleet.regions(i, "fo") == ["eu"]

    # latency, measured against the map: Frankfurt's clients go to us (10 ms), not to eu next door (80 ms)
    for i in both:
        wait_until(f"node {i + 1}: Frankfurt's clients to us", lambda i=i: fleet.regions(
            i, "fast", CLIENTS["frankfurt"]) == ["us"], 30)
        assert fleet.regions(i, "fast", CLIENTS["singapore"]) == ["ap"]
        assert fleet.regions(i, "fast", CLIENTS["virginia"]) == ["us"]
    # the path from Frankfurt to eu gets fast: its clients follow, once past the hysteresis
    fleet.delays.write_text(json.dumps(FRANKFURT_FIXED))
    for i in both:
        wait_until(f"node {i + 1}: Frankfurt's clients to eu", lambda i=i: fleet.regions(
            i, "fast", CLIENTS["frankfurt"]) == ["eu"], 30)
        assert fleet.regions(i, "fast", CLIENTS["singapore"]) == ["ap"]

    # a region dies (its load balancers' host goes away): both nodes move fo off it, and back when it returns
    fleet.stop_lb("eu")
    for i in both:
        wait_until(f"node {i + 1} moves fo off eu", lambda i=i: fleet.regions(i, "fo") == ["us"], 15)
    fleet.start_lb("eu")
    for i in both:
        wait_until(f"node {i + 1} takes eu back", lambda i=i: fleet.regions(i, "fo") == ["eu"], 15)

    # a prober dies: the two left are a quorum (2 of 3), and a region that dies now still moves
    assert fleet.net.stop(fleet.prober_procs.pop("singapore")) == 0
    fleet.stop_lb("eu")
    for i in both:
        wait_until(f"node {i + 1} moves fo off eu with two probers", lambda i=i: fleet.regions(i, "fo") == ["us"], 15)
    fleet.start_lb("eu")
    fleet.start_prober("singapore")
    for i in both:
        wait_until(f"node {i + 1} takes eu back", lambda i=i: fleet.regions(i, "fo") == ["eu"], 15)

    # a node restarts: it serves at once from its saved state, and the probers reach it again at its address
    fleet.stop_node(1)
    fleet.start_node(1)
    assert fleet.regions(1, "fo") == ["eu"]
    wait_until("node 2 hears every vantage again", lambda: all(
        v["fresh"] for v in fleet.status(1)["health"]["vantages"]), 40)

    # an operator drains eu from the operator's machine, over HTTPS with the token: both nodes apply it
    config = str(fleet.dir / "n1" / "config.yaml")
    drained = fleet.gtm("override", "drain", "eu", "--reason", "maintenance", "--wait", "5", "-c", config)
    assert drained.returncode == 0, drained.stdout + drained.stderr
    assert drained.stdout.count("applied after") == 2, drained.stdout
    assert all(fleet.regions(i, "fo") == ["us"] for i in both)
    cleared = fleet.gtm("override", "clear", "eu", "--wait", "5", "-c", config)
    assert cleared.returncode == 0, cleared.stdout + cleared.stderr

    # and a drill of eu against both nodes (drills.nodes) passes
    drill = fleet.gtm("drill", "run", "--region", "eu", "--hold", "1s", "--budget", "5", "-c", config,
                      "--report", str(fleet.dir / "drill"))
    assert drill.returncode == 0, drill.stdout + drill.stderr
    report = json.loads((fleet.dir / "drill.json").read_text())
    assert report["outcome"] == "passed" and len(report["shift"]) == 2 and len(report["restore"]) == 2
    assert all(fleet.regions(i, "fo") == ["eu"] for i in both)

    for i in both:
        fleet.stop_node(i)
        bad = [line for line in fleet.log(f"n{i + 1}").splitlines() if " ERROR " in line or "Traceback" in line]
        assert not bad, fleet.log(f"n{i + 1}")
    with capsys.disabled():
        print(f"\n  fleet test ran on {'network namespaces' if fleet.net.namespaces else 'loopback addresses'}"
              + (f" ({fleet.net.why_loopback})" if fleet.net.why_loopback else ""))

