"""The override watcher: polls the override store and hands the overrides in force on as they change.

The store (a file, or a DynamoDB table) is read in a thread every ``overrides.poll`` seconds when its token
changed. What it last held is kept through a store outage (an outage changes no answer) and cached beside the
health state file, so that a restart during an outage still starts with the overrides in force: a drain must
not lapse because the store is unreachable. An override that runs out is noticed at the next poll.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any, Callable

from gtm.fleet import OverridesStatus
from gtm.model import Config, Override, StoreSettings
from gtm.model.effective import Overrides
from gtm.state import overrides as overrides_
from gtm.state.store import Store, StoreError, Stored, decode, encode, open_store

log = logging.getLogger(__name__)


class OverrideWatcher:
    """Owns the store, what it last held, and the :class:`Overrides` value in force; ``on_change`` gets each
    new one. ``tick`` is called after every poll (the runtime samples query rates there)."""

    def __init__(self, on_change: Callable[[Overrides], None], clock: Callable[[], float] = time.time):
        self.on_change = on_change
        self.clock = clock
        self.store: Store | None = None
        self.settings: StoreSettings | None = None
        self.state_file: str | None = None
        self.overrides: tuple[Override, ...] = ()
        self.version = 0
        self.error: str | None = None
        self.changes = 0                    # changes of what is in force, published
        self.in_force = Overrides()
        self.tick: Callable[[], None] | None = None
        self._token: Any = object()

    def configure(self, config: Config) -> None:
        """Adopt a (re)loaded config: a new store only when its settings changed."""
        self.state_file = config.health.state_file
        if self.settings != config.overrides:
            self.settings = config.overrides
            self.store = open_store(config.overrides)
            self._token = object()  # read on the next look

    def first_read(self) -> Overrides:
        """Read the store at start (blocking); during an outage, start with what was cached at the last read.
        Returns what is in force."""
        try:
            self._read()
        except StoreError as e:  # the watcher keeps trying
            self.error = str(e)
            cached = self._cached()
            if cached is not None:
                self.overrides, self.version = cached.overrides, cached.version
            log.error("override store: %s (starting with %s)", e,
                      f"the {len(self.overrides)} overrides cached at version {self.version}"
                      if cached is not None else "no overrides")
        self.in_force = overrides_.in_force(self.overrides, self.clock(), self.version)
        return self.in_force

    def _read(self) -> bool:
        """Look at the store (blocking: runs in a thread); True when it holds something new."""
        assert self.store is not None
        token = self.store.token()
        if token == self._token:
            return False
        stored = self.store.read()
        self._token = token
        changed = stored.version != self.version or stored.overrides != self.overrides
        self.overrides, self.version = stored.overrides, stored.version
        if changed:
            self._cache(stored)
        return changed

    def _cache_path(self) -> str | None:
        return self.state_file + ".overrides" if self.state_file else None

    def _cache(self, stored: Stored) -> None:
        path = self._cache_path()
        if path is None:
            return
        try:
            tmp = f"{path}.tmp"
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(encode(stored.version, stored.overrides))
            os.replace(tmp, path)
        except OSError as e:
            log.warning("cannot cache the overrides in %s: %s", path, e)

    def _cached(self) -> Stored | None:
        path = self._cache_path()
        if path is None:
            return None
        try:
            with open(path, encoding="utf-8") as fh:
                return decode(fh.read(), path)
        except (OSError, StoreError):
            return None

    def publish(self) -> None:
        """Hand on the overrides in force now when they changed (a new one, or one running out)."""
        now = self.clock()
        new = overrides_.in_force(self.overrides, now, self.version)
        if new.forces == self.in_force.forces:
            self.in_force = new
            return
        self.in_force = new
        self.changes += 1
        log.info("overrides in force: %s", "; ".join(
            f"{o.describe()} ({o.author}: {o.reason})" for o in overrides_.active(self.overrides, now)) or "none")
        self.on_change(new)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.settings.poll if self.settings else 0.5)
            try:
                await loop.run_in_executor(None, self._read)
                if self.error is not None:
                    log.info("override store readable again")
                self.error = None
            except StoreError as e:  # keep the overrides last read: a store outage changes no answer
                if self.error != str(e):
                    log.error("override store: %s (keeping the %d overrides last read)", e, len(self.overrides))
                self.error = str(e)
            except Exception as e:
                self.error = f"{type(e).__name__}: {e}"
                log.exception("override store")
            self.publish()
            if self.tick is not None:
                self.tick()

    def status(self) -> OverridesStatus:
        s = self.settings
        return OverridesStatus(s.kind if s else None, (s.path if s.kind == "file" else s.table) if s else None,
                               self.version, self.error, tuple(overrides_.active(self.overrides, self.clock())))
