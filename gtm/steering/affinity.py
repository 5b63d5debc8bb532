"""Consistent hashing of client networks onto regions: weighted rendezvous (highest random weight) hashing.

Each (network, region) pair gets a pseudo-random score from a stable hash; with weights, the score is
``-w / ln(u)`` for ``u`` uniform in (0, 1), which makes a region first for a share of networks proportional to
its weight (Schindelhauer & Schomaker's weighted variant). A network's ranking does not depend on which regions
are up: when one of N regions leaves, only the networks that ranked it first move, about 1/N of them.
"""
from __future__ import annotations

import hashlib
import math

from gtm.model import IPAddress


def network_key(address: IPAddress, prefix: int) -> bytes:
    """The client network (address truncated to ``prefix``) as stable bytes."""
    width = address.max_prefixlen
    bits = (int(address) >> (width - prefix) << (width - prefix)) if prefix else 0
    return bytes([address.version, prefix]) + bits.to_bytes(width // 8, "big")


def score(key: bytes, member: str, weight: float) -> float:
    digest = hashlib.blake2b(key + b"\0" + member.encode(), digest_size=8).digest()
    u = (int.from_bytes(digest, "big") + 0.5) / 2.0**64  # uniform in (0, 1), never 0 or 1
    return -weight / math.log(u) if weight > 0 else -math.inf


def rank(key: bytes, members: list[tuple[str, float]]) -> list[str]:
    """``members`` ordered by their rendezvous score for ``key``, best first (ties by name, for stability)."""
    return [m for _, m in sorted(((-score(key, m, w), m) for m, w in members))]
