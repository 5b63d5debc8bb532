"""Resolving hostname endpoints: one lookup (A and AAAA) through dnspython's async resolver, and a book of
names kept resolved by the rules of ``gtm.model.names``.

Both the DNS node (``gtm.control.names``, whose answers follow the addresses) and each prober (which probes
the addresses its own vantage gets, as that vantage's clients would) use them.

dnspython: the tests' DNS client already, and a complete stub resolver (CNAME chains, the TTL of a chain,
NXDOMAIN against NODATA, retries over several servers, TCP on truncation) that runs on asyncio without a
thread per lookup; gtm's own codec only writes answers.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.rdatatype
import dns.resolver

from gtm.model.names import (
    Answer, NameRecord, Names, ResolverSettings, after_answer, after_failure, expire, own_answer,
)

log = logging.getLogger(__name__)

MAX_ADDRESSES = 32  # per family and name (a load balancer's name has a handful; more is kept to this many)


class HostResolver:
    """Looks names up through ``settings.servers`` (none: the system's resolv.conf), each lookup bounded by
    ``settings.timeout``. No cache of its own: the book decides when to ask again."""

    def __init__(self, settings: ResolverSettings):
        self.settings = settings
        if settings.servers:
            r = dns.asyncresolver.Resolver(configure=False)
            r.nameservers = [dns.nameserver.Do53Nameserver(host, port) for host, port in settings.servers]
        else:
            try:
                r = dns.asyncresolver.Resolver()
            except (dns.resolver.NoResolverConfiguration, OSError) as e:
                log.warning("no system resolver (%s): hostname endpoints will not resolve; set resolvers.servers", e)
                r = dns.asyncresolver.Resolver(configure=False)
        r.lifetime = settings.timeout
        r.timeout = max(0.2, settings.timeout / 2)  # a second try (or the next server) within the lifetime
        r.cache = None
        self.resolver = r

    async def lookup(self, name: str) -> Answer:
        """A and AAAA of ``name`` (no final dot needed), together; never raises but for cancellation."""
        if not self.resolver.nameservers:
            return Answer(error="no resolver configured")
        fqdn = name if name.endswith(".") else name + "."
        a, aaaa = await asyncio.gather(self._one(fqdn, "A"), self._one(fqdn, "AAAA"))
        if isinstance(a, str) and isinstance(aaaa, str):
            return Answer(error=a)
        if isinstance(a, str) or isinstance(aaaa, str):
            # One type failed, the other answered: with addresses, they are used and the failed type keeps its
            # last ones (one flaky type does not take the name down); without, it is the failure it is.
            failed, ok, rtype = (a, aaaa, "A") if isinstance(a, str) else (str(aaaa), a, "AAAA")
            assert not isinstance(ok, str)
            if not ok[0]:
                return Answer(error=failed)
            return Answer(ok[0] if rtype == "AAAA" else (), ok[0] if rtype == "A" else (), ok[1],
                          partial=(rtype, failed))
        (v4, ttl4, gone4), (v6, ttl6, gone6) = a, aaaa
        if not v4 and not v6:
            ttls = [t for t in (ttl4, ttl6) if t is not None]
            return Answer(error="nxdomain" if (gone4 or gone6) else "no address", gone=True,
                          ttl=min(ttls) if ttls else None)
        ttls = [t for t, addrs in ((ttl4, v4), (ttl6, v6)) if addrs and t is not None]
        return Answer(v4, v6, min(ttls) if ttls else None)

    async def _one(self, fqdn: str, rtype: str) -> tuple[tuple[str, ...], float | None, bool] | str:
        """(addresses, ttl, nxdomain) for one type, or a failure's name."""
        try:
            answer = await self.resolver.resolve(fqdn, rtype, search=False, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN as e:
            return (), _negative_ttl(e), True
        except (dns.resolver.LifetimeTimeout, dns.exception.Timeout):
            return "timeout"
        except dns.resolver.NoNameservers:
            return "servfail"
        except dns.resolver.YXDOMAIN:
            return "bad answer: YXDOMAIN"
        except dns.exception.DNSException as e:
            return f"bad answer: {type(e).__name__}"
        if answer.rrset is None:  # NODATA: no address of this type
            ttl = None
            for rr in answer.response.authority:
                if rr.rdtype == dns.rdatatype.SOA:
                    ttl = float(min(rr.ttl, rr[0].minimum))
            return (), ttl, False
        addresses = tuple(rd.address for rd in answer.rrset)[:MAX_ADDRESSES]
        return addresses, max(0.0, answer.expiration - time.time()), False


def _negative_ttl(e: dns.resolver.NXDOMAIN) -> float | None:
    for response in (e.kwargs.get("responses") or {}).values():
        for rr in getattr(response, "authority", ()):
            if rr.rdtype == dns.rdatatype.SOA:
                return float(min(rr.ttl, rr[0].minimum))
    return None


class NameBook:
    """The names to keep resolved and what is known of each (:class:`NameRecord`), moved on by the pure rules
    of ``gtm.model.names``. ``clock``: seconds, monotonic; ``wall``: Unix time, for status."""

    def __init__(self, resolver: HostResolver, clock: Callable[[], float] = time.monotonic,
                 local: Callable[[str], Answer | str | None] | None = None):
        self.resolver = resolver
        self.local = local  # names answered without asking (a node's own zones); None: ask
        self.settings = resolver.settings
        self.clock = clock
        self.records: dict[str, NameRecord] = {}
        self.lookups = 0
        self.failures: dict[str, int] = {}   # by kind: timeout, servfail, nxdomain, no address, bad answer
        # names whose lookups answer one type only: the other type's failure, and since when
        self.halves: dict[str, tuple[tuple[str, str], float]] = {}

    def track(self, names: tuple[str, ...]) -> None:
        """Keep exactly ``names`` (new ones are due at once; gone ones are forgotten)."""
        self.records = {n: self.records.get(n) or NameRecord(n) for n in names}

    def due(self) -> list[str]:
        now = self.clock()
        return [n for n, r in self.records.items() if r.due <= now]

    def next_due(self) -> float | None:
        return min((r.due for r in self.records.values()), default=None)

    async def refresh(self, names: list[str] | None = None) -> bool:
        """Look up ``names`` (default: those due) together; returns whether any name's Lookup changed."""
        todo = self.due() if names is None else names
        results = await asyncio.gather(*(self._lookup(n) for n in todo))
        changed = False
        now = self.clock()
        for name, answer in zip(todo, results):
            old = self.records.get(name)
            if old is None:
                continue  # forgotten meanwhile (a reload)
            self.lookups += 1
            if not answer.error:
                v4, v6 = answer.v4, answer.v6
                if answer.partial is not None:  # the type that failed keeps its last addresses, for stale_for
                    rtype, why = answer.partial
                    kind = why.split(":")[0]
                    self.failures[kind] = self.failures.get(kind, 0) + 1
                    since = self.halves.get(name, (answer.partial, now))[1]
                    if self.halves.get(name, (None,))[0] != answer.partial:  # (said once while it lasts)
                        since = now
                        log.warning("hostname %s: %s for %s (the %s answer is used; the %s addresses kept for "
                                    "up to stale_for)", name, why, rtype, "AAAA" if rtype == "A" else "A", rtype)
                    self.halves[name] = (answer.partial, since)
                    if now - since <= self.settings.stale_for:
                        v4, v6 = (old.lookup.v4, v6) if rtype == "A" else (v4, old.lookup.v6)
                else:
                    self.halves.pop(name, None)
                new = after_answer(old, v4, v6, answer.ttl if answer.ttl is not None else 0.0, now, self.settings)
            else:
                kind = answer.error.split(":")[0]
                self.failures[kind] = self.failures.get(kind, 0) + 1
                new = after_failure(old, answer.error, now, self.settings, answer.gone, answer.ttl)
                if old.error != answer.error or old.lookup.state != new.lookup.state:
                    log.warning("hostname %s: %s (%s; %s)", name, answer.error, new.lookup.state,
                                "no address yet" if old.resolved_at is None else
                                f"last resolved {now - old.resolved_at:.0f} s ago")
            if old.lookup.v4 + old.lookup.v6 != new.lookup.v4 + new.lookup.v6 and not answer.error:
                log.info("hostname %s: %s", name, ", ".join(new.lookup.v4 + new.lookup.v6))
            changed |= old.lookup != new.lookup
            self.records[name] = new
        changed |= self.expire()
        return changed

    async def _lookup(self, name: str) -> Answer:
        got = self.local(name) if self.local is not None else None
        if isinstance(got, Answer):
            return got
        return await self.resolver.lookup(got if got is not None else name)

    def expire(self) -> bool:
        """Stale names past ``stale_for`` become failed (between lookups too); whether any did."""
        now, changed = self.clock(), False
        for name, rec in list(self.records.items()):
            new = expire(rec, now, self.settings)
            if new is not rec:
                log.warning("hostname %s: unresolvable for longer than stale_for (%g s): failed", name,
                            self.settings.stale_for)
                self.records[name] = new
                changed = True
        return changed

    def names(self) -> Names:
        from types import MappingProxyType

        return Names(MappingProxyType({n: r.lookup for n, r in self.records.items()}))

    def addresses(self, name: str, keep: bool = False) -> tuple[str, ...]:
        """The addresses of ``name`` that may be used now (resolved, or stale within stale_for; or failed and
        ``keep``: its last ones)."""
        rec = self.records.get(name)
        if rec is None or not rec.lookup.usable(keep):
            return ()
        return rec.lookup.v4 + rec.lookup.v6




__all__ = ["Answer", "HostResolver", "NameBook", "own_answer"]
