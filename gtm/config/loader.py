"""``zones/`` -> a validated :class:`~gtm.model.Config`. The only reader of configuration files.

Sources are YAML files (``*.yaml``/``*.yml``: a zone with its records and services, and/or shared regions,
monitors and vantages) and RFC 1035 master files (``*.zone``, served as static zones; the origin comes from
``$ORIGIN`` or the file name). A YAML zone may ``import`` a master file; an imported file is not loaded a
second time as a zone of its own. Every problem in every file is collected and raised at once as
:class:`~gtm.errors.ConfigError`.
"""
from __future__ import annotations

import ipaddress
import os
from types import MappingProxyType
from typing import Any

from gtm.config.checks import Ctx, join, show
from gtm.config.masterfile import parse_master
from gtm.config.rdata import RdataError, parse_name, parse_rdata_text, parse_ttl, parse_type
from gtm.config.yamlsrc import LMap, LSeq, load_yaml
from gtm.config.zonebuild import MAX_TTL, RecordIn, build_zone
from gtm.errors import ConfigError, Problem
from gtm.model import (
    A, AAAA, CNAME, NS, SOA, TXT, Config, Endpoint, FailMode, FailoverPolicy, GeoMatch, GeoPolicy, GeoRule,
    LatencyPolicy, Location, Monitor, MonitorType, Policy, ProximityPolicy, Rdata, Region, Service, Vantage,
    WeightedPolicy, Zone, is_subdomain,
)

YAML_SUFFIXES = (".yaml", ".yml")
MASTER_SUFFIXES = (".zone",)
TOP_KEYS = {"zone", "ttl", "soa", "ns", "records", "import", "regions", "monitors", "vantages", "services"}
SOA_KEYS = {"mname", "rname", "serial", "refresh", "retry", "expire", "minimum", "ttl"}
REGION_KEYS = {"location", "endpoints", "aws_region", "capacity"}
MONITOR_KEYS = {"type", "port", "path", "host", "expect", "body", "interval", "timeout", "rise", "fall", "quorum",
                "tls_verify"}
SERVICE_KEYS = {"names", "ttl", "regions", "policy", "monitor", "answers", "affinity", "fail_mode", "fallback",
                "ecs_scope"}
POLICIES = ["failover", "weighted", "geo", "proximity", "latency"]
GEO_MATCH_KEYS = ("continent", "country", "subdivision", "cidr", "asn")
CONTINENTS = {"AF", "AN", "AS", "EU", "NA", "OC", "SA"}
MONITOR_PORTS = {MonitorType.HTTP: 80, MonitorType.HTTPS: 443}


def discover(paths: list[str]) -> list[str]:
    """Files named by ``paths`` (files, or directories scanned for YAML and master files), sorted per dir."""
    out: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            out += sorted(os.path.join(p, f) for f in os.listdir(p)
                          if f.endswith(YAML_SUFFIXES + MASTER_SUFFIXES) and not f.startswith("."))
        else:
            out.append(p)
    return out


def load(paths: list[str] | str) -> Config:
    """Load and validate every source under ``paths``; raises ConfigError listing every problem."""
    files = discover([paths] if isinstance(paths, str) else list(paths))
    problems: list[Problem] = []
    if not files:
        raise ConfigError([Problem(", ".join(paths) if isinstance(paths, list) else paths, 0, "",
                                   "no configuration files (*.yaml, *.yml, *.zone) found")])
    docs: list[tuple[str, LMap]] = []
    masters: list[str] = []
    for f in files:
        try:
            with open(f, encoding="utf-8") as fh:
                text = fh.read()
        except (OSError, UnicodeDecodeError) as e:
            problems.append(Problem(f, 0, "", f"cannot read: {e}"))
            continue
        if f.endswith(MASTER_SUFFIXES):
            masters.append(f)
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
    regions: dict[str, Region] = {}
    monitors: dict[str, Monitor] = {}
    vantages: dict[str, Vantage] = {}
    seen: dict[tuple[str, str], str] = {}
    for f, doc in docs:
        ctx = Ctx(f)
        ctx.keys(doc, "", TOP_KEYS)
        for section, reader, target in (("regions", _region, regions), ("monitors", _monitor, monitors),
                                        ("vantages", _vantage, vantages)):
            for name, m, line, path in _named(ctx, doc, section):
                if name in target or (section, name) in seen:
                    ctx.err(line, path, f"duplicate {section[:-1]} (also defined in {seen.get((section, name), f)})")
                    continue
                seen[(section, name)] = f
                value = reader(ctx, name, m, path)
                if value is not None:
                    target[name] = value  # type: ignore[assignment]
        problems += ctx.problems

    zones: dict[str, Zone] = {}
    imported: set[str] = set()
    service_names: dict[str, str] = {}
    for f, doc in docs:
        if "zone" not in doc:
            ctx = Ctx(f)
            for key in ("soa", "ns", "records", "import", "services"):
                if key in doc:
                    ctx.err(doc.key_line(key), key, "needs 'zone' (the origin) in the same file")
            problems += ctx.problems
            continue
        zone = _yaml_zone(f, doc, regions, monitors, problems, imported, service_names)
        if zone is not None:
            _add_zone(zones, zone, f, problems)
    for f in masters:
        if os.path.abspath(f) in imported:
            continue
        zone = _master_zone(f, problems)
        if zone is not None:
            _add_zone(zones, zone, f, problems)
    if problems:
        raise ConfigError(problems)
    return Config(zones=MappingProxyType(zones), regions=MappingProxyType(regions),
                  monitors=MappingProxyType(monitors), vantages=MappingProxyType(vantages),
                  sources=tuple(files) + tuple(sorted(imported - {os.path.abspath(f) for f in files})))


def _add_zone(zones: dict[str, Zone], zone: Zone, f: str, problems: list[Problem]) -> None:
    if zone.origin in zones:
        problems.append(Problem(f, 0, "zone", f"zone {zone.origin} is also defined in {zones[zone.origin].source}"))
    else:
        zones[zone.origin] = zone


def _named(ctx: Ctx, doc: LMap, section: str) -> list[tuple[str, LMap, int, str]]:
    """Entries of a ``name: {mapping}`` section as (name, mapping, line, path)."""
    if section not in doc or doc[section] is None:
        return []
    sec = ctx.mapping(doc[section], section, doc.value_line(section))
    out = []
    for name, value in (sec or {}).items():
        path = join(section, name)
        m = ctx.mapping(value, path, sec.key_line(name)) if sec is not None else None
        if m is not None:
            out.append((str(name), m, sec.key_line(name), path))  # type: ignore[union-attr]
    return out


# -- shared parts ---------------------------------------------------------------------------------------------
def _location(ctx: Ctx, m: LMap, path: str) -> Location | None:
    loc = ctx.mapping(m.get("location"), join(path, "location"), m.value_line("location")) \
        if "location" in m else None
    if loc is None:
        if "location" not in m:
            ctx.err(m.line, join(path, "location"), "is required")
        return None
    p = join(path, "location")
    ctx.keys(loc, p, {"lat", "lon"}, ("lat", "lon"))
    lat = ctx.number(loc, "lat", p, None, -90, 90)
    lon = ctx.number(loc, "lon", p, None, -180, 180)
    return Location(lat, lon) if lat is not None and lon is not None else None


def _region(ctx: Ctx, name: str, m: LMap, path: str) -> Region | None:
    ctx.keys(m, path, REGION_KEYS, ("location", "endpoints"))
    loc = _location(ctx, m, path)
    endpoints = []
    seen: set[Any] = set()
    for item, line, p in ctx.seq(m, "endpoints", path, single_ok=False):
        weight = 1
        if isinstance(item, LMap):
            ctx.keys(item, p, {"address", "weight"}, ("address",))
            weight = ctx.integer(item, "weight", p, 1, 0, 255)
            addr = ctx.address(item.get("address"), item.value_line("address"), join(p, "address")) \
                if "address" in item else None
        else:
            addr = ctx.address(item, line, p)
        if addr is not None:
            if addr in seen:
                ctx.err(line, p, f"duplicate endpoint address {addr}")
            seen.add(addr)
            endpoints.append(Endpoint(addr, weight))
    if "endpoints" in m and not endpoints and not ctx.problems:
        ctx.err(m.value_line("endpoints"), join(path, "endpoints"), "needs at least one endpoint")
    aws = ctx.string(m, "aws_region", path, None)
    capacity = ctx.integer(m, "capacity", path, None, 0, None)
    if loc is None or not endpoints:
        return None
    return Region(name, loc, tuple(endpoints), aws, capacity)


def _monitor(ctx: Ctx, name: str, m: LMap, path: str) -> Monitor | None:
    ctx.keys(m, path, MONITOR_KEYS, ("type",))
    kind = ctx.choice(m, "type", path, [t.value for t in MonitorType], None)
    mtype = MonitorType(kind) if kind else None
    port = ctx.integer(m, "port", path, MONITOR_PORTS.get(mtype) if mtype else None, 1, 65535)  # type: ignore[arg-type]
    if port is None and mtype is MonitorType.TCP and "port" not in m:
        ctx.err(m.line, join(path, "port"), "is required for tcp monitors")
    mpath = ctx.string(m, "path", path, "/")
    if isinstance(mpath, str) and not mpath.startswith("/"):
        ctx.err(m.value_line("path"), join(path, "path"), f"must start with '/' (got {show(mpath)})")
    host = ctx.string(m, "host", path, None)
    expect = []
    for item, line, p in ctx.seq(m, "expect", path):
        if isinstance(item, int) and not isinstance(item, bool) and 100 <= item <= 599:
            expect.append(item)
        else:
            ctx.err(line, p, f"must be an HTTP status between 100 and 599 (got {show(item)})")
    body = ctx.string(m, "body", path, None)
    if body is not None:
        import re
        try:
            re.compile(body)
        except re.error as e:
            ctx.err(m.value_line("body"), join(path, "body"), f"is not a valid regular expression: {e}")
    interval = ctx.number(m, "interval", path, 5.0, 0.5, 3600)
    timeout = ctx.number(m, "timeout", path, min(2.0, interval or 2.0), 0.05, 600)
    if interval is not None and timeout is not None and timeout >= interval:
        ctx.err(m.value_line("timeout"), join(path, "timeout"), f"must be less than interval {interval} (got {timeout})")
    rise = ctx.integer(m, "rise", path, 2, 1, 100)
    fall = ctx.integer(m, "fall", path, 3, 1, 100)
    quorum = ctx.integer(m, "quorum", path, 1, 1, 100)
    verify = ctx.get(m, "tls_verify", path, bool, True, "true or false")
    if mtype is None or port is None:
        return None
    return Monitor(name, mtype, port, mpath or "/", host, tuple(expect) or (200,), body, interval or 5.0,
                   timeout or 2.0, rise or 2, fall or 3, quorum or 1, bool(verify))


def _vantage(ctx: Ctx, name: str, m: LMap, path: str) -> Vantage | None:
    ctx.keys(m, path, {"location"}, ("location",))
    loc = _location(ctx, m, path)
    return Vantage(name, loc) if loc else None


# -- zones ----------------------------------------------------------------------------------------------------
def _yaml_zone(f: str, doc: LMap, regions: dict[str, Region], monitors: dict[str, Monitor],
               problems: list[Problem], imported: set[str], service_names: dict[str, str]) -> Zone | None:
    ctx = Ctx(f)
    origin = None
    raw_origin = ctx.string(doc, "zone", "", None)
    if raw_origin is not None:
        origin = ctx.parsed(lambda: parse_name(raw_origin if raw_origin.endswith(".") else raw_origin + ".", None),
                            doc.value_line("zone"), "zone", (RdataError,))
    default_ttl = ctx.integer(doc, "ttl", "", 3600, 0, MAX_TTL)
    if origin is None:
        problems += ctx.problems
        return None
    records: list[RecordIn] = []

    soa = ctx.mapping(doc.get("soa"), "soa", doc.value_line("soa")) if "soa" in doc else None
    if soa is not None:
        ctx.keys(soa, "soa", SOA_KEYS)
        mname = _name(ctx, soa, "mname", "soa", origin, f"ns1.{origin}")
        rname = _name(ctx, soa, "rname", "soa", origin, f"hostmaster.{origin}")
        nums = [ctx.integer(soa, k, "soa", d, 0, hi) for k, d, hi in (
            ("serial", 1, 2**32 - 1), ("refresh", 3600, MAX_TTL), ("retry", 900, MAX_TTL),
            ("expire", 1209600, MAX_TTL), ("minimum", 300, MAX_TTL))]
        ttl = ctx.integer(soa, "ttl", "soa", default_ttl, 0, MAX_TTL)
        if None not in nums and mname and rname:
            records.append(RecordIn(origin, SOA, ttl, Rdata(SOA, (mname, rname, *nums)), f, soa.line, "soa"))
    for item, line, p in ctx.seq(doc, "ns", ""):
        target = ctx.parsed(lambda: parse_name(str(item), origin), line, p, (RdataError,))
        if target:
            records.append(RecordIn(origin, NS, default_ttl, Rdata(NS, (target,)), f, line, p))

    if "records" in doc and doc["records"] is not None:
        recs = ctx.mapping(doc["records"], "records", doc.value_line("records"))
        for owner, value in (recs or {}).items():
            records += _owner_records(ctx, f, origin, str(owner), value, recs.key_line(owner), default_ttl)  # type: ignore[union-attr]

    if "import" in doc:
        rel = ctx.string(doc, "import", "", None)
        if rel:
            path = os.path.join(os.path.dirname(f), rel)
            imported.add(os.path.abspath(path))
            try:
                with open(path, encoding="utf-8") as fh:
                    text = fh.read()
            except (OSError, UnicodeDecodeError) as e:
                ctx.err(doc.value_line("import"), "import", f"cannot read {path}: {e}")
            else:
                got, recs_m, probs = parse_master(text, path, origin, default_ttl)
                ctx.problems += probs
                if got is not None and got != origin:
                    ctx.err(doc.value_line("import"), "import", f"{path} sets $ORIGIN {got}, not the zone {origin}")
                records += [RecordIn(r.name, r.rtype, r.ttl, r.rdata, path, r.line) for r in recs_m]

    services = _services(ctx, doc, origin, records, regions, monitors, service_names)
    problems += ctx.problems
    if ctx.problems:
        return None
    return build_zone(origin, f, records, services, problems)


def _name(ctx: Ctx, m: LMap, key: str, path: str, origin: str, default: str) -> str | None:
    raw = ctx.string(m, key, path, default)
    if raw is None:
        return None
    return ctx.parsed(lambda: parse_name(raw, origin), m.value_line(key), join(path, key), (RdataError,))


def _owner_records(ctx: Ctx, f: str, origin: str, owner: str, value: Any, line: int,
                   default_ttl: int) -> list[RecordIn]:
    path = join("records", owner)
    name = ctx.parsed(lambda: parse_name(owner, origin), line, path, (RdataError,))
    m = ctx.mapping(value, path, line)
    if name is None or m is None:
        return []
    ttl = ctx.integer(m, "ttl", path, default_ttl, 0, MAX_TTL) if "ttl" in m else default_ttl
    out = []
    for tkey, tval in m.items():
        if tkey == "ttl":
            continue
        p = join(path, tkey)
        rtype = ctx.parsed(lambda: parse_type(str(tkey)), m.key_line(tkey), p, (RdataError,))
        if rtype is None:
            continue
        if rtype == SOA:
            ctx.err(m.key_line(tkey), p, "the SOA is set with the top-level 'soa' key")
            continue
        rttl = ttl
        values: Any = tval
        if isinstance(tval, LMap):
            ctx.keys(tval, p, {"ttl", "values"}, ("values",))
            rttl = ctx.integer(tval, "ttl", p, ttl, 0, MAX_TTL)
            values = tval.get("values")
            p = join(p, "values")
        items = [(v, values.item_line(i), join(p, i)) for i, v in enumerate(values)] \
            if isinstance(values, LSeq) else [(values, m.value_line(tkey), p)]
        for item, iline, ipath in items:
            rd = _rdata(ctx, rtype, item, iline, ipath, origin)
            if rd is not None:
                out.append(RecordIn(name, rtype, rttl, rd, f, iline, ipath))
    return out


def _rdata(ctx: Ctx, rtype: int, value: Any, line: int, path: str, origin: str) -> Rdata | None:
    if isinstance(value, (LMap, LSeq)) or value is None or isinstance(value, bool):
        ctx.err(line, path, f"must be a value in presentation format (got {show(value)})")
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
    guess = base if base.endswith(".") else base + "."
    try:
        fallback = parse_name(guess, None)
    except RdataError:
        fallback = None
    try:
        with open(f, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as e:
        problems.append(Problem(f, 0, "", f"cannot read: {e}"))
        return None
    origin, recs, probs = parse_master(text, f, fallback, None)
    problems += probs
    if origin is None:
        problems.append(Problem(f, 0, "", "no origin: set $ORIGIN or name the file after the zone"))
        return None
    if probs:
        return None
    # The zone is the SOA's owner when $ORIGIN moved on after it (files often end in a sub-origin).
    soa_owner = next((r.name for r in recs if r.rtype == SOA), origin)
    return build_zone(soa_owner, f, [RecordIn(r.name, r.rtype, r.ttl, r.rdata, f, r.line) for r in recs], (),
                      problems)


# -- services -------------------------------------------------------------------------------------------------
def _services(ctx: Ctx, doc: LMap, origin: str, records: list[RecordIn], regions: dict[str, Region],
              monitors: dict[str, Monitor], service_names: dict[str, str]) -> tuple[Service, ...]:
    out = []
    static = {(r.name, r.rtype) for r in records}
    cuts = {r.name for r in records if r.rtype == NS and r.name != origin}
    for key, m, line, path in _named(ctx, doc, "services"):
        ctx.keys(m, path, SERVICE_KEYS, ("regions",))
        names = []
        raw_names = ctx.seq(m, "names", path) or [(key, line, path)]
        for item, nline, npath in raw_names:
            name = ctx.parsed(lambda: parse_name(str(item), origin), nline, npath, (RdataError,))
            if name is None:
                continue
            if not is_subdomain(name, origin):
                ctx.err(nline, npath, f"{name} is outside zone {origin}")
            elif name in service_names:
                ctx.err(nline, npath, f"{name} is already managed by service {service_names[name]}")
            elif clash := sorted(t for t in ("A", "AAAA", "CNAME")
                                 if (name, {"A": A, "AAAA": AAAA, "CNAME": CNAME}[t]) in static):
                ctx.err(nline, npath, f"{name} is managed here and also has static {', '.join(clash)} records")
            elif any(is_subdomain(name, c) for c in cuts):
                ctx.err(nline, npath, f"{name} lies in a delegated subzone")
            else:
                service_names[name] = key
                names.append(name)
        ttl = ctx.integer(m, "ttl", path, 30, 0, 86400)
        cands = []
        for item, rline, rpath in ctx.seq(m, "regions", path):
            if not isinstance(item, str) or item not in regions:
                ctx.err(rline, rpath, f"unknown region {show(item)}; defined: {', '.join(sorted(regions)) or 'none'}")
            elif item in cands:
                ctx.err(rline, rpath, f"region {item} is listed twice")
            else:
                cands.append(item)
        if "regions" in m and not cands and not any(p.path.startswith(join(path, "regions")) for p in ctx.problems):
            ctx.err(m.value_line("regions"), join(path, "regions"), "needs at least one region")
        monitor = ctx.string(m, "monitor", path, None)
        if monitor is not None and monitor not in monitors:
            ctx.err(m.value_line("monitor"), join(path, "monitor"),
                    f"unknown monitor {show(monitor)}; defined: {', '.join(sorted(monitors)) or 'none'}")
        answers = ctx.integer(m, "answers", path, 1, 1, max(1, len(cands)))
        affinity = ctx.get(m, "affinity", path, bool, False, "true or false")
        fail_mode = ctx.choice(m, "fail_mode", path, [x.value for x in FailMode], FailMode.FAIL_OPEN.value)
        fallback = [a for item, fline, fpath in ctx.seq(m, "fallback", path)
                    if (a := ctx.address(item, fline, fpath)) is not None]
        if fail_mode == FailMode.STATIC.value and not fallback:
            ctx.err(m.line, join(path, "fallback"), "is required when fail_mode is static")
        elif fallback and fail_mode != FailMode.STATIC.value:
            ctx.err(m.value_line("fallback"), join(path, "fallback"), "is only used with fail_mode: static")
        scope4, scope6 = 24, 56
        if "ecs_scope" in m:
            sm = ctx.mapping(m["ecs_scope"], join(path, "ecs_scope"), m.value_line("ecs_scope"))
            if sm is not None:
                ctx.keys(sm, join(path, "ecs_scope"), {"v4", "v6"})
                scope4 = ctx.integer(sm, "v4", join(path, "ecs_scope"), 24, 0, 32)
                scope6 = ctx.integer(sm, "v6", join(path, "ecs_scope"), 56, 0, 128)
        policy = _policy(ctx, m, path, cands, regions)
        if names and cands and policy is not None:
            out.append(Service(key, origin, tuple(names), ttl, tuple(cands), policy, monitor, answers or 1,
                               bool(affinity), FailMode(fail_mode or "fail_open"), tuple(fallback), scope4, scope6))
    return tuple(out)


def _policy(ctx: Ctx, m: LMap, path: str, cands: list[str], regions: dict[str, Region]) -> Policy | None:
    p = join(path, "policy")
    raw = m.get("policy", "failover")
    if isinstance(raw, str):
        pm = LMap({"type": raw})
        pm.line, pm.key_lines, pm.value_lines = m.value_line("policy"), {}, {}
    else:
        pm = ctx.mapping(raw, p, m.value_line("policy"))  # type: ignore[assignment]
        if pm is None:
            return None
    kind = ctx.choice(pm, "type", p, POLICIES)
    allowed = {"failover": {"type"}, "weighted": {"type", "weights"}, "geo": {"type", "rules", "default"},
               "proximity": {"type", "bias"}, "latency": {"type", "hysteresis", "alpha"}}.get(kind or "", {"type"})
    ctx.keys(pm, p, allowed)

    def region_map(key: str, lo: float, hi: float, integer: bool) -> tuple[tuple[str, Any], ...]:
        if key not in pm:
            return ()
        sub = ctx.mapping(pm[key], join(p, key), pm.value_line(key))
        out = []
        for r in sub or {}:
            if r not in cands:
                ctx.err(sub.key_line(r), join(join(p, key), r),  # type: ignore[union-attr]
                        f"is not one of the service's regions ({', '.join(cands)})")
                continue
            v = (ctx.integer if integer else ctx.number)(sub, r, join(p, key), None, lo, hi)  # type: ignore[arg-type]
            if v is not None:
                out.append((str(r), v))
        return tuple(out)

    def region_list(value: Any, line: int, lpath: str) -> tuple[str, ...]:
        items = value if isinstance(value, list) else [value]
        out = []
        for i, r in enumerate(items):
            ipath = join(lpath, i) if isinstance(value, list) else lpath
            if r not in cands:
                ctx.err(line, ipath, f"is not one of the service's regions ({', '.join(cands)}) (got {show(r)})")
            else:
                out.append(r)
        return tuple(out)

    if kind == "failover":
        return FailoverPolicy()
    if kind == "weighted":
        return WeightedPolicy(region_map("weights", 0, 255, True))
    if kind == "proximity":
        return ProximityPolicy(region_map("bias", -20000, 20000, False))
    if kind == "latency":
        return LatencyPolicy(ctx.number(pm, "hysteresis", p, 0.2, 0, 10), ctx.number(pm, "alpha", p, 0.3, 0.01, 1))
    if kind == "geo":
        rules = []
        for item, line, rpath in ctx.seq(pm, "rules", p, single_ok=False):
            rm = ctx.mapping(item, rpath, line)
            if rm is None:
                continue
            ctx.keys(rm, rpath, set(GEO_MATCH_KEYS) | {"regions"}, ("regions",))
            given = [k for k in GEO_MATCH_KEYS if k in rm]
            if len(given) != 1:
                ctx.err(rm.line, rpath, f"needs exactly one of {', '.join(GEO_MATCH_KEYS)} (got {len(given)})")
                continue
            match = _geo_match(ctx, rm, given[0], rpath)
            regs = region_list(rm.get("regions"), rm.value_line("regions"), join(rpath, "regions"))
            if match is not None and regs:
                rules.append(GeoRule(match, regs))
        default = region_list(pm["default"], pm.value_line("default"), join(p, "default")) \
            if "default" in pm else tuple(cands)
        return GeoPolicy(tuple(rules), default)
    return None


def _geo_match(ctx: Ctx, rm: LMap, key: str, path: str) -> GeoMatch | None:
    value = rm[key]
    line, p = rm.value_line(key), join(path, key)
    text = str(value).strip() if not isinstance(value, bool) else ""
    if key == "continent":
        if text.upper() not in CONTINENTS:
            ctx.err(line, p, f"must be a continent code ({', '.join(sorted(CONTINENTS))}) (got {show(value)})")
            return None
        return GeoMatch(continent=text.upper())
    if key == "country":
        if not (len(text) == 2 and text.isalpha()):
            ctx.err(line, p, f"must be an ISO 3166-1 two-letter country code (got {show(value)})")
            return None
        return GeoMatch(country=text.upper())
    if key == "subdivision":
        cc, _, sub = text.partition("-")
        if not (len(cc) == 2 and cc.isalpha() and 1 <= len(sub) <= 3 and sub.isalnum()):
            ctx.err(line, p, f"must be an ISO 3166-2 code such as US-CA (got {show(value)})")
            return None
        return GeoMatch(subdivision=text.upper())
    if key == "cidr":
        try:
            return GeoMatch(cidr=ipaddress.ip_network(text, strict=True))
        except ValueError as e:
            ctx.err(line, p, f"must be a network such as 192.0.2.0/24: {e}")
            return None
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**32:
        return GeoMatch(asn=value)
    if text.upper().startswith("AS") and text[2:].isdigit() and 0 < int(text[2:]) < 2**32:
        return GeoMatch(asn=int(text[2:]))
    ctx.err(line, p, f"must be an AS number such as 64500 or AS64500 (got {show(value)})")
    return None


__all__ = ["load", "discover", "ConfigError", "SOA", "parse_ttl"]
