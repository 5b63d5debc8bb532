"""Where a node's queries are answered: a DNS server in this process, or (``--workers N``) a pool of worker
processes, which with ``--takeover`` start on the sockets of the instance they replace and serve the same
socket to the next one."""
from __future__ import annotations

import asyncio
import socket
from typing import Callable

from gtm.control.options import ServeOptions
from gtm.dns.counts import Counts
from gtm.dns.server import DnsServer
from gtm.model import RrlSettings
from gtm.proc.handoff import Handoff, Previous, succeed
from gtm.proc.pool import WorkerPool, wait_free
from gtm.serving import Serving, Snapshot


class Answering:
    def __init__(self, options: ServeOptions, observe: Callable[[float], None]):
        self.options = options
        self.observe = observe                # each query's duration (the metrics' histogram)
        self.server: DnsServer | None = None  # without workers
        self.pool: WorkerPool | None = None   # with --workers
        self._handoff: Handoff | None = None

    @property
    def bound(self) -> list[tuple[str, int]]:
        return self.server.bound if self.server else self.pool.bound if self.pool else []

    def running(self) -> int:
        """Worker processes running (0 without workers)."""
        return self.pool.running() if self.pool else 0

    def degraded(self) -> str | None:
        """Why not every worker answers (None: all do, or no workers)."""
        return self.pool.degraded() if self.pool else None

    async def start(self, serving: Serving, generation: int, limits: RrlSettings | None, stop: Callable[[], None],
                    counts: Counts, previous: Previous | None = None,
                    admin: Callable[[], socket.socket | None] = lambda: None) -> None:
        """Open the DNS sockets (or serve the ones ``previous`` handed over) and answer from ``serving``; ``stop``
        is called when a newer instance took the sockets (and ``admin()``, the admin API's) over."""
        opts = self.options
        serving.responder.observe = self.observe
        serving.responder.query_log = opts.query_log
        if previous is None:  # never beside another instance, or the orphaned workers of one
            await wait_free(list(opts.listen))
        if not opts.workers:
            self.server = DnsServer(serving.responder, list(opts.listen), max_tcp=opts.tcp_clients,
                                    tcp_idle=opts.tcp_idle, limits=limits, udp_io=opts.udp_io)
            serving.add_server(self.server)
            await self.server.start()
            return
        self.pool = WorkerPool(opts.workers, list(opts.listen), {"udp_payload": opts.udp_payload,
                                                                  "tcp_idle": opts.tcp_idle,
                                                                  "tcp_clients": opts.tcp_clients,
                                                                  "query_log": opts.query_log,
                                                                  "udp_io": opts.udp_io},
                               observe=self.observe, sockets=previous.sets if previous else None)
        counts.workers = self.pool
        await self.pool.start(serving.snapshot, generation)
        if previous is not None:
            await succeed(self.pool, previous.conn)
        if opts.takeover:
            self._handoff = Handoff(opts.takeover, self.pool, stop, asyncio.get_running_loop(), admin)

    def ship(self, snapshot: Snapshot, generation: int, new_config: bool) -> None:
        """The workers get each swapped snapshot (the config itself only when it is new)."""
        if self.pool is not None:
            self.pool.send(snapshot, generation, new_config)

    async def refresh(self) -> None:
        """Fresh counts from the workers (before the metrics are read)."""
        if self.pool is not None:
            await self.pool.refresh()

    async def stop(self) -> None:
        if self._handoff is not None:
            self._handoff.close()
        if self.server is not None:
            await self.server.stop()
        if self.pool is not None:
            await self.pool.stop()
