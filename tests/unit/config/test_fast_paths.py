"""The loader's fast paths for large zones agree with the general code: plain lines split like the tokenizer
splits them, plain dotted quads and names come out as the full checks make them, and a table past
PRECOMPILE_LIMIT answers every name exactly as a fully precompiled one."""
from __future__ import annotations

import ipaddress
from pathlib import Path

import dns.message
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gtm.dns.table as table_module
from gtm.config import load
from gtm.config.rdata import RdataError, Token, parse_name, parse_rdata, tokenize
from gtm.dns.server import Responder
from gtm.dns.table import Table
from gtm.model import A

ROOT = Path(__file__).resolve().parents[3]
PLAIN = st.text(alphabet="abcXYZ019._-*/+ \t:", max_size=60)


@settings(max_examples=500, deadline=None)
@given(PLAIN)
def test_a_plain_line_splits_like_the_tokenizer(line: str) -> None:
    assert tokenize(line) == tokenize(line + " ;comment")  # the comment sends it down the general path


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_a_plain_dotted_quad_is_the_canonical_address(n: int) -> None:
    text = str(ipaddress.IPv4Address(n))
    assert parse_rdata(A, [Token(text, text.encode())], None).fields == (text,)


@pytest.mark.parametrize("text", ["010.0.0.1", "1.2.3", "256.1.1.1", "1.2.3.4.5", "1.2.3.-1"])
def test_what_is_not_a_plain_dotted_quad_still_gets_the_full_check(text: str) -> None:
    with pytest.raises(RdataError, match="bad IPv4 address"):
        parse_rdata(A, [Token(text, text.encode())], None)


@pytest.mark.parametrize(("text", "want"), [("Host-1.Example.COM.", "host-1.example.com."),
                                              ("_srv._tcp", "_srv._tcp.example.com."), ("*.w", "*.w.example.com.")])
def test_plain_names(text: str, want: str) -> None:
    assert parse_name(text, "example.com.") == want


@pytest.mark.parametrize("text", ["a..b.", "a" * 64 + ".", ("a" * 60 + ".") * 5, "x*.y."])
def test_names_the_fast_check_does_not_pass_are_still_refused(text: str) -> None:
    with pytest.raises(RdataError):
        parse_name(text, None)


def test_a_table_past_the_precompile_limit_answers_like_a_full_one(monkeypatch: pytest.MonkeyPatch) -> None:
    config = load([str(ROOT / "tests" / "fixtures" / "dns")])
    full = Responder(Table(config))
    monkeypatch.setattr(table_module, "PRECOMPILE_LIMIT", 5)
    lazy_table = Table(config)
    assert lazy_table.lazy and len(lazy_table.entries) < len(full.table.entries)
    lazy = Responder(lazy_table)
    names = sorted({k for k in full.table.entries})
    assert len(names) > 50
    for key in names:
        qname_wire, qtype = key[:-2], int.from_bytes(key[-2:], "big")
        labels, i = [], 0
        while qname_wire[i]:
            labels.append(qname_wire[i + 1: i + 1 + qname_wire[i]].decode())
            i += 1 + qname_wire[i]
        q = dns.message.make_query(".".join(labels) + ".", qtype, id=7).to_wire()
        assert lazy.answer(q, "192.0.2.1") == full.answer(q, "192.0.2.1"), labels
