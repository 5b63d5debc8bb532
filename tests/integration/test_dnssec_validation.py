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

import dns.flags
import dns.rcode
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
