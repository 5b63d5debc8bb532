"""``python -m bench`` from the checkout: the project's own harness writes gdnsd's configuration from gtm's bench
config, checks that both servers answer alike, and runs dnsperf against both in the same run. Here with the
shortest bounded runs (a smoke test of the harness, not a measurement: speed is judged by the benchmark itself,
never by the suite). dnsperf and gdnsd come from Debian's packages (.ci/run installs them)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.harness import BenchError, gdnsd_dir
from tests.conftest import ROOT

TOOLS = shutil.which("dnsperf") is not None and os.access("/usr/sbin/gdnsd", os.X_OK) and shutil.which("taskset")


@pytest.mark.skipif(not TOOLS, reason="dnsperf, gdnsd or taskset missing: bench/install-tools.sh installs them")
def test_python_m_bench_runs_gdnsd_and_gtm_in_one_run(tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    done = subprocess.run([sys.executable, "-m", "bench", "--sets", "static,geo", "--reps", "1", "--duration", "1",
                           "--latency-qps", "2000", "--json", str(out), "--no-install"], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "gdnsd and gtm answer every query of static, geo alike" in done.stdout
    line = json.loads(out.read_text().splitlines()[-1])
    assert line["harness"] == "bench/harness.py" and set(line["sets"]) == {"static", "geo"}
    for row in line["sets"].values():
        for who in ("gdnsd", "gtm"):
            assert row[f"{who}_qps"] > 0 and row[f"{who}_us"] > 0, row
        assert row["cpu_ratio"] == pytest.approx(row["gtm_us"] / row["gdnsd_us"])
        for who in ("gdnsd", "gtm"):  # the fixed-rate run's percentiles, of every query it timed
            assert 0 < row[f"{who}_p50_us"] <= row[f"{who}_p99_us"] < 1e6, row
    assert "static: qps_ratio=" in done.stdout.splitlines()[-1]


def test_gdnsd_gets_the_same_zone_from_gtms_config(tmp_path: Path) -> None:
    g = gdnsd_dir(tmp_path, [str(ROOT / "bench" / "zones")], 15300)
    zone = (g / "zones" / "bench.test").read_text().splitlines()
    assert "static.bench.test. 300 IN A 192.0.2.40" in zone
    assert "bench.test. 300 IN SOA ns1.bench.test. hostmaster.bench.test. 2024010101 3600 900 604800 300" in zone
    assert "www.bench.test. 30 IN DYNA geoip!www_0" in zone
    config = (g / "config").read_text()
    assert "auto_dc_coords => { us => [ 39.04, -77.49 ], eu => [ 50.11, 8.68 ], ap => [ 1.35, 103.82 ] }" in config
    assert "dcmap => { us => 192.0.2.10, eu => 198.51.100.10, ap => 203.0.113.10 }" in config
    assert (g / "geoip" / "city.mmdb").resolve().is_file()


def test_a_policy_gdnsd_cannot_mirror_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match=r"service example.com/www: gdnsd mirrors proximity services only"):
        gdnsd_dir(tmp_path, [str(ROOT / "zones")], 15300)


def test_the_hostname_variant_serves_the_same_answers_through_hostname_endpoints(tmp_path: Path) -> None:
    """``python -m bench --hostnames``: gtm's regions become hostname endpoints of the bench zone itself (resolved
    from the zone's data, answered flattened); gdnsd's datacenter map gets the very addresses."""
    from bench.harness import hostname_zones
    from gtm.config import load

    zones = hostname_zones([str(ROOT / "bench" / "zones")], tmp_path / "zones")
    config = load([zones])
    assert config.hostnames == ("lb-us.bench.test", "lb-eu.bench.test", "lb-ap.bench.test")
    assert all(e.address is None for r in config.regions.values() for e in r.endpoints)
    g = gdnsd_dir(tmp_path, [zones], 15300)
    assert "dcmap => { us => 192.0.2.10, eu => 198.51.100.10, ap => 203.0.113.10 }" in (g / "config").read_text()
