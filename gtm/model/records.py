"""DNS data as immutable values: names, RDATA, RRsets.

Names are absolute, lower-case presentation strings with the trailing dot (``www.example.com.``, root ``.``);
DNS compares names case-insensitively (RFC 4343) and gtm answers with the question's own spelling for the
owner, so nothing is lost by folding case at load time.

RDATA is kept as typed fields (``Rdata.fields``), one layout per type, listed in :data:`FIELDS`. The wire
encoder lives in ``gtm.dns.codec``; nothing here does IO.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# RR type numbers (RFC 1035, 3596, 2782, 8659, 6891, 8482)
A, NS, CNAME, SOA, PTR, MX, TXT, AAAA, SRV, OPT, DS, ANY, CAA = 1, 2, 5, 6, 12, 15, 16, 28, 33, 41, 43, 255, 257
HINFO = 13

TYPE_NAMES: dict[int, str] = {
    A: "A", NS: "NS", CNAME: "CNAME", SOA: "SOA", PTR: "PTR", MX: "MX", TXT: "TXT", AAAA: "AAAA",
    SRV: "SRV", OPT: "OPT", DS: "DS", ANY: "ANY", CAA: "CAA", HINFO: "HINFO",
    252: "AXFR", 251: "IXFR", 250: "TSIG", 46: "RRSIG", 47: "NSEC", 48: "DNSKEY",
}
TYPE_NUMBERS: dict[str, int] = {v: k for k, v in TYPE_NAMES.items()}

# Field layout of each supported type; any other type is held as RFC 3597 opaque bytes: ("raw": bytes).
FIELDS: dict[int, tuple[str, ...]] = {
    A: ("address",),            # str, dotted quad
    AAAA: ("address",),         # str, compressed IPv6 form
    NS: ("target",),            # name
    CNAME: ("target",),         # name
    PTR: ("target",),           # name
    MX: ("preference", "target"),                       # int 0..65535, name
    SRV: ("priority", "weight", "port", "target"),      # ints 0..65535, name
    TXT: ("strings",),          # tuple[bytes, ...], each at most 255 bytes
    CAA: ("flags", "tag", "value"),                     # int 0..255, str, bytes
    SOA: ("mname", "rname", "serial", "refresh", "retry", "expire", "minimum"),
}
# Types whose RDATA names may be compressed on the wire (RFC 3597 section 4: only RFC 1035's well-known types).
COMPRESSIBLE = frozenset({NS, CNAME, PTR, MX, SOA})
# Types whose targets are names we may add A/AAAA for in the additional section (RFC 1035 section 3.3).
ADDITIONAL_TARGETS = frozenset({NS, MX, SRV})


def type_name(rtype: int) -> str:
    """Mnemonic of a type number, RFC 3597 ``TYPEnnn`` for unknown ones."""
    return TYPE_NAMES.get(rtype, f"TYPE{rtype}")


@dataclass(frozen=True)
class Rdata:
    """One RDATA. ``fields`` follows :data:`FIELDS` for known types, else ``(raw_bytes,)``."""

    rtype: int
    fields: tuple[Any, ...]

    @property
    def target(self) -> str | None:
        """The domain name this RDATA points at (NS/CNAME/PTR/MX/SRV), else None."""
        if self.rtype in (NS, CNAME, PTR):
            return str(self.fields[0])
        if self.rtype == MX:
            return str(self.fields[1])
        if self.rtype == SRV:
            return str(self.fields[3])
        return None

    def wire_size(self) -> int:
        """Octets of this RDATA on the wire, uncompressed (an upper bound of what is sent)."""
        f, t = self.fields, self.rtype
        if t == A:
            return 4
        if t == AAAA:
            return 16
        if t in (NS, CNAME, PTR):
            return _name_size(f[0])
        if t == MX:
            return 2 + _name_size(f[1])
        if t == SRV:
            return 6 + _name_size(f[3])
        if t == SOA:
            return _name_size(f[0]) + _name_size(f[1]) + 20
        if t == TXT:
            return sum(1 + len(x) for x in f[0])
        if t == CAA:
            return 2 + len(f[1]) + len(f[2])
        return len(f[0])

    def to_text(self) -> str:
        """Presentation format (RFC 1035 section 5.1; RFC 3597 for unknown types)."""
        f = self.fields
        if self.rtype == TXT:
            return " ".join(quote_text(s) for s in f[0])
        if self.rtype == CAA:
            return f"{f[0]} {f[1]} {quote_text(f[2])}"
        if self.rtype in FIELDS:
            return " ".join(str(x) for x in f)
        raw: bytes = f[0]
        return f"\\# {len(raw)} {raw.hex()}" if raw else "\\# 0"


def quote_text(data: bytes) -> str:
    """A character-string in presentation format: quoted, with ``\\"``, ``\\\\`` and ``\\DDD`` escapes."""
    out = []
    for b in data:
        if b in (0x22, 0x5C):
            out.append("\\" + chr(b))
        elif 0x20 <= b < 0x7F:
            out.append(chr(b))
        else:
            out.append(f"\\{b:03d}")
    return '"' + "".join(out) + '"'


@dataclass(frozen=True)
class RRset:
    """All records of one owner name and type. TTL is one per RRset (RFC 2181 section 5.2)."""

    name: str
    rtype: int
    ttl: int
    rdatas: tuple[Rdata, ...]

    def to_text(self) -> list[str]:
        return [f"{self.name} {self.ttl} IN {type_name(self.rtype)} {r.to_text()}" for r in self.rdatas]


def _name_size(name: str) -> int:
    return 1 if name == "." else len(name.rstrip(".")) + 2


def is_subdomain(name: str, origin: str) -> bool:
    """True when ``name`` equals ``origin`` or lies below it (both absolute, lower-case)."""
    return origin == "." or name == origin or name.endswith("." + origin)


def parent(name: str) -> str:
    """The name one label up (``a.b.`` -> ``b.``); the root is its own parent."""
    if name == ".":
        return "."
    _, _, rest = name.partition(".")
    return rest or "."


def label_parent(name: str) -> str:
    """The name one label up, where a label may hold an escaped dot (``a\\.b.example.`` -> ``example.``).

    Question names come from the wire, where a label may contain any octet; ``codec.wire_to_text`` escapes a
    dot inside a label as ``\\.``, and splitting there would turn one label into two (and so match the wrong
    wildcard, or the wrong zone).
    """
    if "\\" not in name:
        return parent(name)
    i, n = 0, len(name)
    while i < n:
        c = name[i]
        if c == "\\":
            i += 2  # "\\." or "\\\\"; a "\\DDD" escape has no dot in its digits
            continue
        if c == ".":
            return name[i + 1:] or "."
        i += 1
    return "."
