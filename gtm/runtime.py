"""The composition root: wires the parts of a node and runs its life from start to stop.

Every change of answers is a new :class:`~gtm.serving.Snapshot` handed to :meth:`Serving.swap`: a health
change (``_on_health``), an override change (``_on_overrides``) and a reload. Reload (SIGHUP, or ``--watch``
noticing a changed file) loads and compiles the new config off the event loop while the current table keeps
answering; a config that fails to load is logged with every problem and changes nothing.
"""
from __future__ import annotations

import asyncio
import logging
import signal
import socket
import time
from typing import Any

from aiohttp import web

from gtm.admin.app import ACCESS, GUARD, Running, is_loopback_url, make_app, read_token
from gtm.admin.app import start as admin_start
from gtm.admin.explain import explain_table
from gtm.admin.metrics import NodeMetrics
from gtm.control.answering import Answering
from gtm.control.names import NameWatcher
from gtm.dnssec.zone import published
from gtm.control.files import mtimes, remove_ready, warn_exposed, watch, write_ready
from gtm.control.options import ServeOptions
from gtm.control.overrides import OverrideWatcher
from gtm.control.probing import BuiltinProber, first_round, own_key, tick
from gtm.control.status import Rates, node_status
from gtm.errors import GtmError
from gtm.health.node import HealthNode
from gtm.model import AdminSettings, Config, HealthSnapshot
from gtm.model.effective import Overrides, PinnedHealth
from gtm.model.names import Names
from gtm.serving import Serving, Snapshot, pinned_health, signing_epoch
from gtm.proc import loading
from gtm.proc.handoff import take_over
from gtm.proc.memory import release_memory, settle
from gtm.proc.sharedmem import SharedZones

log = logging.getLogger(__name__)
CLOCK_WARNING = 300.0  # seconds off the probers' clocks before a signing node warns


class Runtime:
    """One node: serving, health, overrides, the admin API, workers; ``reload()`` is safe at any time."""

    def __init__(self, options: ServeOptions):
        self.options = options
        self.metrics = NodeMetrics()
        self.zones = SharedZones()            # this process's zones in shared memory (mapped by the workers)
        self.serving: Serving | None = None
        self.node: HealthNode | None = None
        self.overrides = OverrideWatcher(self._on_overrides)
        self.names = NameWatcher(self._on_names)
        self.metrics.names = self.names
        self.rates = Rates(self.metrics.service_totals)
        self.overrides.tick = self.rates.sample
        self.dns = Answering(options, self.metrics.duration.observe)
        self.prober: BuiltinProber | None = None
        self.generation = 0                   # configs served (the first is 1)
        self.last_error: str | None = None
        self.answering = False                # DNS is served
        self.admin_url: str | None = None
        self._admin_runner: Running | None = None
        self._admin_app: web.Application | None = None
        self._tasks: list[asyncio.Future[Any]] = []
        self._reloading: asyncio.Lock | None = None  # created on the running loop in start()
        self._stop: asyncio.Event | None = None
        self._watched: object = None           # the files' modification times as loaded (--watch)

    # -- new answers: always a Snapshot through Serving.swap --------------------------------------------------
    def _on_health(self, health: HealthSnapshot) -> None:
        if self.serving is not None:
            self.serving.swap(self.serving.snapshot.with_health(health))

    def _on_overrides(self, overrides: Overrides) -> None:
        if self.serving is not None:
            self.serving.swap(self.serving.snapshot.with_overrides(overrides))

    def _on_names(self, names: Names) -> None:
        if self.serving is not None:
            self.serving.swap(self.serving.snapshot.with_names(names))

    def _ship(self, snapshot: Snapshot, new_config: bool) -> None:
        """Workers get each swapped snapshot (the config itself only when it is new)."""
        if new_config and self.serving is not None:
            self.metrics.locator = self.serving.locator  # the GeoIP metrics follow the databases in use
        self.dns.ship(snapshot, self.generation, new_config)

    # -- what a subclass (the demo) may change ------------------------------------------------------------------
    def load(self, paths: list[str]) -> Config:
        """Load the config; a big one in a child process (gtm.proc.loading), packed zones in shared memory when
        workers will map them; signed zones with their keys published (DNSKEY, CDS, CDNSKEY; a key that cannot
        be read fails the load, so a reload keeps the keys in use)."""
        return published(loading.load(paths, self.zones if self.options.workers > 0 else None))

    def routes(self) -> list[web.RouteDef]:
        """Extra routes of the admin API."""
        return []

    def _load(self) -> tuple[Config, PinnedHealth | None]:
        config = self.load(list(self.options.paths))
        return config, pinned_health(config, self.options.health_file)

    # -- status and explain, for the admin API ------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        return node_status(self.serving.snapshot if self.serving else None, self.generation, self.last_error,
                           self.dns.bound, self.answering, self.dns.running(),
                           self.node.status() if self.node else {}, self.overrides.status(),
                           self.rates.per_second(), self.names.status()).to_json()

    def explain(self, name: str, client: str | None, qtype: str) -> dict[str, Any]:
        assert self.serving is not None
        return explain_table(self.serving.table, name, client, qtype)

    # -- lifecycle ----------------------------------------------------------------------------------------------
    async def start(self) -> None:
        opts = self.options
        if opts.ready_file:
            remove_ready(opts.ready_file)  # a file from an earlier run must not say we serve
        config, pinned = self._load()
        warn_exposed(config)
        self.overrides.configure(config)
        in_force = self.overrides.first_read()
        try:  # report keys that cannot be read: a one-line error, as a config problem is
            own = own_key(config, opts.probe_as) if opts.probe_as is not None else {}
            self.node = HealthNode(config, on_change=self._on_health, own_keys=own)
        except ValueError as e:
            raise GtmError(str(e)) from None
        live = self.node.current if self.node.ready() else HealthSnapshot()
        self.names.configure(config)
        names = await self.names.first_round()  # hostname endpoints resolved before the first answer
        self.serving = Serving(Snapshot.first(config, live, pinned, in_force, names), self.metrics, opts.udp_payload)
        self.serving.listeners.append(self._ship)
        self.metrics.node, self.metrics.locator = self.node, self.serving.locator
        self.generation = self.metrics.generation = 1
        self.metrics.loaded_at = time.time()
        self._reloading = asyncio.Lock()
        listen_admin = opts.admin_listen or (config.admin.listen if config.admin != AdminSettings() else None)
        # --takeover: the running instance's sockets, its admin API's too, before anything binds
        previous = take_over(opts.takeover) if opts.takeover and opts.workers else None
        if listen_admin is not None:
            await self._start_admin(config, listen_admin, previous.admin if previous else None)
            if opts.ready_file:  # probers may report before DNS opens (the first round): say where already
                self._write_ready(opts.ready_file)
        if opts.probe_as is not None:
            assert self.admin_url is not None, "--probe-as needs the admin API (admin: in the config or --admin-listen)"
            self.prober = BuiltinProber(opts.probe_as, self.admin_url, read_token(config.admin), own)
            self.prober.start(config)
        self._tasks += [asyncio.ensure_future(tick(self.node)), asyncio.ensure_future(self.overrides.run()),
                        asyncio.ensure_future(self._renew_signatures()),
                        asyncio.ensure_future(self.names.run())]
        if self.node.monitored and not self.node.ready() and (listen_admin is not None or opts.probe_as):
            if not await first_round(self.node, config.health.start_timeout, self._stopping):
                return  # asked to stop while waiting: never open the DNS port
            self._on_health(self.node.current)
        elif self.node.monitored and not self.node.ready():
            log.warning("monitors are configured but nothing reports to this node (no admin API, no --probe-as): "
                        "answering as if every endpoint were up")
        await self.dns.start(self.serving, self.generation, config.rrl, self._stop_soon, self.metrics, previous,
                             lambda: self._admin_runner.listening() if self._admin_runner else None)
        self.answering = True
        settle()
        if opts.watch > 0:  # the files as loaded: a change from now on is a change
            self._watched = mtimes(opts.paths, self._sources())
        if opts.ready_file:
            self._write_ready(opts.ready_file)
        log.info("serving %s", self.serving.table.summary())

    def _write_ready(self, path: str) -> None:
        write_ready(path, self.answering, self.dns.bound, self.admin_url)

    async def _start_admin(self, config: Config, listen: tuple[str, int], handed: socket.socket | None) -> None:
        assert self.node is not None
        token = read_token(config.admin)
        app = make_app(self.node, self.metrics.registry, self.status, self.explain, lambda: self.answering, token,
                       config.admin.public, refresh=self.dns.refresh, degraded=self.dns.degraded)
        app.add_routes(self.routes())
        self._admin_app = app
        self.metrics.admin_guard = app[GUARD]
        if handed is not None and handed.getsockname()[:2] != listen and listen[1] != 0:
            handed.close()  # the admin address changed with the config: bound anew
            handed = None
        self._admin_runner, self.admin_url = await admin_start(app, config.admin, listen, token, self.node, handed)

    async def reload(self) -> bool:
        """Load and compile the config again; swap it in when it is good. Returns whether it was swapped."""
        assert self.serving is not None and self._reloading is not None and self.node is not None
        serving = self.serving
        async with self._reloading:
            loop = asyncio.get_running_loop()
            started = time.monotonic()
            try:
                config, pinned = await loop.run_in_executor(None, self._load)
                keys_ok = HealthNode.check_keys(config)  # fails here, before anything changed
                token = self._admin_token(config)
                if self.prober is not None:
                    self.prober.key(config)  # the built-in prober can sign under the new config
                prepared = await loop.run_in_executor(None, serving.prepare,
                                                      serving.snapshot.with_config(config, pinned))
            except (GtmError, ValueError) as e:
                self.last_error = str(e)
                self.metrics.reloads["failure"] += 1
                log.error("reload failed; still serving the previous config:\n%s", e)
                return False
            except Exception as e:  # a bug must not take down a serving node either
                self.last_error = f"{type(e).__name__}: {e}"
                self.metrics.reloads["failure"] += 1
                log.exception("reload failed; still serving the previous config")
                return False
            self.generation += 1
            self.metrics.generation, self.metrics.loaded_at = self.generation, time.time()
            self.metrics.reloads["success"] += 1
            # Hostnames the new config adds are resolved before it answers (each lookup bounded).
            self.names.configure(config)
            names = await self.names.first_round(only_new=True)
            # Health and overrides that changed while compiling are in the current snapshot: applied on top.
            serving.swap(serving.snapshot.with_config(config, pinned).with_names(names), prepared)
            # Only a config that compiled reaches the health node; its verdicts may change with it.
            self.node.set_config(config, keys_ok)
            if self._admin_app is not None:  # the token read again: the old one stops working, the new one works
                self._admin_app[ACCESS].update(token, config.admin.public)
            self.last_error = None
            if self._admin_runner is not None:
                try:
                    self._admin_runner.reload_tls(config.admin)  # a renewed certificate
                except GtmError as e:
                    self.last_error = str(e)
                    log.error("%s; the admin API keeps its certificate", e)
            self.overrides.configure(config)
            if self.prober is not None:
                self.prober.token = token
                await self.prober.restart(config)
            log.info("reloaded in %.0f ms: %s", (time.monotonic() - started) * 1000, serving.table.summary())
            del prepared, config
            await loop.run_in_executor(None, release_memory)
            return True

    async def _renew_signatures(self) -> None:
        """Signed zones: when a new signing period starts, every answer is signed afresh, off the event loop, and
        swapped in like a reload (answers never pause; the old signatures stay valid for one more period)."""
        assert self.serving is not None and self._reloading is not None
        serving = self.serving
        warned = 0.0
        while True:
            period = serving.snapshot.config.dnssec.signature_period
            await asyncio.sleep(min(60.0, period / 20))
            if serving.table.signers and self.node is not None and self.node.verifier is not None:
                offset = self.node.verifier.offset
                if offset is not None and abs(offset) > CLOCK_WARNING and time.monotonic() - warned > 3600:
                    warned = time.monotonic()
                    log.warning("this node's clock is %+.0f s off the probers' (their last signed report): the "
                                "signatures it makes carry its time; validators with the right time may find them "
                                "not yet valid or expired (gtm_clock_offset_seconds)", offset)
            epoch = signing_epoch(serving.snapshot.config)
            if epoch == serving.snapshot.epoch:
                continue
            async with self._reloading:
                started = time.monotonic()
                try:
                    prepared = await asyncio.get_running_loop().run_in_executor(
                        None, serving.prepare, serving.snapshot.with_epoch(epoch))
                    serving.swap(serving.snapshot.with_epoch(epoch), prepared)
                except Exception:  # keys and config were good at the last load; keep serving what we have
                    log.exception("renewing the signatures failed; the current ones stay in use")
                    continue
                log.info("signatures renewed for the period from %s in %.0f ms",
                         time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch)),
                         (time.monotonic() - started) * 1000)

    def _admin_token(self, config: Config) -> str | None:
        """The admin token of ``config``; GtmError when it cannot be read, or a running admin API off loopback
        would be left without one."""
        token = read_token(config.admin)
        if token is None and self.admin_url is not None and not is_loopback_url(self.admin_url):
            raise GtmError("admin.token: the admin API listens off loopback and needs a token")
        return token

    def _sources(self) -> tuple[str, ...]:
        config = self.serving.snapshot.config if self.serving else None
        sources = config.sources if config is not None else ()
        # signed zones: their key directory (a key written by keygen or a roll step renames a file in it)
        if config is not None and config.dnssec.key_dir and any(z.signed for z in config.zones.values()):
            sources += (config.dnssec.key_dir,)
        return sources + ((self.options.health_file,) if self.options.health_file else ())

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
        try:
            await self.start()
            started = True
            if pending.is_set():
                asyncio.ensure_future(self.reload())
            if self.options.watch > 0:
                self._tasks.append(asyncio.ensure_future(
                    watch(self.options.paths, self._sources, self.options.watch, self.reload, self._watched)))
            await self._stop.wait()
        finally:
            await self.stop()

    def _stopping(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    def _stop_soon(self) -> None:
        if self._stop is not None:
            self._stop.set()

    async def stop(self) -> None:
        if self.prober is not None:
            await self.prober.stop()
        for t in self._tasks:
            t.cancel()
        await self.dns.stop()
        if self._admin_runner is not None:
            await self._admin_runner.cleanup()
        if self.node is not None:
            self.node.persist()
        if self.options.ready_file:
            remove_ready(self.options.ready_file)
        if self.answering:  # (a server that never answered says nothing of stopping)
            log.info("stopped")
