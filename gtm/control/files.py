"""The node's files besides its config: the ``--ready-file`` it writes, and the config files ``--watch`` looks
at (a change reloads)."""
from __future__ import annotations

import asyncio
import json
import logging
import os
from typing import Awaitable, Callable, Sequence

from gtm.config import discover
from gtm.files import exposure
from gtm.model import Config

log = logging.getLogger(__name__)


def write_ready(path: str, serving: bool, dns: Sequence[tuple[str, int]], admin: str | None) -> None:
    """Say where this node serves, atomically (a reader sees the whole file or none): the pid, whether DNS is
    answered, the DNS addresses bound (``[::1]:5353`` for IPv6) and the admin API's URL."""
    body = {"pid": os.getpid(), "serving": serving,
            "dns": [f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in dns], "admin": admin}
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(body, fh)
    os.replace(tmp, path)


def remove_ready(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def mtimes(paths: Sequence[str], extra: Sequence[str]) -> dict[str, int]:
    """Modification times of the config files (found now, or read last time) and of the named directories."""
    out = {}
    for p in set(discover(list(paths))) | set(extra) | {p for p in paths if os.path.isdir(p)}:
        try:
            out[p] = os.stat(p).st_mtime_ns
        except OSError:
            out[p] = -1
    return out


async def watch(paths: Sequence[str], sources: Callable[[], Sequence[str]], interval: float,
                on_change: Callable[[], Awaitable[object]], seen: object = None) -> None:
    """Every ``interval`` seconds, compare the files' modification times (``sources()``: those the current config
    was read from, and the health file) with ``seen`` (taken before the node said it serves, so that no change
    after that is missed; default: now); on a change, ``on_change()`` (a reload). For ever (cancel to stop)."""
    seen = mtimes(paths, sources()) if seen is None else seen
    while True:
        await asyncio.sleep(interval)
        now = mtimes(paths, sources())
        if now != seen:
            seen = now
            log.info("configuration changed on disk; reloading")
            try:
                await on_change()
            except Exception:  # a reload that fails in a way it should not must not end the watching
                log.exception("reload failed")


def warn_exposed(config: Config) -> list[str]:
    """Warn (and return what) when a report key or token file is readable by others, or the override store is
    writable by others: either hands the fleet to any local user."""
    found = []
    for path, secret in ((config.health.keys_file, True), (config.admin.token_file, True),
                         (config.overrides.path if config.overrides.kind == "file" else None, False)):
        problem = exposure(path, secret) if path else None
        if problem is not None:
            found.append(problem)
            log.warning("%s", problem)
    return found
