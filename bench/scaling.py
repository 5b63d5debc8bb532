"""Scaling across cores: gtm with 1 and 2 worker processes (and in-process, for reference) against gdnsd
with 1 and 2 UDP threads, in the same run, with the shared yardstick's servers, zone, query sets and
dnsperf (``python -m bench.scaling [--reps N] [--duration S] [--sets static,geo]``).

Unlike the yardstick's main comparison (every server pinned to CPU 1, dnsperf to CPU 0), servers here may
use both cores; dnsperf stays on CPU 0, so it competes with the servers for that core, on this 2-core
machine. The figure that does not depend on that competition is the server's CPU time per query. Results
are printed and appended to ``bench/scaling.jsonl``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
YARD = Path(os.environ.get("GTM_YARDSTICK", HERE.parent.parent / "shared" / "bench"))
sys.path.insert(0, str(YARD))
import benchzone  # noqa: E402
import yardstick  # noqa: E402


def gdnsd_config(work: str, port: int, threads: int) -> str:
    g = benchzone.write_gdnsd(work, port)
    path = os.path.join(g, "config")
    text = Path(path).read_text()
    assert "udp_threads => 1" in text
    Path(path).write_text(text.replace("udp_threads => 1", f"udp_threads => {threads}"))
    return g


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--duration", type=int, default=8)
    ap.add_argument("--sets", default="static,geo")
    a = ap.parse_args(argv)
    gtm = shutil.which("gtm", path=os.path.dirname(sys.executable)) or f"{sys.executable} -m gtm"
    work = tempfile.mkdtemp(prefix="scaling-")
    queries = benchzone.write_queries(work)
    sets = a.sets.split(",")
    port = yardstick.SUT_PORT
    configs = [("gdnsd 1 thread", "gdnsd", 1), ("gdnsd 2 threads", "gdnsd", 2),
               ("gtm in-process", "gtm", 0), ("gtm 1 worker", "gtm", 1), ("gtm 2 workers", "gtm", 2)]
    results: dict[str, dict[str, list[dict]]] = {name: {s: [] for s in sets} for name, _, _ in configs}
    for rep in range(a.reps):
        for name, kind, n in (configs if rep % 2 == 0 else list(reversed(configs))):
            if kind == "gdnsd":
                g = gdnsd_config(os.path.join(work, f"g{n}"), port, n)
                argv_ = ["/usr/sbin/gdnsd", "-c", g, "start"]
            else:
                argv_ = [*gtm.split(), "serve", "--listen", f"127.0.0.1:{port}", *(["--workers", str(n)] if n else []),
                         str(HERE / "zones")]
            srv = yardstick.Server(name, argv_, port, os.path.join(work, f"{kind}{n}.log"), cpu="0,1")
            try:
                for s in sets:
                    r = yardstick.measure(srv, queries[s][0], queries[s][1], a.duration)
                    results[name][s].append(r)
                    print(f"rep{rep} {name:16s} {s:6s} qps={r['qps']:9.0f} cpu_us/q={r['cpu_us_per_query'] or 0:6.2f}",
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
                      "cpu_us_per_query": statistics.median(r["cpu_us_per_query"] or 0 for r in results[name][s])}
        summary[name] = row
        print(f"{name:16s} " + " ".join(f"{row[s]['qps']:12.0f} {row[s]['cpu_us_per_query']:10.2f}" for s in sets))
    with open(HERE / "scaling.jsonl", "a") as fh:
        fh.write(json.dumps({"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "reps": a.reps,
                             "duration": a.duration, "results": summary}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
