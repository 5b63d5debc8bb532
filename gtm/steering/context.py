"""The shapes every policy shares: what ``select`` may look at (:class:`Context`), what ``parse`` reads its
config through (:class:`PolicyInput`), and one registry entry (:class:`PolicyKind`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Protocol

from gtm.model import Config, GeoMatch, Policy, Service
from gtm.model.effective import Effective
from gtm.steering.types import Client, Ranking


@dataclass(frozen=True)
class Context:
    """What a policy may look at besides the service and the client."""

    config: Config
    health: Effective


class PolicyInput(Protocol):
    """A service's ``policy:`` mapping as a policy's parser reads it (``gtm.config`` implements it over the YAML,
    with file, line and field path for every problem). Readers return None (or an empty value) after recording
    the problem; a parser returns None when anything was wrong."""

    path: str                     # where this mapping is, for messages (services.www.policy.rules[0])
    candidates: tuple[str, ...]   # the service's regions
    has_vantages: bool            # the config defines vantages (latency needs measurements)
    has_asn_database: bool        # geoip.asn is set (ASN rules need it)

    def number(self, key: str, default: float, lo: float, hi: float) -> float | None:
        """A number in [lo, hi], ``default`` when absent."""

    def region_map(self, key: str, value: str, lo: float, hi: float) -> tuple[tuple[str, Any], ...]:
        """``{region: value}`` over the service's regions; ``value`` is ``"integer"`` or ``"bias"`` (a number
        of km, ``"500km"``, or a percentage ``"20%"``)."""

    def region_list(self, key: str, default: tuple[str, ...] | None) -> tuple[str, ...]:
        """A list of the service's regions (each once); ``default`` when absent or null."""

    def items(self, key: str, keys: set[str], required: tuple[str, ...]) -> Iterator["PolicyInput"]:
        """The mappings of the list at ``key`` (required, at least one), each with only ``keys`` and with
        ``required``, each read the same way."""

    def geo_match(self, keys: tuple[str, ...]) -> GeoMatch | None:
        """The one match key of a geo rule among ``keys`` (continent, country, subdivision, cidr, asn)."""

    def error(self, key: str | None, message: str) -> None:
        """Record a problem at ``key`` (None: the mapping itself)."""


Select = Callable[[Service, Client, Context], Ranking]
Parse = Callable[[PolicyInput], "Policy | None"]


@dataclass(frozen=True)
class PolicyKind:
    """One steering policy, everything about it in one place: its name in the config (``policy: {type: NAME}``),
    its config keys besides ``type``, its parser, its ``select`` and a one-line summary (docs, ``--help``)."""

    name: str
    keys: frozenset[str]
    parse: Parse
    select: Select
    summary: str
    ignored: Mapping[str, str] = field(default_factory=dict)  # keys accepted but no longer used -> why
