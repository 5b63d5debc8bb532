"""The signing period, and compact denial's NSEC (the signing of answers is gtm.dns.signing's).

* :func:`window`: validity windows aligned to whole periods (a week by default, as PowerDNS does), so that every
  node of a fleet, and every reload, makes signatures with the same inception and expiration: an RRSIG made
  twice is the same RRSIG (ECDSA's randomness aside), and a cache keyed on (RRset, key, window) stays right.
* :func:`compact_nsec`: RFC 9824's one NSEC for a negative answer: at the asked name, the next name its
  immediate successor (``\\000.<name>``), the type bitmap the types that exist there (NODATA) or NXNAME
  (NXDOMAIN), with RRSIG and NSEC.
"""
from __future__ import annotations

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.NSEC

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


def compact_nsec(name: str, types: set[int] | None, ttl: int, cut: bool = False) -> RRset:
    """RFC 9824's NSEC at ``name``: ``types`` present there (NODATA), or None for a name that does not exist
    (its bitmap is NXNAME); RRSIG and NSEC are always in it. The next name is ``\\000.<name>``, or at a
    delegation (``cut``) the name with a zero octet appended to its first label, which stays out of the child
    zone (RFC 9824 section 3.4)."""
    bitmap = ({NXNAME} if types is None else set(types)) | {RRSIG, NSEC}
    rd = dns.rdtypes.ANY.NSEC.NSEC(dns.rdataclass.IN, dns.rdatatype.NSEC, successor(dns.name.from_text(name), cut),
                                   dns.rdtypes.ANY.NSEC.Bitmap.from_rdtypes([dns.rdatatype.RdataType(t) for t in bitmap]))
    return RRset(name, NSEC, ttl, (Rdata(NSEC, (rd.to_wire(),)),))


def successor(name: "dns.name.Name", cut: bool = False) -> "dns.name.Name":
    """The name right after ``name`` in canonical order that is no name of ours: ``\\000.<name>``, or at a cut
    ``<first label>\\000.<rest>`` (outside the child zone). A name with no room for the octets (255 in all, 63 a
    label) has no children either: its first label's last octet is incremented instead, dropping trailing 0xff
    octets (RFC 4471 section 3.1.2), so no name can sort between the two."""
    labels = list(name.labels)
    size = sum(len(label) + 1 for label in labels)  # (its wire length)
    if not cut and size + 2 <= 255:
        return dns.name.Name([b"\0"] + labels)
    first = labels[0]
    if cut and len(first) < 63 and size < 255:
        return dns.name.Name([first + b"\0"] + labels[1:])
    head = first.rstrip(b"\xff")
    if not head:  # a label of 0xff octets only: the parent's successor covers it
        return successor(dns.name.Name(labels[1:]), cut)
    return dns.name.Name([head[:-1] + bytes([head[-1] + 1])] + labels[1:])


def nsec_text(rrset: RRset) -> list[str]:
    """An NSEC RRset in presentation form (``www.example.com. 300 IN NSEC \\000.www.example.com. A RRSIG NSEC``)."""
    return [f"{rrset.name} {rrset.ttl} IN NSEC " + dns.rdata.from_wire(
        dns.rdataclass.IN, dns.rdatatype.NSEC, rd.fields[0], 0, len(rd.fields[0])).to_text() for rd in rrset.rdatas]


__all__ = ["nsec_text", "period_start", "window", "compact_nsec", "RRSIG", "NSEC", "NXNAME"]
