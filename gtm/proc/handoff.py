"""Zero-downtime restart (``--takeover PATH``): the running instance hands its DNS sockets to the next one
over a Unix socket (SCM_RIGHTS), and stops once the next one's workers serve them."""
from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import threading
from dataclasses import dataclass
from typing import Any, Callable

from gtm.errors import GtmError
from gtm.proc.pool import WorkerPool

log = logging.getLogger(__name__)


@dataclass
class Previous:
    """What the running instance handed over: its DNS sockets per worker, its admin API's listening socket (if
    it has one), and the connection on which to tell it to stop once ours serve."""

    sets: list[list[socket.socket]]
    admin: socket.socket | None
    conn: socket.socket


def take_over(path: str, timeout: float = 10.0) -> Previous | None:
    """Ask the instance listening on the Unix socket ``path`` for its sockets (SCM_RIGHTS): the very same
    sockets, with whatever queries and connections are queued on them. None when no instance answers there."""
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
    admin = socks.pop() if meta.get("admin") else None
    per = int(meta["per_worker"])
    return Previous([socks[i:i + per] for i in range(0, len(socks), per)], admin, conn)


async def succeed(pool: WorkerPool, previous: socket.socket) -> None:
    """Once our workers serve the sockets taken over, tell the previous instance to stop (it stops reading;
    ours already do). GtmError when they do not within 30 s: the previous instance keeps serving."""
    if not await pool.wait_ready(30):
        raise GtmError("the workers did not start serving the sockets taken over; the previous instance keeps "
                       "serving")
    try:
        previous.sendall(b"STOP\n")
    except OSError as e:  # it is gone already: we serve, which is what matters
        log.warning("could not tell the previous instance to stop (%s); it may have exited", e)
    previous.close()
    log.info("took over %d sockets from the previous instance", len(pool.all_sockets()))


class Handoff:
    """Serves the Unix socket ``path`` for the next instance: ``GIVE`` sends it this pool's sockets, ``STOP``
    (once its workers serve) stops this instance. A thread with blocking sockets: rare, tiny exchanges."""

    def __init__(self, path: str, pool: WorkerPool, on_stop: Any, loop: asyncio.AbstractEventLoop,
                 admin: Callable[[], socket.socket | None] = lambda: None):
        self.path, self.pool, self.on_stop, self.loop, self.admin = path, pool, on_stop, loop, admin
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
                # Duplicates, made on the event loop (which closes and binds the sockets of a restarting worker):
                # what is sent is a consistent set, whatever the loop does meanwhile.
                per, fds, has_admin = asyncio.run_coroutine_threadsafe(self._duplicates(), self.loop).result(10)
                meta = json.dumps({"per_worker": per, "listen": self.pool.bound, "admin": has_admin}).encode()
                try:
                    socket.send_fds(conn, [meta], fds)
                finally:
                    for fd in fds:
                        os.close(fd)
                log.info("handed %d sockets to the next instance", len(fds))
            elif word == b"STOP":
                log.info("the next instance serves; stopping")
                self.loop.call_soon_threadsafe(self.on_stop)
                return

    async def _duplicates(self) -> tuple[int, list[int], bool]:
        """Per worker, the number of sockets; duplicates of every open one (the admin API's listening socket
        last, if any); whether it is there."""
        sets = [x for x in self.pool.sets if x]  # (a missing worker's set is closed)
        fds = [os.dup(s.fileno()) for x in sets for s in x]
        admin = self.admin()  # a duplicate already
        if admin is not None:
            fds.append(os.dup(admin.fileno()))
            admin.close()
        return max((len(x) for x in sets), default=0), fds, admin is not None

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
