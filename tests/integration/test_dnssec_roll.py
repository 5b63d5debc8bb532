"""A key rollover under continuous queries: ``gtm dnssec roll`` takes a zone-signing key through pre-publish
(published, active, retired: each step reloaded by a real ``gtm serve --watch``, which watches the key
directory) with TTLs of 1 s, while Unbound, a validating resolver that caches the DNSKEY RRset for its TTL, is
asked without pause; not one answer may fail validation. Also: the roll refuses a step before its wait is over
(exit 3), checks the node serves the keys it expects, and leaves the state in the key directory, so
``gtm dnssec status`` tells it.

What this cannot show: that the waits are needed. Unbound fetches the DNSKEY RRset again when a signature
names a key it has not cached, so a roll that skipped them also passed here (tried: no failed answer). The waits
are checked against their TTLs in tests/unit/dnssec/test_roll.py.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import dns.flags
import dns.rcode

from tests.conftest import GtmProcess, run_gtm
from tests.support.dnssec_world import Unbound

ZONE = """\
zone: r.test
ttl: 1
soa: {minimum: 1}
ns: [ns1]
signed: true
dnssec: {key_dir: keys}
records:
  ns1: {A: 192.0.2.53}
  www: {A: 192.0.2.80}
regions:
  one: {location: {lat: 50, lon: 8}, endpoints: [{address: 192.0.2.10}]}
  two: {location: {lat: 40, lon: -75}, endpoints: [{address: 192.0.2.20}]}
services:
  app: {ttl: 1, regions: [one, two], policy: failover}
"""


def test_a_zsk_roll_never_breaks_validation(tmp_path: Path) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "r.test.yaml").write_text(ZONE)
    made = run_gtm("dnssec", "keygen", "r.test", "--split", "-c", zones, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    ksk, zsk = (int(line.split()[1]) for line in made.stdout.splitlines())
    ds = run_gtm("dnssec", "ds", "r.test", "-c", zones, cwd=tmp_path).stdout.strip()
    server = GtmProcess([str(zones), "--watch", "--watch-interval", "0.2"], tmp_path)
    resolver = Unbound(tmp_path / "unbound", server.port, ds, cache_max_ttl=None)
    seen: list[tuple[str, int, bool]] = []
    stop = threading.Event()

    def ask_all_the_time() -> None:
        names = ["www.r.test", "app.r.test", "nope.r.test", "r.test"]
        i = 0
        while not stop.is_set() and i < 5000:
            name = names[i % len(names)]
            try:
                reply = resolver.ask(name, "SOA" if name == "r.test" else "A")
                seen.append((name, reply.rcode(), bool(reply.flags & dns.flags.AD)))
            except Exception as e:  # a timeout is a failure too
                seen.append((f"{name}: {e}", -1, False))
            i += 1
            time.sleep(0.02)

    roll = ["dnssec", "roll", "r.test", "-c", zones, "--propagation", "0.5", "--nodes", f"127.0.0.1:{server.port}"]
    asker = threading.Thread(target=ask_all_the_time)
    try:
        asker.start()
        time.sleep(1)
        steps, waits = [], 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            start = len(server.lines)
            out = run_gtm(*roll, cwd=tmp_path)
            if out.returncode == 3:
                waits += 1
                time.sleep(0.3)
                continue
            assert out.returncode == 0, out.stdout + out.stderr
            steps.append(out.stdout)
            if len(steps) == 1:  # mid-roll: the state is on disk, and status says what comes next
                status = run_gtm("dnssec", "status", "-c", zones, cwd=tmp_path).stdout
                assert f"zsk roll {zsk} -> " in status and "published since" in status, status
                early = run_gtm(*roll, cwd=tmp_path)  # before the node reloaded: it serves the old keys
                assert early.returncode in (1, 3), early.stdout + early.stderr
            server.wait_for_log("reloaded in", start=start)  # --watch saw the key directory change
            if "complete" in out.stdout:
                break
        time.sleep(1.5)  # the last answers after the roll, from caches and anew
    finally:
        stop.set()
        asker.join(10)
        log = resolver.stop()
        server.stop()
    assert len(steps) == 3 and waits >= 2, steps
    new = int(steps[0].split()[1])
    assert new not in (ksk, zsk) and "complete" in steps[2]
    failed = [s for s in seen if s[1] != dns.rcode.NOERROR or not s[2]]
    assert len(seen) > 100 and not failed, (failed[:5], log[-3000:])
    keys = run_gtm("dnssec", "status", "-c", zones, cwd=tmp_path).stdout
    assert f"zsk {zsk} ecdsap256sha256 retired" in keys and f"zsk {new} ecdsap256sha256 active" in keys, keys
    assert f"ksk {ksk} ecdsap256sha256 active" in keys and "roll" not in keys.split("\n", 1)[1], keys
    assert "signatures made now are valid until " in keys and "every one is made afresh from " in keys, keys
