"""The error hierarchy of gtm.

Every error a user can cause derives from :class:`GtmError`. Configuration problems are collected, never
raised one at a time: :class:`ConfigError` carries the full list so that a user fixes everything in one pass.
"""
from __future__ import annotations

import json
import logging
import os
import time
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


class UsageError(GtmError):
    """A bad value on the command line (an unknown region, a malformed duration, ...): exit 2, as argparse's
    own errors, where an error met while running is exit 1."""


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


class JsonLines(logging.Formatter):
    """One JSON object a line (``--log-format json``): time (ISO 8601, UTC), level, logger, process (its
    title, e.g. ``worker 1``), message, and the traceback when there is one."""

    def __init__(self, process: str = "") -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        out = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
               "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if self.process:
            out["process"] = self.process
        if record.exc_info:
            out["traceback"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


LOG_FORMAT_ENV = "GTM_LOG_FORMAT"  # "json": worker processes log as their control process does


def one_line_logs(process: str = "") -> None:
    """Every handler of the root logger escapes control characters in messages; with ``GTM_LOG_FORMAT=json``
    (set by ``--log-format json``) they write JSON lines."""
    json_lines = os.environ.get(LOG_FORMAT_ENV) == "json"
    for handler in logging.getLogger().handlers:
        handler.addFilter(OneLine())
        if json_lines:
            handler.setFormatter(JsonLines(process))
