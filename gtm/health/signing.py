"""Signed reports: HMAC-SHA256 over key id, timestamp, nonce and body (the prober signs, the node verifies).

Headers of a signed request::

    X-GTM-Key-Id:    the key's id (the node looks the secret up by it)
    X-GTM-Timestamp: Unix seconds at the sender (decimal)
    X-GTM-Nonce:     32 hex digits, never reused
    X-GTM-Signature: hex HMAC-SHA256(secret, "{key_id}\\n{timestamp}\\n{nonce}\\n" + body)

The node rejects an unknown key, a bad signature, a timestamp more than ``skew`` seconds off its clock and a
nonce it has seen within the skew window (a replay), each with its own reason. Keys are read from a file or an
environment variable named in the config, one ``KEY_ID:SECRET`` per line (or comma-separated in a variable).
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field
from typing import Mapping

HEADER_KEY, HEADER_TS, HEADER_NONCE, HEADER_SIG = "X-GTM-Key-Id", "X-GTM-Timestamp", "X-GTM-Nonce", "X-GTM-Signature"


class Rejected(Exception):
    """A request that fails verification: ``reason`` is a metric label, ``status`` the HTTP status."""

    def __init__(self, reason: str, message: str, status: int = 401):
        super().__init__(message)
        self.reason, self.status = reason, status


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


def _mac(secret: bytes, key_id: str, timestamp: str, nonce: str, body: bytes) -> str:
    return hmac.new(secret, f"{key_id}\n{timestamp}\n{nonce}\n".encode() + body, hashlib.sha256).hexdigest()


def sign(body: bytes, key_id: str, secret: bytes, now: float, nonce: str | None = None) -> dict[str, str]:
    """The headers that sign ``body``."""
    nonce = nonce or secrets.token_hex(16)
    ts = f"{now:.3f}"
    return {HEADER_KEY: key_id, HEADER_TS: ts, HEADER_NONCE: nonce, HEADER_SIG: _mac(secret, key_id, ts, nonce, body)}


@dataclass
class Verifier:
    """Checks signed requests; remembers nonces for twice the skew window to refuse replays."""

    keys: Mapping[str, bytes]
    skew: float = 30.0
    seen: dict[str, float] = field(default_factory=dict)  # nonce -> when it expires

    def verify(self, headers: Mapping[str, str], body: bytes, now: float) -> str:
        """The key id of a valid request; raises Rejected."""
        key_id = headers.get(HEADER_KEY, "")
        ts, nonce, sig = headers.get(HEADER_TS, ""), headers.get(HEADER_NONCE, ""), headers.get(HEADER_SIG, "")
        if not (key_id and ts and nonce and sig):
            raise Rejected("unsigned", "missing signature headers "
                           f"({HEADER_KEY}, {HEADER_TS}, {HEADER_NONCE}, {HEADER_SIG})")
        secret = self.keys.get(key_id)
        if secret is None:
            raise Rejected("unknown_key", f"unknown key id {key_id[:64]!r}")
        if not hmac.compare_digest(_mac(secret, key_id, ts, nonce, body), sig):
            raise Rejected("bad_signature", "signature does not match the body")
        try:
            sent = float(ts)
        except ValueError:
            raise Rejected("bad_timestamp", f"timestamp is not a number ({ts[:32]!r})", 400) from None
        if not abs(now - sent) <= self.skew:
            raise Rejected("stale", f"timestamp is {now - sent:+.1f} s off the node's clock (allowed ±{self.skew:g} s)")
        if len(self.seen) > 100_000 or (self.seen and min(self.seen.values()) < now):
            self.seen = {n: t for n, t in self.seen.items() if t >= now}
        if nonce in self.seen:
            raise Rejected("replay", "nonce already used (a replayed report)", 409)
        self.seen[nonce] = now + 2 * self.skew
        return key_id
