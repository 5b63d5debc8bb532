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


PROBED = """\
zone: probed.test
soa: {mname: ns1.probed.test., rname: hostmaster.probed.test.}
ns: [ns1]
records:
  ns1: {A: 192.0.2.53}
regions:
  here: {location: {lat: 50.1, lon: 8.7}, endpoints: [127.0.0.1]}
monitors:
  web: {type: tcp, port: PORT, interval: 0.5, timeout: 0.25, rise: 1, fall: 1}
vantages:
  frankfurt: {location: {lat: 50.11, lon: 8.68}}
services:
  www: {regions: [here], monitor: web, policy: failover}
"""


def test_probe_as_works_without_a_key_file(tmp_path: Path, gtm_server) -> None:  # type: ignore[no-untyped-def]
    """Before: `gtm serve --admin-listen ... --probe-as frankfurt` exited with an internal error when the
    config names no report keys (the bundled example names none). The built-in prober now signs with a key
    made up for the process's life, which only this node knows."""
    import json
    import urllib.request

    backend = socket.socket()
    backend.bind(("127.0.0.1", 0))
    backend.listen(16)
    try:
        (tmp_path / "probed.test.yaml").write_text(PROBED.replace("PORT", str(backend.getsockname()[1])))
        srv = gtm_server("--admin-listen", "127.0.0.1:0", "--probe-as", "frankfurt", tmp_path)
        deadline = time.monotonic() + 10
        while True:
            with urllib.request.urlopen(srv.admin + "/v1/status", timeout=5) as r:
                health = json.load(r)["health"]
            seen = {v["name"]: v for v in health["vantages"]}["frankfurt"]
            if seen["fresh"] and health["reports"]["accepted"] >= 2:
                break
            assert time.monotonic() < deadline, health
            time.sleep(0.1)
        assert [e["up"] for e in health["endpoints"]] == [True] and health["reports"]["rejected"] == {}
    finally:
        backend.close()


def test_report_keys_that_cannot_be_read_are_a_one_line_error(tmp_path: Path) -> None:
    from tests.conftest import run_gtm

    (tmp_path / "probed.test.yaml").write_text(PROBED.replace("PORT", "9") +
                                              "health: {keys: {env: GTM_TEST_UNSET_KEYS}}\n")
    p = run_gtm("serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--probe-as", "frankfurt",
                tmp_path)
    assert p.returncode == 1, p.stderr
    errors = [line for line in p.stderr.splitlines() if " INFO " not in line and " WARNING " not in line]
    assert errors == ["gtm: error: environment variable GTM_TEST_UNSET_KEYS (report keys) is not set"], p.stderr


@pytest.mark.parametrize("workers", ["0", "2"])
def test_the_sampled_query_log_names_client_name_type_regions_and_rcode(gtm_server, workers: str) -> None:  # type: ignore[no-untyped-def]
    """`--query-log 1`: one UDP query in 64 is logged (the ones already timed for the duration histogram), in
    the control process or in the workers."""
    import dns.edns

    srv = gtm_server("--query-log", "1", "--workers", workers, ZONES)
    q = dns.message.make_query("www.example.com", "A", use_edns=0, options=[dns.edns.ECSOption("81.2.69.0", 24)])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        for _ in range(64 * 6):
            sock.sendto(q.to_wire(), ("127.0.0.1", srv.port))
            sock.recv(4096)
    want = "gtm.querylog: client=81.2.69.0/24 name=www.example.com. type=A regions=eu-west rcode=NOERROR"
    deadline = time.monotonic() + 5
    while not [line for line in srv.lines if line.endswith(want)]:
        assert time.monotonic() < deadline, srv.log
        time.sleep(0.05)
    logged = [line for line in srv.lines if "gtm.querylog" in line]
    assert 1 <= len(logged) <= 6 and all(line.endswith(want) for line in logged), logged
