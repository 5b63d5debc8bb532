"""``gtm serve``'s options, as one value the runtime is built from."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServeOptions:
    """``gtm serve``'s options (see ``gtm serve --help``)."""

    paths: tuple[str, ...]
    listen: tuple[tuple[str, int], ...] = (("127.0.0.1", 5353),)
    watch: float = 0.0                       # seconds between looks for changed files (0: only SIGHUP)
    tcp_idle: float = 10.0
    tcp_clients: int = 256
    udp_payload: int = 1232
    health_file: str | None = None
    admin_listen: tuple[str, int] | None = None
    probe_as: str | None = None
    workers: int = 0                         # 0: this process answers queries; N: N worker processes do
    takeover: str | None = None              # Unix socket: take the DNS sockets over from the instance there
    ready_file: str | None = None            # written once serving: pid, DNS addresses bound, admin URL
    query_log: int = 0                       # log one UDP query in 64 x N (0: no query log)
    udp_io: str = "auto"                     # auto | batched (recvmmsg/sendmmsg) | asyncio
