"""The settings sections: ``health``, ``admin``, ``overrides``, ``drills``, ``rrl``, ``resolvers`` and ``geoip``
(each at most once across all files)."""
from __future__ import annotations

import datetime
import ipaddress
import os
import re
import zoneinfo
from dataclasses import replace
from typing import Any

from gtm.config.checks import Ctx, join, show
from gtm.config.common import read_host_port, read_secret_source
from gtm.config.yamlsrc import LMap
from gtm.model.net import admin_name
from gtm.model import (
    AdminSettings, DnssecSettings, DrillSettings, GeoIPSource, HealthSettings, NodeAddress, OnResolveFailure, ResolverSettings,
    RrlSettings, StoreSettings, Window,
)
from gtm.model.net import parse_host_port


def read_geoip(ctx: Ctx, f: str, doc: LMap) -> GeoIPSource:
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


def read_health(ctx: Ctx, f: str, doc: LMap) -> HealthSettings:
    """The ``health:`` section (see gtm.model.health.HealthSettings)."""
    m = ctx.mapping(doc["health"], "health", doc.value_line("health"))
    if m is None:
        return HealthSettings()
    ctx.keys(m, "health", {"keys", "skew", "stale_after", "region_min_up", "warmup", "start_timeout",
                           "state_file", "report_to", "rtt_alpha"})
    keys_file, keys_env = read_secret_source(ctx, f, m, "keys", "health")
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


def read_overrides(ctx: Ctx, f: str, doc: LMap) -> StoreSettings:
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


def store_default(settings: StoreSettings, files: list[str]) -> StoreSettings:
    """A file store without a path lives beside the first configuration file."""
    if settings.kind != "file" or settings.path is not None or not files:
        return settings
    return replace(settings, path=os.path.join(os.path.dirname(os.path.abspath(files[0])), ".gtm-overrides.json"))


DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


DAY_NAMES = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def read_drills(ctx: Ctx, f: str, doc: LMap) -> DrillSettings:
    """The ``drills:`` section (see gtm.model.DrillSettings)."""
    m = ctx.mapping(doc["drills"], "drills", doc.value_line("drills"))
    if m is None:
        return DrillSettings()
    ctx.keys(m, "drills", {"blackout", "budget", "nodes", "clients"})
    d = DrillSettings()
    windows = []
    for item, line, p in ctx.seq(m, "blackout", "drills", single_ok=False):
        w = read_window(ctx, item, line, p)
        if w is not None:
            windows.append(w)
    nodes = []
    for item, line, p in ctx.seq(m, "nodes", "drills", single_ok=False):
        nm = ctx.mapping(item, p, line)
        if nm is None:
            continue
        ctx.keys(nm, p, {"dns", "admin"}, ("dns",))
        dns = read_host_port(ctx, nm, "dns", p)
        admin = ctx.string(nm, "admin", p, None)
        if admin is not None and not re.fullmatch(r"https?://[^\s/]+", admin.rstrip("/")):
            ctx.err(nm.value_line("admin"), join(p, "admin"), f"must be an http:// or https:// URL (got {show(admin)})")
            admin = None
        if dns is not None:
            nodes.append(NodeAddress(dns, admin.rstrip("/") if admin else None))
    return DrillSettings(blackout=tuple(windows), budget=ctx.number(m, "budget", "drills", d.budget, 0, 3600),
                         nodes=tuple(nodes), clients=ctx.integer(m, "clients", "drills", d.clients, 1, 50))


def read_window(ctx: Ctx, item: Any, line: int, p: str) -> Window | None:
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


def read_rrl(ctx: Ctx, f: str, doc: LMap) -> RrlSettings:
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


def read_admin(ctx: Ctx, f: str, doc: LMap) -> AdminSettings:
    """The ``admin:`` section (see gtm.model.health.AdminSettings)."""
    m = ctx.mapping(doc["admin"], "admin", doc.value_line("admin"))
    if m is None:
        return AdminSettings()
    ctx.keys(m, "admin", {"listen", "token", "public", "tls", "names"})
    d = AdminSettings()
    listen = read_host_port(ctx, m, "listen", "admin", lowest_port=0) or d.listen  # port 0: any free port
    token_file, token_env = read_secret_source(ctx, f, m, "token", "admin")
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
    names = []
    for item, line, p in ctx.seq(m, "names", "admin"):
        known = admin_name(item, listen[1]) if isinstance(item, str) else None
        if known is None:
            ctx.err(line, p, "must be HOST or HOST:PORT, a name or address probers and clients reach the admin API "
                             f"at (got {show(item)})")
        else:
            names.append(known)
    return AdminSettings(listen, token_file, token_env, tuple(public) if "public" in m else d.public, cert, key,
                         tuple(names))


def read_resolvers(ctx: Ctx, f: str, doc: LMap) -> ResolverSettings:
    """The ``resolvers:`` section (see gtm.model.names.ResolverSettings): how hostname endpoints are resolved."""
    m = ctx.mapping(doc["resolvers"], "resolvers", doc.value_line("resolvers"))
    if m is None:
        return ResolverSettings()
    ctx.keys(m, "resolvers", {"servers", "min_ttl", "max_ttl", "stale_for", "timeout", "retry", "on_failure"})
    d = ResolverSettings()
    servers = []
    for item, line, p in ctx.seq(m, "servers", "resolvers"):
        text = str(item).strip() if isinstance(item, (str, int)) and not isinstance(item, bool) else ""
        try:
            servers.append(parse_host_port(text, 1, bare_ipv6=False) if text.rpartition(":")[2].isdigit()
                           and not text.endswith("]") and (text.count(":") == 1 or text.startswith("["))
                           else (str(ipaddress.ip_address(text.strip("[]"))), 53))
        except ValueError:
            ctx.err(line, p, f"must be a resolver's IP address, with :PORT if not 53 ([ADDRESS]:PORT for IPv6) "
                             f"(got {show(item)})")
    min_ttl = ctx.number(m, "min_ttl", "resolvers", d.min_ttl, 1, 86400)
    max_ttl = ctx.number(m, "max_ttl", "resolvers", d.max_ttl, 1, 86400)
    if min_ttl > max_ttl:
        ctx.err(m.value_line("max_ttl") if "max_ttl" in m else m.value_line("min_ttl"), "resolvers.max_ttl",
                f"must be at least min_ttl, {min_ttl:g} (got {max_ttl:g})")
    failure = ctx.choice(m, "on_failure", "resolvers", [x.value for x in OnResolveFailure], d.on_failure.value)
    return ResolverSettings(
        servers=tuple(servers), min_ttl=min_ttl, max_ttl=max_ttl,
        stale_for=ctx.number(m, "stale_for", "resolvers", d.stale_for, 0, 7 * 86400),
        timeout=ctx.number(m, "timeout", "resolvers", d.timeout, 0.1, 60),
        retry=ctx.number(m, "retry", "resolvers", d.retry, 0.5, 3600),
        on_failure=OnResolveFailure(failure or d.on_failure.value))


def read_dnssec(ctx: Ctx, f: str, doc: LMap) -> DnssecSettings:
    """The ``dnssec:`` section (see gtm.model.dnssec.DnssecSettings): ``key_dir`` relative to this file."""
    m = ctx.mapping(doc["dnssec"], "dnssec", doc.value_line("dnssec"))
    if m is None:
        return DnssecSettings()
    ctx.keys(m, "dnssec", {"key_dir", "algorithm", "signature_period"})
    d = DnssecSettings()
    key_dir = ctx.string(m, "key_dir", "dnssec", None)
    if key_dir is not None and not key_dir.strip():
        ctx.err(m.value_line("key_dir"), "dnssec.key_dir", f"must be a directory's path (got {show(key_dir)})")
        key_dir = None
    algorithm = ctx.choice(m, "algorithm", "dnssec", ["ecdsap256sha256", "ed25519"], d.algorithm)
    period = ctx.number(m, "signature_period", "dnssec", d.signature_period, 60, 30 * 86400)
    return DnssecSettings(key_dir=os.path.join(os.path.dirname(f), key_dir) if key_dir else None,
                          algorithm=algorithm or d.algorithm, signature_period=int(period or d.signature_period))
