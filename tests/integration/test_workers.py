"""`gtm serve --workers N`: worker processes on SO_REUSEPORT sockets fed by a control process; a dead worker is
restarted; workers outlive the control process; reloads and overrides reach them; and `--takeover`: 20
restarts under a continuous query stream without a single unanswered query."""
from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import dns.exception
import dns.message
import dns.query
import pytest

from tests.support.stream import QueryStream

from tests.conftest import ROOT
from tests.support.dns_server import ZONES

EU, US = "198.51.100.10", "192.0.2.10"  # www's first endpoints (failover eu-west, us-east)


class Server:
    """A `gtm serve --workers` process (the control process) and its port, admin URL and log."""

    def __init__(self, zones: Path, *extra: str, port: int = 0, admin: str = "127.0.0.1:0", log_format: str = "text"):
        self.lines: list[str] = []
        ready = zones.parent / f"ready-{time.monotonic_ns()}.json"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gtm.cli", "--log-format", log_format, "serve", "--listen", f"127.0.0.1:{port}",
             "--admin-listen",
             admin, "--ready-file", str(ready), *extra, str(zones)], cwd=ROOT, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + 30
        try:
            while not (ready.exists() and json.loads(ready.read_text())["serving"]):  # said by the server itself
                assert self.proc.poll() is None and time.monotonic() < deadline, \
                    "gtm serve did not start:\n" + "\n".join(self.lines)
                time.sleep(0.02)
        except BaseException:
            self.stop()  # never leave a half-started server (and its workers) behind
            raise
        info = json.loads(ready.read_text())
        self.port = int(info["dns"][0].rpartition(":")[2])
        self.admin = info["admin"]

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while time.monotonic() < deadline:
            for line in list(self.lines):
                m = rx.search(line)
                if m:
                    return m
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError(f"no {pattern!r} in the log:\n" + "\n".join(self.lines))

    def workers(self) -> list[int]:
        out = subprocess.run(["ps", "--ppid", str(self.proc.pid), "-o", "pid="], capture_output=True, text=True)
        return [int(x) for x in out.stdout.split()]

    def metrics(self) -> str:
        with urllib.request.urlopen(self.admin + "/metrics", timeout=5) as r:
            return r.read().decode()

    def stop(self) -> None:
        children = self.workers()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        for pid in children:  # normally gone with it; never leave one behind
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture
def zones(tmp_path: Path) -> Path:
    shutil.copytree(ZONES, tmp_path / "zones")
    return tmp_path / "zones"


@pytest.fixture
def server(zones: Path) -> Iterator[Server]:
    s = Server(zones, "--workers", "2")
    try:
        yield s
    finally:
        s.stop()


def ask(port: int, name: str = "www.example.com", tcp: bool = False, timeout: float = 2.0) -> list[str]:
    q = dns.message.make_query(name, "A")
    r = (dns.query.tcp if tcp else dns.query.udp)(q, "127.0.0.1", port=port, timeout=timeout)
    return sorted(rd.address for rrset in r.answer for rd in rrset if hasattr(rd, "address"))


def until(what: str, check, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout} s")


def test_workers_answer_and_report_their_counts(server: Server) -> None:
    assert len(server.workers()) == 2
    for i in range(40):
        assert EU in ask(server.port, tcp=i % 4 == 0)
    until("the workers' counts reach /metrics", lambda: re.search(
        r'gtm_dns_queries_total\{qtype="A",rcode="NOERROR",zone="example.com."\} 40\.0', server.metrics()))
    assert 'gtm_workers{state="running"} 2.0' in server.metrics()


def test_a_killed_worker_is_restarted_and_queries_keep_being_answered(server: Server) -> None:
    first = server.workers()
    os.kill(first[0], signal.SIGKILL)
    unanswered = 0
    for _ in range(50):  # with a resolver's retry: the dead worker's socket stays with the pool
        try:
            ask(server.port, timeout=0.5)
        except dns.exception.Timeout:
            unanswered += 1
            ask(server.port, timeout=2.0)
        time.sleep(0.01)
    until("a new worker", lambda: len(server.workers()) == 2 and first[0] not in server.workers())
    server.wait(r"worker 0 \(pid \d+\) exited with -9; starting it again")
    assert "gtm_worker_restarts_total 1.0" in server.metrics()
    assert EU in ask(server.port)


def healthz(server: Server) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(server.admin + "/healthz", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_processes_have_readable_titles_and_log_json_lines_when_asked(zones: Path) -> None:
    """Before: workers showed in ps as `python3 -m gtm.workers 0 18 14,13 2 20`, and there were no JSON logs."""
    s = Server(zones, "--workers", "2", log_format="json")
    try:
        def titles() -> dict[int, str]:
            return {pid: subprocess.run(["ps", "-o", "args=", "-p", str(pid)], capture_output=True,
                                        text=True).stdout.strip() for pid in [s.proc.pid, *s.workers()]}

        until("the workers are titled", lambda: sorted(t for p, t in titles().items() if p != s.proc.pid)
              == ["gtm: worker 0", "gtm: worker 1"])
        assert titles()[s.proc.pid] == "gtm: serve (2 workers)"
        assert EU in ask(s.port)
        s.proc.send_signal(signal.SIGHUP)  # the workers log the new generation
        s.wait(r'generation 2 answering.*"process": "worker 1"')
        s.wait(r'generation 2 answering.*"process": "worker 0"')
    finally:
        s.stop()
    records = [json.loads(line) for line in s.lines if line.startswith("{")]
    assert len(records) == len([line for line in s.lines if line.strip()]), s.lines  # every line is JSON
    assert {r["process"] for r in records if "process" in r} == {"worker 0", "worker 1"}
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert any(r["message"].startswith("serving ") and r["logger"] == "gtm.runtime" for r in records)


def test_a_worker_that_cannot_be_restarted_is_retried_and_its_sockets_closed_meanwhile(server: Server) -> None:
    """Before: a restart that failed (descriptors exhausted) was never tried again, the dead worker's sockets
    stayed open and took their share of the traffic into a queue nobody read (42 of 100 UDP answered, 21 of 40
    TCP connections hung), and /healthz said 200. The control process is given no descriptor to spare (its
    RLIMIT_NOFILE set to what it has open), so the restart fails for real."""
    pid = server.proc.pid
    soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    first = server.workers()
    try:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (len(os.listdir(f"/proc/{pid}/fd")), hard))
        os.kill(first[0], signal.SIGKILL)
        server.wait(r"could not start worker \d \(.*Too many open files.*\); its sockets are closed")
        answered = 0
        for i in range(100):  # no retry: each query once, as a client that gives up after 0.5 s would
            try:
                answered += EU in ask(server.port, tcp=i % 5 == 0, timeout=0.5)
            except (dns.exception.Timeout, OSError):
                pass
        assert answered == 100
        code, text = healthz(server)
        assert code == 503 and text.startswith("degraded: 1 of 2 workers running"), (code, text)
        server.wait(r"could not start worker \d .*tried again in 1\.0 s")  # it keeps trying, with backoff
    finally:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
    until("the worker is back", lambda: len(server.workers()) == 2, timeout=10)
    until("healthz is 200 again", lambda: healthz(server) == (200, "ok\n"), timeout=5)
    for i in range(40):
        assert EU in ask(server.port, tcp=i % 4 == 0)


def running(pid: int) -> bool:
    """Whether ``pid`` runs (an exited process its parent has not reaped yet, a zombie, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_orphaned_workers_stop_within_seconds_and_no_instance_starts_beside_others(zones: Path) -> None:
    """Before: workers whose control process died kept answering from their last table for 600 s, and a new
    instance bound beside them (SO_REUSEPORT, same user): after a drain, 51 of 100 answers still named the
    drained region. Now they answer for ORPHAN_GRACE (3 s) and stop; a new instance on the same address
    refuses to start beside a running one (unless it takes over) and waits out the orphans."""
    s = Server(zones, "--workers", "2")
    children = s.workers()
    try:
        beside = subprocess.run([sys.executable, "-m", "gtm.cli", "serve", "--listen", f"127.0.0.1:{s.port}",
                                 "--workers", "2", str(zones)], cwd=ROOT, capture_output=True, text=True,
                                timeout=30)
        assert beside.returncode == 1, beside.stderr
        assert f"127.0.0.1 port {s.port} (UDP) is in use by another process: a running gtm instance (restart it " \
               "with --takeover" in beside.stderr, beside.stderr
        assert EU in ask(s.port)  # the running one was not disturbed
        os.kill(s.proc.pid, signal.SIGKILL)
        s.proc.wait(5)
        died = time.monotonic()
        assert EU in ask(s.port)  # the orphans answer for a moment
        # a new instance started now waits for them to go, then serves
        nxt = Server(zones, "--workers", "2", port=s.port)
        try:
            took = time.monotonic() - died
            assert took < 6, took
            # the orphans have let their sockets go (the new instance bound them); their processes end right after
            until("the orphans exit", lambda: not [pid for pid in children if running(pid)], timeout=3)
            assert EU in ask(s.port)
        finally:
            nxt.stop()
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_a_takeover_hands_the_admin_api_over_too(zones: Path, tmp_path: Path) -> None:
    """Before: `--takeover` failed on every node with an admin API: the new instance bound the admin port
    before taking the DNS sockets over and exited with EADDRINUSE."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        admin_port = probe.getsockname()[1]
    path = str(tmp_path / "gtm.sock")
    first = Server(zones, "--workers", "2", "--takeover", path, admin=f"127.0.0.1:{admin_port}")
    servers = [first]
    try:
        second = Server(zones, "--workers", "2", "--takeover", path, port=first.port, admin=f"127.0.0.1:{admin_port}")
        servers.append(second)
        second.wait(r"took over 4 sockets from the previous instance")
        first.proc.wait(15)
        assert first.proc.returncode == 0, "\n".join(first.lines)
        assert second.admin == f"http://127.0.0.1:{admin_port}"
        assert healthz(second) == (200, "ok\n")  # answered by the new instance: the old one is gone
        assert EU in ask(first.port)
    finally:
        for srv in servers:
            srv.stop()


def test_reloads_and_overrides_reach_the_workers(server: Server, zones: Path) -> None:
    from gtm.model import Override
    from gtm.state.store import FileStore, audit_entry

    assert EU in ask(server.port)
    FileStore(str(zones / ".gtm-overrides.json")).write(0, [Override("x", "drain", "eu-west", created=time.time())],
                                                         audit_entry("drain", [], "test", ""))
    until("the drain reaches both workers", lambda: all(EU not in ask(server.port) for _ in range(10)))
    assert US in ask(server.port)
    text = (zones / "example.com.yaml").read_text()
    assert "ttl: 45" in text
    (zones / "example.com.yaml").write_text(text.replace("ttl: 45", "ttl: 46", 1))
    server.proc.send_signal(signal.SIGHUP)
    server.wait(r"reloaded in")

    def ttl() -> int:
        r = dns.query.udp(dns.message.make_query("www.example.com", "A"), "127.0.0.1", port=server.port, timeout=2)
        return int(r.answer[0].ttl)
    until("the new TTL from both workers", lambda: all(ttl() == 46 for _ in range(10)))
    assert US in ask(server.port)  # the drain survives the reload


@pytest.mark.parametrize("udp_io,restarts", [("batched", 10), ("asyncio", 5)])
def test_takeovers_under_a_query_stream_lose_no_query(zones: Path, tmp_path: Path, udp_io: str,
                                                      restarts: int) -> None:
    """A client asks one query after another, as a resolver would (0.5 s timeout, three tries), while the
    server is replaced 10 times (`--takeover`: the new instance gets the very same sockets, the old one stops
    reading once the new one's workers serve), on each UDP path. No query goes unanswered; retries are counted
    and reported."""
    path = str(tmp_path / "gtm.sock")
    current = Server(zones, "--workers", "2", "--takeover", path, "--udp-io", udp_io)
    port = current.port
    servers = [current]
    try:
        with QueryStream(port) as stream:
            for i in range(restarts):
                nxt = Server(zones, "--workers", "2", "--takeover", path, "--udp-io", udp_io, port=port)
                servers.append(nxt)
                nxt.wait(r"took over 4 sockets from the previous instance")
                current.proc.wait(15)
                assert current.proc.returncode == 0, "\n".join(current.lines)
                current = nxt
    finally:
        for s in servers:
            s.stop()
    stats = stream.stats
    assert stream.empty == 0, "an answer without records"
    print(f"takeover ({udp_io}): {stats['queries']} queries across {restarts} restarts, {stats['retried']} retried, "
          f"{stats['failed']} unanswered")
    assert stats["queries"] > 10 * restarts and stats["failed"] == 0, stats


def test_a_takeover_survives_a_previous_instance_that_vanishes(zones: Path, tmp_path: Path) -> None:
    """A stand-in for the previous instance hands over its sockets and then disappears before it is told to
    stop: the new instance serves anyway (review finding: it used to exit on the broken pipe). And one that
    hands over nothing is a one-line error, not a traceback."""
    import socket as socket_module

    from gtm.proc.pool import bind_sockets

    path = str(tmp_path / "old.sock")
    socks, bound = bind_sockets([("127.0.0.1", 0)])
    port = bound[0][1]
    listener = socket_module.socket(socket_module.AF_UNIX, socket_module.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)

    def old_instance(give: bool) -> None:
        conn, _ = listener.accept()
        conn.recv(16)
        if give:
            socket_module.send_fds(conn, [json.dumps({"per_worker": 2}).encode()], [s.fileno() for s in socks])
        conn.close()  # gone before STOP

    t = threading.Thread(target=old_instance, args=(True,))
    t.start()
    new = Server(zones, "--workers", "1", "--takeover", path, port=port)
    try:
        t.join(10)
        new.wait(r"could not tell the previous instance to stop|took over 2 sockets")
        assert new.port == port and EU in ask(port)
        assert new.proc.poll() is None
    finally:
        new.stop()
    for s in socks:
        s.close()

    empty_path = str(tmp_path / "empty.sock")
    listener.close()
    listener = socket_module.socket(socket_module.AF_UNIX, socket_module.SOCK_STREAM)
    listener.bind(empty_path)
    listener.listen(1)
    t = threading.Thread(target=old_instance, args=(False,))
    t.start()
    done = subprocess.run([sys.executable, "-m", "gtm.cli", "serve", "--workers", "1", "--listen", "127.0.0.1:0",
                           "--takeover", empty_path, str(zones)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    t.join(10)
    listener.close()
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines()[-1] == \
        f"gtm: error: --takeover {empty_path}: the running instance handed over no sockets"
