"""A small DNS client for verifying answers (drills): one question with an optional EDNS Client Subnet, over
UDP with a retry, the answer's addresses, TTL and ECS scope read back. Built on the codec's wire helpers."""
from __future__ import annotations

import asyncio
import ipaddress
import random
import struct
from dataclasses import dataclass

from gtm.dns.codec import ECS_CODE, _read_name, _skip_rr, ecs_data, name_to_wire, opt_rr, wire_to_text
from gtm.model import A, AAAA, CNAME, OPT

IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Reply:
    rcode: int
    addresses: tuple[str, ...]      # A/AAAA of the answer section, in order
    ttl: int | None                 # of the first address record
    scope: int | None               # ECS scope prefix length, when echoed
    cname: str | None = None        # the target of the answer's first CNAME (lower case, no final dot)


def ecs_option(net: IPNet) -> bytes:
    """An ECS option (RFC 7871 section 6) for ``net``: family, source prefix, scope 0, the prefix's octets."""
    body = ecs_data(net)
    return struct.pack("!HH", ECS_CODE, len(body)) + body


def build_query(qid: int, name: str, qtype: int, client: IPNet | None = None) -> bytes:
    header = struct.pack("!HHHHHH", qid, 0, 1, 0, 0, 1)  # RD off: we ask the authority itself
    question = name_to_wire(name.lower() if name.endswith(".") else name.lower() + ".") + struct.pack("!HH", qtype, 1)
    return header + question + opt_rr(1232, options=ecs_option(client) if client is not None else b"")


def parse_reply(data: bytes, qid: int) -> Reply:
    """ValueError for anything that is not a well-formed response to query ``qid``."""
    if len(data) < 12:
        raise ValueError("shorter than a header")
    rid, flags, qd, an, ns, ar = struct.unpack_from("!HHHHHH", data, 0)
    if rid != qid or not flags & 0x8000:
        raise ValueError("not the response to this query")
    pos = 12
    for _ in range(qd):
        pos = _read_name(data, pos)[1] + 4
    addresses, ttl, cname = [], None, None
    for _ in range(an):
        pos, rtype, _rclass, rttl, rdata = _skip_rr(data, pos)
        if rtype in (A, AAAA):
            addresses.append(str(ipaddress.ip_address(rdata)))
            ttl = rttl if ttl is None else ttl
        elif rtype == CNAME and cname is None:  # (its RDATA may be compressed: read in the whole message)
            cname = wire_to_text(_read_name(data, pos - len(rdata))[0]).lower().rstrip(".")
    for _ in range(ns):
        pos = _skip_rr(data, pos)[0]
    scope = None
    for _ in range(ar):
        pos, rtype, _rclass, _ttl, rdata = _skip_rr(data, pos)
        if rtype == OPT:
            at = 0
            while at + 4 <= len(rdata):
                code, length = struct.unpack_from("!HH", rdata, at)
                if at + 4 + length > len(rdata):
                    raise ValueError("an EDNS option runs past its OPT record")
                if code == ECS_CODE and length >= 4:
                    scope = rdata[at + 7]
                at += 4 + length
    return Reply(flags & 0xF, tuple(addresses), ttl, scope, cname)


class _Once(asyncio.DatagramProtocol):
    def __init__(self, qid: int) -> None:
        self.qid = qid
        self.done: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: object) -> None:
        if self.done.done():
            return
        try:
            self.done.set_result(parse_reply(data, self.qid))
        except ValueError:
            pass  # not ours: keep waiting

    def error_received(self, exc: Exception) -> None:
        if not self.done.done():
            self.done.set_exception(exc)


async def ask(server: tuple[str, int], name: str, qtype: int, client: IPNet | None = None,
              timeout: float = 1.0, tries: int = 2) -> Reply:
    """One question to ``server`` over UDP; TimeoutError after ``tries`` attempts of ``timeout`` seconds, OSError
    when the server refuses (ICMP port unreachable)."""
    loop = asyncio.get_running_loop()
    for attempt in range(tries):
        qid = random.getrandbits(16)
        transport, proto = await loop.create_datagram_endpoint(lambda: _Once(qid), remote_addr=server)
        try:
            transport.sendto(build_query(qid, name, qtype, client))
            return await asyncio.wait_for(proto.done, timeout)
        except asyncio.TimeoutError:
            if attempt == tries - 1:
                raise TimeoutError(f"no answer from {server[0]}:{server[1]} within {timeout:g} s") from None
        finally:
            transport.close()
    raise AssertionError("unreachable")
