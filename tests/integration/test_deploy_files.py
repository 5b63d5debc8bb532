"""The operator's files in docs/deploy/: the alerting rules pass `promtool check rules` (Debian's prometheus
package; .ci/run installs it), and every gtm metric the rules and the Grafana dashboard name exists on a running
node, so an alert cannot watch a series that is never there."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.admin_node import APP, all_obs, running_node, write_node

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "docs" / "deploy"
METRIC = re.compile(r"\b((?:gtm|process)_[a-z_]+)")


def test_the_alerting_rules_pass_promtool() -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: install Debian's prometheus package (.ci/run does)"
    out = subprocess.run([promtool, "check", "rules", str(DEPLOY / "gtm-alerts.yml")], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and "SUCCESS" in out.stdout, out.stdout + out.stderr


def test_every_metric_the_rules_and_the_dashboard_name_exists_on_a_node(tmp_path: Path) -> None:
    named = set(METRIC.findall((DEPLOY / "gtm-alerts.yml").read_text()))
    dashboard = json.loads((DEPLOY / "grafana-gtm.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            named |= set(METRIC.findall(target["expr"]))
    assert len(named) > 10, named
    with running_node(write_node(tmp_path)) as node:
        node.send("frankfurt", all_obs(up=["eu-west", "us-east"]))  # verdicts, RTTs, probe results
        assert node.query(APP).answer  # answers
        exposed = node.get("/metrics").text
    missing = [m for m in sorted(named) if not re.search(rf"^{m}(\{{| )", exposed, re.M)]
    # series that appear with their first event: a rejected report, a worker restart (a node with workers)
    eventual = {"gtm_reports_rejected_total", "gtm_worker_restarts_total", "gtm_workers"}
    # and those of signed zones (tests/unit/dnssec/test_signed_tables.py sees them on a signed node's collector)
    eventual |= {"gtm_dnssec_signature_expiry_timestamp_seconds"}
    assert not [m for m in missing if m not in eventual], missing


def test_the_systemd_units_verify_cleanly(tmp_path: Path) -> None:
    """`systemd-analyze verify` on the node's unit and the prober's (instantiated as frankfurt), with ExecStart
    pointing at this environment's gtm: no error and no warning (an unknown or misspelt directive is one)."""
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing: install Debian's systemd package"
    gtm = Path(sys.executable).parent / "gtm"
    assert gtm.exists(), gtm
    for name, as_name in (("gtm-node.service", "gtm-node.service"),
                          ("gtm-prober@.service", "gtm-prober@frankfurt.service")):
        text = (DEPLOY / name).read_text()
        assert "/usr/local/bin/gtm " in text
        (tmp_path / as_name).write_text(text.replace("/usr/local/bin/gtm", str(gtm)))
    out = subprocess.run([analyze, "verify", "--man=no", "gtm-node.service", "gtm-prober@frankfurt.service"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and not out.stderr.strip() and not out.stdout.strip(), out.stdout + out.stderr
    node = (DEPLOY / "gtm-node.service").read_text()
    for wanted in ("AmbientCapabilities=CAP_NET_BIND_SERVICE", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
                   "StateDirectory=gtm", "ExecReload=/bin/kill -HUP $MAINPID", "NoNewPrivileges=yes"):
        assert wanted in node, wanted
