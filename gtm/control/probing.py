"""Probing in the control process: the health node's timer, and the built-in prober of ``--probe-as``.

Reports going stale change verdicts too, so the health node is evaluated every quarter second. The built-in
prober probes as one vantage and reports to this node's own admin API, signed like any prober; a reload may
add or remove endpoints, so it starts over with each new config.
"""
from __future__ import annotations

import asyncio
import secrets
import logging
import time
from typing import Any, Callable

from gtm.health.node import HealthNode
from gtm.health.prober import Prober
from gtm.health.signing import load_keys
from gtm.errors import GtmError
from gtm.model import Config

log = logging.getLogger(__name__)

TICK = 0.25  # seconds between evaluations of the health node


async def tick(node: HealthNode) -> None:
    """Re-evaluate health as time passes, for ever (cancel to stop)."""
    while True:
        await asyncio.sleep(TICK)
        try:
            node.evaluate()
        except Exception:
            log.exception("health evaluation failed")


async def first_round(node: HealthNode, timeout: float, stopping: Callable[[], bool]) -> bool:
    """Never publish "all up" before a probe ran: wait for the first full round of reports, at most ``timeout``
    seconds. False when ``stopping()`` says to give up (the node is asked to stop meanwhile)."""
    log.info("waiting for the first full round of health reports (up to %.0f s)", timeout)
    deadline = time.monotonic() + timeout
    while not node.ready() and time.monotonic() < deadline:
        if stopping():
            return False
        await asyncio.sleep(0.05)
    if node.ready():
        log.info("first health round complete")
    else:
        log.warning("no full health round within %.0f s: endpoints without a verdict count as up", timeout)
    return True


def own_key(config: Config, vantage: str) -> dict[str, bytes]:
    """The key ``gtm serve --probe-as VANTAGE`` signs with when the config's key file has none for that vantage
    (or the config names no key file): made up for this process's life, known to this node only. GtmError for
    a vantage the config does not define."""
    if vantage not in config.vantages:
        raise GtmError(f"--probe-as: unknown vantage {vantage!r} (defined: {', '.join(config.vantages) or 'none'})")
    key_id = config.vantages[vantage].key_id
    h = config.health
    keys = load_keys(h.keys_file, h.keys_env) if (h.keys_file or h.keys_env) else {}
    return {} if key_id in keys else {key_id: secrets.token_hex(32).encode()}


class BuiltinProber:
    """The prober of ``gtm serve --probe-as VANTAGE``, reporting to ``admin_url``: with the vantage's key from
    the key file, else with ``own`` (see :func:`own_key`)."""

    def __init__(self, vantage: str, admin_url: str, token: str | None, own: dict[str, bytes] | None = None):
        self.vantage, self.admin_url, self.token, self.own = vantage, admin_url, token, dict(own or {})
        self._prober: Prober | None = None
        self._task: asyncio.Future[Any] | None = None

    def key(self, config: Config) -> tuple[str, bytes]:
        """The key it signs with under ``config`` (the key file's, else its own); GtmError when there is none
        (checked before a reload is swapped in, so that a reload cannot leave the node without its prober)."""
        if self.vantage not in config.vantages:
            raise GtmError(f"--probe-as {self.vantage}: no such vantage in the configuration")
        h = config.health
        try:
            keys = {**self.own, **(load_keys(h.keys_file, h.keys_env) if (h.keys_file or h.keys_env) else {})}
        except ValueError as e:
            raise GtmError(str(e)) from None
        key_id = config.vantages[self.vantage].key_id
        if key_id not in keys:
            raise GtmError(f"--probe-as {self.vantage}: no report key {key_id!r} in the key file (a vantage signs with "
                           f"its own key: by default the one named after it; vantages.{self.vantage}.key names another)")
        return key_id, keys[key_id]

    def start(self, config: Config) -> None:
        key_id, secret = self.key(config)
        self._prober = Prober(config, self.vantage, [self.admin_url], key_id, secret, token=self.token)
        self._task = asyncio.ensure_future(self._prober.run())

    async def restart(self, config: Config) -> None:
        await self.stop()
        self.start(config)

    async def stop(self) -> None:
        if self._prober is not None:
            self._prober.stop()
            if self._task is not None:
                await asyncio.wait([self._task], timeout=5)
            self._prober = self._task = None
