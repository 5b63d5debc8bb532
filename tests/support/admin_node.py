"""Shared helpers for the admin API tests (``tests/integration/test_admin_*.py``, ``test_status_page.py``).

:func:`write_node` writes a small zone with a monitored service, three vantages, a report key file and a token
file into a directory; :func:`start_node` runs ``gtm serve`` on it (DNS and admin API on free loopback ports)
and wraps it in an :class:`AdminNode` that speaks HTTP(S) to the admin API with ``http.client`` (header names
are sent exactly as given) and signs reports the way a prober does. The test here checks the fixture itself.
"""
from __future__ import annotations

import http.client
import json
import re
import ssl
import textwrap
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import dns.edns
import dns.message
import dns.query
from prometheus_client.parser import text_string_to_metric_families

from gtm.health import signing
from gtm.model.health import Observation, Report
from tests.conftest import ROOT, GtmProcess

TOKEN = "admin-token-0123456789abcdef"
# One key per vantage, named after it (each vantage's reports must be signed with its own key).
KEYS = {"frankfurt": b"0123456789abcdef-report-secret", "virginia": b"fedcba9876543210-other-secret",
        "singapore": b"5555555555555555-third-secret"}
KEY_ID, SECRET = "frankfurt", KEYS["frankfurt"]
OTHER_KEY_ID, OTHER_SECRET = "virginia", KEYS["virginia"]
ZONE = "adm.test"
APP = "app.adm.test"            # the monitored failover service: eu-west first, then us-east
ENDPOINTS = {"eu-west": ("192.0.2.11", "192.0.2.12"), "us-east": ("192.0.2.21",)}
VANTAGES = ("frankfurt", "virginia", "singapore")

CONFIG = """\
zone: adm.test
ttl: 3600
soa: {mname: ns1.adm.test., rname: hostmaster.adm.test., serial: 2026010101, minimum: 300}
ns: [ns1]
records:
  ns1: {A: 192.0.2.53}
  www: {A: 192.0.2.80}
regions:
  eu-west:
    location: {lat: 53.35, lon: -6.26}
    endpoints: [192.0.2.11, 192.0.2.12]
  us-east:
    location: {lat: 39.04, lon: -77.49}
    endpoints: [192.0.2.21]
monitors:
  web: {type: http, path: /healthz, interval: 1, timeout: 0.5, rise: 1, fall: 1, quorum: 1}
vantages:
  frankfurt: {location: {lat: 50.11, lon: 8.68}}
  virginia: {location: {lat: 38.9, lon: -77.0}}
  singapore: {location: {lat: 1.29, lon: 103.85}}
services:
  app: {regions: [eu-west, us-east], monitor: web, policy: failover, ttl: 30}
"""


def write_node(directory: Path, *, admin: str = "", health: str = "", keys: bool = True, token: bool = True
               ) -> Path:
    """The config directory of a node: the zone, ``keys.txt``, ``token.txt`` and the ``health:`` and ``admin:``
    sections (``admin`` and ``health`` are extra YAML lines inside them; ``keys``/``token``: whether the
    sections name the key and token files). The DNS port comes from the command line, the admin API listens
    on a free loopback port."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "keys.txt").write_text("".join(f"{k}:{v.decode()}\n" for k, v in KEYS.items()))
    (directory / "token.txt").write_text(TOKEN + "\n")
    # the monitor's interval is 1 s: a vantage that reports once stays fresh for 100 s (stale_after 100)
    text = CONFIG + "health:\n  start_timeout: 0\n" + ("  stale_after: 100\n" if "stale_after" not in health else "")
    if keys:
        text += "  keys: {file: keys.txt}\n"
    text += textwrap.indent(textwrap.dedent(health), "  ") if health.strip() else ""
    text += "admin:\n  listen: 127.0.0.1:0\n"
    if token:
        text += "  token: {file: token.txt}\n"
    text += textwrap.indent(textwrap.dedent(admin), "  ") if admin.strip() else ""
    (directory / f"{ZONE}.yaml").write_text(text)
    return directory


def obs(region: str, address: str, ok: bool, rtt_ms: float | None = 1.0, detail: str | None = None,
        monitor: str = "web") -> Observation:
    return Observation(monitor, region, address, ok, rtt_ms if ok else None, detail or ("200" if ok else "503"))


def all_obs(up: Iterable[str] = (), down: Iterable[str] = (), rtt: dict[str, float] | None = None
            ) -> tuple[Observation, ...]:
    """Observations of every endpoint of the named regions (``up`` ones ok, ``down`` ones failing)."""
    out = []
    for region in up:
        out += [obs(region, a, True, (rtt or {}).get(region, 1.0)) for a in ENDPOINTS[region]]
    for region in down:
        out += [obs(region, a, False) for a in ENDPOINTS[region]]
    return tuple(out)


_seq = iter(range(1, 1 << 30))


def report(vantage: str, observations: Iterable[Observation], interval: float = 60.0) -> bytes:
    """A report body (its seq one more than the last, across vantages: seqs only go up)."""
    return Report(vantage, time.time(), next(_seq), interval, tuple(observations)).to_json()


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()


@dataclass
class AdminNode:
    """A running node: ``proc`` (the gtm serve process), ``url`` (its admin API), ``dns_port``."""

    proc: GtmProcess
    url: str
    ssl_context: ssl.SSLContext | None = None
    seen: list[str] = field(default_factory=list)

    @property
    def dns_port(self) -> int:
        return self.proc.port

    @property
    def admin_port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
                token: str | None = TOKEN, timeout: float = 5.0) -> Response:
        """One request on a new connection; ``token`` goes into ``Authorization: Bearer`` (None: no header)."""
        hdrs = dict(headers or {})
        if token is not None:
            hdrs.setdefault("Authorization", f"Bearer {token}")
        if self.url.startswith("https:"):
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                "127.0.0.1", self.admin_port, timeout=timeout, context=self.ssl_context)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        finally:
            conn.close()

    def get(self, path: str, token: str | None = TOKEN) -> Response:
        return self.request("GET", path, token=token)

    @property
    def audience(self) -> str:
        return signing.audience_of(self.url)

    def post_report(self, body: bytes, key_id: str | None = None, secret: bytes | None = None,
                    at: float | None = None, nonce: str | None = None, headers: dict[str, str] | None = None,
                    token: str | None = TOKEN, audience: str | None = None) -> Response:
        """POST ``body`` to /v1/reports signed with ``key_id``/``secret`` (default: the key of the report's
        vantage) at time ``at`` (default now) for ``audience`` (default: this node)."""
        if key_id is None:
            try:
                key_id = str(json.loads(body)["vantage"])
            except (ValueError, KeyError, TypeError, RecursionError):
                key_id = KEY_ID
        secret = secret if secret is not None else KEYS.get(key_id, SECRET)
        signed = signing.sign(body, key_id, secret, time.time() if at is None else at,
                              self.audience if audience is None else audience, nonce)
        return self.request("POST", "/v1/reports", body, {**signed, "Content-Type": "application/json",
                                                          **(headers or {})}, token=token)

    def send(self, vantage: str, observations: Iterable[Observation]) -> dict[str, Any]:
        """A signed report that must be accepted; its JSON answer."""
        r = self.post_report(report(vantage, observations))
        assert r.status == 200, (r.status, r.body)
        return r.json()  # type: ignore[no-any-return]

    def status(self) -> dict[str, Any]:
        r = self.get("/v1/status")
        assert r.status == 200, (r.status, r.body)
        return r.json()  # type: ignore[no-any-return]

    def metrics(self, token: str | None = TOKEN) -> dict[str, Any]:
        """Metric families by name (counters without ``_total``, as the parser names them)."""
        r = self.get("/metrics", token=token)
        assert r.status == 200, (r.status, r.body)
        return {f.name: f for f in text_string_to_metric_families(r.text)}

    def sample(self, family: str, suffix: str = "", **labels: str) -> float:
        """The value of one sample (0 when absent: counters start at nothing)."""
        fams = self.metrics()
        fam = fams.get(family)
        if fam is None:
            raise AssertionError(f"no metric family {family}; have {sorted(fams)}")
        for s in fam.samples:
            if s.name == family + suffix and s.labels == labels:
                return float(s.value)
        return 0.0

    def query(self, name: str, rdtype: str = "A", ecs: str | None = "81.2.69.0/24") -> dns.message.Message:
        """One UDP query with dnspython, with an ECS option unless ``ecs`` is None."""
        options = []
        if ecs is not None:
            address, _, prefix = ecs.partition("/")
            options.append(dns.edns.ECSOption(address, int(prefix or 32)))
        q = dns.message.make_query(name, rdtype, use_edns=0, options=options)
        return dns.query.udp(q, "127.0.0.1", port=self.dns_port, timeout=2.0)


def start_node(directory: Path, *extra: str, ssl_context: ssl.SSLContext | None = None) -> AdminNode:
    """``gtm serve DIRECTORY`` (see :func:`write_node`); the admin URL is read from its log."""
    proc = GtmProcess([str(directory), *extra], ROOT)
    try:
        line = proc.wait_for_log(r"admin API on https?://", timeout=5)
    except AssertionError:
        proc.stop()
        raise
    m = re.search(r"admin API on (https?://127\.0\.0\.1:\d+)", line)
    assert m, line
    return AdminNode(proc, m.group(1), ssl_context)


def stop_node(node: AdminNode, expected: str | None = None) -> None:
    """Stop the node; its log must show no error or traceback (a handler that crashed logs one), but for errors
    matching ``expected`` (a test's own)."""
    node.proc.stop()
    bad = [line for line in node.proc.lines if (" ERROR " in line or "Traceback" in line)
           and not (expected and re.search(expected, line))]
    assert not bad, "the node logged errors:\n" + node.proc.log


@contextmanager
def running_node(directory: Path, *extra: str, ssl_context: ssl.SSLContext | None = None,
                 expected: str | None = None) -> Iterator[AdminNode]:
    """A node for the test (or module), stopped and checked afterwards (``expected``: errors the test causes)."""
    node = start_node(directory, *extra, ssl_context=ssl_context)
    try:
        yield node
    finally:
        stop_node(node, expected)


