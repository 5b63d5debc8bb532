"""Agreement with an independent implementation: gtm's proximity ranking vs gdnsd's geoip plugin.

    python -m bench.oracle [--count 10000] [--seed 1] [--v6] [--show 20]

Runs the shared oracle (``../shared/bench/geoip_oracle.py``: gdnsd's own ``gdnsd_geoip_test`` on the bench
datacenters and the same GeoLite2 City database) for random public addresses, ranks the same addresses with
gtm's steering on ``bench/zones`` (the ``www`` proximity service), and prints the share that agree, then each
difference with the distances gtm computed, so that it can be explained. Also compares ECS scopes: gtm's is the
database network's prefix, gdnsd's a merged supernet, so gtm's is expected to be the same or longer.
"""
from __future__ import annotations

import argparse
import ipaddress
import os
import subprocess
import sys
from pathlib import Path

from gtm import steering
from gtm.config import load
from gtm.geoip import Locator
from gtm.model.effective import Effective
from gtm.steering.geomath import distance_km

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--v6", action="store_true")
    ap.add_argument("--show", type=int, default=20, help="differences to print")
    a = ap.parse_args(argv)
    yard = Path(os.environ.get("GTM_YARDSTICK", HERE.parent.parent / "shared" / "bench"))
    cmd = ["python3", str(yard / "geoip_oracle.py"), "--count", str(a.count), "--seed", str(a.seed)]
    if a.v6:
        cmd.append("--v6")
    lines = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=900).stdout.splitlines()
    config = load([str(HERE / "zones")])
    service = next(s for s in config.services if s.key == "www")
    locator = Locator(config.geoip)
    ctx = steering.Context(config, Effective())
    agree, wider, same_scope, diffs = 0, 0, 0, []
    for line in lines:
        addr_text, scope_text, ranking_text = line.split()
        addr = ipaddress.ip_address(addr_text)
        client = steering.Client(addr, addr.max_prefixlen, locator.locate(addr))
        ours = steering.rank(service, client, ctx)
        theirs = tuple(ranking_text.split(","))
        if ours.order == theirs:
            agree += 1
        else:
            diffs.append((addr_text, client, ours.order, theirs))
        gd_scope = int(scope_text)
        same_scope += ours.scope == gd_scope
        wider += ours.scope < gd_scope
    total = len(lines)
    print(f"addresses: {total}  (database: {locator.description})")
    print(f"ranking agrees with gdnsd: {agree}/{total} = {agree / total:.2%}")
    print(f"ECS scope: equal {same_scope}, gtm narrower {total - same_scope - wider}, gtm wider {wider}")
    for addr_text, client, ours_order, theirs in diffs[: a.show]:
        where = client.geo.location
        dist = "" if where is None else " ".join(
            f"{r}={distance_km(where, config.regions[r].location):.1f}km" for r in ours_order)
        print(f"  {addr_text}: gtm {','.join(ours_order)} gdnsd {','.join(theirs)} "
              f"[{client.geo.describe()}] {dist}")
    return 0 if total and agree / total >= 0.995 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
