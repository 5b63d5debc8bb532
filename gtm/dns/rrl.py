"""Response rate limiting (RRL) for UDP, in the manner of BIND, Knot and NSD.

A spoofed-source flood makes an authoritative server a reflector: each small query sent in the victim's name
gets a larger answer sent to the victim. RRL counts, per client network (IPv4 /24, IPv6 /56 by default) and
per kind of response (answer, NODATA, NXDOMAIN, error), the responses sent, as token buckets that refill at the
configured rate; a response beyond its bucket is dropped, except every ``slip``-th one, which goes out as an
empty truncated reply (TC=1): a real client behind that network retries over TCP and is answered, a victim
gets nothing larger than the query. TCP is never limited (its source cannot be spoofed).

Cost on the query path: one dict lookup per client address (cached, bounded) and one per bucket.
"""
from __future__ import annotations

import ipaddress
import struct
import time
from dataclasses import dataclass, field
from typing import Any

from gtm.model import RrlSettings

KINDS = ("answer", "nodata", "nxdomain", "error")
MAX_CLIENTS = 200_000  # cached address -> bucket prefix; cleared when full
MAX_BUCKETS = 200_000  # buckets; the idle ones are dropped when full


@dataclass
class RrlStats:
    limited: dict[str, int] = field(default_factory=lambda: {k: 0 for k in KINDS})   # dropped
    slipped: dict[str, int] = field(default_factory=lambda: {k: 0 for k in KINDS})   # sent truncated


def kind_of(resp: bytes) -> str:
    rcode = resp[3] & 0xF
    if rcode == 3:
        return "nxdomain"
    if rcode:
        return "error"
    return "answer" if resp[6] or resp[7] else "nodata"


class RateLimiter:
    def __init__(self, settings: RrlSettings, clock: Any = time.monotonic):
        self.settings = settings
        self.clock = clock
        self.rates = {k: settings.rate(k) for k in KINDS}
        self.exempt = exempt_networks(settings)
        self.prefix_of: dict[str | bytes, bytes | None] = {}  # address -> client network key (None: exempt)
        self.buckets: dict[tuple[bytes, str], list[float]] = {}  # (network, kind) -> [tokens, last, limited]
        self.stats = RrlStats()

    def _network(self, address: str | bytes) -> bytes | None:
        if isinstance(address, bytes):  # the batched path's key: the raw source address (4 or 16 bytes)
            try:
                ip: Any = ipaddress.ip_address(address)
            except ValueError:
                return None
            if ip.version == 6 and ip.ipv4_mapped is not None:
                ip = ip.ipv4_mapped
            if any(ip in n for n in self.exempt):
                return None
            return _key_of(ip, self.settings.ipv4_prefix, self.settings.ipv6_prefix)
        if is_exempt(address, self.exempt):
            return None
        return network_key(address, self.settings.ipv4_prefix, self.settings.ipv6_prefix)

    def check(self, address: str | bytes, query: bytes, resp: bytes) -> bytes | None:
        """``resp`` when within the limit; a truncated empty reply when slipped; None when dropped. ``address``:
        the source address as text, or raw (4 or 16 bytes: the batched path, ``gtm.dns.batched``)."""
        try:
            net = self.prefix_of[address]
        except KeyError:
            if len(self.prefix_of) >= MAX_CLIENTS:
                self.prefix_of.clear()
            net = self.prefix_of[address] = self._network(address)
        if net is None:
            return resp
        kind = kind_of(resp)
        rate = self.rates[kind]
        if not rate:
            return resp
        now = self.clock()
        key = (net, kind)
        b = self.buckets.get(key)
        if b is None:
            if len(self.buckets) >= MAX_BUCKETS:
                self._prune(now)
            cap = max(1.0, rate * self.settings.burst)  # at least one response per refill, whatever the burst
            self.buckets[key] = [cap - 1, now, 0]
            return resp
        tokens = min(max(1.0, rate * self.settings.burst), b[0] + (now - b[1]) * rate)
        b[1] = now
        if tokens >= 1:
            b[0] = tokens - 1
            return resp
        b[0] = tokens
        b[2] += 1
        slip = self.settings.slip
        if slip and b[2] % slip == 0:
            self.stats.slipped[kind] += 1
            return truncated(query, resp)
        self.stats.limited[kind] += 1
        return None

    def _prune(self, now: float) -> None:
        """Drop buckets full again (idle long enough to have refilled): they hold no state worth keeping."""
        full = [k for k, b in self.buckets.items()
                if b[0] + (now - b[1]) * self.rates[k[1]] >= max(1.0, self.rates[k[1]] * self.settings.burst)]
        for k in full:
            del self.buckets[k]
        if len(self.buckets) >= MAX_BUCKETS:  # a flood from very many networks: start over
            self.buckets.clear()


def truncated(query: bytes, resp: bytes) -> bytes:
    """An empty reply with TC=1 to ``query``: the response's header flags, its question, no records."""
    qend = query.find(0, 12) + 5 if len(query) > 12 else 12
    question = query[12:qend] if 12 < qend <= len(query) else b""
    flags = (resp[2] | 0x02) << 8 | resp[3]
    return resp[:2] + struct.pack("!HHHHH", flags, 1 if question else 0, 0, 0, 0) + question


def network_key(address: str, v4: int, v6: int) -> bytes | None:
    """The client network of ``address`` (its first ``v4``/``v6`` bits) as a short key; None if unparsable."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    return _key_of(ip, v4, v6)


def _key_of(ip: Any, v4: int, v6: int) -> bytes:
    bits, width = (v4, 32) if ip.version == 4 else (v6, 128)
    return bytes([ip.version]) + (int(ip) >> (width - bits)).to_bytes(16, "big")


def exempt_networks(settings: RrlSettings) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(n, strict=False) for n in settings.exempt)


def is_exempt(address: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    """Whether ``address`` is in one of the exempt ``networks`` (an unparsable address is not limited either:
    it has no network to be counted in)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return True
    return any(ip in n for n in networks)
