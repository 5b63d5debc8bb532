"""Probes and the prober against real servers on loopback: HTTP/HTTPS backends (trustme certificates), plain TCP,
closed ports, a slow backend; and real receiving nodes that verify signatures the way a DNS node does.

Each test runs its own event loop under a hard time bound; every server it starts it stops."""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import signal
import socket
import ssl
import statistics
import sys
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
import trustme
from aiohttp import web

from gtm.health import signing
from gtm.health.probe import probe
from gtm.health.prober import JITTER, Prober, targets
from gtm.model import Config, Zone
from gtm.model.health import Observation, Report
from gtm.model.traffic import Endpoint, FailoverPolicy, Location, Monitor, MonitorType, Region, Service

HOST = "api.example.test"
ROOT = Path(__file__).resolve().parents[2]
KEY_ID, SECRET = "frankfurt", b"0123456789abcdef-secret"
TOKEN = "node-token-123"


def run(coro: Awaitable[None], limit: float = 15.0) -> None:
    """Run one test's coroutine on a fresh loop, failing it (not hanging) after ``limit`` seconds."""
    async def bounded() -> None:
        async with asyncio.timeout(limit):
            await coro
    asyncio.run(bounded())


def closed_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on (bound then released; loopback only, so nobody races us in practice)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def ipv6_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@asynccontextmanager
async def serve(app: web.Application, host: str = "127.0.0.1", port: int = 0,
                ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    """Serve ``app`` on host:port (0: any free port); yields the port; always cleans up."""
    # handler_cancellation: a probe that timed out closes its connection; the slow handler must not linger
    # (and make cleanup wait) after that.
    runner = web.AppRunner(app, shutdown_timeout=0.5, handler_cancellation=True, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
        await site.start()
        server = site._server
        assert server is not None
        yield int(server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
    finally:
        await runner.cleanup()


@dataclass
class Backend:
    """The regional load balancer stand-in: /healthz answers ``status`` with ``body``; records what it saw."""

    status: int = 200
    body: str = "status: ok"
    seen: list[tuple[float, str, str]] = field(default_factory=list)  # (monotonic time, path, Host header)
    in_flight: int = 0
    max_in_flight: int = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/slow", self.slow)
        app.router.add_get("/moved", self.moved)
        app.router.add_get("/big", self.big)
        app.router.add_get("/j/{n}", self.busy)
        return app

    def _record(self, request: web.Request) -> None:
        self.seen.append((time.monotonic(), request.path, request.headers.get("Host", "")))

    async def healthz(self, request: web.Request) -> web.Response:
        self._record(request)
        return web.Response(status=self.status, text=self.body)

    async def slow(self, request: web.Request) -> web.Response:
        self._record(request)
        await asyncio.sleep(1.0)
        return web.Response(text="late")

    async def moved(self, request: web.Request) -> web.Response:
        self._record(request)
        raise web.HTTPMovedPermanently("/healthz")

    async def big(self, request: web.Request) -> web.Response:
        # The marker lies beyond the 64 KiB a probe reads: it must not be found.
        return web.Response(body=b"x" * (128 * 1024) + b"MARKER")

    async def busy(self, request: web.Request) -> web.Response:
        self._record(request)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.05)
        finally:
            self.in_flight -= 1
        return web.Response(text="ok")


def http(port: int, **kw: object) -> Monitor:
    base = Monitor("web", MonitorType.HTTP, port, path="/healthz", interval=1.0, timeout=0.5)
    return replace(base, **kw)  # type: ignore[arg-type]


async def probe_once(monitor: Monitor, address: str = "127.0.0.1",
                     ssl_ctx: ssl.SSLContext | None = None) -> Observation:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
        return await probe(session, monitor, "eu", address, ssl_ctx)


# --- probe(): HTTP ----------------------------------------------------------------------------------------------

def test_http_ok_with_host_header_and_rtt() -> None:
    backend = Backend()

    async def main() -> None:
        async with serve(backend.app()) as port:
            obs = await probe_once(http(port, host=HOST, body=r"status: (ok|fine)"))
            assert obs == Observation("web", "eu", "127.0.0.1", True, obs.rtt_ms, "200")
            assert obs.rtt_ms is not None and 0 < obs.rtt_ms < 500
            assert backend.seen[-1][1:] == ("/healthz", HOST)
            # Without a host, the Host header names the address and port, as any client would.
            await probe_once(http(port))
            assert backend.seen[-1][2] == f"127.0.0.1:{port}"
    run(main())


def test_http_status_and_body_checks() -> None:
    backend = Backend(status=503, body="status: degraded")

    async def main() -> None:
        async with serve(backend.app()) as port:
            obs = await probe_once(http(port))
            assert (obs.ok, obs.detail) == (False, "status 503")
            assert obs.rtt_ms is not None  # the server answered: its RTT is still a measurement
            assert (await probe_once(http(port, expect=(200, 503)))).ok
            backend.status = 200
            obs = await probe_once(http(port, body="status: ok"))
            assert (obs.ok, obs.detail) == (False, "body mismatch")
            assert obs.rtt_ms is not None
            obs = await probe_once(http(port, path="/big", body="MARKER"))
            assert (obs.ok, obs.detail) == (False, "body mismatch")  # only the first 64 KiB are read
            assert (await probe_once(http(port, path="/big", body="^x{1000}"))).ok
    run(main())


def test_http_redirects_are_not_followed() -> None:
    backend = Backend()

    async def main() -> None:
        async with serve(backend.app()) as port:
            obs = await probe_once(http(port, path="/moved"))
            assert (obs.ok, obs.detail) == (False, "status 301")
            assert [p for _, p, _ in backend.seen] == ["/moved"]
            assert (await probe_once(http(port, path="/moved", expect=(301,)))).ok
    run(main())


def test_http_timeout_is_bounded() -> None:
    backend = Backend()

    async def main() -> None:
        async with serve(backend.app()) as port:
            start = time.monotonic()
            obs = await probe_once(http(port, path="/slow", timeout=0.3))
            elapsed = time.monotonic() - start
            assert (obs.ok, obs.rtt_ms, obs.detail) == (False, None, "timeout")
            assert 0.25 < elapsed < 0.8
    run(main())


def test_closed_port_is_refused() -> None:
    async def main() -> None:
        port = closed_port()
        obs = await probe_once(http(port))
        assert (obs.ok, obs.rtt_ms, obs.detail) == (False, None, "refused")
        obs = await probe_once(Monitor("db", MonitorType.TCP, port, timeout=0.5))
        assert (obs.ok, obs.rtt_ms, obs.detail) == (False, None, "refused")
    run(main())


@pytest.mark.skipif(not ipv6_available(), reason="no IPv6 loopback")
def test_http_over_ipv6_uses_brackets() -> None:
    backend = Backend()

    async def main() -> None:
        async with serve(backend.app(), host="::1") as port:
            obs = await probe_once(http(port), address="::1")
            assert (obs.ok, obs.detail, obs.address) == (True, "200", "::1")
            assert backend.seen[-1][2] == f"[::1]:{port}"
    run(main())


# --- probe(): TCP -----------------------------------------------------------------------------------------------

def test_tcp_connect() -> None:
    backend = Backend()

    async def main() -> None:
        async with serve(backend.app()) as port:
            obs = await probe_once(Monitor("db", MonitorType.TCP, port, timeout=0.5))
            assert (obs.ok, obs.detail) == (True, "connected")
            assert obs.rtt_ms is not None and 0 < obs.rtt_ms < 500
            assert backend.seen == []  # nothing was sent
    run(main())


# --- probe(): HTTPS ---------------------------------------------------------------------------------------------

@dataclass
class Tls:
    ca: trustme.CA
    server: ssl.SSLContext
    sni: list[str | None]

    def trusting(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        self.ca.configure_trust(ctx)
        return ctx


@pytest.fixture(scope="module")
def tls() -> Tls:
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(HOST).configure_cert(server)
    sni: list[str | None] = []
    server.sni_callback = lambda _sock, name, _ctx: sni.append(name)  # type: ignore[assignment,func-returns-value]
    return Tls(ca, server, sni)


def https(port: int, **kw: object) -> Monitor:
    base = Monitor("secure", MonitorType.HTTPS, port, path="/healthz", host=HOST, interval=1.0, timeout=1.0)
    return replace(base, **kw)  # type: ignore[arg-type]


def test_https_verified_with_sni(tls: Tls) -> None:
    backend = Backend()

    async def main() -> None:
        async with serve(backend.app(), ssl_context=tls.server) as port:
            obs = await probe_once(https(port), ssl_ctx=tls.trusting())
            assert (obs.ok, obs.detail) == (True, "200")
            assert obs.rtt_ms is not None and obs.rtt_ms > 0
            assert tls.sni[-1] == HOST
            assert backend.seen[-1][2] == HOST
    run(main())


def test_https_unknown_ca_fails_with_a_tls_detail(tls: Tls) -> None:
    other = ssl.create_default_context()
    trustme.CA().configure_trust(other)  # trusts some other CA only

    async def main() -> None:
        async with serve(Backend().app(), ssl_context=tls.server) as port:
            obs = await probe_once(https(port), ssl_ctx=other)
            assert not obs.ok and obs.rtt_ms is None
            assert obs.detail.startswith("tls: ") and "certificate" in obs.detail, obs.detail
    run(main())


def test_https_wrong_name_fails_with_a_tls_detail(tls: Tls) -> None:
    async def main() -> None:
        async with serve(Backend().app(), ssl_context=tls.server) as port:
            obs = await probe_once(https(port, host="other.example.test"), ssl_ctx=tls.trusting())
            assert not obs.ok and obs.detail.startswith("tls: "), obs.detail
            assert tls.sni[-1] == "other.example.test"
    run(main())


def test_https_without_verification(tls: Tls) -> None:
    async def main() -> None:
        async with serve(Backend().app(), ssl_context=tls.server) as port:
            # Untrusted CA, wrong name, no name at all: all fine when tls_verify is off.
            for monitor in (https(port, tls_verify=False), https(port, tls_verify=False, host="other.example.test"),
                            https(port, tls_verify=False, host=None)):
                obs = await probe_once(monitor)
                assert (obs.ok, obs.detail) == (True, "200"), monitor
    run(main())


def test_https_against_plain_http_is_a_tls_failure() -> None:
    async def main() -> None:
        async with serve(Backend().app()) as port:
            obs = await probe_once(https(port, tls_verify=False))
            assert not obs.ok and obs.detail.startswith("tls: "), obs.detail
    run(main())


# --- the prober -------------------------------------------------------------------------------------------------

def config_for(monitors: list[Monitor], regions: dict[str, list[str]],
               services: list[tuple[str, list[str]]]) -> Config:
    """A Config holding just what the prober reads: services (monitor, regions), regions' endpoints, monitors."""
    regs = {name: Region(name, Location(0, 0), tuple(Endpoint(ipaddress.ip_address(a)) for a in addrs))
            for name, addrs in regions.items()}
    svcs = tuple(Service(f"s{i}", "example.test.", (f"s{i}.example.test.",), 30, tuple(rs), FailoverPolicy(), m)
                 for i, (m, rs) in enumerate(services))
    zone = Zone("example.test.", "test", {}, svcs)
    return Config(zones={"example.test.": zone}, regions=regs, monitors={m.name: m for m in monitors})


def test_targets_are_every_monitored_endpoint_once() -> None:
    web_, db = http(1, name="web"), Monitor("db", MonitorType.TCP, 5432)
    config = config_for([web_, db], {"eu": ["127.0.0.1", "::1"], "us": ["127.0.0.1"]},
                        [("web", ["eu", "us"]), ("web", ["eu"]), ("db", ["us"])])
    config = replace(config, zones={**config.zones, "unmonitored.test.": Zone(
        "unmonitored.test.", "test", {}, (Service("x", "unmonitored.test.", ("x.unmonitored.test.",), 30, ("eu",),
                                                  FailoverPolicy(), None),))})
    assert [t.key for t in targets(config)] == [("web", "eu", "127.0.0.1"), ("web", "eu", "::1"),
                                                ("web", "us", "127.0.0.1"), ("db", "us", "127.0.0.1")]


def test_jitter_stays_within_ten_percent_and_is_seeded() -> None:
    config = config_for([], {}, [])
    a = Prober(config, "v", [], KEY_ID, SECRET, rng=random.Random(42))
    b = Prober(config, "v", [], KEY_ID, SECRET, rng=random.Random(42))
    delays = [a.jittered(2.0) for _ in range(2000)]
    assert delays == [b.jittered(2.0) for _ in range(2000)]
    assert all(2.0 * (1 - JITTER) <= d <= 2.0 * (1 + JITTER) for d in delays)
    assert min(delays) < 1.85 and max(delays) > 2.15  # it does spread, both ways


@dataclass
class Node:
    """A receiving DNS node's report endpoint: verifies like the real one, records accepted reports."""

    verifier: signing.Verifier
    received: list[tuple[float, Report]] = field(default_factory=list)  # (monotonic arrival, report)
    refused: list[str] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/reports", self.reports)
        return app

    async def reports(self, request: web.Request) -> web.Response:
        body = await request.read()
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.refused.append("token")
            return web.Response(status=401, text="bad token")
        try:
            self.verifier.verify(request.headers, body, time.time())
        except signing.Rejected as e:
            self.refused.append(e.reason)
            return web.Response(status=e.status, text=e.reason)
        self.received.append((time.monotonic(), Report.from_json(body)))
        return web.Response(status=204)


async def wait_for(check: Callable[[], bool], timeout: float, step: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(step)


def test_prober_delivers_signed_reports_and_a_dead_node_delays_nobody(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="gtm.health.prober")
    backend = Backend()
    good, late = Node(signing.Verifier({KEY_ID: SECRET})), Node(signing.Verifier({KEY_ID: SECRET}))
    late_port = closed_port()

    async def main() -> None:
        async with serve(backend.app()) as port:
            web_ = http(port, interval=0.2, timeout=0.15)
            dead = Monitor("db", MonitorType.TCP, closed_port(), interval=0.2, timeout=0.15)
            config = config_for([web_, dead], {"eu": ["127.0.0.1"], "us": ["127.0.0.1"]},
                                [("web", ["eu", "us"]), ("db", ["us"])])
            async with serve(good.app()) as good_port:
                prober = Prober(config, "frankfurt", [f"http://127.0.0.1:{good_port}/",
                                                      f"http://127.0.0.1:{late_port}"],
                                KEY_ID, SECRET, token=TOKEN, rng=random.Random(1))
                assert prober.round == 0.2
                started = time.monotonic()
                started_ms = time.time() * 1000
                task = asyncio.create_task(prober.run())
                try:
                    await wait_for(lambda: len(good.received) >= 8, 3.0)
                    # Cadence at the good node: one report a round, unaffected by the dead node's backoff.
                    times = [t for t, _ in good.received]
                    gaps = [b - a for a, b in zip(times, times[1:])]
                    assert max(gaps) < 0.4 and 0.15 < statistics.median(gaps) < 0.25, gaps
                    assert times[0] - started < 0.5
                    seqs = [r.seq for _, r in good.received]
                    # one a round, from the clock in milliseconds at start (so they go up across restarts too)
                    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
                    assert abs(seqs[0] - 1 - started_ms) < 2000, (seqs[0], started_ms)
                    last = good.received[-1][1]
                    assert (last.vantage, last.interval) == ("frankfurt", 0.2)
                    assert abs(last.sent_at - time.time()) < 1.0
                    # each probe is reported once: the newest observation of each target, over the reports
                    by_key = {(o.monitor, o.region, o.address): o for _, r in good.received for o in r.observations}
                    assert set(by_key) == {("web", "eu", "127.0.0.1"), ("web", "us", "127.0.0.1"),
                                           ("db", "us", "127.0.0.1")}
                    assert by_key["web", "eu", "127.0.0.1"].ok and by_key["web", "eu", "127.0.0.1"].detail == "200"
                    assert by_key["db", "us", "127.0.0.1"].detail == "refused"

                    # Observations are the latest: a backend going 503 shows in a report within a few rounds.
                    backend.status = 503
                    seen_before = len(good.received)
                    await wait_for(lambda: any(
                        o.detail == "status 503" for _, r in good.received[seen_before:] for o in r.observations
                        if o.monitor == "web"), 1.5)
                    assert good.refused == []

                    # The late node comes up now; its sender is in backoff (attempts at +0, +1 s, +3 s after
                    # the first report): it must start receiving at the +3 s attempt, not before, not much after.
                    late_node = prober.nodes[f"http://127.0.0.1:{late_port}"]
                    assert late_node.reachable is False and late_node.delivered == 0
                    up_at = time.monotonic() - started
                    assert up_at < 2.9, "too slow to test the backoff spacing"
                    async with serve(late.app(), port=late_port):
                        await wait_for(lambda: bool(late.received), 4.0)
                        first_late = late.received[0][0] - good.received[0][0]
                        assert 2.8 < first_late < 3.6, first_late  # 1 s + 2 s of backoff
                        assert late_node.attempts - late_node.delivered == 2  # two failures, then success
                        assert late.received[0][1].seq > good.received[0][1].seq + 10  # the newest, not the first stale one
                        assert late.refused == []
                        await wait_for(lambda: len(late.received) >= 3, 1.5)
                finally:
                    prober.stop()
                    await asyncio.wait_for(task, 2.0)
                assert task.done() and task.exception() is None

    run(main())
    lines = [r.getMessage() for r in caplog.records if r.name == "gtm.health.prober"]
    late_url = f"http://127.0.0.1:{late_port}"
    assert sum(f"node {late_url} unreachable" in m for m in lines) == 1, lines  # one line per change, not attempt
    assert sum(f"node {late_url} reachable" in m for m in lines) == 1, lines
    assert sum("reachable" in m for m in lines) == 3, lines  # + the good node's first success


def test_backoff_doubles_per_failed_attempt() -> None:
    """A node that accepts and drops every connection: attempts at 0, +1 s, +3 s (and +7 s, beyond the wait)."""
    attempts: list[float] = []

    async def main() -> None:
        async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            attempts.append(time.monotonic())
            writer.close()

        server = await asyncio.start_server(drop, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        config = config_for([], {}, [])  # nothing to probe: heartbeat reports only
        prober = Prober(config, "frankfurt", [f"http://127.0.0.1:{port}"], KEY_ID, SECRET)
        prober.round = 0.1  # heartbeat quickly, so that a fresh report is always waiting
        task = asyncio.create_task(prober.run())
        try:
            await asyncio.sleep(3.6)
        finally:
            prober.stop()
            await asyncio.wait_for(task, 2.0)
            server.close()
            await server.wait_closed()
        node = next(iter(prober.nodes.values()))
        assert (node.reachable, node.delivered, node.attempts) == (False, 0, 3)
        assert node.failures == 3 and node.last_error

    run(main())
    assert len(attempts) == 3, attempts
    gaps = [b - a for a, b in zip(attempts, attempts[1:])]
    assert 0.9 < gaps[0] < 1.3 and 1.9 < gaps[1] < 2.3, gaps


def run_prober_on(backend: Backend, seconds: float, concurrency: int, interval: float) -> Prober:
    """Six targets (one path each) on ``backend``, probed for ``seconds``; returns the stopped prober."""
    prober: Prober | None = None

    async def main() -> None:
        nonlocal prober
        async with serve(backend.app()) as port:
            monitors = [http(port, name=f"m{n}", path=f"/j/{n}", interval=interval, timeout=0.2) for n in range(6)]
            config = config_for(monitors, {"eu": ["127.0.0.1"]}, [(m.name, ["eu"]) for m in monitors])
            prober = Prober(config, "frankfurt", [], KEY_ID, SECRET, concurrency=concurrency, rng=random.Random(3))
            task = asyncio.create_task(prober.run())
            await asyncio.sleep(seconds)
            prober.stop()
            await asyncio.wait_for(task, 2.0)

    run(main())
    assert prober is not None
    return prober


def test_jitter_spreads_probe_starts() -> None:
    backend = Backend()
    prober = run_prober_on(backend, 1.3, concurrency=64, interval=0.3)
    assert all(o.ok for o in prober.latest.values()) and len(prober.latest) == 6
    by_path: dict[str, list[float]] = {}
    for t, path, _ in backend.seen:
        by_path.setdefault(path, []).append(t)
    assert len(by_path) == 6 and all(len(ts) >= 3 for ts in by_path.values())
    firsts = sorted(ts[0] for ts in by_path.values())
    assert firsts[-1] - firsts[0] > 0.005  # spread over the first tenth of the interval, not one instant
    gaps = [b - a for ts in by_path.values() for a, b in zip(ts, ts[1:])]
    assert all(0.26 < g < 0.35 for g in gaps), gaps  # 0.3 s ± 10 % (+ scheduling slack)
    assert statistics.pstdev(gaps) > 0.005  # the delays differ: targets do not beat in step


def test_concurrency_is_bounded() -> None:
    backend = Backend()  # each /j/N request takes 50 ms
    prober = run_prober_on(backend, 0.6, concurrency=2, interval=0.5)
    assert len(prober.latest) == 6 and all(o.ok for o in prober.latest.values())
    assert backend.max_in_flight == 2  # used, and never exceeded


# --- gtm probe --------------------------------------------------------------------------------------------------

CLI_CONFIG = """\
zone: example.test
ttl: 60
soa: {{mname: ns1.example.test., rname: hostmaster.example.test., serial: 1}}
ns: [ns1]
records:
  ns1: {{A: 192.0.2.53}}
regions:
  local: {{location: {{lat: 50, lon: 8}}, endpoints: [127.0.0.1]}}
monitors:
  web: {{type: http, port: {port}, path: /healthz, interval: 0.5, timeout: 0.3}}
vantages:
  frankfurt: {{location: {{lat: 50.11, lon: 8.68}}}}
  virginia: {{location: {{lat: 38.9, lon: -77.0}}}}
health:
  keys: {{file: keys.txt}}
{report_to}
services:
  www: {{regions: [local], monitor: web, policy: {{type: failover}}}}
"""


def write_cli_config(tmp_path: Path, port: int, keys: str = f"{KEY_ID}:{SECRET.decode()}\n",
                     report_to: str = "") -> str:
    (tmp_path / "keys.txt").write_text(keys)
    (tmp_path / "gtm.yaml").write_text(CLI_CONFIG.format(port=port, report_to=report_to))
    return str(tmp_path / "gtm.yaml")


@pytest.mark.parametrize("argv, keys, code, message", [
    (["--vantage", "tokyo", "--report-to", "http://127.0.0.1:1"], None, 2,
     "gtm probe: error: --vantage: unknown vantage 'tokyo' (defined: frankfurt, virginia)"),
    (["--vantage", "frankfurt"], None, 2, "gtm probe: error: no node to report to"),
    (["--vantage", "frankfurt", "--report-to", "ftp://x"], None, 2, "gtm probe: error: --report-to: not an http"),
    (["--vantage", "frankfurt", "--report-to", "http://127.0.0.1:1"], "frankfurt:short\n", 1,
     "gtm: error: "),
    (["--vantage", "frankfurt", "--report-to", "http://127.0.0.1:1"],
     "a:0123456789abcdef\nb:0123456789abcdef\n", 2,
     "gtm probe: error: no report key 'frankfurt' for vantage frankfurt in the key file (known: a, b)"),
    (["--vantage", "frankfurt", "--report-to", "http://127.0.0.1:1", "--key-id", "zz"], None, 2,
     "gtm probe: error: no report key 'zz' for vantage frankfurt"),
    (["--vantage", "frankfurt", "--report-to", "http://127.0.0.1:1", "--token-file", "/nonexistent/token"], None, 1,
     "gtm: error: cannot read token file /nonexistent/token"),
])
def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                                 keys: str | None, code: int, message: str) -> None:
    from gtm.cli import main

    path = write_cli_config(tmp_path, 1, **({"keys": keys} if keys else {}))
    assert main(["probe", *argv, path]) == code
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1, err


def test_cli_probes_reports_and_stops_on_sigterm(tmp_path: Path) -> None:
    """`gtm probe` as a process: reports reach the node (report_to from the config), SIGTERM stops it with 0."""
    backend = Backend()
    node = Node(signing.Verifier({KEY_ID: SECRET}))
    (tmp_path / "token").write_text(TOKEN + "\n")

    async def main() -> None:
        async with serve(backend.app()) as port, serve(node.app()) as node_port:
            path = write_cli_config(tmp_path, port, report_to=f"  report_to: [http://127.0.0.1:{node_port}/]")
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "gtm.cli", "probe", "--vantage", "frankfurt",
                "--token-file", str(tmp_path / "token"), path,
                cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
            try:
                await wait_for(lambda: len(node.received) >= 2, 8.0)
            finally:
                if proc.returncode is None:
                    proc.send_signal(signal.SIGTERM)
                out, _ = await asyncio.wait_for(proc.communicate(), 5.0)
            assert proc.returncode == 0, out.decode()
            log = out.decode()
            assert "probing 1 target from vantage frankfurt every 0.5 s" in log, log
            assert log.count("reachable") == 1 and "stopped" in log, log
            reports = [r for _, r in node.received]
            assert all(r.vantage == "frankfurt" and r.interval == 0.5 for r in reports)
            # each probe is reported once, so a round without a new probe sends an empty report
            seen = {(o.monitor, o.region, o.address, o.ok, o.detail) for r in reports for o in r.observations}
            assert seen == {("web", "local", "127.0.0.1", True, "200")}

    run(main(), limit=15.0)
