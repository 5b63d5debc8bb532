"""Presentation format of names, types, TTLs and RDATA (RFC 1035 section 5.1, RFC 3597 section 5).

Pure functions over text, stdlib only. Every failure is an :class:`RdataError` whose message is one short
sentence ending in ``(got '...')`` where it helps, ready to be wrapped in a :class:`gtm.errors.Problem`.
Results follow :data:`gtm.model.records.FIELDS`: names are absolute and lower-case, addresses are canonical
strings, character-strings are bytes.
"""
from __future__ import annotations

import ipaddress
import re
import string
from typing import NamedTuple

from gtm.model.records import (
    AAAA, CAA, CNAME, FIELDS, MX, NS, OPT, PTR, SOA, SRV, TXT, TYPE_NUMBERS, A, Rdata, type_name,
)

MAX_TTL = 2**31 - 1  # RFC 2181 section 8
MAX_SERIAL = 2**32 - 1  # RFC 1982 serial number arithmetic on 32 bits
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}  # BIND-style TTL units
_DURATION = re.compile(r"(?:[0-9]+[smhdw])+", re.IGNORECASE)
_LABEL_CHARS = frozenset(string.ascii_letters + string.digits + "-_/+")
_LABEL_OK = re.compile(r"[A-Za-z0-9_/+-]+")
_CAA_TAG = re.compile(r"[A-Za-z0-9]{1,15}")  # RFC 8659 section 4.1
# Types that never live in a zone: reserved 0, OPT (RFC 6891) and the Q/meta range (RFC 6895 section 3.1).
_META = frozenset({0, OPT, *range(128, 256)})
_DELIMITERS = frozenset(' \t\r\n;()"')


class RdataError(ValueError):
    """Text that is not valid presentation format; the message is a short human sentence."""


_SPECIAL = re.compile(r'["\\;()]')
_BLANKS = re.compile(r"[ \t\r\n]+")  # exactly the tokenizer's separators
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}")


def _got(text: str) -> str:
    return f"(got '{text}')"


class Token(NamedTuple):
    """One whitespace-separated field. ``text`` is the source text (without the surrounding quotes, escapes
    not decoded); ``data`` is the same with escapes decoded and other characters UTF-8 encoded. (A named tuple:
    a zone of a million records makes millions of them.)"""

    text: str
    data: bytes
    quoted: bool = False

    @property
    def is_paren(self) -> bool:
        """True for a grouping ``(`` or ``)`` (RFC 1035 section 5.1), which is no field."""
        return not self.quoted and self.text in ("(", ")")

    @property
    def shown(self) -> str:
        """The token as written, quotes included."""
        return f'"{self.text}"' if self.quoted else self.text


def _escape(text: str, i: int) -> tuple[int, bytes]:
    """Decode the escape starting at ``text[i] == '\\'``: ``\\DDD`` (decimal byte) or ``\\X`` (X itself)."""
    if i + 1 >= len(text) or text[i + 1] in "\r\n":
        raise RdataError("backslash at end of line")
    if text[i + 1] in string.digits:
        digits = text[i + 1:i + 4]
        if len(digits) < 3 or not all(c in string.digits for c in digits):
            raise RdataError(f"bad escape, \\DDD needs three digits {_got(text[i:i + 4])}")
        if int(digits) > 255:
            raise RdataError(f"bad escape, \\DDD must be at most 255 {_got(text[i:i + 4])}")
        return i + 4, bytes((int(digits),))
    return i + 2, text[i + 1].encode()


def tokenize(text: str) -> list[Token]:
    """Split presentation text into tokens (RFC 1035 section 5.1).

    Whitespace separates tokens; ``;`` outside quotes starts a comment running to the end of the line;
    ``(`` and ``)`` are tokens of their own (see :attr:`Token.is_paren`); ``"..."`` is one quoted token in which
    ``;``, ``(``, ``)`` and whitespace are plain text. Escapes are decoded in ``data`` of every token.
    """
    if not _SPECIAL.search(text):  # the common line (no quotes, escapes, comments, parentheses): split it
        return [Token(t, t.encode()) for t in _BLANKS.split(text) if t]
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n":
            i += 1
        elif c == ";":
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif c in "()":
            tokens.append(Token(c, c.encode()))
            i += 1
        else:
            quoted = c == '"'
            start = i = i + 1 if quoted else i
            data = bytearray()
            while True:
                if i >= n:
                    if quoted:
                        raise RdataError(f"unterminated quoted string {_got(text[start - 1:].rstrip())}")
                    break
                c = text[i]
                if (c == '"') if quoted else (c in _DELIMITERS):
                    break
                if c == "\\":
                    i, byte = _escape(text, i)
                    data += byte
                else:
                    data += c.encode()
                    i += 1
            tokens.append(Token(text[start:i], bytes(data), quoted))
            i += quoted  # skip the closing quote
    return tokens


# -- names, types, TTLs ---------------------------------------------------------------------------------------
def _make_name(labels: list[str], shown: str) -> str:
    """Validate labels (leftmost first, no root label) and join them into an absolute lower-case name."""
    if all(_LABEL_OK.fullmatch(label) and len(label) <= 63 for label in labels) \
            and sum(len(label) + 1 for label in labels) + 1 <= 255:
        return ".".join(labels).lower() + "."  # the common name: nothing to report
    for k, label in enumerate(labels):
        if not label:
            raise RdataError(f"empty label in name {_got(shown)}")
        if label == "*" and k == 0:
            continue  # wildcard (RFC 4592 section 2.1.1)
        bad = next((c for c in label if c not in _LABEL_CHARS), None)
        if bad == "*":
            raise RdataError(f"'*' is only allowed as the whole leftmost label {_got(shown)}")
        if bad is not None:
            raise RdataError(f"bad character {bad!r} in name {_got(shown)}")
        if len(label) > 63:
            raise RdataError(f"label longer than 63 octets in name {_got(shown)}")  # RFC 1035 section 2.3.4
    if sum(len(label) + 1 for label in labels) + 1 > 255:
        raise RdataError(f"name longer than 255 octets {_got(shown)}")
    return ".".join(labels).lower() + "."


def parse_name(text: str, origin: str | None) -> str:
    """A presentation name -> absolute lower-case name with the trailing dot.

    ``@`` is ``origin``; a name without a trailing dot is relative to ``origin`` (an absolute name, or None when
    there is none, which makes relative names an error). Labels are letters, digits, ``-``, ``_``, ``/``, ``+``,
    and ``*`` as a whole leftmost label; backslash escapes are not supported.
    """
    if "\\" in text:
        raise RdataError(f"escaped characters in names are not supported {_got(text)}")
    if text == ".":
        return "."
    if text == "@" or not text.endswith("."):
        if origin is None:
            raise RdataError(f"relative name with no origin {_got(text)}")
        if text == "@":
            return origin
        return _make_name(text.split(".") + (origin[:-1].split(".") if origin != "." else []), text)
    return _make_name(text[:-1].split("."), text)


def parse_type(text: str) -> int:
    """A type mnemonic (any case) or RFC 3597 ``TYPEnnn`` -> the type number."""
    up = text.upper()
    if up in TYPE_NUMBERS:
        return TYPE_NUMBERS[up]
    m = re.fullmatch(r"TYPE([0-9]{1,5})", up)
    if m and int(m[1]) <= 65535:
        return int(m[1])
    raise RdataError(f"unknown type '{text}'")


def _duration(text: str, what: str) -> int:
    """Seconds, plain or with BIND units (``1h30m``, ``2D``, ``1w``), within 0..2^31-1 (RFC 2181 section 8)."""
    if text.isascii() and text.isdigit():
        value = int(text)
    elif _DURATION.fullmatch(text):
        value = sum(int(num) * _UNITS[unit.lower()] for num, unit in re.findall(r"([0-9]+)([a-z])", text, re.IGNORECASE))
    else:
        raise RdataError(f"bad {what} {_got(text)}")
    if value > MAX_TTL:
        raise RdataError(f"{what} must be between 0 and {MAX_TTL} {_got(text)}")
    return value


def parse_ttl(text: str) -> int:
    """A TTL: seconds, or BIND-style units ``s m h d w`` (combinable, any case); at most 2^31-1."""
    return _duration(text, "TTL")


# -- RDATA ----------------------------------------------------------------------------------------------------
def _uint(tok: Token, hi: int, what: str) -> int:
    text = tok.shown
    if not (text.isascii() and text.isdigit()):
        raise RdataError(f"bad {what} {_got(text)}")
    if int(text) > hi:
        raise RdataError(f"{what} must be between 0 and {hi} {_got(text)}")
    return int(text)


def _address(tok: Token, cls: type[ipaddress.IPv4Address | ipaddress.IPv6Address]) -> str:
    if cls is ipaddress.IPv4Address and not tok.quoted and _IPV4.fullmatch(tok.text):  # a plain dotted quad
        return tok.text
    what = "IPv4 address" if cls is ipaddress.IPv4Address else "IPv6 address"
    try:
        addr = cls(tok.shown)
    except ValueError:
        raise RdataError(f"bad {what} {_got(tok.shown)}") from None
    if getattr(addr, "scope_id", None):
        raise RdataError(f"bad {what} {_got(tok.shown)}")  # "fe80::1%eth0" is no RDATA
    return str(addr)


def _caa_tag(tag: str) -> str:
    if not _CAA_TAG.fullmatch(tag):
        raise RdataError(f"bad CAA tag, 1 to 15 letters or digits {_got(tag)}")
    return tag


def _chunks(data: bytes) -> list[bytes]:
    """A character-string longer than 255 bytes is stored as consecutive 255-byte strings."""
    return [data[i:i + 255] for i in range(0, len(data), 255)] or [b""]


def parse_rdata(rtype: int, tokens: list[Token], origin: str | None) -> Rdata:
    """The RDATA fields of one record (grouping parentheses already removed) -> :class:`Rdata`.

    Known types take the layouts of :data:`FIELDS`; any type also takes the RFC 3597 generic form
    ``\\# <length> <hex>``, which is the only form for the others (stored as ``(raw_bytes,)``).
    Names in RDATA may be relative to ``origin``.
    """
    name = type_name(rtype)
    if rtype in _META:
        raise RdataError(f"type {name} cannot appear in a zone")
    if tokens and tokens[0].text == "\\#" and not tokens[0].quoted:
        raw = _generic(tokens[1:])
        return _from_wire(rtype, raw) if rtype in FIELDS else Rdata(rtype, (raw,))
    if rtype not in FIELDS:
        raise RdataError(f"type {name} needs the generic form \\# <length> <hex>")
    if rtype == TXT:  # RFC 1035 section 3.3.14: one or more character-strings
        if not tokens:
            raise RdataError("TXT needs at least one string")
        return Rdata(TXT, (tuple(chunk for tok in tokens for chunk in _chunks(tok.data)),))
    layout = FIELDS[rtype]
    if len(tokens) != len(layout):
        raise RdataError(f"{name} needs {len(layout)} fields: {' '.join(layout)} (got {len(tokens)})")
    t = tokens
    if rtype == A:
        return Rdata(A, (_address(t[0], ipaddress.IPv4Address),))
    if rtype == AAAA:
        return Rdata(AAAA, (_address(t[0], ipaddress.IPv6Address),))
    if rtype in (NS, CNAME, PTR):
        return Rdata(rtype, (parse_name(t[0].shown, origin),))
    if rtype == MX:
        return Rdata(MX, (_uint(t[0], 65535, "MX preference"), parse_name(t[1].shown, origin)))
    if rtype == SRV:  # RFC 2782
        nums = tuple(_uint(tok, 65535, f"SRV {what}") for tok, what in zip(t, ("priority", "weight", "port")))
        return Rdata(SRV, (*nums, parse_name(t[3].shown, origin)))
    if rtype == CAA:  # RFC 8659 section 4.1.1
        return Rdata(CAA, (_uint(t[0], 255, "CAA flags"), _caa_tag(t[1].shown), t[2].data))
    assert rtype == SOA
    times = tuple(_duration(tok.shown, f"SOA {what}") for tok, what in zip(t[3:], layout[3:]))
    return Rdata(SOA, (parse_name(t[0].shown, origin), parse_name(t[1].shown, origin),
                       _uint(t[2], MAX_SERIAL, "SOA serial"), *times))


def parse_rdata_text(rtype: int, text: str, origin: str | None) -> Rdata:
    """:func:`parse_rdata` on one line of text, e.g. ``"10 mail"`` for MX; parentheses are not allowed."""
    tokens = tokenize(text)
    if any(tok.is_paren for tok in tokens):
        raise RdataError(f"parentheses are only allowed in master files {_got(text)}")
    return parse_rdata(rtype, tokens, origin)


# -- RFC 3597 generic form ------------------------------------------------------------------------------------
def _generic(tokens: list[Token]) -> bytes:
    """``<length> <hex...>`` after ``\\#`` -> the bytes; hex may be split over tokens (RFC 3597 section 5)."""
    if not tokens:
        raise RdataError("generic RDATA needs a length after \\#")
    length = _uint(tokens[0], 65535, "generic RDATA length")
    digits = "".join(tok.shown for tok in tokens[1:])
    if not re.fullmatch(r"(?:[0-9a-fA-F]{2})*", digits):
        raise RdataError(f"bad hex in generic RDATA {_got(digits)}")
    raw = bytes.fromhex(digits)
    if len(raw) != length:
        raise RdataError(f"generic RDATA length {length} does not match {len(raw)} bytes of hex")
    return raw


class _Wire:
    """A reader of uncompressed wire-format RDATA (RFC 1035 section 3.3)."""

    def __init__(self, raw: bytes, rtype: int):
        self.raw, self.pos, self.what = raw, 0, f"generic RDATA for {type_name(rtype)}"

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.raw):
            raise RdataError(f"{self.what} is too short")
        self.pos += n
        return self.raw[self.pos - n:self.pos]

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def rest(self) -> bytes:
        return self.take(len(self.raw) - self.pos)

    def name(self) -> str:
        labels: list[str] = []
        while length := self.uint(1):
            if length > 63:  # 0xC0 pointers and RFC 6891 extended labels
                raise RdataError(f"{self.what} has a compressed or extended label")
            labels.append(self.take(length).decode("latin-1"))
        return _make_name(labels, ".".join(labels) + ".")


def _from_wire(rtype: int, raw: bytes) -> Rdata:
    """Typed fields from the generic form of a known type, validated like the presentation form."""
    w = _Wire(raw, rtype)
    fields: tuple[object, ...]
    if rtype in (A, AAAA):
        size, cls = (4, ipaddress.IPv4Address) if rtype == A else (16, ipaddress.IPv6Address)
        fields = (str(cls(w.take(size))),)
    elif rtype in (NS, CNAME, PTR):
        fields = (w.name(),)
    elif rtype == MX:
        fields = (w.uint(2), w.name())
    elif rtype == SRV:
        fields = (w.uint(2), w.uint(2), w.uint(2), w.name())
    elif rtype == TXT:
        strings: list[bytes] = []
        while w.pos < len(raw) or not strings:
            strings.append(w.take(w.uint(1)))
        fields = (tuple(strings),)
    elif rtype == CAA:
        flags = w.uint(1)
        fields = (flags, _caa_tag(w.take(w.uint(1)).decode("latin-1")), w.rest())
    else:
        assert rtype == SOA
        names, serial = (w.name(), w.name()), w.uint(4)
        times = tuple(w.uint(4) for _ in range(4))
        for what, value in zip(FIELDS[SOA][3:], times):
            if value > MAX_TTL:
                raise RdataError(f"SOA {what} must be between 0 and {MAX_TTL} {_got(str(value))}")
        fields = (*names, serial, *times)
    if w.pos != len(raw):
        raise RdataError(f"{w.what} has {len(raw) - w.pos} bytes too many")
    return Rdata(rtype, fields)
