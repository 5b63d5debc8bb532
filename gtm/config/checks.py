"""Typed field readers for validating YAML mappings: every problem is recorded, none raised.

Each reader takes the mapping, the key and the dotted path of the mapping, records a problem naming the
file, line and field when the value is wrong, and returns a usable value (the default) so that validation
goes on and reports every problem in one pass.
"""
from __future__ import annotations

import difflib
import ipaddress
from typing import Any, Callable, Iterable, TypeVar

from gtm.config.yamlsrc import LMap, LSeq, line_of
from gtm.errors import Problem

T = TypeVar("T")
MISSING: Any = object()


def join(path: str, key: Any) -> str:
    """The path of mapping key ``key`` under ``path`` (``services.www``); any key, numbers included."""
    text = key if isinstance(key, str) and key.isprintable() else show(key)  # a key "\n" must not break the line
    return f"{path}.{text}" if path else text


def index(path: str, i: int) -> str:
    """The path of item ``i`` of the list at ``path`` (``ns[0]``)."""
    return f"{path}[{i}]"


SHOW_MAX = 60


def show(value: Any) -> str:
    """A value as it appears in messages: short and YAML-like (``null``, ``true``, strings quoted).

    Bounded in time and size whatever the value (aliases can make a small file a huge nested structure).
    """
    out: list[str] = []
    _show(value, out, [SHOW_MAX + 3], 0)
    text = "".join(out)
    return text if len(text) <= SHOW_MAX else text[:SHOW_MAX - 3] + "..."


def _show(value: Any, out: list[str], budget: list[int], depth: int) -> None:
    """Append the rendering of ``value`` to ``out`` until ``budget[0]`` characters are spent."""
    if budget[0] <= 0:
        return
    if value is None:
        piece = "null"
    elif isinstance(value, bool):
        piece = "true" if value else "false"
    elif isinstance(value, str):
        piece = repr(value[:SHOW_MAX + 3])
    elif isinstance(value, (int, float)):
        piece = repr(value) if not isinstance(value, int) or value.bit_length() < 200 else "a huge number"
    elif isinstance(value, (dict, list, tuple, set, frozenset)) and depth < 8:
        is_map = isinstance(value, dict)
        items: Iterable[Any] = value.items() if isinstance(value, dict) else value
        out.append("{" if is_map else "[")
        budget[0] -= 1
        for n, item in enumerate(items):
            if budget[0] <= 0:
                break
            if n:
                out.append(", ")
                budget[0] -= 2
            if is_map:
                _show(item[0], out, budget, depth + 1)
                out.append(": ")
                budget[0] -= 2
                _show(item[1], out, budget, depth + 1)
            else:
                _show(item, out, budget, depth + 1)
        out.append("}" if is_map else "]")
        budget[0] -= 1
        return
    elif isinstance(value, (dict, list, tuple, set, frozenset)):
        piece = "{...}" if isinstance(value, dict) else "[...]"
    else:
        piece = repr(value)[:SHOW_MAX + 3]
    out.append(piece)
    budget[0] -= len(piece)


class Ctx:
    """Where problems go while one file is validated."""

    def __init__(self, file: str):
        self.file = file
        self.problems: list[Problem] = []

    def err(self, line: int, path: str, message: str) -> None:
        self.problems.append(Problem(self.file, line, path, message))

    # -- structure ------------------------------------------------------------------------------------------
    def mapping(self, value: Any, path: str, line: int) -> LMap | None:
        if isinstance(value, LMap):
            return value
        self.err(line_of(value, line), path, f"must be a mapping (got {show(value)})")
        return None

    def keys(self, m: LMap, path: str, allowed: set[str] | dict[str, Any], required: tuple[str, ...] = ()) -> None:
        """Unknown keys are errors with a did-you-mean; required keys must be present."""
        for key in m:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), [str(a) for a in allowed], n=1, cutoff=0.6)
                hint = f"; did you mean '{close[0]}'?" if close else f"; valid keys: {', '.join(sorted(allowed))}"
                self.err(m.key_line(key), join(path, key), f"unknown key{hint}")
        for key in required:
            if key not in m:
                self.err(m.line, join(path, key), "is required")

    def seq(self, m: LMap, key: str, path: str, single_ok: bool = True) -> list[tuple[Any, int, str]]:
        """A list value as (item, line, path) triples; a lone scalar counts as a one-item list when allowed.

        A missing key or ``null`` is an empty list.
        """
        value = m.get(key)
        p = join(path, key)
        if value is None:
            return []
        if isinstance(value, LSeq):
            return [(v, value.item_line(i), index(p, i)) for i, v in enumerate(value)]
        if single_ok and not isinstance(value, (LMap, list)):
            return [(value, m.value_line(key), p)]
        self.err(m.value_line(key), p, f"must be a list (got {show(value)})")
        return []

    # -- scalars --------------------------------------------------------------------------------------------
    def get(self, m: LMap, key: str, path: str, kind: type[T] | tuple[type, ...], default: Any = MISSING,
            what: str | None = None) -> Any:
        """``m[key]`` when it is a ``kind``; a missing key or ``null`` gives ``default`` (MISSING: required)."""
        name = what or (kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind))
        if key not in m:
            if default is MISSING:
                self.err(m.line, join(path, key), "is required")
                return None
            return default
        value = m[key]
        if value is None and default is not MISSING:
            return default
        ok = isinstance(value, kind) and not (isinstance(value, bool) and bool not in _kinds(kind))
        if not ok:
            self.err(m.value_line(key), join(path, key), f"must be {_article(name)} (got {show(value)})")
            return default if default is not MISSING else None
        return value

    def integer(self, m: LMap, key: str, path: str, default: Any = MISSING, lo: int | None = None,
                hi: int | None = None) -> Any:
        value = self.get(m, key, path, int, default, "an integer")
        if isinstance(value, int) and not _within(value, lo, hi) and value is m.get(key):
            self.err(m.value_line(key), join(path, key), f"must be {_bounds(lo, hi)} (got {show(value)})")
            return default if default is not MISSING else None
        return value

    def number(self, m: LMap, key: str, path: str, default: Any = MISSING, lo: float | None = None,
               hi: float | None = None) -> Any:
        value = self.get(m, key, path, (int, float), default, "a number")
        if isinstance(value, (int, float)) and not _within(value, lo, hi) and value is m.get(key):
            self.err(m.value_line(key), join(path, key), f"must be {_bounds(lo, hi)} (got {show(value)})")
            return default if default is not MISSING else None
        return float(value) if value is not None else None

    def string(self, m: LMap, key: str, path: str, default: Any = MISSING) -> Any:
        value = m.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)  # e.g. `aws_region: 1` is odd but unambiguous
        return self.get(m, key, path, str, default, "a string")

    def choice(self, m: LMap, key: str, path: str, options: list[str], default: Any = MISSING) -> Any:
        """One of ``options`` (strings); anything else is a problem naming the options and the closest one."""
        if key not in m or (m[key] is None and default is not MISSING):
            return self.get(m, key, path, str, default)
        value = m[key]
        if isinstance(value, str) and value in options:
            return value
        close = difflib.get_close_matches(value, options, n=1, cutoff=0.6) if isinstance(value, str) else []
        hint = f"; did you mean '{close[0]}'?" if close else ""
        self.err(m.value_line(key), join(path, key), f"must be one of {', '.join(options)}{hint} (got {show(value)})")
        return default if default is not MISSING else None

    def address(self, value: Any, line: int, path: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        """An IPv4 or IPv6 address written as a string (no scope such as ``%eth0``: that is no DNS data)."""
        try:
            addr = ipaddress.ip_address(value.strip()) if isinstance(value, str) else _raise()
            if getattr(addr, "scope_id", None):
                _raise()
            return addr
        except ValueError:
            self.err(line, path, f"must be an IPv4 or IPv6 address (got {show(value)})")
            return None

    def parsed(self, fn: Callable[[], T], line: int, path: str, errors: tuple[type[Exception], ...]) -> T | None:
        try:
            return fn()
        except errors as e:
            self.err(line, path, str(e))
            return None


def _raise() -> Any:
    raise ValueError


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _article(name: str) -> str:
    """``integer`` -> ``an integer``; phrases that are not a noun (``true or false``) stay as they are."""
    if name.startswith(("a ", "an ", "true ", "one ")):
        return name
    return ("an " if name[0] in "aeiou" else "a ") + name


def _within(value: float, lo: float | None, hi: float | None) -> bool:
    return (lo is None or value >= lo) and (hi is None or value <= hi)


def _bounds(lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f"between {lo} and {hi}"
    return f"at least {lo}" if lo is not None else f"at most {hi}"
