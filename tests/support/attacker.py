"""Attacks on a node's admin API, as a separate process (so that the test's own measurements do not share its
CPU time): ``python -m tests.support.attacker KIND HOST PORT SECONDS [SOURCE]``. Every loop is bounded in time
and count; traffic goes to the address given (loopback in the tests). Prints one JSON line of what it did.

- ``flood``: GET /metrics without a token as fast as 16 threads can, each on its own keep-alive connection
  (reconnecting when closed), at most 100,000 requests.
- ``slowloris``: up to 800 connections from SOURCE (another loopback address), each sending the start of a
  request head and then one more header byte a second, never finishing it.
"""
from __future__ import annotations

import http.client
import json
import socket
import sys
import threading
import time


def flood(host: str, port: int, seconds: float) -> dict[str, int]:
    deadline = time.monotonic() + seconds
    counts = {"requests": 0, "errors": 0}
    lock = threading.Lock()

    def worker() -> None:
        conn = http.client.HTTPConnection(host, port, timeout=2)
        while time.monotonic() < deadline:
            with lock:
                if counts["requests"] >= 100_000:
                    return
                counts["requests"] += 1
            try:
                conn.request("GET", "/metrics")
                conn.getresponse().read()
            except (OSError, http.client.HTTPException):
                with lock:
                    counts["errors"] += 1
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=2)
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 10)
    return counts


def slowloris(host: str, port: int, seconds: float, source: str) -> dict[str, int]:
    deadline = time.monotonic() + seconds
    held: list[socket.socket] = []
    out = {"opened": 0, "refused": 0, "closed_by_node": 0}
    for _ in range(800):
        try:
            s = socket.create_connection((host, port), timeout=2, source_address=(source, 0))
            s.sendall(b"GET / HTTP/1.1\r\nHost: " + host.encode() + b"\r\nX-a: ")
            held.append(s)
            out["opened"] += 1
        except OSError:
            out["refused"] += 1
    while held and time.monotonic() < deadline:
        time.sleep(1.0)
        alive = []
        for s in held:
            try:
                s.sendall(b"a")
                alive.append(s)
            except OSError:
                out["closed_by_node"] += 1
                s.close()
        held = alive
    out["still_open"] = len(held)
    for s in held:
        s.close()
    return out


def main(argv: list[str]) -> None:
    kind, host, port, seconds = argv[0], argv[1], int(argv[2]), float(argv[3])
    if kind == "flood":
        result = flood(host, port, seconds)
    else:
        result = slowloris(host, port, seconds, argv[4])
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
