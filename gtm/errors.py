"""The error hierarchy of gtm.

Every error a user can cause derives from :class:`GtmError`. Configuration problems are collected, never
raised one at a time: :class:`ConfigError` carries the full list so that a user fixes everything in one pass.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import IntEnum


class Exit(IntEnum):
    """The exit codes of every gtm command (documented in the README and ``docs/drills.md``)."""

    OK = 0
    FAIL = 1                  # an error (config, IO, a failed apply); the message says which
    USAGE = 2                 # bad arguments
    REFUSED = 3               # a guardrail or precheck said no: nothing was changed
    VERIFICATION_FAILED = 4   # a drill's change did not show in the answers in time (rolled back)
    INTERRUPTED = 5           # Ctrl-C or SIGTERM during a drill (rolled back)


class GtmError(Exception):
    """Root of gtm's errors; the CLI prints these as one line (no traceback without ``--debug``)."""


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a configuration: where (file, 1-based line, dotted field path) and what."""

    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"
        return printable(text)  # one problem, one line


class ConfigError(GtmError):
    """A configuration that cannot be used; ``problems`` lists every problem found, in file/line order."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(set(problems), key=lambda p: (p.file, p.line, p.path, p.message))
        super().__init__("\n".join(str(p) for p in self.problems))


class UnsafePlan(GtmError):
    """A change that would leave a service with no healthy region (refused unless forced)."""


class ApplyError(GtmError):
    """A plan could not be applied completely; the next plan shows what remains."""


def printable(text: str) -> str:
    """``text`` with control characters shown escaped (input from outside cannot break a line in two)."""
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class OneLine(logging.Filter):
    """A log record's message with control characters escaped: a newline in a client's input (a report's
    detail, a name) cannot forge a log line. Tracebacks are left as they are."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if not message.isprintable():
            record.msg, record.args = printable(message), ()
        return True


def one_line_logs() -> None:
    """Every handler of the root logger escapes control characters in messages."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(OneLine())
