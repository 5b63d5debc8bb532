"""Health observations and reports as values (stdlib only).

A prober at a vantage checks every (monitor, endpoint) pair in use and sends, every interval, one
:class:`Report` to every DNS node. The wire form is JSON (``Report.to_json`` / ``Report.from_json``)::

    {"vantage": "frankfurt", "sent_at": 1764201234.5, "seq": 17, "interval": 1.0,
     "observations": [{"monitor": "web", "region": "eu-west", "address": "198.51.100.10",
                       "ok": true, "rtt_ms": 1.25, "detail": "200"}]}

``sent_at`` is Unix time in seconds, ``rtt_ms`` the time to connect plus the time to the first byte of the
response (TCP monitors: the connect time), ``detail`` a short reason (HTTP status, "timeout", "refused", ...).
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any

MAX_REPORT_BYTES = 1 << 20       # a node refuses larger report bodies (413)
MAX_OBSERVATIONS = 10_000


class ReportError(ValueError):
    """A report body that is not a valid report; the message says what is wrong."""


@dataclass(frozen=True)
class Observation:
    monitor: str
    region: str
    address: str           # the endpoint's address as in the config (str(ipaddress))
    ok: bool
    rtt_ms: float | None   # None when nothing was measured (e.g. refused before connecting)
    detail: str = ""


@dataclass(frozen=True)
class Report:
    vantage: str
    sent_at: float         # Unix seconds at the prober
    seq: int               # increases by one per report of this prober (per node)
    interval: float        # seconds between this prober's rounds (nodes judge staleness by it)
    observations: tuple[Observation, ...]

    def to_json(self) -> bytes:
        body = asdict(self)
        body["observations"] = [asdict(o) for o in self.observations]
        return json.dumps(body, separators=(",", ":")).encode()

    @staticmethod
    def from_json(data: bytes) -> "Report":
        """Parse and validate a report body; raises ReportError naming the first problem."""
        if len(data) > MAX_REPORT_BYTES:
            raise ReportError(f"body larger than {MAX_REPORT_BYTES} bytes")
        try:
            raw = json.loads(data)
        except (ValueError, UnicodeDecodeError) as e:
            raise ReportError(f"not JSON: {e}") from None
        except RecursionError:  # nesting deeper than the parser goes: no report is like that
            raise ReportError("not JSON: nested too deeply") from None
        if not isinstance(raw, dict):
            raise ReportError("not a JSON object")
        vantage = _field(raw, "vantage", str)
        sent_at = float(_field(raw, "sent_at", (int, float)))
        seq = _field(raw, "seq", int)
        interval = float(_field(raw, "interval", (int, float)))
        if not (math.isfinite(sent_at) and math.isfinite(interval) and 0 < interval <= 3600 and seq >= 0):
            raise ReportError("sent_at, interval or seq out of range")
        obs_raw = _field(raw, "observations", list)
        if len(obs_raw) > MAX_OBSERVATIONS:
            raise ReportError(f"more than {MAX_OBSERVATIONS} observations")
        observations = []
        for i, o in enumerate(obs_raw):
            if not isinstance(o, dict):
                raise ReportError(f"observations[{i}] is not an object")
            rtt = o.get("rtt_ms")
            if rtt is not None and (isinstance(rtt, bool) or not isinstance(rtt, (int, float))
                                    or not math.isfinite(rtt) or rtt < 0):
                raise ReportError(f"observations[{i}].rtt_ms must be a non-negative number or null")
            detail = o.get("detail", "")
            observations.append(Observation(
                _field(o, "monitor", str, f"observations[{i}]."), _field(o, "region", str, f"observations[{i}]."),
                _field(o, "address", str, f"observations[{i}]."), _field(o, "ok", bool, f"observations[{i}]."),
                float(rtt) if rtt is not None else None, detail[:200] if isinstance(detail, str) else ""))
        return Report(vantage, sent_at, seq, interval, tuple(observations))


def _field(raw: dict[str, Any], key: str, kind: type | tuple[type, ...], prefix: str = "") -> Any:
    value = raw.get(key)
    if value is None or not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool
                                                         and bool not in (kind if isinstance(kind, tuple) else ())):
        raise ReportError(f"{prefix}{key} is missing or has the wrong type")
    return value


@dataclass(frozen=True)
class HealthSettings:
    """The ``health:`` section: how reports are trusted and turned into verdicts."""

    keys_file: str | None = None       # file of "KEY_ID:SECRET" lines
    keys_env: str | None = None        # or an environment variable holding the same (lines or commas)
    skew: float = 30.0                 # seconds a report's timestamp may be off the node's clock
    stale_after: float = 3.0           # a vantage's report is stale after this many of its intervals
    region_min_up: int = 1             # endpoints that must be up for a region to be up
    warmup: float = 0.0                # seconds after start before down votes count
    start_timeout: float = 15.0        # longest wait for the first full round when no state is persisted
    state_file: str | None = None      # where the last-known-good state is persisted
    report_to: tuple[str, ...] = ()    # admin API URLs probers report to by default
    rtt_alpha: float = 0.3             # EWMA weight of a new RTT sample


@dataclass(frozen=True)
class AdminSettings:
    """The ``admin:`` section: the admin API of a DNS node."""

    listen: tuple[str, int] = ("127.0.0.1", 8053)
    token_file: str | None = None
    token_env: str | None = None
    public: tuple[str, ...] = ("healthz",)  # paths served without the bearer token (also: "metrics")
    tls_cert: str | None = None
    tls_key: str | None = None
    names: tuple[str, ...] = ()    # HOST:PORT names the API is reached at: reports' audience, the Host header


@dataclass(frozen=True)
class RrlSettings:
    """The ``rrl:`` section (response rate limiting, gtm.dns.rrl). Rates are responses per second per client
    network and kind of response; 0 turns a kind's limit off. ``burst``: seconds' worth a quiet network may
    send at once. ``slip``: every slip-th limited response goes out truncated (0: none). Loopback is exempt
    by default (it cannot be spoofed from outside, and benchmarks run there)."""

    enabled: bool = True
    answers: float = 200.0
    nodata: float = 200.0
    nxdomains: float = 100.0
    errors: float = 100.0
    slip: int = 2
    burst: float = 2.0
    ipv4_prefix: int = 24
    ipv6_prefix: int = 56
    exempt: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    tcp_per_client: int = 32   # TCP connections at once per client network

    def rate(self, kind: str) -> float:
        return {"answer": self.answers, "nodata": self.nodata, "nxdomain": self.nxdomains,
                "error": self.errors}[kind]
