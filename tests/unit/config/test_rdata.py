"""gtm.config.rdata: presentation-format names, types, TTLs and RDATA."""
from __future__ import annotations

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import pytest

from gtm.config.rdata import (
    RdataError, Token, parse_name, parse_rdata, parse_rdata_text, parse_ttl, parse_type, tokenize,
)
from gtm.model.records import A, AAAA, CAA, CNAME, HINFO, MX, NS, PTR, SOA, SRV, TXT, Rdata

ORIGIN = "example.com."


def rd(rtype: int, text: str, origin: str | None = ORIGIN) -> Rdata:
    return parse_rdata_text(rtype, text, origin)


def err(rtype: int, text: str, origin: str | None = ORIGIN) -> str:
    with pytest.raises(RdataError) as e:
        parse_rdata_text(rtype, text, origin)
    return str(e.value)


# -- tokenize -------------------------------------------------------------------------------------------------
def test_tokenize_words_quotes_comments_parens() -> None:
    toks = tokenize('a  "b c" ; comment\n( x)y')
    assert toks == [Token("a", b"a"), Token("b c", b"b c", True), Token("(", b"("), Token("x", b"x"),
                    Token(")", b")"), Token("y", b"y")]
    assert [t.is_paren for t in toks] == [False, False, True, False, True, False]


@pytest.mark.parametrize("text, data", [
    (r'"a\"b"', b'a"b'),
    (r'"\065"', b"A"),
    (r'"x;y"', b"x;y"),
    (r'"a\\b"', b"a\\b"),
    (r'"\255\000"', b"\xff\x00"),
    (r'"\(\x"', b"(x"),
    ('"( )"', b"( )"),
    ('"é"', "é".encode()),
    ('""', b""),
])
def test_tokenize_quoted_escapes(text: str, data: bytes) -> None:
    [tok] = tokenize(text)
    assert tok.quoted and tok.data == data and tok.text == text[1:-1]


def test_tokenize_unquoted_escapes_and_delimiters() -> None:
    assert tokenize(r"a\ b\;c\065") == [Token(r"a\ b\;c\065", b"a b;cA")]
    assert tokenize(r"\(") == [Token(r"\(", b"(")]
    assert not tokenize(r"\(")[0].is_paren
    assert [t.text for t in tokenize('ab"cd"ef')] == ["ab", "cd", "ef"]


@pytest.mark.parametrize("text, message", [
    ('"abc', "unterminated quoted string (got '\"abc')"),
    ("ab\\", "backslash at end of line"),
    (r'"\256"', r"bad escape, \DDD must be at most 255 (got '\256')"),
    (r'"\12x"', r"bad escape, \DDD needs three digits (got '\12x')"),
])
def test_tokenize_errors(text: str, message: str) -> None:
    with pytest.raises(RdataError) as e:
        tokenize(text)
    assert str(e.value) == message


# -- names ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, origin, name", [
    ("www", ORIGIN, "www.example.com."),
    ("WWW.Sub", ORIGIN, "www.sub.example.com."),
    ("@", ORIGIN, ORIGIN),
    ("a.b.", ORIGIN, "a.b."),
    ("A.B.", None, "a.b."),
    (".", None, "."),
    (".", ORIGIN, "."),
    ("com", ".", "com."),
    ("*", ORIGIN, "*.example.com."),
    ("*.x", ORIGIN, "*.x.example.com."),
    ("_sip._tcp", ORIGIN, "_sip._tcp.example.com."),
    ("0/25.2.0.192.in-addr.arpa.", None, "0/25.2.0.192.in-addr.arpa."),
    ("a+b.", None, "a+b."),
    ("a" * 63 + ".", None, "a" * 63 + "."),
])
def test_parse_name(text: str, origin: str | None, name: str) -> None:
    assert parse_name(text, origin) == name


def test_name_length_limits() -> None:
    longest = ".".join(["a" * 63] * 3 + ["a" * 61]) + "."  # 4 * 64 - 2 + 1 = 255 octets on the wire
    assert parse_name(longest, None) == longest
    with pytest.raises(RdataError, match="^name longer than 255 octets"):
        parse_name("b." + longest, None)
    with pytest.raises(RdataError, match="^name longer than 255 octets"):  # only after joining the origin
        parse_name("a" * 63, ".".join(["a" * 63] * 3) + ".")


@pytest.mark.parametrize("text, origin, message", [
    ("www", None, "relative name with no origin (got 'www')"),
    ("@", None, "relative name with no origin (got '@')"),
    ("a..b", ORIGIN, "empty label in name (got 'a..b')"),
    ("..", None, "empty label in name (got '..')"),
    ("", ORIGIN, "empty label in name (got '')"),
    (".a", ORIGIN, "empty label in name (got '.a')"),
    ("a" * 64, ORIGIN, f"label longer than 63 octets in name (got '{'a' * 64}')"),
    ("a!b", ORIGIN, "bad character '!' in name (got 'a!b')"),
    ("é.", None, "bad character 'é' in name (got 'é.')"),
    ("a*", ORIGIN, "'*' is only allowed as the whole leftmost label (got 'a*')"),
    ("a.*", ORIGIN, "'*' is only allowed as the whole leftmost label (got 'a.*')"),
    (r"a\.b", ORIGIN, r"escaped characters in names are not supported (got 'a\.b')"),
    (r"\065.", ORIGIN, r"escaped characters in names are not supported (got '\065.')"),
])
def test_parse_name_errors(text: str, origin: str | None, message: str) -> None:
    with pytest.raises(RdataError) as e:
        parse_name(text, origin)
    assert str(e.value) == message


# -- types and TTLs -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, number", [
    ("A", 1), ("aaaa", 28), ("Mx", 15), ("TYPE65280", 65280), ("type1", 1), ("CAA", 257), ("HINFO", 13),
])
def test_parse_type(text: str, number: int) -> None:
    assert parse_type(text) == number


@pytest.mark.parametrize("text", ["FOO", "TYPE65536", "TYPE", "TYPE-1", "1", ""])
def test_parse_type_errors(text: str) -> None:
    with pytest.raises(RdataError) as e:
        parse_type(text)
    assert str(e.value) == f"unknown type '{text}'"


@pytest.mark.parametrize("text, seconds", [
    ("0", 0), ("3600", 3600), ("1h", 3600), ("2d", 172800), ("1w", 604800), ("30m", 1800), ("10s", 10),
    ("1h30m", 5400), ("1H30M", 5400), ("1w2d3h4m5s", 788645), ("2147483647", 2147483647), ("007", 7),
])
def test_parse_ttl(text: str, seconds: int) -> None:
    assert parse_ttl(text) == seconds


@pytest.mark.parametrize("text, message", [
    ("x", "bad TTL (got 'x')"),
    ("-1", "bad TTL (got '-1')"),
    ("1h30", "bad TTL (got '1h30')"),
    ("1y", "bad TTL (got '1y')"),
    ("", "bad TTL (got '')"),
    ("٣", "bad TTL (got '٣')"),  # a non-ASCII digit
    ("2147483648", "TTL must be between 0 and 2147483647 (got '2147483648')"),
    ("3551w", "TTL must be between 0 and 2147483647 (got '3551w')"),
])
def test_parse_ttl_errors(text: str, message: str) -> None:
    with pytest.raises(RdataError) as e:
        parse_ttl(text)
    assert str(e.value) == message


# -- RDATA, type by type --------------------------------------------------------------------------------------
@pytest.mark.parametrize("rtype, text, fields", [
    (A, "192.0.2.1", ("192.0.2.1",)),
    (AAAA, "2001:DB8:0:0::1", ("2001:db8::1",)),
    (AAAA, "::ffff:192.0.2.1", ("::ffff:c000:201",)),
    (NS, "ns1", ("ns1.example.com.",)),
    (NS, "ns1.other.net.", ("ns1.other.net.",)),
    (CNAME, "@", ("example.com.",)),
    (PTR, "Host.Example.NET.", ("host.example.net.",)),
    (MX, "10 mail", (10, "mail.example.com.")),
    (MX, "0 .", (0, ".")),
    (MX, "65535 mx.example.org.", (65535, "mx.example.org.")),
    (SRV, "10 60 5060 sip", (10, 60, 5060, "sip.example.com.")),
    (SRV, "0 0 0 .", (0, 0, 0, ".")),
    (TXT, "hello", ((b"hello",),)),
    (TXT, '"hello world" more', ((b"hello world", b"more"),)),
    (TXT, '""', ((b"",),)),
    (TXT, r'"a\"b" "\065" "x;y"', ((b'a"b', b"A", b"x;y"),)),
    (CAA, '0 issue "letsencrypt.org"', (0, "issue", b"letsencrypt.org")),
    (CAA, "128 iodef mailto:sec@example.com", (128, "iodef", b"mailto:sec@example.com")),
    (CAA, '0 Issue ""', (0, "Issue", b"")),
    (SOA, "ns1 hostmaster 2024010101 7200 3600 1209600 300",
     ("ns1.example.com.", "hostmaster.example.com.", 2024010101, 7200, 3600, 1209600, 300)),
    (SOA, "ns1.x. h.x. 4294967295 1h 15M 2w 1d5m", ("ns1.x.", "h.x.", 4294967295, 3600, 900, 1209600, 86700)),
])
def test_rdata_types(rtype: int, text: str, fields: tuple[object, ...]) -> None:
    assert rd(rtype, text) == Rdata(rtype, fields)


def test_txt_long_strings_split_into_255_byte_chunks() -> None:
    data = bytes(range(32, 127)) * 6 + b"0123456789" * 3  # 570 + 30 = 600 bytes
    data = data.replace(b'"', b"'").replace(b"\\", b"/")
    r = rd(TXT, '"' + data.decode() + '" short')
    assert [len(s) for s in r.fields[0]] == [255, 255, 90, 5]
    assert b"".join(r.fields[0][:3]) == data


def test_parse_rdata_takes_tokens() -> None:
    toks = [Token("10", b"10"), Token("mx", b"mx")]
    assert parse_rdata(MX, toks, "example.org.") == Rdata(MX, (10, "mx.example.org."))


@pytest.mark.parametrize("rtype, text, message", [
    (A, "1.2.3", "bad IPv4 address (got '1.2.3')"),
    (A, "256.1.1.1", "bad IPv4 address (got '256.1.1.1')"),
    (A, "01.2.3.4", "bad IPv4 address (got '01.2.3.4')"),
    (A, "::1", "bad IPv4 address (got '::1')"),
    (A, '"1.2.3.4"', "bad IPv4 address (got '\"1.2.3.4\"')"),
    (A, "", "A needs 1 fields: address (got 0)"),
    (A, "1.2.3.4 5.6.7.8", "A needs 1 fields: address (got 2)"),
    (AAAA, "192.0.2.1", "bad IPv6 address (got '192.0.2.1')"),
    (AAAA, "2001:db8::g", "bad IPv6 address (got '2001:db8::g')"),
    (AAAA, "fe80::1%eth0", "bad IPv6 address (got 'fe80::1%eth0')"),
    (NS, "a..b", "empty label in name (got 'a..b')"),
    (NS, "ns1", "relative name with no origin (got 'ns1')"),
    (CNAME, "a b", "CNAME needs 1 fields: target (got 2)"),
    (MX, "x mail", "bad MX preference (got 'x')"),
    (MX, "-1 mail", "bad MX preference (got '-1')"),
    (MX, "65536 mail", "MX preference must be between 0 and 65535 (got '65536')"),
    (MX, "mail", "MX needs 2 fields: preference target (got 1)"),
    (SRV, "1 2 70000 t", "SRV port must be between 0 and 65535 (got '70000')"),
    (SRV, "1 w 3 t", "bad SRV weight (got 'w')"),
    (SRV, "a 2 3 t", "bad SRV priority (got 'a')"),
    (SRV, "1 2 3", "SRV needs 4 fields: priority weight port target (got 3)"),
    (TXT, "", "TXT needs at least one string"),
    (CAA, "256 issue x", "CAA flags must be between 0 and 255 (got '256')"),
    (CAA, "0 is-sue x", "bad CAA tag, 1 to 15 letters or digits (got 'is-sue')"),
    (CAA, "0 abcdefghijklmnop x", "bad CAA tag, 1 to 15 letters or digits (got 'abcdefghijklmnop')"),
    (CAA, "0 issue", "CAA needs 3 fields: flags tag value (got 2)"),
    (SOA, "ns h 4294967296 1 1 1 1", "SOA serial must be between 0 and 4294967295 (got '4294967296')"),
    (SOA, "ns h 1 x 1 1 1", "bad SOA refresh (got 'x')"),
    (SOA, "ns h 1 1 1 1 2147483648", "SOA minimum must be between 0 and 2147483647 (got '2147483648')"),
    (SOA, "ns h 1 1 1 1", "SOA needs 7 fields: mname rname serial refresh retry expire minimum (got 6)"),
    (HINFO, '"cpu" "os"', r"type HINFO needs the generic form \# <length> <hex>"),
    (65280, "abc", r"type TYPE65280 needs the generic form \# <length> <hex>"),
    (41, r"\# 0", "type OPT cannot appear in a zone"),
    (255, "", "type ANY cannot appear in a zone"),
    (252, "", "type AXFR cannot appear in a zone"),
    (250, "", "type TSIG cannot appear in a zone"),
    (0, r"\# 0", "type TYPE0 cannot appear in a zone"),
    (MX, "(10 mail)", "parentheses are only allowed in master files (got '(10 mail)')"),
])
def test_rdata_errors(rtype: int, text: str, message: str) -> None:
    assert err(rtype, text, None if text == "ns1" else ORIGIN) == message


# -- RFC 3597 generic form ------------------------------------------------------------------------------------
@pytest.mark.parametrize("rtype, text, fields", [
    (65280, r"\# 4 0a000001", (b"\x0a\x00\x00\x01",)),
    (65280, r"\# 4 0A00 00 01", (b"\x0a\x00\x00\x01",)),
    (65280, r"\# 0", (b"",)),
    (HINFO, r"\# 7 03637075026f73", (b"\x03cpu\x02os",)),  # known mnemonic, but no typed layout
])
def test_generic_unknown_types(rtype: int, text: str, fields: tuple[object, ...]) -> None:
    assert rd(rtype, text) == Rdata(rtype, fields)


@pytest.mark.parametrize("rtype, text, presentation", [
    (A, r"\# 4 C0000201", "192.0.2.1"),
    (AAAA, r"\# 16 20010db8000000000000000000000001", "2001:db8::1"),
    (NS, r"\# 17 036e7331076578616d706c6503636f6d00", "ns1.example.com."),
    (CNAME, r"\# 1 00", "."),
    (PTR, r"\# 6 04486f737400", "host."),
    (MX, r"\# 8 000a 046d61696c 00", "10 mail."),
    (SRV, r"\# 11 0001 0002 0003 03737270 00", "1 2 3 srp."),
    (TXT, r"\# 6 0568656c6c6f", '"hello"'),
    (TXT, r"\# 4 01610162", '"a" "b"'),
    (TXT, r"\# 1 00", '""'),
    (CAA, r"\# 8 00 05 6973737565 61", '0 issue "a"'),
    (SOA, r"\# 27 026e7300 016800 00000001 00000002 00000003 00000004 00000005", "ns. h. 1 2 3 4 5"),
])
def test_generic_known_types_decode_to_fields(rtype: int, text: str, presentation: str) -> None:
    assert rd(rtype, text) == rd(rtype, presentation)


@pytest.mark.parametrize("rtype, text, message", [
    (65280, r"\#", r"generic RDATA needs a length after \#"),
    (65280, r"\# x 00", "bad generic RDATA length (got 'x')"),
    (65280, r"\# 3 0a000001", "generic RDATA length 3 does not match 4 bytes of hex"),
    (65280, r"\# 1 0", "bad hex in generic RDATA (got '0')"),
    (65280, r"\# 1 zz", "bad hex in generic RDATA (got 'zz')"),
    (65280, r'\# 1 "00"', "bad hex in generic RDATA (got '\"00\"')"),
    (A, r"\# 3 0a0000", "generic RDATA for A is too short"),
    (A, r"\# 5 0a00000101", "generic RDATA for A has 1 bytes too many"),
    (NS, r"\# 2 c000", "generic RDATA for NS has a compressed or extended label"),
    (NS, r"\# 4 02212100", "bad character '!' in name (got '!!.')"),
    (NS, r"\# 2 0161", "generic RDATA for NS is too short"),
    (MX, r"\# 1 00", "generic RDATA for MX is too short"),
    (TXT, r"\# 0", "generic RDATA for TXT is too short"),
    (TXT, r"\# 2 0561", "generic RDATA for TXT is too short"),
    (CAA, r"\# 4 00 02 2d2d", "bad CAA tag, 1 to 15 letters or digits (got '--')"),
    (SOA, r"\# 22 00 00 00000001 00000002 00000003 00000004 80000000",
     "SOA minimum must be between 0 and 2147483647 (got '2147483648')"),
])
def test_generic_errors(rtype: int, text: str, message: str) -> None:
    assert err(rtype, text) == message


# -- cross-checks against dnspython ---------------------------------------------------------------------------
@pytest.mark.parametrize("rtype, text", [
    (A, "192.0.2.1"), (AAAA, "2001:DB8::0:1"), (MX, "10 Mail"), (SRV, "1 2 3 Target"), (NS, "ns1.Other.net."),
    (TXT, r'"a\"b" "\065\066" plain "x;y"'), (CAA, '0 issue "ca.example.net"'),
    (SOA, "ns1 hostmaster 2024010101 1h 15m 1w 5m"), (A, r"\# 4 C0000201"), (TXT, r"\# 4 01610162"),
])
def test_matches_dnspython(rtype: int, text: str) -> None:
    ours = rd(rtype, text)
    theirs = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.RdataType(rtype), text,
                                 origin=dns.name.from_text(ORIGIN), relativize=False)
    other = rd(rtype, theirs.to_text(origin=None, relativize=False))
    assert ours == other
    if rtype == TXT:
        assert ours.fields[0] == tuple(theirs.strings)  # type: ignore[attr-defined]
    if rtype in (MX, SRV, NS):
        assert ours.target == str(theirs.exchange if rtype == MX else theirs.target).lower()  # type: ignore
    if rtype == SOA:
        assert ours.fields[2:] == (theirs.serial, theirs.refresh, theirs.retry,  # type: ignore[attr-defined]
                                   theirs.expire, theirs.minimum)  # type: ignore[attr-defined]


def test_long_txt_matches_dnspython_wire_strings() -> None:
    text = '"' + "x" * 600 + '"'
    ours = rd(TXT, text)
    # dnspython refuses >255-byte strings; split ones must match what it builds from the pieces.
    pieces = " ".join('"' + s.decode() + '"' for s in ours.fields[0])
    theirs = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, pieces)
    assert ours.fields[0] == tuple(theirs.strings) and [len(s) for s in ours.fields[0]] == [255, 255, 90]


def test_unknown_type_matches_dnspython() -> None:
    theirs = dns.rdata.from_text(dns.rdataclass.IN, 65280, r"\# 4 0a000001")
    assert rd(65280, r"\# 4 0a000001").fields[0] == theirs.to_wire()
