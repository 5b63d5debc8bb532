"""Signed answers checked by independent validators: BIND's ``delv`` and Unbound, against a real ``gtm serve`` of
the bundled example made a signed zone (``signed: true``, a key from ``gtm dnssec keygen``, the trust anchor
from ``gtm dnssec ds``).

* delv: "fully validated" for a static name, a steered name asked with ECS from two continents (a relay adds
  the option delv cannot send; the answers differ and both validate), a CNAME chain, a wildcard, the apex's
  DNSKEY; validated negative answers for a name that does not exist, a type a name lacks, and the DS of an
  insecure delegation (RFC 9824 compact denial).
* Unbound, validating with a stub zone to gtm: AD=1; after a region fails, the new steered answer validates
  too; an answer whose signature a relay broke is SERVFAIL while the others still validate.
"""
from __future__ import annotations

import signal
from pathlib import Path
from typing import Iterator

import dns.dnssec
import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from tests.conftest import GtmProcess
from tests.support.dnssec_world import Relay, Unbound, answers, delv, delv_anchor, signed_example, until

EU, US = "81.2.69.0/24", "8.8.8.0/24"  # the example's GeoIP: GB (rule EU: eu-west first), US (default: us-east)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GtmProcess, Path, str, Path]]:
    where = tmp_path_factory.mktemp("dnssec")
    zones, ds = signed_example(where)
    health = where / "health.yaml"
    health.write_text("down: []\n")
    server = GtmProcess([str(zones), "--health", str(health)], where)
    try:
        yield server, delv_anchor(where, ds), ds, health
    finally:
        server.stop()
    bad = [line for line in server.lines if " ERROR " in line or "Traceback" in line]
    assert not bad, "the server logged errors:\n" + server.log


@pytest.mark.parametrize("name, rtype, expect", [
    ("example.com", "SOA", "ns1.example.com. hostmaster.example.com. 2026112601 3600 900 1209600 300"),
    ("example.com", "DNSKEY", "257 3 13"),
    ("mail1.example.com", "A", "192.0.2.25"),
    ("status.example.com", "A", "192.0.2.10"),          # CNAME to www, followed: both RRsets signed
    ("anything.preview.example.com", "A", "192.0.2.90"),  # wildcard *.preview
    ("example.com", "MX", "10 mail1.example.com."),
])
def test_delv_fully_validates_positive_answers(world, name: str, rtype: str, expect: str) -> None:  # type: ignore[no-untyped-def]
    server, anchor, _, _ = world
    out = delv(server.port, anchor, name, rtype)
    assert "; fully validated" in out, out
    assert any(a.startswith(expect) for a in answers(out, rtype)), out


@pytest.mark.parametrize("name, rtype", [
    ("nope.example.com", "A"),             # NXDOMAIN: NOERROR with an NSEC whose bitmap has NXNAME
    ("www.example.com", "MX"),             # NODATA at a steered name
    ("mail1.example.com", "AAAA"),         # NODATA at a static name
    ("_tcp.example.com", "TXT"),           # an empty non-terminal
    ("lab.example.com", "DS"),             # no DS at the delegation: an insecure child, proven
    ("x.preview.example.com", "TXT"),      # NODATA under the wildcard
])
def test_delv_validates_denials(world, name: str, rtype: str) -> None:  # type: ignore[no-untyped-def]
    server, anchor, _, _ = world
    out = delv(server.port, anchor, name, rtype)
    assert "; negative response, fully validated" in out, out


def test_delv_validates_steered_answers_from_two_continents(world) -> None:  # type: ignore[no-untyped-def]
    server, anchor, _, _ = world
    got = {}
    for where, subnet in (("eu", EU), ("us", US)):
        relay = Relay(server.port, ecs=subnet)
        try:
            out = delv(relay.port, anchor, "www.example.com", "A")
        finally:
            relay.close()
        assert "; fully validated" in out, out
        got[where] = answers(out)
    assert got == {"eu": ["198.51.100.10", "198.51.100.11"], "us": ["192.0.2.10", "192.0.2.11"]}


def test_unbound_validates_a_failover_and_refuses_a_tampered_signature(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server, _, ds, health = world
    relay = Relay(server.port)
    resolver = Unbound(tmp_path / "unbound", relay.port, ds)
    try:
        first = resolver.ask("www.example.com")
        assert first.rcode() == dns.rcode.NOERROR and first.flags & dns.flags.AD, first
        assert sorted(rd.to_text() for rrset in first.answer for rd in rrset if rrset.rdtype == 1) == [
            "192.0.2.10", "192.0.2.11"]  # us-east: the default for a client without a location
        missing = resolver.ask("nope.example.com")
        assert missing.rcode() == dns.rcode.NOERROR and not missing.answer and missing.flags & dns.flags.AD

        # us-east fails: the steered answer moves to eu-west, and still validates
        health.write_text("down: [us-east]\n")
        start = len(server.lines)
        server.signal(signal.SIGHUP)
        server.wait_for_log("reloaded in", start=start)

        def moved() -> bool:
            r = resolver.ask("www.example.com")
            got = sorted(rd.to_text() for rrset in r.answer for rd in rrset if rrset.rdtype == 1)
            return got == ["198.51.100.10", "198.51.100.11"] and bool(r.flags & dns.flags.AD)
        assert until(moved), resolver.ask("www.example.com")

        # a broken signature: SERVFAIL for that name, while the rest of the zone still validates
        relay.tamper.add("mail1.example.com.")
        assert resolver.ask("mail1.example.com").rcode() == dns.rcode.SERVFAIL
        good = resolver.ask("mail2.example.com")
        assert good.rcode() == dns.rcode.NOERROR and good.flags & dns.flags.AD
    finally:
        out = resolver.stop()
        relay.close()
        health.write_text("down: []\n")
    assert "validation failure" in out and "mail1.example.com" in out, out


# -- every answer to DO=1 is signed; DO=0 answers stay as they were -----------------------------------------
NAMES = ["example.com", "www", "api", "shop", "ns1", "ns2", "mail1", "mail2", "_dmarc", "_sip._tcp", "_tcp", "sip",
         "status", "docs", "a.preview", "b.c.preview", "preview", "lab", "x.lab", "ns1.lab", "lb.sa-east", "sa-east",
         "big", "nope", "deep.nope"]
TYPES = ["A", "AAAA", "MX", "TXT", "SRV", "CAA", "NS", "SOA", "DNSKEY", "CDS", "CDNSKEY", "CNAME", "DS", "PTR", "ANY",
         "NSEC", "RRSIG"]


def full(port: int, query: dns.message.Message) -> dns.message.Message:
    reply = dns.query.udp(query, "127.0.0.1", port=port, timeout=2)
    if reply.flags & dns.flags.TC:
        reply = dns.query.tcp(query, "127.0.0.1", port=port, timeout=2)
    return reply


def test_nothing_unsigned_reaches_a_do_query(world) -> None:  # type: ignore[no-untyped-def]
    """Every name and type of the zone (and names it lacks), asked with DO=1 (ECS from two continents for the
    steered ones): every RRset is covered by an RRSIG that dnspython validates with the zone's DNSKEY, except a
    referral's NS RRset and glue (RFC 4035 section 2.2); a negative answer carries its NSEC. With DO=0 no RRSIG or
    NSEC is sent."""
    server = world[0]
    keys = full(server.port, dns.message.make_query("example.com.", "DNSKEY", want_dnssec=True))
    (dnskey,) = [r for r in keys.answer if r.rdtype == dns.rdatatype.DNSKEY]
    keyring = {dns.name.from_text("example.com."): dnskey}
    checked = 0
    for label in NAMES:
        name = label if label == "example.com" else f"{label}.example.com"
        for rtype in TYPES:
            for ecs in ((None, EU, US) if label in ("www", "api", "shop") else (None,)):
                options = [dns.edns.ECSOption(ecs.split("/")[0], int(ecs.split("/")[1]))] if ecs else []
                q = dns.message.make_query(name, rtype, want_dnssec=True, options=options)
                reply = full(server.port, q)
                referral = not reply.flags & dns.flags.AA
                for section in (reply.answer, reply.authority, reply.additional):
                    sigs = {(r.name, r.covers): r for r in section if r.rdtype == dns.rdatatype.RRSIG}
                    for rrset in section:
                        if rrset.rdtype in (dns.rdatatype.RRSIG, dns.rdatatype.OPT):
                            continue
                        if referral and rrset.rdtype in (dns.rdatatype.NS, dns.rdatatype.A, dns.rdatatype.AAAA):
                            continue
                        if section is reply.additional and rrset.name.is_subdomain(dns.name.from_text("lab.example.com.")):
                            continue  # glue of the delegated lab (asked at the apex NS, its targets' addresses)
                        sig = sigs.get((rrset.name, rrset.rdtype))
                        assert sig is not None, f"{name} {rtype}: {rrset} unsigned"
                        dns.dnssec.validate(rrset, sig, keyring)
                        checked += 1
                if reply.rcode() == dns.rcode.NOERROR and not reply.answer and not referral:
                    assert any(r.rdtype == dns.rdatatype.NSEC for r in reply.authority), f"{name} {rtype}: no NSEC"
                plain = full(server.port, dns.message.make_query(name, rtype, use_edns=0, options=options))
                assert not [r for s in (plain.answer, plain.authority) for r in s
                            if r.rdtype in (dns.rdatatype.RRSIG, dns.rdatatype.NSEC)], f"{name} {rtype} DO=0"
    assert checked > 400


def test_compact_denial_and_the_co_flag(world) -> None:  # type: ignore[no-untyped-def]
    """A name that does not exist: NOERROR with NSEC (NXNAME in the bitmap) to DO=1; NXDOMAIN with the same
    NSEC, and CO echoed, to DO=1 + CO (RFC 9824 section 5.1); a plain NXDOMAIN to DO=0; FORMERR for an NXNAME
    question (section 3.5)."""
    port = world[0].port
    q = dns.message.make_query("nope.example.com.", "A", want_dnssec=True)
    compact = full(port, q)
    assert compact.rcode() == dns.rcode.NOERROR and not compact.ednsflags & 0x4000
    (nsec,) = [r for r in compact.authority if r.rdtype == dns.rdatatype.NSEC]
    assert nsec.to_text() == "nope.example.com. 300 IN NSEC \\000.nope.example.com. RRSIG NSEC NXNAME"
    q.ednsflags |= 0x4000
    co = full(port, q)
    assert co.rcode() == dns.rcode.NXDOMAIN and co.ednsflags & 0x4000
    assert [r.to_text() for r in co.authority] == [r.to_text() for r in compact.authority]
    plain = full(port, dns.message.make_query("nope.example.com.", "A", use_edns=0))
    assert plain.rcode() == dns.rcode.NXDOMAIN and len(plain.authority) == 1
    nxname = dns.query.udp(dns.message.make_query("www.example.com.", 128, want_dnssec=True), "127.0.0.1",
                           port=port, timeout=2)
    assert nxname.rcode() == dns.rcode.FORMERR


def test_a_signed_answer_too_big_for_udp_is_truncated_and_whole_over_tcp(world) -> None:  # type: ignore[no-untyped-def]
    server, anchor, _, _ = world
    plain = dns.query.udp(dns.message.make_query("big.example.com.", "TXT", use_edns=0, payload=1232), "127.0.0.1",
                          port=server.port, timeout=2)
    assert not plain.flags & dns.flags.TC and len(plain.answer[0]) == 5  # unsigned, it fits
    q = dns.message.make_query("big.example.com.", "TXT", want_dnssec=True, payload=1232)
    udp = dns.query.udp(q, "127.0.0.1", port=server.port, timeout=2)
    assert udp.flags & dns.flags.TC and not udp.answer
    tcp = dns.query.tcp(q, "127.0.0.1", port=server.port, timeout=2)
    assert len(tcp.to_wire()) > 1232 and {r.rdtype for r in tcp.answer} == {dns.rdatatype.TXT, dns.rdatatype.RRSIG}
    out = delv(server.port, anchor, "big.example.com", "TXT")  # delv retries over TCP, and validates
    assert "; fully validated" in out, out


def test_worker_processes_sign_with_the_zone_keys(tmp_path: Path) -> None:
    """With a worker process answering, the keys reach it with the config: its answers validate too."""
    zones, ds = signed_example(tmp_path / "w")
    anchor = delv_anchor(tmp_path, ds)
    server = GtmProcess([str(zones)], tmp_path, workers=1)
    try:
        for name, rtype, expect in (("www.example.com", "A", "; fully validated"),
                                    ("nope.example.com", "A", "; negative response, fully validated")):
            out = delv(server.port, anchor, name, rtype)
            assert expect in out, out
    finally:
        server.stop()
