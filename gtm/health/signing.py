"""Signed reports: HMAC-SHA256 over key id, timestamp, nonce, audience and body (the prober signs, the node
verifies).

Headers of a signed request::

    X-GTM-Key-Id:    the key's id (the node looks the secret up by it)
    X-GTM-Timestamp: Unix seconds at the sender (decimal)
    X-GTM-Nonce:     32 hex digits, never reused
    X-GTM-Audience:  the node it is meant for: HOST:PORT of the URL the prober posts to (audience_of)
    X-GTM-Signature: hex HMAC-SHA256(secret, "{key_id}\\n{timestamp}\\n{nonce}\\n{audience}\\n" + body)

The node rejects an unknown key, a bad signature, an audience that is not one of its names (a report captured
on its way to another node), a timestamp more than ``skew`` seconds off its clock and a nonce it has seen
within the skew window (a replay), each with its own reason. Which vantage a key may sign for, and the
reports' sequence, are the node's to check (``gtm.health.node``). Keys are read from a file or an environment
variable named in the config, one ``KEY_ID:SECRET`` per line (or comma-separated in a variable).
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import urlsplit

from gtm.model.net import admin_name

HEADER_KEY, HEADER_TS, HEADER_NONCE, HEADER_SIG = "X-GTM-Key-Id", "X-GTM-Timestamp", "X-GTM-Nonce", "X-GTM-Signature"
HEADER_AUDIENCE = "X-GTM-Audience"
HEADERS = (HEADER_KEY, HEADER_TS, HEADER_NONCE, HEADER_AUDIENCE, HEADER_SIG)


def audience_of(url: str) -> str:
    """The audience of reports posted to ``url``: its HOST:PORT as a node names itself (``admin_name``: lower
    case, the port always written): ``http://Node-A:8053/`` -> ``node-a:8053``; ``https://[::1]`` -> ``[::1]:443``."""
    parts = urlsplit(url)
    return admin_name(parts.netloc, 443 if parts.scheme == "https" else 80) or ""


class Rejected(Exception):
    """A request that fails verification: ``reason`` is a metric label, ``status`` the HTTP status."""

    def __init__(self, reason: str, message: str, status: int = 401, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.reason, self.status, self.extra = reason, status, dict(extra or {})


def parse_keys(text: str, where: str) -> dict[str, bytes]:
    """``KEY_ID:SECRET`` entries, one per line or comma-separated; ``#`` starts a comment. ValueError if bad."""
    keys: dict[str, bytes] = {}
    entries = [e for raw in text.splitlines() for e in raw.split("#", 1)[0].split(",")]  # comments first
    for n, raw in enumerate(entries, 1):
        line = raw.strip()
        if not line:
            continue
        key_id, sep, secret = line.partition(":")
        if not sep or not key_id.strip() or len(secret.strip()) < 16:
            raise ValueError(f"{where}: entry {n}: expected KEY_ID:SECRET with a secret of 16 characters or more")
        keys[key_id.strip()] = secret.strip().encode()
    if not keys:
        raise ValueError(f"{where}: no keys")
    return keys


def load_keys(path: str | None, env: str | None) -> dict[str, bytes]:
    """Keys from the file ``path`` or the environment variable ``env``; ValueError with the reason."""
    if path:
        try:
            with open(path, encoding="utf-8") as fh:
                return parse_keys(fh.read(), path)
        except OSError as e:
            raise ValueError(f"cannot read key file {path}: {e.strerror or e}") from None
    if env:
        if env not in os.environ:
            raise ValueError(f"environment variable {env} (report keys) is not set")
        return parse_keys(os.environ[env], f"${env}")
    raise ValueError("no report keys configured (health.keys)")


def _mac(secret: bytes, key_id: str, timestamp: str, nonce: str, audience: str, body: bytes) -> str:
    return hmac.new(secret, f"{key_id}\n{timestamp}\n{nonce}\n{audience}\n".encode() + body,
                    hashlib.sha256).hexdigest()


def sign(body: bytes, key_id: str, secret: bytes, now: float, audience: str, nonce: str | None = None
         ) -> dict[str, str]:
    """The headers that sign ``body`` for the node ``audience`` (see :func:`audience_of`)."""
    nonce = nonce or secrets.token_hex(16)
    ts = f"{now:.3f}"
    return {HEADER_KEY: key_id, HEADER_TS: ts, HEADER_NONCE: nonce, HEADER_AUDIENCE: audience,
            HEADER_SIG: _mac(secret, key_id, ts, nonce, audience, body)}


@dataclass
class Verifier:
    """Checks signed requests; remembers nonces for twice the skew window to refuse replays. ``audiences``: the
    names this node is reached at (None: any, when it cannot know them)."""

    keys: Mapping[str, bytes]
    skew: float = 30.0
    seen: dict[str, float] = field(default_factory=dict)  # nonce -> when it expires
    audiences: frozenset[str] | None = None
    not_before: float = 0.0  # the node's start: a report signed before it was captured before a restart
    offset: float | None = None  # this node's clock minus the last authenticated report's timestamp (seconds)

    def verify(self, headers: Mapping[str, str], body: bytes, now: float) -> str:
        """The key id of a valid request; raises Rejected."""
        key_id = headers.get(HEADER_KEY, "")
        ts, nonce, sig = headers.get(HEADER_TS, ""), headers.get(HEADER_NONCE, ""), headers.get(HEADER_SIG, "")
        audience = headers.get(HEADER_AUDIENCE, "")
        if not (key_id and ts and nonce and sig and audience):
            raise Rejected("unsigned", f"missing signature headers ({', '.join(HEADERS)})")
        secret = self.keys.get(key_id)
        if secret is None:
            raise Rejected("unknown_key", f"unknown key id {key_id[:64]!r}")
        if not hmac.compare_digest(_mac(secret, key_id, ts, nonce, audience, body), sig):
            raise Rejected("bad_signature", "signature does not match the body")
        if self.audiences is not None and audience not in self.audiences:
            raise Rejected("wrong_audience", f"signed for {audience[:100]!r}, not for this node "
                           f"({', '.join(sorted(self.audiences))})", 403)
        try:
            sent = float(ts)
        except ValueError:
            raise Rejected("bad_timestamp", f"timestamp is not a number ({ts[:32]!r})", 400) from None
        if nonce not in self.seen:  # (authenticated: the signature covers the timestamp; a replay does not count)
            self.offset = now - sent
        if not abs(now - sent) <= self.skew:
            raise Rejected("stale", f"timestamp is {now - sent:+.1f} s off the node's clock (allowed ±{self.skew:g} s)")
        if sent < self.not_before:
            raise Rejected("before_start", f"signed {self.not_before - sent:.1f} s before this node started")
        if len(self.seen) > 100_000 or (self.seen and min(self.seen.values()) < now):
            self.seen = {n: t for n, t in self.seen.items() if t >= now}
        if nonce in self.seen:
            raise Rejected("replay", "nonce already used (a replayed report)", 409)
        self.seen[nonce] = now + 2 * self.skew
        return key_id
