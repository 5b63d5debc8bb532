"""docs/route53.md's "Try it on moto" recipe, pasted into bash as written (moto's server on a loopback port, a
gtm node, plan, apply, failover and restore with --route53, destroy), in a copy of the clone's example. Its
fixed ports (5000, 5353, 8053) are swapped for free ones, and `.venv/bin/` for this Python's bin directory."""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def recipe() -> str:
    found = re.search(r"<!-- moto-recipe -->\n```sh\n(.*?)```", (ROOT / "docs" / "route53.md").read_text(), re.S)
    assert found, "docs/route53.md lost its moto recipe"
    return found.group(1)


@pytest.mark.skipif(shutil.which("moto_server", path=os.path.dirname(sys.executable)) is None,
                    reason="moto_server missing (moto[server] is in the test extras)")
def test_the_moto_recipe_works_when_pasted_into_a_shell(tmp_path: Path) -> None:
    script = recipe()
    moto, dns, admin = free_port(), free_port(), free_port()
    script = script.replace("-p 5000", f"-p {moto}").replace("127.0.0.1:5000", f"127.0.0.1:{moto}")
    script = script.replace("--admin-listen 127.0.0.1:8053", f"--admin-listen 127.0.0.1:{admin} "
                                                               f"--listen 127.0.0.1:{dns}")
    script = script.replace("-c r53try", f"-c r53try --nodes 127.0.0.1:{dns} --admin http://127.0.0.1:{admin}")
    script = script.replace(".venv/bin/pip install -q 'moto[server]==5.2.5'\n", "")  # (the test extras have it)
    script = script.replace(".venv/bin/", os.path.dirname(sys.executable) + "/")
    shutil.copytree(ROOT / "zones", tmp_path / "zones")
    done = subprocess.run(["bash", "-c", "trap 'kill $NODE $MOTO 2>/dev/null || true' EXIT\n" + script],
                          cwd=tmp_path, capture_output=True, text=True, timeout=240,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    out = done.stdout + done.stderr
    node = tmp_path / "node.log"
    assert done.returncode == 0, out[-4000:] + (node.read_text()[-2000:] if node.exists() else "")
    assert "exit 2" in out and "exit 0" in out  # changes at first, none after the apply
    assert "applied: 38 health checks created" in out and "in sync on every Route53 name server" in out
    assert "gtm failover eu-west: passed" in out and "gtm restore eu-west: passed" in out
    assert out.count("  no changes") == 2  # after the apply, and during the failover (the drain is kept)
    reports = sorted((tmp_path / "reports").glob("failover-eu-west-*.json"))
    events = [e["event"] for e in json.loads(reports[0].read_text())["timeline"]]
    assert "route53 switch inverted" in events  # the failover drained eu-west on Route53 too
    assert "38 health checks deleted" in out  # destroy
