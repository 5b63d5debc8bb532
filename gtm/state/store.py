"""Where overrides live, shared by every node and the CLI: one small interface, two backends (``STORES``).

A store holds a version number and the overrides; every write names the version it was based on and fails
with :class:`ConflictError` when someone else wrote in between (compare-and-swap), so two operators writing
at once never lose an update: :func:`update` re-reads and re-applies the change. Every write also appends an
audit entry (who, what, why, when), never rewritten.

* ``file`` (:class:`FileStore`): one JSON file, for one node or nodes sharing a disk. Writes take an
  exclusive lock beside it, write a temporary file, fsync it, rename it over the store and fsync the
  directory: a reader sees the old or the new store, never half of one. The audit log is a JSON-lines file
  beside it (``<store>.audit.jsonl``), appended and fsynced.
* ``dynamodb`` (:mod:`gtm.state.dynamodb`): a DynamoDB table, for nodes on several machines and regions.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Protocol, Sequence

from gtm.errors import GtmError
from gtm.files import open_no_follow, write_atomic
from gtm.model import Override, StoreSettings

log = logging.getLogger(__name__)


class StoreError(GtmError):
    """The store cannot be read or written (a one-line reason)."""


class ConflictError(StoreError):
    """Someone else wrote the store since it was read."""


@dataclass(frozen=True)
class AuditEntry:
    """One change of the store, as the audit log keeps it: when, what, who, why; ``forced`` when ``--force``
    went past a guardrail, the guardrails' ``notes``, ``via`` the command that wrote it (drill, failover,
    restore; empty for ``gtm override``) and the store ``version`` the write made (0 until written)."""

    at: float
    action: str
    author: str
    reason: str = ""
    overrides: tuple[Override, ...] = ()
    forced: bool = False
    notes: tuple[str, ...] = ()
    via: str = ""
    version: int = 0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"at": self.at, "action": self.action, "author": self.author, "reason": self.reason,
                               "overrides": [o.to_json() for o in self.overrides], "forced": self.forced,
                               "notes": list(self.notes), "version": self.version}
        if self.via:
            out["via"] = self.via
        return out

    @classmethod
    def from_json(cls, data: Any) -> "AuditEntry | None":
        """An entry from the log, or None for something that is not one (a torn or foreign line). Entries of
        older releases lack some keys: those read as their defaults."""
        if not isinstance(data, dict) or not isinstance(data.get("action"), str):
            return None
        overrides = []
        for o in data.get("overrides") or []:
            try:
                overrides.append(Override.from_json(o))
            except (ValueError, TypeError, KeyError, AttributeError):
                continue  # an override this release cannot read: the rest of the entry still tells what happened
        try:
            return cls(at=float(data.get("at") or 0), action=data["action"], author=str(data.get("author", "")),
                       reason=str(data.get("reason") or ""), overrides=tuple(overrides),
                       forced=bool(data.get("forced", False)), notes=tuple(str(n) for n in data.get("notes") or ()),
                       via=str(data.get("via") or ""), version=int(data.get("version") or 0))
        except (TypeError, ValueError):
            return None

    def describe(self) -> str:
        """One line for ``gtm override list --history``."""
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.at))
        what = ", ".join(o.describe() for o in self.overrides)
        via = f" via {self.via}" if self.via else ""
        forced = " (forced)" if self.forced else ""
        return f"{when}  v{self.version}  {self.action}{via}: {what}{forced}  ({self.author}: {self.reason or '-'})"


@dataclass(frozen=True)
class Stored:
    version: int
    overrides: tuple[Override, ...] = ()


class Store(Protocol):
    def read(self) -> Stored:
        """The current version and overrides (version 0 and none for a store never written)."""

    def token(self) -> Any:
        """Something cheap that changes whenever the store does (nodes poll it)."""

    def write(self, expected: int, overrides: Sequence[Override], audit: AuditEntry) -> int:
        """Replace the overrides if the version is still ``expected``; returns the new version. Raises
        ConflictError when it is not, StoreError when the store cannot be written."""

    def history(self, limit: int = 50) -> list[AuditEntry]:
        """The newest audit entries, oldest first."""


Change = Callable[[Stored], tuple[list[Override], AuditEntry]]


def update(store: Store, change: Change, retries: int = 5) -> tuple[Stored, int]:
    """Read, apply ``change`` (which may raise GtmError to refuse), write; on a conflict read again and
    re-apply, up to ``retries`` times. Returns the new state and how many conflicts were met."""
    conflicts = 0
    while True:
        current = store.read()
        overrides, audit = change(current)
        try:
            version = store.write(current.version, overrides, audit)
            return Stored(version, tuple(overrides)), conflicts
        except ConflictError:
            conflicts += 1
            log.warning("override store changed while writing (conflict %d); reading it again", conflicts)
            if conflicts > retries:
                raise


def decode(text: str, where: str) -> Stored:
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("version"), int):
            raise ValueError("not a gtm override store (no version)")
        return Stored(data["version"], tuple(Override.from_json(o) for o in data.get("overrides", [])))
    except ValueError as e:  # json.JSONDecodeError is a ValueError
        raise StoreError(f"{where}: {e}") from None
    except RecursionError:
        raise StoreError(f"{where}: not a gtm override store (nested too deeply)") from None
    except (TypeError, AttributeError) as e:  # "overrides": null, a number, ...
        raise StoreError(f"{where}: not a gtm override store ({e})") from None


def encode(version: int, overrides: Sequence[Override]) -> str:
    return json.dumps({"version": version, "overrides": [o.to_json() for o in overrides]}, indent=1) + "\n"


class FileStore:
    def __init__(self, path: str):
        self.path = path
        self.lock_path = path + ".lock"
        self.audit_path = path + ".audit.jsonl"

    def read(self) -> Stored:
        try:
            with open(self.path, encoding="utf-8") as fh:
                return decode(fh.read(), self.path)
        except FileNotFoundError:
            return Stored(0)
        except OSError as e:
            raise StoreError(f"cannot read the override store {self.path}: {e.strerror}") from None

    def token(self) -> Any:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        except OSError as e:
            raise StoreError(f"cannot read the override store {self.path}: {e.strerror}") from None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def write(self, expected: int, overrides: Sequence[Override], audit: AuditEntry) -> int:
        directory = os.path.dirname(os.path.abspath(self.path))
        try:
            os.makedirs(directory, exist_ok=True)
            lock = open_no_follow(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            with os.fdopen(lock, "r+b") as lock_file:
                fcntl.flock(lock_file, fcntl.LOCK_EX)
                current = self.read()
                if current.version != expected:
                    raise ConflictError(f"the override store {self.path} changed (version {current.version}, "
                                        f"expected {expected})")
                version = expected + 1
                write_atomic(self.path, encode(version, overrides).encode(), 0o644)
                try:
                    self._audit(audit, version)
                except OSError as e:  # the new store is in place: that write happened; say the audit did not
                    log.error("override store %s version %d written, but its audit entry was not: %s",
                              self.path, version, e)
                return version
        except OSError as e:
            raise StoreError(f"cannot write the override store {self.path}: {e.strerror or e}") from None

    def _audit(self, audit: AuditEntry, version: int) -> None:
        with os.fdopen(open_no_follow(self.audit_path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644), "a+b") as fh:
            # A crash may have left a torn last line: start on a line of our own.
            fh.seek(0, os.SEEK_END)
            torn = False
            if fh.tell():
                fh.seek(-1, os.SEEK_END)
                torn = fh.read(1) != b"\n"
            fh.write((b"\n" if torn else b"") +
                     (json.dumps(replace(audit, version=version).to_json(), sort_keys=True) + "\n").encode())
            fh.flush()
            os.fsync(fh.fileno())

    def history(self, limit: int = 50) -> list[AuditEntry]:
        try:
            with open(self.audit_path, encoding="utf-8", errors="replace") as fh:
                lines = fh.readlines()
        except FileNotFoundError:
            return []
        except OSError as e:
            raise StoreError(f"cannot read {self.audit_path}: {e.strerror}") from None
        out = []
        for line in lines:
            try:
                entry = AuditEntry.from_json(json.loads(line))
            except (ValueError, RecursionError):
                continue  # a line torn by a crash: skipped, never rewritten
            if entry is not None:
                out.append(entry)
        return out[-limit:]


def _dynamodb(settings: StoreSettings) -> Store:
    from gtm.state.dynamodb import DynamoStore  # boto3 only when asked for

    return DynamoStore(settings.table, settings.aws_region)


# One shape per extension point: store kind -> factory.
STORES: dict[str, Callable[[StoreSettings], Store]] = {
    "file": lambda s: FileStore(s.path or ".gtm-overrides.json"),
    "dynamodb": _dynamodb,
}


def open_store(settings: StoreSettings) -> Store:
    try:
        return STORES[settings.kind](settings)
    except KeyError:
        raise GtmError(f"unknown override store {settings.kind!r}; known: {', '.join(STORES)}") from None


def audit_entry(action: str, overrides: Sequence[Override], author: str, reason: str, *, forced: bool = False,
                notes: Sequence[str] = (), via: str = "", at: float | None = None) -> AuditEntry:
    return AuditEntry(time.time() if at is None else at, action, author, reason, tuple(overrides), forced,
                      tuple(notes), via)
