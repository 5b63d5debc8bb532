"""Online DNSSEC signing of compiled answers: the DO=1 form of an answer, made when the answer is compiled.

A signed zone's :class:`ZoneSigner` signs RRsets with the zone's active keys over one aligned validity window
(``gtm.dnssec.sign.window``: every node and every reload in the same week make signatures with the same
inception and expiration). Signatures are kept in a process-wide cache keyed by what they cover (owner, type,
TTL, RDATA), the keys and the window, so an RRset that many answers share (the SOA of every negative answer,
one region's addresses for a million clients) is signed once per window.

:func:`signed_resolution` turns a :class:`~gtm.dns.authority.Resolution` into its signed form (RFC 4035 section
3.1):

* every authoritative RRset is followed by its RRSIG (answer, authority and additional sections); glue and the
  NS RRset of a referral are not signed, but a referral carries the cut's DS and its RRSIG, or a signed NSEC at
  the cut proving there is no DS (an insecure delegation, RFC 4035 section 3.1.4);
* a wildcard-synthesised RRset is signed at the name asked, like every other name an online signer answers
  (RFC 9824 section 3.5): a validator sees an ordinary answer and needs no proof that the name does not exist;
* negative answers use RFC 9824's compact denial: one NSEC at the name that was denied, its next name the
  name's immediate successor, its bitmap the types present (NODATA) or NXNAME (a name that does not exist,
  answered NOERROR unless the query set the CO flag, see :data:`CO`).

The signing itself is RFC 4034 section 3.1.8.1 on RFC 4034 section 6.2's canonical form, written here on the
model's RRsets (about 4 times faster than building dnspython objects for each); the tests check it against
dnspython's validator and against BIND's ``delv`` and Unbound.
"""
from __future__ import annotations

import struct
import time
from dataclasses import dataclass
from typing import Any, Mapping

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from gtm.dns.authority import NXDOMAIN, RR, Authority, Resolution, ZoneIndex, parent
from gtm.dns.codec import Writer, name_to_wire, text_labels
from gtm.dnssec.keys import Key
from gtm.dnssec.sign import NSEC, RRSIG, WEEK, compact_nsec, window
from gtm.model import CNAME, DS, NS, SOA, Rdata, RRset

DNSKEY, CDS, CDNSKEY = 48, 59, 60
KEY_TYPES = frozenset({DNSKEY, CDS, CDNSKEY})  # signed by the key-signing keys
CO = 0x4000  # RFC 9824's Compact Answers OK flag, in the EDNS header flags (beside DO, 0x8000)
SIGNATURE_CACHE_LIMIT = 200_000


@dataclass
class SigningStats:
    """What this process has signed (``gtm_dnssec_signatures_total`` and ``_signing_seconds_total``)."""

    signatures: int = 0
    seconds: float = 0.0
    cache_hits: int = 0


STATS = SigningStats()
_CACHE: dict[tuple[Any, ...], RRset] = {}


class _Canonical(Writer):
    """RFC 4034 section 6.2: names in lower case and never compressed."""

    def name(self, name: str, compress: bool = True) -> None:
        self.buf += name_to_wire(name).lower()  # (length octets are below 64: lower() leaves them)


def canonical_rdata(rd: Rdata) -> bytes:
    w = _Canonical(None, 0)
    w._rdata(rd)
    return bytes(w.buf)


def labels(owner: str) -> int:
    """The RRSIG labels field: the owner's labels, the root and a leading ``*`` not counted (RFC 4034 3.1.3)."""
    parts = text_labels(owner)
    return len(parts) - (1 if parts and parts[0] == "*" else 0)


class _Signing:
    """One key ready to sign: its tag, algorithm and loaded private key."""

    __slots__ = ("tag", "algorithm", "private", "public")

    def __init__(self, key: Key):
        self.tag, self.algorithm, self.private = key.tag, key.algorithm, key.private_key()
        self.public = key.dnskey  # (what tells two keys apart: tags may collide)

    def sign(self, data: bytes) -> bytes:
        if self.algorithm == 13:  # ECDSA P-256 with SHA-256: r and s, 32 octets each (RFC 6605 section 4)
            r, s = decode_dss_signature(self.private.sign(data, ec.ECDSA(hashes.SHA256())))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return self.private.sign(data)  # Ed25519 (RFC 8080)


class ZoneSigner:
    """Signs one zone's RRsets with its active keys over the window holding ``now``."""

    def __init__(self, origin: str, keys: tuple[Key, ...], now: float | None = None, period: int = WEEK):
        self.origin = origin
        self.signer_wire = name_to_wire(origin)
        at = time.time() if now is None else now
        self.inception, self.expiration = window(at, period)
        self.period = period
        active = [k for k in keys if k.state == "active"]
        data = [k for k in active if k.role in ("csk", "zsk")] or active
        self.data_keys = tuple(_Signing(k) for k in data)
        self.key_keys = tuple(_Signing(k) for k in active if k.signs_keys) or self.data_keys

    def rrsig(self, owner: str, rrset: RRset) -> RRset:
        """The RRSIG RRset over ``rrset`` as answered under ``owner`` (one RRSIG per signing key)."""
        keys = self.key_keys if rrset.rtype in KEY_TYPES else self.data_keys
        owner = owner.lower()
        cache_key = (owner, rrset.rtype, rrset.ttl, rrset.rdatas, self.inception, self.expiration, self.origin,
                     tuple(k.public for k in keys))
        got = _CACHE.get(cache_key)
        if got is not None:
            STATS.cache_hits += 1
            return got
        started = time.perf_counter()
        owner_wire = name_to_wire(owner).lower()
        rdatas = sorted({canonical_rdata(rd) for rd in rrset.rdatas})
        head = owner_wire + struct.pack("!HHI", rrset.rtype, 1, rrset.ttl)
        covered = b"".join(head + struct.pack("!H", len(rd)) + rd for rd in rdatas)
        sigs = []
        for k in keys:
            fields = struct.pack("!HBBIIIH", rrset.rtype, k.algorithm, labels(owner), rrset.ttl, self.expiration,
                                 self.inception, k.tag) + self.signer_wire
            sigs.append(Rdata(RRSIG, (fields + k.sign(fields + covered),)))
        out = RRset(owner, RRSIG, rrset.ttl, tuple(sigs))
        STATS.signatures += len(sigs)
        STATS.seconds += time.perf_counter() - started
        if len(_CACHE) >= SIGNATURE_CACHE_LIMIT:
            _CACHE.clear()
        _CACHE[cache_key] = out
        return out


def signers(zones: Mapping[str, Any], now: float | None = None, period: int = WEEK) -> dict[str, ZoneSigner]:
    """A :class:`ZoneSigner` for each signed zone of a config (its keys are on the zone: gtm.dnssec.zone)."""
    return {origin: ZoneSigner(origin, z.keys, now, period) for origin, z in zones.items() if z.signed and z.keys}


def types_at(z: ZoneIndex, name: str) -> set[int]:
    """The types a name has, as its NSEC bitmap lists them: a name a wildcard answers for has the wildcard's."""
    types = z.types_at(name)
    if not types and name not in z.exists:
        encloser = parent(name)
        while encloser not in z.exists and encloser != ".":
            encloser = parent(encloser)
        types = z.types_at("*." + encloser if encloser != "." else "*.")
    return set(types)


def signed_resolution(res: Resolution, qname: str, qtype: int, authority: Authority,
                      zone_signers: Mapping[str, ZoneSigner]) -> tuple[Resolution, bool] | None:
    """The DO=1 form of ``res`` (the answer to ``qname``/``qtype``), and whether it is a compact NXDOMAIN
    (answered NOERROR; NXDOMAIN to a query with the CO flag); None when no signed zone answered it."""
    if res.zone is None or res.zone not in zone_signers:
        return None
    out = Resolution(res.rcode, res.aa, [], [], [], res.zone, res.service)

    def signed(section: list[RR], rr: RR, origin: str | None = None) -> None:
        section.append(rr)
        if origin is None:
            z = authority.find_zone(rr.owner)
            origin = z.origin if z is not None else None
        s = zone_signers.get(origin or "")
        if s is not None:
            section.append(RR(rr.owner, s.rrsig(rr.owner, rr.rrset)))

    for rr in res.answer:
        signed(out.answer, rr)
    zone = authority.zones[res.zone]
    if not res.aa:  # a referral: the NS RRset and the glue are the child's, unsigned; the DS is ours
        for rr in res.authority:
            out.authority.append(rr)
            if rr.rrset.rtype == NS:
                ds = zone.zone.rrsets.get(rr.owner, {}).get(DS)
                if ds is not None:
                    signed(out.authority, RR(rr.owner, ds), res.zone)
                else:  # no DS: the NSEC at the cut says so (the NS bit set, no SOA, no DS)
                    signed(out.authority, RR(rr.owner, compact_nsec(rr.owner, types_at(zone, rr.owner),
                                                                    zone.negative_soa.rrset.ttl, cut=True)),
                                   res.zone)
        out.additional = list(res.additional)
        return out, False
    # the name a negative answer denies: the question's, or the last CNAME's target
    denied = qname
    for rr in res.answer:
        if rr.rrset.rtype == CNAME and qtype != CNAME:
            denied = rr.rrset.rdatas[0].target or denied
    nx = False
    for rr in res.authority:
        signed(out.authority, rr)
        z = authority.zones.get(rr.owner)
        if rr.rrset.rtype == SOA and z is not None and rr is z.negative_soa:
            if z.origin not in zone_signers:
                continue
            nx = res.rcode == NXDOMAIN
            types = None if nx else types_at(z, denied) - {qtype}
            if types is not None and denied in z.managed:  # a steered name's NODATA: no CNAME was answered
                types.discard(CNAME)
            nsec = RR(denied, compact_nsec(denied, types, rr.rrset.ttl, cut=denied in z.cuts))
            if not nx and qtype in (NSEC, RRSIG) and not res.answer:
                # A question for the NSEC or the RRSIGs at a name that exists: they are the answer (the NSEC
                # bitmap lists both types, so a NODATA would contradict itself).
                del out.authority[-2:]  # (the SOA and its RRSIG)
                _own_records(out, z, zone_signers[z.origin], denied, nsec, qtype)
                continue
            signed(out.authority, nsec, z.origin)
    for rr in res.additional:
        home = authority.find_zone(rr.owner)
        if home is not None and authority._cut(home, rr.owner) is None:
            signed(out.additional, rr, home.origin)
        else:
            out.additional.append(rr)  # glue below a cut (the NS targets of an apex NS answer): not ours to sign
    if nx:
        out.rcode = 0
    return out, nx


def _own_records(out: Resolution, z: ZoneIndex, signer: ZoneSigner, name: str, nsec: RR, qtype: int) -> None:
    """The answer to a question of type NSEC (the name's NSEC and its RRSIG) or RRSIG (the RRSIGs over the
    name's RRsets, its NSEC's included; a steered name's answers are per client and not listed)."""
    if qtype == NSEC:
        out.answer += [nsec, RR(name, signer.rrsig(name, nsec.rrset))]
        return
    for rtype, rrset in sorted(z.zone.rrsets.get(name, {}).items()) + sorted(z.apex_keys.items() if name == z.origin
                                                                              else []):
        if rrset.rdatas:
            out.answer.append(RR(name, signer.rrsig(name, rrset)))
    out.answer.append(RR(name, signer.rrsig(name, nsec.rrset)))


__all__ = ["CO", "STATS", "ZoneSigner", "canonical_rdata", "labels", "signed_resolution", "signers", "types_at"]
