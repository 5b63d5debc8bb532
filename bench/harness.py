"""The benchmark: dnsperf against gdnsd and against gtm, on the same zone, in the same run.

``python -m bench`` (from a clone, with gtm installed in the running Python) does, in order:

1. installs dnsperf and gdnsd when missing (``bench/install-tools.sh``, Debian packages);
2. loads gtm's bench config (``bench/zones``) and writes gdnsd's configuration **from it**: the same static
   records, and each managed service as a gdnsd ``geoip`` resource with the regions as datacenters placed at
   the regions' locations (gdnsd's ``auto_dc_coords``: nearest datacenter first, the configured order for a
   client without a location), reading the same GeoLite2 City database as gtm;
3. starts both servers on 127.0.0.1, each pinned to CPU 1 (gtm with one worker process: gdnsd answers UDP on
   one thread), and checks that they give the same answers to every query of every set, ECS included; a
   difference stops the run (a benchmark of different work measures nothing);
4. runs dnsperf pinned to CPU 0 against each server in turn, alternating which goes first, ``--reps`` times
   per query set, each run bounded by ``--duration``; with ``--latency-qps N``, as many runs more per server
   and set at that fixed rate, the same alternation, for the median of the runs' p50 and p99 latency (and the
   p99 of all their queries together);
5. prints per set the median queries/s and the server's CPU microseconds per query (utime + stime of its
   process tree over the run, from ``/proc``), and the ratios gtm/gdnsd; appends one JSON line to
   ``bench/results.jsonl`` (``--json`` to choose another file).

On a fast machine dnsperf cannot saturate gdnsd; the CPU-per-query ratio is then the figure to quote. Servers
are stopped by their PID. Keep the machine otherwise idle, and never run two benchmarks at once.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import os
import re
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TICKS = os.sysconf("SC_CLK_TCK")
GDNSD = "/usr/sbin/gdnsd"

# The query sets: (dnsperf data lines, the client network sent as ECS or None).
MIXED = ("static.bench.test A", "bench.test A", "bench.test AAAA", "bench.test MX", "bench.test TXT",
         "bench.test NS", "bench.test SOA", "mail.bench.test A", "api.bench.test A", "api.bench.test AAAA",
         "cdn.bench.test A", "cdn.bench.test AAAA", "txt.bench.test TXT", "ns1.bench.test A",
         "static.bench.test AAAA", "mail.bench.test MX",                                  # NODATA
         "nx1.bench.test A", "nope.bench.test A", "x.api.bench.test A")                   # NXDOMAIN
SETS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "static": (("static.bench.test A",), None),
    "mixed": (MIXED, None),
    "geo": (("www.bench.test A",), "85.214.0.0/24"),  # a German network: the eu datacenter
}


class BenchError(Exception):
    """Something that stops the run, said in one line."""


# -- the peer's configuration, written from gtm's ---------------------------------------------------------------
def ecs_payload(network: str) -> bytes:
    """The EDNS Client Subnet option's data (RFC 7871 section 6) for ``network``, scope 0."""
    net = ipaddress.ip_network(network, strict=False)
    family = 1 if net.version == 4 else 2
    length = (net.prefixlen + 7) // 8
    return family.to_bytes(2, "big") + bytes([net.prefixlen, 0]) + net.network_address.packed[:length]


def gdnsd_dir(work: Path, config_paths: list[str], port: int, udp_threads: int = 1) -> Path:
    """gdnsd's configuration directory for the zones gtm's config holds (see the module's docstring), answering
    UDP on ``udp_threads`` threads."""
    from gtm.config import load
    from gtm.geoip import embedded_city_database
    from gtm.health.resolve import own_answer
    from gtm.model import A, ProximityPolicy

    config = load(config_paths)
    mmdb = config.geoip.city or embedded_city_database()
    g = work / "gdnsd"
    for sub in ("run", "state", "zones", "geoip"):
        (g / sub).mkdir(parents=True, exist_ok=True)
    (g / "geoip" / "city.mmdb").unlink(missing_ok=True)
    (g / "geoip" / "city.mmdb").symlink_to(os.path.abspath(mmdb))
    maps, resources = [], []
    for zone in config.zones.values():
        dyna = {}
        for svc in zone.services:
            if not isinstance(svc.policy, ProximityPolicy):
                raise BenchError(f"service {svc.ref}: gdnsd mirrors proximity services only (got {svc.policy.kind})")
            dcmap = []
            for name in svc.regions:
                v4 = [e.address for e in config.regions[name].endpoints if e.version == 4]
                for e in config.regions[name].endpoints:  # a hostname endpoint of the config's own zone:
                    got = own_answer(config, e.hostname) if e.hostname is not None else None  # its address
                    if got is not None and not isinstance(got, str):
                        v4 += list(got.v4)
                if len(v4) != 1 or len(config.regions[name].endpoints) != 1:
                    raise BenchError(f"service {svc.ref}: region {name} needs exactly one endpoint, IPv4, for "
                                     f"gdnsd's datacenter map")
                dcmap.append(f"{name} => {v4[0]}")
            coords = ", ".join(f"{r} => [ {config.regions[r].location.lat}, {config.regions[r].location.lon} ]"
                               for r in svc.regions)
            res = f"{svc.key}_{len(resources)}"
            maps.append(f"      {res} => {{\n        geoip2_db => city.mmdb\n"
                        f"        datacenters => [ {', '.join(svc.regions)} ]\n"
                        f"        auto_dc_coords => {{ {coords} }}\n        auto_dc_limit => 1\n      }}")
            resources.append(f"      {res} => {{ map => {res}, dcmap => {{ {', '.join(dcmap)} }} }}")
            for owner in svc.names:
                dyna[owner] = f"{owner} {svc.ttl} IN DYNA geoip!{res}"
        lines = [f"$ORIGIN {zone.origin}"]
        for owner in sorted(zone.rrsets, key=lambda n: n.split(".")[::-1]):
            for rtype, rrset in sorted(zone.rrsets[owner].items()):
                if owner in dyna and rtype == A:
                    continue
                lines += rrset.to_text()
        lines += dyna.values()
        (g / "zones" / zone.origin.rstrip(".")).write_text("\n".join(lines) + "\n")
    geoip = ("plugins => {\n  geoip => {\n    maps => {\n" + "\n".join(maps) + "\n    }\n    resources => {\n"
             + "\n".join(resources) + "\n    }\n  }\n}\n") if maps else ""
    (g / "config").write_text(
        f'options => {{\n  listen => {{ "127.0.0.1:{port}" => {{ udp_threads => {udp_threads}, tcp_threads => 1 }} }}\n'
        f"  run_dir => {g}/run\n  state_dir => {g}/state\n}}\n" + geoip)
    return g


# -- servers ----------------------------------------------------------------------------------------------------
def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return int(port)
    raise BenchError("no free port on 127.0.0.1")


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat[stat.rindex(")") + 2:].split()[1])
            children.setdefault(parent, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def cpu_of(pids: list[int]) -> float:
    """Seconds of CPU (user + system) the processes have used."""
    total = 0
    for p in pids:
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


def ask(port: int, line: str, ecs: str | None, timeout: float = 1.0) -> tuple[str, list[str]] | None:
    """The RCODE and the sorted answer section for one dnsperf data line; None without a reply."""
    from dnslib import EDNS0, EDNSOption, QTYPE, RCODE, DNSRecord

    name, qtype = line.split()
    q = DNSRecord.question(name, qtype)
    q.header.rd = 0
    if ecs is not None:
        q.add_ar(EDNS0(udp_len=1232, opts=[EDNSOption(8, ecs_payload(ecs))]))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(q.pack(), ("127.0.0.1", port))
            reply = DNSRecord.parse(s.recvfrom(65535)[0])
        except OSError:
            return None
    answer = sorted(f"{rr.rname} {rr.ttl} {QTYPE[rr.rtype]} {rr.rdata}" for rr in reply.rr)
    return RCODE[reply.header.rcode], answer


@dataclass
class Server:
    name: str
    argv: list[str]
    port: int
    log: Path
    cpu: str | None
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        pin = ["taskset", "-c", self.cpu] if self.cpu is not None else []
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(pin + self.argv, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + 60
        while ask(self.port, "static.bench.test A", None, 0.3) is None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise BenchError(f"{self.name} did not answer on 127.0.0.1:{self.port}; its log: {self.log}")
            time.sleep(0.2)
        if self.cpu is not None:  # every thread and child, whatever the server set for itself
            for pid in tree(self.proc.pid):
                subprocess.run(["taskset", "-a", "-cp", self.cpu, str(pid)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, check=False)

    def pids(self) -> list[int]:
        assert self.proc is not None
        return tree(self.proc.pid)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        pids = self.pids()
        for pid in reversed(pids):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc.wait(5)


# -- dnsperf ----------------------------------------------------------------------------------------------------
def dnsperf(server: Server, data: Path, ecs: str | None, duration: float, cpu: str | None,
            rate: int = 0, do: bool = False) -> dict[str, Any]:
    """One bounded dnsperf run against ``server``: queries/s, lost, RCODEs, CPU µs per query (and p50/p99 µs at
    a fixed ``rate``)."""
    argv = (["taskset", "-c", cpu] if cpu is not None else []) + [
        "dnsperf", "-s", "127.0.0.1", "-p", str(server.port), "-d", str(data), "-l", f"{duration:g}", "-t", "2",
        "-c", "10", "-q", "100", "-O", "suppress=timeouts,congestion"]
    if ecs is not None:
        argv += ["-E", f"8:{ecs_payload(ecs).hex()}"]
    if rate:
        argv += ["-Q", str(rate), "-v"]
    if do:
        argv += ["-D"]  # the DO bit: DNSSEC answers
    pids = server.pids()
    before = cpu_of(pids)
    text = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=duration + 60
                          ).stdout.decode(errors="replace")
    used = cpu_of(pids) - before

    def number(pattern: str) -> float:
        m = re.search(pattern, text)
        if m is None:
            raise BenchError(f"dnsperf said no {pattern.split(':')[0]!r}:\n{text[-2000:]}")
        return float(m.group(1))

    completed = number(r"Queries completed:\s+(\d+)")
    out: dict[str, Any] = {"qps": number(r"Queries per second:\s+([0-9.]+)"), "completed": completed,
                           "lost": number(r"Queries lost:\s+(\d+)"),
                           "cpu_us": used / completed * 1e6 if completed else None}
    codes = re.search(r"Response codes:\s+(.*)", text)
    out["rcodes"] = codes.group(1).strip() if codes else ""
    if rate:
        took = sorted(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                      if line.startswith("> ") and re.fullmatch(r"> \S+ .* [0-9.]+", line))
        out.update(percentiles(took))
        out["took"] = took
    return out


def percentiles(took: list[float]) -> dict[str, float]:
    """p50 and p99 in µs of sorted latencies in seconds (nothing for none)."""
    if not took:
        return {}
    return {"p50_us": took[len(took) // 2] * 1e6, "p99_us": took[min(len(took) - 1, int(len(took) * 0.99))] * 1e6}


def differences(a: Server, b: Server, sets: list[str]) -> list[str]:
    """Where the two servers do not answer alike (RCODE and answer section), over every query of ``sets``."""
    out = []
    for name in sets:
        lines, ecs = SETS[name]
        for line in lines:
            got_a, got_b = ask(a.port, line, ecs), ask(b.port, line, ecs)
            if got_a != got_b:
                out.append(f"{name}: {line}{f' (ECS {ecs})' if ecs else ''}: {a.name} {got_a}, {b.name} {got_b}")
    return out


# -- the run ----------------------------------------------------------------------------------------------------
def hostname_zones(paths: list[str], out: Path) -> str:
    """A copy of the config at ``paths`` (one YAML zone with its regions) whose regions' endpoints are hostname
    endpoints ``lb-<region>.<zone>``, each an A record of the zone itself with the endpoint's address: the same
    answers, made through gtm's hostname resolution (a name of its own zone is resolved from the zone's data)."""
    import yaml

    out.mkdir(parents=True, exist_ok=True)
    for f in sorted(Path(p) for p in paths):
        files = sorted(f.glob("*.yaml")) if f.is_dir() else [f]
        for src in files:
            doc = yaml.safe_load(src.read_text())
            for name, region in (doc.get("regions") or {}).items():
                addrs = [e if isinstance(e, str) else e["address"] for e in region["endpoints"]]
                label = f"lb-{name}"
                doc.setdefault("records", {})[label] = {"A": addrs}
                region["endpoints"] = [{"hostname": f"{label}.{doc['zone']}"}]
            (out / src.name).write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(out)


def signed_zones(paths: list[str], out: Path) -> str:
    """A copy of the config at ``paths`` whose zones are signed (``signed: true``), with a new key each in
    ``out/keys``: the same answers to DO=0 queries, signed ones (and RFC 9824 denials) to DO=1."""
    import yaml

    from gtm.dnssec import keys

    out.mkdir(parents=True, exist_ok=True)
    for f in sorted(Path(p) for p in paths):
        for src in (sorted(f.glob("*.yaml")) if f.is_dir() else [f]):
            doc = yaml.safe_load(src.read_text())
            if "zone" in doc:
                doc["signed"] = True
                doc["dnssec"] = {"key_dir": "keys"}
                keys.write(str(out / "keys"), keys.generate(doc["zone"]))
            (out / src.name).write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(out)


def parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="static,mixed,geo", help="query sets, comma-separated (static, mixed, geo)")
    ap.add_argument("--reps", type=int, default=3, help="runs per server and set (default 3)")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per dnsperf run (default 10)")
    ap.add_argument("--latency-qps", type=int, default=0, help="also --reps runs per server and set at this rate, for p50/p99")
    ap.add_argument("--json", default=str(HERE / "results.jsonl"), help="append the summary here ('' for none)")
    ap.add_argument("--config", nargs="+", default=[str(HERE / "zones")], help="gtm's config (default bench/zones)")
    ap.add_argument("--workers", type=int, default=1,
                    help="gtm's worker processes (default 1; -1: no --workers flag, gtm's own default)")
    ap.add_argument("--udp-io", choices=("auto", "batched", "asyncio"), default="auto",
                    help="gtm's UDP path (gtm serve --udp-io; default auto)")
    ap.add_argument("--no-install", action="store_true", help="fail instead of installing dnsperf and gdnsd")
    ap.add_argument("--hostnames", action="store_true",
                    help="gtm's regions as hostname endpoints (lb-<region>.<zone>, records of the zone itself), "
                         "resolved by the node and answered flattened; gdnsd gets their addresses")
    ap.add_argument("--dnssec", action="store_true",
                    help="also gtm serving the zones signed, asked with DO=1 (the same run; compared with gtm "
                         "unsigned, as gdnsd does no DNSSEC)")
    a = ap.parse_args(argv)
    unknown = set(a.sets.split(",")) - set(SETS)
    if unknown:
        ap.error(f"unknown query sets {sorted(unknown)}; sets: {', '.join(SETS)}")
    if a.reps < 1 or not 0 < a.duration <= 600:
        ap.error("--reps is at least 1 and --duration between 0 and 600 seconds")
    return a


def main(argv: list[str]) -> int:
    a = parse(argv)
    try:
        return run(a)
    except BenchError as e:
        print(f"bench: {e}", file=sys.stderr)
        return 1


def run(a: argparse.Namespace) -> int:
    missing = [t for t in ("dnsperf", "taskset") if not any(
        os.access(os.path.join(d, t), os.X_OK) for d in os.environ.get("PATH", "").split(os.pathsep))]
    if not os.access(GDNSD, os.X_OK):
        missing.append("gdnsd")
    if missing and a.no_install:
        raise BenchError(f"missing {', '.join(missing)} (bench/install-tools.sh installs them)")
    if missing and subprocess.run(["bash", str(HERE / "install-tools.sh")]).returncode != 0:
        raise BenchError(f"could not install {', '.join(missing)}; run bench/install-tools.sh as root")
    sets = a.sets.split(",")
    cpus = os.sched_getaffinity(0)
    server_cpu, load_cpu = (("1", "0") if {0, 1} <= cpus else (None, None))
    if server_cpu is None:
        print("bench: fewer than 2 CPUs: nothing is pinned, and the figures mix the servers' and dnsperf's work")
    work = Path(tempfile.mkdtemp(prefix="gtm-bench-"))
    data = {}
    for name in sets:
        data[name] = work / f"{name}.txt"
        data[name].write_text("\n".join(SETS[name][0]) + "\n")
    gdnsd_port, gtm_port = free_port(), free_port()
    if a.hostnames:
        a.config = [hostname_zones(a.config, work / "zones")]
    config = gdnsd_dir(work, a.config, gdnsd_port)
    gtm_argv = [sys.executable, "-m", "gtm", "serve", *(["--workers", str(a.workers)] if a.workers >= 0 else []),
                "--udp-io", a.udp_io, "--listen", f"127.0.0.1:{gtm_port}", *a.config]
    servers = {"gdnsd": Server("gdnsd", [GDNSD, "-c", str(config), "start"], gdnsd_port, work / "gdnsd.log",
                               server_cpu),
               "gtm": Server("gtm", gtm_argv, gtm_port, work / "gtm.log", server_cpu)}
    if a.dnssec:  # a third server: gtm on the signed copy, asked with DO=1
        signed_port = free_port()
        signed_argv = gtm_argv[:gtm_argv.index("--listen")] + ["--listen", f"127.0.0.1:{signed_port}",
                                                              signed_zones(a.config, work / "signed")]
        servers["signed"] = Server("signed", signed_argv, signed_port, work / "signed.log", server_cpu)
    names = list(servers)
    results: dict[str, dict[str, list[dict[str, Any]]]] = {s: {n: [] for n in names} for s in sets}
    latency: dict[str, dict[str, dict[str, Any]]] = {}
    previous = signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        for s in servers.values():
            s.start()
        diff = differences(servers["gdnsd"], servers["gtm"], sets)
        if a.dnssec:  # to DO=0 queries the signed zones answer as the unsigned ones
            diff += differences(servers["gtm"], servers["signed"], sets)
        if diff:
            raise BenchError("the servers do not answer alike, so their speeds would not compare:\n  "
                             + "\n  ".join(diff))
        print(f"bench: gdnsd and gtm answer every query of {', '.join(sets)} alike; measuring "
              f"({a.reps} x {a.duration:g} s per server and set)", flush=True)
        for rep in range(a.reps):
            for name in sets:
                for who in names[rep % len(names):] + names[:rep % len(names)]:  # each goes first in turn
                    r = dnsperf(servers[who], data[name], SETS[name][1], a.duration, load_cpu, do=who == "signed")
                    results[name][who].append(r)
                    print(f"rep {rep} {name:6} {who:5} {r['qps']:9.0f} q/s  {r['cpu_us'] or 0:6.2f} CPU us/query  "
                          f"lost {r['lost']:.0f}  {r['rcodes']}", flush=True)
        if a.latency_qps:
            # --reps runs per server and set at the fixed rate, the order alternating as above. The figures are
            # the medians of the runs' p50 and p99, like the qps and CPU figures (one run's p99 moves with
            # whatever else this shared machine did then); the p99 of every query of the runs together is
            # printed beside them.
            runs: dict[str, dict[str, list[dict[str, Any]]]] = {n: {"gdnsd": [], "gtm": []} for n in sets}
            for rep in range(a.reps):
                for name in sets:
                    for who in (("gdnsd", "gtm") if rep % 2 == 0 else ("gtm", "gdnsd")):
                        r = dnsperf(servers[who], data[name], SETS[name][1], a.duration, load_cpu, a.latency_qps)
                        runs[name][who].append(r)
                        print(f"rep {rep} {name:6} {who:5} at {a.latency_qps} q/s: p50 {r.get('p50_us', 0):.0f} us, "
                              f"p99 {r.get('p99_us', 0):.0f} us", flush=True)
            for name, by in runs.items():
                latency[name] = {}
                for who, rows in by.items():
                    pooled = percentiles(sorted(t for r in rows for t in r.pop("took", [])))
                    p50s = [r["p50_us"] for r in rows if "p50_us" in r]
                    p99s = [r["p99_us"] for r in rows if "p99_us" in r]
                    latency[name][who] = {"p50_us": statistics.median(p50s) if p50s else None,
                                          "p99_us": statistics.median(p99s) if p99s else None,
                                          "pooled_p99_us": pooled.get("p99_us")}
    finally:
        for s in servers.values():
            s.stop()
        signal.signal(signal.SIGTERM, previous)
    summary = report(results, latency, sets)
    if a.dnssec:
        print(f"\n{'set':7} {'gtm q/s':>10} {'signed q/s':>10} {'ratio':>6} {'gtm us/q':>9} {'signed us/q':>11} "
              f"{'CPU ratio':>9}   (signed: the zones signed, DO=1 queries)")
        for name in sets:
            m, sg = results[name]["gtm"], results[name]["signed"]
            row = summary[name]
            row["signed_qps"] = statistics.median([r["qps"] for r in sg])
            row["signed_us"] = statistics.median([r["cpu_us"] for r in sg if r["cpu_us"]])
            row["signed_qps_ratio"] = row["signed_qps"] / row["gtm_qps"] if row["gtm_qps"] else 0.0
            row["signed_cpu_ratio"] = row["signed_us"] / row["gtm_us"] if row["gtm_us"] else 0.0
            print(f"{name:7} {row['gtm_qps']:10.0f} {row['signed_qps']:10.0f} {row['signed_qps_ratio']:6.2f} "
                  f"{row['gtm_us']:9.2f} {row['signed_us']:11.2f} {row['signed_cpu_ratio']:9.2f}")
    if a.json:
        with open(a.json, "a") as f:
            f.write(json.dumps({"ts": time.strftime("%Y-%m-%dT%H:%M:%S"), "harness": "bench/harness.py",
                                "server": shlex.join(gtm_argv[1:]), "duration": a.duration, "reps": a.reps,
                                "sets": summary}) + "\n")
    return 0


def report(results: dict[str, dict[str, list[dict[str, Any]]]], latency: dict[str, dict[str, dict[str, Any]]],
           sets: list[str]) -> dict[str, dict[str, Any]]:
    def median(rows: list[dict[str, Any]], key: str) -> float:
        values = [r[key] for r in rows if r.get(key) is not None]
        return statistics.median(values) if values else 0.0

    summary: dict[str, dict[str, Any]] = {}
    print(f"\n{'set':7} {'gdnsd q/s':>10} {'gtm q/s':>10} {'ratio':>6} {'gdnsd us/q':>11} {'gtm us/q':>9} "
          f"{'CPU ratio':>9}")
    for name in sets:
        g, m = results[name]["gdnsd"], results[name]["gtm"]
        row = {"gdnsd_qps": median(g, "qps"), "gtm_qps": median(m, "qps"), "gdnsd_us": median(g, "cpu_us"),
               "gtm_us": median(m, "cpu_us")}
        row["qps_ratio"] = row["gtm_qps"] / row["gdnsd_qps"] if row["gdnsd_qps"] else 0.0
        row["cpu_ratio"] = row["gtm_us"] / row["gdnsd_us"] if row["gdnsd_us"] else 0.0
        for who, r in latency.get(name, {}).items():
            row.update({f"{who}_p50_us": r.get("p50_us"), f"{who}_p99_us": r.get("p99_us"),
                        f"{who}_pooled_p99_us": r.get("pooled_p99_us")})
        summary[name] = row
        lat = ""
        if name in latency and row.get("gdnsd_p99_us") and row.get("gtm_p99_us"):
            lat = (f"  p99 gdnsd {row['gdnsd_p99_us']:.0f} us, gtm {row['gtm_p99_us']:.0f} us "
                   f"({row['gtm_p99_us'] / row['gdnsd_p99_us']:.2f}x; all runs' queries together: "
                   f"{row['gdnsd_pooled_p99_us'] or 0:.0f} / {row['gtm_pooled_p99_us'] or 0:.0f} us)")
        print(f"{name:7} {row['gdnsd_qps']:10.0f} {row['gtm_qps']:10.0f} {row['qps_ratio']:6.2f} "
              f"{row['gdnsd_us']:11.2f} {row['gtm_us']:9.2f} {row['cpu_ratio']:9.2f}{lat}")
    print(" ".join(f"{n}: qps_ratio={summary[n]['qps_ratio']:.2f} cpu_ratio={summary[n]['cpu_ratio']:.2f}"
                   for n in sets))
    return summary
