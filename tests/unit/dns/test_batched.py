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


def test_recvmmsg_errors_end_the_round_and_are_counted(pair: tuple[BatchedUdp, socket.socket]) -> None:
    reader, client = pair

    def failing(code: int):  # type: ignore[no-untyped-def]
        def call(*_: object) -> int:
            ctypes.set_errno(code)
            return -1
        return call

    real = reader.recvmmsg
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


def test_ipv6_peers_are_answered_and_seen_as_themselves() -> None:
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
    client = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    client.settimeout(2.0)
    client.sendto(query(11, "www.bench.test"), server.getsockname()[:2])
    reader.ready()
    assert dns.message.from_wire(client.recv(4096)).id == 11
    assert len(seen) == 1 and isinstance(seen[0], bytes) and key_text(seen[0]) == "::1"
    client.close()
    server.close()
