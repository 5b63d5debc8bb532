"""The hostname resolver (gtm.health.resolve) against misbehaving upstreams on loopback: one that answers
garbage, one that answers too slowly, one that answers SERVFAIL. Each lookup is bounded by the timeout, each
failure is counted by kind, and the last good addresses stay in use (stale) until stale_for runs out."""
from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Iterator

import dns.message
import dns.rcode
import dns.rrset
import pytest

from gtm.health.resolve import HostResolver, NameBook
from gtm.model.names import OK, STALE, ResolverSettings


class Upstream:
    """A UDP DNS server on 127.0.0.1 whose behaviour a test switches: "good" (A 192.0.2.7, TTL 1), "garbage"
    (random bytes), "slow" (the good answer after 2 s), "servfail"; "dual" (also AAAA 2001:db8::7), and the A
    answered with AAAA unanswered ("v6-silent") or SERVFAIL ("v6-servfail")."""

    def __init__(self) -> None:
        self.mode = "good"
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while not self.stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except (socket.timeout, OSError):
                continue
            q = dns.message.from_wire(data)
            r = dns.message.make_response(q)
            if self.mode == "garbage":
                self.sock.sendto(b"\x13\x37" + bytes(range(40)), peer)
                continue
            if self.mode == "servfail":
                r.set_rcode(dns.rcode.SERVFAIL)
            elif q.question[0].rdtype == 1:
                r.answer.append(dns.rrset.from_text(q.question[0].name, 1, "IN", "A", "192.0.2.7"))
            elif q.question[0].rdtype == 28 and self.mode == "v6-silent":
                continue  # AAAA questions go unanswered (a timeout); A is answered
            elif q.question[0].rdtype == 28 and self.mode in ("dual", "v6-servfail"):
                if self.mode == "v6-servfail":
                    r.set_rcode(dns.rcode.SERVFAIL)
                else:
                    r.answer.append(dns.rrset.from_text(q.question[0].name, 1, "IN", "AAAA", "2001:db8::7"))
            if self.mode == "slow":
                threading.Timer(2.0, self.sock.sendto, (r.to_wire(), peer)).start()
            else:
                self.sock.sendto(r.to_wire(), peer)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    u = Upstream()
    yield u
    u.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_garbage_slow_and_servfail_are_bounded_counted_and_the_last_addresses_kept(upstream: Upstream) -> None:
    settings = ResolverSettings(servers=(("127.0.0.1", upstream.port),), timeout=0.5, stale_for=30, min_ttl=1)
    clock = Clock()
    book = NameBook(HostResolver(settings), clock)
    book.track(("lb.example.net",))

    def refresh() -> float:
        started = time.monotonic()
        asyncio.run(book.refresh(["lb.example.net"]))
        return time.monotonic() - started

    refresh()
    rec = book.records["lb.example.net"]
    assert (rec.lookup.state, rec.lookup.v4) == (OK, ("192.0.2.7",))
    # garbage: dnspython drops a reply that is not a response to its query and waits for one: a timeout
    for mode, kind in (("garbage", "timeout"), ("slow", "timeout"), ("servfail", "servfail")):
        upstream.mode = mode
        clock.now += 5
        took = refresh()
        assert took < 0.5 + 0.5, (mode, took)  # the lookup's bound, with a margin for this machine
        rec = book.records["lb.example.net"]
        assert rec.lookup.state == STALE and rec.lookup.v4 == ("192.0.2.7",), mode  # the last good, kept
        assert book.addresses("lb.example.net") == ("192.0.2.7",)
        assert rec.error == kind, (mode, rec.error)
    assert sum(book.failures.values()) == 3 and book.lookups == 4
    upstream.mode = "good"
    clock.now += 5
    refresh()
    assert book.records["lb.example.net"].lookup.state == OK and book.records["lb.example.net"].failures == 0


def test_one_type_failing_keeps_its_last_addresses_while_the_other_answers(upstream: Upstream) -> None:
    """A answered, AAAA timing out or SERVFAIL: the name is resolved, with the A answer and its last AAAA
    addresses (for stale_for, then none), and the failure is counted. Both failing is the name's failure."""
    settings = ResolverSettings(servers=(("127.0.0.1", upstream.port),), timeout=0.5, stale_for=30, min_ttl=1)
    clock = Clock()
    book = NameBook(HostResolver(settings), clock)
    book.track(("lb.example.net",))
    upstream.mode = "dual"
    asyncio.run(book.refresh(["lb.example.net"]))
    assert (book.records["lb.example.net"].lookup.v4, book.records["lb.example.net"].lookup.v6) == (
        ("192.0.2.7",), ("2001:db8::7",))
    for mode, kind in (("v6-silent", "timeout"), ("v6-servfail", "servfail")):
        upstream.mode = mode
        clock.now += 5
        asyncio.run(book.refresh(["lb.example.net"]))
        rec = book.records["lb.example.net"]
        assert (rec.lookup.state, rec.lookup.v4, rec.lookup.v6) == (OK, ("192.0.2.7",), ("2001:db8::7",)), mode
        assert book.failures.get(kind) == 1, (mode, book.failures)
    clock.now += 31  # past stale_for since AAAA first failed: its old addresses go
    asyncio.run(book.refresh(["lb.example.net"]))
    rec = book.records["lb.example.net"]
    assert (rec.lookup.state, rec.lookup.v4, rec.lookup.v6) == (OK, ("192.0.2.7",), ())
    upstream.mode = "servfail"  # both types fail: the name's failure, its last addresses kept (stale)
    clock.now += 5
    asyncio.run(book.refresh(["lb.example.net"]))
    assert book.records["lb.example.net"].lookup.state == STALE
