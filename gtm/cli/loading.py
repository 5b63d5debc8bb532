"""How every command loads the configuration: like ``gtm serve``, with the garbage collector paused around it
(a big configuration builds millions of objects and no garbage; the collector's passes over them were half
the time of loading a million records)."""
from __future__ import annotations

from gtm import config as config_
from gtm import serving
from gtm.dns.table import Table
from gtm.model import Config
from gtm.proc.memory import gc_paused


def load(paths: list[str] | str) -> Config:
    with gc_paused():
        return config_.load(paths)


def build(paths: list[str], health_file: str | None = None) -> Table:
    with gc_paused():
        return serving.build(paths, health_file)
