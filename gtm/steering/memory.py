"""Steering's memory: what answers depend on beyond the current health (pure).

:func:`advance` is the one place it changes, once per new health (or config): the latency policy's sticky
choices move only past the hysteresis, and each service whose candidates are not all down under the new
verdicts remembers that view, which ``last_known_good`` answers under when every candidate goes down later.
"""
from __future__ import annotations

from dataclasses import replace

from gtm.model import Config, HealthSnapshot
from gtm.model.names import NO_NAMES, Names
from gtm.model.effective import PinnedHealth, SteeringMemory, verdicts
from gtm.steering import regions_up
from gtm.steering.latency import sticky_choices


def advance(memory: SteeringMemory, config: Config, health: HealthSnapshot,
            pinned: PinnedHealth | None = None, names: Names = NO_NAMES) -> SteeringMemory:
    """The memory after ``health`` (the probers' verdicts and RTTs) under ``config``. The health file's
    ``sticky:`` choices, when it has some, stand in for the previous choices; its RTTs for the probers' while
    they have measured none. Services the config no longer has are forgotten. A view is judged with the
    hostnames' addresses (``names``) and remembered without them (it answers with the addresses of its day)."""
    rtt = health.rtt() or (pinned.health.rtt() if pinned is not None else {})
    previous = dict(pinned.choices) if pinned is not None and pinned.choices else memory.choices()
    keys = {s.ref for s in config.services}
    last_good = {k: v for k, v in memory.last_good if k in keys}
    keeps = config.keeps() if names.lookups else {}
    for service in config.services:
        view = verdicts(health, service.monitor, pinned)
        judged = replace(view, names=names, keep=keeps.get(service.ref, frozenset())) if names.lookups else view
        if regions_up(service, config, judged):
            last_good[service.ref] = view
    return SteeringMemory(sticky_choices(config, rtt, previous), tuple(sorted(last_good.items())))
