"""gtm.state.store.FileStore: one JSON file with a version, written by compare-and-swap under a lock through a
temporary file renamed over it, with an append-only JSON-lines audit log beside it; and update()'s retry on
a conflict, with two writers at once."""
from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path

import pytest

from gtm.errors import GtmError
from gtm.model import Override, StoreSettings
from gtm.state.store import (
    AuditEntry, ConflictError, FileStore, Stored, StoreError, audit_entry, decode, encode, open_store, update,
)

DRAIN = Override("d1", "drain", "us-east", reason="maintenance", author="alice", created=1000.0, expires=2800.0)
DOWN = Override("d2", "down", "eu-west", "198.51.100.10", "www", created=1001.0)


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    return FileStore(str(tmp_path / "overrides.json"))


def audit(n: int) -> AuditEntry:
    return audit_entry(f"change {n}", [], "alice", "")


def test_a_store_never_written_is_version_0(store: FileStore) -> None:
    assert store.read() == Stored(0)
    assert store.token() is None
    assert store.history() == []
    assert not os.path.exists(store.path)


def test_write_then_read(store: FileStore) -> None:
    assert store.write(0, [DRAIN, DOWN], audit(1)) == 1
    assert store.read() == Stored(1, (DRAIN, DOWN))
    # a second store object on the same file sees the same
    assert FileStore(store.path).read() == Stored(1, (DRAIN, DOWN))
    data = json.loads(Path(store.path).read_text())
    assert data["version"] == 1 and data["overrides"][1] == DOWN.to_json()


def test_versions_increment(store: FileStore) -> None:
    assert store.write(0, [DRAIN], audit(1)) == 1
    assert store.write(1, [DRAIN, DOWN], audit(2)) == 2
    assert store.write(2, [], audit(3)) == 3
    assert store.read() == Stored(3, ())


def test_a_stale_write_is_a_conflict_and_changes_nothing(store: FileStore) -> None:
    store.write(0, [DRAIN], audit(1))
    before = Path(store.path).read_bytes()
    with pytest.raises(ConflictError) as info:
        store.write(0, [DOWN], audit(2))
    assert str(info.value) == f"the override store {store.path} changed (version 1, expected 0)"
    with pytest.raises(ConflictError):
        store.write(2, [DOWN], audit(3))  # ahead of the store: no less a conflict
    assert isinstance(info.value, StoreError)
    assert Path(store.path).read_bytes() == before
    assert store.read() == Stored(1, (DRAIN,))
    assert [e.version for e in store.history()] == [1]  # a refused write is not audited


def test_two_writers_at_once_both_land(store: FileStore) -> None:
    """Both read version 0 before either writes: one write conflicts, update() re-reads and re-applies it."""
    barrier = threading.Barrier(2, timeout=10)
    results: dict[str, tuple[Stored, int]] = {}
    errors: list[BaseException] = []

    def writer(mine: Override) -> None:
        calls = 0

        def change(current: Stored) -> tuple[list[Override], AuditEntry]:
            nonlocal calls
            calls += 1
            if calls == 1:
                barrier.wait()  # both have read before either writes
            return [o for o in current.overrides if o.id != mine.id] + [mine], audit_entry(mine.id, [mine], "alice", "")

        try:
            results[mine.id] = update(store, change)
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(o,)) for o in (DRAIN, DOWN)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert not errors, errors
    final = store.read()
    assert final.version == 2
    assert {o.id for o in final.overrides} == {"d1", "d2"}
    assert sum(conflicts for _, conflicts in results.values()) >= 1
    assert sorted(stored.version for stored, _ in results.values()) == [1, 2]
    assert [e.version for e in store.history()] == [1, 2]


def test_update_gives_up_after_its_retries(store: FileStore) -> None:
    def change(current: Stored) -> tuple[list[Override], AuditEntry]:
        # someone else writes between every read and write
        store.write(store.read().version, list(current.overrides), audit_entry("interloper", [], "eve", ""))
        return [DRAIN], audit_entry("mine", [DRAIN], "alice", "")

    with pytest.raises(ConflictError):
        update(store, change, retries=2)
    assert store.read() == Stored(3, ())  # three interloping writes, none of mine


def test_update_passes_a_refusal_through(store: FileStore) -> None:
    def change(current: Stored) -> tuple[list[Override], AuditEntry]:
        raise GtmError("refused")

    with pytest.raises(GtmError, match="^refused$"):
        update(store, change)
    assert store.read() == Stored(0)


def test_every_write_appends_one_audit_line_with_its_version(store: FileStore) -> None:
    for n in range(5):
        store.write(n, [DRAIN] if n % 2 else [], audit_entry("drain", [DRAIN], "alice", f"try {n}", via="drill",
                                                             notes=["a note"]))
    lines = Path(store.audit_path).read_text().splitlines()
    assert len(lines) == 5
    raw = [json.loads(line) for line in lines]
    assert [e["version"] for e in raw] == [1, 2, 3, 4, 5]
    assert [e["reason"] for e in raw] == [f"try {n}" for n in range(5)]
    assert raw[0]["overrides"] == [DRAIN.to_json()] and raw[0]["via"] == "drill" and raw[0]["notes"] == ["a note"]
    assert raw[0]["author"] == "alice" and raw[0]["action"] == "drain" and raw[0]["forced"] is False
    entries = [AuditEntry.from_json(e) for e in raw]
    assert entries[0] == AuditEntry(entries[0].at, "drain", "alice", "try 0", (DRAIN,), False, ("a note",), "drill", 1)
    assert store.history(2) == entries[3:]
    assert store.history() == entries
    assert store.history(50) == entries


def test_a_torn_last_audit_line_is_skipped(store: FileStore) -> None:
    for n in range(3):
        store.write(n, [], audit(n))
    with open(store.audit_path, "a", encoding="utf-8") as fh:
        fh.write('{"action": "change 3", "auth')  # a crash in the middle of an append
    assert [e.version for e in store.history()] == [1, 2, 3]


def test_the_first_write_after_a_torn_audit_line_is_still_audited(store: FileStore) -> None:
    store.write(0, [], audit(0))
    with open(store.audit_path, "a", encoding="utf-8") as fh:
        fh.write('{"action": "torn", "auth')
    store.write(1, [DRAIN], audit(1))
    assert [e.version for e in store.history()] == [1, 2]


def test_a_corrupt_store_is_an_error_naming_it(store: FileStore) -> None:
    Path(store.path).write_text('{"version": 3, "overrides": [')
    with pytest.raises(StoreError) as info:
        store.read()
    assert str(info.value).startswith(f"{store.path}: ")
    with pytest.raises(StoreError, match=f"^{re.escape(store.path)}: "):
        store.write(3, [], audit(1))
    Path(store.path).write_text('{"overrides": []}')
    with pytest.raises(StoreError) as info:
        store.read()
    assert str(info.value) == f"{store.path}: not a gtm override store (no version)"
    Path(store.path).write_text('{"version": 1, "overrides": [{"id": "x", "action": "pause", "region": "r"}]}')
    with pytest.raises(StoreError) as info:
        store.read()
    assert str(info.value) == f"{store.path}: override action must be one of drain, down, up (got 'pause')"


def test_an_unwritable_place_is_a_store_error(tmp_path: Path) -> None:
    # Tests may run as root, which ignores permission bits: a regular file where a directory must be fails for all.
    (tmp_path / "not-a-dir").write_text("")
    store = FileStore(str(tmp_path / "not-a-dir" / "sub" / "overrides.json"))
    with pytest.raises(StoreError) as info:
        store.write(0, [DRAIN], audit(1))
    assert str(info.value).startswith(f"cannot write the override store {store.path}: ")
    assert not isinstance(info.value, ConflictError)
    with pytest.raises(StoreError, match="^cannot read the override store "):
        FileStore(str(tmp_path / "not-a-dir" / "overrides.json")).read()


def test_the_token_changes_with_every_write(store: FileStore) -> None:
    store.write(0, [DRAIN], audit(1))
    first = store.token()
    assert first is not None and store.token() == first  # cheap and stable while nothing changes
    store.write(1, [DRAIN], audit(2))  # the same overrides, the same size: still a new token
    second = store.token()
    assert second != first
    store.write(2, [], audit(3))
    assert store.token() not in (first, second)


def test_no_temporary_file_is_left_behind(store: FileStore, tmp_path: Path) -> None:
    for n in range(3):
        store.write(n, [DRAIN, DOWN][: n + 1], audit(n))
    with pytest.raises(ConflictError):
        store.write(0, [], audit(9))
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["overrides.json", "overrides.json.audit.jsonl", "overrides.json.lock"]
    assert not [n for n in names if ".tmp" in n]
    assert decode(Path(store.path).read_text(), store.path) == Stored(3, (DRAIN, DOWN))


def test_the_store_directory_is_made_when_missing(tmp_path: Path) -> None:
    store = FileStore(str(tmp_path / "a" / "b" / "overrides.json"))
    assert store.write(0, [DOWN], audit(1)) == 1
    assert store.read() == Stored(1, (DOWN,))


def test_encode_and_decode_round_trip() -> None:
    text = encode(7, [DRAIN, DOWN])
    assert text.endswith("\n")
    assert decode(text, "x") == Stored(7, (DRAIN, DOWN))
    assert "null" not in text  # unset fields are left out
    assert decode('{"version": 0}', "x") == Stored(0)


def test_open_store(tmp_path: Path) -> None:
    path = str(tmp_path / "o.json")
    store = open_store(StoreSettings(kind="file", path=path))
    assert isinstance(store, FileStore) and store.path == path
    with pytest.raises(GtmError) as info:
        open_store(StoreSettings(kind="etcd"))
    assert str(info.value) == "unknown override store 'etcd'; known: file, dynamodb"


@pytest.mark.parametrize("body", ['{"version": 1, "overrides": null}', '{"version": 1, "overrides": 7}',
                                  '{"version": 1, "overrides": [7]}'])
def test_a_store_of_the_wrong_shape_is_a_store_error(store: FileStore, body: str) -> None:
    Path(store.path).write_text(body)
    with pytest.raises(StoreError, match=f"^{re.escape(store.path)}: "):
        store.read()


def test_audit_entries_of_older_releases_and_foreign_lines_read_leniently(store: FileStore) -> None:
    """Entries written before the typed entry lack forced/notes/via; a line that is not an entry is skipped."""
    old = {"at": 1700000000.5, "action": "drain", "author": "bob@h", "reason": "", "version": 7, "drill": "d-1",
           "overrides": [DRAIN.to_json(), {"id": "x", "action": "drain"}]}  # the second: unreadable, left out
    Path(store.audit_path).write_text(json.dumps(old) + "\n" + json.dumps([1, 2]) + "\n" + '{"no": "action"}\n')
    (entry,) = store.history()
    assert entry == AuditEntry(1700000000.5, "drain", "bob@h", "", (DRAIN,), False, (), "", 7)
    assert entry.describe().endswith(f"v7  drain: {DRAIN.describe()}  (bob@h: -)")


def test_a_store_nested_too_deeply_is_an_error_naming_it_not_a_crash(store: FileStore) -> None:
    Path(store.path).write_text('{"version": 1, "overrides": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(StoreError, match="nested too deeply"):
        store.read()
    Path(store.audit_path).write_text("[" * 100_000 + "\n")
    assert store.history() == []
