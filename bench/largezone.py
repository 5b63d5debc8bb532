"""Large-zone job (not CI): ``python -m bench.largezone [--records 1000000] [--workers 2]``.

Writes a master file of N A records (``h<i> IN A 10.x.y.z``), then

1. loads it in a fresh process (``gtm.config.load``): seconds and peak RSS;
2. starts ``gtm serve --workers W`` on it and times process start to the first right answer;
3. reads the memory of the whole server (control process, workers, and while it runs the loading process):
   the sum of RSS, which counts pages shared between processes once per process; the sum of PSS
   (``/proc/<pid>/smaps_rollup``), which divides each shared page among the processes mapping it; and the
   total, PSS without shared memory plus each shared zone file at its full size (its pages exist whether or
   not a process has touched them): what the server holds;
4. checks 2,000 random names answer their address and 200 absent names NXDOMAIN;
5. sends a steady stream of UDP queries (random names of the zone, ``--qps`` per second) and reloads the
   configuration (SIGHUP) in the middle: latency percentiles and unanswered queries before, during (from
   the signal until every worker answers from the new generation) and after the reload, the reload's own time,
   each worker's time from the generation's arrival to answering from it, and the bytes that carried it;
6. the memory again, and its peak over the whole run (sampled every 0.2 s).

Traffic goes to 127.0.0.1 only; every loop is bounded by time. Prints one JSON line at the end.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import dns.message  # noqa: E402
import dns.rcode  # noqa: E402


def address(i: int) -> str:
    return f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"


def write_zone(path: Path, records: int) -> None:
    with open(path, "w") as f:
        f.write("$ORIGIN big.test.\n$TTL 3600\n@ IN SOA ns1 hostmaster 1 3600 900 1209600 300\n@ IN NS ns1\n"
                "ns1 IN A 192.0.2.53\n")
        for i in range(records):
            f.write(f"h{i} IN A {address(i)}\n")


def memory(pid: int) -> dict[str, int]:
    """KB of RSS and PSS of ``pid`` and its children (the workers), and ``total_kb``: the PSS without shared
    memory plus the full size of every shared zone file (memfd) once, mapped pages or not: what the server
    holds."""
    out = subprocess.run(["ps", "--ppid", str(pid), "-o", "pid="], capture_output=True, text=True).stdout
    rss = pss = shmem = 0
    procs = 0
    files: dict[int, int] = {}
    for p in [pid] + [int(x) for x in out.split()]:
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
                elif line.startswith("Pss_Shmem:"):
                    shmem += int(line.split()[1])
            procs += 1
            for fd in os.listdir(f"/proc/{p}/fd"):
                try:
                    if "memfd:gtm-zone" in os.readlink(f"/proc/{p}/fd/{fd}"):
                        st = os.stat(f"/proc/{p}/fd/{fd}")
                        files[st.st_ino] = st.st_size // 1024
                except OSError:
                    pass
        except OSError:
            pass
    return {"rss_kb": rss, "pss_kb": pss, "total_kb": pss - shmem + sum(files.values()),
            "shared_zone_kb": sum(files.values()), "processes": procs}


def ask(port: int, name: str, timeout: float = 2.0) -> dns.message.Message | None:
    q = dns.message.make_query(name, "A")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(q.to_wire(), ("127.0.0.1", port))
        return dns.message.from_wire(s.recv(4096))
    except OSError:
        return None
    finally:
        s.close()


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--qps", type=int, default=2000)
    ap.add_argument("--before", type=float, default=10.0, help="seconds of queries before the reload")
    ap.add_argument("--after", type=float, default=10.0, help="seconds of queries after the reload settled")
    a = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="largezone-"))
    zone = work / "big.test.zone"
    write_zone(zone, a.records)
    result: dict[str, object] = {"records": a.records, "workers": a.workers, "file_mb": round(zone.stat().st_size / 1e6, 1)}

    code = ("import resource, sys, time; from gtm.config import load; t = time.perf_counter(); "
            "load([sys.argv[1]]); print(time.perf_counter() - t, "
            "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, str(zone)], capture_output=True, text=True, cwd=ROOT,
                         timeout=600)
    secs, maxrss = out.stdout.split()
    result["load_s"], result["load_peak_rss_mb"] = round(float(secs), 1), round(int(maxrss) / 1024)
    print(f"load: {result['load_s']} s, peak RSS {result['load_peak_rss_mb']} MB", flush=True)

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log_path = work / "serve.log"
    log = open(log_path, "w")
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "gtm", "serve", "--workers", str(a.workers), "--listen",
                             f"127.0.0.1:{port}", str(zone)], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    peak = {"pss_kb": 0, "rss_kb": 0, "total_kb": 0}
    stop_sampling = threading.Event()

    def sample() -> None:
        while not stop_sampling.wait(0.2):
            m = memory(proc.pid)
            peak["pss_kb"] = max(peak["pss_kb"], m["pss_kb"])
            peak["rss_kb"] = max(peak["rss_kb"], m["rss_kb"])
            peak["total_kb"] = max(peak["total_kb"], m["total_kb"])

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        probe = f"h{a.records // 2}.big.test."
        while time.monotonic() - started < 300:
            reply = ask(port, probe, timeout=0.5)
            if reply is not None and reply.answer and reply.answer[0][0].address == address(a.records // 2):
                break
            if proc.poll() is not None:
                raise SystemExit(f"gtm serve exited: {log_path.read_text()[-2000:]}")
            time.sleep(0.1)
        result["start_to_first_answer_s"] = round(time.monotonic() - started, 1)
        time.sleep(2)  # the workers' startup settles
        result["memory_serving"] = memory(proc.pid)
        print(f"first answer after {result['start_to_first_answer_s']} s; memory {result['memory_serving']}",
              flush=True)

        rng = random.Random(7)
        wrong = 0
        for i in rng.sample(range(a.records), 2000):
            reply = ask(port, f"h{i}.big.test.")
            if reply is None or not reply.answer or reply.answer[0][0].address != address(i):
                wrong += 1
        nx = sum(1 for i in range(200) if (r := ask(port, f"x{i}.big.test.")) is None
                 or r.rcode() != dns.rcode.NXDOMAIN)
        result["wrong_answers"] = wrong + nx
        print(f"2000 names + 200 absent ones: {wrong + nx} wrong", flush=True)

        # A steady query stream with a reload in the middle.
        sent: dict[int, float] = {}
        latency: list[tuple[float, float]] = []  # (sent at, seconds)
        stop = threading.Event()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.settimeout(0.2)
        lock = threading.Lock()

        def sender() -> None:
            r = random.Random(11)
            queries = [dns.message.make_query(f"h{r.randrange(a.records)}.big.test.", "A").to_wire()
                       for _ in range(5000)]
            interval, nxt, qid = 1.0 / a.qps, time.monotonic(), 0
            while not stop.is_set():
                qid = (qid + 1) & 0xFFFF
                wire = qid.to_bytes(2, "big") + queries[qid % len(queries)][2:]
                with lock:
                    sent[qid] = time.monotonic()
                sock.sendto(wire, ("127.0.0.1", port))
                nxt += interval
                time.sleep(max(0.0, nxt - time.monotonic()))

        def receiver() -> None:
            while not stop.is_set():
                try:
                    data = sock.recv(4096)
                except OSError:
                    continue
                now = time.monotonic()
                with lock:
                    t = sent.pop(int.from_bytes(data[:2], "big"), None)
                if t is not None:
                    latency.append((t, now - t))

        threads = [threading.Thread(target=f, daemon=True) for f in (sender, receiver)]
        stream_start = time.monotonic()
        for t in threads:
            t.start()
        time.sleep(a.before)
        log.flush()
        before_log = len(log_path.read_text())
        hup = time.monotonic()
        proc.send_signal(signal.SIGHUP)
        settled = None
        while time.monotonic() - hup < 300:
            text = log_path.read_text()[before_log:]
            done = len(re.findall(r"worker \d+: generation \d+ answering", text))
            if "reload failed" in text:
                raise SystemExit(f"reload failed: {text[-2000:]}")
            if ("reloaded in" in text and (done >= a.workers)) and settled is None:
                settled = time.monotonic()
                break
            time.sleep(0.05)
        if settled is None:
            raise SystemExit("the reload did not settle in 300 s")
        time.sleep(a.after)
        stop.set()
        for t in threads:
            t.join(2)
        stream_end = time.monotonic()
        time.sleep(1.0)
        text = log_path.read_text()[before_log:]
        result["reload_s"] = round(float(re.search(r"reloaded in (\d+) ms", text).group(1)) / 1000, 1)  # type: ignore[union-attr]
        result["worker_swaps"] = [{"ms_to_answering": int(m.group(1)), "bytes": int(m.group(2)),
                                   "ms_unpickle": int(m.group(3))} for m in re.finditer(
            r"generation \d+ answering (\d+) ms after it arrived \((\d+) bytes, (\d+) ms to unpickle\)", text)]
        result["reload_settled_s"] = round(settled - hup, 1)
        windows = {"before": (stream_start + 1, hup), "during": (hup, settled), "after": (settled, stream_end - 1)}
        for label, (lo, hi) in windows.items():
            lat = [d * 1000 for t, d in latency if lo <= t < hi]
            lost = sum(1 for t in sent.values() if lo <= t < hi)
            result[f"queries_{label}"] = {"answered": len(lat), "unanswered": lost,
                                          "p50_ms": round(pct(lat, 50), 2), "p99_ms": round(pct(lat, 99), 2),
                                          "max_ms": round(max(lat), 1) if lat else None,
                                          "mean_ms": round(statistics.fmean(lat), 2) if lat else None}
            print(f"{label}: {result[f'queries_{label}']}", flush=True)
        result["memory_after_reload"] = memory(proc.pid)
    finally:
        stop_sampling.set()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    result["peak"] = peak
    print(json.dumps(result))
    for f in work.iterdir():
        f.unlink()
    os.rmdir(work)
    return 0 if result.get("wrong_answers") == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
