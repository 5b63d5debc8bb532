"""gtm.files: atomic writes through unguessable temporary files, opens that follow no symlink, permission checks;
and the node's own files written through them (findings 10 and 11 of the hardening issue)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from gtm.control.files import warn_exposed
from gtm.files import exposure, open_no_follow, write_atomic
from gtm.model import AdminSettings, Config, HealthSettings, StoreSettings
from gtm.state.store import FileStore, StoreError, audit_entry


def test_write_atomic_replaces_the_file_keeps_its_mode_and_leaves_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    write_atomic(str(target), b"one")
    assert target.read_bytes() == b"one" and (target.stat().st_mode & 0o777) == 0o600
    target.chmod(0o640)
    write_atomic(str(target), b"two")
    assert target.read_bytes() == b"two" and (target.stat().st_mode & 0o777) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_a_symlink_planted_at_the_old_temporary_names_is_never_written_through(tmp_path: Path) -> None:
    """Before: the health state went through ``<path>.tmp`` and the store through ``<path>.tmp<pid>``, both
    opened following symlinks: a local user could make the node overwrite any file it may write."""
    victim = tmp_path / "victim"
    victim.write_text("precious")
    for name in ("state.json.tmp", f"overrides.json.tmp{os.getpid()}"):
        (tmp_path / name).symlink_to(victim)
    write_atomic(str(tmp_path / "state.json"), b"{}")
    store = FileStore(str(tmp_path / "overrides.json"))
    store.write(0, [], audit_entry("clear", [], "t", ""))
    assert victim.read_text() == "precious"


def test_the_store_refuses_a_symlinked_lock_or_audit_file(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    store = FileStore(str(tmp_path / "overrides.json"))
    (tmp_path / "overrides.json.lock").symlink_to(victim)
    with pytest.raises(StoreError, match="cannot write the override store"):
        store.write(0, [], audit_entry("clear", [], "t", ""))
    assert victim.read_text() == "precious"
    with pytest.raises(OSError):
        open_no_follow(str(tmp_path / "overrides.json.lock"), os.O_RDWR)


def test_exposed_secrets_and_stores_are_named(tmp_path: Path) -> None:
    keys, token, store = tmp_path / "keys.txt", tmp_path / "token.txt", tmp_path / "overrides.json"
    for f in (keys, token, store):
        f.write_text("x")
        f.chmod(0o600)
    config = Config(health=HealthSettings(keys_file=str(keys)), admin=AdminSettings(token_file=str(token)),
                    overrides=StoreSettings(path=str(store)))
    assert warn_exposed(config) == []
    keys.chmod(0o644)
    store.chmod(0o666)
    assert warn_exposed(config) == [f"{keys} is readable by others (mode 644; chmod o-r)",
                                    f"{store} is writable by others (mode 666; chmod o-w)"]
    store.chmod(0o644)
    assert exposure(str(store), secret=False) is None  # a store may be read by others
    tmp_path.chmod(0o777)
    try:
        assert exposure(str(store), secret=False) == f"the directory of {store} is writable by others: they can " \
                                                     "replace the file"
    finally:
        tmp_path.chmod(0o755)


def test_debug_logging_leaves_the_aws_sdk_and_http_loggers_at_info(tmp_path: Path) -> None:
    """Before: ``--debug`` logged botocore's requests, with the session token among the headers."""
    import logging

    from gtm.cli import main

    root = Path(__file__).resolve().parents[2]
    before = {name: logging.getLogger(name).level for name in ("botocore", "boto3", "urllib3", "")}
    try:
        assert main(["--debug", "check", str(root / "zones")]) == 0
        for name in ("botocore", "boto3", "urllib3"):
            assert logging.getLogger(name).getEffectiveLevel() == logging.INFO, name
    finally:
        for name, level in before.items():
            logging.getLogger(name).setLevel(level)
