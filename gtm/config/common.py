"""What the config sections share: the state built across files (regions, monitors and vantages may be
defined in any file and used from any other) and small readers every section uses."""
from __future__ import annotations

import difflib
import os
import stat
import re
from dataclasses import dataclass, field
from typing import Any

from gtm.config.checks import MISSING, Ctx, join, show
from gtm.config.rdata import RdataError, parse_name
from gtm.config.yamlsrc import LMap
from gtm.model import (
    AdminSettings, DnssecSettings, DrillSettings, GeoIPSource, HealthSettings, Location, Monitor, Region, ResolverSettings,
    RrlSettings, StoreSettings, Vantage,
)
from gtm.model.net import parse_host_port


YAML_SUFFIXES = (".yaml", ".yml")


MASTER_SUFFIXES = (".zone",)


@dataclass
class Shared:
    """Regions, monitors and vantages of every file; ``broken`` names were defined but had problems (a
    service naming one is not told the name is unknown: the definition's own problems say what is wrong)."""

    regions: dict[str, Region] = field(default_factory=dict)
    monitors: dict[str, Monitor] = field(default_factory=dict)
    vantages: dict[str, Vantage] = field(default_factory=dict)
    broken: set[tuple[str, str]] = field(default_factory=set)
    defined_at: dict[tuple[str, str], str] = field(default_factory=dict)  # (section, name) -> "file:line"
    geoip: GeoIPSource = field(default_factory=GeoIPSource)
    health: HealthSettings = field(default_factory=HealthSettings)
    admin: AdminSettings = field(default_factory=AdminSettings)
    overrides: StoreSettings = field(default_factory=StoreSettings)
    drills: DrillSettings = field(default_factory=DrillSettings)
    rrl: RrlSettings = field(default_factory=RrlSettings)
    quorums: list[tuple[Ctx, int, str, int]] = field(default_factory=list)  # checked once vantages are known
    resolvers: ResolverSettings = field(default_factory=ResolverSettings)
    dnssec: DnssecSettings = field(default_factory=DnssecSettings)
    signed: list[tuple[Ctx, int, str]] = field(default_factory=list)  # (ctx, line, origin) of signed zones
    # (ctx, line, path, region, hostname) of every hostname endpoint: checked against the zones once loaded
    hostnames: list[tuple[Ctx, int, str, str, str]] = field(default_factory=list)


def read_secret_source(ctx: Ctx, f: str, m: LMap, key: str, path: str) -> tuple[str | None, str | None]:
    """``{file: PATH}`` (relative to the config file; must exist) or ``{env: NAME}``: never the secret itself."""
    if m.get(key) is None:
        return None, None
    p = join(path, key)
    sm = ctx.mapping(m[key], p, m.value_line(key))
    if sm is None:
        return None, None
    ctx.keys(sm, p, {"file", "env"})
    if ("file" in sm) == ("env" in sm):
        ctx.err(sm.line, p, "needs exactly one of file, env (secrets are never written in the config)")
        return None, None
    if "env" in sm:
        name = ctx.string(sm, "env", p, None)
        if name is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            ctx.err(sm.value_line("env"), join(p, "env"), f"must be an environment variable name (got {show(name)})")
            return None, None
        return None, name
    raw = ctx.string(sm, "file", p, None)
    path_ = os.path.join(os.path.dirname(f), raw) if raw else None
    if path_ is not None and not os.path.isfile(path_):
        ctx.err(sm.value_line("file"), join(p, "file"), f"no such file {path_} (got {show(raw)})")
        return None, None
    return path_, None


def read_host_port(ctx: Ctx, m: LMap, key: str, path: str, lowest_port: int = 1) -> tuple[str, int] | None:
    """``ADDRESS:PORT`` (IPv6 as ``[ADDRESS]:PORT``) at ``m[key]``; None (and a problem) when it is not one."""
    raw = ctx.string(m, key, path, None)
    if raw is None:
        return None
    try:
        return parse_host_port(raw, lowest_port, bare_ipv6=True)
    except ValueError:
        ctx.err(m.value_line(key), join(path, key), f"must be ADDRESS:PORT, IPv6 as [ADDRESS]:PORT (got {show(raw)})")
        return None


def named_entries(ctx: Ctx, doc: LMap, section: str) -> list[tuple[str, LMap, int, str]]:
    """Entries of a ``name: {mapping}`` section as (name, mapping, line, path); ``null`` is an empty section."""
    if doc.get(section) is None:
        return []
    sec = ctx.mapping(doc[section], section, doc.value_line(section))
    if sec is None:
        return []
    out = []
    for name, value in sec.items():
        path, line = join(section, name), sec.key_line(name)
        if name is None or isinstance(name, bool) or not str(name).strip():
            ctx.err(line, path, f"a {section[:-1]} needs a name (got {show(name)})")
            continue
        m = ctx.mapping(value, path, line)
        if m is not None:
            out.append((str(name), m, line, path))
    return out


def unknown_message(kind: str, value: Any, defined: list[str]) -> str:
    """``unknown region; did you mean 'us-east'? (got 'us-eats')``, or the list of defined ones."""
    close = difflib.get_close_matches(str(value), defined, n=1, cutoff=0.6) if isinstance(value, str) else []
    hint = f"did you mean '{close[0]}'?" if close else f"defined: {', '.join(sorted(defined)) or 'none'}"
    return f"unknown {kind}; {hint} (got {show(value)})"


# -- shared parts ---------------------------------------------------------------------------------------------
def read_location(ctx: Ctx, m: LMap, path: str) -> Location | None:
    p = join(path, "location")
    if "location" not in m:
        ctx.err(m.line, p, "is required")
        return None
    loc = ctx.mapping(m["location"], p, m.value_line("location"))
    if loc is None:
        return None
    ctx.keys(loc, p, {"lat", "lon"})
    lat = ctx.number(loc, "lat", p, MISSING, -90, 90)
    lon = ctx.number(loc, "lon", p, MISSING, -180, 180)
    return Location(lat, lon) if lat is not None and lon is not None else None


def choices_message(value: Any, options: list[str]) -> str:
    """The message of :meth:`Ctx.choice`, for a value that is not in a mapping of its own."""
    close = difflib.get_close_matches(str(value), options, n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"must be one of {', '.join(options)}{hint} (got {show(value)})"


MAX_FILE_BYTES = 1 << 30  # a configuration or zone file larger than this (1 GiB) is refused


def read_file(path: str) -> tuple[str | None, str]:
    """(text, "") or (None, why it cannot be read). Only a regular file of at most MAX_FILE_BYTES is read: a
    FIFO would block every later reload, ``/dev/zero`` would be read until memory runs out."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as e:
        return None, e.strerror or str(e)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None, "is not a regular file"
        if st.st_size > MAX_FILE_BYTES:
            return None, f"is larger than {MAX_FILE_BYTES >> 20} MiB ({st.st_size >> 20} MiB)"
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            return None, f"is larger than {MAX_FILE_BYTES >> 20} MiB"
        return data.decode("utf-8"), ""
    except UnicodeDecodeError as e:
        return None, f"is not UTF-8 text ({e.reason} at byte {e.start})"
    except OSError as e:
        return None, e.strerror or str(e)
    finally:
        os.close(fd)


def read_domain(ctx: Ctx, value: Any, line: int, path: str, origin: str | None) -> str | None:
    """A domain name written in YAML (relative to ``origin`` unless it ends in a dot); None after a problem."""
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
        ctx.err(line, path, f"must be a domain name (got {show(value)})")
        return None
    return ctx.parsed(lambda: parse_name(str(value).strip(), origin), line, path, (RdataError,))
