"""Signing gtm's RRsets (gtm.dnssec.sign), checked by dnspython's validator: signatures over static and
wildcard-owned RRsets validate with the zone's DNSKEY and fail when the data is changed; windows are aligned;
compact-denial NSECs have the bitmaps RFC 9824 gives them."""
from __future__ import annotations

import dns.dnssec
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

from gtm.dnssec.keys import generate
from gtm.dns.signing import ZoneSigner
from gtm.dnssec.keys import Key
from gtm.dnssec.sign import NXNAME, compact_nsec, window
from gtm.model import A, Rdata, RRset, TXT

NOW = 1_765_000_000


def as_dns(rrset: RRset, owner: str | None = None) -> dns.rrset.RRset:
    return dns.rrset.from_text_list(owner or rrset.name, rrset.ttl, "IN", dns.rdatatype.to_text(rrset.rtype),
                                    [rd.to_text() for rd in rrset.rdatas])


def rrsig(rrset: RRset, key: Key, now: float) -> Rdata:
    """The RRSIG gtm's signer makes over ``rrset`` (under its own owner) with ``key`` in the window of ``now``."""
    (sig,) = ZoneSigner(key.zone, (key,), now).rrsig(rrset.name, rrset).rdatas
    return sig


def sig_of(rd: Rdata) -> dns.rdata.Rdata:
    return dns.rdata.from_wire(dns.rdataclass.IN, dns.rdatatype.RRSIG, rd.fields[0], 0, len(rd.fields[0]))


@pytest.mark.parametrize("algorithm", ["ecdsap256sha256", "ed25519"])
def test_a_signature_validates_and_a_change_breaks_it(algorithm: str) -> None:
    key = generate("example.com", algorithm)
    rrset = RRset("www.example.com.", A, 30, (Rdata(A, ("192.0.2.10",)), Rdata(A, ("192.0.2.11",))))
    inception, expiration = window(NOW)
    sig = sig_of(rrsig(rrset, key, NOW))
    assert (sig.inception, sig.expiration, sig.labels, sig.key_tag, sig.original_ttl) == (
        inception, expiration, 3, key.tag, 30)
    keys = {dns.name.from_text("example.com."): dns.rrset.from_rdata("example.com.", 3600, key.rdata)}
    sigset = dns.rrset.from_rdata("www.example.com.", 30, sig)
    dns.dnssec.validate(as_dns(rrset), sigset, keys, now=NOW)
    changed = RRset("www.example.com.", A, 30, (Rdata(A, ("192.0.2.10",)), Rdata(A, ("192.0.2.12",))))
    with pytest.raises(dns.dnssec.ValidationFailure):
        dns.dnssec.validate(as_dns(changed), sigset, keys, now=NOW)


def test_a_wildcard_answer_is_signed_over_its_wildcard_owner() -> None:
    key = generate("example.com")
    rrset = RRset("*.preview.example.com.", TXT, 60, (Rdata(TXT, ((b"hello",),)),))
    sig = sig_of(rrsig(rrset, key, NOW))
    assert sig.labels == 3  # example.com + preview: the '*' is not counted (RFC 4034 section 3.1.3)
    keys = {dns.name.from_text("example.com."): dns.rrset.from_rdata("example.com.", 3600, key.rdata)}
    # a validator reconstructs the wildcard owner from the labels count when the answer is at a.preview...
    answer = as_dns(rrset, "a.preview.example.com.")
    dns.dnssec.validate(answer, dns.rrset.from_rdata("a.preview.example.com.", 60, sig), keys, now=NOW)


def test_windows_are_aligned_to_weeks() -> None:
    inception, expiration = window(NOW)
    assert (inception + 3600) % (7 * 86400) == 0 and expiration - inception == 2 * 7 * 86400 + 3600
    assert window(NOW + 60) == (inception, expiration)  # the same window a minute later, or on another node
    assert inception <= NOW < expiration


def test_compact_denial_nsec_bitmaps() -> None:
    nx = compact_nsec("nope.example.com.", None, 300)
    rd = dns.rdata.from_wire(dns.rdataclass.IN, dns.rdatatype.NSEC, nx.rdatas[0].fields[0], 0,
                             len(nx.rdatas[0].fields[0]))
    assert rd.next.to_text() == "\\000.nope.example.com."
    assert rd.to_text().split()[1:] == ["RRSIG", "NSEC", "NXNAME"] and NXNAME == 128  # (dnspython knows it)
    nodata = compact_nsec("www.example.com.", {A, 28}, 300)
    rd = dns.rdata.from_wire(dns.rdataclass.IN, dns.rdatatype.NSEC, nodata.rdatas[0].fields[0], 0,
                             len(nodata.rdatas[0].fields[0]))
    assert rd.to_text().split()[1:] == ["A", "AAAA", "RRSIG", "NSEC"]
