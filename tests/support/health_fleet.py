"""Shared parts of the end-to-end health tests (``test_health_*.py``): the fixture's regional load balancers as
real aiohttp servers, real probers, a real ``gtm serve`` node with its admin API, DNS queries with ECS.

Layout (``tests/fixtures/health/health.test.yaml``): regions ``eu`` (127.0.1.1, 127.0.1.2), ``us`` (127.0.2.1)
and ``ap`` (127.0.3.1); vantages ``frankfurt``, ``virginia`` and ``singapore``; monitor ``web`` (HTTP, interval
0.5 s, timeout 0.4 s, rise 2, fall 2, quorum 2); services ``fo`` (failover eu, us, ap) and ``fast`` (latency).

Each vantage probes the same addresses on a port of its own: :class:`Lab` listens on every (address, vantage
port) and answers each pair as the test says (status, delay, flapping, stopped), so a test can show one vantage
a different world than the others (a partition, a sick prober, a slow path) with real sockets. The node's own
copy of the config carries the first vantage's port; the node never probes, and checks are named by (monitor,
region, address), not by port.
"""
from __future__ import annotations

import asyncio
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Coroutine, Iterator, TypeVar

import dns.edns
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
from aiohttp import web

from gtm.config import load
from gtm.health.prober import Prober
from gtm.health.signing import parse_keys
from tests.conftest import FIXTURES, ROOT, GtmProcess
from tests.support.mmdb import city_record, write_city

T = TypeVar("T")

HEALTH = FIXTURES / "health"
ZONE = "health.test"
VANTAGES = ("frankfurt", "virginia", "singapore")
ENDPOINTS = {"eu": ("127.0.1.1", "127.0.1.2"), "us": ("127.0.2.1",), "ap": ("127.0.3.1",)}
REGION_OF = {a: r for r, addrs in ENDPOINTS.items() for a in addrs}
ADDRESSES = tuple(REGION_OF)
KEYS = parse_keys((HEALTH / "report.keys").read_text(), "report.keys")
INTERVAL = 0.5
# Client networks of the test GeoIP database, each next to one vantage (and one region).
CLIENTS = {"frankfurt": "31.10.1.0/24", "virginia": "64.20.9.0/24", "singapore": "103.10.2.0/24"}
CITY = {"31.10.0.0/16": city_record("EU", "DE", 48.14, 11.58, ("BY",)),    # Munich
         "64.20.0.0/16": city_record("NA", "US", 40.71, -74.01, ("NY",)),   # New York
         "103.10.0.0/16": city_record("AS", "SG", 1.29, 103.85)}           # Singapore


def wait_until(what: str, check: Callable[[], T], timeout: float, step: float = 0.05) -> T:
    """Poll ``check`` until it returns something true; its value. Fails the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = check()
        except AssertionError as e:  # a check may assert; keep polling until the deadline
            last = e
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s (last: {last!r})")
        time.sleep(step)


# -- the configuration -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Setup:
    """The files of one test: the node's config and each vantage's, in one temporary directory."""

    directory: Path
    node: Path
    probers: dict[str, Path]
    ports: dict[str, int]

    @property
    def state_file(self) -> Path:
        return self.directory / "health-state.json"


def write_setup(directory: Path, ports: dict[str, int], health: dict[str, str] | None = None) -> Setup:
    """The fixture config for the node and for each vantage (its own monitor port), keys, GeoIP database.

    ``health`` overrides keys of the ``health:`` section (YAML values as text, e.g. ``{"start_timeout": "1.0"}``).
    """
    directory.mkdir(parents=True, exist_ok=True)
    text = (HEALTH / "health.test.yaml").read_text()
    for key, value in (health or {}).items():
        text, n = re.subn(rf"^  {key}: .*$", f"  {key}: {value}", text, flags=re.MULTILINE)
        if not n:
            text = text.replace("\nhealth:\n", f"\nhealth:\n  {key}: {value}\n")
    assert "port: 18080" in text
    shutil.copy(HEALTH / "report.keys", directory / "report.keys")
    write_city(directory / "city.mmdb", CITY)
    node = directory / "node.yaml"
    node.write_text(text.replace("port: 18080", f"port: {ports[VANTAGES[0]]}"))
    probers = {}
    for v in VANTAGES:
        probers[v] = directory / f"probe-{v}.yaml"
        probers[v].write_text(text.replace("port: 18080", f"port: {ports[v]}"))
    return Setup(directory, node, probers, ports)


# -- the load balancers and the probers ----------------------------------------------------------------------------
@dataclass
class Behaviour:
    """How one endpoint answers one vantage's probes."""

    status: int = 200
    delay: float = 0.0      # seconds before answering
    flap: bool = False      # alternate status 200 and 503, starting with 503
    served: int = 0         # probes answered


def _ports_free_on_all(addresses: tuple[str, ...], tries: int = 50) -> tuple[int, list[socket.socket]]:
    """One port free on every address, and listening sockets bound to it (no window for anyone to take it)."""
    for _ in range(tries):
        socks: list[socket.socket] = []
        try:
            for address in addresses:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.bind((address, int(socks[0].getsockname()[1]) if len(socks) > 1 else 0))
                s.listen(64)
                s.setblocking(False)
            return int(socks[0].getsockname()[1]), socks
        except OSError:
            for s in socks:
                s.close()
    raise RuntimeError("no port free on every test address")


class Lab:
    """An event loop in a thread running the regional load balancers and any number of in-process probers.

    ``behaviour[(address, vantage)]`` says how that endpoint answers that vantage; the test changes it from its
    own thread (plain attribute writes, read by the loop on each request)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="health-lab", daemon=True)
        self.behaviour = {(a, v): Behaviour() for a in ADDRESSES for v in VANTAGES}
        self.ports: dict[str, int] = {}
        self.probers: dict[str, tuple[Prober, Future[None]]] = {}
        self._sites: dict[tuple[str, str], web.SockSite] = {}
        self._by_port: dict[int, str] = {}
        self._runner: web.AppRunner | None = None

    # -- lifecycle --------------------------------------------------------------------------------------------
    def start(self) -> "Lab":
        self.thread.start()
        self.call(self._start(), 10)
        return self

    def close(self) -> None:
        for v in list(self.probers):
            self.stop_prober(v)
        if self._runner is not None:
            self.call(self._runner.cleanup(), 10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/health", self._handle)
        # handler_cancellation: a probe that timed out closes its connection; a sleeping handler must not linger.
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        for v in VANTAGES:
            port, socks = _ports_free_on_all(ADDRESSES)
            self.ports[v] = port
            self._by_port[port] = v
            for address, sock in zip(ADDRESSES, socks, strict=True):
                site = web.SockSite(self._runner, sock)
                await site.start()
                self._sites[(address, v)] = site

    async def _handle(self, request: web.Request) -> web.Response:
        address, port = request.transport.get_extra_info("sockname")[:2]  # type: ignore[union-attr]
        b = self.behaviour[(address, self._by_port[port])]
        b.served += 1
        if b.delay:
            await asyncio.sleep(b.delay)
        status = b.status
        if b.flap:
            status = 503 if b.served % 2 else 200
        return web.Response(status=status, text=f"{address} {status}\n")

    # -- what the test changes ------------------------------------------------------------------------------
    def set(self, addresses: str | tuple[str, ...], vantages: str | tuple[str, ...] = VANTAGES,
            **changes: Any) -> None:
        """Set ``changes`` (status, delay, flap) for these addresses (or a region's name) seen from these
        vantages."""
        addrs = ENDPOINTS.get(addresses, (addresses,)) if isinstance(addresses, str) else addresses
        for a in addrs:
            for v in (vantages,) if isinstance(vantages, str) else vantages:
                for key, value in changes.items():
                    setattr(self.behaviour[(a, v)], key, value)

    def stop_listening(self, address: str) -> None:
        """Close the listening sockets of ``address`` (every vantage's): its probes are refused from now on."""
        async def stop() -> None:
            for v in VANTAGES:
                await self._sites.pop((address, v)).stop()
        self.call(stop(), 10)

    # -- probers --------------------------------------------------------------------------------------------
    def start_prober(self, setup: Setup, vantage: str, report_to: str, steady: bool = False) -> Prober:
        """A real :class:`Prober` for ``vantage`` (its own config copy, so its own port) reporting to the node.

        ``steady``: no jitter (a probe every interval exactly, one per round); see test_flapping_*."""
        config = load([str(setup.probers[vantage])])
        rng = _NoJitter() if steady else random.Random()
        prober = Prober(config, vantage, [report_to], vantage, KEYS[vantage], rng=rng, backoff=0.1,
                        backoff_cap=0.5, send_timeout=2.0)

        async def run() -> None:
            await prober.run()
        self.probers[vantage] = (prober, asyncio.run_coroutine_threadsafe(run(), self.loop))
        return prober

    def stop_prober(self, vantage: str) -> None:
        prober, done = self.probers.pop(vantage)
        self.loop.call_soon_threadsafe(prober.stop)
        done.result(10)


class _NoJitter(random.Random):
    """A "random" source whose ``uniform`` is the middle of the range: probes exactly every interval."""

    def uniform(self, a: float, b: float) -> float:
        return (a + b) / 2


@contextmanager
def lab() -> Iterator[Lab]:
    the_lab = Lab().start()
    try:
        yield the_lab
    finally:
        the_lab.close()


# -- the DNS node ------------------------------------------------------------------------------------------------
class Node(GtmProcess):
    """A ``gtm serve`` process that is not waited for: it may hold back its DNS socket until the first full
    round of reports (see ``wait_serving``). ``admin`` is its admin API URL, from its ready file."""

    def __init__(self, config: Path, *extra: str):
        self.lines = []
        self._dir = tempfile.mkdtemp(prefix="gtm-test-")
        self.ready_file = Path(self._dir) / "ready.json"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gtm.cli", "serve", "--listen", "127.0.0.1:0", "--workers", "0",
             "--ready-file", str(self.ready_file), str(config), *extra],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.port = 0
        try:
            self.wait_ready(lambda info: info["admin"] is not None, 20)
        except RuntimeError as e:
            raise AssertionError(str(e)) from None

    def wait_serving(self, timeout: float = 15.0) -> int:
        """Wait until the node answers DNS; its port."""
        try:
            self.wait_ready(lambda info: info["serving"], timeout)
        except RuntimeError as e:
            raise AssertionError(str(e)) from None
        return self.port

    def serving(self) -> bool:
        """Whether it ever bound its DNS socket (its log says so the moment it does)."""
        return any("listening on" in line for line in self.lines)

    # -- admin API --------------------------------------------------------------------------------------------
    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.admin + path, timeout=5) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def status(self) -> dict[str, Any]:
        code, body = self.get("/v1/status")
        assert code == 200, body
        return json.loads(body)  # type: ignore[no-any-return]

    def health(self) -> dict[str, Any]:
        return self.status()["health"]  # type: ignore[no-any-return]

    def verdicts(self) -> dict[str, bool | None]:
        """address -> the node's verdict on it (None: none yet)."""
        return {e["address"]: e["up"] for e in self.health()["endpoints"]}

    def transitions(self, kind: str | None = None) -> list[tuple[str, str, str]]:
        """(kind, name, state) of every logged transition, oldest first."""
        return [(t["kind"], t["name"], t["state"]) for t in reversed(self.health()["transitions"])
                if kind is None or t["kind"] == kind]

    def no_errors(self) -> None:
        bad = [line for line in self.lines if " ERROR " in line or "Traceback" in line]
        assert not bad, "the node logged errors:\n" + self.log


@contextmanager
def node(config: Path, *extra: str) -> Iterator[Node]:
    n = Node(config, *extra)
    try:
        yield n
    finally:
        n.stop()


@contextmanager
def running(setup: Setup, the_lab: Lab, vantages: tuple[str, ...] = VANTAGES, steady: bool = False
            ) -> Iterator[Node]:
    """A node on ``setup`` with in-process probers of ``vantages`` reporting to it, serving DNS (after its first
    full round of reports)."""
    with node(setup.node) as n:
        for v in vantages:
            the_lab.start_prober(setup, v, n.admin, steady=steady)
        n.wait_serving()
        yield n
        n.no_errors()


@contextmanager
def probe_processes(setup: Setup, report_to: str, vantages: tuple[str, ...] = VANTAGES) -> Iterator[list[GtmProcess]]:
    """``gtm probe`` processes, one per vantage (each on its own config copy), stopped by PID afterwards."""
    procs: list[GtmProcess] = []
    try:
        for v in vantages:
            p = GtmProcess.__new__(GtmProcess)
            p.lines = []
            p.proc = subprocess.Popen(
                [sys.executable, "-m", "gtm.cli", "probe", "--vantage", v, "--key-id", v, "--report-to", report_to,
                 str(setup.probers[v])],
                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"})
            p._reader = threading.Thread(target=p._read, daemon=True)
            p._reader.start()
            procs.append(p)
        yield procs
    finally:
        for p in procs:
            p.stop()
    for p in procs:
        assert p.proc.returncode == 0, p.log


# -- DNS ---------------------------------------------------------------------------------------------------------
def ask(port: int, name: str, client: str | None = None, rdtype: str = "A") -> list[str]:
    """The addresses answered for ``name`` (relative to health.test) to a client in ``client`` (ECS)."""
    opts = []
    if client is not None:
        address, _, length = client.partition("/")
        opts.append(dns.edns.ECSOption(address, int(length)))
    q = dns.message.make_query(f"{name}.{ZONE}.", rdtype, use_edns=0, options=opts or None)
    q.flags &= ~dns.flags.RD
    resp = dns.query.udp(q, "127.0.0.1", port=port, timeout=2.0)
    assert resp.rcode() == dns.rcode.NOERROR, dns.rcode.to_text(resp.rcode())
    return sorted(rd.address for rrset in resp.answer if rrset.rdtype == dns.rdatatype.from_text(rdtype)
                  for rd in rrset)


def regions_answered(port: int, name: str, client: str | None = None) -> list[str]:
    """The regions whose endpoints the answer holds (sorted)."""
    return sorted({REGION_OF[a] for a in ask(port, name, client)})


def answers_during(port: int, name: str, seconds: float, client: str | None = None,
                   step: float = 0.05) -> set[tuple[str, ...]]:
    """Every distinct answer (sorted addresses) to ``name`` while polling it for ``seconds``."""
    seen: set[tuple[str, ...]] = set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen.add(tuple(ask(port, name, client)))
        time.sleep(step)
    return seen
