"""DNS wire format: a strict full query parser and the answer encoder (RFC 1035 section 4, RFC 6891, RFC 7871).

The hot path in :mod:`gtm.dns.server` reads only header, question and OPT itself; this module is what it falls
back to for everything unusual, and what builds the precompiled answers. Parsing is defensive: every length
is checked, compression pointers must point backwards (so loops are impossible), and any violation raises
:class:`FormErr` carrying what is needed to answer FORMERR, or :class:`Drop` when no answer may be sent.
``dnslib`` is used only to render messages as text for logs and debugging (:func:`describe`).
"""
from __future__ import annotations

import ipaddress
import socket
import struct
from dataclasses import dataclass

from gtm.model import CAA, COMPRESSIBLE, MX, OPT, SOA, SRV, TXT, A, AAAA, Rdata

# Header flags (RFC 1035 section 4.1.1)
QR, AA, TC, RD, RA = 0x8000, 0x0400, 0x0200, 0x0100, 0x0080
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5
BADVERS = 16                       # extended RCODE, RFC 6891 section 6.1.3
OPCODE_QUERY, OPCODE_UPDATE = 0, 5
CLASS_IN = 1
EDNS_DO = 0x8000
EDNS_CO = 0x4000                   # RFC 9824 section 5.1: Compact Answers OK
ECS_CODE = 8                       # RFC 7871
DEFAULT_UDP_PAYLOAD = 1232         # the DNS flag day 2020 figure; no IP fragmentation on common paths
MAX_NAME = 255


class Drop(Exception):
    """The packet must not be answered (a response, or too short to carry an ID)."""


class FormErr(Exception):
    """The query is malformed; answer FORMERR with ``id`` and ``flags`` (and the question when parsed)."""

    def __init__(self, reason: str, id_: int, flags: int, question: bytes = b"", edns: bool = False):
        super().__init__(reason)
        self.id, self.flags, self.question, self.edns = id_, flags, question, edns


@dataclass(frozen=True)
class Ecs:
    """EDNS Client Subnet option of a query (RFC 7871 section 6)."""

    family: int                     # 1 = IPv4, 2 = IPv6
    source: int                     # source prefix length
    address: bytes                  # the address octets as sent (ceil(source / 8) of them)

    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        width = 4 if self.family == 1 else 16
        raw = self.address + b"\0" * (width - len(self.address))
        addr = ipaddress.ip_address(raw)
        return ipaddress.ip_network(f"{addr}/{self.source}")

    def key(self) -> bytes:
        """The option body as a query carries it (SCOPE 0): the client's key in the answer tables."""
        return self.body(0)

    def body(self, scope: int) -> bytes:
        """FAMILY, SOURCE PREFIX-LENGTH, SCOPE PREFIX-LENGTH, ADDRESS (section 6)."""
        return struct.pack("!HBB", self.family, self.source, scope) + self.address

    @classmethod
    def of(cls, net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> "Ecs":
        """The option a client sends for ``net``: the prefix's octets, ceil(prefix / 8) of them."""
        return cls(1 if net.version == 4 else 2, net.prefixlen, net.network_address.packed[:(net.prefixlen + 7) // 8])

    def option(self, scope: int) -> bytes:
        """The option echoed in a response with ``scope`` as SCOPE PREFIX-LENGTH (section 7.2.1)."""
        body = self.body(scope)
        return struct.pack("!HH", ECS_CODE, len(body)) + body


def ecs_data(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bytes:
    """The ECS option data a client sends for ``net`` (SCOPE 0): also the answer tables' key for that client."""
    return Ecs.of(net).key()


@dataclass(frozen=True)
class Edns:
    payload: int                    # requestor's UDP payload size (values below 512 are treated as 512)
    version: int
    do: bool
    ecs: Ecs | None
    co: bool = False                # RFC 9824's Compact Answers OK (NXDOMAIN instead of a NOERROR denial)


@dataclass(frozen=True)
class Query:
    id: int
    flags: int
    qname: str                      # lower-case, absolute ("www.example.com.")
    qname_wire: bytes               # as sent (case kept), uncompressed
    qtype: int
    qclass: int
    question: bytes                 # the question section as sent: qname_wire + type + class
    edns: Edns | None

    @property
    def opcode(self) -> int:
        return (self.flags >> 11) & 0xF


def _read_name(data: bytes, pos: int) -> tuple[bytes, int]:
    """Uncompressed wire name at ``pos`` (following pointers backwards only) and the position after it."""
    labels: list[bytes] = []
    end = -1
    total = 1
    limit = len(data)
    while True:
        if pos >= limit:
            raise ValueError("name runs past the end")
        n = data[pos]
        if n == 0:
            pos += 1
            break
        if n & 0xC0 == 0xC0:
            if pos + 1 >= limit:
                raise ValueError("truncated pointer")
            target = ((n & 0x3F) << 8) | data[pos + 1]
            if target >= pos:  # forward or self pointers could loop; RFC 1035 pointers refer to prior data
                raise ValueError("compression pointer does not point backwards")
            if end < 0:
                end = pos + 2
            pos = target
            continue
        if n & 0xC0:
            raise ValueError("bad label type")
        label = data[pos + 1: pos + 1 + n]
        if len(label) != n:
            raise ValueError("label runs past the end")
        total += n + 1
        if total > MAX_NAME:
            raise ValueError("name longer than 255 octets")
        labels.append(label)
        pos += 1 + n
    wire = b"".join(bytes([len(x)]) + x for x in labels) + b"\0"
    return wire, (end if end >= 0 else pos)


_PLAIN = bytes(b for b in range(0x21, 0x7F) if b not in b'.\\"();')  # octets a label shows as they are


def wire_to_text(wire: bytes) -> str:
    """Lower-case presentation form of an uncompressed wire name (non-printable octets as \\DDD)."""
    out, pos = [], 0
    while wire[pos]:
        n = wire[pos]
        label = wire[pos + 1: pos + 1 + n].lower()
        if not label.translate(None, _PLAIN):  # the common label: nothing to escape
            out.append(label.decode("ascii"))
            pos += 1 + n
            continue
        out.append("".join(chr(b) if 0x21 <= b < 0x7F and b not in b'.\\"();' else f"\\{b:03d}"
                           if not (0x21 <= b < 0x7F) else "\\" + chr(b) for b in label))
        pos += 1 + n
    return ".".join(out) + "." if out else "."


def text_labels(name: str) -> list[str]:
    """The labels of an absolute presentation name, split at the dots that are not escaped (``a\\.b.c.`` has two)."""
    if name == ".":
        return []
    if "\\" not in name:
        return name[:-1].split(".") if name.endswith(".") else name.split(".")
    out, label, i, n = [], "", 0, len(name)
    while i < n:
        c = name[i]
        if c == "\\":
            label += name[i: i + 2]
            i += 2
            continue
        if c == ".":
            out.append(label)
            label = ""
        else:
            label += c
        i += 1
    if label:
        out.append(label)
    return out


def label_octets(label: str) -> bytes:
    """A presentation label's octets: ``\\DDD`` is the octet DDD, ``\\X`` the character X (RFC 1035 section 5.1)."""
    if "\\" not in label:
        return label.encode("ascii")
    out, i = bytearray(), 0
    while i < len(label):
        c = label[i]
        if c == "\\" and label[i + 1: i + 4].isdigit() and len(label[i + 1: i + 4]) == 3:
            out.append(int(label[i + 1: i + 4]))
            i += 4
        elif c == "\\":
            out += label[i + 1: i + 2].encode("ascii")
            i += 2
        else:
            out += c.encode("ascii")
            i += 1
    return bytes(out)


def name_to_wire(name: str) -> bytes:
    """Wire form of an absolute presentation name (``example.com.``; escapes as RFC 1035 section 5.1 has them)."""
    if name == ".":
        return b"\0"
    if "\\" not in name:
        return b"".join(bytes([len(p)]) + p.encode("ascii") for p in name.rstrip(".").split(".")) + b"\0"
    return b"".join(bytes([len(p)]) + p for p in map(label_octets, text_labels(name))) + b"\0"


def _skip_rr(data: bytes, pos: int) -> tuple[int, int, int, int, bytes]:
    """Parse one RR at ``pos``: (position after it, type, class, TTL, RDATA)."""
    pos = _read_name(data, pos)[1]
    if pos + 10 > len(data):
        raise ValueError("RR header runs past the end")
    rtype, rclass, ttl, rdlen = struct.unpack_from("!HHIH", data, pos)
    pos += 10
    if pos + rdlen > len(data):
        raise ValueError("RDATA runs past the end")
    return pos + rdlen, rtype, rclass, ttl, data[pos: pos + rdlen]


def parse_query(data: bytes) -> Query:
    """Parse and validate a query message; raises Drop or FormErr. Answer/authority RRs are checked and skipped."""
    if len(data) < 12:
        raise Drop("shorter than a header")
    id_, flags, qd, an, ns, ar = struct.unpack_from("!HHHHHH", data, 0)
    if flags & QR:
        raise Drop("a response")
    if qd != 1:
        raise FormErr(f"QDCOUNT is {qd}, not 1", id_, flags)
    try:
        qname_wire, pos = _read_name(data, 12)
    except ValueError as e:
        raise FormErr(f"question name: {e}", id_, flags) from None
    if pos + 4 > len(data):
        raise FormErr("question runs past the end", id_, flags)
    qtype, qclass = struct.unpack_from("!HH", data, pos)
    question = qname_wire + data[pos: pos + 4]
    pos += 4
    edns: Edns | None = None
    try:
        for _ in range(an + ns):
            pos = _skip_rr(data, pos)[0]
        for _ in range(ar):
            start = pos
            pos, rtype, rclass, ttl, rdata = _skip_rr(data, pos)
            if rtype != OPT:
                continue
            if edns is not None:
                raise ValueError("more than one OPT record")  # RFC 6891 section 6.1.1
            if data[start] != 0:
                raise ValueError("OPT owner is not the root")
            version = (ttl >> 16) & 0xFF
            edns = Edns(max(rclass, 512), version, bool(ttl & EDNS_DO), None, bool(ttl & EDNS_CO))
            edns = Edns(edns.payload, version, edns.do, _parse_options(rdata) if version == 0 else None, edns.co)
    except ValueError as e:
        raise FormErr(str(e), id_, flags, question, edns is not None) from None
    if pos != len(data):
        raise FormErr("trailing bytes after the last record", id_, flags, question, edns is not None)
    return Query(id_, flags, wire_to_text(qname_wire), qname_wire, qtype, qclass, question, edns)


def _parse_options(rdata: bytes) -> Ecs | None:
    """EDNS options; only ECS is understood, others are ignored (RFC 6891 section 6.1.2)."""
    ecs = None
    pos = 0
    while pos < len(rdata):
        if pos + 4 > len(rdata):
            raise ValueError("truncated EDNS option")
        code, length = struct.unpack_from("!HH", rdata, pos)
        body = rdata[pos + 4: pos + 4 + length]
        if len(body) != length:
            raise ValueError("EDNS option runs past the end")
        if code == ECS_CODE:
            ecs = parse_ecs(body)
        pos += 4 + length
    return ecs


def parse_ecs(body: bytes) -> Ecs:
    """Validate an ECS option body (RFC 7871 section 6); raises ValueError on any violation."""
    if len(body) < 4:
        raise ValueError("ECS option too short")
    family, source, scope = struct.unpack_from("!HBB", body, 0)
    addr = body[4:]
    width = {1: 32, 2: 128}.get(family)
    if width is None:
        raise ValueError(f"ECS family {family} is not supported")
    if source > width or scope != 0:
        raise ValueError("ECS prefix out of range or SCOPE not zero in a query")
    if len(addr) != (source + 7) // 8:
        raise ValueError("ECS address length does not match SOURCE PREFIX-LENGTH")
    if source % 8 and addr and addr[-1] & (0xFF >> (source % 8)):
        raise ValueError("ECS address has bits set beyond SOURCE PREFIX-LENGTH")
    return Ecs(family, source, bytes(addr))


# -- encoding ---------------------------------------------------------------------------------------------
class Writer:
    """Builds message sections with name compression (RFC 1035 section 4.1.4).

    ``base`` is the offset at which the written bytes will sit in the final message; the question name is
    registered at offset 12 so that owners equal to the question become a 2-byte pointer and so carry the
    question's own spelling (0x20 case randomisation survives).
    """

    def __init__(self, qname_wire: bytes | None, base: int):
        self.buf = bytearray()
        self.base = base
        self.offsets: dict[str, int] = {}
        pos = 0
        while qname_wire and qname_wire[pos]:  # register every suffix of the question name
            self.offsets.setdefault(wire_to_text(qname_wire[pos:]), 12 + pos)
            pos += 1 + qname_wire[pos]

    def _register(self, name: str, offset: int) -> None:
        labels = text_labels(name)
        for i in range(len(labels)):
            suffix = ".".join(labels[i:]) + "."
            if offset > 0x3FFF:
                return
            self.offsets.setdefault(suffix, offset)
            offset += 1 + len(label_octets(labels[i]))

    def name(self, name: str, compress: bool = True) -> None:
        if name == ".":
            self.buf.append(0)
            return
        labels = text_labels(name)
        start = self.base + len(self.buf)
        for i in range(len(labels)):
            suffix = ".".join(labels[i:]) + "."
            if compress and suffix in self.offsets:
                self.buf += struct.pack("!H", 0xC000 | self.offsets[suffix])
                break
            raw = label_octets(labels[i])
            self.buf.append(len(raw))
            self.buf += raw
        else:
            self.buf.append(0)
        if compress:
            self._register(name, start)

    def rr(self, owner: str, rtype: int, ttl: int, rdata: Rdata) -> None:
        self.name(owner)
        self.buf += struct.pack("!HHI", rtype, CLASS_IN, ttl)
        at = len(self.buf)
        self.buf += b"\0\0"
        self._rdata(rdata)
        struct.pack_into("!H", self.buf, at, len(self.buf) - at - 2)

    def _rdata(self, rd: Rdata) -> None:
        f, t = rd.fields, rd.rtype
        if t == A:  # (the model holds valid addresses; inet_pton is 40 times faster than ipaddress)
            self.buf += socket.inet_pton(socket.AF_INET, f[0])
        elif t == AAAA:
            self.buf += socket.inet_pton(socket.AF_INET6, f[0])
        elif t in COMPRESSIBLE and t not in (MX, SOA):  # NS, CNAME, PTR
            self.name(f[0])
        elif t == MX:
            self.buf += struct.pack("!H", f[0])
            self.name(f[1])
        elif t == SOA:
            self.name(f[0])
            self.name(f[1])
            self.buf += struct.pack("!IIIII", *f[2:7])
        elif t == SRV:  # RFC 2782: the target is not compressed
            self.buf += struct.pack("!HHH", f[0], f[1], f[2])
            self.name(f[3], compress=False)
        elif t == TXT:
            for s in f[0]:
                self.buf.append(len(s))
                self.buf += s
        elif t == CAA:
            tag = f[1].encode("ascii")
            self.buf += bytes([f[0], len(tag)]) + tag + f[2]
        else:
            self.buf += f[0]


def opt_rr(payload: int = DEFAULT_UDP_PAYLOAD, ext_rcode: int = 0, do: bool = False, options: bytes = b"",
           co: bool = False) -> bytes:
    """An OPT pseudo-RR for a response (RFC 6891 section 6.1.2); version 0."""
    flags = (EDNS_DO if do else 0) | (EDNS_CO if co else 0)
    return b"\0" + struct.pack("!HHBBHH", OPT, payload, ext_rcode, 0, flags, len(options)) + options


def describe(message: bytes) -> str:
    """A dig-like rendering of a whole message, for logs and ``--debug`` output."""
    import dnslib  # the one place dnslib is used: text rendering off the query path

    try:
        return str(dnslib.DNSRecord.parse(message))
    except Exception as e:  # dnslib raises assorted errors on odd input; this is a debugging aid only
        return f"<{len(message)} bytes, not parseable: {e}>"
