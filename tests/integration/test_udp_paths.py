"""The two UDP paths (``--udp-io batched``: recvmmsg/sendmmsg through ctypes; ``--udp-io asyncio``) against
real servers: the same reply bytes as ``Responder.answer`` for every query of the bench's mixed set (plain,
EDNS, DO, ECS of several networks, RD, mixed case), truncation, malformed packets and the fuzz corpus; a burst
of thousands of datagrams from many source addresses and ports, each answered to its own peer; reloads and
health swaps under a query stream with nothing lost."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import struct
import time
from pathlib import Path
from typing import Iterator

import dns.message
import dns.query
import dns.rdatatype
import pytest

from gtm.config import load
from gtm.dns.batched import available
from gtm.dns.server import Responder
from gtm.dns.table import Table
from tests.conftest import ROOT, GtmProcess
from tests.support.stream import QueryStream
from tests.support.dns_server import ZONES as DNS_ZONES, ecs, header, opt, option, wire_name

BENCH = ROOT / "bench" / "zones"
CORPUS = sorted((ROOT / "tests" / "fixtures" / "fuzz").glob("*.bin"))
PATHS = ["batched", "asyncio"]
MIXED = ("static.bench.test A", "bench.test A", "bench.test AAAA", "bench.test MX", "bench.test TXT",
         "bench.test NS", "bench.test SOA", "mail.bench.test A", "api.bench.test A", "api.bench.test AAAA",
         "cdn.bench.test A", "txt.bench.test TXT", "static.bench.test AAAA", "nx1.bench.test A",
         "x.api.bench.test A", "www.bench.test A", "www.bench.test AAAA", "WwW.BeNcH.TeSt A")
NETWORKS = [(1, 24, bytes([85, 214, 0])), (1, 24, bytes([8, 8, 8])), (1, 16, bytes([203, 0])),
            (2, 32, bytes.fromhex("2a0104f8")), (1, 0, b"")]

pytestmark = pytest.mark.skipif(not available(), reason="recvmmsg/sendmmsg cannot be called here")


def query(name: str, rtype: str, ident: int, *, edns: bool = False, do: bool = False, rd: bool = False,
          payload: int = 1232, options: bytes = b"") -> bytes:
    flags = 0x0100 if rd else 0
    q = header(ident, flags, ar=1 if edns else 0) + wire_name(name) + struct.pack("!HH", dns.rdatatype.from_text(rtype), 1)
    return q + (opt(payload, flags=0x8000 if do else 0, options=options) if edns else b"")


def bench_packets() -> list[bytes]:
    out, ident = [], 1
    for line in MIXED:
        name, rtype = line.split()
        variants = [dict(), dict(edns=True), dict(edns=True, do=True), dict(rd=True), dict(edns=True, payload=512)]
        variants += [dict(edns=True, options=option(8, ecs(f, src, 0, addr))) for f, src, addr in NETWORKS]
        for v in variants:
            out.append(query(name, rtype, ident, **v))  # type: ignore[arg-type]
            ident += 1
    return out


def dns_packets() -> list[bytes]:
    """Truncation (no EDNS, 512, above our payload), malformed packets, and the fuzz corpus."""
    out = [query("medium.example.com", "TXT", 7001), query("medium.example.com", "TXT", 7002, edns=True, payload=512),
           query("medium.example.com", "TXT", 7003, edns=True, payload=4096),
           query("big.example.com", "A", 7004, edns=True, payload=4096), query("big.example.com", "ANY", 7005),
           query("www.example.com", "A", 7006, edns=True, options=option(8, ecs(1, 24, 0, bytes([85, 214, 0])))),
           header(7010)[:5],                                           # shorter than a header: dropped
           header(7011, 0x8000) + wire_name("www.example.com") + b"\x00\x01\x00\x01",  # a response: dropped
           header(7012, 0x2800) + wire_name("www.example.com") + b"\x00\x01\x00\x01",  # UPDATE: REFUSED
           header(7013, qd=2) + wire_name("www.example.com") + b"\x00\x01\x00\x01",    # a missing question
           query("www.example.com", "A", 7014, edns=True, options=option(8, ecs(1, 33, 0, bytes(5)))),  # FORMERR
           header(7015) + wire_name("www.example.com") + b"\x00\x01\x00\x01" + b"junk"]
    return out + [p.read_bytes() for p in CORPUS]


class Peer:
    """A UDP client asking one packet at a time; a packet that gets no reply is told by the reply to a ping
    sent right after it (the server answers one socket's datagrams in order)."""

    PING = query("ns1.bench.test", "A", 0xFFFF)

    def __init__(self, port: int, ping: bytes | None = None):
        self.port = port
        self.ping = ping or self.PING
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(2.0)

    def ask(self, packet: bytes) -> bytes | None:
        self.sock.sendto(packet, ("127.0.0.1", self.port))
        self.sock.sendto(self.ping, ("127.0.0.1", self.port))
        first = self.sock.recv(65535)
        if first[:2] == self.ping[:2] and packet[:2] != self.ping[:2]:
            return None
        self.sock.recv(65535)  # the ping's
        return first


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, GtmProcess]]]:
    running: dict[str, dict[str, GtmProcess]] = {}
    try:
        for name, config in (("bench", BENCH), ("dns", DNS_ZONES)):
            running[name] = {}
            for path in PATHS:
                running[name][path] = GtmProcess(["--udp-io", path, str(config)],
                                                 tmp_path_factory.mktemp(f"{name}-{path}"))
        yield running
    finally:
        for by in running.values():
            for p in by.values():
                p.stop()


@pytest.mark.parametrize("config", ["bench", "dns"])
def test_both_paths_send_the_bytes_responder_answer_makes(servers: dict[str, dict[str, GtmProcess]],
                                                         config: str) -> None:
    packets = bench_packets() if config == "bench" else dns_packets()
    reference = Responder(Table(load([str(BENCH if config == "bench" else DNS_ZONES)])))
    want = [reference.answer(p, "127.0.0.1") for p in packets]
    if config == "dns":  # (the set is what it says: dropped packets among the answered)
        assert sum(w is None for w in want) >= 2 and sum(w is not None for w in want) >= 10
    ping = query("ns1.bench.test" if config == "bench" else "host.example.com", "A", 0xFFFF)
    for path in PATHS:
        peer = Peer(servers[config][path].port, ping)
        got = [peer.ask(p) for p in packets]
        differ = [(i, packets[i][:40], want[i], got[i]) for i in range(len(packets)) if got[i] != want[i]]
        assert not differ, (path, differ[:3])
    truncated = [w for w in want if w is not None and w[2] & 0x02]
    assert config == "bench" or len(truncated) >= 3


@pytest.mark.parametrize("path", PATHS)
def test_a_burst_from_many_peers_is_answered_each_to_its_own(servers: dict[str, dict[str, GtmProcess]],
                                                             path: str) -> None:
    """60 sockets on 20 loopback addresses send 100 queries each without waiting (6,000 datagrams); each
    socket gets exactly its own 100 answers back (by ID and question), none lost, none to another peer."""
    port = servers["bench"][path].port
    socks = []
    for k in range(60):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.bind((f"127.0.{1 + k % 20}.{10 + k // 20}", 0))
        s.settimeout(5.0)
        socks.append(s)
    names = ["static.bench.test", "api.bench.test", "mail.bench.test", "www.bench.test"]
    sent: dict[int, dict[int, str]] = {}
    for k, s in enumerate(socks):
        sent[k] = {}
        for i in range(100):
            ident = (k * 100 + i) & 0xFFFF
            name = names[(k + i) % len(names)]
            sent[k][ident] = name
            s.sendto(query(name, "A", ident), ("127.0.0.1", port))
    for k, s in enumerate(socks):
        seen = {}
        while len(seen) < 100:
            reply = dns.message.from_wire(s.recv(65535))
            assert reply.id in sent[k] and reply.id not in seen, (k, reply.id)
            assert reply.question[0].name.to_text() == sent[k][reply.id] + "."
            seen[reply.id] = reply
        s.close()
    metrics = servers["bench"][path]
    assert metrics.proc.poll() is None


@pytest.mark.parametrize("path", PATHS)
def test_reloads_and_health_swaps_under_a_query_stream_lose_nothing(tmp_path: Path, path: str) -> None:
    """A client asks one query after another (0.5 s timeout, three tries) while the server reloads its config
    ten times (SIGHUP) and swaps its health ten times (a health file rewritten, then reloaded): no query goes
    unanswered, and the answers follow."""
    zones = tmp_path / "zones"
    shutil.copytree(DNS_ZONES, zones)
    health = tmp_path / "health.yaml"
    health.write_text("down: []\n")
    server = GtmProcess(["--udp-io", path, "--health", str(health), str(zones)], tmp_path)
    try:
        with QueryStream(server.port) as stream:
            text = (zones / "example.com.yaml").read_text()
            for i in range(10):
                (zones / "example.com.yaml").write_text(text.replace("ttl: 45", f"ttl: {46 + i}"))
                health.write_text("down: [eu-west]\n" if i % 2 == 0 else "down: []\n")
                os.kill(server.proc.pid, signal.SIGHUP)
                time.sleep(0.3)
    finally:
        server.stop()
    stats, answers = stream.stats, stream.answers
    print(f"{path}: {stats['queries']} queries across 10 reloads, {stats['retried']} retried, {stats['failed']} lost")
    assert stats["queries"] > 100 and stats["failed"] == 0, stats
    assert len(answers) >= 2, answers  # eu-west down and up: both regions were answered along the way
