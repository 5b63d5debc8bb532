"""The worker pool: N processes answer queries on the same addresses (SO_REUSEPORT: one UDP socket and one TCP
listener per worker and address, the kernel spreading clients over them); the control process keeps
everything else (config, health, overrides, admin API) and ships each swapped snapshot to them
(``gtm.proc.channel``).

Workers never wait for the control process: the channel is read by the event loop. A worker that dies is
started again by the control process, on the same sockets. When that cannot be done at once (it keeps dying,
or starting it fails: no descriptors left, say), its sockets are closed, so that the kernel spreads the
traffic over the workers that run instead of queueing it where nobody reads, and it is tried again with
backoff (0.5 s doubling up to 30 s) until it starts, on sockets bound anew.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from typing import Any

from gtm.errors import GtmError
from gtm.proc import sharedmem
from gtm.proc.channel import ORPHAN_GRACE, AskReport, Swap, WorkerReport, frame, read_frame

log = logging.getLogger(__name__)

BACKOFF, BACKOFF_CAP = 0.5, 30.0  # seconds before a worker that died again (or failed to start) is tried again


class AddressInUse(GtmError):
    """Another process serves a DNS address this instance was to serve."""


def in_use(listen: list[tuple[str, int]]) -> list[str]:
    """The addresses some other socket is bound to: a socket without SO_REUSEPORT cannot bind beside one (a
    running instance, or the orphaned workers of one, which have it)."""
    taken = []
    for host, port in listen:
        if not port:
            continue  # any free port
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            with socket.socket(family, kind) as probe:
                if kind == socket.SOCK_STREAM:  # (a TIME_WAIT connection of an earlier run is no instance)
                    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                try:
                    probe.bind((host, port))
                except OSError as e:
                    if e.errno == errno.EADDRINUSE:
                        taken.append(f"{host} port {port} ({'UDP' if kind == socket.SOCK_DGRAM else 'TCP'})")
                        break
                    raise
    return taken


async def wait_free(listen: list[tuple[str, int]], timeout: float = ORPHAN_GRACE + 2.0) -> None:
    """Return once no other process serves the addresses of ``listen``; AddressInUse after ``timeout`` seconds
    (the orphaned workers of an instance that died stop within ORPHAN_GRACE)."""
    deadline = time.monotonic() + timeout
    while True:
        taken = in_use(listen)
        if not taken:
            return
        if time.monotonic() >= deadline:
            raise AddressInUse(f"{', '.join(taken)} is in use by another process: a running gtm instance (restart "
                               f"it with --takeover, or stop it first), the workers of one that died (they stop "
                               f"within {ORPHAN_GRACE:g} s of it) or another server")
        await asyncio.sleep(0.2)


def bind_sockets(listen: list[tuple[str, int]]) -> tuple[list[socket.socket], list[tuple[str, int]]]:
    """One UDP socket and one TCP listener per address, with SO_REUSEPORT, on the same port; port 0 takes a
    free port (the same for UDP and TCP). Returns the sockets (UDP, TCP alternating) and the addresses bound."""
    socks: list[socket.socket] = []
    bound = []
    for host, port in listen:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        tcp = socket.socket(family, socket.SOCK_STREAM)
        udp = socket.socket(family, socket.SOCK_DGRAM)
        try:
            for s in (tcp, udp):
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            tcp.bind((host, port))
            port = tcp.getsockname()[1]
            udp.bind((host, port))
            tcp.listen(1024)
            for opt, size in ((socket.SO_RCVBUF, 4 << 20), (socket.SO_SNDBUF, 4 << 20)):
                try:
                    udp.setsockopt(socket.SOL_SOCKET, opt, size)
                except OSError:
                    pass
        except OSError:
            tcp.close()
            udp.close()
            for s in socks:
                s.close()
            raise
        socks += [udp, tcp]
        bound.append((host, port))
    return socks, bound


class Worker:
    """The control process's handle on one worker process."""

    def __init__(self, index: int, proc: subprocess.Popen[bytes], channel: socket.socket, files: socket.socket):
        self.index = index
        self.proc = proc
        self.channel = channel
        self.files = files  # the datagram socket the shared zones' files are passed on
        self.report: dict[str, Any] | None = None
        self.reports_seen = 0
        self.retired = False
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.task: asyncio.Task[None] | None = None


class WorkerPool:
    """Starts, feeds, watches and restarts the workers; sums their reports for the metrics."""

    def __init__(self, count: int, listen: list[tuple[str, int]], settings: dict[str, Any],
                 observe: Any = None, sockets: list[list[socket.socket]] | None = None):
        self.count = max(count, len(sockets or []))  # sockets taken over are all served
        self.listen = listen
        # Per worker, its sockets (UDP, TCP per address). The pool keeps them open for the whole run: a worker
        # that is restarted gets the same ones back (their queues survive), and a takeover hands them all on.
        self.sets: list[list[socket.socket]] = list(sockets or [])
        self.settings = settings          # udp_payload, tcp_idle, tcp_clients, ...
        self.observe = observe            # receives workers' sampled query durations
        self.workers: list[Worker] = []
        self.bound: list[tuple[str, int]] = []
        self.retired: dict[str, Counter[Any]] = {k: Counter() for k in ("queries", "answers", "events", "rrl", "signing")}
        self.restarts = 0
        self.snapshot: Any = None   # the last snapshot sent (a restarted worker gets it, config and all)
        self.generation = 0
        self._watch: asyncio.Task[None] | None = None
        self._stopping = False
        self.missing: dict[int, float] = {}   # worker index -> when to try starting it again
        self._delay: dict[int, float] = {}    # worker index -> the next backoff

    async def start(self, snapshot: Any, generation: int) -> None:
        self.snapshot, self.generation = snapshot, generation
        if self.sets:
            self.bound = [s.getsockname()[:2] for s in self.sets[0] if s.type == socket.SOCK_DGRAM]
        while len(self.sets) < self.count:
            socks, bound = bind_sockets(self.bound or self.listen)
            self.bound = self.bound or bound
            self.sets.append(socks)
        log.info("listening on %s (UDP and TCP, %d workers)", ", ".join(f"{h} port {p}" for h, p in self.bound),
                 self.count)
        for i in range(self.count):
            await self._spawn(i)
        self._watch = asyncio.ensure_future(self._supervise())

    async def wait_ready(self, timeout: float) -> bool:
        """Whether every worker has reported (its table built, its sockets served) within ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(w.report is not None for w in self.workers) and len(self.workers) == self.count:
                return True
            await asyncio.sleep(0.02)
        return False

    def all_sockets(self) -> list[socket.socket]:
        return [s for socks in self.sets for s in socks]

    async def _spawn(self, index: int) -> None:
        """Start worker ``index`` on its sockets; whatever fails on the way (no descriptors left, say) leaves
        nothing behind: no descriptor open, no process running."""
        socks = self.sets[index]
        opened: list[socket.socket] = []
        proc: subprocess.Popen[bytes] | None = None
        try:
            ours, theirs = socket.socketpair()
            opened += [ours, theirs]
            # the files of shared zones travel on their own datagram socketpair (SCM_RIGHTS; see sharedmem)
            files_ours, files_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
            opened += [files_ours, files_theirs]
            files_ours.setblocking(False)
            fds = [s.fileno() for s in socks] + [theirs.fileno(), files_theirs.fileno()]
            cmd = [sys.executable, "-m", "gtm.proc.worker", str(index), str(theirs.fileno()),
                   ",".join(str(s.fileno()) for s in socks), str(self.count), str(files_theirs.fileno())]
            proc = subprocess.Popen(cmd, pass_fds=fds)
            theirs.close()
            files_theirs.close()
            w = Worker(index, proc, ours, files_ours)
            w.reader, w.writer = await asyncio.open_connection(sock=ours)
            assert self.snapshot is not None
            config, rest = self.snapshot.parts()
            sharedmem.send(files_ours, config)  # the files first: the message refers to them
            w.writer.write(frame(Swap(self.generation, config, rest, self.settings)))
        except BaseException:
            for s in opened:
                s.close()
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
            raise
        w.task = asyncio.ensure_future(self._listen(w))
        if index < len(self.workers):
            self.workers[index] = w
        else:
            self.workers.append(w)

    async def _listen(self, w: Worker) -> None:
        assert w.reader is not None
        try:
            while True:
                message = await read_frame(w.reader)
                if isinstance(message, WorkerReport):
                    w.report = message.totals
                    w.reports_seen += 1
                    if self.observe is not None:
                        for d in message.durations:
                            self.observe(d)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            return

    async def _supervise(self) -> None:
        while not self._stopping:
            await asyncio.sleep(0.2)
            for w in list(self.workers):
                if w.proc.poll() is None or self._stopping or w.retired:
                    continue
                log.error("worker %d (pid %d) exited with %s; starting it again", w.index, w.proc.pid,
                          w.proc.returncode)
                self._retire(w)
                self.restarts += 1
                # A worker that keeps dying (at start, say) is restarted less and less often, up to every 30 s.
                wait = self._delay.get(w.index, 0.0)
                self._delay[w.index] = min(BACKOFF_CAP, max(BACKOFF, wait * 2))
                self.missing[w.index] = time.monotonic() + wait
                if wait:
                    self._close_set(w.index)
            for index, due in sorted(self.missing.items()):
                if self._stopping or time.monotonic() < due:
                    continue
                try:
                    if not self.sets[index]:
                        self.sets[index], _ = bind_sockets(self.bound)
                    await self._spawn(index)
                except Exception as e:  # tried again with backoff; the other workers take its traffic
                    wait = self._delay.get(index, BACKOFF)
                    self._delay[index] = min(BACKOFF_CAP, wait * 2)
                    self.missing[index] = time.monotonic() + wait
                    self._close_set(index)
                    log.error("could not start worker %d (%s); its sockets are closed and it is tried again in "
                              "%.1f s", index, e, wait)
                else:
                    del self.missing[index]

    def _close_set(self, index: int) -> None:
        """Close a missing worker's sockets: the kernel then sends their share to the live workers' sockets."""
        for s in self.sets[index]:
            s.close()
        self.sets[index] = []

    def degraded(self) -> str | None:
        """Why not every worker answers (None when they all do)."""
        running = self.running()
        if running >= self.count:
            return None
        return f"{running} of {self.count} workers running" + (
            f" (worker {', '.join(str(i) for i in sorted(self.missing))} restarting)" if self.missing else "")

    def _retire(self, w: Worker) -> None:
        if w.retired:
            return
        w.retired = True
        if w.report is not None:
            for k in self.retired:
                self.retired[k].update(w.report[k])
            w.report = None  # counted once: in the retired totals from now on
        if w.writer is not None:
            w.writer.close()
        w.files.close()
        if w.task is not None:
            w.task.cancel()

    def send(self, snapshot: Any, generation: int, new_config: bool) -> None:
        """Ship a swapped snapshot: with its config after a reload, without it otherwise."""
        self.snapshot, self.generation = snapshot, generation
        config, rest = snapshot.parts()
        self._broadcast(Swap(generation, config if new_config else None, rest, self.settings))

    def _broadcast(self, message: Swap | AskReport) -> None:
        data = frame(message)
        for w in self.workers:
            if w.writer is not None and w.proc.poll() is None:
                try:
                    if isinstance(message, Swap) and message.config is not None:  # the files first: the message refers to them
                        sharedmem.send(w.files, message.config)
                    w.writer.write(data)
                except (ConnectionError, OSError):
                    pass  # a dying worker: the supervisor restarts it with the current state

    async def refresh(self, timeout: float = 0.5) -> None:
        """Ask every worker for its counts now and wait (at most ``timeout``) until they are in: a scrape of
        /metrics then sees every query answered before it, not those of a second ago."""
        seen = {w.index: w.reports_seen for w in self.workers}
        self._broadcast(AskReport())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(w.reports_seen > seen.get(w.index, 0) or w.proc.poll() is not None for w in self.workers):
                return
            await asyncio.sleep(0.005)

    def reports(self) -> list[dict[str, Any]]:
        return [self.retired] + [w.report for w in self.workers if w.report is not None]

    def running(self) -> int:
        return sum(1 for w in self.workers if w.proc.poll() is None)

    async def stop(self) -> None:
        self._stopping = True
        if self._watch is not None:
            self._watch.cancel()
        for w in self.workers:
            if w.proc.poll() is None:
                w.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        for w in self.workers:
            while w.proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            if w.proc.poll() is None:
                w.proc.kill()
                w.proc.wait()
            self._retire(w)
        for s in self.all_sockets():
            s.close()
