"""Packets gtm must refuse, reject or ignore: other opcodes, responses, and malformed messages (RFC 1035
section 4.1, RFC 6891 section 6.1.1). After each one the server must still answer a normal query."""
from __future__ import annotations

import socket
import struct

import dns.flags
import dns.message
import dns.opcode
import dns.query
import dns.rcode
import dns.update
import pytest

from tests.support.dns_server import (
    HOST, ask, ecs, frame, header, opt, question_bytes, raw_query, still_answers, tcp_connect, tcp_read_message,
    udp_raw, wire_name,
)

SILENCE = 0.5  # seconds to wait for a reply that must not come

Q = wire_name("host.example.com") + b"\x00\x01\x00\x01"   # a well-formed question: host.example.com A IN




# -- opcodes ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("opcode", [dns.opcode.IQUERY, dns.opcode.STATUS, dns.opcode.NOTIFY, 3, 6, 15])
@pytest.mark.parametrize("use_edns", [False, 0])
def test_unknown_opcodes_are_notimp(port: int, opcode: int, use_edns: int | bool) -> None:
    query = raw_query("HoSt.example.com", 1, id_=0x7777, flags=(opcode << 11) | 0x0100,
                      edns=opt() if use_edns is not False else None)
    resp = udp_raw(port, query)
    assert resp is not None
    m = dns.message.from_wire(resp)
    assert m.id == 0x7777
    assert m.rcode() == dns.rcode.NOTIMP
    assert m.opcode() == opcode                     # the opcode is copied
    assert m.flags & dns.flags.QR and m.flags & dns.flags.RD and not m.flags & dns.flags.AA
    assert m.answer == [] and m.authority == []
    assert m.edns == (0 if use_edns is not False else -1)
    assert question_bytes(resp) == query[12: 12 + len(Q)]
    still_answers(port)


@pytest.mark.parametrize("use_edns", [False, True])
def test_update_is_refused(port: int, use_edns: bool) -> None:
    upd = dns.update.UpdateMessage("example.com")
    upd.add("new", 300, "A", "192.0.2.99")
    if use_edns:
        upd.use_edns(0)
    resp = dns.query.udp(upd, HOST, port=port, timeout=2.0)
    assert resp.opcode() == dns.opcode.UPDATE
    assert resp.rcode() == dns.rcode.REFUSED
    assert resp.edns == (0 if use_edns else -1)
    still_answers(port)
    assert ask(port, "new.example.com").rcode() == dns.rcode.NXDOMAIN   # and nothing was added


@pytest.mark.parametrize("qtype", [252, 251])   # AXFR, IXFR: no zone transfers
def test_zone_transfers_are_refused(port: int, qtype: int) -> None:
    resp = udp_raw(port, raw_query("example.com", qtype))
    assert resp is not None and dns.message.from_wire(resp).rcode() == dns.rcode.REFUSED
    with tcp_connect(port) as s:
        s.sendall(frame(raw_query("example.com", qtype)))
        assert dns.message.from_wire(tcp_read_message(s)).rcode() == dns.rcode.REFUSED


def test_other_classes_are_refused(port: int) -> None:
    query = header() + wire_name("version.bind") + struct.pack("!HH", 16, 3)   # TXT CH
    resp = udp_raw(port, query)
    assert resp is not None
    assert dns.message.from_wire(resp).rcode() == dns.rcode.REFUSED
    query = header() + Q[:-2] + b"\x00\x03"                                   # host.example.com A CH
    assert dns.message.from_wire(udp_raw(port, query)).rcode() == dns.rcode.REFUSED


# -- never answered ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("packet", [
    header(flags=0x8000) + Q,                                 # QR=1: a response, never answered
    header(flags=0x8400) + Q + opt(),
    header(flags=0x8000, qd=0),
    b"",
    b"\x12",
    header()[:11],                                            # shorter than a header
], ids=["response", "response-edns", "response-empty", "empty", "one-octet", "11-octets"])
def test_silence(port: int, packet: bytes) -> None:
    assert udp_raw(port, packet, timeout=SILENCE) is None
    still_answers(port)


# -- FORMERR ------------------------------------------------------------------------------------------------------
HOST_Q = b"\x04host\x07example\x03com\x00"
MALFORMED = {
    "qdcount-0": header(qd=0),
    "qdcount-0-with-opt": header(qd=0, ar=1) + opt(),
    "qdcount-2": header(qd=2) + Q + Q,
    "qdcount-2-missing": header(qd=2) + Q,
    "pointer-to-itself": header() + b"\xc0\x0c" + b"\x00\x01\x00\x01",
    "pointer-forward": header() + b"\xc0\x0e\x00" + b"\x00\x01\x00\x01",
    "pointer-loop": header() + b"\x01a\xc0\x0c" + b"\x00\x01\x00\x01",
    "pointer-loop-2": header() + b"\x01a\x01b\xc0\x0e" + b"\x00\x01\x00\x01",
    "pointer-truncated": header() + b"\x01a\xc0",
    "label-type-0x40": header() + b"\x41" + b"a" * 1 + b"\x00\x00\x01\x00\x01",
    "label-type-0x80": header() + b"\x81a\x00\x00\x01\x00\x01",
    "label-past-the-end": header() + b"\x3fabc",
    "name-without-end": header() + b"\x04host\x07example\x03com",
    "question-cut": header() + HOST_Q + b"\x00\x01",
    "name-over-255": header() + b"\x3f" + b"a" * 63 + b"\x3f" + b"b" * 63 + b"\x3f" + b"c" * 63
                     + b"\x3f" + b"d" * 63 + b"\x00\x00\x01\x00\x01",
    "trailing-garbage": header() + Q + b"\xde\xad",
    "arcount-without-rr": header(ar=1) + Q,
    "ancount-without-rr": header(an=1) + Q,
    "two-opts": header(ar=2) + Q + opt() + opt(),
    "opt-non-root-owner": header(ar=1) + Q + opt(owner=b"\x01a\x00"),
    "opt-owner-pointer": header(ar=1) + Q + opt(owner=b"\xc0\x0c"),
    "opt-truncated-header": header(ar=1) + Q + opt()[:7],
    "opt-truncated-rdata": header(ar=1) + Q + opt(options=ecs(1, 24, 0, b"\xc0\x00\x02"))[:-2],
    "opt-rdlength-too-long": header(ar=1) + Q + opt()[:-2] + b"\x00\x10",
    "opt-option-truncated": header(ar=1) + Q + opt()[:-2] + b"\x00\x03" + b"\x00\x08\x00",
    "opt-option-length-past-rdata": header(ar=1) + Q + opt()[:-2] + b"\x00\x06" + b"\xfd\xe9\x00\x09ab",
    "qtype-opt": header() + HOST_Q + b"\x00\x29\x00\x01",
    "qtype-opt-edns": header(ar=1) + HOST_Q + b"\x00\x29\x00\x01" + opt(),
}
# The ones whose OPT record was read before the problem showed: the FORMERR carries an OPT.
FORMERR_WITH_OPT = {"two-opts", "opt-option-truncated", "opt-option-length-past-rdata", "qtype-opt-edns"}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_is_formerr(port: int, name: str) -> None:
    packet = MALFORMED[name]
    resp = udp_raw(port, packet, timeout=1.0)
    assert resp is not None, f"{name}: no reply"
    id_, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", resp[:12])
    assert id_ == 0x1234
    assert flags & 0x8000                       # QR
    assert flags & 0xF == 1                     # FORMERR
    assert not flags & 0x0400                   # not an authoritative answer
    assert an == ns == 0
    if qd:
        assert question_bytes(resp) == packet[12: 12 + len(question_bytes(resp))]
    m = dns.message.from_wire(resp)
    assert m.rcode() == dns.rcode.FORMERR
    if name in FORMERR_WITH_OPT:
        assert m.edns == 0 and m.options == ()
    still_answers(port)


@pytest.mark.parametrize("name", ["pointer-loop", "two-opts", "qdcount-2", "label-type-0x80"])
def test_malformed_over_tcp_keeps_the_connection(port: int, name: str) -> None:
    with tcp_connect(port) as s:
        s.sendall(frame(MALFORMED[name]))
        assert struct.unpack("!H", tcp_read_message(s)[2:4])[0] & 0xF == 1
        s.sendall(frame(raw_query("host.example.com", 1, id_=77)))
        resp = dns.message.from_wire(tcp_read_message(s))
        assert resp.id == 77 and resp.rcode() == dns.rcode.NOERROR


def test_response_over_tcp_is_ignored_and_the_connection_stays(port: int) -> None:
    with tcp_connect(port) as s:
        s.sendall(frame(header(id_=1, flags=0x8000) + Q) + frame(raw_query("host.example.com", 1, id_=2)))
        resp = dns.message.from_wire(tcp_read_message(s))
        assert resp.id == 2


@pytest.mark.parametrize("packet", [b"", b"\x12\x34\x00"])
def test_tcp_message_shorter_than_a_header_closes_the_connection(port: int, packet: bytes) -> None:
    with tcp_connect(port) as s:
        s.sendall(frame(packet))
        s.settimeout(2.0)
        try:
            assert s.recv(10) == b""
        except ConnectionResetError:
            pass
    still_answers(port)


def test_formerr_keeps_id_opcode_and_rd(port: int) -> None:
    packet = header(id_=0xCAFE, flags=0x0100, qd=2) + Q + Q
    resp = udp_raw(port, packet)
    assert resp is not None
    assert resp[:4] == b"\xca\xfe\x81\x01"       # ID, QR|RD, FORMERR


def test_a_burst_of_garbage_then_a_normal_query(port: int) -> None:
    """Every malformed packet at once, as fast as they can be sent: nothing takes the server down."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _ in range(5):
            for packet in MALFORMED.values():
                s.sendto(packet, (HOST, port))
            s.sendto(b"\xff" * 40, (HOST, port))
            s.sendto(header(flags=0x7800) + b"\xff" * 500, (HOST, port))
    still_answers(port)
