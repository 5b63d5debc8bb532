"""`gtm serve` options: several listen addresses incl. IPv6, the TCP idle timeout and connection cap."""
from __future__ import annotations

import socket
import struct
import time
from pathlib import Path

import dns.message
import dns.query
import pytest

ZONES = Path(__file__).resolve().parents[2] / "zones"


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no ::1 on this machine")
def test_listens_on_ipv4_and_ipv6_udp_and_tcp(gtm_server):
    srv = gtm_server("--listen", "[::1]:0", ZONES)
    port6 = next(port for host, port in srv.addresses if host == "::1")
    q = dns.message.make_query("ns1.example.com", "AAAA")
    for where, port in (("127.0.0.1", srv.port), ("::1", port6)):
        for send in (dns.query.udp, dns.query.tcp):
            resp = send(q, where, port=port, timeout=3)
            assert [rd.address for rd in resp.answer[0]] == ["2001:db8::53"], (where, send)


def _tcp_query(sock: socket.socket, name: str = "ns1.example.com") -> dns.message.Message:
    wire = dns.message.make_query(name, "A").to_wire()
    sock.sendall(struct.pack("!H", len(wire)) + wire)
    size = struct.unpack("!H", _recv(sock, 2))[0]
    return dns.message.from_wire(_recv(sock, size))


def _recv(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


def test_tcp_idle_timeout_closes_the_connection(gtm_server):
    srv = gtm_server("--tcp-idle", "0.5", ZONES)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        assert _tcp_query(s).answer
        time.sleep(0.2)
        assert _tcp_query(s).answer  # activity re-arms the timer
        started = time.monotonic()
        assert s.recv(1) == b""  # the server closes; recv sees EOF
        assert 0.3 < time.monotonic() - started < 3


def test_tcp_connection_cap(gtm_server):
    srv = gtm_server("--tcp-clients", "5", ZONES)
    held = [socket.create_connection(("127.0.0.1", srv.port), timeout=5) for _ in range(5)]
    try:
        for s in held:
            assert _tcp_query(s).answer
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as extra:
            with pytest.raises((ConnectionError, OSError)):
                _tcp_query(extra)
        assert _tcp_query(held[0]).answer  # the ones within the cap still work
    finally:
        for s in held:
            s.close()
    time.sleep(0.2)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as again:
        assert _tcp_query(again).answer  # closing frees places


def test_udp_payload_option_limits_edns_answers(gtm_server):
    srv = gtm_server("--udp-payload", "512", ZONES)
    q = dns.message.make_query("example.com", "SOA", use_edns=0, payload=4096)
    resp = dns.query.udp(q, "127.0.0.1", port=srv.port, timeout=3)
    assert resp.edns == 0 and resp.payload == 512
