"""Worker processes: N processes answer queries on the same addresses (SO_REUSEPORT: one UDP socket and one
TCP listener per worker and address, the kernel spreading clients over them); the control process keeps
everything else (config, health, overrides, admin API) and ships each new generation to them.

Protocol, over one socketpair per worker: length-prefixed pickles.

* control -> worker: ``("swap", generation, config, rest, settings)`` for each snapshot the control process
  swaps in (``gtm.serving``): ``config`` is the config after a reload (the worker compiles it in a thread) and
  None when only health or overrides changed; ``rest`` is the snapshot without its config (``Snapshot.parts``).
  The worker swaps the joined snapshot through its own :class:`~gtm.serving.Serving`, as the control process
  did.
* worker -> control: ``("report", totals, durations)`` every ``REPORT_EVERY`` seconds: its query counts (see
  ``NodeMetrics.totals``) and the sampled query durations since the last report.

Workers never wait for the control process: the channel is read by the event loop. When the control process
goes away (EOF), a worker keeps serving its last table until it is told to stop (SIGTERM). A worker that dies
is started again by the control process, on new sockets of the same port.
"""
from __future__ import annotations

import asyncio
import ctypes
import json
import logging
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from typing import Any

from gtm import sharedmem
from gtm.errors import GtmError

log = logging.getLogger(__name__)

REPORT_EVERY = 1.0


def frame(message: Any) -> bytes:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return struct.pack("!Q", len(body)) + body


async def read_raw(reader: asyncio.StreamReader) -> bytes:
    size = struct.unpack("!Q", await reader.readexactly(8))[0]
    return await reader.readexactly(size)


async def read_frame(reader: asyncio.StreamReader) -> Any:
    return pickle.loads(await read_raw(reader))


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
        self.retired: dict[str, Counter[Any]] = {k: Counter() for k in ("queries", "answers", "events", "rrl")}
        self.restarts = 0
        self.snapshot: Any = None   # the last snapshot sent (a restarted worker gets it, config and all)
        self.generation = 0
        self._watch: asyncio.Task[None] | None = None
        self._stopping = False

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
        socks = self.sets[index]
        ours, theirs = socket.socketpair()
        # the files of shared zones travel on their own datagram socketpair (SCM_RIGHTS; see sharedmem)
        files_ours, files_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        files_ours.setblocking(False)
        fds = [s.fileno() for s in socks] + [theirs.fileno(), files_theirs.fileno()]
        cmd = [sys.executable, "-m", "gtm.workers", str(index), str(theirs.fileno()),
               ",".join(str(s.fileno()) for s in socks), str(self.count), str(files_theirs.fileno())]
        try:
            proc = subprocess.Popen(cmd, pass_fds=fds)
        except OSError:
            ours.close()
            files_ours.close()
            raise
        finally:
            theirs.close()
            files_theirs.close()
        w = Worker(index, proc, ours, files_ours)
        w.reader, w.writer = await asyncio.open_connection(sock=ours)
        w.task = asyncio.ensure_future(self._listen(w))
        assert self.snapshot is not None
        config, rest = self.snapshot.parts()
        sharedmem.send(files_ours, config)  # the files first: the message refers to them
        w.writer.write(frame(("swap", self.generation, config, rest, self.settings)))
        if index < len(self.workers):
            self.workers[index] = w
        else:
            self.workers.append(w)

    async def _listen(self, w: Worker) -> None:
        assert w.reader is not None
        try:
            while True:
                kind, totals, durations = await read_frame(w.reader)
                if kind == "report":
                    w.report = totals
                    w.reports_seen += 1
                    if self.observe is not None:
                        for d in durations:
                            self.observe(d)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            return

    async def _supervise(self) -> None:
        delay: dict[int, float] = {}
        while not self._stopping:
            await asyncio.sleep(0.2)
            for w in list(self.workers):
                if w.proc.poll() is None or self._stopping or w.retired:
                    continue
                log.error("worker %d (pid %d) exited with %s; starting it again", w.index, w.proc.pid,
                          w.proc.returncode)
                self._retire(w)
                self.restarts += 1
                # A worker that keeps dying (at start, say) is restarted less and less often, up to once a minute.
                wait = delay.get(w.index, 0.0)
                delay[w.index] = min(60.0, max(0.5, wait * 2))
                if wait:
                    await asyncio.sleep(wait)
                try:
                    await self._spawn(w.index)
                except Exception:  # keep supervising the others; try this one again next round
                    log.exception("could not start worker %d again", w.index)

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
        self._broadcast(("swap", generation, config if new_config else None, rest, self.settings))

    def _broadcast(self, message: tuple[Any, ...]) -> None:
        data = frame(message)
        for w in self.workers:
            if w.writer is not None and w.proc.poll() is None:
                try:
                    if message[0] == "swap" and message[2] is not None:  # the files first: the message refers to them
                        sharedmem.send(w.files, message[2])
                    w.writer.write(data)
                except (ConnectionError, OSError):
                    pass  # a dying worker: the supervisor restarts it with the current state

    async def refresh(self, timeout: float = 0.5) -> None:
        """Ask every worker for its counts now and wait (at most ``timeout``) until they are in: a scrape of
        /metrics then sees every query answered before it, not those of a second ago."""
        seen = {w.index: w.reports_seen for w in self.workers}
        self._broadcast(("report?",))
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


def release_memory() -> None:
    """Give the C allocator's free memory back to the system (glibc ``malloc_trim``; elsewhere nothing).
    Loading a big zone allocates and frees gigabytes in a thread, whose malloc arena otherwise keeps the
    freed pages; a worker's bounded caches fill and empty again and again, each time with new big blocks."""
    global _trim
    if _trim is None:
        try:
            _trim = ctypes.CDLL("libc.so.6").malloc_trim  # glibc; (find_library would run ldconfig)
        except (OSError, AttributeError):
            _trim = False
    if _trim:
        _trim(0)


_trim: Any = None
TRIM_EVERY = 60.0  # seconds between a worker's calls of release_memory


# -- the worker process ---------------------------------------------------------------------------------------
ORPHAN_GRACE = 600.0  # seconds a worker keeps answering after its control process went away


async def _worker(index: int, channel_fd: int, fds: list[int], workers: int = 1, files_fd: int = -1) -> None:
    from gtm.admin.metrics import NodeMetrics
    from gtm.dns.server import DnsServer
    from gtm.serving import Serving

    if files_fd >= 0:
        sharedmem.inbox = socket.socket(fileno=files_fd)
        sharedmem.inbox.setblocking(False)
    loop = asyncio.get_running_loop()
    channel = socket.socket(fileno=channel_fd)
    reader, writer = await asyncio.open_connection(sock=channel)
    _, generation, config, rest, settings = await read_frame(reader)
    metrics = NodeMetrics()
    serving = Serving(rest.joined(config), metrics, settings["udp_payload"], rrl_share=workers)
    durations: list[float] = []
    serving.responder.observe = durations.append
    socks = [socket.socket(fileno=fd) for fd in fds]
    server = DnsServer(serving.responder, [], max_tcp=settings["tcp_clients"], tcp_idle=settings["tcp_idle"],
                       limits=config.rrl)
    serving.add_server(server)
    await server.start_on(socks)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, lambda: None)  # Ctrl-C goes to the control process, which stops us
    loop.add_signal_handler(signal.SIGHUP, lambda: None)  # a reload is the control process's; not our death
    del config, rest  # serving holds the snapshot; a later one replaces it

    async def control() -> None:
        while True:
            try:
                raw = await read_raw(reader)
            except (asyncio.IncompleteReadError, ConnectionError, OSError):
                log.warning("worker %d: the control process went away; serving the last table for %.0f s",
                            index, ORPHAN_GRACE)
                loop.call_later(ORPHAN_GRACE, stop.set)  # stale answers must not outlive it for ever
                return
            try:
                await apply(raw)
            except Exception:  # a bad message must not leave the worker deaf to the next ones
                log.exception("worker %d: could not apply a message of %d bytes", index, len(raw))
            del raw

    async def apply(raw: bytes) -> None:
        """Apply one message of the control process. (Its own function: what it holds, the previous table
        above all, is let go at its return, not kept until the next message.)"""
        started = time.perf_counter()
        message = pickle.loads(raw)  # a packed zone arrives as a reference to shared memory (sharedmem)
        if message[0] == "swap":
            _, gen, cfg, rest, _settings = message
            if cfg is None:  # health or overrides: the same config, new answers for managed names (cheap)
                serving.swap(rest.joined(serving.snapshot.config))
                return
            unpickled = time.perf_counter()
            snapshot = rest.joined(cfg)
            prepared = await loop.run_in_executor(None, serving.prepare, snapshot)
            serving.swap(snapshot, prepared)
            log.info("worker %d: generation %d answering %.0f ms after it arrived (%d bytes, %.0f ms to "
                     "unpickle)", index, gen, (time.perf_counter() - started) * 1000, len(raw),
                     (unpickled - started) * 1000)
        elif message[0] == "report?":
            send_report()

    def send_report() -> None:
        sample = durations[:]
        durations.clear()
        try:
            writer.write(frame(("report", metrics.totals(), sample)))
        except (ConnectionError, OSError):
            pass

    async def report() -> None:
        trimmed = time.monotonic()
        while True:
            send_report()
            if time.monotonic() - trimmed >= TRIM_EVERY:  # (well under a millisecond for a worker's heap)
                release_memory()
                trimmed = time.monotonic()
            try:
                await asyncio.wait_for(writer.drain(), 1.0)
            except (ConnectionError, OSError, asyncio.TimeoutError):
                pass
            await asyncio.sleep(REPORT_EVERY)

    tasks = [asyncio.ensure_future(control()), asyncio.ensure_future(report())]
    await stop.wait()
    for t in tasks:
        t.cancel()
    await server.stop()


def main(argv: list[str]) -> None:
    index, channel_fd, fds = int(argv[0]), int(argv[1]), [int(x) for x in argv[2].split(",") if x]
    workers = int(argv[3]) if len(argv) > 3 else 1
    files_fd = int(argv[4]) if len(argv) > 4 else -1
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"%(asctime)s %(levelname)s worker{index} %(name)s: %(message)s")
    try:
        import uvloop

        uvloop.run(_worker(index, channel_fd, fds, workers, files_fd))
    except ImportError:
        asyncio.run(_worker(index, channel_fd, fds, workers, files_fd))


if __name__ == "__main__":
    main(sys.argv[1:])


# -- zero-downtime restart: handing the sockets to the next instance ---------------------------------------------
def take_over(path: str, timeout: float = 10.0) -> tuple[list[list[socket.socket]], socket.socket] | None:
    """Ask the instance listening on the Unix socket ``path`` for its DNS sockets (SCM_RIGHTS): the very same
    sockets, with whatever queries are queued on them. Returns them per worker, and the connection on which to
    tell that instance to stop once ours serve; None when no instance answers there."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(timeout)
    try:
        conn.connect(path)
    except (FileNotFoundError, ConnectionRefusedError):
        conn.close()
        return None
    try:
        conn.sendall(b"GIVE\n")
        msg, fds, _flags, _addr = socket.recv_fds(conn, 65536, 4096)
        meta = json.loads(msg.decode()) if msg else None
    except (OSError, ValueError) as e:
        conn.close()
        raise GtmError(f"--takeover {path}: the running instance did not hand its sockets over ({e})") from None
    if not meta or not fds or int(meta.get("per_worker", 0)) <= 0:
        for fd in fds:
            os.close(fd)
        conn.close()
        raise GtmError(f"--takeover {path}: the running instance handed over no sockets")
    socks = [socket.socket(fileno=fd) for fd in fds]
    per = int(meta["per_worker"])
    return [socks[i:i + per] for i in range(0, len(socks), per)], conn


class Handoff:
    """Serves the Unix socket ``path`` for the next instance: ``GIVE`` sends it this pool's sockets, ``STOP``
    (once its workers serve) stops this instance. A thread with blocking sockets: rare, tiny exchanges."""

    def __init__(self, path: str, pool: WorkerPool, on_stop: Any, loop: asyncio.AbstractEventLoop):
        self.path, self.pool, self.on_stop, self.loop = path, pool, on_stop, loop
        try:
            os.unlink(path)  # a previous instance's: it has handed over (or is gone)
        except FileNotFoundError:
            pass
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        os.chmod(path, 0o600)
        self.sock.listen(4)
        self.thread = threading.Thread(target=self._serve, name="gtm-handoff", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                try:
                    self._one(conn)
                except OSError as e:
                    log.warning("handoff on %s: %s", self.path, e)

    def _one(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        for line in reader:
            word = line.strip()
            if word == b"GIVE":
                socks = self.pool.all_sockets()
                per = len(self.pool.sets[0]) if self.pool.sets else 0
                meta = json.dumps({"per_worker": per, "listen": self.pool.bound}).encode()
                socket.send_fds(conn, [meta], [s.fileno() for s in socks])
                log.info("handed %d sockets to the next instance", len(socks))
            elif word == b"STOP":
                log.info("the next instance serves; stopping")
                self.loop.call_soon_threadsafe(self.on_stop)
                return

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
