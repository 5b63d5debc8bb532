"""The prober of one vantage: probe every monitored endpoint on its monitor's schedule and push signed reports.

Shape of a running :class:`Prober`:

* one **probe task per target** (monitor, region, address): probes every ``monitor.interval`` seconds, each delay
  jittered by ±10 % (seeded RNG, injectable) so that targets added together do not stay in step; at most
  ``concurrency`` probes run at once (a semaphore), all through ONE aiohttp session that never reuses a connection
  (``force_close=True``), so every probe measures a fresh connect;
* one **round task**: every round (the smallest monitor interval among the targets) it builds one
  :class:`~gtm.model.health.Report` holding the observations made since the previous report (a target not probed
  in between is left out: its view at the node stands, rather than counting one probe twice) and hands it to
  every node's sender;
* one **sender task per node** URL: ``POST {url}/v1/reports`` with the report's JSON, signed
  (:func:`gtm.health.signing.sign`, fresh timestamp and nonce per attempt) and with ``Authorization: Bearer`` when a
  token is given. A failure (connection error, timeout, non-2xx) is retried after 1 s, 2 s, 4 s … capped at 30 s,
  always with the NEWEST report (a newer one replaces a pending stale one: only the latest state is worth sending).
  Nodes never wait for each other, and the rounds never wait for any node.

Reports carry one ``seq`` per round, increasing by one from the clock in milliseconds at start (so it goes up
across restarts too); a node that missed reports (while down, or because a stale one was dropped) sees gaps,
never a decrease. Each report to a node is signed for that node (its audience: HOST:PORT of its URL). One log line per node state change (reachable / unreachable).
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
import ssl
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

import aiohttp

from gtm.health import signing
from gtm.health.aggregate import round_of
from gtm.health.probe import describe_os_error, probe
from gtm.model import Config
from gtm.health.probe import MAX_DETAIL
from gtm.health.resolve import HostResolver, NameBook, own_answer
from gtm.model.health import MAX_OBSERVATIONS, Observation, Report
from gtm.model.traffic import Monitor, ProbeMode

log = logging.getLogger(__name__)

JITTER = 0.10                 # each probe delay is interval × (1 ± JITTER)
REPORTS_PATH = "/v1/reports"


@dataclass(frozen=True)
class Target:
    """One thing to probe: endpoint ``address`` (its key: ``str(ipaddress)``, or the hostname of a hostname
    endpoint, whose ``hostname`` is then set) of ``region`` by ``monitor``."""

    monitor: Monitor
    region: str
    address: str
    hostname: str | None = None
    per_address: bool = False      # probe: addresses (each address reported as a check of its own too)

    @property
    def key(self) -> tuple[str, str, str]:
        return self.monitor.name, self.region, self.address


def targets(config: Config) -> tuple[Target, ...]:
    """Every (monitor, region, address) in use: each endpoint of each region of each service with a monitor.

    Deduplicated (two services sharing a monitor and a region probe it once), in config order.
    """
    out: dict[tuple[str, str, str], Target] = {}
    for service in config.services:
        if service.monitor is None:
            continue
        monitor = config.monitors[service.monitor]
        for region_name in service.regions:
            region = config.regions[region_name]
            for endpoint in region.endpoints:
                t = Target(monitor, region_name, endpoint.key, endpoint.hostname,
                           endpoint.probe is ProbeMode.ADDRESSES)
                out.setdefault(t.key, t)
    return tuple(out.values())


@dataclass
class NodeState:
    """What the prober knows of one node; ``reachable`` is None until the first attempt ends."""

    url: str
    reachable: bool | None = None
    delivered: int = 0           # reports accepted (2xx)
    failures: int = 0            # consecutive failed attempts (0 after a success)
    attempts: int = 0            # every POST tried, for tests and status
    last_error: str = ""
    last_seq: int = -1           # seq of the last report accepted
    audience: str = ""           # what reports to it are signed for (signing.audience_of(url))
    pending: Report | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class Prober:
    """Probes every target of ``config`` from ``vantage`` and reports to every URL of ``report_to``.

    ``key_id``/``secret`` sign the reports; ``token`` (if any) is sent as a bearer token. ``ssl_ctx`` verifies https
    probes (None: system trust store); ``report_ssl`` verifies https node URLs (None: system trust store).
    ``clock`` is the wall clock (Unix seconds) used for ``sent_at`` and signatures, ``rng`` the jitter's source;
    both are injectable for tests. ``backoff`` (seconds) is the first retry delay, doubled per consecutive failure up
    to ``backoff_cap``; ``send_timeout`` bounds one POST. Scheduling uses the event loop's monotonic clock.

    ``await run()`` runs until :meth:`stop` is called, then cancels its tasks and closes its session.
    """

    def __init__(self, config: Config, vantage: str, report_to: Sequence[str], key_id: str, secret: bytes, *,
                 token: str | None = None, concurrency: int = 64, ssl_ctx: ssl.SSLContext | None = None,
                 report_ssl: ssl.SSLContext | None = None, clock: Callable[[], float] = time.time,
                 rng: random.Random | None = None, backoff: float = 1.0, backoff_cap: float = 30.0,
                 send_timeout: float = 5.0):
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.vantage = vantage
        self.targets = targets(config)
        # Hostname endpoints are resolved here, by this vantage's resolvers: its view is its clients'.
        self.names = NameBook(HostResolver(config.resolvers), local=lambda name: own_answer(config, name))
        self.names.track(tuple(dict.fromkeys(t.hostname for t in self.targets if t.hostname is not None)))
        # names some service keeps answering once they fail (on_resolve_failure: keep): probed at their last
        # addresses then, as the node answers them
        self.kept = frozenset(h for kept in config.keeps().values() for h in kept)
        self.round = round_of(config)  # the nodes judge staleness on the same figure
        self.nodes = {url.rstrip("/"): NodeState(url.rstrip("/"), audience=signing.audience_of(url))
                      for url in report_to}
        self.latest: dict[tuple[str, str, str], Observation] = {}   # the newest observation of each target
        self.extra: dict[tuple[str, str, str], tuple[Observation, ...]] = {}  # its addresses' (probe: addresses)
        self.unreported: set[tuple[str, str, str]] = set()          # targets observed since the last report
        # Sequence numbers only go up, across restarts too (nodes refuse one not after the last they applied):
        # they start at the clock in milliseconds and count rounds from there.
        self.seq = int(clock() * 1000)
        self._key_id, self._secret, self._token = key_id, secret, token
        self._concurrency = concurrency
        self._ssl_ctx, self._report_ssl = ssl_ctx, report_ssl
        self._clock = clock
        self._rng = rng or random.Random()
        self._backoff, self._backoff_cap, self._send_timeout = backoff, backoff_cap, send_timeout
        self._stop = asyncio.Event()
        if len(self.targets) > MAX_OBSERVATIONS:
            log.warning("%d targets but a report holds at most %d observations; nodes will refuse the reports",
                        len(self.targets), MAX_OBSERVATIONS)

    def stop(self) -> None:
        """Ask :meth:`run` to finish (safe from a signal handler on the loop's thread)."""
        self._stop.set()

    def jittered(self, interval: float) -> float:
        """``interval`` seconds × a factor drawn uniformly from [1 - JITTER, 1 + JITTER]."""
        return interval * (1.0 + self._rng.uniform(-JITTER, JITTER))

    async def run(self) -> None:
        """Probe and report until :meth:`stop`; then cancel every task and close the session (clean shutdown)."""
        # No connection reuse: each probe must measure a fresh connect (and a node that restarted is never met
        # on a stale kept-alive connection). limit=0: the semaphore, not the pool, bounds probes; a full pool
        # would otherwise add queueing time to the measured RTT. No cookies: checks must be stateless.
        connector = aiohttp.TCPConnector(force_close=True, limit=0)
        session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                        headers={"User-Agent": "gtm-probe"}, trust_env=False)
        sem = asyncio.Semaphore(self._concurrency)
        tasks = [asyncio.create_task(self._probe_loop(session, sem, t), name=f"probe {t.key}")
                 for t in self.targets]
        tasks += [asyncio.create_task(self._send_loop(session, node), name=f"report to {node.url}")
                  for node in self.nodes.values()]
        tasks.append(asyncio.create_task(self._round_loop(), name="rounds"))
        stopping = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait([stopping, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:  # a task that ended on its own is a bug: surface it rather than limp on
                error = task.exception() if task.done() and not task.cancelled() else None
                if error is not None:
                    raise error
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            stopping.cancel()
            await session.close()

    async def _probe_loop(self, session: aiohttp.ClientSession, sem: asyncio.Semaphore, t: Target) -> None:
        loop = asyncio.get_running_loop()
        # The first probe at a random point in the first tenth of the interval: targets start spread out, and
        # the first round still finds (nearly) every target probed.
        due = loop.time() + self._rng.uniform(0.0, JITTER * t.monitor.interval)
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            async with sem:
                try:
                    if t.hostname is not None:
                        obs, each = await self._probe_name(session, t)
                        if t.per_address:  # (set with the name's: a report never has one without the other)
                            self.extra[t.key] = each
                    else:
                        obs = await probe(session, t.monitor, t.region, t.address, self._ssl_ctx,
                                          user_agent=f"gtm-prober ({self.vantage})")
                except Exception as e:  # a bug in probe() must not end this target's checks for good
                    log.exception("probe of %s %s by %s failed", t.region, t.address, t.monitor.name)
                    obs = Observation(t.monitor.name, t.region, t.address, False, None, f"error: {type(e).__name__}")
            self.latest[t.key] = obs
            self.unreported.add(t.key)
            due += self.jittered(t.monitor.interval)
            if due < loop.time():  # overran (slow probe, busy loop): do not burst to catch up
                due = loop.time()

    async def _probe_name(self, session: aiohttp.ClientSession, t: Target
                          ) -> tuple[Observation, tuple[Observation, ...]]:
        """A hostname endpoint, judged as a whole: its name resolved here (what this vantage's clients get; a
        name in the config's own zones from their data, as every node answers it),
        every address probed at once with the Host header and TLS SNI of the monitor's ``host``, else the
        hostname; up while any address passes (a client tries the next address when one fails), with the
        fastest passing RTT. No address to probe is a failure that says why."""
        assert t.hostname is not None
        if t.hostname in self.names.due():
            await self.names.refresh([t.hostname])
        addresses = self.names.addresses(t.hostname, keep=t.hostname in self.kept)
        if not addresses:  # (no address observations: the node drops this vantage's views of the addresses)
            rec = self.names.records.get(t.hostname)
            why = rec.error if rec is not None and rec.error else "no address"
            return Observation(t.monitor.name, t.region, t.address, False, None, f"resolve: {why}"), ()
        host = t.monitor.host or t.hostname
        results = await asyncio.gather(*(probe(session, t.monitor, t.region, a, self._ssl_ctx, host=host,
                                               user_agent=f"gtm-prober ({self.vantage})") for a in addresses))
        # each address's own observation (probe: addresses), HOSTNAME/ADDRESS, reported beside the name's
        each = tuple(replace(o, address=f"{t.address}/{a}") for a, o in zip(addresses, results))
        passed = [o for o in results if o.ok]
        if passed:
            best = min(passed, key=lambda o: o.rtt_ms if o.rtt_ms is not None else float("inf"))
            failed = [f"{a}: {o.detail}" for a, o in zip(addresses, results) if not o.ok]
            detail = best.detail + (f"; {len(failed)} of {len(results)} failed ({failed[0]})" if failed else "")
            return Observation(t.monitor.name, t.region, t.address, True, best.rtt_ms, detail[:MAX_DETAIL]), each
        first = results[0]
        detail = first.detail if len(results) == 1 else f"all {len(results)} addresses failed ({addresses[0]}: {first.detail})"
        return Observation(t.monitor.name, t.region, t.address, False, None, detail[:MAX_DETAIL]), each

    def build_report(self) -> Report:
        """The next report: every observation made since the previous report (the newest per target), ``seq``
        one more than before. An observation is reported once: nodes count consecutive failures and successes
        for rise/fall, so sending one probe's result twice would count it twice."""
        self.seq += 1
        observations = tuple(o for t in self.targets if t.key in self.unreported
                             for o in (self.latest[t.key], *self.extra.get(t.key, ())))
        self.unreported = set()
        return Report(self.vantage, self._clock(), self.seq, self.round, observations)

    async def _round_loop(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + self.round
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            report = self.build_report()
            for node in self.nodes.values():
                node.pending = report  # replaces a stale one the node's sender has not got to
                node.wake.set()
            due += self.round
            if due < loop.time():
                due = loop.time() + self.round

    async def _send_loop(self, session: aiohttp.ClientSession, node: NodeState) -> None:
        while True:
            await node.wake.wait()
            node.wake.clear()
            while node.pending is not None:
                report = node.pending
                error = await self._post(session, node, report)
                node.attempts += 1
                if error is None:
                    if node.pending is report:
                        node.pending = None
                    node.delivered += 1
                    node.last_seq = report.seq
                    node.failures = 0
                    if node.reachable is not True:
                        log.info("node %s reachable (report seq %d accepted)", node.url, report.seq)
                    node.reachable = True
                    continue
                node.failures += 1
                node.last_error = error
                delay = min(self._backoff * 2 ** (node.failures - 1), self._backoff_cap)
                if node.reachable is not False:
                    log.warning("node %s unreachable: %s; retrying with backoff (%g s, doubling up to %g s)",
                                node.url, error, delay, self._backoff_cap)
                node.reachable = False
                # Honour the backoff even if newer reports arrive meanwhile; the retry sends the newest.
                await asyncio.sleep(delay)

    async def _post(self, session: aiohttp.ClientSession, node: NodeState, report: Report) -> str | None:
        """POST one report; None on success (2xx), else a short reason."""
        body = report.to_json()
        # Signed at each attempt: a retry needs a fresh nonce (the node refuses a seen one as a replay) and a
        # timestamp within the node's skew window.
        headers = signing.sign(body, self._key_id, self._secret, self._clock(), node.audience)
        headers["Content-Type"] = "application/json"
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            async with asyncio.timeout(self._send_timeout):
                async with session.post(node.url + REPORTS_PATH, data=body, headers=headers,
                                        ssl=self._report_ssl or True, allow_redirects=False,
                                        timeout=aiohttp.ClientTimeout(total=self._send_timeout)) as resp:
                    if 200 <= resp.status < 300:
                        return None
                    if resp.status == 409:
                        try:
                            answer: Any = json.loads(await resp.content.read(4096))
                        except ValueError:
                            answer = {}
                        last = answer.get("last_seq") if isinstance(answer, dict) else None
                        if isinstance(last, int) and last > report.seq:
                            # the node applied a later seq of this vantage (this prober's clock went back, or
                            # another prober speaks for it): count on from there, and say so
                            if last >= self.seq:
                                log.warning("node %s has seq %d of %s, after ours (%d): counting on from there",
                                            node.url, last, self.vantage, report.seq)
                                self.seq = last
                            return f"HTTP 409 (seq {report.seq} is older than the node's {last})"
                        return None  # the node applied this very report (a reply was lost) or refused a replay
                    text = (await resp.content.read(200)).decode("utf-8", errors="replace").strip()
                    return f"HTTP {resp.status}" + (f" ({text.splitlines()[0][:100]})" if text else "")
        except TimeoutError:
            return "timeout"
        except aiohttp.ClientConnectorError as e:
            return describe_os_error(e.os_error)
        except (aiohttp.ClientError, OSError) as e:
            return f"{type(e).__name__}: {e}"[:200]
