"""The composition root: loads the config, builds answer tables, runs the DNS server, reloads.

Reload (SIGHUP, or ``--watch`` noticing a changed file) loads and compiles the new config in a worker thread
while the event loop keeps answering from the current table, then swaps the table in one assignment. A config
that fails to load is logged with every problem and changes nothing: the last good one keeps serving.
"""
from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import time
from collections import deque
from dataclasses import replace

from typing import Any, Callable

from aiohttp import web

from gtm import isolated, steering
from gtm.admin.app import make_app, read_token
from gtm.admin.explain import explain_table
from gtm.admin.app import start as admin_start
from gtm.admin.metrics import NodeMetrics
from gtm.config import discover, load
from gtm.config.healthfile import load_health
from gtm.dns.rrl import RateLimiter
from gtm.dns.server import DnsServer, Responder
from gtm.dns.table import Table
from gtm.errors import ConfigError, GtmError
from gtm.geoip import Locator
from gtm.health.node import HealthNode
from gtm.model import AdminSettings, Config, Force, HealthSnapshot, Override, StoreSettings
from gtm.state import overrides as overrides_
from gtm.state.store import Store, StoreError, Stored, decode, encode, open_store
from gtm.steering import latency
from gtm.workers import release_memory

log = logging.getLogger(__name__)


def health_for(config: Config, health_file: str | None, live: HealthSnapshot | None = None) -> HealthSnapshot:
    """The health to answer under: the live health (from probers) with the health file's forced states on top,
    else the file's, else everything up; latency choices brought up to date (hysteresis)."""
    forced = load_health(health_file, config) if health_file else None
    if live is None:
        health = forced or HealthSnapshot()
    elif forced is None:
        health = live
    else:
        health = replace(live, down_endpoints=live.down_endpoints | forced.down_endpoints,
                         down_regions=live.down_regions | forced.down_regions,
                         rtt_ms=live.rtt_ms or forced.rtt_ms,
                         latency_choice=forced.latency_choice or live.latency_choice)
    # The previous (or the file's sticky) choices are kept unless hysteresis says otherwise.
    return replace(health, latency_choice=latency.update_choices(config, health))


class Builder:
    """Loads the config (and health file) and compiles tables; keeps the GeoIP locator while the configured
    databases stay the same."""

    def __init__(self, health_file: str | None = None):
        self.locator: Locator | None = None
        self.health_file = health_file

    def __call__(self, paths: list[str]) -> Table:
        """Load ``paths`` and compile their answers; raises ConfigError (and GtmError for a bad database)."""
        return self.compile(load(paths))

    def compile(self, config: Config, live: HealthSnapshot | None = None, forces: tuple[Force, ...] = ()) -> Table:
        health = replace(health_for(config, self.health_file, live), forces=forces)
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
    """Owns the current table, the health node, the DNS server and the admin API; ``reload()`` is safe to call
    at any time, and a health change swaps in new answers without blocking queries."""

    def __init__(self, paths: list[str], listen: list[tuple[str, int]], watch: float = 0.0, tcp_idle: float = 10.0,
                 tcp_clients: int = 256, udp_payload: int = 1232, health_file: str | None = None,
                 admin_listen: tuple[str, int] | None = None, probe_as: str | None = None,
                 transform: Callable[[Config], Config] | None = None, workers: int = 0,
                 takeover: str | None = None):
        self.paths = paths
        self.transform = transform  # applied to every loaded config (the demo rewrites endpoints to loopback)
        self.builder = Builder(health_file)
        self.listen = listen
        self.watch = watch
        self.tcp_idle, self.tcp_clients, self.udp_payload = tcp_idle, tcp_clients, udp_payload
        self.admin_listen = admin_listen
        self.probe_as = probe_as
        self.workers = workers    # 0: this process answers queries; N: N worker processes do (gtm.workers)
        self.pool: Any = None
        self.takeover = takeover  # Unix socket path: take the DNS sockets over from the instance serving it
        self._handoff: Any = None
        self.responder: Responder | None = None
        self.server: DnsServer | None = None
        self.node: HealthNode | None = None
        self.metrics = NodeMetrics()
        self.generation = 0
        self.last_error: str | None = None
        self.serving = False
        self.admin_url: str | None = None
        self.admin_routes: list[web.RouteDef] = []  # extra routes (the demo's)
        self._admin_runner: web.AppRunner | None = None
        self._prober: Any = None
        self._prober_task: asyncio.Future[Any] | None = None
        self._tasks: list[asyncio.Future[Any]] = []
        self._reloading: asyncio.Lock | None = None  # created on the running loop in start()
        self._stop: asyncio.Event | None = None
        # Operators' overrides: the store, what it last held, what is in force, and its last error.
        self.store: Store | None = None
        self.store_settings: StoreSettings | None = None
        self.overrides: tuple[Override, ...] = ()
        self.overrides_version = 0
        self.forces: tuple[Force, ...] = ()
        self.store_error: str | None = None
        self._config_state_file: str | None = None
        self.override_changes = 0
        self._rates: deque[tuple[float, dict[str, int]]] = deque(maxlen=8)

    # -- health -------------------------------------------------------------------------------------------
    def _on_health(self, snapshot: HealthSnapshot) -> None:
        """A new health snapshot: same config, new answers for managed names (static ones are shared)."""
        if self.responder is None:
            return
        old = self.responder.table
        try:
            health = health_for(old.config, self.builder.health_file, snapshot)
        except ConfigError as e:  # the health file broke since the last reload: keep the live part only
            log.error("health file: %s", e)
            health = health_for(old.config, None, snapshot)
        new = old.with_health(replace(health, forces=self.forces))
        self.responder.table = new
        self.metrics.retire(old, steered_only=True)
        self._ship_health()

    async def _tick(self) -> None:
        """Re-evaluate health as time passes: reports going stale change verdicts too."""
        while True:
            await asyncio.sleep(0.25)
            if self.node is not None:
                try:
                    self.node.evaluate()
                except Exception:
                    log.exception("health evaluation failed")

    # -- status for the admin API -----------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        table = self.responder.table if self.responder else None
        out: dict[str, Any] = {
            "config": {"generation": self.generation, "sources": list(table.config.sources) if table else [],
                       "zones": sorted(table.config.zones) if table else [], "last_error": self.last_error},
            "dns": {"listen": [f"{h}:{p}" for h, p in (self.server.bound if self.server else
                                                       self.pool.bound if self.pool else [])],
                    "serving": self.serving, "workers": self.pool.running() if self.pool else 0},
            "health": self.node.status() if self.node else {},
            "overrides": self.override_status(),
        }
        if table is not None:
            rates = self.query_rates()
            bare = replace(table.health, forces=())
            out["services"] = [{"name": s.key, "policy": s.policy.kind, "names": list(s.names),
                                "healthy_regions": steering.healthy_regions(s, table.config, table.health),
                                "up_regions": steering.healthy_regions(s, table.config, bare),
                                "queries_per_s": rates.get(s.key)}
                               for s in table.config.services]
            out["regions"] = {name: [str(e.address) for e in r.endpoints] for name, r in table.config.regions.items()}
        return out

    # -- overrides ------------------------------------------------------------------------------------------
    def override_status(self) -> dict[str, Any]:
        now = time.time()
        return {"store": self.store_settings.kind if self.store_settings else None,
                "where": (self.store_settings.path if self.store_settings and self.store_settings.kind == "file"
                          else self.store_settings.table if self.store_settings else None),
                "version": self.overrides_version, "error": self.store_error,
                "in_force": [{**o.to_json(), "target": o.target} for o in overrides_.active(self.overrides, now)]}

    def _ship_health(self) -> None:
        """Workers get each new health (and overrides) as it is published here."""
        if self.pool is not None and self.responder is not None:
            self.health_generation = getattr(self, "health_generation", 0) + 1
            self.pool.send_health(self.responder.table.health, self.health_generation)

    def _set_rrl(self, config: Config) -> None:
        """Response rate limiting as configured (a new limiter only when the settings changed)."""
        assert self.responder is not None
        current = self.responder.rrl
        if not config.rrl.enabled:
            self.responder.rrl = None
        elif current is None or current.settings != config.rrl:
            self.responder.rrl = RateLimiter(config.rrl)
        if self.server is not None:
            self.server.set_limits(config.rrl)

    def _open_store(self, config: Config) -> None:
        if self.store_settings != config.overrides:
            self.store_settings = config.overrides
            self.store = open_store(config.overrides)
            self._store_token: Any = object()  # read on the next look

    def _read_store(self) -> bool:
        """Look at the store (blocking: runs in a thread); True when it holds something new."""
        assert self.store is not None
        token = self.store.token()
        if token == self._store_token:
            return False
        stored = self.store.read()
        self._store_token = token
        changed = stored.version != self.overrides_version or stored.overrides != self.overrides
        self.overrides, self.overrides_version = stored.overrides, stored.version
        if changed:
            self._cache_overrides(stored)
        return changed

    def _cache_path(self) -> str | None:
        state = self.responder.table.config.health.state_file if self.responder else self._config_state_file
        return state + ".overrides" if state else None

    def _cache_overrides(self, stored: Stored) -> None:
        """Keep what the store said beside the health state, so that a restart during a store outage still
        starts with the overrides in force (a drain must not lapse because the store is unreachable)."""
        path = self._cache_path()
        if path is None:
            return
        try:
            tmp = f"{path}.tmp"
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(encode(stored.version, stored.overrides))
            os.replace(tmp, path)
        except OSError as e:
            log.warning("cannot cache the overrides in %s: %s", path, e)

    def _cached_overrides(self) -> Stored | None:
        path = self._cache_path()
        if path is None:
            return None
        try:
            with open(path, encoding="utf-8") as fh:
                return decode(fh.read(), path)
        except (OSError, StoreError):
            return None

    def _apply_forces(self) -> None:
        """Publish the overrides in force now (a change, or one running out) as new answers."""
        forces = overrides_.forces(self.overrides, time.time())
        if self.responder is None or (forces == self.forces and forces == self.responder.table.health.forces):
            self.forces = forces
            return
        self.forces = forces
        old = self.responder.table
        self.responder.table = old.with_health(replace(old.health, forces=forces))
        self.metrics.retire(old, steered_only=True)
        self._ship_health()
        self.override_changes += 1
        log.info("overrides in force: %s", "; ".join(
            f"{o.describe()} ({o.author}: {o.reason})" for o in overrides_.active(self.overrides, time.time()))
            or "none")

    async def _watch_store(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            settings = self.store_settings
            await asyncio.sleep(settings.poll if settings else 0.5)
            try:
                await loop.run_in_executor(None, self._read_store)
                if self.store_error is not None:
                    log.info("override store readable again")
                self.store_error = None
            except StoreError as e:  # keep the overrides last read: a store outage changes no answer
                if self.store_error != str(e):
                    log.error("override store: %s (keeping the %d overrides last read)", e, len(self.overrides))
                self.store_error = str(e)
            except Exception as e:
                self.store_error = f"{type(e).__name__}: {e}"
                log.exception("override store")
            self._apply_forces()
            self._sample_rates()

    def _sample_rates(self) -> None:
        now = time.monotonic()
        if not self._rates or now - self._rates[-1][0] >= 5:
            self._rates.append((now, dict(self.metrics.service_totals())))

    def query_rates(self) -> dict[str, float]:
        """Answers per second per service over the last half minute or so (empty until two samples)."""
        if len(self._rates) < 2:
            return {}
        (t0, first), (t1, last) = self._rates[0], self._rates[-1]
        return {k: round((n - first.get(k, 0)) / (t1 - t0), 3) for k, n in last.items()} if t1 > t0 else {}

    def explain(self, name: str, client: str | None, qtype: str) -> dict[str, Any]:
        assert self.responder is not None
        return explain_table(self.responder.table, name, client, qtype)

    # -- lifecycle ----------------------------------------------------------------------------------------
    def load(self, paths: list[str]) -> Config:
        # A big configuration loads in a child process (gtm.isolated); with workers, packed zones are in shared
        # memory: one copy for all processes, and a generation ships without them.
        config = isolated.load(paths, share=self.workers > 0)
        return self.transform(config) if self.transform is not None else config

    async def start(self) -> None:
        config = self.load(self.paths)
        self._config_state_file = config.health.state_file
        self._open_store(config)
        try:
            self._read_store()
        except StoreError as e:  # start with the overrides cached at the last read; the watcher keeps trying
            self.store_error = str(e)
            cached = self._cached_overrides()
            if cached is not None:
                self.overrides, self.overrides_version = cached.overrides, cached.version
            log.error("override store: %s (starting with %s)", e,
                      f"the {len(self.overrides)} overrides cached at version {self.overrides_version}"
                      if cached is not None else "no overrides")
        self.forces = overrides_.forces(self.overrides, time.time())
        self.node = HealthNode(config, on_change=self._on_health)
        table = self.builder.compile(config, self.node.current if self.node.ready() else None, self.forces)
        table.on_evict = self.metrics.evicted
        self.responder = Responder(table, udp_payload=self.udp_payload)
        self.metrics.responder, self.metrics.node, self.metrics.locator = self.responder, self.node, \
            self.builder.locator
        self.generation = 1
        self._reloading = asyncio.Lock()
        listen_admin = self.admin_listen or (config.admin.listen if "admin" in _sections(config) else None)
        if listen_admin is not None:
            await self._start_admin(config, listen_admin)
        if self.probe_as is not None:
            self._start_prober(config)
        self._tasks.append(asyncio.ensure_future(self._tick()))
        self._tasks.append(asyncio.ensure_future(self._watch_store()))
        if self.node.monitored and not self.node.ready() and (listen_admin is not None or self.probe_as):
            # Never publish "all up" before a probe ran: wait for the first full round, bounded.
            timeout = config.health.start_timeout
            log.info("waiting for the first full round of health reports (up to %.0f s)", timeout)
            deadline = time.monotonic() + timeout
            while not self.node.ready() and time.monotonic() < deadline:
                if self._stop is not None and self._stop.is_set():
                    return  # asked to stop while waiting: never open the DNS port
                await asyncio.sleep(0.05)
            if self.node.ready():
                log.info("first health round complete")
            else:
                log.warning("no full health round within %.0f s: endpoints without a verdict count as up", timeout)
            self._on_health(self.node.current)
        elif self.node.monitored and not self.node.ready():
            log.warning("monitors are configured but nothing reports to this node (no admin API, no --probe-as): "
                        "answering as if every endpoint were up")
        self._set_rrl(config)
        self.responder.observe = self.metrics.duration.observe
        if self.workers:
            from gtm.workers import Handoff, WorkerPool, take_over

            previous = take_over(self.takeover) if self.takeover else None
            self.pool = WorkerPool(self.workers, self.listen, {"udp_payload": self.udp_payload,
                                                                "tcp_idle": self.tcp_idle,
                                                                "tcp_clients": self.tcp_clients},
                                   observe=self.metrics.duration.observe,
                                   sockets=previous[0] if previous else None)
            self.metrics.workers = self.pool
            await self.pool.start(self.responder.table.config, self.responder.table.health, self.generation)
            if previous is not None:
                if not await self.pool.wait_ready(30):
                    raise GtmError("the workers did not start serving the sockets taken over; the previous "
                                   "instance keeps serving")
                try:
                    previous[1].sendall(b"STOP\n")  # it stops reading; our workers already do
                except OSError as e:  # it is gone already: we serve, which is what matters
                    log.warning("could not tell the previous instance to stop (%s); it may have exited", e)
                previous[1].close()
                log.info("took over %d sockets from the previous instance", len(self.pool.all_sockets()))
            if self.takeover:
                self._handoff = Handoff(self.takeover, self.pool, self._stop_for_handoff,
                                        asyncio.get_running_loop())
        else:
            self.server = DnsServer(self.responder, self.listen, max_tcp=self.tcp_clients, tcp_idle=self.tcp_idle,
                                    limits=config.rrl)
            await self.server.start()
        self.serving = True
        _settle()
        log.info("serving %s", self.responder.table.summary())

    async def _start_admin(self, config: Config, listen: tuple[str, int]) -> None:
        assert self.node is not None
        token = read_token(config.admin)
        app = make_app(self.node, self.metrics.registry, self.status, self.explain, lambda: self.serving, token,
                       config.admin.public, refresh=self._refresh_counts)
        if self.admin_routes:
            app.add_routes(self.admin_routes)
        self._admin_runner, bound = await admin_start(app, config.admin, listen, token)
        scheme = "https" if config.admin.tls_cert else "http"
        host = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
        self.admin_url = f"{scheme}://{host}:{bound[1]}"

    def _start_prober(self, config: Config) -> None:
        from gtm.health.prober import Prober
        from gtm.health.signing import load_keys

        assert self.admin_url is not None, "--probe-as needs the admin API (admin: in the config or --admin-listen)"
        keys = load_keys(config.health.keys_file, config.health.keys_env)
        key_id = sorted(keys)[0]
        token = read_token(config.admin)
        self._prober = Prober(config, self.probe_as or "", [self.admin_url], key_id, keys[key_id], token=token)
        self._prober_task = asyncio.ensure_future(self._prober.run())

    async def _restart_prober(self, config: Config) -> None:
        """A reloaded config may add or remove endpoints: the built-in prober starts over with it."""
        await self._stop_prober()
        self._start_prober(config)

    async def _stop_prober(self) -> None:
        if self._prober is not None:
            self._prober.stop()
            if self._prober_task is not None:
                await asyncio.wait([self._prober_task], timeout=5)
            self._prober = self._prober_task = None

    async def reload(self) -> bool:
        """Load and compile the config again; swap it in when it is good. Returns whether it was swapped."""
        assert self.responder is not None and self._reloading is not None and self.node is not None
        async with self._reloading:
            loop = asyncio.get_running_loop()
            started = time.monotonic()
            try:
                config = await loop.run_in_executor(None, self.load, self.paths)
                keys_ok = HealthNode.check_keys(config)  # fails here, before anything changed
                snap = self.node.current
                table = await loop.run_in_executor(None, self.builder.compile, config, snap, self.forces)
            except (GtmError, ValueError) as e:
                self.last_error = str(e)
                log.error("reload failed; still serving the previous config:\n%s", e)
                return False
            except Exception as e:  # a bug must not take down a serving node either
                self.last_error = f"{type(e).__name__}: {e}"
                log.exception("reload failed; still serving the previous config")
                return False
            old = self.responder.table
            table.on_evict = self.metrics.evicted
            if table.health.forces != self.forces:  # an override arrived while compiling: it is in force now
                table = table.with_health(replace(table.health, forces=self.forces))
                table.on_evict = self.metrics.evicted
            self.responder.table = table  # one reference swap: each query sees old or new, never a mix
            self.metrics.retire(old, steered_only=False)
            self.metrics.locator = self.builder.locator
            # Only a config that compiled reaches the health node; its verdicts may change with it, and a
            # health change that arrived while compiling must not be lost: apply the newest to the new table.
            self.node.set_config(config, keys_ok)
            self._open_store(config)
            self._set_rrl(config)
            if self.pool is not None:
                self.pool.send_config(self.responder.table.config, self.responder.table.health, self.generation + 1)
            if self.node.current is not snap:
                self._on_health(self.node.current)
            if self._prober is not None:
                await self._restart_prober(config)
            self.generation += 1
            self.last_error = None
            log.info("reloaded in %.0f ms: %s", (time.monotonic() - started) * 1000, table.summary())
            del old, table, config
            await loop.run_in_executor(None, release_memory)
            return True

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
        try:
            await self.start()
            started = True
            if pending.is_set():
                asyncio.ensure_future(self.reload())
            if self.watch > 0:
                self._tasks.append(asyncio.ensure_future(self._watch()))
            await self._stop.wait()
        finally:
            await self.stop()

    async def _refresh_counts(self) -> None:
        if self.pool is not None:
            await self.pool.refresh()

    def _stop_for_handoff(self) -> None:
        if self._stop is not None:
            self._stop.set()

    async def stop(self) -> None:
        if self._handoff is not None:
            self._handoff.close()
        await self._stop_prober()
        for t in self._tasks:
            t.cancel()
        if self.server is not None:
            await self.server.stop()
        if self.pool is not None:
            await self.pool.stop()
        if self._admin_runner is not None:
            await self._admin_runner.cleanup()
        if self.node is not None:
            self.node.persist()
        log.info("stopped")


def _settle() -> None:
    """Once, after start-up: collect what start-up left behind, then move every object alive now (modules,
    the config, the first answer tables) out of the cyclic garbage collector's reach: its full collections
    would otherwise walk them all, a pause of milliseconds that lands on whatever queries are waiting (the
    p99). Not repeated on later swaps: whatever is frozen is never collected if it ends up in a cycle, and
    later tables are smaller than what start-up imports. Answer tables hold no reference cycles, so replaced
    ones are freed by reference counting anyway (see ``gtm.dns.table.TableEnv``)."""
    gc.collect()
    gc.freeze()
    release_memory()


def _sections(config: Config) -> set[str]:
    """Top-level sections that were set explicitly (admin starts only when configured or asked for)."""
    return {"admin"} if config.admin != AdminSettings() else set()
