"""RFC 1035 section 5 master files -> records, collecting every problem.

Supported: ``$ORIGIN``, ``$TTL`` (RFC 2308 section 4, with BIND units), ``@``, relative names, a blank owner
(a line starting with whitespace repeats the previous owner), optional TTL and class in either order, ``;``
comments, parentheses spanning lines, quoted strings with escapes and RFC 3597 ``TYPEnnn \\# len hex``.
Not supported: ``$INCLUDE``, ``$GENERATE``, classes other than IN.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from gtm.config.rdata import RdataError, Token, parse_name, parse_rdata, parse_ttl, parse_type, tokenize
from gtm.errors import Problem
from gtm.model.records import Rdata

_CLASSES = {"IN", "CH", "CHAOS", "HS", "HESIOD", "CS"}  # not ANY/NONE: "a ANY" means the type here


@dataclass(frozen=True)
class MasterRecord:
    """One record of a master file; ``line`` is the 1-based line where it starts."""

    name: str
    rtype: int
    ttl: int
    rdata: Rdata
    line: int


@dataclass
class _Entry:
    """One logical line: a record or a directive, its parentheses joined (RFC 1035 section 5.1)."""

    line: int
    blank_owner: bool
    tokens: list[Token] = field(default_factory=list)
    broken: bool = False  # a problem was already reported for it


@dataclass
class _State:
    """What earlier lines set for later ones; lives for one :func:`parse_master` call."""

    origin: str | None
    default_ttl: int | None
    ttl: int | None = None          # $TTL
    last_ttl: int | None = None     # the last TTL given explicitly (RFC 1035 section 5.1)
    ttl_bad: bool = False           # a $TTL was wrong: "no TTL" would only repeat that problem
    owner: str | None = None        # the previous owner, for a blank owner
    owner_bad: bool = False         # the previous owner was wrong: its blank-owner lines are not reported again


def _entries(text: str, problem: list[tuple[int, str]]) -> list[_Entry]:
    """Physical lines -> logical entries; tokenizing and parenthesis problems go to ``problem``."""
    entries: list[_Entry] = []
    cur: _Entry | None = None
    depth = 0
    for lineno, line in enumerate(text.split("\n"), 1):
        try:
            tokens = tokenize(line)
        except RdataError as e:
            problem.append((cur.line if cur else lineno, str(e)))
            if cur:
                cur.broken = True
            else:  # kept so that the lines after it do not take an older owner
                entries.append(_Entry(lineno, line[:1] in (" ", "\t"), broken=True))
            continue
        if cur is None:
            if not tokens:
                continue
            cur = _Entry(lineno, line[:1] in (" ", "\t"))
        for tok in tokens:
            if not tok.is_paren:
                cur.tokens.append(tok)
            elif tok.text == "(":
                depth += 1
            elif depth:
                depth -= 1
            elif not cur.broken:
                problem.append((cur.line, "unbalanced parentheses: ')' without '('"))
                cur.broken = True
        if depth == 0:
            entries.append(cur)
            cur = None
    if cur is not None and not cur.broken:
        problem.append((cur.line, "unbalanced parentheses: '(' is never closed"))
    return entries


def _directive(entry: _Entry, st: _State) -> None:
    word, args = entry.tokens[0].text.upper(), entry.tokens[1:]
    if word in ("$INCLUDE", "$GENERATE"):
        raise RdataError(f"{word} is not supported")
    if word not in ("$ORIGIN", "$TTL"):
        raise RdataError(f"unknown directive '{entry.tokens[0].text}'")
    if len(args) != 1:
        raise RdataError(f"{word} takes one value (got {len(args)})")
    if word == "$ORIGIN":
        st.origin = parse_name(args[0].shown, st.origin)  # a relative $ORIGIN extends the current one
        return
    st.ttl_bad = True  # until the value parses
    st.ttl = parse_ttl(args[0].shown)
    st.ttl_bad = False


def _record(entry: _Entry, st: _State) -> MasterRecord | None:
    """One record entry -> a record; None when an earlier problem already covers it."""
    tokens = entry.tokens
    if entry.blank_owner:
        if st.owner is None and not st.owner_bad:
            raise RdataError("no owner name: the first record starts with whitespace")
        owner = st.owner
    else:
        st.owner, st.owner_bad = None, True  # until the name parses
        owner = st.owner = parse_name(tokens[0].shown, st.origin)
        st.owner_bad = False
        tokens = tokens[1:]
    ttl: int | None = None
    klass: str | None = None
    while tokens and not tokens[0].quoted:  # [<TTL>] [<class>] in either order (RFC 1035 section 5.1)
        word = tokens[0].text
        if ttl is None and word[:1].isdigit():
            ttl = parse_ttl(word)
        elif klass is None and (word.upper() in _CLASSES or re.fullmatch(r"CLASS[0-9]+", word, re.IGNORECASE)):
            klass = word.upper()
        else:
            break
        tokens = tokens[1:]
    if klass not in (None, "IN", "CLASS1"):
        raise RdataError(f"only class IN is served (got '{klass}')")
    if not tokens:
        raise RdataError("no type")
    rtype = parse_type(tokens[0].shown)
    rdata = parse_rdata(rtype, tokens[1:], st.origin)
    if ttl is not None:
        st.last_ttl = ttl
    else:
        ttl = next((t for t in (st.ttl, st.default_ttl, st.last_ttl) if t is not None), None)
        if ttl is None and not st.ttl_bad:
            raise RdataError("no TTL: set $TTL or give one")
    if owner is None or ttl is None:
        return None
    return MasterRecord(owner, rtype, ttl, rdata, entry.line)


def parse_master(text: str, filename: str, origin: str | None = None,
                 default_ttl: int | None = None) -> tuple[str | None, list[MasterRecord], list[Problem]]:
    """Parse a master file; returns (final origin, records in file order, every problem sorted by line).

    ``origin`` (absolute) applies until a ``$ORIGIN``; ``default_ttl`` is the TTL of records that give none
    when no ``$TTL`` precedes them; failing both, the last explicitly given TTL applies (RFC 1035 section 5.1).
    A bad line is reported and skipped; parsing goes on. Problems carry the line where the entry starts.
    """
    found: list[tuple[int, str]] = []
    st = _State(parse_name(origin, None) if origin is not None else None, default_ttl)
    records: list[MasterRecord] = []
    for entry in _entries(text, found):
        first = entry.tokens[0] if entry.tokens else None
        directive = first is not None and first.text.startswith("$") and not first.quoted and not entry.blank_owner
        if entry.broken:
            if not entry.blank_owner and not directive:
                st.owner, st.owner_bad = None, True
            continue
        try:
            if directive:
                _directive(entry, st)
            elif (rec := _record(entry, st)) is not None:
                records.append(rec)
        except RdataError as e:
            found.append((entry.line, str(e)))
    problems = sorted(Problem(filename, line, "", message) for line, message in found)
    return st.origin, records, problems
