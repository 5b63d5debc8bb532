"""Batched UDP I/O on Linux: many datagrams per system call with ``recvmmsg``/``sendmmsg``, through ``ctypes``.

Python's socket module reads and writes one datagram per call, and asyncio adds its own per-datagram work on
top; for an authoritative server whose answer is a dict lookup and a few slices, those calls are most of the
cost. gdnsd reads and writes many datagrams per call, and so does :class:`BatchedUdp`:

* the event loop watches the socket (``add_reader``); when it is readable, :meth:`BatchedUdp.ready` calls
  ``recvmmsg`` with ``MSG_DONTWAIT`` for up to :data:`BATCH` datagrams into preallocated buffers, answers each
  through :meth:`Responder.answer <gtm.dns.server.Responder.answer>` (the very function the asyncio path
  calls, so the reply bytes are the same), and sends every reply with one ``sendmmsg``; then it reads again
  (datagrams that arrived meanwhile: a read is cheaper than going back to ``epoll_wait``), until a read finds
  nothing or :data:`ROUNDS` batches were read, and the loop runs whatever else is ready (the control
  channel, TCP, the admin API), so neither starves the other. One thread: a table swap happens between two
  batches, never inside one.
* The peers' addresses stay raw ``sockaddr`` bytes, handed back to ``sendmmsg`` as they came. RRL keys on the
  raw address (4 or 16 bytes); a query that is not in the reply cache gets its client as the ECS-form key of a
  full-length source prefix (``FAMILY, SOURCE=32|128, SCOPE=0, ADDRESS``): what steering's per-client cache
  keys on, the same client the text address stands for on the asyncio path (``gtm.dns.table.client_of``); the
  text form is made only for the sampled query log.
* A query whose reply is in the table's reply cache (``Table.replies``: the same bytes ``Responder.answer``
  would return) is answered in the loop without copying it: the ID and the cached rest are written straight
  into the send slot.
* Bad input never leaves the loop: a datagram longer than :data:`BUF` is dropped and counted; ``EINTR``,
  ``EAGAIN``, ``ENOBUFS`` and every other error of ``recvmmsg`` end the round, not the loop; a ``sendmmsg`` that
  sends fewer than asked sends the rest, skipping (and counting) a reply the kernel refuses (an unreachable
  peer, a full send buffer).

:func:`available` says whether libc has both calls (Linux with glibc or musl); elsewhere, or with ``--udp-io
asyncio``, the asyncio datagram endpoint of ``gtm.dns.server`` serves.
"""
from __future__ import annotations

import ctypes
import errno
import logging
import socket
import time
from typing import Any

log = logging.getLogger(__name__)

BATCH = 64          # datagrams per recvmmsg/sendmmsg call
ROUNDS = 8          # batches per wakeup before the event loop runs its other callbacks
BUF = 4096          # largest datagram taken (a DNS query is rarely over 512 bytes); longer ones are dropped
SEND = 4096         # largest reply slot: --udp-payload is at most 4096; a longer reply goes out with sendto
ADDR = 32           # bytes per sockaddr slot (sockaddr_in6 is 28)
MSG_DONTWAIT = 0x40
MSG_TRUNC = 0x20
HDR = 64            # sizeof(struct mmsghdr) on 64-bit Linux
_V4 = b"\x00\x01\x20\x00"    # ECS FAMILY 1, SOURCE 32, SCOPE 0
_V6 = b"\x00\x02\x80\x00"    # ECS FAMILY 2, SOURCE 128, SCOPE 0
_MAPPED = b"\x00" * 10 + b"\xff\xff"


class _Iovec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class _Msghdr(ctypes.Structure):
    _fields_ = [("msg_name", ctypes.c_void_p), ("msg_namelen", ctypes.c_uint32),
                ("msg_iov", ctypes.POINTER(_Iovec)), ("msg_iovlen", ctypes.c_size_t),
                ("msg_control", ctypes.c_void_p), ("msg_controllen", ctypes.c_size_t), ("msg_flags", ctypes.c_int)]


class _Mmsghdr(ctypes.Structure):
    _fields_ = [("msg_hdr", _Msghdr), ("msg_len", ctypes.c_uint)]


_libc: Any = None


def _load() -> Any:
    global _libc
    if _libc is None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            recv, send = libc.recvmmsg, libc.sendmmsg
        except (OSError, AttributeError):
            _libc = False
            return _libc
        recv.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_void_p]
        recv.restype = ctypes.c_int
        send.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int]
        send.restype = ctypes.c_int
        _libc = (recv, send)
    return _libc


def available() -> bool:
    """Whether recvmmsg and sendmmsg can be called here (and the structures have the layout this module reads
    through byte offsets: 64-bit Linux)."""
    return bool(_load()) and ctypes.sizeof(_Mmsghdr) == HDR and ctypes.sizeof(ctypes.c_void_p) == 8


def client_key(raw: bytes, off: int) -> bytes | None:
    """The client of the sockaddr at ``raw[off:]`` as an ECS-form key (see the module docstring)."""
    family = raw[off] | raw[off + 1] << 8
    if family == socket.AF_INET:
        return _V4 + raw[off + 4: off + 8]
    if family == socket.AF_INET6:
        addr = raw[off + 8: off + 24]
        if addr[:12] == _MAPPED:  # an IPv4 client through a dual-stack socket: the IPv4 address it is
            return _V4 + addr[12:]
        return _V6 + addr
    return None


def key_text(key: bytes | None) -> str:
    """The text address of a client key (for the query log)."""
    if key is None:
        return "?"
    return socket.inet_ntop(socket.AF_INET if key[1] == 1 else socket.AF_INET6, key[4:])


class BatchedUdp:
    """One UDP socket served with recvmmsg/sendmmsg from the event loop's reader callback (see the module
    docstring). Counts like the asyncio protocol (``count``), and its own events in the responder's stats
    (``udp_oversized``, ``udp_send_failed``, ``udp_recv_errors``)."""

    def __init__(self, responder: Any, sock: socket.socket):
        recv, send = _load()
        self.recvmmsg, self.sendmmsg = recv, send
        self.responder = responder
        self.answer = responder.answer
        self.sock = sock
        self.fd = sock.fileno()
        self.count = 0          # datagrams received (Responder.udp_queries)
        self.loop: Any = None
        self.single = True      # the last wakeup found at most one datagram: read the next one with recvfrom
        # Receive side: BATCH slots of BUF bytes, their iovecs and headers, and BATCH sockaddr slots.
        self.rbuf = (ctypes.c_char * (BATCH * BUF))()
        self.rmv = memoryview(self.rbuf).cast("B")
        self.abuf = (ctypes.c_char * (BATCH * ADDR))()
        self.amv = memoryview(self.abuf).cast("B")
        riov = (_Iovec * BATCH)()
        self.rhdr = (_Mmsghdr * BATCH)()
        base, abase = ctypes.addressof(self.rbuf), ctypes.addressof(self.abuf)
        # A socket's peers all have its family's sockaddr size, which the kernel writes back into msg_namelen:
        # set once, it never needs resetting, and the send side uses the same.
        self.family = sock.family
        self.namelen = 16 if sock.family == socket.AF_INET else 28
        for i in range(BATCH):
            riov[i].iov_base, riov[i].iov_len = base + i * BUF, BUF
            h = self.rhdr[i].msg_hdr
            h.msg_name, h.msg_namelen = abase + i * ADDR, self.namelen
            h.msg_iov, h.msg_iovlen = ctypes.pointer(riov[i]), 1
        self.riov = riov
        self.r32 = memoryview(self.rhdr).cast("B").cast("I")   # msg_flags [16i+12], msg_len [16i+14]
        self.raddr = ctypes.addressof(self.rhdr)
        # Send side: BATCH reply slots of SEND bytes, their iovecs and headers (names point into the sockaddr
        # slots of the datagrams answered).
        self.sbuf = (ctypes.c_char * (BATCH * SEND))()
        self.smv = memoryview(self.sbuf).cast("B")
        siov = (_Iovec * BATCH)()
        self.shdr = (_Mmsghdr * BATCH)()
        sbase = ctypes.addressof(self.sbuf)
        for j in range(BATCH):
            siov[j].iov_base, siov[j].iov_len = sbase + j * SEND, 0
            h = self.shdr[j].msg_hdr
            h.msg_namelen = self.namelen
            h.msg_iov, h.msg_iovlen = ctypes.pointer(siov[j]), 1
        self.siov = siov
        self.siov64 = memoryview(siov).cast("B").cast("Q")      # iov_len [2j+1]
        self.s64 = memoryview(self.shdr).cast("B").cast("Q")    # msg_name [8j]
        self.r16 = self.rmv.cast("H")  # 16-bit words of the datagrams and of the replies (the ID at a slot's start)
        self.s16 = self.smv.cast("H")
        for j in range(BATCH):
            self.s64[j << 3] = abase + j * ADDR
        self.saddr = ctypes.addressof(self.shdr)
        self.abase = abase

    def start(self, loop: Any) -> None:
        self.sock.setblocking(False)
        self.loop = loop
        loop.add_reader(self.fd, self.ready)

    def close(self) -> None:
        if self.loop is not None:
            try:
                self.loop.remove_reader(self.fd)
            except (ValueError, OSError, RuntimeError):
                pass
            self.loop = None
        self.sock.close()

    def ready(self) -> None:
        """The reader callback: batches until one finds nothing, at most ROUNDS; after a wakeup that found at
        most one datagram (low load), the next wakeup's first datagram is read and answered with the socket
        module's own calls (see :meth:`_one`). Nothing raises out of it."""
        try:
            total = 0
            if self.single:
                total = self._one()
                if not total:
                    return
            for _ in range(ROUNDS):
                n = self._batch()
                if not n:
                    break
                total += n
            if total:  # (a wakeup that found nothing says nothing about the load)
                self.single = total == 1
        except Exception:  # never let the loop lose its reader
            self.responder.stats.errors += 1
            log.exception("batched UDP: a batch failed; its datagrams were dropped")

    def _one(self) -> int:
        """One datagram read with ``recvfrom`` and answered with ``sendto``: at low load, when a wakeup finds
        one datagram, these cost less than ``recvmmsg``/``sendmmsg`` through ctypes and the batch's bookkeeping
        (about 5 against 9 µs for the pair, in-process), and the reply leaves that much sooner. The same answer,
        the same counts and the same rate limit as in a batch."""
        try:
            data, addr = self.sock.recvfrom(BUF + 1)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError:
            self.responder.stats.udp_recv_errors += 1
            return 0
        count = self.count
        self.count = count + 1
        if len(data) > BUF:
            self.responder.stats.udp_oversized += 1
            return 1
        if self.family == socket.AF_INET:
            peer = socket.inet_aton(addr[0])
            key = _V4 + peer
        else:
            peer = socket.inet_pton(socket.AF_INET6, addr[0].partition("%")[0])
            key = _V4 + peer[12:] if peer[:12] == _MAPPED else _V6 + peer
        if (count ^ (count + 1)) >> 6:
            resp = self._timed(data, key)
        else:
            table = self.responder.table
            hit = table.replies.get(data[2:])
            if hit is not None:
                entry, tail = hit
                if not entry.hits:
                    table.touched.append(entry)
                entry.hits += 1
                resp = data[:2] + tail
            else:
                resp = self.answer(data, key)
        if resp is None:
            return 1
        rrl = self.responder.rrl
        if rrl is not None and rrl.prefix_of.get(peer, 1) is not None:
            resp = rrl.check(peer, data, resp)
            if resp is None:
                return 1
        try:
            self.sock.sendto(resp, addr)
        except OSError:  # an unreachable peer, a full send buffer: dropped quietly, as in a batch
            self.responder.stats.udp_send_failed += 1
        return 1

    def _timed(self, data: bytes, key: bytes | None) -> bytes | None:
        """``answer`` for the one query in 64 that is timed for the duration histogram (and maybe logged)."""
        responder = self.responder
        started = time.perf_counter()
        resp = self.answer(data, key)
        observe = responder.observe
        if observe is not None:
            observe(time.perf_counter() - started)
        every = responder.query_log
        if every and resp is not None and not (self.count >> 6) % every:
            responder.log_query(data, key_text(key), resp)
        return resp

    def _batch(self) -> int:
        n = self.recvmmsg(self.fd, self.raddr, BATCH, MSG_DONTWAIT, None)
        if n <= 0:
            if n < 0:
                err = ctypes.get_errno()
                if err not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR):
                    self.responder.stats.udp_recv_errors += 1
                    if err != errno.ENOBUFS:
                        log.debug("recvmmsg: %s", errno.errorcode.get(err, err))
            return 0
        r32 = self.r32
        if n == 1:  # (the common case at low load: two reads cost less than two strided copies)
            flags, sizes = [r32[12]], [r32[14]]
        else:
            flags = r32[12: n << 4: 16].tolist()  # every header's msg_flags, then msg_len, in one call each
            sizes = r32[14: n << 4: 16].tolist()
        araw = self.amv[: n * ADDR].tobytes()
        rmv, smv, s64, siov64, r16, s16 = self.rmv, self.smv, self.s64, self.siov64, self.r16, self.s16
        answer = self.answer
        responder = self.responder
        table = responder.table  # (one thread: no swap happens inside a batch)
        replies, touched = table.replies, table.touched
        rrl = responder.rrl
        exempt = rrl.prefix_of if rrl is not None else {}  # source address -> None for exempt (loopback) clients
        abase, namelen, v4 = self.abase, self.namelen, self.family == socket.AF_INET
        count = self.count
        timed = (count ^ (count + n)) >> 6  # one query in 64 is timed (the first of a batch that crosses 64)
        self.count = count + n
        m = 0
        off = -ADDR
        for i in range(n):
            off += ADDR
            if flags[i] & MSG_TRUNC:
                responder.stats.udp_oversized += 1
                continue
            b = i * BUF
            end = b + sizes[i]
            peer = araw[off + 4: off + 8] if v4 else araw[off + 8: off + 24]  # the source address, raw (RRL's key)
            # Responder.answer's first step, inline and without copying the query: the reply cache, by the
            # query's bytes after its ID (the same bytes as answer() would make: see Table.replies).
            hit = replies.get(rmv[b + 2: end].tobytes()) if not (timed and not i) else None
            if hit is not None:
                entry, tail = hit
                if not entry.hits:
                    touched.append(entry)
                entry.hits += 1
                if rrl is None or exempt.get(peer, 1) is None:  # no rate limit for this client: straight out
                    pos = m * SEND
                    length = len(tail) + 2
                    s16[pos >> 1] = r16[b >> 1]  # the ID
                    smv[pos + 2: pos + length] = tail
                    siov64[2 * m + 1] = length
                    if m != i:  # (slot m's name already points at datagram m's sockaddr)
                        s64[m << 3] = abase + off
                    m += 1
                    continue
                data = rmv[b: end].tobytes()
                resp: bytes | None = data[:2] + tail
            else:
                data = rmv[b: end].tobytes()
                key = _V4 + peer if v4 else client_key(araw, off)
                if timed and not i:
                    resp = self._timed(data, key)
                else:
                    resp = answer(data, key)
                if resp is None:
                    continue
            if rrl is not None and exempt.get(peer, 1) is not None:
                resp = rrl.check(peer, data, resp)
                if resp is None:
                    continue
            assert resp is not None
            length = len(resp)
            if length > SEND:
                self._sendto(resp, araw[off: off + namelen])
                continue
            smv[m * SEND: m * SEND + length] = resp
            siov64[2 * m + 1] = length
            if m != i:
                s64[m << 3] = abase + off
            m += 1
        if m:
            self._send(m)
            if m != n:  # back to slot j -> datagram j's sockaddr, for the next batch
                for j in range(m):
                    s64[j << 3] = abase + j * ADDR
        return n

    def _send(self, m: int) -> None:
        sent = 0
        while sent < m:
            done = self.sendmmsg(self.fd, self.saddr + sent * HDR, m - sent, 0)
            if done > 0:
                sent += done
                continue
            err = ctypes.get_errno() if done < 0 else 0
            if err == errno.EINTR:
                continue
            # The first of the rest was refused: an unreachable peer (ECONNREFUSED and friends from an earlier
            # ICMP error), a full send buffer (EAGAIN, ENOBUFS). Dropped quietly; the rest go on.
            self.responder.stats.udp_send_failed += 1
            sent += 1

    def _sendto(self, resp: bytes, sockaddr: bytes) -> None:
        """A reply too long for a slot (not made by this server's settings; kept for safety)."""
        try:
            family = sockaddr[0] | sockaddr[1] << 8
            port = sockaddr[2] << 8 | sockaddr[3]
            if family == socket.AF_INET:
                self.sock.sendto(resp, (socket.inet_ntop(socket.AF_INET, sockaddr[4:8]), port))
            else:
                self.sock.sendto(resp, (socket.inet_ntop(socket.AF_INET6, sockaddr[8:24]), port, 0,
                                        int.from_bytes(sockaddr[24:28], "little")))
        except OSError:
            self.responder.stats.udp_send_failed += 1
