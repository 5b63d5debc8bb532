"""Shared helpers for the real-socket DNS tests (``tests/integration/test_dns_*.py``).

Each test module starts one ``gtm serve`` on the zones in ``tests/fixtures/dns/`` (a YAML zone with services and
an RFC 1035 master file) with :func:`serve`, and talks to it with dnspython or with raw sockets (for bytes that
dnspython will not build). The one test here checks that the fixture itself is what the other modules expect.
"""
from __future__ import annotations

import socket
import struct
import time
from typing import Iterator

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rrset

from tests.conftest import FIXTURES, GtmProcess, serve_checked

ZONES = FIXTURES / "dns"
HOST = "127.0.0.1"
NEG_TTL = 300          # example.com: min(SOA TTL 3600, MINIMUM 300)
STATIC_NEG_TTL = 60    # static.example: min(SOA TTL 60, MINIMUM 300)
SOA_TEXT = "example.com. 300 IN SOA ns1.example.com. hostmaster.example.com. 2026010101 3600 900 1209600 300"
STATIC_SOA_TEXT = ("static.example. 60 IN SOA ns1.static.example. hostmaster.static.example. "
                   "2026010101 3600 900 1209600 300")


def serve() -> Iterator[GtmProcess]:
    """Body of a module-scoped fixture: one server for the whole module (``gtm_server`` is per test).

    At the end the log must show no error: the query path drops a packet silently when it fails, so a
    test that accepts silence would not notice a crash there without this check.
    """
    yield from serve_checked([ZONES], workers=1)  # the query path as deployed: in a worker process


# -- dnspython ------------------------------------------------------------------------------------------------
def ask(port: int, name: str, rdtype: str = "A", *, use_edns: int | bool = False, payload: int = 1232,
        rd: bool = False, want_dnssec: bool = False, options: list | None = None, tcp: bool = False
        ) -> dns.message.Message:
    """One query over UDP (or TCP) with dnspython; RD off unless asked, no EDNS unless asked."""
    q = dns.message.make_query(name, rdtype, use_edns=use_edns, payload=payload, want_dnssec=want_dnssec,
                               options=options)
    if not rd:
        q.flags &= ~dns.flags.RD
    if tcp:
        return dns.query.tcp(q, HOST, port=port, timeout=2.0)
    return dns.query.udp(q, HOST, port=port, timeout=2.0)


def lines(section: list[dns.rrset.RRset]) -> list[str]:
    """A section as sorted presentation lines (``owner TTL IN TYPE rdata``) for exact comparisons."""
    return sorted(line for rrset in section for line in rrset.to_text().splitlines())


# -- raw bytes ------------------------------------------------------------------------------------------------
def wire_name(name: str) -> bytes:
    """Uncompressed wire form of ``name`` keeping its case (``Www.Example.COM`` -> b"\\x03Www...")."""
    return b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".") if p) + b"\0"


def header(id_: int = 0x1234, flags: int = 0, qd: int = 1, an: int = 0, ns: int = 0, ar: int = 0) -> bytes:
    return struct.pack("!HHHHHH", id_, flags, qd, an, ns, ar)


def opt(payload: int = 1232, version: int = 0, flags: int = 0, options: bytes = b"", ext_rcode: int = 0,
        owner: bytes = b"\0") -> bytes:
    """An OPT pseudo-RR as a client would send it."""
    return owner + struct.pack("!HHBBHH", 41, payload, ext_rcode, version, flags, len(options)) + options


def option(code: int, body: bytes) -> bytes:
    return struct.pack("!HH", code, len(body)) + body


def ecs(family: int, source: int, scope: int, address: bytes) -> bytes:
    """An ECS option (RFC 7871 section 6) with exactly the given fields, valid or not."""
    return option(8, struct.pack("!HBB", family, source, scope) + address)


def raw_query(name: str = "www.example.com", qtype: int = 1, *, id_: int = 0x1234, flags: int = 0,
              edns: bytes | None = None) -> bytes:
    return header(id_, flags, 1, 0, 0, 1 if edns is not None else 0) + wire_name(name) + \
        struct.pack("!HH", qtype, 1) + (edns or b"")


def udp_raw(port: int, data: bytes, timeout: float = 2.0) -> bytes | None:
    """Send ``data`` in one datagram; the reply, or None when nothing came within ``timeout``."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(data, (HOST, port))
        try:
            return s.recv(65535)
        except socket.timeout:
            return None


def recv_exact(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def tcp_read_message(s: socket.socket) -> bytes:
    size = struct.unpack("!H", recv_exact(s, 2))[0]
    return recv_exact(s, size)


def tcp_connect(port: int, timeout: float = 2.0) -> socket.socket:
    s = socket.create_connection((HOST, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def frame(msg: bytes) -> bytes:
    return struct.pack("!H", len(msg)) + msg


def question_bytes(resp: bytes) -> bytes:
    """The question section of a response, as raw bytes (the qname must be uncompressed, as it always is)."""
    pos = 12
    while resp[pos]:
        pos += 1 + resp[pos]
    return resp[12: pos + 5]


def still_answers(port: int) -> None:
    """The server is alive: a normal query gets its normal answer (used after every malformed packet)."""
    deadline = time.monotonic() + 2.0
    while True:
        try:
            resp = ask(port, "host.example.com", "A")
            break
        except dns.exception.Timeout:
            if time.monotonic() > deadline:
                raise
    assert lines(resp.answer) == ["host.example.com. 120 IN A 192.0.2.7"]
