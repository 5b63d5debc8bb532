"""EDNS(0) (RFC 6891), truncation, and EDNS Client Subnet (RFC 7871), over real UDP (and TCP for the full
answers that UDP cannot carry). The zones are tests/fixtures/dns/."""
from __future__ import annotations

import struct

import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.query
import dns.rcode
import pytest

from tests.support.dns_server import (
    HOST, SOA_TEXT, ask, ecs, lines, opt, option, question_bytes, raw_query, still_answers, udp_raw,
)

SERVER_PAYLOAD = 1232




def reply_opt(resp: bytes) -> bytes:
    """The OPT RR of a raw response, as bytes; fails unless there is exactly one and it is the last RR."""
    m = dns.message.from_wire(resp)
    assert m.edns == 0
    pos = 12
    counts = struct.unpack("!HHHH", resp[4:12])
    for _ in range(counts[0]):
        pos = skip_name(resp, pos) + 4
    found = []
    for _ in range(sum(counts[1:])):
        start = pos
        pos = skip_name(resp, pos)
        rtype, rdlen = struct.unpack("!H", resp[pos: pos + 2])[0], struct.unpack("!H", resp[pos + 8: pos + 10])[0]
        pos += 10 + rdlen
        if rtype == 41:
            found.append(resp[start:pos])
    assert pos == len(resp) and len(found) == 1 and resp.endswith(found[0])
    return found[0]


def skip_name(data: bytes, pos: int) -> int:
    while data[pos]:
        if data[pos] & 0xC0 == 0xC0:
            return pos + 2
        pos += 1 + data[pos]
    return pos + 1


# -- OPT presence ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, rdtype, expect", [
    ("host.example.com", "A", dns.rcode.NOERROR),       # precompiled
    ("host.example.com", "AAAA", dns.rcode.NOERROR),    # NODATA
    ("nope.example.com", "A", dns.rcode.NXDOMAIN),
    ("x.wild.example.com", "A", dns.rcode.NOERROR),     # synthesised
    ("www.sub.example.com", "A", dns.rcode.NOERROR),    # referral
    ("example.org", "A", dns.rcode.REFUSED),
    ("example.com", "AXFR", dns.rcode.REFUSED),         # no zone transfers
])
def test_opt_in_every_reply_to_an_edns_query(port: int, name: str, rdtype: str, expect: int) -> None:
    resp = ask(port, name, rdtype, use_edns=0, payload=4096)
    assert resp.rcode() == expect
    assert resp.edns == 0
    assert resp.payload == SERVER_PAYLOAD
    assert resp.ednsflags == 0
    assert resp.options == ()
    plain = ask(port, name, rdtype)
    assert plain.rcode() == expect
    assert plain.edns == -1          # no OPT when the query had none
    assert lines(plain.answer) == lines(resp.answer) and lines(plain.authority) == lines(resp.authority)


def test_opt_in_notimp(port: int) -> None:
    q = dns.message.make_query("host.example.com", "A", use_edns=0)
    q.set_opcode(dns.opcode.STATUS)
    resp = dns.query.udp(q, HOST, port=port, timeout=2.0)
    assert resp.rcode() == dns.rcode.NOTIMP
    assert resp.edns == 0 and resp.payload == SERVER_PAYLOAD


def test_opt_in_formerr_when_the_opt_was_read(port: int) -> None:
    """A bad ECS option is in a well-formed OPT: the FORMERR carries an OPT of ours."""
    resp = udp_raw(port, raw_query("host.example.com", 1, edns=opt(options=ecs(3, 0, 0, b""))))
    assert resp is not None
    m = dns.message.from_wire(resp)
    assert m.rcode() == dns.rcode.FORMERR
    assert m.edns == 0 and m.options == ()


def test_advertised_payload_is_1232_whatever_the_client_says(port: int) -> None:
    for payload in (512, 1232, 4096, 65535):
        assert ask(port, "host.example.com", use_edns=0, payload=payload).payload == SERVER_PAYLOAD


# -- version, flags, options --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["host.example.com", "nope.example.com", "example.org"])
def test_badvers_for_version_1(port: int, name: str) -> None:
    q = dns.message.make_query(name, "A", use_edns=1)
    resp = dns.query.udp(q, HOST, port=port, timeout=2.0)
    assert resp.rcode() == dns.rcode.BADVERS          # extended RCODE 16: header 0, OPT high bits 1
    assert resp.flags & 0xF == 0
    assert resp.edns == 0                             # the highest version we do speak
    assert resp.answer == [] and resp.authority == []


def test_badvers_raw_bytes(port: int) -> None:
    query = raw_query("Host.Example.Com", 1, id_=0x4242, edns=opt(version=1, flags=0x8000))
    resp = udp_raw(port, query)
    assert resp is not None
    assert resp[:2] == b"\x42\x42"
    assert resp[3] & 0xF == 0
    assert question_bytes(resp) == query[12:12 + len(b"\x04Host\x07Example\x03Com\x00") + 4]
    o = reply_opt(resp)
    assert o[5] == 1 and o[6] == 0                    # EXTENDED-RCODE 1 (<< 4 = 16), VERSION 0
    assert o[7] & 0x80                                # DO copied


def test_do_bit_is_copied(port: int) -> None:
    for name in ("host.example.com", "nope.example.com"):
        with_do = ask(port, name, use_edns=0, want_dnssec=True)
        assert with_do.ednsflags & dns.flags.DO
        without = ask(port, name, use_edns=0)
        assert not without.ednsflags & dns.flags.DO


@pytest.mark.parametrize("name", ["host.example.com", "nope.example.com"])
def test_unknown_edns_flags_are_ignored(port: int, name: str) -> None:
    """Z bits set in a query (RFC 6891 section 6.1.4) are not echoed; only DO is, and RFC 9824's CO with DO."""
    for flags, expect in ((0x4000, 0), (0x0001, 0), (0xFFFF, 0xC000), (0x7FFF, 0), (0xC000, 0xC000), (0x8001, 0x8000)):
        resp = udp_raw(port, raw_query(name, 1, edns=opt(flags=flags)))
        assert resp is not None
        o = reply_opt(resp)
        assert struct.unpack("!H", o[7:9])[0] == expect


@pytest.mark.parametrize("name", ["host.example.com", "nope.example.com"])
def test_unknown_options_are_not_echoed(port: int, name: str) -> None:
    opts = [dns.edns.GenericOption(65001, b"hello"), dns.edns.GenericOption(10, b"\x01" * 8)]  # + a COOKIE
    resp = ask(port, name, use_edns=0, options=opts)
    assert resp.edns == 0
    assert resp.options == ()
    raw = udp_raw(port, raw_query(name, 1, edns=opt(options=option(65001, b"hello"))))
    assert raw is not None and reply_opt(raw) == opt(SERVER_PAYLOAD)


# -- truncation -------------------------------------------------------------------------------------------------
MEDIUM = 10   # TXT records at medium.example.com: about 800 octets, more than 512 and less than 1232
BIG = 90      # A records at big.example.com: about 1500 octets, more than 1232


def test_truncated_without_edns(port: int) -> None:
    resp = ask(port, "medium.example.com", "TXT")
    assert resp.flags & dns.flags.TC
    assert resp.flags & dns.flags.AA
    assert resp.answer == [] and resp.authority == [] and resp.additional == []
    assert [str(q.name) for q in resp.question] == ["medium.example.com."]
    assert resp.edns == -1


def test_fits_with_edns_4096(port: int) -> None:
    resp = ask(port, "medium.example.com", "TXT", use_edns=0, payload=4096)
    assert not resp.flags & dns.flags.TC
    assert sum(len(rs) for rs in resp.answer) == MEDIUM


@pytest.mark.parametrize("payload", [512, 100])   # below 512 counts as 512 (RFC 6891 section 6.2.5)
def test_truncated_with_edns_512(port: int, payload: int) -> None:
    resp = ask(port, "medium.example.com", "TXT", use_edns=0, payload=payload)
    assert resp.flags & dns.flags.TC
    assert resp.answer == []
    assert resp.edns == 0 and resp.payload == SERVER_PAYLOAD     # the OPT survives truncation
    small = ask(port, "host.example.com", "A", use_edns=0, payload=payload)
    assert not small.flags & dns.flags.TC and len(small.answer) == 1


@pytest.mark.parametrize("rdtype", ["A", "ANY"])   # ANY is answered by the slow path: same limits there
def test_truncated_above_our_payload_even_if_the_client_allows_more(port: int, rdtype: str) -> None:
    resp = ask(port, "big.example.com", rdtype, use_edns=0, payload=4096)
    assert resp.flags & dns.flags.TC
    assert resp.answer == []
    assert resp.edns == 0
    plain = ask(port, "big.example.com", rdtype)
    assert plain.flags & dns.flags.TC and plain.edns == -1


@pytest.mark.parametrize("use_edns", [False, 0])
def test_the_full_answer_over_tcp(port: int, use_edns: int | bool) -> None:
    big = ask(port, "big.example.com", "A", use_edns=use_edns, tcp=True)
    assert not big.flags & dns.flags.TC
    assert big.flags & dns.flags.AA
    assert lines(big.answer) == sorted(f"big.example.com. 3600 IN A 192.0.2.{i}" for i in range(1, BIG + 1))
    medium = ask(port, "medium.example.com", "TXT", use_edns=use_edns, tcp=True)
    assert not medium.flags & dns.flags.TC
    assert len(medium.answer[0]) == MEDIUM
    assert (big.edns, medium.edns) == ((0, 0) if use_edns is not False else (-1, -1))


def test_truncated_reply_keeps_the_question_spelling(port: int) -> None:
    query = raw_query("BiG.eXaMpLe.CoM", 1, edns=opt(payload=4096))
    resp = udp_raw(port, query)
    assert resp is not None
    assert resp[2] & 0x02                              # TC
    assert question_bytes(resp) == query[12:-11]


MX_TARGETS = 12   # mxmany.example.com: 12 MX whose targets have A and AAAA; the MX alone fit 512 octets


@pytest.mark.parametrize("rdtype", ["MX", "ANY"])   # fast path and slow path
@pytest.mark.parametrize("use_edns, payload", [(False, 512), (0, 512)])
def test_additional_is_dropped_before_setting_tc(port: int, rdtype: str, use_edns: int | bool, payload: int) -> None:
    """RFC 2181 section 9: TC is not set merely because extra (additional) information did not fit."""
    resp = ask(port, "MXmany.example.com", rdtype, use_edns=use_edns, payload=payload)
    assert not resp.flags & dns.flags.TC
    assert resp.flags & dns.flags.AA
    assert len(resp.answer) == 1 and len(resp.answer[0]) == MX_TARGETS
    assert resp.additional == []
    assert resp.edns == (-1 if use_edns is False else 0)


def test_additional_is_kept_when_it_fits(port: int) -> None:
    for resp in (ask(port, "mxmany.example.com", "MX", use_edns=0, payload=4096),
                 ask(port, "mxmany.example.com", "MX", tcp=True)):
        assert not resp.flags & dns.flags.TC
        assert lines(resp.additional) == sorted(
            [f"m{i:02d}.example.com. 3600 IN A 192.0.2.{140 + i}" for i in range(1, 13)]
            + [f"m{i:02d}.example.com. 3600 IN AAAA 2001:db8:3::{i}" for i in range(1, 13)])


def test_referral_glue_is_not_dropped(port: int) -> None:
    """RFC 9471: in-domain glue is required; a referral that does not fit with it is truncated instead."""
    plain = ask(port, "www.bigsub.example.com", "A")
    assert plain.flags & dns.flags.TC
    assert plain.authority == [] and plain.additional == []
    full = ask(port, "www.bigsub.example.com", "A", use_edns=0, payload=1232)
    assert not full.flags & dns.flags.TC and not full.flags & dns.flags.AA
    assert len(full.authority[0]) == 12
    assert sum(len(rs) for rs in full.additional) == 24


# -- EDNS Client Subnet (RFC 7871) ----------------------------------------------------------------------------
def echoed_ecs(resp: dns.message.Message) -> dns.edns.ECSOption:
    got = [o for o in resp.options if o.otype == dns.edns.OptionType.ECS]
    assert len(got) == 1
    assert len(resp.options) == 1
    return got[0]  # type: ignore[return-value]


@pytest.mark.parametrize("address, source", [("192.0.2.0", 24), ("198.51.96.0", 20), ("192.0.2.1", 32),
                                             ("2001:db8:1:200::", 56), ("2001:db8::", 32), ("0.0.0.0", 0),
                                             ("::", 0)])
@pytest.mark.parametrize("name", ["www.example.com", "host.example.com", "nope.example.com", "example.org"])
def test_ecs_echoed_with_scope_zero(port: int, name: str, address: str, source: int) -> None:
    resp = ask(port, name, use_edns=0, options=[dns.edns.ECSOption(address, source)])
    assert resp.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN, dns.rcode.REFUSED)
    got = echoed_ecs(resp)
    assert (got.family, got.srclen, got.scopelen, got.address) == \
        (2 if ":" in address else 1, source, 0, address)


@pytest.mark.parametrize("family, source, address", [(1, 24, b"\xc0\x00\x02"), (2, 56, bytes(range(7))),
                                                     (1, 0, b""), (1, 9, b"\x0a\x80")])
def test_ecs_echoed_byte_for_byte(port: int, family: int, source: int, address: bytes) -> None:
    sent = ecs(family, source, 0, address)
    resp = udp_raw(port, raw_query("www.example.com", 1, edns=opt(options=sent)))
    assert resp is not None
    assert reply_opt(resp) == opt(SERVER_PAYLOAD, options=sent)


def test_ecs_next_to_an_unknown_option(port: int) -> None:
    sent = ecs(1, 24, 0, b"\xc0\x00\x02")
    for options in (option(65001, b"x") + sent, sent + option(65001, b"x")):
        resp = udp_raw(port, raw_query("www.example.com", 1, edns=opt(options=options)))
        assert resp is not None
        assert reply_opt(resp) == opt(SERVER_PAYLOAD, options=sent)


@pytest.mark.parametrize("body", [
    ecs(1, 24, 8, b"\xc0\x00\x02"),          # SCOPE PREFIX-LENGTH not zero in a query
    ecs(1, 24, 0, b"\xc0\x00\x02\x00"),      # address longer than the prefix needs
    ecs(1, 24, 0, b"\xc0\x00"),              # shorter
    ecs(1, 20, 0, b"\xc6\x33\x6f"),          # bits set beyond the prefix (0x6f & 0x0f)
    ecs(1, 33, 0, b"\xc0\x00\x02\x00\x00"),  # prefix longer than an IPv4 address
    ecs(2, 129, 0, bytes(17)),               # prefix longer than an IPv6 address
    ecs(3, 0, 0, b""),                       # unknown family
    ecs(0, 0, 0, b""),
    option(8, b"\x00\x01"),                  # too short for the fixed part
    option(8, b""),
])
@pytest.mark.parametrize("name", ["www.example.com", "nope.example.com"])
def test_malformed_ecs_is_formerr(port: int, body: bytes, name: str) -> None:
    query = raw_query(name, 1, edns=opt(options=body))
    resp = udp_raw(port, query)
    assert resp is not None, "no answer to a malformed ECS option"
    m = dns.message.from_wire(resp)
    assert m.rcode() == dns.rcode.FORMERR
    assert m.id == 0x1234 and m.flags & dns.flags.QR
    assert m.answer == []
    assert m.edns == 0 and m.options == ()
    still_answers(port)


def test_ecs_with_source_zero_answers_normally(port: int) -> None:
    resp = ask(port, "www.example.com", use_edns=0, options=[dns.edns.ECSOption("0.0.0.0", 0)])
    assert lines(resp.answer) == ["www.example.com. 45 IN A 198.51.100.10", "www.example.com. 45 IN A 198.51.100.11"]
    assert echoed_ecs(resp).srclen == 0


def test_ecs_on_nodata_keeps_the_soa(port: int) -> None:
    resp = ask(port, "www.example.com", "TXT", use_edns=0, options=[dns.edns.ECSOption("192.0.2.0", 24)])
    assert resp.answer == [] and lines(resp.authority) == [SOA_TEXT]
    assert echoed_ecs(resp).scopelen == 0
