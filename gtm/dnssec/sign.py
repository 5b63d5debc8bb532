"""Signatures and compact denial on gtm's own RRsets (groundwork for signing compiled answers; not yet on the
query path: see docs/dnssec.md).

* :func:`window`: validity windows aligned to whole periods (a week by default, as PowerDNS does), so that every
  node of a fleet, and every reload, makes signatures with the same inception and expiration: an RRSIG made
  twice is the same RRSIG (ECDSA's randomness aside), and a cache keyed on (RRset, key, window) stays right.
* :func:`rrsig`: one RRSIG over an RRset (RFC 4034 section 3) with a zone key. A wildcard-synthesised answer is
  signed over its wildcard owner (``*.example.com``), which gives the RRSIG the labels count that lets a
  validator see the expansion (RFC 4035 section 5.3.4); the answer then carries it under the asked name.
* :func:`compact_nsec`: RFC 9824's one NSEC for a negative answer: at the asked name, the next name its
  immediate successor (``\\000.<name>``), the type bitmap the types that exist there (NODATA) or NXNAME
  (NXDOMAIN), with RRSIG and NSEC.
"""
from __future__ import annotations

from typing import Any

import dns.dnssec
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from gtm.dnssec.keys import Key
from gtm.model import Rdata, RRset

RRSIG, NSEC, NXNAME = 46, 47, 128   # NXNAME: RFC 9824's meta type in the bitmap of a denial of a name
WEEK = 7 * 86400
SKEW = 3600  # inception an hour before the window starts: a validator whose clock lags still accepts it


def period_start(now: float, period: int = WEEK) -> int:
    """The start of the signing period holding ``now`` (weeks from the Unix epoch, Thursdays 00:00 UTC)."""
    return int(now) - int(now) % period


def window(now: float, period: int = WEEK) -> tuple[int, int]:
    """(inception, expiration) of the window holding ``now``: from an hour before the period's start to two
    periods after it, so a signature is good for at least one whole period whenever it is made."""
    start = period_start(now, period)
    return start - SKEW, start + 2 * period


def _dns_rrset(rrset: RRset, owner: str | None = None) -> Any:
    name = dns.name.from_text(owner or rrset.name)
    return dns.rrset.from_text_list(name, rrset.ttl, dns.rdataclass.IN, dns.rdatatype.RdataType(rrset.rtype),
                                    [rd.to_text() for rd in rrset.rdatas])


def rrsig(rrset: RRset, key: Key, inception: int, expiration: int, owner: str | None = None) -> Rdata:
    """The RRSIG over ``rrset`` (under ``owner``: its wildcard owner for a synthesised answer) by ``key``, as an
    RDATA gtm's model holds (RFC 3597 bytes)."""
    sig = dns.dnssec.sign(_dns_rrset(rrset, owner), key.private_key(), dns.name.from_text(key.zone), key.rdata,
                          inception=inception, expiration=expiration)
    return Rdata(RRSIG, (sig.to_wire(),))


def compact_nsec(name: str, types: set[int] | None, ttl: int, cut: bool = False) -> RRset:
    """RFC 9824's NSEC at ``name``: ``types`` present there (NODATA), or None for a name that does not exist
    (its bitmap is NXNAME); RRSIG and NSEC are always in it. The next name is ``\\000.<name>``, or at a
    delegation (``cut``) the name with a zero octet appended to its first label, which stays out of the child
    zone (RFC 9824 section 3.4)."""
    bitmap = ({NXNAME} if types is None else set(types)) | {RRSIG, NSEC}
    first, _, rest = name.partition(".")
    nxt = f"{first}\\000.{rest}" if cut else "\\000." + name
    text = f"{nxt} " + " ".join(dns.rdatatype.to_text(dns.rdatatype.RdataType(t)) for t in sorted(bitmap))
    rd = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.NSEC, text)
    return RRset(name, NSEC, ttl, (Rdata(NSEC, (rd.to_wire(),)),))


__all__ = ["period_start", "window", "rrsig", "compact_nsec", "RRSIG", "NSEC", "NXNAME"]
