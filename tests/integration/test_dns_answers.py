"""What gtm answers, over real UDP, checked section by section: header bits, negative answers (RFC 2308),
CNAME chains (RFC 6604), wildcards (RFC 4592), delegations, minimal ANY (RFC 8482), managed names and the
additional section. The zones are tests/fixtures/dns/."""
from __future__ import annotations

import struct

import dns.flags
import dns.message
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from tests.support.dns_server import (
    HOST, NEG_TTL, SOA_TEXT, STATIC_SOA_TEXT, ask, header, lines, question_bytes, raw_query, udp_raw,
)




# -- header ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rd", [False, True])
def test_header_of_an_authoritative_answer(port: int, rd: bool) -> None:
    q = dns.message.make_query("host.example.com", "A")
    q.id = 0xBEEF
    if not rd:
        q.flags &= ~dns.flags.RD
    resp = dns.query.udp(q, HOST, port=port, timeout=2.0)
    assert resp.id == 0xBEEF
    assert resp.flags & dns.flags.QR
    assert resp.flags & dns.flags.AA
    assert not resp.flags & dns.flags.RA
    assert not resp.flags & dns.flags.TC
    assert bool(resp.flags & dns.flags.RD) == rd
    assert resp.opcode() == dns.opcode.QUERY
    assert resp.rcode() == dns.rcode.NOERROR
    assert lines(resp.answer) == ["host.example.com. 120 IN A 192.0.2.7"]
    assert resp.authority == [] and resp.additional == []


@pytest.mark.parametrize("rd", [0, 0x0100])
@pytest.mark.parametrize("name", ["hOsT.ExAmPlE.cOm",        # precompiled answer (the fast path)
                                  "nO-sUcH.eXaMpLe.CoM",      # NXDOMAIN (compiled on demand)
                                  "X.wILd.Example.COM"])      # wildcard synthesis
def test_question_echoed_byte_for_byte(port: int, name: str, rd: int) -> None:
    """0x20 mixed case survives: the question in the reply is the question as sent, octet for octet."""
    query = raw_query(name, 1, id_=0x0A0B, flags=rd)
    resp = udp_raw(port, query)
    assert resp is not None
    assert resp[:2] == b"\x0a\x0b"
    assert question_bytes(resp) == query[12:]
    flags = struct.unpack("!H", resp[2:4])[0]
    assert flags & 0x8000 and flags & 0x0400 and not flags & 0x0080   # QR, AA, no RA
    assert flags & 0x0100 == rd
    assert (flags >> 11) & 0xF == 0


@pytest.mark.parametrize("name", ["host.example.com", "nope.example.com"])
def test_header_bits_of_the_query_are_not_echoed(port: int, name: str) -> None:
    """Z, AD, CD, AA, TC and RA set in a query: the answer is normal and carries none of them (RD aside)."""
    query = raw_query(name, 1, flags=0x0100 | 0x0400 | 0x0200 | 0x0080 | 0x0040 | 0x0020 | 0x0010)
    resp = udp_raw(port, query)
    assert resp is not None
    flags = struct.unpack("!H", resp[2:4])[0]
    assert flags & ~0x000F == 0x8000 | 0x0400 | 0x0100          # QR, AA, RD; rcode aside
    m = dns.message.from_wire(resp)
    assert m.rcode() == (dns.rcode.NOERROR if name.startswith("host") else dns.rcode.NXDOMAIN)


def test_owner_names_carry_the_question_spelling(port: int) -> None:
    query = raw_query("HoSt.ExAmPlE.CoM", 1)
    msg = dns.message.from_wire(udp_raw(port, query))
    assert [str(r.name) for r in msg.answer] == ["HoSt.ExAmPlE.CoM."]   # compressed to the question
    assert lines(msg.answer) == ["HoSt.ExAmPlE.CoM. 120 IN A 192.0.2.7"]


def test_matching_is_case_insensitive(port: int) -> None:
    for name in ("HOST.EXAMPLE.COM", "Host.Example.Com", "host.example.com"):
        resp = ask(port, name)
        assert resp.rcode() == dns.rcode.NOERROR
        assert [rd.to_text() for rs in resp.answer for rd in rs] == ["192.0.2.7"]


# -- negative answers (RFC 2308) ---------------------------------------------------------------------------------
def test_nxdomain_has_the_soa_with_the_negative_ttl(port: int) -> None:
    resp = ask(port, "nope.example.com", "A")
    assert resp.rcode() == dns.rcode.NXDOMAIN
    assert resp.flags & dns.flags.AA
    assert resp.answer == []
    assert lines(resp.authority) == [SOA_TEXT]
    assert resp.authority[0].ttl == NEG_TTL
    assert resp.additional == []


def test_nodata_has_the_soa_with_the_negative_ttl(port: int) -> None:
    resp = ask(port, "host.example.com", "AAAA")
    assert resp.rcode() == dns.rcode.NOERROR
    assert resp.flags & dns.flags.AA
    assert resp.answer == []
    assert lines(resp.authority) == [SOA_TEXT]


def test_negative_ttl_is_the_soa_ttl_when_smaller(port: int) -> None:
    """static.example: SOA TTL 60 < MINIMUM 300, so negative answers say 60."""
    nx = ask(port, "nope.static.example", "A")
    assert nx.rcode() == dns.rcode.NXDOMAIN
    assert lines(nx.authority) == [STATIC_SOA_TEXT]
    nodata = ask(port, "host.static.example", "TXT")
    assert nodata.rcode() == dns.rcode.NOERROR and nodata.answer == []
    assert lines(nodata.authority) == [STATIC_SOA_TEXT]


def test_empty_non_terminal_is_nodata(port: int) -> None:
    """_tcp.example.com exists only as the parent of _sip._tcp: NOERROR, no answer (RFC 4592 section 2.2.2)."""
    for rdtype in ("A", "SRV", "TXT"):
        resp = ask(port, "_tcp.example.com", rdtype)
        assert resp.rcode() == dns.rcode.NOERROR
        assert resp.answer == []
        assert lines(resp.authority) == [SOA_TEXT]
    assert ask(port, "_udp.example.com", "SRV").rcode() == dns.rcode.NXDOMAIN


@pytest.mark.parametrize("rdtype", ["TYPE666", "NSEC", "CAA", "HINFO"])
def test_unknown_or_absent_type_is_nodata(port: int, rdtype: str) -> None:
    resp = ask(port, "host.example.com", rdtype)
    assert resp.rcode() == dns.rcode.NOERROR and resp.flags & dns.flags.AA
    assert resp.answer == [] and lines(resp.authority) == [SOA_TEXT]


def test_below_a_leaf_is_nxdomain(port: int) -> None:
    assert ask(port, "deeper.host.example.com").rcode() == dns.rcode.NXDOMAIN


# -- CNAME (RFC 1034 section 4.3.2, RFC 6604) ----------------------------------------------------------------
def test_cname_chain_followed_inside_the_zone(port: int) -> None:
    resp = ask(port, "c1.example.com", "A")
    assert resp.rcode() == dns.rcode.NOERROR and resp.flags & dns.flags.AA
    assert [(str(rs.name), dns.rdatatype.to_text(rs.rdtype)) for rs in resp.answer] == [
        ("c1.example.com.", "CNAME"), ("c2.example.com.", "CNAME"), ("c3.example.com.", "A")]
    assert lines(resp.answer) == ["c1.example.com. 3600 IN CNAME c2.example.com.",
                                  "c2.example.com. 3600 IN CNAME c3.example.com.",
                                  "c3.example.com. 3600 IN A 192.0.2.33"]
    assert resp.authority == []


def test_cname_query_is_not_followed(port: int) -> None:
    resp = ask(port, "c1.example.com", "CNAME")
    assert lines(resp.answer) == ["c1.example.com. 3600 IN CNAME c2.example.com."]


def test_cname_chain_ending_in_nodata(port: int) -> None:
    resp = ask(port, "c1.example.com", "AAAA")
    assert resp.rcode() == dns.rcode.NOERROR
    assert lines(resp.answer) == ["c1.example.com. 3600 IN CNAME c2.example.com.",
                                  "c2.example.com. 3600 IN CNAME c3.example.com."]
    assert lines(resp.authority) == [SOA_TEXT]


def test_cname_out_of_the_zone_is_not_followed(port: int) -> None:
    resp = ask(port, "out.example.com", "A")
    assert resp.rcode() == dns.rcode.NOERROR and resp.flags & dns.flags.AA
    assert lines(resp.answer) == ["out.example.com. 300 IN CNAME target.example.net."]
    assert resp.authority == [] and resp.additional == []


def test_cname_loop_is_answered_without_hanging(port: int) -> None:
    resp = ask(port, "loop-a.example.com", "A")
    assert resp.rcode() == dns.rcode.NOERROR
    assert lines(resp.answer) == ["loop-a.example.com. 3600 IN CNAME loop-b.example.com.",
                                  "loop-b.example.com. 3600 IN CNAME loop-a.example.com."]


def test_cname_to_a_missing_name_is_nxdomain(port: int) -> None:
    """RFC 6604: the RCODE belongs to the last name of the chain."""
    resp = ask(port, "dangling.example.com", "A")
    assert resp.rcode() == dns.rcode.NXDOMAIN
    assert resp.flags & dns.flags.AA
    assert lines(resp.answer) == ["dangling.example.com. 3600 IN CNAME nothere.example.com."]
    assert lines(resp.authority) == [SOA_TEXT]


def test_cname_in_a_master_file_zone(port: int) -> None:
    resp = ask(port, "ALIAS.static.example", "AAAA")
    assert lines(resp.answer) == ["ALIAS.static.example. 3600 IN CNAME host.static.example.",
                                  "host.static.example. 3600 IN AAAA 2001:db8:5::203"]


# -- wildcards (RFC 4592) -------------------------------------------------------------------------------------
def test_wildcard_synthesis_owner_is_the_qname(port: int) -> None:
    resp = ask(port, "anything.wild.example.com", "A")
    assert resp.rcode() == dns.rcode.NOERROR and resp.flags & dns.flags.AA
    assert lines(resp.answer) == ["anything.wild.example.com. 3600 IN A 192.0.2.100"]
    assert resp.authority == []


def test_wildcard_matches_several_labels_down(port: int) -> None:
    """a.b.wild: closest encloser wild.example.com, source *.wild (section 3.3.1)."""
    resp = ask(port, "a.b.wild.example.com", "TXT")
    assert lines(resp.answer) == ['a.b.wild.example.com. 3600 IN TXT "wildcard"']


def test_wildcard_nodata(port: int) -> None:
    resp = ask(port, "anything.wild.example.com", "AAAA")
    assert resp.rcode() == dns.rcode.NOERROR
    assert resp.answer == []
    assert lines(resp.authority) == [SOA_TEXT]


def test_no_synthesis_where_the_name_exists(port: int) -> None:
    """exists.wild has TXT only: an A query is NODATA, not the wildcard's A."""
    resp = ask(port, "exists.wild.example.com", "A")
    assert resp.rcode() == dns.rcode.NOERROR
    assert resp.answer == []
    assert lines(resp.authority) == [SOA_TEXT]
    txt = ask(port, "exists.wild.example.com", "TXT")
    assert lines(txt.answer) == ['exists.wild.example.com. 3600 IN TXT "not from the wildcard"']


def test_no_synthesis_below_an_existing_node(port: int) -> None:
    """x.blocker.wild: the closest encloser is blocker.wild, which has no wildcard child -> NXDOMAIN."""
    resp = ask(port, "x.blocker.wild.example.com", "A")
    assert resp.rcode() == dns.rcode.NXDOMAIN
    assert resp.answer == []
    assert lines(resp.authority) == [SOA_TEXT]


def test_empty_non_terminal_blocks_the_wildcard(port: int) -> None:
    """ent.wild exists only as the parent of host.ent.wild: it is NODATA itself and blocks *.wild below it."""
    ent = ask(port, "ent.wild.example.com", "A")
    assert ent.rcode() == dns.rcode.NOERROR and ent.answer == []
    assert lines(ent.authority) == [SOA_TEXT]
    below = ask(port, "x.ent.wild.example.com", "A")
    assert below.rcode() == dns.rcode.NXDOMAIN and below.answer == []


def test_asterisk_in_the_query_is_a_literal_label(port: int) -> None:
    """Asking for *.wild itself gets its data; below it (x.*.wild) nothing matches (RFC 4592 section 2.1.3)."""
    resp = ask(port, "*.wild.example.com", "A")
    assert lines(resp.answer) == ["*.wild.example.com. 3600 IN A 192.0.2.100"]
    assert ask(port, "x.*.wild.example.com", "A").rcode() == dns.rcode.NXDOMAIN


def test_wildcard_cname(port: int) -> None:
    resp = ask(port, "foo.wcname.example.com", "A")
    assert resp.rcode() == dns.rcode.NOERROR
    assert lines(resp.answer) == ["c3.example.com. 3600 IN A 192.0.2.33",
                                  "foo.wcname.example.com. 3600 IN CNAME c3.example.com."]
    assert str(resp.answer[0].name) == "foo.wcname.example.com."


def test_escaped_dot_in_a_label_is_one_label(port: int) -> None:
    """The label "x.blocker" sits directly under wild.example.com, so *.wild matches it; the label
    "blocker.wild" sits under example.com, where no wildcard exists (names are labels, not text)."""
    q = raw_query("host.example.com", 1)  # built by hand: one label holding a dot
    name = b"\x09x.blocker\x04wild\x07example\x03com\x00"
    resp = dns.message.from_wire(udp_raw(port, q[:12] + name + q[-4:]))
    assert resp.rcode() == dns.rcode.NOERROR
    assert [rd.to_text() for rs in resp.answer for rd in rs] == ["192.0.2.100"]
    name = b"\x0cblocker.wild\x07example\x03com\x00"
    resp = dns.message.from_wire(udp_raw(port, q[:12] + name + q[-4:]))
    assert resp.rcode() == dns.rcode.NXDOMAIN and resp.answer == []
    name = b"\x0bhost.static\x07example\x00"   # one label under the TLD "example": in no served zone
    resp = dns.message.from_wire(udp_raw(port, q[:12] + name + q[-4:]))
    assert resp.rcode() == dns.rcode.REFUSED


# -- delegations ----------------------------------------------------------------------------------------------
REFERRAL_NS = ["sub.example.com. 3600 IN NS ns.example.net.",
               "sub.example.com. 3600 IN NS ns1.sub.example.com.",
               "sub.example.com. 3600 IN NS ns2.sub.example.com."]
GLUE = ["ns1.sub.example.com. 3600 IN A 192.0.2.153",
        "ns2.sub.example.com. 3600 IN AAAA 2001:db8:2::153"]


@pytest.mark.parametrize("name, rdtype", [("sub.example.com", "A"), ("sub.example.com", "NS"),
                                          ("www.sub.example.com", "A"), ("a.b.sub.example.com", "AAAA"),
                                          ("ns1.sub.example.com", "A"), ("x.sub.example.com", "DS")])
def test_referral(port: int, name: str, rdtype: str) -> None:
    """At and below the cut: no AA, the NS set in authority, in-bailiwick glue in additional, nothing else."""
    resp = ask(port, name, rdtype)
    assert resp.rcode() == dns.rcode.NOERROR
    assert not resp.flags & dns.flags.AA
    assert resp.answer == []
    assert lines(resp.authority) == REFERRAL_NS
    assert lines(resp.additional) == GLUE


def test_ds_at_the_cut_is_answered_by_the_parent(port: int) -> None:
    """RFC 4035 section 3.1.4.1: DS lives on the parent side: an authoritative NODATA here (no DS data)."""
    resp = ask(port, "sub.example.com", "DS")
    assert resp.rcode() == dns.rcode.NOERROR
    assert resp.flags & dns.flags.AA
    assert resp.answer == []
    assert lines(resp.authority) == [SOA_TEXT]


# -- REFUSED ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["example.org", "com", "example", "xexample.com", "."])
def test_names_outside_every_zone_are_refused(port: int, name: str) -> None:
    resp = ask(port, name, "A")
    assert resp.rcode() == dns.rcode.REFUSED
    assert not resp.flags & dns.flags.AA
    assert resp.answer == [] and resp.authority == [] and resp.additional == []
    assert [str(q.name) for q in resp.question] == [name.rstrip(".") + "."]


def test_refused_echoes_the_raw_question(port: int) -> None:
    query = raw_query("WwW.ExAmPlE.OrG", 1, flags=0x0100)
    resp = udp_raw(port, query)
    assert resp is not None
    assert resp[2:4] == b"\x81\x05"          # QR, RD, REFUSED
    assert resp[4:12] == header(qd=1)[4:12]
    assert question_bytes(resp) == query[12:]


# -- ANY (RFC 8482) ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["example.com", "mail2.example.com", "www.example.com", "x.wild.example.com",
                                  "host.static.example"])
def test_any_is_answered_with_one_rrset(port: int, name: str) -> None:
    resp = ask(port, name, "ANY")
    assert resp.rcode() == dns.rcode.NOERROR and resp.flags & dns.flags.AA
    assert len(resp.answer) == 1
    assert str(resp.answer[0].name) == name + "."


def test_any_at_an_empty_non_terminal_is_nodata(port: int) -> None:
    resp = ask(port, "_tcp.example.com", "ANY")
    assert resp.rcode() == dns.rcode.NOERROR and resp.answer == []
    assert lines(resp.authority) == [SOA_TEXT]


def test_any_for_a_missing_name_is_nxdomain(port: int) -> None:
    assert ask(port, "nope.example.com", "ANY").rcode() == dns.rcode.NXDOMAIN


# -- managed names (services) --------------------------------------------------------------------------------------
def test_managed_name_a_is_the_first_region(port: int) -> None:
    """www: failover over [eu-west, us-east]; until steering lands, the first region's endpoints, TTL 45."""
    resp = ask(port, "www.example.com", "A")
    assert resp.rcode() == dns.rcode.NOERROR and resp.flags & dns.flags.AA
    assert lines(resp.answer) == ["www.example.com. 45 IN A 198.51.100.10",
                                  "www.example.com. 45 IN A 198.51.100.11"]
    assert resp.authority == [] and resp.additional == []


def test_managed_name_aaaa_is_the_first_region(port: int) -> None:
    resp = ask(port, "www.example.com", "AAAA")
    assert lines(resp.answer) == ["www.example.com. 45 IN AAAA 2001:db8:20::10"]


def test_cname_to_a_managed_name(port: int) -> None:
    resp = ask(port, "alias-www.example.com", "A")
    assert lines(resp.answer) == ["alias-www.example.com. 3600 IN CNAME www.example.com.",
                                  "www.example.com. 45 IN A 198.51.100.10",
                                  "www.example.com. 45 IN A 198.51.100.11"]


@pytest.mark.parametrize("name, rdtype", [("www.example.com", "TXT"), ("www.example.com", "MX")])
def test_managed_name_without_that_type_is_nodata(port: int, name: str, rdtype: str) -> None:
    resp = ask(port, name, rdtype)
    assert resp.rcode() == dns.rcode.NOERROR
    assert resp.answer == []
    assert lines(resp.authority) == [SOA_TEXT]


def test_families_spill_over_separately(port: int) -> None:
    """legacy's first region has IPv4 endpoints only: A comes from it, AAAA from the next region that has
    IPv6 (A and AAAA are decided apart, like two Route53 failover record sets)."""
    a = ask(port, "legacy.example.com", "A")
    aaaa = ask(port, "legacy.example.com", "AAAA")
    assert lines(a.answer) == ["legacy.example.com. 20 IN A 203.0.113.10"]
    assert lines(aaaa.answer) == ["legacy.example.com. 20 IN AAAA 2001:db8:10::10"]


def test_second_managed_name(port: int) -> None:
    assert lines(ask(port, "legacy.example.com", "A").answer) == ["legacy.example.com. 20 IN A 203.0.113.10"]


# -- additional section (RFC 1034 section 4.3.2 step 6) ---------------------------------------------------------
def test_mx_targets_in_additional(port: int) -> None:
    resp = ask(port, "example.com", "MX")
    assert lines(resp.answer) == ["example.com. 3600 IN MX 10 mail1.example.com.",
                                  "example.com. 3600 IN MX 20 mail2.example.com.",
                                  "example.com. 3600 IN MX 30 mx.example.net."]
    assert lines(resp.additional) == ["mail1.example.com. 3600 IN A 192.0.2.25",
                                      "mail2.example.com. 3600 IN A 198.51.100.25",
                                      "mail2.example.com. 3600 IN AAAA 2001:db8::25"]


def test_srv_target_in_additional(port: int) -> None:
    resp = ask(port, "_sip._tcp.example.com", "SRV")
    assert lines(resp.answer) == ["_sip._tcp.example.com. 3600 IN SRV 10 60 5060 sip.example.com."]
    assert lines(resp.additional) == ["sip.example.com. 3600 IN A 192.0.2.60",
                                      "sip.example.com. 3600 IN AAAA 2001:db8::60"]


def test_ns_targets_in_additional(port: int) -> None:
    resp = ask(port, "example.com", "NS")
    assert resp.flags & dns.flags.AA
    assert lines(resp.answer) == ["example.com. 3600 IN NS ns1.example.com.",
                                  "example.com. 3600 IN NS ns2.example.com."]
    assert lines(resp.additional) == ["ns1.example.com. 3600 IN A 192.0.2.53",
                                      "ns1.example.com. 3600 IN AAAA 2001:db8::53",
                                      "ns2.example.com. 3600 IN A 198.51.100.53"]


def test_master_file_zone_mx_and_ns_additional(port: int) -> None:
    mx = ask(port, "static.example", "MX")
    assert lines(mx.answer) == ["static.example. 3600 IN MX 10 mail.static.example."]
    assert lines(mx.additional) == ["mail.static.example. 3600 IN A 192.0.2.202"]
    ns = ask(port, "static.example", "NS")
    assert lines(ns.additional) == ["ns1.static.example. 3600 IN A 192.0.2.201"]
