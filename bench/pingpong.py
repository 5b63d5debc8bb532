"""``python -m bench.pingpong``: latency at low load, one query at a time.

gdnsd, ``gtm serve --udp-io batched`` and ``gtm serve --udp-io asyncio`` (each ``--workers 1``) answer
``static.bench.test A`` from bench/zones in turn, pinned to CPU 1; a client pinned to CPU 0 asks one query,
waits for its answer, pauses 50 µs, and so on (bounded: ``--queries`` per server, default 20,000, after 2,000
to warm up), in ``--rounds`` rounds that visit the servers in turn (all three run throughout). Prints the p50,
p99 and p99.9 round trip in microseconds, client overhead included: compare the servers with each other, in the
same run."""
from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

import dns.message

from bench.harness import GDNSD, HERE, Server, free_port, gdnsd_dir


def round_trips(port: int, n: int) -> list[float]:
    q = dns.message.make_query("static.bench.test", "A").to_wire()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(("127.0.0.1", port))
    s.settimeout(1.0)
    out = []
    try:
        for _ in range(n):
            t = time.perf_counter_ns()
            s.send(q)
            s.recv(512)
            out.append((time.perf_counter_ns() - t) / 1000)
            time.sleep(0.00005)
    finally:
        s.close()
    return sorted(out)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.pingpong", description=__doc__)
    ap.add_argument("--queries", type=int, default=20000, help="queries per server (default 20,000)")
    ap.add_argument("--rounds", type=int, default=10, help="rounds the queries are spread over (default 10)")
    a = ap.parse_args(argv)
    if not 100 <= a.queries <= 1_000_000:
        ap.error("--queries is between 100 and 1,000,000")
    if not 1 <= a.rounds <= a.queries // 100:
        ap.error("--rounds is between 1 and queries/100")
    work = Path(tempfile.mkdtemp(prefix="gtm-pingpong-"))
    if {0, 1} <= os.sched_getaffinity(0):
        os.sched_setaffinity(0, {0})
    servers = {
        "gdnsd": lambda p: [GDNSD, "-c", str(gdnsd_dir(work, [str(HERE / "zones")], p)), "start"],
        "gtm batched": lambda p: [sys.executable, "-m", "gtm", "serve", "--workers", "1", "--udp-io", "batched",
                                  "--listen", f"127.0.0.1:{p}", str(HERE / "zones")],
        "gtm asyncio": lambda p: [sys.executable, "-m", "gtm", "serve", "--workers", "1", "--udp-io", "asyncio",
                                  "--listen", f"127.0.0.1:{p}", str(HERE / "zones")],
    }
    started: dict[str, tuple[Server, int]] = {}
    samples: dict[str, list[float]] = {label: [] for label in servers}
    try:
        for label, argv_of in servers.items():
            port = free_port()
            server = Server(label, argv_of(port), port, work / f"{label.replace(' ', '-')}.log", "1")
            server.start()
            started[label] = (server, port)
            round_trips(port, 2000)
        # Rounds, the servers in a rotating order each round, so that a slow spell of this shared machine falls
        # on all of them alike.
        labels = list(servers)
        for r in range(a.rounds):
            for label in labels[r % len(labels):] + labels[: r % len(labels)]:
                samples[label] += round_trips(started[label][1], a.queries // a.rounds)
    finally:
        for server, _ in started.values():
            server.stop()
    for label, rtt in samples.items():
        rtt.sort()
        n = len(rtt)
        print(f"{label:12} p50 {rtt[n // 2]:6.1f} µs  p99 {rtt[int(n * 0.99)]:6.1f} µs  "
              f"p99.9 {rtt[int(n * 0.999)]:6.1f} µs", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
