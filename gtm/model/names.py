"""Hostname endpoints' addresses: the resolver's settings, what is known of each name, and the pure rules that
move that knowledge on after each answer or failure (stdlib only; the clock is an argument).

A load balancer handed out as a DNS name (an AWS ALB or NLB, a cloud or CDN load balancer) has addresses that
change over time. The node's resolver (``gtm.control.names``) asks for them again as their TTL runs out,
bounded by ``min_ttl`` and ``max_ttl``, and keeps the last good ones through failures for ``stale_for``
seconds. What answers depend on is a :class:`Names` value in the Snapshot: per name, the addresses and a
:class:`Lookup` state; a change of it is a new Snapshot like a change of health.

States of a name:

* ``ok``: its last lookup succeeded;
* ``stale``: its lookups fail (timeouts, SERVFAIL, garbage) and the last good answer expired (its TTL, as
  kept) less than ``stale_for`` ago: its addresses are still answered;
* ``failed``: failing for longer than ``stale_for``, or the upstream said the name does not exist (NXDOMAIN)
  or has no address: its endpoint is down, or keeps its last addresses where ``on_resolve_failure: keep``;
* ``unresolved``: never resolved (yet): no address to answer.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping

from gtm.model.records import A, AAAA, CNAME, NS, is_subdomain
from gtm.model.traffic import OnResolveFailure

if TYPE_CHECKING:
    from gtm.model import Config

OK, STALE, FAILED, UNRESOLVED = "ok", "stale", "failed", "unresolved"
_EMPTY: Mapping = MappingProxyType({})


@dataclass(frozen=True)
class ResolverSettings:
    """The ``resolvers:`` section. ``servers`` as (host, port); none: the system's (``/etc/resolv.conf``).
    Times in seconds."""

    servers: tuple[tuple[str, int], ...] = ()
    min_ttl: float = 5.0       # a name is asked again no sooner than this after an answer, whatever its TTL
    max_ttl: float = 300.0     # and no later than this
    stale_for: float = 300.0   # the last good addresses are kept this long past their TTL through failures
    timeout: float = 2.0       # the bounded wait for one lookup (A and AAAA together)
    retry: float = 5.0         # after a failure, the next try this much later (at most max_ttl)
    on_failure: OnResolveFailure = OnResolveFailure.DOWN


@dataclass(frozen=True)
class Lookup:
    """What answers need of one name: its addresses (the last good ones) and its state."""

    v4: tuple[str, ...] = ()
    v6: tuple[str, ...] = ()
    state: str = UNRESOLVED

    def addresses(self, family: int) -> tuple[str, ...]:
        return self.v4 if family == 4 else self.v6

    def usable(self, keep: bool) -> bool:
        """Whether its addresses may be answered: resolved, or stale within ``stale_for``, or failed where
        the policy keeps the last addresses."""
        return self.state in (OK, STALE) or (keep and self.state == FAILED)


UNKNOWN = Lookup()


@dataclass(frozen=True)
class Names:
    """Every hostname endpoint's :class:`Lookup`: the Snapshot's part that the resolver owns."""

    lookups: Mapping[str, Lookup] = field(default_factory=lambda: _EMPTY)

    def get(self, name: str) -> Lookup:
        return self.lookups.get(name, UNKNOWN)

    def key(self) -> tuple[tuple[str, Lookup], ...]:
        """A hashable form (equal keys: equal answers)."""
        return tuple(sorted(self.lookups.items()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Names) and dict(self.lookups) == dict(other.lookups)

    def __hash__(self) -> int:
        return hash(self.key())


NO_NAMES = Names()


@dataclass(frozen=True)
class NameRecord:
    """Everything the resolver knows of one name: its :class:`Lookup` and the times and failures behind it.
    Times are the caller's clock (seconds); ``resolved_at`` None: never resolved."""

    name: str
    lookup: Lookup = UNKNOWN
    resolved_at: float | None = None   # the last good answer
    ttl: float = 0.0                   # the TTL it was kept for, bounded by min_ttl and max_ttl
    due: float = 0.0                   # the next lookup
    failing_since: float | None = None
    error: str = ""                    # the last failure ("timeout", "nxdomain", "servfail", "bad answer: ...")
    failures: int = 0                  # failed lookups since the last good one

    def age(self, now: float) -> float | None:
        return None if self.resolved_at is None else max(0.0, now - self.resolved_at)


def bounded(ttl: float, settings: ResolverSettings) -> float:
    return min(max(ttl, settings.min_ttl), settings.max_ttl)


def after_answer(rec: NameRecord, v4: tuple[str, ...], v6: tuple[str, ...], ttl: float, now: float,
                 settings: ResolverSettings) -> NameRecord:
    """A lookup that gave addresses (of either family or both); ``ttl`` the shortest TTL of the answers."""
    kept = bounded(ttl, settings)
    return replace(rec, lookup=Lookup(tuple(sorted(v4)), tuple(sorted(v6)), OK), resolved_at=now, ttl=kept,
                   due=now + kept, failing_since=None, error="", failures=0)


def after_failure(rec: NameRecord, error: str, now: float, settings: ResolverSettings, gone: bool = False,
                  negative_ttl: float | None = None) -> NameRecord:
    """A lookup that gave no address. ``gone``: the upstream answered that the name does not exist or has no
    address (NXDOMAIN, or NODATA for both A and AAAA): an answer, not an outage, so the name is failed at
    once, asked again after the negative TTL (bounded). Otherwise (a timeout, SERVFAIL, garbage) the last
    addresses stay in use until ``stale_for`` has passed since they expired (the last good answer's TTL,
    as kept); a name failed already stays failed (only an answer brings it back: the addresses of a name
    the upstream said is gone must not come back because the upstream then stopped answering)."""
    since = rec.failing_since if rec.failing_since is not None else now
    if gone:
        state = FAILED
        due = now + bounded(negative_ttl if negative_ttl is not None else settings.retry, settings)
    else:
        state = FAILED if rec.lookup.state == FAILED else stale_state(rec, now, settings)
        due = now + min(settings.retry, settings.max_ttl)
    return replace(rec, lookup=replace(rec.lookup, state=state), due=due, failing_since=since, error=error,
                   failures=rec.failures + 1)


def stale_state(rec: NameRecord, now: float, settings: ResolverSettings) -> str:
    """The state of a failing name: stale until ``stale_for`` after its last good answer expired."""
    if rec.resolved_at is None:
        return UNRESOLVED
    return STALE if now - (rec.resolved_at + rec.ttl) <= settings.stale_for else FAILED


def expire(rec: NameRecord, now: float, settings: ResolverSettings) -> NameRecord:
    """A stale name whose ``stale_for`` ran out between lookups becomes failed."""
    if rec.lookup.state == STALE and stale_state(rec, now, settings) == FAILED:
        return replace(rec, lookup=replace(rec.lookup, state=FAILED))
    return rec


@dataclass(frozen=True)
class Answer:
    """One lookup of a name's A and AAAA. ``error`` empty: addresses found (``ttl``: the shortest TTL along
    the answers' CNAME chains). ``gone``: the upstream says there is no such name or no address (NXDOMAIN, or
    NODATA for both types; ``ttl`` is then the negative TTL when known). Else a failure: ``timeout``,
    ``servfail`` (every server failed or refused), ``bad answer: ...``."""

    v4: tuple[str, ...] = ()
    v6: tuple[str, ...] = ()
    ttl: float | None = None
    error: str = ""
    gone: bool = False
    # one type answered with addresses while the other failed (a timeout, SERVFAIL): that type ("A" or
    # "AAAA") and its failure; the name keeps its last addresses of that type (``NameBook.refresh``)
    partial: tuple[str, str] | None = None


MAX_CHAIN = 8  # static CNAMEs followed in our own zones


def own_answer(config: Config, name: str) -> Answer | str | None:
    """A hostname inside one of our own zones, answered from the zones' static data (through static CNAMEs
    and wildcards, RFC 4592): what this node itself would answer, without asking anyone (the resolvers may not
    even know the zone). None for a name outside them or below a delegation (the resolvers are asked); the
    target's name when a static CNAME leads outside them (the resolvers are asked for that one). (The config
    refuses a hostname that leads to a managed name.)"""
    fqdn = name + "."
    for _ in range(MAX_CHAIN):
        zone = max((z for origin, z in config.zones.items() if is_subdomain(fqdn, origin)),
                   key=lambda z: len(z.origin), default=None)  # the most specific zone, as the server picks it
        if zone is None or _below_cut(zone, fqdn):
            return None if fqdn == name + "." else fqdn.rstrip(".")
        there = _exists(zone, fqdn)  # (an empty non-terminal exists: no address, and no wildcard for it)
        types = zone.rrsets.get(fqdn) or ({} if there else _wildcard(zone, fqdn))
        if CNAME in types and types[CNAME].rdatas:
            fqdn = types[CNAME].rdatas[0].target or ""
            continue
        v4 = tuple(str(rd.fields[0]) for rd in types[A].rdatas) if A in types else ()
        v6 = tuple(str(rd.fields[0]) for rd in types[AAAA].rdatas) if AAAA in types else ()
        if not v4 and not v6:
            return Answer(error="nxdomain" if not types and not there else "no address", gone=True,
                          ttl=float(zone.negative_ttl))
        ttls = [types[t].ttl for t in (A, AAAA) if t in types]
        return Answer(v4, v6, float(min(ttls)))
    return Answer(error="bad answer: a CNAME chain too long", gone=False)


def _below_cut(zone: Any, fqdn: str) -> bool:
    """Whether ``fqdn`` is at or below a delegation of ``zone`` (its data is another server's)."""
    n = fqdn
    while n != zone.origin and "." in n.rstrip("."):
        if NS in (zone.rrsets.get(n) or {}):
            return True
        n = n.split(".", 1)[1]
    return False


def _exists(zone: Any, name: str) -> bool:
    """Whether ``name`` exists in ``zone``: it has data, or it is an empty non-terminal (a name below it has)."""
    if name in zone.rrsets:
        return True
    exists = getattr(zone.rrsets, "exists", None)  # a packed zone knows its names
    if exists is not None:
        return bool(exists(name))
    return any(owner.endswith("." + name) for owner in zone.rrsets)


def _wildcard(zone: Any, fqdn: str) -> Mapping[int, Any]:
    """The RRsets a wildcard gives ``fqdn``: going up from its parent, the first ``*.<ancestor>`` there is,
    unless a name that exists comes first, empty non-terminals included (the closest encloser, RFC 4592
    section 3.3.1)."""
    n = fqdn.split(".", 1)[1] if "." in fqdn.rstrip(".") else "."
    while True:
        wild = zone.rrsets.get("*." + n)
        if wild is not None:
            return wild
        if n == zone.origin or _exists(zone, n) or "." not in n.rstrip("."):
            return {}
        n = n.split(".", 1)[1]
