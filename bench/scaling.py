"""Scaling across cores: gtm with 1 and 2 worker processes (and in-process, for reference) against gdnsd with 1
and 2 UDP threads, in the same run, with the harness's servers, zone, query sets and dnsperf
(``python -m bench.scaling [--reps N] [--duration S] [--sets static,geo]``).

Unlike the main comparison (``python -m bench``: every server pinned to CPU 1, dnsperf to CPU 0), servers here
may use both cores; dnsperf stays on CPU 0, so it competes with the servers for that core, on a 2-core machine.
The figure that does not depend on that competition is the server's CPU time per query. Results are printed and
appended to ``bench/scaling.jsonl``.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import GDNSD, SETS, Server, dnsperf, free_port, gdnsd_dir

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.scaling")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--duration", type=float, default=8)
    ap.add_argument("--sets", default="static,geo")
    a = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="gtm-scaling-"))
    sets = a.sets.split(",")
    data = {}
    for s in sets:
        data[s] = work / f"{s}.txt"
        data[s].write_text("\n".join(SETS[s][0]) + "\n")
    configs = [("gdnsd 1 thread", "gdnsd", 1), ("gdnsd 2 threads", "gdnsd", 2),
               ("gtm in-process", "gtm", 0), ("gtm 1 worker", "gtm", 1), ("gtm 2 workers", "gtm", 2)]
    results: dict[str, dict[str, list[dict[str, Any]]]] = {name: {s: [] for s in sets} for name, _, _ in configs}
    for rep in range(a.reps):
        for name, kind, n in (configs if rep % 2 == 0 else list(reversed(configs))):
            port = free_port()
            if kind == "gdnsd":
                g = gdnsd_dir(work / f"g{n}", [str(HERE / "zones")], port, udp_threads=n)
                argv_ = [GDNSD, "-c", str(g), "start"]
            else:
                argv_ = [sys.executable, "-m", "gtm", "serve", "--listen", f"127.0.0.1:{port}", "--workers", str(n),
                         str(HERE / "zones")]
            srv = Server(name, argv_, port, work / f"{kind}{n}.log", "0,1")
            srv.start()
            try:
                for s in sets:
                    r = dnsperf(srv, data[s], SETS[s][1], a.duration, "0")
                    results[name][s].append(r)
                    print(f"rep{rep} {name:16s} {s:6s} qps={r['qps']:9.0f} cpu_us/q={r['cpu_us'] or 0:6.2f}",
                          flush=True)
            finally:
                srv.stop()
                time.sleep(0.5)
    summary = {}
    print(f"\n{'server':16s} " + " ".join(f"{s + ' qps':>12s} {s + ' us/q':>10s}" for s in sets))
    for name, _, _ in configs:
        row = {}
        for s in sets:
            row[s] = {"qps": statistics.median(r["qps"] for r in results[name][s]),
                      "cpu_us_per_query": statistics.median(r["cpu_us"] or 0 for r in results[name][s])}
        summary[name] = row
        print(f"{name:16s} " + " ".join(f"{row[s]['qps']:12.0f} {row[s]['cpu_us_per_query']:10.2f}" for s in sets))
    with open(HERE / "scaling.jsonl", "a") as fh:
        fh.write(json.dumps({"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "reps": a.reps,
                             "duration": a.duration, "harness": "bench/harness.py", "results": summary}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
