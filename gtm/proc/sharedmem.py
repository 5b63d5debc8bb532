"""Packed zones in shared memory: one copy of a big zone for the control process and all its workers.

:meth:`SharedZones.share` moves each packed zone of a config (``gtm.model.packed``) into an anonymous memory file
(``memfd_create``, sealed against writes and resizing) mapped read-only; from then on the zone travels on the
channel (``gtm.proc.channel``) as a reference: the process id, the file's descriptor number in that process, a
random token and the size. So shipping a new generation of a million-record zone to the workers costs a few
hundred bytes and no copy, and the pages are counted once however many workers answer from them.

How a worker gets at the file behind a reference: the control process passes the files themselves over a
datagram socketpair (SCM_RIGHTS, :func:`send`) right before the message that refers to them; the worker's
:class:`SharedZones` drains its ``inbox`` when a reference is unpickled, and a file in flight stays alive
whatever the sender does meanwhile. Without an inbox (or when a file is missing from it), the worker opens
``/proc/<pid>/fd/<fd>`` (same user, Linux, a process that may be inspected). A reference whose file cannot be
had, or whose descriptor number now names another file (the token tells), fails to unpickle with a clear
error; the worker then keeps its current table until the next generation arrives.

Each process has one :class:`SharedZones` (its zones by token, its inbox), made by whoever runs the process and
handed to what needs it: nothing here is module-wide. The control process keeps a file open as long as its
packed zone lives (its config, the answer tables, the worker pool's last message); a worker keeps its mapping
as long as it uses it.
"""
from __future__ import annotations

import fcntl
import mmap
import os
import socket
import weakref

from gtm.model import Config
from gtm.model.packed import PackedRRsets

PAGE = mmap.PAGESIZE
_TOKEN = 16
MAX_FILES = 253  # descriptors in one SCM_RIGHTS message (the kernel's SCM_MAX_FD)


def available() -> bool:
    return hasattr(os, "memfd_create") and os.path.isdir(f"/proc/{os.getpid()}/fd")


class SharedZones:
    """This process's shared zones, by token, and (in a worker) the inbox their files arrive on."""

    def __init__(self, inbox: socket.socket | None = None):
        self.inbox = inbox  # a worker's end of the datagram socketpair (non-blocking)
        self.attached: "weakref.WeakValueDictionary[bytes, PackedRRsets]" = weakref.WeakValueDictionary()
        self.received: dict[bytes, PackedRRsets] = {}  # the files of the last drain, until the next one

    def share(self, config: Config) -> int:
        """Move every packed zone of ``config`` not yet shared into shared memory (in place: the data is the
        same, only where it lives changes). Returns the bytes moved. Does nothing where memfd is not available."""
        moved = 0
        if not available():
            return 0
        for zone in config.zones.values():
            packed = zone.rrsets
            if isinstance(packed, PackedRRsets) and packed.shared is None:
                moved += self._move(packed)
        return moved

    def _move(self, packed: PackedRRsets) -> int:
        data = packed._view
        token = os.urandom(_TOKEN)
        fd = os.memfd_create(f"gtm-zone-{packed.origin}"[:200], os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            # The first page holds the token (a descriptor number may be reused; the token may not), the data
            # starts on the next (mmap offsets are page-aligned, but a view can start anywhere).
            os.ftruncate(fd, PAGE + data.nbytes)
            os.pwrite(fd, token, 0)
            done = 0
            while done < data.nbytes:
                done += os.pwrite(fd, data[done:done + (64 << 20)], PAGE + done)
            # Nobody may change it any more: a process that shrank it would kill every reader with SIGBUS.
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE
                        | fcntl.F_SEAL_SEAL)
            mm = mmap.mmap(fd, PAGE + data.nbytes, prot=mmap.PROT_READ)
        except BaseException:
            os.close(fd)
            raise
        # The same object keeps its identity (the config and tables refer to it): rebind its view to the mapping.
        self._own(packed, mm, fd, token, data.nbytes)
        return data.nbytes

    def _own(self, packed: PackedRRsets, mm: mmap.mmap, fd: int, token: bytes, size: int) -> PackedRRsets:
        """Make ``packed`` read the mapping ``mm`` of this process's memory file ``fd``, and travel as a reference
        to it; the file is closed when ``packed`` is freed (and now, when this fails)."""
        try:
            PackedRRsets.__init__(packed, memoryview(mm)[PAGE:], shared=(os.getpid(), fd, token, size))
        except BaseException:
            os.close(fd)
            raise
        weakref.finalize(packed, os.close, fd)
        self.attached[token] = packed
        return packed

    def adopt(self, fd: int) -> PackedRRsets:
        """Take over a memory file received from another process (which may be gone): the shared zone in it,
        registered so that references to it (its token) unpickle to it. ``fd`` is owned by the result (and
        closed here when that fails)."""
        try:
            size = os.fstat(fd).st_size - PAGE
            token = os.pread(fd, _TOKEN, 0)
            mm = mmap.mmap(fd, PAGE + size, prot=mmap.PROT_READ)
        except (OSError, ValueError):
            os.close(fd)
            raise
        known = self.attached.get(token)
        if known is not None:
            os.close(fd)
            return known
        return self._own(PackedRRsets.__new__(PackedRRsets), mm, fd, token, size)

    def _drain(self) -> None:
        """Adopt every file waiting in the inbox; they are kept until the next drain (the message that refers
        to them is read right after them)."""
        if self.inbox is None:
            return
        self.received.clear()
        while True:
            try:
                _msg, fds, _flags, _addr = socket.recv_fds(self.inbox, 16, MAX_FILES, socket.MSG_CMSG_CLOEXEC)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if not fds and not _msg:
                return
            while fds:
                fd = fds.pop(0)
                try:
                    packed = self.adopt(fd)
                except (OSError, ValueError):
                    for rest in fds:
                        os.close(rest)
                    raise
                assert packed.shared is not None
                self.received[packed.shared[2]] = packed

    def attach(self, pid: int, fd: int, token: bytes, size: int) -> PackedRRsets:
        """The packed zone that process ``pid`` shared as descriptor ``fd`` (see the module docstring)."""
        known = self.attached.get(token)
        if known is None:
            self._drain()
            known = self.attached.get(token)
        if known is not None:
            return known
        path = f"/proc/{pid}/fd/{fd}"
        try:
            own = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            raise ValueError(f"shared zone {path} cannot be opened: {e.strerror}") from None
        try:
            if os.fstat(own).st_size != PAGE + size or os.pread(own, _TOKEN, 0) != token:
                raise ValueError(f"shared zone {path} is no longer the one sent (the process replaced it)")
            mm = mmap.mmap(own, PAGE + size, prot=mmap.PROT_READ)
        finally:
            os.close(own)
        packed = PackedRRsets(memoryview(mm)[PAGE:], shared=(pid, fd, token, size))
        self.attached[token] = packed
        return packed


def descriptors(config: Config) -> list[int]:
    """This process's memory files behind the shared zones of ``config`` (to pass them on, SCM_RIGHTS)."""
    out = []
    for zone in config.zones.values():
        packed = zone.rrsets
        if isinstance(packed, PackedRRsets) and packed.shared is not None:
            pid, fd, _token, _size = packed.shared
            if pid == os.getpid():
                out.append(fd)
    return out


def send(sock: socket.socket, config: Config) -> bool:
    """Pass the files behind ``config``'s shared zones over the datagram socket ``sock`` (a worker's inbox).
    False when they could not be sent now (the worker then falls back to ``/proc``)."""
    fds = descriptors(config)
    try:
        for i in range(0, len(fds), MAX_FILES):
            socket.send_fds(sock, [b"Z"], fds[i:i + MAX_FILES])
    except OSError:  # full (a worker far behind) or gone
        return False
    return True
