"""The batched UDP reader (gtm.dns.batched) on real loopback sockets, driven by hand: bad input and failing
system calls never stop it. An oversized datagram is dropped and counted; recvmmsg's errors are counted (or
not, for "nothing to read" and EINTR) and the round ends; a sendmmsg that sends fewer than asked sends the
rest, skipping and counting a reply the kernel refuses; an exception on the query path is caught; IPv6
peers are answered and seen as the clients they are."""
from __future__ import annotations

import ctypes
import errno
import socket
from pathlib import Path
from typing import Iterator

import dns.flags
import dns.message
import pytest

from gtm.config import load
from gtm.dns.batched import BUF, BatchedUdp, available, key_text
from gtm.dns.server import Responder
from gtm.dns.table import Table

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.skipif(not available(), reason="recvmmsg/sendmmsg cannot be called here")


@pytest.fixture
def pair() -> Iterator[tuple[BatchedUdp, socket.socket]]:
    responder = Responder(Table(load([str(ROOT / "bench" / "zones")])))
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.setblocking(False)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.connect(server.getsockname())
    client.settimeout(2.0)
    reader = BatchedUdp(responder, server)
    yield reader, client
    client.close()
    server.close()


def query(ident: int, name: str = "static.bench.test") -> bytes:
    q = dns.message.make_query(name, "A")
    q.id = ident
    return q.to_wire()


def test_an_oversized_datagram_is_dropped_and_counted_and_the_rest_answered(
        pair: tuple[BatchedUdp, socket.socket]) -> None:
    reader, client = pair
    client.send(query(1))
    client.send(b"\x00\x02" + b"x" * (BUF + 100))
    client.send(query(3))
    assert reader._batch() == 3
    assert reader.responder.stats.udp_oversized == 1
    assert {dns.message.from_wire(client.recv(4096)).id for _ in range(2)} == {1, 3}
    assert reader.count == 3


def test_an_oversized_datagram_read_alone_is_dropped_and_counted(pair: tuple[BatchedUdp, socket.socket]) -> None:
    reader, client = pair
    assert reader.single  # a fresh reader expects low load: its wakeup's first read is recvfrom's
    client.send(b"\x00\x02" + b"x" * (BUF + 100))
    reader.ready()
    assert reader.responder.stats.udp_oversized == 1 and reader.count == 1
    client.send(query(4))
    reader.ready()
    assert dns.message.from_wire(client.recv(4096)).id == 4


def test_a_wakeup_with_one_datagram_reads_the_next_alone_and_a_burst_goes_back_to_batches(
        pair: tuple[BatchedUdp, socket.socket]) -> None:
    reader, client = pair
    used: list[str] = []
    one, batch = reader._one, reader._batch

    def spy_one() -> int:
        used.append("one")
        return one()

    def spy_batch() -> int:
        n = batch()
        used.append(f"batch {n}")
        return n

    reader._one, reader._batch = spy_one, spy_batch  # type: ignore[method-assign]
    client.send(query(1))
    reader.ready()
    assert used == ["one", "batch 0"] and reader.single
    used.clear()
    for i in range(5):
        client.send(query(10 + i))
    reader.ready()  # the first alone, the other four in a batch: load, so batches from the next wakeup on
    assert used == ["one", "batch 4", "batch 0"] and not reader.single
    used.clear()
    client.send(query(20))
    reader.ready()  # one datagram in a wakeup: alone again next time
    assert used == ["batch 1", "batch 0"] and reader.single
    got = sorted(dns.message.from_wire(client.recv(4096)).id for _ in range(7))
    assert got == [1, 10, 11, 12, 13, 14, 20]
    assert reader.count == 7


def test_both_reads_answer_the_whole_packet_set_as_responder_answer_does(
        pair: tuple[BatchedUdp, socket.socket]) -> None:
    """Every packet of the UDP-path tests' sets (the bench's mixed set with EDNS, DO and ECS variants; truncation;
    malformed packets; the fuzz corpus), read alone (recvfrom) and in batches (recvmmsg), 64 and more, so the
    timed query of each 64 is among them: the same bytes as Responder.answer, or no reply where it makes none."""
    from tests.integration.test_udp_paths import bench_packets

    reader, client = pair
    packets = bench_packets()
    reference = Responder(Table(load([str(ROOT / "bench" / "zones")])))
    want = [reference.answer(p, "127.0.0.1") for p in packets]
    assert len(packets) > 128
    got: list[bytes | None] = []
    client.settimeout(0.2)
    for p in packets:  # alone: one datagram per wakeup
        client.send(p)
        reader.ready()
        assert reader.single
        try:
            got.append(client.recv(65535))
        except socket.timeout:
            got.append(None)
    assert got == want
    reader.single = False
    for k in range(0, len(packets), 40):  # batches of 40
        chunk = packets[k: k + 40]
        for p in chunk:
            client.send(p)
        assert reader._batch() == len(chunk)
        replies = {}
        for _ in range(sum(w is not None for w in want[k: k + 40])):
            r = client.recv(65535)
            replies[r[:2]] = r
        assert [replies.get(p[:2]) for p in chunk] == want[k: k + 40]


def test_the_rate_limit_holds_for_datagrams_read_alone(pair: tuple[BatchedUdp, socket.socket]) -> None:
    """A client over its rate gets the same drops and truncated slips through recvfrom as through a batch."""
    from gtm.dns.rrl import RateLimiter
    from gtm.model import RrlSettings

    reader, client = pair
    reader.responder.rrl = RateLimiter(RrlSettings(answers=5, slip=2, burst=1.0, exempt=()),
                                            clock=lambda: 100.0)  # (no refill while the test waits)
    client.settimeout(0.05)
    replies = []
    for i in range(20):
        client.send(query(200 + i))
        reader.ready()
        assert reader.single
        try:
            replies.append(dns.message.from_wire(client.recv(4096)))
        except socket.timeout:
            pass
    full = [r for r in replies if not r.flags & dns.flags.TC]
    slipped = [r for r in replies if r.flags & dns.flags.TC]
    assert len(full) == 5 and len(slipped) in (7, 8), (len(full), len(slipped))  # 15 over: every 2nd slips
    stats = reader.responder.rrl.stats
    assert stats.limited["answer"] + stats.slipped["answer"] == 15 and stats.slipped["answer"] == len(slipped)


def test_recvmmsg_errors_end_the_round_and_are_counted(pair: tuple[BatchedUdp, socket.socket]) -> None:
    reader, client = pair

    def failing(code: int):  # type: ignore[no-untyped-def]
        def call(*_: object) -> int:
            ctypes.set_errno(code)
            return -1
        return call

    real = reader.recvmmsg
    reader.single = False  # (a wakeup's first read is recvmmsg's, not recvfrom's)
    for code, counted in ((errno.EAGAIN, 0), (errno.EINTR, 0), (errno.ENOBUFS, 1), (errno.EBADF, 2)):
        reader.recvmmsg = failing(code)
        reader.ready()  # never raises
        assert reader.responder.stats.udp_recv_errors == counted, code
    reader.recvmmsg = real
    client.send(query(7))
    reader.ready()
    assert dns.message.from_wire(client.recv(4096)).id == 7


def test_a_short_sendmmsg_sends_the_rest_and_a_refused_reply_is_skipped(
        pair: tuple[BatchedUdp, socket.socket]) -> None:
    reader, client = pair
    real = reader.sendmmsg
    calls: list[int] = []

    def short(fd: int, hdrs: int, count: int, flags: int) -> int:
        calls.append(count)
        if len(calls) == 1:
            return real(fd, hdrs, 2, flags)  # the kernel took two of five
        if len(calls) == 2:
            ctypes.set_errno(errno.ECONNREFUSED)  # the third is refused (an unreachable peer)
            return -1
        return real(fd, hdrs, count, flags)

    reader.sendmmsg = short
    for i in range(5):
        client.send(query(100 + i))
    assert reader._batch() == 5
    assert calls == [5, 3, 2]
    got = {dns.message.from_wire(client.recv(4096)).id for _ in range(4)}
    assert got == {100, 101, 103, 104}
    assert reader.responder.stats.udp_send_failed == 1


def test_an_exception_on_the_query_path_is_caught(pair: tuple[BatchedUdp, socket.socket]) -> None:
    reader, client = pair

    def broken(data: bytes, client: object = None, tcp: bool = False) -> bytes:
        raise RuntimeError("boom")

    reader.answer = broken
    client.send(query(9, "nx.bench.test"))  # not in the reply cache: answer() is called
    reader.ready()  # caught, counted, the reader still works
    assert reader.responder.stats.errors == 1
    reader.answer = reader.responder.answer
    client.send(query(10))
    reader.ready()
    assert dns.message.from_wire(client.recv(4096)).id == 10


@pytest.mark.parametrize("single", [True, False])
def test_ipv6_peers_are_answered_and_seen_as_themselves(single: bool) -> None:
    try:
        server = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        server.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    server.setblocking(False)
    responder = Responder(Table(load([str(ROOT / "bench" / "zones")])))
    seen: list[object] = []
    real = responder.answer

    def spy(data: bytes, client: object = None, tcp: bool = False) -> bytes | None:
        seen.append(client)
        return real(data, client, tcp)

    reader = BatchedUdp(responder, server)
    reader.answer = spy
    reader.single = single
    client = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    client.settimeout(2.0)
    client.sendto(query(11, "www.bench.test"), server.getsockname()[:2])
    reader.ready()
    assert dns.message.from_wire(client.recv(4096)).id == 11
    assert len(seen) == 1 and isinstance(seen[0], bytes) and key_text(seen[0]) == "::1"
    client.close()
    server.close()
