"""The operator's files in docs/deploy/: the alerting rules pass `promtool check rules` (Debian's prometheus
package; .ci/run installs it), and every gtm metric the rules and the Grafana dashboard name exists on a running
node, so an alert cannot watch a series that is never there."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
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
    assert not [m for m in missing if m not in eventual], missing
