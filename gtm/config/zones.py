"""Zones: a YAML zone (``zone``, ``ttl``, ``soa``, ``ns``, ``records``, ``import`` of a master file, ``services``)
and RFC 1035 master files."""
from __future__ import annotations

from dataclasses import replace

import os
from typing import Any

from gtm.config.checks import Ctx, index, join, show
from gtm.config.common import MASTER_SUFFIXES, Shared, read_domain, read_file
from gtm.config.masterfile import parse_master
from gtm.config.rdata import RdataError, parse_name, parse_rdata_text, parse_type
from gtm.config.services import read_services
from gtm.config.yamlsrc import LMap, LSeq
from gtm.config.zonebuild import MAX_TTL, RecordIn, build_zone
from gtm.errors import Problem
from gtm.model import NS, SOA, TXT, Rdata, Zone, is_subdomain


ZONE_KEYS = ("ttl", "soa", "ns", "records", "import", "services", "signed")  # meaningless without ``zone``


SOA_KEYS = {"mname", "rname", "serial", "refresh", "retry", "expire", "minimum", "ttl"}


def add_zone(zones: dict[str, Zone], zone: Zone, f: str, line: int, path: str, problems: list[Problem]) -> None:
    if zone.origin in zones:
        problems.append(Problem(f, line, path, f"zone {zone.origin} is also defined in {zones[zone.origin].source}"))
    else:
        zones[zone.origin] = zone


# -- zones ----------------------------------------------------------------------------------------------------
def yaml_zone(f: str, doc: LMap, shared: Shared, problems: list[Problem], imported: dict[str, str],
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
            names = [read_domain(ctx, soa[k], soa.value_line(k), join("soa", k), origin) if soa.get(k) is not None
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
        target = read_domain(ctx, item, line, p, origin)
        if target:
            records.append(RecordIn(origin, NS, default_ttl, Rdata(NS, (target,)), f, line, p))

    if doc.get("records") is not None:
        recs = ctx.mapping(doc["records"], "records", doc.value_line("records"))
        owners: dict[str, tuple[str, int]] = {}  # name -> (key as written, line): "www" and "WWW" are one name
        for owner, value in (recs or {}).items():
            records += owner_records(ctx, f, origin, owner, value, recs.key_line(owner), default_ttl,  # type: ignore[union-attr]
                                      owners)

    if import_path is not None:
        master, why = read_file(import_path)
        if master is None:
            ctx.err(doc.value_line("import"), "import", f"cannot read {import_path}: {why}")
        else:
            got, recs_m, probs = parse_master(master, import_path, origin, default_ttl)
            ctx.problems += probs
            if got is not None and not is_subdomain(got, origin):
                ctx.err(doc.value_line("import"), "import",
                        f"{import_path} moves $ORIGIN out of zone {origin} (got {show(got)})")
            records += [RecordIn(r.name, r.rtype, r.ttl, r.rdata, import_path, r.line) for r in recs_m]

    services = read_services(ctx, doc, origin, records, shared, service_names)
    signed = ctx.get(doc, "signed", "", bool, False, "true or false")
    if signed:  # checked once every file's settings are read: the key directory may be named in another
        shared.signed.append((ctx, doc.value_line("signed"), origin))
    problems += ctx.problems
    if ctx.problems:
        return None
    zone = build_zone(origin, f, records, services, problems, line=doc.value_line("zone"), yaml=True)
    return replace(zone, signed=True) if zone is not None and signed else zone


def owner_records(ctx: Ctx, f: str, origin: str, owner: Any, value: Any, line: int, default_ttl: int,
                   owners: dict[str, tuple[str, int]]) -> list[RecordIn]:
    path = join("records", owner)
    name = read_domain(ctx, owner, line, path, origin)
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
            rd = read_rdata(ctx, rtype, item, iline, ipath, origin)
            if rd is not None:
                out.append(RecordIn(name, rtype, rttl, rd, f, iline, ipath))
    return out


def read_rdata(ctx: Ctx, rtype: int, value: Any, line: int, path: str, origin: str) -> Rdata | None:
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


def master_zone(f: str, problems: list[Problem]) -> Zone | None:
    base = os.path.basename(f)
    for suffix in MASTER_SUFFIXES:
        base = base[: -len(suffix)] if base.endswith(suffix) else base
    try:
        fallback: str | None = parse_name(base if base.endswith(".") else base + ".", None)
    except RdataError:
        fallback = None
    text, why = read_file(f)
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
