"""Response rate limiting on a real server: a reflection-style flood from one /24 (127.0.5.0/24: loopback, with
the loopback exemption turned off) is cut to the configured rate, every second limited answer is a truncated
reply, while a client in another /24 (127.0.9.1) querying at the same time gets every answer; both measured.
And the cap on TCP connections per client network."""
from __future__ import annotations

import re
import shutil
import socket
import threading
import time
import urllib.request
from pathlib import Path
from typing import Callable

import dns.flags
import dns.message
import dns.query
import pytest

from tests.conftest import GtmProcess
from tests.support.dns_server import ZONES

RATE = 50  # answers per second per /24
SETTINGS = f"rrl: {{answers: {RATE}, burst: 1, slip: 2, exempt: [], tcp_per_client: 4}}\n"


def server(tmp_path: Path, gtm_server: Callable[..., GtmProcess], udp_io: str = "auto") -> tuple[GtmProcess, str]:
    shutil.copytree(ZONES, tmp_path / "zones")
    (tmp_path / "zones" / "rrl.yaml").write_text(SETTINGS)
    p = gtm_server("--admin-listen", "127.0.0.1:0", "--udp-io", udp_io, tmp_path / "zones")
    assert p.admin is not None
    return p, p.admin


@pytest.mark.parametrize("udp_io", ["batched", "asyncio"])
def test_a_flood_from_one_network_is_cut_to_the_rate_while_another_is_answered(
        tmp_path: Path, gtm_server: Callable[..., GtmProcess], udp_io: str) -> None:
    p, admin = server(tmp_path, gtm_server, udp_io)
    q = dns.message.make_query("www.example.com", "A")
    q.flags &= ~dns.flags.RD
    wire = q.to_wire()

    legit: list[bool] = []

    def client() -> None:  # 20 queries at 10/s from another /24, each waited for
        for _ in range(20):
            r = dns.query.udp(q, "127.0.0.1", port=p.port, source="127.0.9.1", timeout=1.0)
            legit.append(bool(r.answer) and not r.flags & dns.flags.TC)
            time.sleep(0.1)

    other = threading.Thread(target=client)
    flood = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    flood.bind(("127.0.5.1", 0))
    flood.setblocking(False)
    full = tc = sent = 0
    seconds = 2.0
    other.start()
    start = time.monotonic()
    try:
        while time.monotonic() - start < seconds and sent < 200_000:  # bounded in time and count
            flood.sendto(wire, ("127.0.0.1", p.port))
            sent += 1
            for _ in range(4):
                try:
                    data = flood.recv(4096)
                except BlockingIOError:
                    break
                full, tc = (full, tc + 1) if data[2] & 0x02 else (full + 1, tc)
            if sent % 64 == 0:
                time.sleep(0.001)  # let the server keep up: the point is the limit, not a loss test
        drain = time.monotonic() + 0.5
        while time.monotonic() < drain:
            try:
                data = flood.recv(4096)
            except BlockingIOError:
                time.sleep(0.005)
                continue
            full, tc = (full, tc + 1) if data[2] & 0x02 else (full + 1, tc)
    finally:
        flood.close()
        other.join(10)
    elapsed = time.monotonic() - start - 0.5
    expected = RATE * (1 + elapsed)  # the burst (one second's worth), then the rate
    print(f"flood: sent {sent} in {elapsed:.2f} s, {full} answered, {tc} truncated; other client: "
          f"{sum(legit)} of {len(legit)} answered")
    assert sent > 2000, sent
    assert 0.8 * expected <= full <= 1.2 * expected, (full, expected)
    limited = sent - full
    assert 0.4 * limited <= tc <= 0.6 * limited, (tc, limited)  # slip 2: every second limited one
    assert legit == [True] * 20
    with urllib.request.urlopen(admin + "/metrics", timeout=5) as r:
        metrics = r.read().decode()
    dropped = float(re.search(r'gtm_rrl_responses_total\{action="dropped",kind="answer"\} (\S+)', metrics).group(1))  # type: ignore[union-attr]
    slipped = float(re.search(r'gtm_rrl_responses_total\{action="slipped",kind="answer"\} (\S+)', metrics).group(1))  # type: ignore[union-attr]
    assert slipped == tc and abs(dropped - (limited - tc)) <= 0.01 * limited + 5


def test_tcp_connections_per_client_network_are_capped(tmp_path: Path, gtm_server: Callable[..., GtmProcess]) -> None:
    p, _ = server(tmp_path, gtm_server)
    held = []
    try:
        for _ in range(4):
            s = socket.create_connection(("127.0.0.1", p.port), timeout=2, source_address=("127.0.5.1", 0))
            held.append(s)
        time.sleep(0.2)
        extra = socket.create_connection(("127.0.0.1", p.port), timeout=2, source_address=("127.0.5.2", 0))
        extra.settimeout(2)
        assert extra.recv(1) == b""  # closed at once: the fifth from 127.0.5.0/24
        extra.close()
        q = dns.message.make_query("www.example.com", "A")
        r = dns.query.tcp(q, "127.0.0.1", port=p.port, timeout=2, source="127.0.9.1")  # another /24 gets in
        assert r.answer
        held.pop().close()
        time.sleep(0.2)
        r = dns.query.tcp(q, "127.0.0.1", port=p.port, timeout=2, source="127.0.5.3")  # room again
        assert r.answer
    finally:
        for s in held:
            s.close()
