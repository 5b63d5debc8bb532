"""gtm.config.masterfile: RFC 1035 section 5 master files."""
from __future__ import annotations

import textwrap

import dns.zone
import pytest

from gtm.config.masterfile import MasterRecord, parse_master
from gtm.errors import Problem
from gtm.model.records import A, AAAA, MX, NS, SOA, TXT, Rdata

F = "example.zone"


def parse(text: str, origin: str | None = None, default_ttl: int | None = None
          ) -> tuple[str | None, list[MasterRecord], list[Problem]]:
    return parse_master(textwrap.dedent(text).lstrip("\n"), F, origin, default_ttl)


def ok(text: str, origin: str | None = None, default_ttl: int | None = None) -> list[MasterRecord]:
    _, records, problems = parse(text, origin, default_ttl)
    assert problems == []
    return records


def problems(text: str, origin: str | None = "example.com.", default_ttl: int | None = None
             ) -> list[tuple[int, str]]:
    return [(p.line, p.message) for p in parse(text, origin, default_ttl)[2]]


ZONE = """
$ORIGIN Example.COM.
$TTL 1h
@   IN  SOA ns1 hostmaster (
            2024010101 ; serial
            2h 15m 2w 5m )
    IN  NS  ns1
    IN  NS  ns2.other.net.
ns1 300 IN A 192.0.2.1
www IN 60 A 192.0.2.2
    A 192.0.2.3
mail MX 10 @
txt TXT "hello world" "a\\"b;c" \\065 ; the comment
v6  AAAA 2001:db8::1
unk TYPE65280 \\# 4 0a000001
"""


def test_full_zone() -> None:
    origin, records, probs = parse(ZONE)
    assert probs == [] and origin == "example.com."
    got = [(r.name, r.rtype, r.ttl, r.rdata, r.line) for r in records]
    assert got == [
        ("example.com.", SOA, 3600, Rdata(SOA, ("ns1.example.com.", "hostmaster.example.com.", 2024010101,
                                                7200, 900, 1209600, 300)), 3),
        ("example.com.", NS, 3600, Rdata(NS, ("ns1.example.com.",)), 6),
        ("example.com.", NS, 3600, Rdata(NS, ("ns2.other.net.",)), 7),
        ("ns1.example.com.", A, 300, Rdata(A, ("192.0.2.1",)), 8),
        ("www.example.com.", A, 60, Rdata(A, ("192.0.2.2",)), 9),
        ("www.example.com.", A, 3600, Rdata(A, ("192.0.2.3",)), 10),
        ("mail.example.com.", MX, 3600, Rdata(MX, (10, "example.com.")), 11),
        ("txt.example.com.", TXT, 3600, Rdata(TXT, ((b"hello world", b'a"b;c', b"A"),)), 12),
        ("v6.example.com.", AAAA, 3600, Rdata(AAAA, ("2001:db8::1",)), 13),
        ("unk.example.com.", 65280, 3600, Rdata(65280, (b"\x0a\x00\x00\x01",)), 14),
    ]


def test_full_zone_matches_dnspython() -> None:
    text = textwrap.dedent(ZONE).lstrip("\n")
    theirs = dns.zone.from_text(text, relativize=False, check_origin=False)
    records = parse(ZONE)[1]
    expected, ttls = set(), {}
    for name, ttl, rdata in theirs.iterate_rdatas():  # dnspython keeps one TTL per RRset: the smallest
        presentation = rdata.to_text(origin=None, relativize=False)
        [rec] = parse_master(f"{name} {ttl} {rdata.rdtype.to_text(rdata.rdtype)} {presentation}\n", F)[1]
        expected.add((rec.name, rec.rtype, rec.rdata))
        ttls[rec.name, rec.rtype] = ttl
    assert {(r.name, r.rtype, r.rdata) for r in records} == expected
    assert all(ttls[r.name, r.rtype] == min(x.ttl for x in records if (x.name, x.rtype) == (r.name, r.rtype))
               for r in records)


def test_origin_argument_relative_and_at() -> None:
    recs = ok("""
        $TTL 300
        @ NS ns
        a.b A 192.0.2.1
        abs.other. A 192.0.2.2
        """, origin="example.org.")
    assert [r.name for r in recs] == ["example.org.", "a.b.example.org.", "abs.other."]
    assert recs[0].rdata.fields == ("ns.example.org.",)


def test_origin_returned_is_the_last_one() -> None:
    origin, recs, probs = parse("""
        $TTL 300
        $ORIGIN example.com.
        a A 192.0.2.1
        $ORIGIN sub
        b A 192.0.2.2
        @ A 192.0.2.3
        """)
    assert probs == [] and origin == "sub.example.com."
    assert [r.name for r in recs] == ["a.example.com.", "b.sub.example.com.", "sub.example.com."]
    assert parse("$TTL 1\n", origin="x.")[0] == "x."
    assert parse("$TTL 1\n")[0] is None


def test_blank_owner_repeats_previous_owner_across_origin_change() -> None:
    recs = ok("""
        $TTL 300
        $ORIGIN a.example.
        www A 192.0.2.1
        $ORIGIN b.example.
            A 192.0.2.2
        \tTXT "tab"
        """)
    assert [r.name for r in recs] == ["www.a.example."] * 3


@pytest.mark.parametrize("line, ttl", [
    ("www 60 IN A 192.0.2.1", 60), ("www IN 60 A 192.0.2.1", 60), ("www 1h30m A 192.0.2.1", 5400),
    ("www in A 192.0.2.1", 7), ("www A 192.0.2.1", 7), ("www CLASS1 2D A 192.0.2.1", 172800),
])
def test_ttl_and_class_in_either_order(line: str, ttl: int) -> None:
    [rec] = ok(f"$TTL 7\n{line}\n", origin="example.com.")
    assert (rec.name, rec.rtype, rec.ttl, rec.rdata.fields) == ("www.example.com.", A, ttl, ("192.0.2.1",))


def test_ttl_precedence() -> None:
    # explicit > $TTL > default_ttl > the last explicit TTL (RFC 1035 section 5.1)
    text = "a 10 A 192.0.2.1\nb A 192.0.2.2\n$TTL 20\nc A 192.0.2.3\nd 30 A 192.0.2.4\ne A 192.0.2.5\n"
    assert [r.ttl for r in ok(text, "x.")] == [10, 10, 20, 30, 20]
    assert [r.ttl for r in ok(text, "x.", default_ttl=99)] == [10, 99, 20, 30, 20]


def test_no_ttl_at_all() -> None:
    assert problems("a A 192.0.2.1\nb 5 A 192.0.2.2\nc A 192.0.2.3\n") == [
        (1, "no TTL: set $TTL or give one")]


def test_parentheses_span_lines_and_comments() -> None:
    [rec] = ok("""
        $TTL 1
        t ( TXT ; comment inside
          "one" ; another
          "two;not a comment" "(" )
        """, origin="x.")
    assert rec.line == 2 and rec.rdata.fields == ((b"one", b"two;not a comment", b"("),)


def test_quoted_escapes() -> None:
    [rec] = ok(r'$TTL 1' + '\n' + r't TXT "a\"b" "\065" "x;y" "\\" "\255"' + '\n', origin="x.")
    assert rec.rdata.fields == ((b'a"b', b"A", b"x;y", b"\\", b"\xff"),)


def test_long_txt_is_split() -> None:
    [rec] = ok('$TTL 1\nt TXT "' + "y" * 600 + '"\n', origin="x.")
    assert [len(s) for s in rec.rdata.fields[0]] == [255, 255, 90]


def test_crlf_and_missing_final_newline() -> None:
    recs = ok("$TTL 1\r\na A 192.0.2.1\r\n A 192.0.2.2", origin="x.")
    assert [(r.name, r.line) for r in recs] == [("a.x.", 2), ("a.x.", 3)]


# -- problems -------------------------------------------------------------------------------------------------
def test_all_problems_at_once() -> None:
    text = """
        $TTL 1h
        ok1 A 192.0.2.1
        bad1 MX x mail
        ok2 A 192.0.2.2
        bad2 FOO 1
        bad3 A 1.2.3
        ok3 ( TXT
              "z" )
        """
    _, recs, probs = parse(text, "example.com.")
    assert probs == [
        Problem(F, 3, "", "bad MX preference (got 'x')"),
        Problem(F, 5, "", "unknown type 'FOO'"),
        Problem(F, 6, "", "bad IPv4 address (got '1.2.3')"),
    ]
    assert [(r.name, r.line) for r in recs] == [("ok1.example.com.", 2), ("ok2.example.com.", 4),
                                                ("ok3.example.com.", 7)]


@pytest.mark.parametrize("text, expected", [
    ("$INCLUDE other.zone\n", [(1, "$INCLUDE is not supported")]),
    ("$GENERATE 1-2 a$ A 1.2.3.4\n", [(1, "$GENERATE is not supported")]),
    ("$FOO x\n", [(1, "unknown directive '$FOO'")]),
    ("$TTL\n", [(1, "$TTL takes one value (got 0)")]),
    ("$ORIGIN a. b.\n", [(1, "$ORIGIN takes one value (got 2)")]),
    ("$ORIGIN a..b.\n", [(1, "empty label in name (got 'a..b.')")]),
    ("$TTL 1\na CH TXT x\n", [(2, "only class IN is served (got 'CH')")]),
    ("$TTL 1\na 5 HS 5 TXT x\n", [(2, "only class IN is served (got 'HS')")]),
    ("$TTL 1\na 5 6 TXT x\n", [(2, "unknown type '6'")]),
    ("$TTL 1\na IN\n", [(2, "no type")]),
    ("$TTL 1\na 99999999999 A 1.2.3.4\n", [(2, "TTL must be between 0 and 2147483647 (got '99999999999')")]),
    ("$TTL 1\n A 1.2.3.4\n", [(2, "no owner name: the first record starts with whitespace")]),
    ("$TTL 1\na TXT \"open\n", [(2, "unterminated quoted string (got '\"open')")]),
    ("$TTL 1\na TXT x\\\n", [(2, "backslash at end of line")]),
    ("$TTL 1\na TXT \"\\300\"\n", [(2, "bad escape, \\DDD must be at most 255 (got '\\300')")]),
    ("$TTL 1\na A ( 1.2.3.4\n", [(2, "unbalanced parentheses: '(' is never closed")]),
    ("$TTL 1\na A 1.2.3.4 )\n", [(2, "unbalanced parentheses: ')' without '('")]),
    ("$TTL 1\na OPT \\# 0\n", [(2, "type OPT cannot appear in a zone")]),
    ("$TTL 1\na TYPE65280 0a000001\n", [(2, "type TYPE65280 needs the generic form \\# <length> <hex>")]),
    ("$TTL 1\na TYPE65280 \\# 3 0a000001\n", [(2, "generic RDATA length 3 does not match 4 bytes of hex")]),
    ("$TTL 1\na\\.b A 1.2.3.4\n", [(2, "escaped characters in names are not supported (got 'a\\.b')")]),
])
def test_single_problems(text: str, expected: list[tuple[int, str]]) -> None:
    assert problems(text) == expected


def test_relative_name_without_origin() -> None:
    assert problems("$TTL 1\nwww A 192.0.2.1\nabs.example. CNAME www\nok.example. A 192.0.2.2\n", None) == [
        (2, "relative name with no origin (got 'www')"), (3, "relative name with no origin (got 'www')")]
    assert problems("$ORIGIN sub\n", None) == [(1, "relative name with no origin (got 'sub')")]


def test_problem_line_is_where_the_record_starts() -> None:
    text = "$TTL 1\n\nbad ( MX\n  10\n  mail\n  extra )\nnext A 192.0.2.1\n"
    assert problems(text) == [(3, "MX needs 2 fields: preference target (got 3)")]


def test_tokenizing_error_inside_parentheses_skips_the_whole_record() -> None:
    text = '$TTL 1\nbad ( TXT\n "open\n )\nok A 192.0.2.1\n'
    _, recs, probs = parse(text, "x.")
    assert [(p.line, p.message) for p in probs] == [(2, "unterminated quoted string (got '\"open')")]
    assert [r.name for r in recs] == ["ok.x."]


def test_bad_owner_does_not_cascade_to_blank_owner_lines() -> None:
    text = "$TTL 1\na..b A 192.0.2.1\n A 192.0.2.2\n MX bad x\ngood A 192.0.2.3\n"
    _, recs, probs = parse(text, "x.")
    assert [(p.line, p.message) for p in probs] == [(2, "empty label in name (got 'a..b')"),
                                                    (4, "bad MX preference (got 'bad')")]
    assert [r.name for r in recs] == ["good.x."]


def test_bad_ttl_directive_does_not_cascade() -> None:
    text = "$TTL forever\na A 192.0.2.1\nb A 192.0.2.2\n"
    _, recs, probs = parse(text, "x.")
    assert [(p.line, p.message) for p in probs] == [(1, "bad TTL (got 'forever')")]
    assert recs == []


def test_problems_are_sorted_and_carry_the_file() -> None:
    text = "$TTL 1\na A (\n1.2.3\nb A 1.2.3.4 )\n)\nc FOO\n"
    _, _, probs = parse(text, "x.")
    assert [(p.file, p.line) for p in probs] == [(F, 2), (F, 5), (F, 6)]
    assert str(probs[0]) == "example.zone:2: A needs 1 fields: address (got 4)"
