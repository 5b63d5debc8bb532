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

import logging
import os
import re
from types import MappingProxyType
from typing import Any, Callable

from gtm.config.checks import Ctx, show
from gtm.config.common import MASTER_SUFFIXES, YAML_SUFFIXES, Shared, named_entries, read_file
from gtm.config.settings import (
    read_admin, read_dnssec, read_drills, read_geoip, read_health, read_overrides, read_resolvers, read_rrl,
    store_default,
)
from gtm.config.shared import read_monitor, read_region, read_vantage
from gtm.config.yamlsrc import LMap, load_yaml
from gtm.config.zones import ZONE_KEYS, add_zone, master_zone, yaml_zone
from gtm.errors import ConfigError, Problem
from gtm.model import CNAME, Config, Zone, is_subdomain

log = logging.getLogger(__name__)

TOP_KEYS = {"zone", "ttl", "soa", "ns", "records", "import", "regions", "monitors", "vantages", "services", "geoip",
            "health", "admin", "overrides", "drills", "rrl", "resolvers", "dnssec", "signed"}


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
        text, why = read_file(f)
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
    shared = Shared()
    for f, doc in docs:
        ctx = Ctx(f)
        ctx.keys(doc, "", TOP_KEYS)
        sections: list[tuple[str, Callable[..., Any], dict[str, Any]]] = [
            ("regions", read_region, shared.regions), ("monitors", read_monitor, shared.monitors),
            ("vantages", read_vantage, shared.vantages)]
        for section, reader, target in sections:
            for name, m, line, path in named_entries(ctx, doc, section):
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
        for section, reader in (("health", read_health), ("admin", read_admin), ("overrides", read_overrides),
                                ("drills", read_drills), ("rrl", read_rrl), ("resolvers", read_resolvers),
                                ("dnssec", read_dnssec)):
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
                shared.geoip = read_geoip(ctx, f, doc)
        problems += ctx.problems
    problems += label_clashes(shared)

    for ctx, line, path, quorum in shared.quorums:
        if shared.vantages and quorum > len(shared.vantages):
            ctx.err(line, path, f"must be at most the number of vantages, {len(shared.vantages)} (got {quorum})")
            problems += ctx.problems[-1:]
        elif quorum == 1 and len(shared.vantages) > 1:
            log.warning("%s:%d: %s: 1 of %d vantages: one prober (or one stolen report key) decides alone; the "
                        "default is a majority (%d)", ctx.file, line, path, len(shared.vantages),
                        len(shared.vantages) // 2 + 1)
    if len(shared.vantages) == 2:
        for mon in shared.monitors.values():
            if mon.quorum is None:
                log.warning("monitors.%s: with 2 vantages the default quorum (a majority) is both: while one prober "
                            "is lost, verdicts stand as they are; add a third vantage, or set quorum", mon.name)

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
        zone = yaml_zone(f, doc, shared, problems, imported, service_names)
        if zone is not None:
            add_zone(zones, zone, f, doc.value_line("zone"), "zone", problems)
    for f in masters:
        if os.path.abspath(f) in imported:
            continue
        zone = master_zone(f, problems)
        if zone is not None:
            add_zone(zones, zone, f, 1, "", problems)
    problems += looping_hostnames(shared, zones)
    for ctx, line, origin in shared.signed:
        if shared.dnssec.key_dir is None:
            problems.append(Problem(ctx.file, line, "signed", f"zone {origin} is signed, so the config needs "
                                    "dnssec.key_dir (the directory of its keys; gtm dnssec keygen makes them)"))
    if problems:
        raise ConfigError(redacted(problems, shared))
    listed = {os.path.abspath(f) for f in files}
    return Config(zones=MappingProxyType(zones), regions=MappingProxyType(shared.regions),
                  monitors=MappingProxyType(shared.monitors), vantages=MappingProxyType(shared.vantages),
                  geoip=shared.geoip, health=shared.health, admin=shared.admin,
                  overrides=store_default(shared.overrides, files), drills=shared.drills, rrl=shared.rrl,
                  resolvers=shared.resolvers, dnssec=shared.dnssec,
                  sources=tuple(files) + tuple(sorted(p for a, p in imported.items() if a not in listed)))


def looping_hostnames(shared: Shared, zones: dict[str, Zone]) -> list[Problem]:
    """Hostname endpoints whose name leads, in our own zones, to a name that gtm steers: the answer would
    depend on itself (directly, or through another service). Followed through the zones' static CNAMEs."""
    managed = {name: svc.key for z in zones.values() for svc in z.services for name in svc.names}
    out = []
    for ctx, line, path, region, host in shared.hostnames:
        name, seen = host + ".", []
        while True:
            seen.append(name)
            if name in managed:
                chain = " -> ".join(n.rstrip(".") for n in seen)
                out.append(Problem(ctx.file, line, path, f"leads to {name.rstrip('.')}, which service {managed[name]} "
                                   f"answers with gtm's own steering: a hostname endpoint must not depend on gtm's "
                                   f"answers (it would loop) ({chain})"))
                break
            zone = next((z for origin, z in zones.items() if is_subdomain(name, origin)), None)
            cname = (zone.rrsets.get(name) or {}).get(CNAME) if zone is not None else None
            if cname is None or not cname.rdatas or len(seen) > 8:
                break
            name = cname.rdatas[0].target or ""
    return out


def label_clashes(shared: Shared) -> list[Problem]:
    """Regions whose names become one DNS label (lower case, ``-`` for the rest): the Route53 mirror's internal
    names carry a region as a label, so two must not become one."""
    def where(name: str) -> tuple[str, int]:
        file, _, line = shared.defined_at[("regions", name)].rpartition(":")
        return file, int(line)

    labels: dict[str, str] = {}
    out = []
    for name in sorted(shared.regions, key=where):
        label = re.sub(r"[^a-z0-9-]", "-", name.lower()).strip("-")
        if label in labels:
            out.append(Problem(*where(name), f"regions.{name}", f"becomes the same DNS label as region "
                               f"{labels[label]} ({label}) in the Route53 mirror's internal names; rename one"))
        else:
            labels[label] = name
    return out


def redacted(problems: list[Problem], shared: Shared) -> list[Problem]:
    """Problems that quote nothing secret: none of a key or token file's content (an ``import:`` pointed at
    one would have a line of it quoted), nor a secret read from one anywhere else."""
    files, secrets = set(), set()
    for path in (shared.health.keys_file, shared.admin.token_file):
        if path:
            files.add(os.path.realpath(path))
            text, _ = read_file(path)
            for line in (text or "").splitlines():
                for entry in line.split("#", 1)[0].split(","):
                    secret = entry.partition(":")[2].strip() if ":" in entry else entry.strip()
                    if len(secret) >= 8:
                        secrets.add(secret)
    out = []
    for p in problems:
        if os.path.realpath(p.file) in files:
            p = Problem(p.file, p.line, p.path, "(a secret file: its content is not shown)")
        elif any(secret in p.message or secret in p.path for secret in secrets):
            message, path = p.message, p.path
            for secret in secrets:
                message, path = message.replace(secret, "[redacted]"), path.replace(secret, "[redacted]")
            p = Problem(p.file, p.line, path, message)
        out.append(p)
    return out


__all__ = ["load", "discover", "ConfigError"]
