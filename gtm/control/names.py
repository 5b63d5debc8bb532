"""The node's resolver of hostname endpoints: keeps every hostname of the config resolved (``gtm.health.resolve``)
and hands each changed :class:`~gtm.model.names.Names` to the runtime, which makes it a new Snapshot (answers
follow the addresses without a reload). Runs on the control process's event loop, off the query path: the
workers get the new Snapshot like any other."""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from typing import Any, Callable

from gtm.health.resolve import HostResolver, NameBook, own_answer
from gtm.model import Config
from gtm.model.names import Names, ResolverSettings

log = logging.getLogger(__name__)

IDLE = 30.0  # seconds between wakeups when no name is configured (a reload may add some)


class NameWatcher:
    """``configure(config)`` at start and at each reload; ``await first_round()`` before answering; ``run()``
    as a task. ``on_change(names)`` is called on the loop with each changed Names."""

    def __init__(self, on_change: Callable[[Names], None], clock: Callable[[], float] = time.monotonic):
        self.on_change = on_change
        self.clock = clock
        self.book: NameBook | None = None
        self.settings: ResolverSettings | None = None
        self._wake = asyncio.Event()

    def configure(self, config: Config) -> None:
        if self.book is None:
            self.book = NameBook(HostResolver(config.resolvers), self.clock)
        elif config.resolvers != self.settings:  # one book for good: what is known stays known (a lookup in
            self.book.resolver = HostResolver(config.resolvers)  # flight finishes into it); only how to ask
            self.book.settings = config.resolvers                 # changes
        self.settings = config.resolvers
        self.book.local = lambda name: own_answer(config, name)
        self.book.track(config.hostnames)
        for name, rec in self.book.records.items():  # names of our own zones: their data may have changed
            if own_answer(config, name) is not None:
                self.book.records[name] = replace(rec, due=0.0)
        self._wake.set()

    def names(self) -> Names:
        return self.book.names() if self.book is not None else Names()

    async def first_round(self, only_new: bool = False) -> Names:
        """Resolve every name once (``only_new``: those never asked yet, and those of our own zones, whose data
        may have changed with the config), each lookup bounded by the resolver's timeout, and return what is
        known."""
        if self.book is not None and self.book.records:
            todo = [n for n, r in self.book.records.items()
                    if not only_new or (r.resolved_at is None and not r.failures) or r.due == 0.0]
            if todo:
                await self.book.refresh(todo)
        return self.names()

    async def run(self) -> None:
        while True:
            book = self.book
            if book is None:
                await asyncio.sleep(IDLE)
                continue
            self._wake.clear()  # (before the lookups: a configure() meanwhile wakes the next round)
            try:
                if book.due() and await book.refresh():
                    self.on_change(self.names())
                elif book.expire():
                    self.on_change(self.names())
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug here must not stop the names from being resolved for good
                log.exception("resolving hostname endpoints failed; trying again shortly")
                await asyncio.sleep(1.0)
            nxt = book.next_due()
            wait = IDLE if nxt is None else max(0.05, min(IDLE, nxt - self.clock()))
            try:
                await asyncio.wait_for(self._wake.wait(), wait)
            except asyncio.TimeoutError:
                pass

    def status(self, wall: Callable[[], float] = time.time) -> list[dict[str, Any]]:
        """Per name: state, addresses, age of the last good answer (s), the TTL kept, the last error."""
        if self.book is None:
            return []
        now, offset = self.clock(), wall() - self.clock()
        out = []
        for name, rec in self.book.records.items():
            age = rec.age(now)
            out.append({"hostname": name, "state": rec.lookup.state, "addresses": list(rec.lookup.v4 + rec.lookup.v6),
                        "age_s": None if age is None else round(age, 1), "ttl_s": round(rec.ttl, 1),
                        "resolved_at": None if rec.resolved_at is None else round(rec.resolved_at + offset, 3),
                        "next_in_s": round(max(0.0, rec.due - now), 1), "error": rec.error,
                        "failures": rec.failures})
        return out

