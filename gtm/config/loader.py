"""``zones/`` -> a validated :class:`~gtm.model.Config`. The only reader of configuration files.

Sources are YAML files (``*.yaml``/``*.yml``: a zone with its records and services, and/or shared regions,
monitors and vantages) and RFC 1035 master files (``*.zone``, served as static zones; the origin comes from
``$ORIGIN`` or the file name). A YAML zone may ``import`` a master file; an imported file is not loaded a
second time as a zone of its own. Every problem in every file is collected and raised at once as
:class:`~gtm.errors.ConfigError`; each reads ``file:line: path.to.field: what is wrong (got X)``.

Whatever the input, the outcome is a Config or a ConfigError: malformed input (a list where a mapping is
expected, ``null``, a number where a name is expected, an empty file) is a problem, never an exception.
"""
from __future__ import annotations

import datetime
import difflib
import ipaddress
import os
import re
import zoneinfo
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Callable

from gtm.config.checks import MISSING, Ctx, index, join, show
from gtm.config.masterfile import parse_master
from gtm.config.policies import PolicyReader, ref as _ref
from gtm.config.rdata import RdataError, parse_name, parse_rdata_text, parse_type
from gtm.config.yamlsrc import LMap, LSeq, load_yaml
from gtm.config.zonebuild import MAX_TTL, RecordIn, build_zone
from gtm.errors import ConfigError, Problem
from gtm.model import (
    A, AAAA, CNAME, NS, SOA, TXT, AdminSettings, Config, Demand, DrillSettings, Endpoint, FailMode, FailoverPolicy,
    GeoIPSource, HealthSettings, IPAddress, Location, Monitor, MonitorType, NodeAddress, Policy, Rdata, Region,
    RrlSettings, Service, StoreSettings, Vantage, Window, Zone, is_subdomain,
)
from gtm.model.net import parse_host_port
from gtm.steering import POLICIES

YAML_SUFFIXES = (".yaml", ".yml")
MASTER_SUFFIXES = (".zone",)
TOP_KEYS = {"zone", "ttl", "soa", "ns", "records", "import", "regions", "monitors", "vantages", "services", "geoip",
            "health", "admin", "overrides", "drills", "rrl"}
ZONE_KEYS = ("ttl", "soa", "ns", "records", "import", "services")  # meaningless without ``zone``
SOA_KEYS = {"mname", "rname", "serial", "refresh", "retry", "expire", "minimum", "ttl"}
REGION_KEYS = {"location", "endpoints", "aws_region", "capacity"}
MONITOR_KEYS = {"type", "port", "path", "host", "expect", "body", "interval", "timeout", "rise", "fall", "quorum",
                "tls_verify"}
SERVICE_KEYS = {"names", "ttl", "regions", "policy", "monitor", "answers", "affinity", "fail_mode", "fallback",
                "ecs_scope", "demand"}
MAX_ANSWERS = 64  # addresses per family in one multi-value answer
POLICY_NAMES = list(POLICIES)
POLICY_KEYS = {name: set(k.keys) | {"type"} for name, k in POLICIES.items()}
MONITOR_PORTS = {MonitorType.HTTP: 80, MonitorType.HTTPS: 443}
AWS_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-[0-9]+")  # us-east-1, us-gov-west-1, ap-southeast-2
SERVICE_MAX_TTL = 86400


@dataclass
class _Shared:
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


def discover(paths: list[str]) -> list[str]:
    """Files named by ``paths`` (files, or directories scanned for YAML and master files), sorted per dir.

    A file named twice (directly and through its directory, say) is listed once.
    """
    out: list[str] = []
    seen: set[str] = set()
    for p in paths:
        if os.path.isdir(p):
            found = sorted(os.path.join(p, f) for f in os.listdir(p)
                           if f.endswith(YAML_SUFFIXES + MASTER_SUFFIXES) and not f.startswith(".")
                           and os.path.isfile(os.path.join(p, f)))
        else:
            found = [p]
        for f in found:
            if os.path.abspath(f) not in seen:
                seen.add(os.path.abspath(f))
                out.append(f)
    return out


def _read(path: str) -> tuple[str | None, str]:
    """(text, "") or (None, why it cannot be read)."""
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read(), ""
    except UnicodeDecodeError as e:
        return None, f"is not UTF-8 text ({e.reason} at byte {e.start})"
    except OSError as e:
        return None, e.strerror or str(e)


def load(paths: list[str] | str) -> Config:
    """Load and validate every source under ``paths``; raises ConfigError listing every problem. Pure but
    for reading the files; a caller loading a big configuration pauses the garbage collector around it
    (``gtm.proc.memory.gc_paused``)."""
    named = [paths] if isinstance(paths, str) else list(paths)
    files = discover(named)
    if not files:
        raise ConfigError([Problem(", ".join(named), 0, "", "no configuration files (*.yaml, *.yml, *.zone) found")])
    problems: list[Problem] = []
    docs: list[tuple[str, LMap]] = []
    masters: list[str] = []
    for f in files:
        if f.endswith(MASTER_SUFFIXES):
            masters.append(f)
            continue
        text, why = _read(f)
        if text is None:
            problems.append(Problem(f, 0, "", f"cannot read: {why}"))
            continue
        data, probs = load_yaml(text, f)
        problems += probs
        if data is None and not probs:
            problems.append(Problem(f, 0, "", "file is empty"))
        elif data is not None and not isinstance(data, LMap):
            problems.append(Problem(f, 1, "", f"top level must be a mapping (got {show(data)})"))
        elif data is not None:
            docs.append((f, data))

    # Shared parts first: services in any file may name regions/monitors defined in any other.
    shared = _Shared()
    for f, doc in docs:
        ctx = Ctx(f)
        ctx.keys(doc, "", TOP_KEYS)
        sections: list[tuple[str, Callable[..., Any], dict[str, Any]]] = [
            ("regions", _region, shared.regions), ("monitors", _monitor, shared.monitors),
            ("vantages", _vantage, shared.vantages)]
        for section, reader, target in sections:
            for name, m, line, path in _named(ctx, doc, section):
                where = shared.defined_at.get((section, name))
                if where is not None:
                    ctx.err(line, path, f"duplicate {section[:-1]} (also defined at {where})")
                    continue
                shared.defined_at[(section, name)] = f"{f}:{line}"
                value = reader(ctx, name, m, path, shared)
                if value is not None:
                    target[name] = value
                else:
                    shared.broken.add((section, name))
        for section, reader in (("health", _health), ("admin", _admin), ("overrides", _overrides),
                                ("drills", _drills), ("rrl", _rrl)):
            if doc.get(section) is not None:
                where = shared.defined_at.get((section, ""))
                if where is not None:
                    ctx.err(doc.key_line(section), section, f"is set twice (also at {where})")
                else:
                    shared.defined_at[(section, "")] = f"{f}:{doc.key_line(section)}"
                    setattr(shared, section, reader(ctx, f, doc))
        if doc.get("geoip") is not None:
            where = shared.defined_at.get(("geoip", ""))
            if where is not None:
                ctx.err(doc.key_line("geoip"), "geoip", f"is set twice (also at {where})")
            else:
                shared.defined_at[("geoip", "")] = f"{f}:{doc.key_line('geoip')}"
                shared.geoip = _geoip(ctx, f, doc)
        problems += ctx.problems
    for ctx, line, path, quorum in shared.quorums:
        if shared.vantages and quorum > len(shared.vantages):
            ctx.err(line, path, f"must be at most the number of vantages, {len(shared.vantages)} (got {quorum})")
            problems += ctx.problems[-1:]

    zones: dict[str, Zone] = {}
    imported: dict[str, str] = {}  # absolute path -> path as named
    service_names: dict[str, str] = {}
    for f, doc in docs:
        if "zone" not in doc:
            ctx = Ctx(f)
            for key in ZONE_KEYS:
                if key in doc:
                    ctx.err(doc.key_line(key), key, "needs 'zone' (the origin) in the same file")
            problems += ctx.problems
            continue
        zone = _yaml_zone(f, doc, shared, problems, imported, service_names)
        if zone is not None:
            _add_zone(zones, zone, f, doc.value_line("zone"), "zone", problems)
    for f in masters:
        if os.path.abspath(f) in imported:
            continue
        zone = _master_zone(f, problems)
        if zone is not None:
            _add_zone(zones, zone, f, 1, "", problems)
    if problems:
        raise ConfigError(problems)
    listed = {os.path.abspath(f) for f in files}
    return Config(zones=MappingProxyType(zones), regions=MappingProxyType(shared.regions),
                  monitors=MappingProxyType(shared.monitors), vantages=MappingProxyType(shared.vantages),
                  geoip=shared.geoip, health=shared.health, admin=shared.admin,
                  overrides=_store_default(shared.overrides, files), drills=shared.drills, rrl=shared.rrl,
                  sources=tuple(files) + tuple(sorted(p for a, p in imported.items() if a not in listed)))


def _geoip(ctx: Ctx, f: str, doc: LMap) -> GeoIPSource:
    """``geoip: {city: PATH, asn: PATH}``: MaxMind-format databases, paths relative to the file."""
    m = ctx.mapping(doc["geoip"], "geoip", doc.value_line("geoip"))
    if m is None:
        return GeoIPSource()
    ctx.keys(m, "geoip", {"city", "asn"})
    paths: dict[str, str | None] = {}
    for key in ("city", "asn"):
        raw = ctx.string(m, key, "geoip", None)
        path = os.path.join(os.path.dirname(f), raw) if raw else None
        if path is not None and not os.path.isfile(path):
            ctx.err(m.value_line(key), join("geoip", key), f"no such database file {path} (got {show(raw)})")
            path = None
        paths[key] = path
    return GeoIPSource(city=paths["city"], asn=paths["asn"])


def _secret_source(ctx: Ctx, f: str, m: LMap, key: str, path: str) -> tuple[str | None, str | None]:
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


def _health(ctx: Ctx, f: str, doc: LMap) -> HealthSettings:
    """The ``health:`` section (see gtm.model.health.HealthSettings)."""
    m = ctx.mapping(doc["health"], "health", doc.value_line("health"))
    if m is None:
        return HealthSettings()
    ctx.keys(m, "health", {"keys", "skew", "stale_after", "region_min_up", "warmup", "start_timeout",
                           "state_file", "report_to", "rtt_alpha"})
    keys_file, keys_env = _secret_source(ctx, f, m, "keys", "health")
    state = ctx.string(m, "state_file", "health", None)
    report_to = []
    for item, line, p in ctx.seq(m, "report_to", "health"):
        if isinstance(item, str) and re.fullmatch(r"https?://[^\s/]+(/\S*)?", item):
            report_to.append(item.rstrip("/"))
        else:
            ctx.err(line, p, f"must be an http:// or https:// URL of a node's admin API (got {show(item)})")
    d = HealthSettings()
    return HealthSettings(
        keys_file=keys_file, keys_env=keys_env, skew=ctx.number(m, "skew", "health", d.skew, 1, 3600),
        stale_after=ctx.number(m, "stale_after", "health", d.stale_after, 1, 100),
        region_min_up=ctx.integer(m, "region_min_up", "health", d.region_min_up, 1, 1000),
        warmup=ctx.number(m, "warmup", "health", d.warmup, 0, 3600),
        start_timeout=ctx.number(m, "start_timeout", "health", d.start_timeout, 0, 3600),
        state_file=os.path.join(os.path.dirname(f), state) if state else None,
        report_to=tuple(report_to), rtt_alpha=ctx.number(m, "rtt_alpha", "health", d.rtt_alpha, 0.01, 1))


def _demand(ctx: Ctx, m: LMap, path: str) -> Demand | None:
    """A service's ``demand:``: ``latency_ms`` and either ``rps`` or ``per_query``."""
    if m.get("demand") is None:
        return None
    dp = join(path, "demand")
    dm = ctx.mapping(m["demand"], dp, m.value_line("demand"))
    if dm is None:
        return None
    ctx.keys(dm, dp, {"rps", "per_query", "latency_ms"}, ("latency_ms",))
    latency = ctx.number(dm, "latency_ms", dp, None, 0.001, 3_600_000)
    rps = ctx.number(dm, "rps", dp, None, 0, 1e12)
    per_query = ctx.number(dm, "per_query", dp, None, 0, 1e9)
    given = [k for k in ("rps", "per_query") if dm.get(k) is not None]
    if len(given) != 1:
        ctx.err(dm.line, dp, "needs exactly one of rps (requests/s) or per_query (requests per DNS query)")
        return None
    return Demand(latency, rps, per_query) if latency is not None else None


def _overrides(ctx: Ctx, f: str, doc: LMap) -> StoreSettings:
    """The ``overrides:`` section (see gtm.model.StoreSettings)."""
    m = ctx.mapping(doc["overrides"], "overrides", doc.value_line("overrides"))
    if m is None:
        return StoreSettings()
    ctx.keys(m, "overrides", {"store", "path", "table", "aws_region", "poll"})
    d = StoreSettings()
    kind = ctx.choice(m, "store", "overrides", ["file", "dynamodb"], d.kind)
    path = ctx.string(m, "path", "overrides", None)
    if path is not None and kind != "file":
        ctx.err(m.value_line("path"), "overrides.path", f"is only used with store: file (got store: {kind})")
    for key in ("table", "aws_region"):
        if m.get(key) is not None and kind != "dynamodb":
            ctx.err(m.value_line(key), f"overrides.{key}", f"is only used with store: dynamodb (got store: {kind})")
    table = ctx.string(m, "table", "overrides", d.table)
    if table is not None and not re.fullmatch(r"[A-Za-z0-9_.-]{3,255}", table):
        ctx.err(m.value_line("table"), "overrides.table", f"must be 3-255 of A-Z a-z 0-9 _ . - (got {show(table)})")
    return StoreSettings(kind=kind, path=os.path.join(os.path.dirname(f), path) if path else None, table=table,
                         aws_region=ctx.string(m, "aws_region", "overrides", None),
                         poll=ctx.number(m, "poll", "overrides", d.poll, 0.05, 60))


def _store_default(settings: StoreSettings, files: list[str]) -> StoreSettings:
    """A file store without a path lives beside the first configuration file."""
    if settings.kind != "file" or settings.path is not None or not files:
        return settings
    return replace(settings, path=os.path.join(os.path.dirname(os.path.abspath(files[0])), ".gtm-overrides.json"))


DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAY_NAMES = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def _drills(ctx: Ctx, f: str, doc: LMap) -> DrillSettings:
    """The ``drills:`` section (see gtm.model.DrillSettings)."""
    m = ctx.mapping(doc["drills"], "drills", doc.value_line("drills"))
    if m is None:
        return DrillSettings()
    ctx.keys(m, "drills", {"blackout", "budget", "nodes", "clients"})
    d = DrillSettings()
    windows = []
    for item, line, p in ctx.seq(m, "blackout", "drills", single_ok=False):
        w = _window(ctx, item, line, p)
        if w is not None:
            windows.append(w)
    nodes = []
    for item, line, p in ctx.seq(m, "nodes", "drills", single_ok=False):
        nm = ctx.mapping(item, p, line)
        if nm is None:
            continue
        ctx.keys(nm, p, {"dns", "admin"}, ("dns",))
        dns = _host_port(ctx, nm, "dns", p)
        admin = ctx.string(nm, "admin", p, None)
        if admin is not None and not re.fullmatch(r"https?://[^\s/]+", admin.rstrip("/")):
            ctx.err(nm.value_line("admin"), join(p, "admin"), f"must be an http:// or https:// URL (got {show(admin)})")
            admin = None
        if dns is not None:
            nodes.append(NodeAddress(dns, admin.rstrip("/") if admin else None))
    return DrillSettings(blackout=tuple(windows), budget=ctx.number(m, "budget", "drills", d.budget, 0, 3600),
                         nodes=tuple(nodes), clients=ctx.integer(m, "clients", "drills", d.clients, 1, 50))


def _host_port(ctx: Ctx, m: LMap, key: str, path: str, lowest_port: int = 1) -> tuple[str, int] | None:
    """``ADDRESS:PORT`` (IPv6 as ``[ADDRESS]:PORT``) at ``m[key]``; None (and a problem) when it is not one."""
    raw = ctx.string(m, key, path, None)
    if raw is None:
        return None
    try:
        return parse_host_port(raw, lowest_port)
    except ValueError:
        ctx.err(m.value_line(key), join(path, key), f"must be ADDRESS:PORT, IPv6 as [ADDRESS]:PORT (got {show(raw)})")
        return None


def _window(ctx: Ctx, item: Any, line: int, p: str) -> Window | None:
    """``{days: [sat, sun], from: "09:00", to: "17:00", tz: Europe/Berlin}`` or ``{start: ISO, end: ISO}``."""
    wm = ctx.mapping(item, p, line)
    if wm is None:
        return None
    ctx.keys(wm, p, {"days", "from", "to", "tz", "start", "end"})
    text = ", ".join(f"{k}: {wm[k]}" for k in wm)
    if "start" in wm or "end" in wm:
        at = []
        for key in ("start", "end"):
            raw = wm.get(key)
            try:
                when = datetime.datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
                if when.tzinfo is None:
                    raise ValueError("no time zone")
                at.append(when.timestamp())
            except (TypeError, ValueError):
                ctx.err(wm.value_line(key) if key in wm else wm.line, join(p, key),
                        f"must be an ISO 8601 time with a zone, e.g. 2026-12-24T00:00:00Z (got {show(raw)})")
        if len(at) == 2 and at[1] <= at[0]:
            ctx.err(wm.value_line("end"), join(p, "end"), "must be after start")
        return Window(at=(at[0], at[1]), text=text) if len(at) == 2 and at[1] > at[0] else None
    days = []
    for d, dline, dpath in ctx.seq(wm, "days", p):
        if isinstance(d, str) and (d.lower() in DAYS or d.lower() in DAY_NAMES):
            days.append(DAYS.index(d.lower()[:3]))
        else:
            ctx.err(dline, dpath, f"must be a day of the week, mon..sun (got {show(d)})")
    minutes: list[int | None] = []
    for key, default in (("from", "00:00"), ("to", "24:00")):
        raw = str(wm.get(key, default))
        hm = re.fullmatch(r"(\d{1,2}):(\d{2})", raw)
        if hm is None or int(hm[1]) * 60 + int(hm[2]) > 24 * 60 or int(hm[2]) > 59:
            ctx.err(wm.value_line(key) if key in wm else wm.line, join(p, key), f"must be HH:MM (got {show(raw)})")
            minutes.append(None)
        else:
            minutes.append(int(hm[1]) * 60 + int(hm[2]))
    tz = str(wm.get("tz", "UTC"))
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        ctx.err(wm.value_line("tz"), join(p, "tz"), f"unknown time zone (got {show(tz)})")
    start, end = minutes
    if start is None or end is None:
        return None
    if end <= start:
        ctx.err(wm.value_line("to") if "to" in wm else wm.line, join(p, "to"), "must be after from")
    return Window(days=tuple(days), start=start, end=end, tz=tz, text=text)


def _rrl(ctx: Ctx, f: str, doc: LMap) -> RrlSettings:
    """The ``rrl:`` section (see gtm.model.RrlSettings)."""
    m = ctx.mapping(doc["rrl"], "rrl", doc.value_line("rrl"))
    if m is None:
        return RrlSettings()
    ctx.keys(m, "rrl", {"enabled", "answers", "nodata", "nxdomains", "errors", "slip", "burst", "ipv4_prefix",
                        "ipv6_prefix", "exempt", "tcp_per_client"})
    d = RrlSettings()
    exempt = []
    if "exempt" in m:
        for item, line, p in ctx.seq(m, "exempt", "rrl"):
            try:
                exempt.append(str(ipaddress.ip_network(str(item), strict=False)))
            except ValueError:
                ctx.err(line, p, f"must be an address or a network in CIDR form (got {show(item)})")
    return RrlSettings(
        enabled=ctx.get(m, "enabled", "rrl", bool, d.enabled, "true or false"),
        answers=ctx.number(m, "answers", "rrl", d.answers, 0, 1e9),
        nodata=ctx.number(m, "nodata", "rrl", d.nodata, 0, 1e9),
        nxdomains=ctx.number(m, "nxdomains", "rrl", d.nxdomains, 0, 1e9),
        errors=ctx.number(m, "errors", "rrl", d.errors, 0, 1e9),
        slip=ctx.integer(m, "slip", "rrl", d.slip, 0, 100),
        burst=ctx.number(m, "burst", "rrl", d.burst, 0.1, 3600),
        ipv4_prefix=ctx.integer(m, "ipv4_prefix", "rrl", d.ipv4_prefix, 8, 32),
        ipv6_prefix=ctx.integer(m, "ipv6_prefix", "rrl", d.ipv6_prefix, 16, 128),
        exempt=tuple(exempt) if "exempt" in m else d.exempt,
        tcp_per_client=ctx.integer(m, "tcp_per_client", "rrl", d.tcp_per_client, 1, 1_000_000))


def _admin(ctx: Ctx, f: str, doc: LMap) -> AdminSettings:
    """The ``admin:`` section (see gtm.model.health.AdminSettings)."""
    m = ctx.mapping(doc["admin"], "admin", doc.value_line("admin"))
    if m is None:
        return AdminSettings()
    ctx.keys(m, "admin", {"listen", "token", "public", "tls"})
    d = AdminSettings()
    listen = _host_port(ctx, m, "listen", "admin", lowest_port=0) or d.listen  # port 0: any free port
    token_file, token_env = _secret_source(ctx, f, m, "token", "admin")
    public = []
    for item, line, p in ctx.seq(m, "public", "admin"):
        if item in ("healthz", "metrics"):
            public.append(item)
        else:
            ctx.err(line, p, f"must be healthz or metrics (got {show(item)})")
    cert = key = None
    if m.get("tls") is not None:
        tm = ctx.mapping(m["tls"], "admin.tls", m.value_line("tls"))
        if tm is not None:
            ctx.keys(tm, "admin.tls", {"cert", "key"}, ("cert", "key"))
            for name in ("cert", "key"):
                raw_path = ctx.string(tm, name, "admin.tls", None)
                path_ = os.path.join(os.path.dirname(f), raw_path) if raw_path else None
                if path_ is not None and not os.path.isfile(path_):
                    ctx.err(tm.value_line(name), join("admin.tls", name), f"no such file {path_}")
                    path_ = None
                cert, key = (path_, key) if name == "cert" else (cert, path_)
    return AdminSettings(listen, token_file, token_env, tuple(public) if "public" in m else d.public, cert, key)


def _add_zone(zones: dict[str, Zone], zone: Zone, f: str, line: int, path: str, problems: list[Problem]) -> None:
    if zone.origin in zones:
        problems.append(Problem(f, line, path, f"zone {zone.origin} is also defined in {zones[zone.origin].source}"))
    else:
        zones[zone.origin] = zone


def _named(ctx: Ctx, doc: LMap, section: str) -> list[tuple[str, LMap, int, str]]:
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


def _unknown(kind: str, value: Any, defined: list[str]) -> str:
    """``unknown region; did you mean 'us-east'? (got 'us-eats')``, or the list of defined ones."""
    close = difflib.get_close_matches(str(value), defined, n=1, cutoff=0.6) if isinstance(value, str) else []
    hint = f"did you mean '{close[0]}'?" if close else f"defined: {', '.join(sorted(defined)) or 'none'}"
    return f"unknown {kind}; {hint} (got {show(value)})"


# -- shared parts ---------------------------------------------------------------------------------------------
def _location(ctx: Ctx, m: LMap, path: str) -> Location | None:
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


def _region(ctx: Ctx, name: str, m: LMap, path: str, shared: _Shared) -> Region | None:
    start = len(ctx.problems)
    ctx.keys(m, path, REGION_KEYS, ("endpoints",))
    loc = _location(ctx, m, path)
    endpoints = []
    seen: set[IPAddress] = set()
    items = ctx.seq(m, "endpoints", path, single_ok=False)
    for item, line, p in items:
        weight = 1
        if isinstance(item, LMap):
            ctx.keys(item, p, {"address", "weight"}, ("address",))
            weight = ctx.integer(item, "weight", p, 1, 0, 255)
            line = item.value_line("address")
            addr = ctx.address(item["address"], line, join(p, "address")) if "address" in item else None
        else:
            addr = ctx.address(item, line, p)
        if addr is not None:
            if addr in seen:
                ctx.err(line, p, f"duplicate endpoint address (got {show(str(addr))})")
            seen.add(addr)
            endpoints.append(Endpoint(addr, weight))
    if "endpoints" in m and not items and isinstance(m["endpoints"], (list, type(None))):
        ctx.err(m.value_line("endpoints"), join(path, "endpoints"), "needs at least one endpoint")
    aws = ctx.string(m, "aws_region", path, None)
    if aws is not None and not AWS_REGION.fullmatch(aws):
        ctx.err(m.value_line("aws_region"), join(path, "aws_region"),
                f"must be an AWS region name such as us-east-1 (got {show(m['aws_region'])})")
    capacity = ctx.integer(m, "capacity", path, None, 0, None)
    if len(ctx.problems) > start or loc is None:
        return None
    return Region(name, loc, tuple(endpoints), aws, capacity)


def _monitor(ctx: Ctx, name: str, m: LMap, path: str, shared: _Shared) -> Monitor | None:
    start = len(ctx.problems)
    ctx.keys(m, path, MONITOR_KEYS)
    kind = ctx.choice(m, "type", path, [t.value for t in MonitorType])
    mtype = MonitorType(kind) if kind else None
    port = ctx.integer(m, "port", path, MONITOR_PORTS.get(mtype) if mtype else None, 1, 65535)  # type: ignore[arg-type]
    if mtype is MonitorType.TCP and m.get("port") is None:
        ctx.err(m.line if "port" not in m else m.value_line("port"), join(path, "port"),
                "is required for tcp monitors")
    mpath = ctx.string(m, "path", path, "/")
    if isinstance(mpath, str) and not mpath.startswith("/"):
        ctx.err(m.value_line("path"), join(path, "path"), f"must start with '/' (got {show(m['path'])})")
    host = ctx.string(m, "host", path, None)
    expect = []
    for item, line, p in ctx.seq(m, "expect", path):
        if isinstance(item, int) and not isinstance(item, bool) and 100 <= item <= 599:
            expect.append(item)
        else:
            ctx.err(line, p, f"must be an HTTP status between 100 and 599 (got {show(item)})")
    body = ctx.string(m, "body", path, None)
    if body is not None:
        try:
            re.compile(body)
        except (re.error, RecursionError, OverflowError) as e:
            ctx.err(m.value_line("body"), join(path, "body"),
                    f"is not a valid regular expression: {e} (got {show(body)})")
    interval = ctx.number(m, "interval", path, 5.0, 0.5, 3600)
    timeout = ctx.number(m, "timeout", path, min(2.0, interval / 2), 0.05, 600)
    if timeout >= interval:
        ctx.err(m.value_line("timeout"), join(path, "timeout"),
                f"must be less than the interval, {interval:g} (got {timeout:g})")
    rise = ctx.integer(m, "rise", path, 2, 1, 100)
    fall = ctx.integer(m, "fall", path, 3, 1, 100)
    quorum = ctx.integer(m, "quorum", path, 1, 1, 100)
    if m.get("quorum") == quorum:
        shared.quorums.append((ctx, m.value_line("quorum"), join(path, "quorum"), quorum))
    verify = ctx.get(m, "tls_verify", path, bool, True, "true or false")
    if len(ctx.problems) > start or mtype is None or port is None:
        return None
    return Monitor(name, mtype, port, mpath, host, tuple(expect) or (200,), body, interval, timeout, rise, fall,
                   quorum, verify)


def _vantage(ctx: Ctx, name: str, m: LMap, path: str, shared: _Shared) -> Vantage | None:
    start = len(ctx.problems)
    ctx.keys(m, path, {"location"})
    loc = _location(ctx, m, path)
    return Vantage(name, loc) if loc and len(ctx.problems) == start else None


# -- zones ----------------------------------------------------------------------------------------------------
def _domain(ctx: Ctx, value: Any, line: int, path: str, origin: str | None) -> str | None:
    """A domain name written in YAML (relative to ``origin`` unless it ends in a dot); None after a problem."""
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
        ctx.err(line, path, f"must be a domain name (got {show(value)})")
        return None
    return ctx.parsed(lambda: parse_name(str(value).strip(), origin), line, path, (RdataError,))


def _yaml_zone(f: str, doc: LMap, shared: _Shared, problems: list[Problem], imported: dict[str, str],
               service_names: dict[str, str]) -> Zone | None:
    ctx = Ctx(f)
    import_path = None
    if doc.get("import") is not None:
        rel = ctx.string(doc, "import", "", None)
        if rel is not None and not rel.strip():
            ctx.err(doc.value_line("import"), "import", f"must be the path of a master file (got {show(rel)})")
        elif rel is not None:
            # Recorded before anything can fail, so that the file is never also loaded as a zone of its own.
            import_path = os.path.join(os.path.dirname(f), rel)
            imported[os.path.abspath(import_path)] = import_path
    raw = doc["zone"]
    origin = None
    if isinstance(raw, (str, int)) and not isinstance(raw, bool) and str(raw).strip() not in ("", "@"):
        text = str(raw).strip()
        origin = ctx.parsed(lambda: parse_name(text if text.endswith(".") else text + ".", None),
                            doc.value_line("zone"), "zone", (RdataError,))
    else:
        ctx.err(doc.value_line("zone"), "zone", f"must be a domain name such as example.com (got {show(raw)})")
    default_ttl = ctx.integer(doc, "ttl", "", 3600, 0, MAX_TTL)
    if origin is None:
        problems += ctx.problems
        return None
    records: list[RecordIn] = []

    if "soa" in doc:
        soa = ctx.mapping(doc["soa"], "soa", doc.value_line("soa"))
        if soa is not None:
            ctx.keys(soa, "soa", SOA_KEYS)
            names = [_domain(ctx, soa[k], soa.value_line(k), join("soa", k), origin) if soa.get(k) is not None
                     else parse_name(default, origin)
                     for k, default in (("mname", f"ns1.{origin}"), ("rname", f"hostmaster.{origin}"))]
            nums = [ctx.integer(soa, k, "soa", d, 0, hi) for k, d, hi in (
                ("serial", 1, 2**32 - 1), ("refresh", 3600, MAX_TTL), ("retry", 900, MAX_TTL),
                ("expire", 1209600, MAX_TTL), ("minimum", 300, MAX_TTL))]
            ttl = ctx.integer(soa, "ttl", "soa", default_ttl, 0, MAX_TTL)
            if None not in nums and None not in names:
                records.append(RecordIn(origin, SOA, ttl, Rdata(SOA, (*names, *nums)), f, doc.key_line("soa"),
                                        "soa"))
    for item, line, p in ctx.seq(doc, "ns", ""):
        target = _domain(ctx, item, line, p, origin)
        if target:
            records.append(RecordIn(origin, NS, default_ttl, Rdata(NS, (target,)), f, line, p))

    if doc.get("records") is not None:
        recs = ctx.mapping(doc["records"], "records", doc.value_line("records"))
        owners: dict[str, tuple[str, int]] = {}  # name -> (key as written, line): "www" and "WWW" are one name
        for owner, value in (recs or {}).items():
            records += _owner_records(ctx, f, origin, owner, value, recs.key_line(owner), default_ttl,  # type: ignore[union-attr]
                                      owners)

    if import_path is not None:
        master, why = _read(import_path)
        if master is None:
            ctx.err(doc.value_line("import"), "import", f"cannot read {import_path}: {why}")
        else:
            got, recs_m, probs = parse_master(master, import_path, origin, default_ttl)
            ctx.problems += probs
            if got is not None and not is_subdomain(got, origin):
                ctx.err(doc.value_line("import"), "import",
                        f"{import_path} moves $ORIGIN out of zone {origin} (got {show(got)})")
            records += [RecordIn(r.name, r.rtype, r.ttl, r.rdata, import_path, r.line) for r in recs_m]

    services = _services(ctx, doc, origin, records, shared, service_names)
    problems += ctx.problems
    if ctx.problems:
        return None
    return build_zone(origin, f, records, services, problems, line=doc.value_line("zone"), yaml=True)


def _owner_records(ctx: Ctx, f: str, origin: str, owner: Any, value: Any, line: int, default_ttl: int,
                   owners: dict[str, tuple[str, int]]) -> list[RecordIn]:
    path = join("records", owner)
    name = _domain(ctx, owner, line, path, origin)
    m = ctx.mapping(value, path, line)
    if name is not None and name in owners:
        ctx.err(line, path, f"names the same owner as records.{owners[name][0]} at line {owners[name][1]} "
                            f"(got {show(owner)})")
        return []
    if name is None or m is None:
        return []
    owners[name] = (str(owner), line)
    ttl = ctx.integer(m, "ttl", path, default_ttl, 0, MAX_TTL)
    out = []
    types: dict[int, str] = {}  # "A" and "a" are one type
    for tkey, tval in m.items():
        if tkey == "ttl":
            continue
        p = join(path, tkey)
        rtype = None
        if isinstance(tkey, str):
            rtype = ctx.parsed(lambda: parse_type(tkey), m.key_line(tkey), p, (RdataError,))
        else:
            ctx.err(m.key_line(tkey), p, f"must be a record type such as A (got {show(tkey)})")
        if rtype is not None and rtype in types:
            ctx.err(m.key_line(tkey), p, f"names the same type as {types[rtype]} (got {show(tkey)})")
            continue
        if rtype is None:
            continue
        types[rtype] = str(tkey)
        if rtype == SOA:
            ctx.err(m.key_line(tkey), p, "the SOA is set with the top-level 'soa' key")
            continue
        rttl, values, vline = ttl, tval, m.value_line(tkey)
        if isinstance(tval, LMap):
            ctx.keys(tval, p, {"ttl", "values"})
            rttl = ctx.integer(tval, "ttl", p, ttl, 0, MAX_TTL)
            if "values" not in tval:
                ctx.err(tval.line, join(p, "values"), "is required")
                continue
            values, vline, p = tval["values"], tval.value_line("values"), join(p, "values")
        if isinstance(values, LSeq):
            items = [(v, values.item_line(i), index(p, i)) for i, v in enumerate(values)]
            if not items:
                ctx.err(vline, p, "needs at least one value")
        else:
            items = [(values, vline, p)]
        for item, iline, ipath in items:
            rd = _rdata(ctx, rtype, item, iline, ipath, origin)
            if rd is not None:
                out.append(RecordIn(name, rtype, rttl, rd, f, iline, ipath))
    return out


def _rdata(ctx: Ctx, rtype: int, value: Any, line: int, path: str, origin: str) -> Rdata | None:
    if isinstance(value, (dict, list)) or value is None or isinstance(value, bool) \
            or not isinstance(value, (str, int, float)):
        ctx.err(line, path, f"must be a value in presentation format (got {show(value)})")
        return None
    if isinstance(value, float):  # YAML already turned `1.50` into 1.5: what was written is lost, so ask for quotes
        ctx.err(line, path, f"is read as a number; quote it to keep it as written (got {show(value)})")
        return None
    text = str(value)
    if rtype == TXT:
        # TXT values in YAML are the literal text; long text becomes 255-byte strings (RFC 1035 section 3.3).
        data = text.encode("utf-8")
        return Rdata(TXT, (tuple(data[i:i + 255] for i in range(0, len(data), 255)) or (b"",),))
    return ctx.parsed(lambda: parse_rdata_text(rtype, text, origin), line, path, (RdataError,))


def _master_zone(f: str, problems: list[Problem]) -> Zone | None:
    base = os.path.basename(f)
    for suffix in MASTER_SUFFIXES:
        base = base[: -len(suffix)] if base.endswith(suffix) else base
    try:
        fallback: str | None = parse_name(base if base.endswith(".") else base + ".", None)
    except RdataError:
        fallback = None
    text, why = _read(f)
    if text is None:
        problems.append(Problem(f, 0, "", f"cannot read: {why}"))
        return None
    origin, recs, probs = parse_master(text, f, fallback, None)
    problems += probs
    if origin is None:
        problems.append(Problem(f, 1, "", "no origin: set $ORIGIN or name the file after the zone"))
        return None
    if probs:
        return None
    # The zone is the SOA's owner when $ORIGIN moved on after it (files often end in a sub-origin).
    soa = next((r for r in recs if r.rtype == SOA), None)
    return build_zone(soa.name if soa else origin, f, [RecordIn(r.name, r.rtype, r.ttl, r.rdata, f, r.line)
                                                       for r in recs], (), problems, line=soa.line if soa else 1)


# -- services -------------------------------------------------------------------------------------------------
def _services(ctx: Ctx, doc: LMap, origin: str, records: list[RecordIn], shared: _Shared,
              service_names: dict[str, str]) -> tuple[Service, ...]:
    out = []
    static: dict[str, set[int]] = {}
    for r in records:
        static.setdefault(r.name, set()).add(r.rtype)
    cuts = sorted({r.name for r in records if r.rtype == NS and r.name != origin})
    for key, m, line, path in _named(ctx, doc, "services"):
        start = len(ctx.problems)
        where = shared.defined_at.get(("services", key))
        if where is not None:  # health files, metrics and explain name services by key alone
            ctx.err(line, path, f"duplicate service (also defined at {where}); service names are unique "
                                f"across zones")
        shared.defined_at.setdefault(("services", key), f"{ctx.file}:{line}")
        ctx.keys(m, path, SERVICE_KEYS, ("regions",))
        names = []
        raw_names = ctx.seq(m, "names", path)
        if isinstance(m.get("names"), list) and not raw_names:
            ctx.err(m.value_line("names"), join(path, "names"), "needs at least one name")
        elif "names" not in m or m["names"] is None:
            raw_names = [(key, line, path)]
        for item, nline, npath in raw_names:
            name = _domain(ctx, item, nline, npath, origin)
            if name is None:
                continue
            clash = sorted(t for t, n in (("A", A), ("AAAA", AAAA), ("CNAME", CNAME)) if n in static.get(name, ()))
            cut = next((c for c in cuts if is_subdomain(name, c)), None)
            if not is_subdomain(name, origin):
                ctx.err(nline, npath, f"is outside zone {origin} (got {show(name)})")
            elif service_names.get(name) == key:
                ctx.err(nline, npath, f"is listed twice (got {show(name)})")
            elif name in service_names:
                ctx.err(nline, npath, f"is already managed by service {service_names[name]} (got {show(name)})")
            elif clash:
                ctx.err(nline, npath, f"a managed name cannot also have static {', '.join(clash)} records "
                                      f"(got {show(name)})")
            elif cut is not None:
                ctx.err(nline, npath, f"lies in the delegated subzone {cut} (got {show(name)})")
            else:
                service_names[name] = key
                names.append(name)
        ttl = ctx.integer(m, "ttl", path, 30, 0, SERVICE_MAX_TTL)
        cands: list[str] = []
        items = ctx.seq(m, "regions", path)
        broken = False
        for item, rline, rpath in items:
            ref = _ref(item)
            if ref is not None and ("regions", ref) in shared.broken:
                broken = True  # its own problems are reported; the policy may still name it
                cands.append(ref)
            elif ref is None or ref not in shared.regions:
                ctx.err(rline, rpath, _unknown("region", item, list(shared.regions)))
            elif ref in cands:
                ctx.err(rline, rpath, f"region is listed twice (got {show(item)})")
            else:
                cands.append(ref)
        if "regions" in m and not items and isinstance(m["regions"], (list, type(None))):
            ctx.err(m.value_line("regions"), join(path, "regions"), "needs at least one region")
        monitor = None
        if m.get("monitor") is not None:
            monitor = _ref(m["monitor"])
            if monitor is None or (monitor not in shared.monitors and ("monitors", monitor) not in shared.broken):
                ctx.err(m.value_line("monitor"), join(path, "monitor"),
                        _unknown("monitor", m["monitor"], list(shared.monitors)))
        answers = ctx.integer(m, "answers", path, None, 1, MAX_ANSWERS)
        affinity = ctx.choice(m, "affinity", path, ["hash", "none"], "none") == "hash"
        modes = [x.value for x in FailMode]
        fail_mode = ctx.choice(m, "fail_mode", path, modes, FailMode.FAIL_OPEN.value)
        fallback = [a for item, fline, fpath in ctx.seq(m, "fallback", path)
                    if (a := ctx.address(item, fline, fpath)) is not None]
        if fail_mode == FailMode.STATIC.value and m.get("fallback") is None:
            ctx.err(m.value_line("fail_mode"), join(path, "fallback"), "is required when fail_mode is static")
        elif fail_mode == FailMode.STATIC.value and isinstance(m["fallback"], list) and not m["fallback"]:
            ctx.err(m.value_line("fallback"), join(path, "fallback"), "needs at least one address")
        elif m.get("fallback") is not None and fail_mode != FailMode.STATIC.value \
                and m.get("fail_mode") in (None, *modes):  # not when fail_mode itself is wrong
            ctx.err(m.value_line("fallback"), join(path, "fallback"),
                    f"is only used with fail_mode: static (got fail_mode: {fail_mode})")
        scope4, scope6 = 24, 56
        if m.get("ecs_scope") is not None:
            sp = join(path, "ecs_scope")
            sm = ctx.mapping(m["ecs_scope"], sp, m.value_line("ecs_scope"))
            if sm is not None:
                ctx.keys(sm, sp, {"v4", "v6"})
                scope4 = ctx.integer(sm, "v4", sp, 24, 0, 32)
                scope6 = ctx.integer(sm, "v6", sp, 56, 0, 128)
        demand = _demand(ctx, m, path)
        policy = _policy(ctx, m, path, cands, shared)
        if len(ctx.problems) == start and not broken and names and cands and policy is not None:
            out.append(Service(key, origin, tuple(names), ttl, tuple(cands), policy, monitor, answers,
                               bool(affinity), FailMode(fail_mode), tuple(fallback), scope4, scope6, demand))
    return tuple(out)


def _policy(ctx: Ctx, m: LMap, path: str, cands: list[str], shared: _Shared) -> Policy | None:
    p = join(path, "policy")
    raw = m.get("policy")
    if raw is None:
        return FailoverPolicy()
    if isinstance(raw, LMap):
        pm = raw
        kind = ctx.choice(pm, "type", p, POLICY_NAMES)
    elif isinstance(raw, str):
        pm = LMap()
        pm.line, pm.key_lines, pm.value_lines = m.value_line("policy"), {}, {}
        kind = raw if raw in POLICIES else None
        if kind is None:
            ctx.err(m.value_line("policy"), p, _choices(raw, POLICY_NAMES))
    else:
        ctx.err(m.value_line("policy"), p,
                f"must be a policy name ({', '.join(POLICY_NAMES)}) or a mapping with its type (got {show(raw)})")
        return None
    # With an unknown type, no key is reported as unknown: the type's problem says what to fix.
    ctx.keys(pm, p, POLICY_KEYS[kind] if kind else set().union(*POLICY_KEYS.values()))
    if kind is None:
        return None
    return POLICIES[kind].parse(PolicyReader(ctx, pm, p, tuple(cands), bool(shared.vantages), bool(shared.geoip.asn)))


def _choices(value: Any, options: list[str]) -> str:
    """The message of :meth:`Ctx.choice`, for a value that is not in a mapping of its own."""
    close = difflib.get_close_matches(str(value), options, n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"must be one of {', '.join(options)}{hint} (got {show(value)})"


__all__ = ["load", "discover", "ConfigError"]
