"""The shared definitions: ``regions`` (with their endpoints), ``monitors`` and ``vantages``, defined in any file
and used by the services of any zone."""
from __future__ import annotations

import ipaddress
import re
from typing import Any

from gtm.config.checks import Ctx, join, show
from gtm.config.common import Shared, read_location
from gtm.config.yamlsrc import LMap
from gtm.model import (
    Endpoint, IPAddress, Monitor, MonitorType, OnResolveFailure, ProbeMode, Region, Vantage,
)


REGION_KEYS = {"location", "endpoints", "aws_region", "capacity", "on_resolve_failure"}
ENDPOINT_KEYS = {"address", "hostname", "weight", "probe"}
LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")


MONITOR_KEYS = {"type", "port", "path", "host", "expect", "body", "interval", "timeout", "rise", "fall", "quorum",
                "tls_verify"}


MONITOR_PORTS = {MonitorType.HTTP: 80, MonitorType.HTTPS: 443}


AWS_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-[0-9]+")  # us-east-1, us-gov-west-1, ap-southeast-2


def read_hostname(ctx: Ctx, value: Any, line: int, path: str) -> str | None:
    """A load balancer's DNS name: absolute (a final dot is optional), at least two labels, letters, digits,
    hyphens (and underscores); lower-cased, without the final dot. None after a problem."""
    if not isinstance(value, str) or not value.strip():
        ctx.err(line, path, f"must be a host name such as my-lb-123.eu-west-1.elb.amazonaws.com (got {show(value)})")
        return None
    name = value.strip().lower().removesuffix(".")
    labels = name.split(".")
    why = None
    try:
        ipaddress.ip_address(name)
        why = "is an address: write it as address:, not hostname:"
    except ValueError:
        if len(name) > 253:
            why = "is longer than 253 characters"
        elif len(labels) < 2:
            why = "needs at least two labels (a fully qualified name)"
        elif not all(LABEL.fullmatch(label) for label in labels):
            bad = next(label for label in labels if not LABEL.fullmatch(label))
            why = f"has an invalid label {show(bad)} (letters, digits and inner hyphens, 1 to 63 of them)"
        elif labels[-1].isdigit():
            why = "has an all-numeric top-level label"
    if why is not None:
        ctx.err(line, path, f"{why} (got {show(value)})")
        return None
    return name


def read_region(ctx: Ctx, name: str, m: LMap, path: str, shared: Shared) -> Region | None:
    start = len(ctx.problems)
    ctx.keys(m, path, REGION_KEYS, ("endpoints",))
    loc = read_location(ctx, m, path)
    endpoints = []
    seen: set[IPAddress | str] = set()
    items = ctx.seq(m, "endpoints", path, single_ok=False)
    for item, line, p in items:
        weight = 1
        addr: IPAddress | None = None
        host: str | None = None
        probe = ProbeMode.NAME
        if isinstance(item, LMap):
            ctx.keys(item, p, ENDPOINT_KEYS)
            weight = ctx.integer(item, "weight", p, 1, 0, 255)
            given = [k for k in ("address", "hostname") if k in item]
            if len(given) != 1:
                ctx.err(item.line, p, "needs exactly one of address (an IP address) or hostname (a load "
                                      "balancer's DNS name)" + (f" (got {' and '.join(given)})" if given else ""))
            elif "address" in item:
                line = item.value_line("address")
                addr = ctx.address(item["address"], line, join(p, "address"))
            else:
                line = item.value_line("hostname")
                host = read_hostname(ctx, item["hostname"], line, join(p, "hostname"))
            mode = ctx.choice(item, "probe", p, [x.value for x in ProbeMode], ProbeMode.NAME.value)
            if mode is not None:
                probe = ProbeMode(mode)
            if "probe" in item and "hostname" not in item:
                ctx.err(item.value_line("probe"), join(p, "probe"), "is only used with hostname endpoints")
        else:
            addr = ctx.address(item, line, p)
        key: IPAddress | str | None = addr if addr is not None else host
        if key is not None:
            if key in seen:
                ctx.err(line, p, f"duplicate endpoint {'address' if addr is not None else 'hostname'} "
                                 f"(got {show(str(key))})")
            seen.add(key)
            endpoints.append(Endpoint(addr, weight, host, probe))
            if host is not None:
                shared.hostnames.append((ctx, line, join(p, "hostname"), name, host))
    if "endpoints" in m and not items and isinstance(m["endpoints"], (list, type(None))):
        ctx.err(m.value_line("endpoints"), join(path, "endpoints"), "needs at least one endpoint")
    aws = ctx.string(m, "aws_region", path, None)
    if aws is not None and not AWS_REGION.fullmatch(aws):
        ctx.err(m.value_line("aws_region"), join(path, "aws_region"),
                f"must be an AWS region name such as us-east-1 (got {show(m['aws_region'])})")
    capacity = ctx.integer(m, "capacity", path, None, 0, None)
    failure = read_on_resolve_failure(ctx, m, path)
    if failure is not None and not any(e.hostname for e in endpoints):
        ctx.err(m.value_line("on_resolve_failure"), join(path, "on_resolve_failure"),
                "is only used in a region with hostname endpoints")
    if len(ctx.problems) > start or loc is None:
        return None
    return Region(name, loc, tuple(endpoints), aws, capacity, failure)


def read_on_resolve_failure(ctx: Ctx, m: LMap, path: str) -> OnResolveFailure | None:
    value = ctx.choice(m, "on_resolve_failure", path, [x.value for x in OnResolveFailure], None)
    return OnResolveFailure(value) if value is not None else None


def read_monitor(ctx: Ctx, name: str, m: LMap, path: str, shared: Shared) -> Monitor | None:
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
    quorum = ctx.integer(m, "quorum", path, None, 1, 100)
    if quorum is not None and m.get("quorum") == quorum:
        shared.quorums.append((ctx, m.value_line("quorum"), join(path, "quorum"), quorum))
    verify = ctx.get(m, "tls_verify", path, bool, True, "true or false")
    if len(ctx.problems) > start or mtype is None or port is None:
        return None
    return Monitor(name, mtype, port, mpath, host, tuple(expect) or (200,), body, interval, timeout, rise, fall,
                   quorum, verify)


def read_vantage(ctx: Ctx, name: str, m: LMap, path: str, shared: Shared) -> Vantage | None:
    start = len(ctx.problems)
    ctx.keys(m, path, {"location", "key"})
    loc = read_location(ctx, m, path)
    key = ctx.string(m, "key", path, None)
    if key is not None and (not key.strip() or ":" in key or "," in key or "#" in key):
        ctx.err(m.value_line("key"), join(path, "key"), f"must be a key id as in the key file (got {show(key)})")
    return Vantage(name, loc, key) if loc and len(ctx.problems) == start else None
