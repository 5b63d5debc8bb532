"""Soak job (not CI): ``python -m bench.soak [--seconds 600] [--qps 2000]``.

Runs `gtm serve --workers 2` on a copy of tests/fixtures/dns for the given time under mixed traffic: valid UDP
queries (static names, a managed name with ECS from many networks, NXDOMAIN), malformed and truncated packets
(``bench.fuzz.mutate``), TCP connections with pipelined queries and slow-drip clients; while every 30 s the
configuration is reloaded (SIGHUP, a TTL changed), every 10 s a region is drained or restored in the override
store, and every 15 s the health file flips a region down or up. Every 10 s it samples each process's RSS,
anonymous (its heap) and file-backed (mapped files: the GeoIP database's pages come in as ECS lookups reach
new networks, up to the file's size) apart.
It fails (exit 1) when a valid query went unanswered above 0.1 %, a worker was restarted or stuck, the log
shows an error, or anonymous RSS grew by more than 10 % after the first minute. Traffic goes to 127.0.0.1 only; every
loop is bounded by the duration.
"""
from __future__ import annotations

import argparse
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import dns.edns  # noqa: E402
import dns.message  # noqa: E402

from bench.fuzz import mutate  # noqa: E402
from gtm.model import Override  # noqa: E402
from gtm.state.store import FileStore  # noqa: E402
from bench.fuzzcases import SEEDS  # noqa: E402


def rss_kb(pid: int) -> dict[str, int]:
    """KB of resident memory of ``pid``: ``anon`` (its own heap: what a leak grows) and ``file`` (pages of
    mapped files, the GeoIP database above all: they come in as lookups touch them, up to the file's size,
    and are the page cache's to reclaim)."""
    out = {"anon": 0, "file": 0}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                out["anon"] = int(line.split()[1])
            elif line.startswith("RssFile:"):
                out["file"] = int(line.split()[1])
    except OSError:
        pass
    return out


def children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "--ppid", str(pid), "-o", "pid="], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--qps", type=int, default=2000, help="valid UDP queries per second (malformed ones on top)")
    a = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="soak-"))
    shutil.copytree(ROOT / "tests" / "fixtures" / "dns", work / "zones")
    health = work / "health.yaml"
    health.write_text("down: []\n")
    log = open(work / "serve.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "gtm", "serve", "--workers", "2", "--listen", "127.0.0.1:0",
                             "--admin-listen", "127.0.0.1:0", "--health", str(health), "--watch",
                             str(work / "zones")], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    text = ""
    deadline = time.monotonic() + 30
    while "serving" not in text and time.monotonic() < deadline:
        time.sleep(0.1)
        text = (work / "serve.log").read_text()
    port = int(re.search(r"listening on 127\.0\.0\.1 port (\d+)", text).group(1))  # type: ignore[union-attr]
    workers0 = sorted(children(proc.pid))
    stop = threading.Event()
    counts = {"valid": 0, "answered": 0, "malformed": 0, "tcp": 0, "tcp_answered": 0}
    rng = random.Random(1)
    valid = [dns.message.make_query("www.example.com", "A").to_wire(),
             dns.message.make_query("host.example.com", "A").to_wire(),
             dns.message.make_query("nx.example.com", "AAAA").to_wire()]
    valid += [dns.message.make_query("www.example.com", "A", use_edns=0, options=[
        dns.edns.ECSOption(f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.0", 24)]).to_wire()
        for _ in range(200)]

    def udp() -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(1.0)
        r = random.Random(2)
        interval = 1.0 / a.qps
        nxt = time.monotonic()
        pending: dict[bytes, float] = {}

        def collect() -> None:  # every reply waiting on the socket, matched to its query by ID
            s.setblocking(False)
            try:
                while True:
                    data = s.recv(4096)
                    if data[:2] in pending:
                        del pending[data[:2]]
                        counts["answered"] += 1
            except BlockingIOError:
                pass
            s.setblocking(True)

        while not stop.is_set():
            q = bytearray(r.choice(valid))
            qid = r.getrandbits(16).to_bytes(2, "big")
            q[:2] = qid
            s.sendto(bytes(q), ("127.0.0.1", port))
            counts["valid"] += 1
            pending[qid] = time.monotonic()
            for _ in range(2):  # garbage between valid queries
                s.sendto(mutate(r, SEEDS), ("127.0.0.1", port))
                counts["malformed"] += 1
            collect()
            now = time.monotonic()
            for k in [k for k, t in pending.items() if now - t > 2]:
                del pending[k]  # unanswered for 2 s: stays counted as unanswered
            nxt += interval
            time.sleep(max(0.0, nxt - time.monotonic()))
        time.sleep(0.5)
        collect()

    def tcp() -> None:
        r = random.Random(3)
        while not stop.is_set():
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as c:
                    if r.random() < 0.2:  # a slow drip: half a length prefix, then nothing
                        c.sendall(b"\x00")
                        stop.wait(1.0)
                        continue
                    msgs = [r.choice(valid) for _ in range(r.randint(1, 20))]
                    c.sendall(b"".join(len(m).to_bytes(2, "big") + m for m in msgs))
                    counts["tcp"] += len(msgs)
                    buf = b""
                    got = 0
                    while got < len(msgs):
                        data = c.recv(65536)
                        if not data:
                            break
                        buf += data
                        while len(buf) >= 2 and len(buf) >= 2 + int.from_bytes(buf[:2], "big"):
                            buf = buf[2 + int.from_bytes(buf[:2], "big"):]
                            got += 1
                    counts["tcp_answered"] += got
            except OSError:
                pass
            stop.wait(0.05)

    def chaos() -> None:
        store = FileStore(str(work / "zones" / ".gtm-overrides.json"))
        t0 = time.monotonic()
        ttl = 45
        while not stop.wait(1.0):
            t = int(time.monotonic() - t0)
            if t % 10 == 0:
                cur = store.read()
                new = [] if cur.overrides else [Override(f"s{t}", "drain", "eu-west", created=time.time())]
                store.write(cur.version, new, {"soak": t})
            if t % 15 == 0:
                health.write_text("down: [us-east]\n" if (t // 15) % 2 else "down: []\n")
            if t % 30 == 0:
                zone = work / "zones" / "example.com.yaml"
                old = f"ttl: {ttl}"
                ttl = 46 if ttl == 45 else 45
                zone.write_text(zone.read_text().replace(old, f"ttl: {ttl}", 1))
                proc.send_signal(signal.SIGHUP)

    threads = [threading.Thread(target=f, daemon=True) for f in (udp, tcp, chaos)]
    for t in threads:
        t.start()
    samples = []
    started = time.monotonic()
    try:
        while time.monotonic() - started < a.seconds:
            time.sleep(min(10.0, max(0.0, a.seconds - (time.monotonic() - started))))
            pids = [proc.pid] + sorted(children(proc.pid))
            samples.append((round(time.monotonic() - started), {p: rss_kb(p) for p in pids}))
            print(f"t={samples[-1][0]:4d}s rss KB (anon/file) "
                  + " ".join(f"{p}: {m['anon']}/{m['file']}" for p, m in samples[-1][1].items()) + f" valid {counts['valid']} answered "
                  f"{counts['answered']} malformed {counts['malformed']} tcp {counts['tcp_answered']}/"
                  f"{counts['tcp']}", flush=True)
    finally:
        stop.set()
        for t in threads:
            t.join(5)
        workers1 = sorted(children(proc.pid))
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        log.close()
    text = (work / "serve.log").read_text()
    errors = [line for line in text.splitlines() if " ERROR " in line or "Traceback" in line]
    lost = counts["valid"] - counts["answered"]
    base = next((s for t, s in samples if t >= 60), samples[0][1] if samples else {})
    end = samples[-1][1] if samples else {}
    growth = {p: (end[p]["anon"] - m["anon"]) / m["anon"] * 100 for p, m in base.items() if m["anon"] and p in end}
    mapped = {p: (m["file"], end[p]["file"]) for p, m in base.items() if p in end}
    reloads = len(re.findall(r"reloaded in", text))
    print(f"soak: {a.seconds:.0f} s; valid UDP {counts['valid']}, answered {counts['answered']} "
          f"({lost / max(1, counts['valid']) * 100:.3f} % unanswered); malformed sent {counts['malformed']}; "
          f"TCP {counts['tcp_answered']}/{counts['tcp']}; reloads {reloads}; workers {workers0} -> {workers1}; "
          f"anonymous RSS growth after the first minute " + ", ".join(f"{p}: {g:+.1f} %" for p, g in growth.items())
          + "; mapped files KB " + ", ".join(f"{p}: {a0} -> {a1}" for p, (a0, a1) in mapped.items())
          + f"; log errors {len(errors)}")
    ok = lost <= 0.001 * counts["valid"] and workers0 == workers1 and not errors and \
        all(g <= 10 for g in growth.values())
    for line in errors[:5]:
        print("  " + line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
