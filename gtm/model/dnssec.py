"""The ``dnssec:`` section: where the keys of signed zones are, and what ``gtm dnssec keygen`` makes
(stdlib only)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DnssecSettings:
    """``key_dir``: the directory of the zones' key files (absolute, or relative to the config file that names
    it); None: no zone is signed. ``algorithm``: what keygen makes unless told (ecdsap256sha256, ed25519).
    ``signature_period``: seconds between renewals of every signature; each is valid from an hour before its
    period starts to two periods after (a week: PowerDNS's choice, and the default)."""

    key_dir: str | None = None
    algorithm: str = "ecdsap256sha256"
    signature_period: int = 7 * 86400
