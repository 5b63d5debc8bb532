"""How every command loads the configuration: like ``gtm serve``, with the garbage collector paused around it
(a big configuration builds millions of objects and no garbage; the collector's passes over them were half
the time of loading a million records)."""
from __future__ import annotations

import os
from pathlib import Path

from gtm import config as config_
from gtm import serving
from gtm.dns.table import Table
from gtm.errors import GtmError
from gtm.model import Config
from gtm.proc.memory import gc_paused


EXAMPLE = str(Path(__file__).resolve().parent.parent / "example")  # the bundled example (zones/ in a clone)


def example_or_zones() -> list[str]:
    """``zones/`` when there is one here, else the example bundled with the package (``gtm demo``)."""
    return ["zones"] if os.path.isdir("zones") else [EXAMPLE]


def config_paths(given: list[str] | None) -> list[str]:
    """The configuration a command acts on: ``-c`` as given, else ``zones/``; without either, a GtmError that
    says how to give one."""
    if given:
        return given
    if not os.path.isdir("zones"):
        raise GtmError(f"no zones/ in {os.getcwd()}: give the configuration with -c PATH (a file or a directory)")
    return ["zones"]


def load(paths: list[str] | str) -> Config:
    with gc_paused():
        return config_.load(paths)


def build(paths: list[str], health_file: str | None = None) -> Table:
    with gc_paused():
        return serving.build(paths, health_file)
