"""Drills end to end: two real `gtm serve` nodes on loopback sharing a file override store, real probers and
regional load balancers (tests/integration/tests/support/health_fleet.py: regions eu, us, ap; services fo (failover
eu, us, ap) and fast (latency)), and `gtm drill run` / `gtm override` / `gtm failover` / `gtm restore` as the
operator runs them (subprocesses). The Route53 leg runs the drill in-process against moto."""
from __future__ import annotations

import asyncio
import json
import random
import re
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

from gtm.config import load
from gtm.health.prober import Prober
from gtm.state.store import FileStore
from tests.conftest import ROOT
from tests.conftest import run_gtm as gtm
from tests.support.health_fleet import (
    KEYS, VANTAGES, Lab, Node, Setup, ask, lab, regions_answered, wait_until, write_setup,
)

STORE = "overrides.json"
FRANKFURT = "31.10.1.0/24"


def node_config(setup: Setup, name: str, store: str = STORE, extra: str = "") -> Path:
    """A node's config: the fixture's, with the shared override store polled every 0.2 s, its own health state."""
    text = setup.node.read_text().replace("state_file: health-state.json", f"state_file: health-{name}.json")
    path = setup.directory / f"{name}.yaml"
    path.write_text(text + f"\noverrides: {{store: file, path: {store}, poll: 0.2}}\n" + extra)
    return path


def mirrored(node: Path) -> Any:
    """The node's config as the Route53 mirror takes it: its load balancers are on loopback, which Route53's
    checkers cannot reach, so its services say route53: {health_checks: false} (regions keep their switches)."""
    text = node.read_text()
    for policy in ("    policy: failover\n", "    policy: {type: latency, hysteresis: 0.2}\n"):
        assert policy in text
        text = text.replace(policy, policy + "    route53: {health_checks: false}\n")
    path = node.with_name("mirror-" + node.name)
    path.write_text(text)
    return load([str(path)])


@contextmanager
def two_nodes(tmp_path: Path, the_lab: Lab, second_store: str = STORE, extra: str = "") -> Iterator[list[Node]]:
    setup = write_setup(tmp_path, the_lab.ports)
    configs = [node_config(setup, "n1", extra=extra), node_config(setup, "n2", second_store, extra)]
    nodes: list[Node] = []
    try:
        for c in configs:
            nodes.append(Node(c))
        for v in VANTAGES:  # each prober reports to both nodes
            config = load([str(setup.probers[v])])
            prober = Prober(config, v, [n.admin for n in nodes], v, KEYS[v], rng=random.Random(), backoff=0.1,
                            backoff_cap=0.5, send_timeout=2.0)
            the_lab.probers[v] = (prober, asyncio.run_coroutine_threadsafe(prober.run(), the_lab.loop))
        for n in nodes:
            n.wait_serving()
        yield nodes
    finally:
        for v in list(the_lab.probers):
            the_lab.stop_prober(v)
        for n in nodes:
            n.stop()


def node_args(nodes: list[Node]) -> list[str]:
    out = []
    for n in nodes:
        out += ["--nodes", f"127.0.0.1:{n.port}", "--admin", n.admin]
    return out


def store_of(tmp_path: Path) -> FileStore:
    return FileStore(str(tmp_path / STORE))


def drill_in_hold(tmp_path: Path, nodes: list[Node], hold: str) -> subprocess.Popen[str]:
    """`gtm drill run --region eu` started in the background, returned once eu is drained and n1 has moved."""
    proc = subprocess.Popen([sys.executable, "-m", "gtm.cli", "drill", "run", "--region", "eu", "--hold", hold,
                             "-c", str(tmp_path / "n1.yaml"), *node_args(nodes), "--report",
                             str(tmp_path / "r.json")], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        wait_until("the drain is in the store", lambda: store_of(tmp_path).read().overrides, 20)
        wait_until("n1 no longer answers eu", lambda: "eu" not in regions_answered(nodes[0].port, "fo"), 5)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc


def test_a_drill_passes_on_two_nodes_and_reports_its_numbers(tmp_path: Path) -> None:
    with lab() as the_lab, two_nodes(tmp_path, the_lab) as nodes:
        assert all(ask(n.port, "fo") == ["127.0.1.1", "127.0.1.2"] for n in nodes)
        report = tmp_path / "drill"
        done = gtm("drill", "run", "--region", "eu", "--hold", "2s", "--budget", "5", "--reason", "quarterly drill",
                   "-c", str(tmp_path / "n1.yaml"), *node_args(nodes), "--report", str(report))
        assert done.returncode == 0, done.stdout + done.stderr
        r = json.loads((tmp_path / "drill.json").read_text())
        assert r["outcome"] == "passed" and not r["rolled_back"] and not r["failures"]
        keys = {f"127.0.0.1:{n.port}" for n in nodes}
        assert set(r["shift"]) == keys and set(r["restore"]) == keys
        assert all(0 <= t < 3 for t in r["shift"].values()), r["shift"]   # poll 0.2 s + a round or two
        assert all(0 <= t < 3 for t in r["restore"].values()), r["restore"]
        # a row per service and client network (before, the services' answers were merged without a label)
        assert {c["service"] for c in r["clients"]} == {"fast", "fo"}
        frankfurt = next(c for c in r["clients"] if c["where"] == "EU/DE" and c["service"] == "fo")
        assert frankfurt["before"][0] == "eu" and "eu" not in frankfurt["during"] and "eu" in frankfurt["after"]
        assert "| service | client network | where | before | during | after |" in (tmp_path / "drill.md").read_text()
        events = [e["event"] for e in r["timeline"]]
        assert events.index("drained") < events.index("hold passed") < events.index("override cleared")
        assert r["queries"] > 50
        md = (tmp_path / "drill.md").read_text()
        assert "— PASSED" in md and "| node | time to shift | time to restore |" in md
        # nothing left behind; the audit log has both changes, with who and why
        assert store_of(tmp_path).read().overrides == ()
        history = store_of(tmp_path).history()
        assert [h.action for h in history] == ["drain", "clear"]
        assert history[0].reason == "quarterly drill" and "@" in history[0].author and history[0].via == "drill"
        assert all(ask(n.port, "fo") == ["127.0.1.1", "127.0.1.2"] for n in nodes)
        for n in nodes:
            n.no_errors()


def test_a_node_that_ignores_overrides_fails_the_drill_and_it_rolls_back(tmp_path: Path) -> None:
    """n2 reads another store: it keeps answering eu, so the shift is never complete; the drill fails after
    TTL 5 s + budget 2 s and takes the drain back."""
    with lab() as the_lab, two_nodes(tmp_path, the_lab, second_store="elsewhere.json") as nodes:
        done = gtm("drill", "run", "--region", "eu", "--hold", "1s", "--budget", "2", "-c", str(tmp_path / "n1.yaml"),
                   *node_args(nodes), "--report", str(tmp_path / "r.json"))
        assert done.returncode == 4, done.stdout + done.stderr
        r = json.loads((tmp_path / "r.json").read_text())
        assert r["outcome"] == "verification failed" and r["rolled_back"]
        stuck = f"127.0.0.1:{nodes[1].port}"
        assert r["shift"][f"127.0.0.1:{nodes[0].port}"] is not None and r["shift"][stuck] is None
        assert any(stuck in f and "still answered eu" in f for f in r["failures"]), r["failures"]
        assert "override cleared" in [e["event"] for e in r["timeline"]]
        assert store_of(tmp_path).read().overrides == ()
        wait_until("n1 answers eu again", lambda: ask(nodes[0].port, "fo") == ["127.0.1.1", "127.0.1.2"], 3)


def test_ctrl_c_mid_drill_rolls_back(tmp_path: Path) -> None:
    with lab() as the_lab, two_nodes(tmp_path, the_lab) as nodes:
        proc = drill_in_hold(tmp_path, nodes, "60s")
        try:
            time.sleep(1.0)  # into the hold
            proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 5, out
        r = json.loads((tmp_path / "r.json").read_text())
        assert r["outcome"] == "interrupted" and r["rolled_back"]
        assert store_of(tmp_path).read().overrides == ()
        for n in nodes:
            wait_until("eu answered again", lambda n=n: ask(n.port, "fo") == ["127.0.1.1", "127.0.1.2"], 3)


def test_guardrails_refuse_the_last_region_and_an_over_capacity_drain(tmp_path: Path) -> None:
    with lab() as the_lab, two_nodes(tmp_path, the_lab) as nodes:
        cfg = str(tmp_path / "n1.yaml")
        assert gtm("override", "drain", "us", "--reason", "maintenance", "-c", cfg, *node_args(nodes)).returncode == 0
        assert gtm("override", "drain", "ap", "-c", cfg, *node_args(nodes)).returncode == 0
        before = store_of(tmp_path).read()
        last = gtm("override", "drain", "eu", "-c", cfg, *node_args(nodes))
        assert last.returncode == 3, last.stdout + last.stderr
        assert "service fo would have no healthy region left" in last.stderr
        assert store_of(tmp_path).read() == before  # nothing written
        # dry runs say the same and write nothing; restoring is never refused by the guardrails
        dry = gtm("failover", "eu", "--dry-run", "-c", cfg, *node_args(nodes))
        assert dry.returncode == 3 and "no healthy region left" in dry.stderr, dry.stdout + dry.stderr
        dry = gtm("restore", "us", "--dry-run", "-c", cfg, *node_args(nodes))
        assert dry.returncode == 0, dry.stdout + dry.stderr
        assert "plan: clear at store version 2\n  - drain us" in dry.stdout and "in force after: drain ap" in dry.stdout
        assert "nothing was changed" in dry.stdout and store_of(tmp_path).read() == before
        listed = gtm("override", "list", "--history", "5", "-c", cfg)
        assert listed.returncode == 0 and "v1  drain: drain us  (" in listed.stdout, listed.stdout
        assert ": maintenance)" in listed.stdout and "v2  drain: drain ap" in listed.stdout, listed.stdout
        # the same through a drill: refused before any change
        drill = gtm("drill", "run", "--region", "eu", "-c", cfg, *node_args(nodes))
        assert drill.returncode == 3 and "refused" in drill.stderr, drill.stderr
        assert store_of(tmp_path).read() == before
        # --force goes past it, and the audit log says it was forced
        forced = gtm("override", "drain", "eu", "--force", "--reason", "all hands", "-c", cfg, *node_args(nodes))
        assert forced.returncode == 0, forced.stderr
        assert store_of(tmp_path).history()[-1].forced is True
        # the node keeps answering (never nothing): fail_open over the drained regions
        wait_until("fo still answered", lambda: ask(nodes[0].port, "fo") != [], 3)
        for region in ("eu", "us", "ap"):
            assert gtm("override", "clear", region, "-c", cfg).returncode == 0

    # capacity: eu holds 100 requests in flight, us and ap 60 each; fo carries 1,000 req/s at 150 ms = 150
    with lab() as the_lab, two_nodes(tmp_path / "cap", the_lab) as nodes:
        for name in ("n1", "n2"):
            path = tmp_path / "cap" / f"{name}.yaml"
            text = path.read_text()
            for region, capacity in (("eu", 100), ("us", 60), ("ap", 60)):
                text = re.sub(rf"(\n  {region}:.*\n)", rf"\1    capacity: {capacity}\n", text, count=1)
            text = text.replace("    policy: failover\n", "    policy: failover\n    demand: {rps: 1000, latency_ms: 150}\n")
            path.write_text(text)
        assert load([str(tmp_path / "cap" / "n1.yaml")]).regions["ap"].capacity == 60
        cfg = str(tmp_path / "cap" / "n1.yaml")
        ok = gtm("override", "drain", "ap", "-c", cfg, *node_args(nodes))
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert "150 requests in flight fit in 2 of the remaining 2 regions (capacity 160)" in ok.stdout, ok.stdout
        assert gtm("override", "clear", "ap", "-c", cfg).returncode == 0
        over = gtm("drill", "run", "--region", "eu", "-c", cfg, *node_args(nodes), "--report", str(tmp_path / "c.json"))
        assert over.returncode == 3, over.stdout + over.stderr
        r = json.loads((tmp_path / "c.json").read_text())
        assert r["outcome"] == "refused" and "150 requests in flight" in r["summary"], r["summary"]
        assert "N = ceil(R*L/C) = 3" in r["summary"] and "capacity 120" in r["summary"]
        assert FileStore(str(tmp_path / "cap" / STORE)).read().overrides == ()


def test_failover_and_restore_for_an_incident(tmp_path: Path) -> None:
    with lab() as the_lab, two_nodes(tmp_path, the_lab) as nodes:
        cfg = str(tmp_path / "n1.yaml")
        out = gtm("failover", "eu", "--reason", "incident 17", "-c", cfg, *node_args(nodes))
        assert out.returncode == 0, out.stdout + out.stderr
        assert all(re.search(r"shift \d+\.\d+ s", line) for line in out.stdout.splitlines()[1:3]), out.stdout
        for n in nodes:
            assert "eu" not in regions_answered(n.port, "fo") and "eu" not in regions_answered(n.port, "fast", FRANKFURT)
            st = n.status()
            assert [o["target"] for o in st["overrides"]["in_force"]] == ["eu"]
            assert "eu" not in next(s for s in st["services"] if s["name"] == "health.test/fo")["healthy_regions"]
        again = gtm("failover", "eu", "-c", cfg, *node_args(nodes))
        assert again.returncode == 3 and "already drained" in again.stderr
        back = gtm("restore", "eu", "-c", cfg, *node_args(nodes))
        assert back.returncode == 0, back.stdout + back.stderr
        for n in nodes:
            assert ask(n.port, "fo") == ["127.0.1.1", "127.0.1.2"]
        bad = gtm("failover", "mars", "-c", cfg)
        assert bad.returncode == 2  # a bad value: usage
        assert bad.stderr.strip() == "gtm failover: error: unknown region 'mars'; regions: ap, eu, us"


def test_the_route53_leg_flips_the_switch_and_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The drill in-process (the nodes are real processes) with Route53 on moto: the mirror of the fixture is
    applied first; during the hold eu's switch check is inverted, afterwards it is not, and those are the only
    two Route53 writes. A `route53 plan` made while the store drains eu keeps the switch inverted."""
    from moto import mock_aws

    from gtm.model import NodeAddress
    from gtm.drill.report import Report
    from gtm.drill.run import Run, Settings, drill
    from gtm.geoip import sample_networks
    from gtm.route53 import aws
    from gtm.route53.sync import make_plan, run_apply
    from gtm.state.overrides import drained_everywhere

    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    with lab() as the_lab, two_nodes(tmp_path, the_lab) as nodes, mock_aws():
        r53 = aws.client()
        r53.api.create_hosted_zone(Name="health.test", CallerReference="drill")
        config = mirrored(tmp_path / "n1.yaml")
        run_apply(r53, make_plan(r53, config, "health.test", "gtm"), "gtm")
        writes: list[str] = []
        r53.api.meta.events.register("before-call.route53", lambda model, **_: writes.append(model.name)
                                 if model.name.startswith(("Update", "Create", "Delete", "Change")) else None)

        def switch_inverted() -> bool:
            checks = make_plan(r53, config, "health.test", "gtm").checks
            return next(c for c in checks if c.key == "switch:eu").spec.inverted

        seen_during: list[bool] = []
        real_hold = Run.hold

        async def hold(self: Run) -> None:
            seen_during.append(switch_inverted())
            drained = drained_everywhere(config, store_of(tmp_path).read().overrides, time.time())
            plan = make_plan(r53, config, "health.test", "gtm", drained=drained).plan
            seen_during.append(plan.is_empty())  # the plan agrees with the drain: nothing to undo
            await real_hold(self)

        monkeypatch.setattr(Run, "hold", hold)
        services = [s for s in config.services if "eu" in s.regions]
        settings = Settings(region="eu", services=services, hold=1.0, budget=5, reason="route53 drill",
                            author="test", route53=r53, owner="gtm",
                            clients=sample_networks(config.geoip, set(), {"EU", "NA", "AS"}, 1))
        run = Run(config, store_of(tmp_path), [NodeAddress(("127.0.0.1", n.port), n.admin) for n in nodes], None,
                  settings, Report("drill", "eu", [s.key for s in services]))
        report = asyncio.run(drill(run))
        assert report.outcome == "passed", (report.summary, report.failures)
        assert seen_during == [True, True]
        assert not switch_inverted()
        assert [w for w in writes if w != "ChangeTagsForResource"] == ["UpdateHealthCheck", "UpdateHealthCheck"]
        events = [e["event"] for e in report.timeline]
        assert "route53 switch inverted" in events and "route53 switch restored" in events


def test_a_failed_route53_switch_rolls_the_store_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No mirror in Route53 (nothing applied): the switch cannot flip, so the drain written to the store is taken
    back and the drill says so."""
    from moto import mock_aws

    from gtm.model import NodeAddress
    from gtm.drill.report import Report
    from gtm.drill.run import Run, Settings, drill
    from gtm.geoip import sample_networks
    from gtm.route53 import aws

    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    with lab() as the_lab, two_nodes(tmp_path, the_lab) as nodes, mock_aws():
        r53 = aws.client()
        config = mirrored(tmp_path / "n1.yaml")
        services = [s for s in config.services if "eu" in s.regions]
        settings = Settings(region="eu", services=services, hold=1.0, budget=5, author="test", route53=r53,
                            clients=sample_networks(config.geoip, set(), {"EU"}, 1))
        run = Run(config, store_of(tmp_path), [NodeAddress(("127.0.0.1", n.port), n.admin) for n in nodes], None,
                  settings, Report("drill", "eu", [s.key for s in services]))
        report = asyncio.run(drill(run))
        assert report.outcome == "error" and report.rolled_back, report.summary
        assert "no switch health check for region eu" in report.summary
        assert "the override store was rolled back" in report.summary
        assert store_of(tmp_path).read().overrides == ()
        assert [h.action for h in store_of(tmp_path).history()] == ["drain", "clear"]


def test_a_region_going_down_during_the_hold_aborts_and_rolls_back(tmp_path: Path) -> None:
    """eu is drained; during the hold us (the next in fo's order) starts failing its health checks: the drill
    stops holding, takes the drain back and fails (exit 4), saying which region went down."""
    with lab() as the_lab, two_nodes(tmp_path, the_lab) as nodes:
        proc = drill_in_hold(tmp_path, nodes, "30s")
        try:
            the_lab.set("us", status=503)
            out, _ = proc.communicate(timeout=40)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 4, out
        r = json.loads((tmp_path / "r.json").read_text())
        assert r["outcome"] == "verification failed" and r["rolled_back"]
        assert any("during the hold" in f and "us went down" in f for f in r["failures"]), r["failures"]
        assert store_of(tmp_path).read().overrides == ()
        wait_until("eu answered again", lambda: ask(nodes[0].port, "fo") == ["127.0.1.1", "127.0.1.2"], 3)


def test_bad_input_is_one_line_and_changes_nothing(tmp_path: Path) -> None:
    setup = write_setup(tmp_path, {v: 18080 for v in VANTAGES})
    cfg = str(node_config(setup, "n1"))
    # bad values on the command line: exit 2, as argparse's own errors; an error met while running: exit 1
    cases = [
        (["drill", "run", "--region", "eu", "--services", "nope", "-c", cfg], 2,
         "gtm drill: error: unknown service 'nope'; services: fast, fo"),
        (["drill", "run", "--region", "mars", "-c", cfg], 2,
         "gtm drill: error: unknown region 'mars'; regions: ap, eu, us"),
        (["drill", "run", "--region", "eu", "--hold", "long", "-c", cfg], 2,
         "gtm drill: error: --hold: a duration is a number and a unit s, m, h or d, e.g. 30m or 1h30m (got 'long')"),
        (["override", "drain", "eu/127.0.9.9", "-c", cfg], 2,
         "gtm override: error: region eu has no endpoint 127.0.9.9; it has 127.0.1.1, 127.0.1.2"),
        (["override", "drain", "eu", "--service", "nope", "-c", cfg], 2,
         "gtm override: error: unknown service 'nope'; services: fast, fo"),
        (["override", "drain", "eu", "--expires", "soon", "-c", cfg], 2,
         "gtm override: error: a duration is a number and a unit s, m, h or d, e.g. 30m or 1h30m (got 'soon')"),
        (["override", "drain", "eu", "--wait", "x", "-c", cfg], 2, None),  # argparse's own
        (["override", "clear", "eu", "-c", cfg], 1, "gtm: error: no override in force on eu"),
    ]
    for args, code, want in cases:
        done = gtm(*args)
        assert done.returncode == code, (args, done.stderr)
        if want is not None:
            assert done.stderr.strip().splitlines() == [want], (args, done.stderr)
    # no node is reachable (nothing listens on the default admin address of this config)
    unreachable = gtm("override", "drain", "eu", "-c", cfg, "--nodes", "127.0.0.1:9", "--admin", "http://127.0.0.1:9")
    assert unreachable.returncode == 3 and "no node could say which regions are healthy" in unreachable.stderr
    # a store that cannot be written: its directory is a file
    (tmp_path / "blocked").write_text("a file, not a directory\n")
    blocked = node_config(setup, "n3", store="blocked/overrides.json")
    done = gtm("override", "drain", "eu", "--force", "-c", str(blocked), "--nodes", "127.0.0.1:9", "--admin",
               "http://127.0.0.1:9")
    assert done.returncode == 1 and re.fullmatch(r"gtm: error: cannot (read|write) the override store \S+: Not a directory",
                                                  done.stderr.strip()), done.stderr
    assert not (tmp_path / STORE).exists()


def test_a_node_restarted_during_a_store_outage_keeps_the_drain(tmp_path: Path) -> None:
    """The node caches what the store said beside its health state: started while the store is unreadable, it
    still answers without the drained region, and says why in /v1/status."""
    with lab() as the_lab, two_nodes(tmp_path, the_lab) as nodes:
        cfg = str(tmp_path / "n1.yaml")
        assert gtm("override", "drain", "eu", "-c", cfg, *node_args(nodes), "--wait", "5").returncode == 0
        wait_until("cached", lambda: (tmp_path / "health-n1.json.overrides").exists(), 3)
    (tmp_path / STORE).write_text("{ not json")  # the store is now unreadable
    with lab() as the_lab, two_nodes(tmp_path, the_lab) as nodes:
        assert "eu" not in regions_answered(nodes[0].port, "fo")
        st = nodes[0].status()["overrides"]
        assert [o["target"] for o in st["in_force"]] == ["eu"]
        assert st["error"] and str(tmp_path / STORE) in st["error"]  # the outage is shown, not hidden
