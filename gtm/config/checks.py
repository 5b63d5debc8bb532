"""Typed field readers for validating YAML mappings: every problem is recorded, none raised.

Each reader takes the mapping, the key and the dotted path of the mapping, records a problem naming the
file, line and field when the value is wrong, and returns a usable value (the default) so that validation
goes on and reports every problem in one pass.
"""
from __future__ import annotations

import difflib
import ipaddress
from typing import Any, Callable, TypeVar

from gtm.config.yamlsrc import LMap, LSeq, line_of
from gtm.errors import Problem

T = TypeVar("T")
MISSING: Any = object()


def join(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def show(value: Any) -> str:
    """A value as it appears in messages: short, repr-like."""
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


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
        """A list value as (item, line, path) triples; a lone scalar counts as a one-item list when allowed."""
        value = m.get(key)
        p = join(path, key)
        if value is None:
            return []
        if isinstance(value, LSeq):
            return [(v, value.item_line(i), join(p, i)) for i, v in enumerate(value)]
        if single_ok and not isinstance(value, (LMap, list)):
            return [(value, m.value_line(key), p)]
        self.err(m.value_line(key), p, f"must be a list (got {show(value)})")
        return []

    # -- scalars --------------------------------------------------------------------------------------------
    def get(self, m: LMap, key: str, path: str, kind: type[T] | tuple[type, ...], default: Any = MISSING,
            what: str | None = None) -> Any:
        if key not in m or m[key] is None:
            if default is MISSING:
                self.err(m.line, join(path, key), "is required")
                return None
            return default
        value = m[key]
        ok = isinstance(value, kind) and not (isinstance(value, bool) and kind in (int, float, (int, float)))
        if not ok:
            name = what or (kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind))
            self.err(m.value_line(key), join(path, key), f"must be {_article(name)} (got {show(value)})")
            return default if default is not MISSING else None
        return value

    def integer(self, m: LMap, key: str, path: str, default: Any = MISSING, lo: int | None = None,
                hi: int | None = None) -> Any:
        value = self.get(m, key, path, int, default, "an integer")
        if isinstance(value, int) and key in m and not _within(value, lo, hi):
            self.err(m.value_line(key), join(path, key), f"must be {_bounds(lo, hi)} (got {value})")
            return default if default is not MISSING else None
        return value

    def number(self, m: LMap, key: str, path: str, default: Any = MISSING, lo: float | None = None,
               hi: float | None = None) -> Any:
        value = self.get(m, key, path, (int, float), default, "a number")
        if isinstance(value, (int, float)) and key in m and not _within(value, lo, hi):
            self.err(m.value_line(key), join(path, key), f"must be {_bounds(lo, hi)} (got {value})")
            return default if default is not MISSING else None
        return float(value) if value is not None else None

    def string(self, m: LMap, key: str, path: str, default: Any = MISSING) -> Any:
        value = m.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)  # e.g. `aws_region: 1` is odd but unambiguous
        return self.get(m, key, path, str, default, "a string")

    def choice(self, m: LMap, key: str, path: str, options: list[str], default: Any = MISSING) -> Any:
        value = self.string(m, key, path, default)
        if value is not None and key in m and value not in options:
            close = difflib.get_close_matches(str(value), options, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            self.err(m.value_line(key), join(path, key),
                     f"must be one of {', '.join(options)} (got {show(value)}){hint}")
            return default if default is not MISSING else None
        return value

    def address(self, value: Any, line: int, path: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        try:
            return ipaddress.ip_address(str(value).strip()) if isinstance(value, str) else _raise()
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


def _article(name: str) -> str:
    return name if name.startswith(("a ", "an ")) else ("an " if name[0] in "aeiou" else "a ") + name


def _within(value: float, lo: float | None, hi: float | None) -> bool:
    return (lo is None or value >= lo) and (hi is None or value <= hi)


def _bounds(lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f"between {lo} and {hi}"
    return f"at least {lo}" if lo is not None else f"at most {hi}"
