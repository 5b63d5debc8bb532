"""gtm's side of the yardstick: `python -m bench` runs dnsperf against gdnsd and gtm in the same run.

It uses the shared yardstick (``../shared/bench``, or ``$GTM_YARDSTICK``): installs dnsperf/gdnsd once through
its ``setup.sh`` when they are missing, serves ``bench/zones`` with this checkout's ``gtm serve`` pinned to CPU 1,
runs dnsperf pinned to CPU 0 against each server in turn, and appends the summary to ``bench/results.jsonl``.
Every extra argument goes to the yardstick (``--sets``, ``--reps``, ``--duration``, ``--latency-qps``).
Run it on an otherwise idle machine; quote the ratios, which hold from run to run, not the absolute figures.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def main(argv: list[str]) -> int:
    yard = Path(os.environ.get("GTM_YARDSTICK", ROOT.parent / "shared" / "bench"))
    if not (yard / "yardstick.py").exists():
        print(f"bench: no yardstick at {yard} (set GTM_YARDSTICK)", file=sys.stderr)
        return 2
    if not shutil.which("dnsperf") or not os.path.exists("/usr/sbin/gdnsd"):
        subprocess.run(["bash", str(yard / "setup.sh")], check=True)
    gtm = shutil.which("gtm", path=os.path.dirname(sys.executable)) or shutil.which("gtm")
    # One worker process: the yardstick pins each server to one core (CPU 1), as gdnsd runs one UDP thread.
    server = f"{gtm} serve --workers 1 --listen 127.0.0.1:{{port}} {HERE / 'zones'}" if gtm else \
        f"{sys.executable} -m gtm serve --workers 1 --listen 127.0.0.1:{{port}} {HERE / 'zones'}"
    args = argv or ["--sets", "static,mixed,geo", "--reps", "3", "--duration", "10", "--latency-qps", "20000"]
    if "--json" not in args:
        args += ["--json", str(HERE / "results.jsonl")]
    # The yardstick's python needs nothing but the standard library and the GeoLite2 package setup.sh installs.
    return subprocess.run(["python3", str(yard / "yardstick.py"), "--server", server, *args]).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
