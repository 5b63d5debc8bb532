"""Shared fixtures: a real `gtm serve` process on 127.0.0.1 with a free port, stopped by its PID."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from hypothesis import settings

from gtm.model.net import parse_host_port

# In CI, property tests run a fixed sequence of examples so that a landing is never decided by chance;
# locally they explore new examples on every run.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


class GtmProcess:
    """A running `gtm serve`; `port` is where it answers (UDP and TCP), `log` what it printed so far."""

    def __init__(self, args: list[str], cwd: Path, workers: int = 0):
        """``workers``: answered in-process by default, to keep the suite fast on a small machine (every worker is
        a process to start); the DNS protocol modules and tests/integration/test_workers.py run with workers.
        The server says where it serves in its ``--ready-file`` (no log scraping)."""
        self.lines: list[str] = []
        self._dir = tempfile.mkdtemp(prefix="gtm-test-")
        ready = Path(self._dir) / "ready.json"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gtm.cli", "serve", "--listen", "127.0.0.1:0", "--workers", str(workers),
             "--ready-file", str(ready), *args],
            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.ready_file = ready
        self.wait_ready(lambda info: info["serving"], 30)

    def wait_ready(self, done: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
        """Wait until the server's ready file says ``done``; sets ``ready``, ``addresses``, ``port``, ``admin``."""
        deadline = time.monotonic() + timeout
        while True:
            info = json.loads(self.ready_file.read_text()) if self.ready_file.exists() else None
            if info is not None and done(info):
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("gtm serve did not start:\n" + self.log)
            time.sleep(0.02)
        self.ready: dict[str, Any] = info
        self.addresses: list[tuple[str, int]] = [parse_host_port(a) for a in info["dns"]]
        self.port = self.addresses[0][1] if self.addresses else 0
        self.admin: str | None = info["admin"]
        return info

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def wait_for_log(self, pattern: str, timeout: float = 15.0, start: int = 0) -> str:
        """The first log line (from index `start`) matching `pattern`; fails the test after `timeout`."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while time.monotonic() < deadline:
            for line in self.lines[start:]:
                if rx.search(line):
                    return line
            time.sleep(0.02)
        raise AssertionError(f"no log line matching {pattern!r} within {timeout}s:\n{self.log}")

    def signal(self, sig: int) -> None:
        os.kill(self.proc.pid, sig)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        if getattr(self, "_dir", None):
            shutil.rmtree(self._dir, ignore_errors=True)


def run_gtm(*args: str | Path, cwd: Path = ROOT, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the ``gtm`` command line as a user would (``python -m gtm.cli ARGS``) and collect what it printed:
    the one way the tests run a CLI command to completion."""
    return subprocess.run([sys.executable, "-m", "gtm.cli", *(str(a) for a in args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def serve_checked(args: list[str | Path], cwd: Path = ROOT, workers: int = 0) -> Iterator[GtmProcess]:
    """Body of a module-scoped fixture: one server for a whole module; afterwards its log must show no error
    (the query path drops a packet silently when it fails, so a test accepting silence would miss a crash)."""
    proc = GtmProcess([str(a) for a in args], cwd, workers)
    try:
        yield proc
    finally:
        proc.stop()
    bad = [line for line in proc.lines if " ERROR " in line or "Traceback" in line]
    assert not bad, "the server logged errors:\n" + proc.log


@pytest.fixture
def gtm_server() -> Iterator[Callable[..., GtmProcess]]:
    """Factory: `gtm_server(path, ..., cwd=ROOT)` starts a server on a free port; all are stopped afterwards."""
    started: list[GtmProcess] = []

    def start(*args: str | Path, cwd: Path = ROOT) -> GtmProcess:
        p = GtmProcess([str(a) for a in args], cwd)
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()
