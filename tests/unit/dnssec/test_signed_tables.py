"""Signed answer tables, in-process (the wire and the validators are tests/integration/test_dnssec_validation.py):
the RRSIGs gtm makes on the canonical form validate with dnspython for both algorithms and for a KSK/ZSK split
(the KSK signs the DNSKEY RRset, the ZSK the data); a new signing period compiles every answer afresh with the
new window, while a health change in the same period keeps the static answers' signatures; an RRset many answers
share is signed once."""
from __future__ import annotations

import time
from pathlib import Path

import dns.dnssec
import dns.message
import dns.name
import dns.rdatatype
import pytest

from gtm.dns.codec import name_to_wire
from gtm.dns.server import Responder
from gtm.dns.signing import STATS, labels
from gtm.dnssec import keys
from gtm.dnssec.sign import period_start, window
from gtm.dnssec.zone import published
from gtm.config import load
from gtm.serving import Snapshot

ZONE = """\
zone: s.test
soa: {}
ns: [ns1]
signed: true
dnssec: {key_dir: keys}
records:
  ns1: {A: 192.0.2.53}
  www: {A: [192.0.2.80, 192.0.2.81], AAAA: "2001:db8::80"}
  "*.w": {TXT: "wild"}
regions:
  one: {location: {lat: 50, lon: 8}, endpoints: [{address: 192.0.2.10}]}
  two: {location: {lat: 40, lon: -75}, endpoints: [{address: 192.0.2.20}]}
services:
  app: {regions: [one, two], policy: failover}
"""
NOW = 1_765_000_000.0


def config_with(tmp_path: Path, *made: keys.Key):  # type: ignore[no-untyped-def]
    (tmp_path / "s.test.yaml").write_text(ZONE)
    for key in made:
        keys.write(str(tmp_path / "keys"), key)
    return published(load([str(tmp_path / "s.test.yaml")]))


def ask(responder: Responder, name: str, rtype: str) -> dns.message.Message:
    wire = responder.answer(dns.message.make_query(name, rtype, want_dnssec=True, payload=4096).to_wire(), "192.0.2.1")
    assert wire is not None
    return dns.message.from_wire(wire)


def validate(reply: dns.message.Message, keyring: dict[dns.name.Name, dns.rrset.RRset], now: float) -> list[int]:
    """Validates every RRset of the answer and authority sections; the key tags that signed them."""
    tags = []
    for section in (reply.answer, reply.authority):
        sigs = {(r.name, r.covers): r for r in section if r.rdtype == dns.rdatatype.RRSIG}
        for rrset in section:
            if rrset.rdtype != dns.rdatatype.RRSIG:
                sig = sigs[(rrset.name, rrset.rdtype)]
                dns.dnssec.validate(rrset, sig, keyring, now=now)
                tags += [rd.key_tag for rd in sig]
    return tags


@pytest.mark.parametrize("algorithm", ["ecdsap256sha256", "ed25519"])
def test_answers_validate_with_either_algorithm_and_a_split(tmp_path: Path, algorithm: str) -> None:
    ksk = keys.generate("s.test", algorithm, "ksk", now=NOW)
    zsk = keys.generate("s.test", algorithm, "zsk", now=NOW)
    config = config_with(tmp_path, ksk, zsk)
    responder = Responder(Snapshot.first(config, now=NOW).compile(None))
    dnskey = ask(responder, "s.test.", "DNSKEY")
    keyring = {dns.name.from_text("s.test."): dnskey.answer[0]}
    assert sorted(rd.flags for rd in dnskey.answer[0]) == [256, 257]
    assert validate(dnskey, keyring, NOW) == [ksk.tag]  # the DNSKEY RRset: by the key-signing key
    for name, rtype in (("www.s.test.", "A"), ("app.s.test.", "A"), ("x.w.s.test.", "TXT"), ("no.s.test.", "A"),
                        ("www.s.test.", "TXT"), ("s.test.", "SOA")):
        reply = ask(responder, name, rtype)
        assert set(validate(reply, keyring, NOW)) == {zsk.tag}, (name, rtype)
    wild = ask(responder, "x.w.s.test.", "TXT")
    (sig,) = [r for r in wild.answer if r.rdtype == dns.rdatatype.RRSIG]
    assert sig[0].labels == 4 == labels("x.w.s.test.")  # at the name asked, not *.w (RFC 9824 section 3.3)
    assert labels("*.w.s.test.") == 3


def test_a_new_period_signs_afresh_and_a_health_change_keeps_the_window(tmp_path: Path) -> None:
    csk = keys.generate("s.test", now=NOW)
    config = config_with(tmp_path, csk)
    keyring = {dns.name.from_text("s.test."): dns.rrset.from_rdata("s.test.", 3600, csk.rdata)}
    first = Snapshot.first(config, now=NOW)
    assert first.epoch == period_start(NOW)
    table = first.compile(None)

    def window_of(t, name: str) -> tuple[int, int]:  # type: ignore[no-untyped-def]
        reply = ask(Responder(t), name, "A")
        (sig,) = [r for r in reply.answer if r.rdtype == dns.rdatatype.RRSIG]
        return sig[0].inception, sig[0].expiration

    assert window_of(table, "www.s.test.") == window(NOW) == window_of(table, "app.s.test.")
    # health changes in the same period: the static answers (and their signatures) are shared
    cheap = first.compile(None, table)
    www = name_to_wire("www.s.test.") + b"\x00\x01"
    assert cheap is not table and cheap.entries[www] is table.entries[www]
    # the next period: a new table, every answer signed with the new window, still valid
    later = NOW + 7 * 86400
    renewed = first.with_epoch(period_start(later)).compile(None, table)
    assert renewed is not table and window_of(renewed, "www.s.test.") == window(later)
    assert window_of(renewed, "app.s.test.") == window(later)
    reply = ask(Responder(renewed), "www.s.test.", "A")
    validate(reply, keyring, later)


def test_an_rrset_many_answers_share_is_signed_once(tmp_path: Path) -> None:
    config = config_with(tmp_path, keys.generate("s.test", now=NOW))
    responder = Responder(Snapshot.first(config, now=NOW).compile(None))
    ask(responder, "n0.s.test.", "A")  # the negative answers' SOA is signed here (and its first NSEC)
    before = STATS.signatures
    for i in range(1, 50):  # 49 more names that do not exist: one NSEC signature each, the SOA's is reused
        ask(responder, f"n{i}.s.test.", "A")
    assert STATS.signatures - before == 49
    again = STATS.signatures
    ask(responder, "n7.s.test.", "A")
    assert STATS.signatures == again  # answered before: nothing signed


def test_a_packed_zone_is_signed_on_first_query(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A zone past the packing threshold (lowered here, to keep the test small) is compiled, and signed, on the
    first query of each name and type; its apex publishes the keys like any zone's."""
    monkeypatch.setattr("gtm.config.zonebuild.PACK_THRESHOLD", 3)
    csk = keys.generate("s.test", now=NOW)
    config = config_with(tmp_path, csk)
    assert type(config.zones["s.test."].rrsets).__name__ == "PackedRRsets"
    table = Snapshot.first(config, now=NOW).compile(None)
    assert table.lazy
    responder = Responder(table)
    keyring = {dns.name.from_text("s.test."): ask(responder, "s.test.", "DNSKEY").answer[0]}
    before = STATS.signatures
    for name, rtype in (("www.s.test.", "A"), ("www.s.test.", "AAAA"), ("ns1.s.test.", "A"), ("x.w.s.test.", "TXT"),
                        ("no.s.test.", "A"), ("www.s.test.", "MX"), ("app.s.test.", "A")):
        reply = ask(responder, name, rtype)
        assert validate(reply, keyring, NOW), (name, rtype)
    assert STATS.signatures > before


def test_the_metrics_of_a_signed_node(tmp_path: Path) -> None:
    """What the alerting rules watch: the signatures made, and the window of those served (the RRSIGs' own)."""
    from prometheus_client import generate_latest

    from gtm.admin.metrics import NodeMetrics

    config = config_with(tmp_path, keys.generate("s.test", now=NOW))
    metrics = NodeMetrics()
    responder = Responder(Snapshot.first(config, now=NOW).compile(None))
    metrics.responder = responder
    reply = ask(responder, "www.s.test.", "A")
    (sig,) = [r for r in reply.answer if r.rdtype == dns.rdatatype.RRSIG]
    text = generate_latest(metrics.registry).decode()
    series = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if line.startswith("gtm_dnssec")}
    assert series['gtm_dnssec_signature_expiry_timestamp_seconds{zone="s.test"}'] == sig[0].expiration
    assert series['gtm_dnssec_signature_inception_timestamp_seconds{zone="s.test"}'] == sig[0].inception
    assert series["gtm_dnssec_signatures_total"] >= 1 and series["gtm_dnssec_signing_seconds_total"] > 0


def test_a_key_made_in_the_future_warns_that_the_clock_is_behind(tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    config_with(tmp_path, keys.generate("s.test", now=time.time() + 86400))
    assert "this clock is behind" in caplog.text and "s.test+013+" in caplog.text
    caplog.clear()
    (tmp_path / "keys").rename(tmp_path / "old")
    config_with(tmp_path, keys.generate("s.test"))
    assert "clock" not in caplog.text


CNAME_ZONE = """\
zone: c.test
soa: {}
ns: [ns1]
signed: true
dnssec: {key_dir: keys}
records:
  ns1: {A: 192.0.2.53}
  "*.w": {TXT: "wild"}
  sub: {NS: ns.sub}
  ns.sub: {A: 192.0.2.54}
regions:
  one: {location: {lat: 50, lon: 8}, endpoints: [{hostname: lb.one.example.net}]}
services:
  shop: {regions: [one], policy: failover, answer_as: cname, fail_mode: fail_closed}
"""
SUB_ZONE = "zone: sub.c.test\nsoa: {}\nns: [ns]\nsigned: true\nrecords:\n  ns: {A: 192.0.2.54}\n"


def test_denials_validators_accept_in_corner_cases(tmp_path: Path) -> None:
    """A steered CNAME name failed closed (its NODATA bitmap names no CNAME: RFC 4035 section 5.4), a question
    for the NSEC or the RRSIGs at a name (answered, not denied), names asked with an escaped octet (a wildcard's
    answer and a denial signed over the octet, not its escape), and the DS of a child zone served beside its
    parent (the parent answers it: RFC 4035 section 3.1.4.1)."""
    from gtm.model import HealthSnapshot

    (tmp_path / "c.test.yaml").write_text(CNAME_ZONE)
    (tmp_path / "sub.c.test.yaml").write_text(SUB_ZONE)
    for zone in ("c.test", "sub.c.test"):
        keys.write(str(tmp_path / "keys"), keys.generate(zone, now=NOW))
    config = published(load([str(tmp_path)]))
    snapshot = Snapshot.first(config, health=HealthSnapshot(down_regions=frozenset({"one"})), now=NOW)
    responder = Responder(snapshot.compile(None))
    keyring = {dns.name.from_text(z): ask(responder, z, "DNSKEY").answer[0] for z in ("c.test.", "sub.c.test.")}

    down = ask(responder, "shop.c.test.", "A")
    assert not down.answer and validate(down, keyring, NOW)
    (nsec,) = [r for r in down.authority if r.rdtype == dns.rdatatype.NSEC]
    assert nsec[0].to_text().split()[1:] == ["AAAA", "RRSIG", "NSEC"]  # no CNAME, no A
    for rtype in ("NSEC", "RRSIG"):
        own = ask(responder, "ns1.c.test.", rtype)
        assert own.answer and not own.authority and {r.rdtype for r in own.answer} <= {
            dns.rdatatype.NSEC, dns.rdatatype.RRSIG}
    escaped = ask(responder, "a\\032b.w.c.test.", "TXT")
    assert escaped.answer and validate(escaped, keyring, NOW) == [k.tag for k in config.zones["c.test."].keys]
    missing = ask(responder, "x\\032y.c.test.", "A")
    assert validate(missing, keyring, NOW)
    ds = ask(responder, "sub.c.test.", "DS")
    (nsec,) = [r for r in ds.authority if r.rdtype == dns.rdatatype.NSEC]
    assert str(nsec.name) == "sub.c.test." and "SOA" not in nsec[0].to_text() and " NS " in nsec[0].to_text()
    assert {rd.signer.to_text() for r in ds.authority if r.rdtype == dns.rdatatype.RRSIG for rd in r} == {"c.test."}
    validate(ds, keyring, NOW)


def test_a_new_signature_period_length_starts_a_new_window(tmp_path: Path) -> None:
    """A reload that changes dnssec.signature_period signs with a window of the new length at once (the
    signatures of the old period would otherwise be reused with their old, nearer, expiration); a config
    without signed zones has no signing period."""
    config = config_with(tmp_path, keys.generate("s.test", now=NOW))
    first = Snapshot.first(config, now=NOW)
    assert first.epoch == period_start(NOW)
    (tmp_path / "s.test.yaml").write_text(ZONE.replace("dnssec: {key_dir: keys}",
                                                       "dnssec: {key_dir: keys, signature_period: 86400}"))
    moved = first.with_config(published(load([str(tmp_path / "s.test.yaml")])), None)
    assert moved.epoch == period_start(time.time(), 86400)
    assert moved.with_config(published(load([str(tmp_path / "s.test.yaml")])), None).epoch == moved.epoch
    (tmp_path / "s.test.yaml").write_text(ZONE.replace("signed: true\n", ""))
    assert first.with_config(load([str(tmp_path / "s.test.yaml")]), None).epoch == 0
