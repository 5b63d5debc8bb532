"""Failover convergence: how long until a failed region stops being answered, and a revived one comes back.

    python -m bench.convergence [--rounds 3] [--dns 127.0.0.1:15353 --admin http://127.0.0.1:18053]

Without ``--dns``/``--admin`` it starts ``gtm demo`` itself on those ports (and stops it by its PID at the
end). For each round and each region it fails the region's simulated backends through the demo's admin API
(``POST /demo/regions/NAME/fail``), then asks the DNS server, over its real UDP socket, for ``www.example.com``
with an ECS client in each of Europe, America and Asia every 50 ms, until no answer names the region; then
revives it (``/recover``) and measures until the client that prefers it gets it again. Prints each
measurement and the median and worst; exits 1 when the worst exceeds the targets (down 3 s, up 5 s with the
demo's defaults: 1 s interval, fall 2, rise 2, quorum 2 of 3).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request

import dns.edns
import dns.message
import dns.query

CLIENTS = {"eu-west": "81.2.69.0", "us-east": "8.8.8.0", "ap-southeast": "1.128.0.0"}  # /24 each; preferred
TARGET_DOWN, TARGET_UP = 3.0, 5.0
TIMEOUT = 30.0  # give up on one measurement after this long


def region_of(address: str) -> str:
    return {"1": "us-east", "2": "eu-west", "3": "ap-southeast"}.get(address.split(".")[2], "?")


def answers(host: str, port: int, client: str) -> set[str]:
    q = dns.message.make_query("www.example.com", "A", use_edns=0, options=[dns.edns.ECSOption(client, 24)])
    try:
        r = dns.query.udp(q, host, port=port, timeout=1.0)
    except Exception:
        return set()
    return {region_of(rd.address) for rrset in r.answer for rd in rrset}


def post(admin: str, path: str) -> None:
    req = urllib.request.Request(admin + path, method="POST", data=b"")
    with urllib.request.urlopen(req, timeout=5) as resp:
        resp.read()


def wait_until(pred, deadline: float) -> float:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    while time.monotonic() - start < deadline:
        if pred():
            return time.monotonic() - start
        time.sleep(0.05)
    return float("inf")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dns", default=None, help="HOST:PORT of a running demo's DNS (default: start a demo)")
    ap.add_argument("--admin", default=None, help="admin URL of that demo")
    a = ap.parse_args(argv)
    proc = None
    if a.dns is None:
        host, port, admin = "127.0.0.1", 15353, "http://127.0.0.1:18053"
        proc = subprocess.Popen([sys.executable, "-m", "gtm", "demo", "--dns-listen", f"{host}:{port}",
                                 "--admin-listen", "127.0.0.1:18053"], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True, start_new_session=True)
        assert proc.stdout is not None
        started = time.monotonic()
        for line in proc.stdout:  # the demo prints its banner once it serves
            if line.startswith("Ctrl-C") or time.monotonic() - started > 60:
                break
    else:
        host, _, p = a.dns.rpartition(":")
        port, admin = int(p), (a.admin or "http://127.0.0.1:8053").rstrip("/")
    downs: list[float] = []
    ups: list[float] = []
    try:
        if wait_until(lambda: all(answers(host, port, c) for c in CLIENTS.values()), 20) == float("inf"):
            print("the demo does not answer", file=sys.stderr)
            return 2
        for rnd in range(a.rounds):
            for region, client in CLIENTS.items():
                post(admin, f"/demo/regions/{region}/fail")
                down = wait_until(lambda: not any(region in answers(host, port, c) for c in CLIENTS.values()),
                                  TIMEOUT)
                post(admin, f"/demo/regions/{region}/recover")
                up = wait_until(lambda: region in answers(host, port, client), TIMEOUT)
                downs.append(down)
                ups.append(up)
                print(f"round {rnd + 1} {region:13s} down after {down:5.2f} s, answered again after {up:5.2f} s",
                      flush=True)
                time.sleep(1.0)
    finally:
        if proc is not None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(15)
    summary = {"down_median_s": statistics.median(downs), "down_max_s": max(downs),
               "up_median_s": statistics.median(ups), "up_max_s": max(ups), "rounds": a.rounds}
    print(json.dumps(summary))
    return 0 if max(downs) <= TARGET_DOWN and max(ups) <= TARGET_UP else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
