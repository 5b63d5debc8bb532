"""A second zone beside the bundled example, as docs/configuration.md ("A second zone") writes it: its own
``www`` next to example.com's, on the regions, monitor and vantages the example defines. Checked, served,
drained for one zone only (``zone/key``), and asked about by key where the key is ambiguous."""
from __future__ import annotations

import json
import re
import shutil
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.conftest import run_gtm as gtm
from tests.support.steering_world import addresses, ask

EU_WEST = ["198.51.100.10", "198.51.100.11"]
US_EAST = ["192.0.2.10", "192.0.2.11"]
UK = "81.2.69.0/24"  # steered to eu-west by example.com's geo rules


def second_zone_yaml() -> str:
    """The YAML block the docs show, taken from the page itself (so that the page cannot drift from what works)."""
    doc = (ROOT / "docs" / "configuration.md").read_text()
    found = re.search(r"<!-- second-zone -->\n```yaml\n(.*?)```", doc, re.S)
    assert found, "docs/configuration.md lost its second-zone example"
    return found.group(1)


@pytest.fixture
def zones(tmp_path: Path) -> Path:
    d = tmp_path / "zones"
    d.mkdir()
    shutil.copy(ROOT / "zones" / "example.com.yaml", d)
    (d / "example.org.yaml").write_text(second_zone_yaml())
    return d


def wait_for(what: str, check, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(0.05)


def test_two_zones_with_their_own_www_check_serve_and_drain_apart(zones: Path, gtm_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    checked = gtm("check", zones)
    assert checked.returncode == 0, checked.stderr
    assert re.search(r"^example\.com\. ok: \d+ records, 3 services", checked.stdout, re.M), checked.stdout
    assert re.search(r"^example\.org\. ok: 4 records, 1 service ", checked.stdout, re.M), checked.stdout

    admin = tmp_path / "admin.yaml"  # the node's admin API, for its status and metrics (no token: on loopback only)
    # (no prober reports to it here: it serves without waiting out the first round of reports)
    admin.write_text("admin: {listen: 127.0.0.1:0}\nhealth: {start_timeout: 0.5}\n")
    srv = gtm_server(zones, admin)
    assert sorted(addresses(ask(srv.port, "www.example.org.", "A"))) == EU_WEST  # failover: eu-west first
    assert sorted(addresses(ask(srv.port, "www.example.com.", "A", UK))) == EU_WEST

    # the key alone is ambiguous now: a usage error that names both, and nothing written
    ambiguous = gtm("override", "drain", "eu-west", "--service", "www", "--force", "-c", zones)
    assert ambiguous.returncode == 2
    assert "service 'www' is in 2 zones; name one of example.com/www, example.org/www" in ambiguous.stderr
    assert not (zones / ".gtm-overrides.json").exists()
    # the key alone is enough where one zone has it
    api = gtm("override", "drain", "eu-west", "--service", "api", "--force", "--dry-run", "-c", zones)
    assert api.returncode == 0 and "drain eu-west for example.com/api" in api.stdout, api.stdout + api.stderr

    drained = gtm("override", "drain", "eu-west", "--service", "example.org/www", "--force", "-c", zones)
    assert drained.returncode == 0, drained.stderr
    assert "drain eu-west for example.org/www: in force" in drained.stdout
    wait_for("example.org's www leaves eu-west",
             lambda: sorted(addresses(ask(srv.port, "www.example.org.", "A"))) == US_EAST)
    assert sorted(addresses(ask(srv.port, "www.example.com.", "A", UK))) == EU_WEST  # the other zone's www stays

    listed = gtm("override", "list", "-c", zones)
    assert re.search(r"^drain eu-west +example\.org/www ", listed.stdout, re.M), listed.stdout

    with urllib.request.urlopen(f"{srv.admin}/v1/status", timeout=5) as r:
        status = json.load(r)
    healthy = {s["name"]: s["healthy_regions"] for s in status["services"]}
    assert healthy["example.org/www"] == ["us-east"]
    assert healthy["example.com/www"] == ["us-east", "eu-west", "ap-southeast"]
    with urllib.request.urlopen(f"{srv.admin}/metrics", timeout=5) as r:
        metrics = r.read().decode()
    assert 'gtm_healthy_regions{service="www",zone="example.org"} 1.0' in metrics
    assert 'gtm_healthy_regions{service="www",zone="example.com"} 3.0' in metrics
    assert re.search(r'gtm_answers_total\{region="us-east",service="www",zone="example.org"\} [1-9]', metrics)

    cleared = gtm("override", "clear", "eu-west", "--service", "example.org/www", "-c", zones)
    assert cleared.returncode == 0, cleared.stderr
    wait_for("example.org's www is back on eu-west",
             lambda: sorted(addresses(ask(srv.port, "www.example.org.", "A"))) == EU_WEST)


def test_a_health_file_names_a_repeated_key_by_zone(zones: Path, tmp_path: Path) -> None:
    health = tmp_path / "health.yaml"
    health.write_text("sticky:\n  www/frankfurt: us-east\n")
    bad = gtm("explain", zones, "www.example.org", "--health", health)
    assert bad.returncode == 1
    assert "sticky.www/frankfurt: must be SERVICE/VANTAGE: service 'www' is in 2 zones" in bad.stderr
    health.write_text("sticky:\n  example.com/api/frankfurt: us-east\n")
    good = gtm("explain", zones, "www.example.org", "--health", health)
    assert good.returncode == 0, good.stderr
