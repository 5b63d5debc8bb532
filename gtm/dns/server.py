"""The DNS server: the query path, and UDP/TCP listeners on asyncio (uvloop when installed).

:meth:`Responder.answer` is the whole query path. Its fast path handles the common query (QUERY opcode, one
question, class IN, no or one OPT record) by reading header, question and OPT straight from the bytes,
looking up a compiled :class:`~gtm.dns.table.Entry` and gluing ID + precomputed header + the question as
sent + precomputed sections (+ OPT). Anything else goes to :meth:`Responder.slow`, which parses the whole
message strictly (``gtm.dns.codec.parse_query``) and answers FORMERR, NOTIMP, REFUSED or BADVERS as the RFCs
say. Neither path raises: an unexpected error is logged, counted and the packet dropped.
"""
from __future__ import annotations

import asyncio
import logging
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from gtm.dns.codec import (
    BADVERS, DEFAULT_UDP_PAYLOAD, ECS_CODE, FORMERR, NOTIMP, OPCODE_QUERY, OPCODE_UPDATE, QR, REFUSED, SERVFAIL,
    Drop, Ecs, FormErr, Query, opt_rr, parse_ecs, parse_query,
)
from gtm.dns.rrl import RateLimiter, exempt_networks, is_exempt, network_key
from gtm.dns.table import Entry, Steered, Table
from gtm.dns.counts import RCODES
from gtm.model import OPT, TYPE_NAMES, RrlSettings

log = logging.getLogger(__name__)
querylog = logging.getLogger("gtm.querylog")

_OPT_HEAD = b"\x00\x00\x29"  # root owner, TYPE OPT
_QD1 = b"\x00\x01\x00\x00\x00\x00"  # QDCOUNT 1, ANCOUNT 0, NSCOUNT 0
TCP_WRITE_HIGH = 256 * 1024  # bytes of unsent answers per TCP connection before we stop reading from it
_ECS_MAX = {b"\x00\x01": 32, b"\x00\x02": 128}  # family -> longest source prefix
_SCOPE = tuple(bytes([i]) for i in range(129))
# OPT, TSIG, IXFR, AXFR, and RFC 9824's NXNAME (section 3.5: FORMERR): not answerable from the zone data
_META_QTYPES = frozenset({OPT, 250, 251, 252, 128})


@dataclass
class Stats:
    """Counters of unusual events, plain ints updated on the query path (for logs now, metrics later)."""

    queries_tcp: int = 0
    slow_path: int = 0
    formerr: int = 0
    dropped: int = 0
    truncated: int = 0
    errors: int = 0
    tcp_rejected: int = 0
    udp_oversized: int = 0     # datagrams longer than the batched path's buffer: dropped (gtm.dns.batched)
    udp_send_failed: int = 0   # replies the kernel refused to send (an unreachable peer, a full buffer): dropped
    udp_recv_errors: int = 0   # recvmmsg failures other than "nothing to read"
    rcodes: dict[int, int] = field(default_factory=dict)  # responses without records, by (extended) RCODE


class Responder:
    """Turns query bytes into response bytes using the current table; ``table`` is swapped on reload."""

    def __init__(self, table: Table, udp_payload: int = DEFAULT_UDP_PAYLOAD):
        self.table = table
        self.udp_payload = udp_payload
        self.stats = Stats()
        self.udp_protocols: list[Any] = []
        self.observe: Callable[[float], None] | None = None  # receives sampled query durations (seconds)
        self.rrl: RateLimiter | None = None  # response rate limiting of UDP answers (None: off)
        self.query_log = 0  # log one UDP query in 64 x query_log (0: off); see log_query
        # by DO << 1 | CO: the query's flags echoed (RFC 3225 section 3; RFC 9824 section 5.1)
        # (CO alone means nothing: compact answers are DNSSEC answers)
        self._opt = tuple(opt_rr(udp_payload, do=bool(v & 2), co=v == 3) for v in range(4))
        self._opt_pre = tuple(o[:-2] for o in self._opt)  # without RDLENGTH

    def udp_queries(self) -> int:
        """Datagrams received on every UDP listener (counted there to keep the query path short)."""
        return sum(p.count for p in self.udp_protocols)

    # (self.udp_protocols: the asyncio protocols and the batched readers, gtm.dns.batched.BatchedUdp)

    def answer(self, data: bytes, client: str | None = None, tcp: bool = False) -> bytes | None:
        """The response to ``data`` from source address ``client`` (None = send nothing). ``tcp`` lifts the
        UDP size limit. Managed names are steered by the ECS option when there is one, else by ``client``."""
        try:
            table = self.table
            if not tcp:
                # The reply cache: the same query bytes after the ID, the same reply after the ID (only replies
                # that depend on nothing else are kept there: see _keep).
                hit = table.replies.get(data[2:])
                if hit is not None:
                    entry = hit[0]
                    if not entry.hits:
                        table.touched.append(entry)
                    entry.hits += 1
                    return data[:2] + hit[1]
            n = len(data)
            # Fast path: QR=0, OPCODE=0, QDCOUNT=1, AN=NS=0, AR in {0, 1}.
            if n < 17 or data[2] & 0xF8 or data[4:10] != _QD1 or data[10] or data[11] > 1:
                return self.slow(data, client, tcp)
            qend = data.find(0, 12) + 1  # see Table: a key can only match a correctly parsed name
            if qend == 0 or qend + 4 > n or data[qend + 2: qend + 4] != b"\x00\x01":
                return self.slow(data, client, tcp)
            key = data[12:qend].lower() + data[qend: qend + 2]
            found: Any = table.entries.get(key) or table.cache.get(key)  # Entry, or Steered (managed names)
            if found is None:
                return self.slow(data, client, tcp)
            rd = (data[2] & 1) << 1
            if not data[11]:
                if n != qend + 4:
                    return self.slow(data, client, tcp)
                entry = found.pick(client) if found.steered else found
                if not entry.hits:
                    table.touched.append(entry)
                entry.hits += 1
                resp = data[:2] + entry.heads[rd] + data[12: qend + 4] + entry.body
                if len(resp) > 512:
                    if not tcp:
                        return self._shrink(data[:2], entry, rd, data[12: qend + 4], b"", 512)
                    if len(resp) > 65535:
                        return self.slow(data, client, tcp)
                elif not tcp and not found.steered:
                    _keep(table, data, entry, resp)
                return resp
            o = qend + 4  # the OPT record must be the whole additional section
            if n < o + 11 or data[o: o + 3] != _OPT_HEAD or data[o + 6] \
                    or n != o + 11 + (data[o + 9] << 8 | data[o + 10]):
                return self.slow(data, client, tcp)
            do = data[o + 7] >> 6  # DO << 1 | CO (RFC 9824's Compact Answers OK), the OPT variants' index
            by_source = False  # whether the answer was chosen by the source address (then it is not kept)
            if n == o + 11:
                entry = found.pick(client) if found.steered else found
                by_source = found.steered
                opt = self._opt[do]
            elif n >= o + 19 and data[o + 11: o + 13] == b"\x00\x08" \
                    and n == o + 15 + (data[o + 13] << 8 | data[o + 14]):
                # A lone ECS option, the common case from resolvers: validate (RFC 7871 section 6) and echo
                # it with our scope, without building objects. Anything else (including options too short
                # to index here) takes the general route below, which sends malformed ones to FORMERR.
                src = data[o + 17]
                if data[o + 18] or n - o - 19 != (src + 7) >> 3 or src > _ECS_MAX.get(data[o + 15: o + 17], -1) \
                        or (src & 7 and data[n - 1] & (0xFF >> (src & 7))):
                    return self.slow(data, client, tcp)
                # the option as sent (FAMILY, SOURCE, SCOPE=0, ADDRESS) is the client's cache key
                entry = found.pick(data[o + 15: n]) if found.steered else found
                opt = self._opt_pre[do] + data[o + 9: o + 18] + _SCOPE[entry.scope] + data[o + 19: n]
            else:
                ecs = _find_ecs(data, o + 11)
                if isinstance(ecs, Ecs):
                    entry = found.pick(ecs.key()) if found.steered else found
                    opt = opt_rr(self.udp_payload, do=bool(do & 2), options=ecs.option(entry.scope), co=do == 3)
                elif ecs is None:
                    entry = found.pick(client) if found.steered else found
                    by_source = found.steered
                    opt = self._opt[do]
                else:
                    return self.slow(data, client, tcp)
            if do & 2:
                signed = entry.dnssec  # a signed zone's DO=1 form (gtm.dns.signing); None for an unsigned zone
                if signed is not None:
                    if signed.__class__ is not Entry:  # answered on first query: signed at its first DO=1 query
                        signed = entry.dnssec = signed.build()
                    entry = signed.co if do & 1 and signed.co is not None else signed
            if not entry.hits:
                table.touched.append(entry)
            entry.hits += 1
            resp = data[:2] + entry.heads[rd | 1] + data[12: o] + entry.body + opt
            if len(resp) > 512:
                if not tcp:
                    limit = min(max(data[o + 3] << 8 | data[o + 4], 512), self.udp_payload)
                    if len(resp) > limit:
                        return self._shrink(data[:2], entry, rd | 1, data[12: o], opt, limit)
                elif len(resp) > 65535:
                    return self.slow(data, client, tcp)
            if not tcp and not by_source and not (found.steered and found.rotation):
                _keep(table, data, entry, resp)
            return resp
        except Exception:  # never let a packet take the server down
            self.stats.errors += 1
            log.exception("query path failed on a %d-byte packet; dropped", len(data))
            return None

    def log_query(self, data: bytes, client: str, resp: bytes) -> None:
        """One line of the sampled query log (``gtm serve --query-log N``): the client network (ECS, else the
        source address), the name, the type, the regions answered and the RCODE. Off the query path: only for
        the sampled queries, after they were answered."""
        try:
            q = parse_query(data)
        except (FormErr, Drop):
            return
        ecs = q.edns.ecs if q.edns is not None else None
        found = self.table.lookup(q.qname_wire.lower() + struct.pack("!H", q.qtype), q.qname, q.qtype)
        entry = found.pick(ecs.key() if ecs is not None else client) if isinstance(found, Steered) else found
        rcode = resp[3] & 0xF if len(resp) > 3 else -1
        querylog.info("client=%s name=%s type=%s regions=%s rcode=%s", ecs.network() if ecs is not None else client,
                      q.qname, TYPE_NAMES.get(q.qtype, str(q.qtype)), ",".join(entry.regions) or "-",
                      RCODES.get(rcode, str(rcode)))

    # -- everything unusual ----------------------------------------------------------------------------
    def slow(self, data: bytes, client: str | None, tcp: bool) -> bytes | None:
        self.stats.slow_path += 1
        if len(data) >= 12 and not data[2] & 0x80 and data[2] & 0x78 and data[4:6] != b"\x00\x01":
            # Another opcode without exactly one question (DSO, RFC 8490, has none): NOTIMP, not FORMERR.
            opcode = (data[2] >> 3) & 0xF
            rcode = REFUSED if opcode == OPCODE_UPDATE else NOTIMP
            return self._reply(data[0] << 8 | data[1], data[2] << 8 | data[3], rcode, b"", b"")
        try:
            q = parse_query(data)
        except Drop:
            self.stats.dropped += 1
            return None
        except FormErr as e:
            self.stats.formerr += 1
            log.debug("FORMERR: %s", e)
            return self._reply(e.id, e.flags, FORMERR, e.question, self._opt[0] if e.edns else b"")
        edns = q.edns
        opt = b""
        if edns is not None:
            if edns.version != 0:  # RFC 6891 section 6.1.3
                return self._reply(q.id, q.flags, 0, q.question, opt_rr(self.udp_payload, BADVERS >> 4, edns.do),
                                   counted=BADVERS)
            opt = opt_rr(self.udp_payload, do=edns.do, co=edns.co and edns.do,
                          options=edns.ecs.option(0) if edns.ecs is not None else b"")
        if q.opcode != OPCODE_QUERY:
            rcode = REFUSED if q.opcode == OPCODE_UPDATE else NOTIMP  # we take no dynamic updates (RFC 2136)
            return self._reply(q.id, q.flags, rcode, q.question, opt)
        if q.qtype in _META_QTYPES:
            rcode = REFUSED if q.qtype in (251, 252) else FORMERR  # no zone transfers; OPT/TSIG/NXNAME: no questions
            self.stats.formerr += rcode == FORMERR
            return self._reply(q.id, q.flags, rcode, q.question, opt)
        if q.qclass != 1:
            return self._reply(q.id, q.flags, REFUSED, q.question, opt)
        found = self.table.lookup(q.qname_wire.lower() + struct.pack("!H", q.qtype), q.qname, q.qtype)
        if isinstance(found, Steered):
            entry = found.pick(edns.ecs.key() if edns is not None and edns.ecs is not None else client)
        else:
            entry = found
        if edns is not None and edns.ecs is not None:
            opt = opt_rr(self.udp_payload, do=edns.do, co=edns.co and edns.do, options=edns.ecs.option(entry.scope))
        if edns is not None and edns.do and entry.dnssec is not None:
            pending = entry.dnssec
            signed = pending if isinstance(pending, Entry) else pending.build()
            entry.dnssec = signed
            entry = signed.co if edns.co and signed.co is not None else signed
        return self._render(q, entry, opt, tcp)

    def _render(self, q: Query, entry: Entry, opt: bytes, tcp: bool) -> bytes:
        v = (2 if q.flags & 0x100 else 0) | (1 if q.edns is not None else 0)
        ident = struct.pack("!H", q.id)
        if not entry.hits:
            self.table.touched.append(entry)
        entry.hits += 1
        resp = ident + entry.heads[v] + q.question + entry.body + opt
        limit = min(q.edns.payload, self.udp_payload) if q.edns is not None else 512
        if tcp and len(resp) > 65535:  # cannot be framed: the zone's validation keeps RRsets below this
            return self._reply(q.id, q.flags, SERVFAIL, q.question, opt)
        if not tcp and len(resp) > limit:
            return self._shrink(ident, entry, v, q.question, opt, limit)
        return resp

    def _reply(self, id_: int, qflags: int, rcode: int, question: bytes, opt: bytes,
               counted: int | None = None) -> bytes:
        """A response without records (errors, refusals), counted by RCODE for the metrics."""
        key = rcode if counted is None else counted
        self.stats.rcodes[key] = self.stats.rcodes.get(key, 0) + 1
        return _header_only(id_, qflags, rcode, question, opt)

    def _shrink(self, ident: bytes, entry: Entry, v: int, question: bytes, opt: bytes, limit: int) -> bytes:
        """A UDP reply that does not fit ``limit``: without the additional section if that fits, else TC."""
        if entry.lean_body is not None:
            assert entry.lean_heads is not None
            resp = ident + entry.lean_heads[v] + question + entry.lean_body + opt
            if len(resp) <= limit:
                return resp
        self.stats.truncated += 1
        return ident + entry.tc_heads[v] + question + opt


UDP_IO = ("auto", "batched", "asyncio")


def udp_path(choice: str) -> str:
    """The UDP path a ``--udp-io`` choice gives here: ``batched`` where recvmmsg/sendmmsg can be called
    (``auto`` then takes it), else ``asyncio``; ValueError when ``batched`` is asked for and cannot be had."""
    if choice not in UDP_IO:
        raise ValueError(f"udp_io must be one of {', '.join(UDP_IO)}, not {choice!r}")
    if choice == "asyncio":
        return choice
    from gtm.dns.batched import available

    if available():
        return "batched"
    if choice == "batched":
        raise ValueError("the batched UDP path needs recvmmsg and sendmmsg (64-bit Linux); use --udp-io asyncio")
    return "asyncio"


REPLY_CACHE_LIMIT = 20_000  # replies kept per table (a flood of distinct queries clears it, never grows it)


def _keep(table: Table, data: bytes, entry: Entry, resp: bytes) -> None:
    """Keep a UDP reply that is a function of the query bytes after the ID and of the table alone: a static
    answer, or a steered one chosen by the query's ECS option (not by the source address, and not a weighted
    rotation), neither truncated nor shortened. The next such query is then a dict lookup and a concatenation
    (gtm.dns.table.Table.replies: each table has its own, so a swap starts afresh)."""
    replies = table.replies
    if len(replies) >= REPLY_CACHE_LIMIT:
        replies.clear()
    replies[data[2:]] = (entry, resp[2:])


def _find_ecs(data: bytes, pos: int) -> Ecs | None | Literal[False]:
    """The ECS option among the OPT options at ``pos``..end; None if absent, False if anything is malformed."""
    end = len(data)
    found: Ecs | None = None
    while pos < end:
        if pos + 4 > end:
            return False
        code = data[pos] << 8 | data[pos + 1]
        length = data[pos + 2] << 8 | data[pos + 3]
        if pos + 4 + length > end:
            return False
        if code == ECS_CODE:
            try:
                found = parse_ecs(data[pos + 4: pos + 4 + length])
            except ValueError:
                return False
        pos += 4 + length
    return found


def _header_only(id_: int, qflags: int, rcode: int, question: bytes, opt: bytes) -> bytes:
    """A response with no records: QR set, opcode and RD copied, the question echoed when there is one."""
    flags = QR | (qflags & 0x7900) | (rcode & 0xF)
    return struct.pack("!HHHHHH", id_, flags, 1 if question else 0, 0, 0, 1 if opt else 0) + question + opt


# -- listeners ----------------------------------------------------------------------------------------------
class _Udp(asyncio.DatagramProtocol):
    def __init__(self, responder: Responder):
        self.responder = responder
        self.answer = responder.answer  # bound once: attribute lookups are a visible share of a query's cost
        self.count = 0  # datagrams received; read through Responder.udp_queries()
        self.transport: Any = None
        self.sendto: Any = None
        responder.udp_protocols.append(self)

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.sendto = transport.sendto

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.count += 1
        if self.count & 63:
            resp = self.answer(data, addr[0])
        else:  # one query in 64 is timed, for the duration histogram (and one in 64 x N logged, with --query-log N)
            started = time.perf_counter()
            resp = self.answer(data, addr[0])
            observe = self.responder.observe
            if observe is not None:
                observe(time.perf_counter() - started)
            every = self.responder.query_log
            if every and resp is not None and not (self.count >> 6) % every:
                self.responder.log_query(data, addr[0], resp)
        if resp is not None:
            rrl = self.responder.rrl
            if rrl is not None:
                resp = rrl.check(addr[0], data, resp)
                if resp is None:
                    return
            self.sendto(resp, addr)

    def error_received(self, exc: Exception) -> None:  # ICMP errors from earlier sends: nothing to do
        log.debug("UDP error: %s", exc)


class _Tcp(asyncio.Protocol):
    """RFC 7766: many queries per connection, pipelined; framing by the 2-byte length; idle timeout.

    The idle timer restarts only when a whole query has been answered, so a client dripping bytes cannot hold
    a connection (and a place under the cap) open. When the client does not read its answers, the transport's
    write buffer fills, asyncio calls pause_writing, and we stop reading until it drains: memory stays bounded.
    """

    def __init__(self, server: "DnsServer"):
        self.server = server
        self.buf = bytearray()
        self.transport: Any = None
        self.timer: asyncio.TimerHandle | None = None
        self.peer: str | None = None
        self.net: bytes | None = None  # the client network, for the per-network connection cap
        self.paused = False

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = peer[0] if peer else None
        server = self.server
        limits = server.limits
        self.net = network_key(self.peer, limits.ipv4_prefix, limits.ipv6_prefix) \
            if limits is not None and self.peer and not is_exempt(self.peer, server.exempt) else None
        if len(server.tcp_conns) >= server.max_tcp or \
                (self.net is not None and limits is not None
                 and server.tcp_by_net.get(self.net, 0) >= limits.tcp_per_client):
            server.responder.stats.tcp_rejected += 1
            self.net = None  # not counted: connection_lost must not uncount it
            transport.abort()
            return
        transport.set_write_buffer_limits(high=TCP_WRITE_HIGH)
        server.tcp_conns.add(self)
        if self.net is not None:
            server.tcp_by_net[self.net] = server.tcp_by_net.get(self.net, 0) + 1
        self._arm()

    def _arm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = asyncio.get_running_loop().call_later(self.server.tcp_idle, self._idle)

    def _idle(self) -> None:
        self.transport.close()

    def pause_writing(self) -> None:
        self.paused = True
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.paused = False
        self.transport.resume_reading()
        self._drain()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        self._drain()

    def _drain(self) -> None:
        out = []
        responder = self.server.responder
        garbage = answered = False
        while len(self.buf) >= 2 and not self.paused:
            size = self.buf[0] << 8 | self.buf[1]
            if len(self.buf) < 2 + size:
                break
            msg = bytes(self.buf[2: 2 + size])
            del self.buf[: 2 + size]
            responder.stats.queries_tcp += 1
            resp = responder.answer(msg, self.peer, tcp=True)
            if resp is None:
                if size < 12:  # not even a header: the stream cannot be trusted (RFC 7766 section 6.2.4)
                    garbage = True
                    break
                continue
            out.append(struct.pack("!H", len(resp)) + resp)
            answered = True
            if len(out) >= 64:  # write as we go, so that pause_writing can stop us between batches
                self.transport.write(b"".join(out))
                out.clear()
        if out:
            self.transport.write(b"".join(out))
        if answered:
            self._arm()
        if garbage:
            self.transport.close()  # after writing what was answered before the garbage

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self in self.server.tcp_conns:
            self.server.tcp_conns.discard(self)
            if self.net is not None:
                left = self.server.tcp_by_net.get(self.net, 1) - 1
                if left > 0:
                    self.server.tcp_by_net[self.net] = left
                else:
                    self.server.tcp_by_net.pop(self.net, None)


class DnsServer:
    """UDP and TCP listeners on every address, all answering through one Responder."""

    def __init__(self, responder: Responder, listen: list[tuple[str, int]], max_tcp: int = 256,
                 tcp_idle: float = 10.0, limits: RrlSettings | None = None, udp_io: str = "auto"):
        self.responder = responder
        self.udp_io = udp_path(udp_io)  # "batched" (recvmmsg/sendmmsg, gtm.dns.batched) or "asyncio"
        self.listen = listen
        self.max_tcp = max_tcp
        self.tcp_idle = tcp_idle
        self.tcp_by_net: dict[bytes, int] = {}
        self.limits: RrlSettings | None = None  # rrl.tcp_per_client per client network (None: no such cap)
        self.exempt: tuple[Any, ...] = ()
        self.set_limits(limits)
        self.tcp_conns: set[_Tcp] = set()
        self._closers: list[Any] = []
        self.bound: list[tuple[str, int]] = []

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for host, port in self.listen:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            tcp = await loop.create_server(lambda: _Tcp(self), host, port, family=family, reuse_address=True,
                                           backlog=1024)
            port = tcp.sockets[0].getsockname()[1]  # port 0: the UDP side takes the same port
            sock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                if family == socket.AF_INET6:  # like the TCP side: [::] and 0.0.0.0 can be served side by side
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                for opt, size in ((socket.SO_RCVBUF, 4 << 20), (socket.SO_SNDBUF, 4 << 20)):
                    try:
                        sock.setsockopt(socket.SOL_SOCKET, opt, size)
                    except OSError:
                        pass
                sock.bind((host, port))
            except OSError:
                sock.close()
                tcp.close()
                raise
            udp = await self._serve_udp(sock)
            self._closers += [tcp, udp]
            self.bound.append((host, port))
            log.info("listening on %s port %d (UDP and TCP)", host, port)

    async def _serve_udp(self, sock: socket.socket) -> Any:
        """Answer on a bound UDP socket by the chosen path; returns what closes it."""
        loop = asyncio.get_running_loop()
        if self.udp_io == "batched":
            from gtm.dns.batched import BatchedUdp

            batched = BatchedUdp(self.responder, sock)
            batched.start(loop)
            self.responder.udp_protocols.append(batched)
            return batched
        udp, _ = await loop.create_datagram_endpoint(lambda: _Udp(self.responder), sock=sock)
        return udp

    def set_limits(self, limits: RrlSettings | None) -> None:
        """The per-network TCP connection cap from the ``rrl:`` settings (a reload may change them)."""
        self.limits = limits
        self.exempt = exempt_networks(limits) if limits is not None else ()

    async def start_on(self, socks: list[socket.socket]) -> None:
        """Serve on sockets bound elsewhere (a worker process's: UDP and TCP alternating, see gtm.proc.pool)."""
        loop = asyncio.get_running_loop()
        for sock in socks:
            if sock.type == socket.SOCK_DGRAM:
                self._closers.append(await self._serve_udp(sock))
                self.bound.append(sock.getsockname()[:2])
            else:
                tcp = await loop.create_server(lambda: _Tcp(self), sock=sock, backlog=1024)
                self._closers.append(tcp)

    async def stop(self) -> None:
        for c in self._closers:
            c.close()
        for conn in list(self.tcp_conns):
            conn.transport.close()
