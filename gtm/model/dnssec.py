"""The ``dnssec:`` section: where the keys of signed zones are, and what ``gtm dnssec keygen`` makes
(stdlib only)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DnssecSettings:
    """``key_dir``: the directory of the zones' key files (absolute, or relative to the config file that names
    it); None: no zone is signed. ``algorithm``: what keygen makes unless told (ecdsap256sha256, ed25519)."""

    key_dir: str | None = None
    algorithm: str = "ecdsap256sha256"
