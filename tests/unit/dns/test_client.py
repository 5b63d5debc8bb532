"""gtm.dns.client, the drills' DNS client, checked against dnspython: the queries it builds are what dnspython
reads, the replies dnspython makes are read back right, and ask() talks UDP to a small server in the test."""
from __future__ import annotations

import asyncio
import ipaddress
import socket
import struct
import time
from typing import Any, cast

import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

from gtm.dns.client import Reply, ask, build_query, ecs_option, parse_reply
from gtm.model import AAAA, A

# dnspython shuffles the records of an RRset on the wire unless told not to: messages here are rendered in order
# (to_wire(want_shuffle=False)) so that the addresses read back can be compared in order.
V4 = ipaddress.ip_network("198.51.100.0/24")
V6 = ipaddress.ip_network("2001:db8:ab00::/56")


def ecs_of(message: dns.message.Message) -> dns.edns.ECSOption:
    (option,) = [o for o in message.options if o.otype == dns.edns.ECS]
    assert isinstance(option, dns.edns.ECSOption)
    return option


def response(query: bytes, *, v4: tuple[str, ...] = (), v6: tuple[str, ...] = (), ttl: int = 30,
             scope: int | None = None, rcode: dns.rcode.Rcode = dns.rcode.NOERROR) -> dns.message.Message:
    """dnspython's answer to ``query``: A then AAAA records, and an ECS option echoed with ``scope``."""
    q = dns.message.from_wire(query)
    r = dns.message.make_response(q)
    name = q.question[0].name
    if v4:
        r.answer.append(dns.rrset.from_text_list(name, ttl, "IN", "A", list(v4)))
    if v6:
        r.answer.append(dns.rrset.from_text_list(name, ttl + 10, "IN", "AAAA", list(v6)))
    options: list[dns.edns.Option] = []
    if scope is not None:
        ecs = ecs_of(q)
        options.append(dns.edns.ECSOption(ecs.address, ecs.srclen, scope))
    r.use_edns(0, 0, 1232, options=options)
    r.set_rcode(rcode)
    return r


# -- build_query ----------------------------------------------------------------------------------------------
def test_a_query_with_an_ipv4_subnet() -> None:
    wire = build_query(0x1234, "WWW.Example.com", A, V4)
    m = dns.message.from_wire(wire)
    assert m.id == 0x1234
    assert m.opcode() == dns.opcode.QUERY and not m.flags & dns.flags.QR
    assert not m.flags & dns.flags.RD  # the authority itself is asked: no recursion wanted
    (q,) = m.question
    assert (q.name.to_text(), q.rdtype, q.rdclass) == ("www.example.com.", dns.rdatatype.A, dns.rdataclass.IN)
    assert m.edns == 0 and m.payload == 1232
    ecs = ecs_of(m)
    assert (ecs.family, ecs.address, ecs.srclen, ecs.scopelen) == (1, "198.51.100.0", 24, 0)
    assert not m.answer and not m.authority


def test_a_query_with_an_ipv6_subnet() -> None:
    m = dns.message.from_wire(build_query(7, "api.example.com.", AAAA, V6))
    assert m.id == 7 and m.question[0].rdtype == dns.rdatatype.AAAA
    assert m.question[0].name.to_text() == "api.example.com."
    ecs = ecs_of(m)
    assert (ecs.family, ecs.address, ecs.srclen, ecs.scopelen) == (2, "2001:db8:ab00::", 56, 0)


def test_a_query_without_a_subnet_has_edns_and_no_option() -> None:
    m = dns.message.from_wire(build_query(65535, "example.com", A))
    assert m.id == 65535 and m.edns == 0 and m.options == ()


def test_the_ecs_option_carries_only_the_prefix_octets() -> None:
    # RFC 7871 section 6: ADDRESS is truncated to SOURCE PREFIX-LENGTH bits, rounded up to whole octets
    assert ecs_option(ipaddress.ip_network("192.0.2.0/24")) == bytes([0, 8, 0, 7, 0, 1, 24, 0, 192, 0, 2])
    assert ecs_option(ipaddress.ip_network("10.128.0.0/9")) == bytes([0, 8, 0, 6, 0, 1, 9, 0, 10, 128])
    assert ecs_option(ipaddress.ip_network("0.0.0.0/0")) == bytes([0, 8, 0, 4, 0, 1, 0, 0])
    assert len(ecs_option(V6)) == 4 + 4 + 7


# -- parse_reply ----------------------------------------------------------------------------------------------
def test_parse_a_reply_with_addresses_ttl_and_scope() -> None:
    query = build_query(4242, "www.example.com", A, V4)
    wire = response(query, v4=("192.0.2.10", "192.0.2.11"), v6=("2001:db8:10::10",), ttl=30, scope=20).to_wire(want_shuffle=False)
    reply = parse_reply(wire, 4242)
    assert reply == Reply(rcode=0, addresses=("192.0.2.10", "192.0.2.11", "2001:db8:10::10"), ttl=30, scope=20)


def test_parse_a_reply_ttl_is_the_first_address_records() -> None:
    query = build_query(1, "www.example.com", AAAA, V6)
    reply = parse_reply(response(query, v6=("2001:db8::1",), ttl=5, scope=48).to_wire(want_shuffle=False), 1)
    assert reply == Reply(0, ("2001:db8::1",), 15, 48)  # AAAA records get ttl + 10 in response()


def test_parse_a_reply_without_answers_or_scope() -> None:
    query = build_query(9, "nowhere.example.com", A)
    reply = parse_reply(response(query, rcode=dns.rcode.NXDOMAIN).to_wire(want_shuffle=False), 9)
    assert reply == Reply(dns.rcode.NXDOMAIN, (), None, None)


def test_parse_a_reply_skips_what_is_not_an_address() -> None:
    query = build_query(3, "status.example.com", A, V4)
    r = response(query, scope=24)
    name = r.question[0].name
    r.answer.append(dns.rrset.from_text(name, 300, "IN", "CNAME", "www.example.com."))
    r.answer.append(dns.rrset.from_text("www.example.com.", 60, "IN", "A", "192.0.2.10"))
    r.authority.append(dns.rrset.from_text("example.com.", 3600, "IN", "NS", "ns1.example.com."))
    r.additional.append(dns.rrset.from_text("ns1.example.com.", 3600, "IN", "A", "192.0.2.53"))
    assert parse_reply(r.to_wire(want_shuffle=False), 3) == Reply(0, ("192.0.2.10",), 60, 24, "www.example.com")


def test_parse_reply_refuses_another_id() -> None:
    query = build_query(100, "www.example.com", A, V4)
    wire = response(query, v4=("192.0.2.10",)).to_wire(want_shuffle=False)
    with pytest.raises(ValueError, match="not the response to this query"):
        parse_reply(wire, 101)


def test_parse_reply_refuses_a_query() -> None:
    query = build_query(100, "www.example.com", A, V4)
    with pytest.raises(ValueError, match="not the response to this query"):
        parse_reply(query, 100)  # QR off
    r = response(query, v4=("192.0.2.10",))
    r.flags &= ~dns.flags.QR
    with pytest.raises(ValueError, match="not the response to this query"):
        parse_reply(r.to_wire(want_shuffle=False), 100)


def test_parse_reply_refuses_every_truncated_message() -> None:
    query = build_query(77, "www.example.com", A, V4)
    wire = response(query, v4=("192.0.2.10", "192.0.2.11"), v6=("2001:db8::1",), scope=24).to_wire(want_shuffle=False)
    assert parse_reply(wire, 77).addresses == ("192.0.2.10", "192.0.2.11", "2001:db8::1")
    for cut in range(len(wire)):
        with pytest.raises(ValueError):
            parse_reply(wire[:cut], 77)


def test_parse_reply_refuses_an_ecs_option_longer_than_its_opt_record() -> None:
    query = build_query(5, "www.example.com", A, V4)
    wire = response(query).to_wire(want_shuffle=False)  # ends with an OPT record without options
    assert wire[-2:] == b"\0\0"  # its RDLENGTH
    broken = wire[:-2] + struct.pack("!HHH", 6, 8, 4) + b"\0\x01"  # RDLENGTH 6: ECS says 4 octets, 2 follow
    with pytest.raises(ValueError):
        parse_reply(broken, 5)


# -- ask ------------------------------------------------------------------------------------------------------
class Server(asyncio.DatagramProtocol):
    """Answers every query with dnspython, first sending a reply with the wrong ID (which ask() must ignore)."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.queries: list[dns.message.Message] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        assert self.transport is not None
        self.queries.append(dns.message.from_wire(data))
        stray = response(data, v4=("203.0.113.99",))
        stray.id = (stray.id + 1) & 0xFFFF
        self.transport.sendto(stray.to_wire(want_shuffle=False), addr)
        self.transport.sendto(response(data, v4=("192.0.2.10",), v6=("2001:db8::10",), ttl=20, scope=24).to_wire(want_shuffle=False),
                              addr)


def test_ask_gets_the_reply() -> None:
    async def go() -> tuple[Reply, list[dns.message.Message]]:
        loop = asyncio.get_running_loop()
        transport, server = await loop.create_datagram_endpoint(Server, local_addr=("127.0.0.1", 0))
        try:
            port = transport.get_extra_info("sockname")[1]
            reply = await ask(("127.0.0.1", port), "www.example.com", A, V4, timeout=2.0, tries=1)
            return reply, server.queries
        finally:
            transport.close()

    reply, queries = asyncio.run(go())
    assert reply == Reply(0, ("192.0.2.10", "2001:db8::10"), 20, 24)
    (query,) = queries
    assert query.question[0].name.to_text() == "www.example.com." and ecs_of(query).srclen == 24


def test_ask_times_out_after_its_tries() -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(TimeoutError) as info:
            asyncio.run(ask(("127.0.0.1", port), "www.example.com", A, timeout=0.2, tries=2))
        elapsed = time.monotonic() - started
        assert str(info.value) == f"no answer from 127.0.0.1:{port} within 0.2 s"
        assert 0.35 <= elapsed < 2.0  # two tries of 0.2 s each
        silent.setblocking(False)
        sent = []
        while True:
            try:
                sent.append(dns.message.from_wire(silent.recv(2048)))
            except BlockingIOError:
                break
        assert len(sent) == 2  # one query per try
    finally:
        silent.close()


def test_a_cname_answer_names_its_target() -> None:
    """answer_as: cname: the drills' client reads the CNAME's target (compressed against the question), so a
    drill can tell which region's load balancer the answer named."""
    import dns.message
    import dns.rrset

    from gtm.dns.client import parse_reply

    q = dns.message.make_query("cdn.example.com", "A")
    r = dns.message.make_response(q)
    r.answer.append(dns.rrset.from_text("cdn.example.com.", 20, "IN", "CNAME", "LB.eu.Example.com."))
    got = parse_reply(r.to_wire(), q.id)
    assert (got.addresses, got.cname, got.rcode) == ((), "lb.eu.example.com", 0)
    r.answer.append(dns.rrset.from_text("lb.eu.example.com.", 60, "IN", "A", "192.0.2.99"))
    got = parse_reply(r.to_wire(), q.id)
    assert (got.addresses, got.cname, got.ttl) == (("192.0.2.99",), "lb.eu.example.com", 60)
