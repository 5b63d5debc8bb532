"""The composition root: loads the config, builds answer tables, runs the DNS server, reloads.

Reload (SIGHUP, or ``--watch`` noticing a changed file) loads and compiles the new config in a worker thread
while the event loop keeps answering from the current table, then swaps the table in one assignment. A config
that fails to load is logged with every problem and changes nothing: the last good one keeps serving.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from dataclasses import replace

from gtm.config import discover, load
from gtm.config.healthfile import load_health
from gtm.dns.server import DnsServer, Responder
from gtm.dns.table import Table
from gtm.errors import ConfigError, GtmError
from gtm.geoip import Locator
from gtm.model import Config, HealthSnapshot
from gtm.steering import latency

log = logging.getLogger(__name__)


def health_for(config: Config, health_file: str | None) -> HealthSnapshot:
    """The health to answer under: the health file's, else everything up; latency choices filled in."""
    health = load_health(health_file, config) if health_file else HealthSnapshot()
    # The file's sticky choices are the previous ones; hysteresis decides whether they still hold.
    return replace(health, latency_choice=latency.update_choices(config, health))


class Builder:
    """Loads the config (and health file) and compiles tables; keeps the GeoIP locator while the configured
    databases stay the same."""

    def __init__(self, health_file: str | None = None):
        self.locator: Locator | None = None
        self.health_file = health_file

    def __call__(self, paths: list[str]) -> Table:
        """Load ``paths`` and compile their answers; raises ConfigError (and GtmError for a bad database)."""
        config = load(paths)
        health = health_for(config, self.health_file)
        locator = self.locator
        if locator is None or (locator.source != config.geoip):
            try:
                locator = Locator(config.geoip)
            except Exception as e:  # maxminddb raises InvalidDatabaseError (a RuntimeError), OSError, ValueError
                raise GtmError(f"cannot open the GeoIP database: {e}") from None
        table = Table(config, health, locator.locate)
        self.locator = locator
        return table


def build(paths: list[str]) -> Table:
    """Load ``paths`` and compile their answers (all regions healthy); raises ConfigError."""
    return Builder()(paths)


def _mtimes(paths: list[str], extra: tuple[str, ...]) -> dict[str, int]:
    """Modification times of the config files (found now, or read last time) and of the named directories."""
    out = {}
    for p in set(discover(paths)) | set(extra) | {p for p in paths if os.path.isdir(p)}:
        try:
            out[p] = os.stat(p).st_mtime_ns
        except OSError:
            out[p] = -1
    return out


class Runtime:
    """Owns the current table and the server; ``reload()`` is safe to call at any time."""

    def __init__(self, paths: list[str], listen: list[tuple[str, int]], watch: float = 0.0, tcp_idle: float = 10.0,
                 tcp_clients: int = 256, udp_payload: int = 1232, health_file: str | None = None):
        self.paths = paths
        self.builder = Builder(health_file)
        self.tcp_idle, self.tcp_clients, self.udp_payload = tcp_idle, tcp_clients, udp_payload
        self.listen = listen
        self.watch = watch
        self.responder: Responder | None = None
        self.server: DnsServer | None = None
        self.generation = 0
        self.last_error: str | None = None
        self._reloading: asyncio.Lock | None = None  # created on the running loop in start()
        self._stop: asyncio.Event | None = None

    async def start(self) -> None:
        table = self.builder(self.paths)
        self.responder = Responder(table, udp_payload=self.udp_payload)
        self.server = DnsServer(self.responder, self.listen, max_tcp=self.tcp_clients, tcp_idle=self.tcp_idle)
        await self.server.start()
        self.generation = 1
        self._reloading = asyncio.Lock()
        log.info("serving %s", table.summary())

    async def reload(self) -> bool:
        """Load and compile the config again; swap it in when it is good. Returns whether it was swapped."""
        assert self.responder is not None and self._reloading is not None
        async with self._reloading:
            loop = asyncio.get_running_loop()
            started = time.monotonic()
            try:
                table = await loop.run_in_executor(None, self.builder, self.paths)
            except (ConfigError, GtmError) as e:
                self.last_error = str(e)
                log.error("reload failed; still serving the previous config:\n%s", e)
                ok = False
            except Exception as e:  # a bug must not take down a serving node either
                self.last_error = f"{type(e).__name__}: {e}"
                log.exception("reload failed; still serving the previous config")
                ok = False
            else:
                self.responder.table = table  # one reference swap: each query sees old or new, never a mix
                self.generation += 1
                self.last_error = None
                log.info("reloaded in %.0f ms: %s", (time.monotonic() - started) * 1000, table.summary())
                ok = True
        return ok

    def _sources(self) -> tuple[str, ...]:
        sources = self.responder.table.config.sources if self.responder else ()
        return sources + ((self.builder.health_file,) if self.builder.health_file else ())

    async def _watch(self) -> None:
        seen = _mtimes(self.paths, self._sources())
        while True:
            await asyncio.sleep(self.watch)
            now = _mtimes(self.paths, self._sources())
            if now != seen:
                seen = now
                log.info("configuration changed on disk; reloading")
                await self.reload()

    async def run(self) -> None:
        """Serve until SIGINT/SIGTERM."""
        loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._stop.set)
        started = False
        # A SIGHUP during start-up must not kill the process: it is remembered and served once running.
        pending = asyncio.Event()
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self.reload()) if started
                                else pending.set())
        await self.start()
        started = True
        if pending.is_set():
            asyncio.ensure_future(self.reload())
        watcher = asyncio.ensure_future(self._watch()) if self.watch > 0 else None
        await self._stop.wait()
        if watcher:
            watcher.cancel()
        assert self.server is not None
        await self.server.stop()
        log.info("stopped")
