"""The shared definitions: ``regions`` (with their endpoints), ``monitors`` and ``vantages``, defined in any file
and used by the services of any zone."""
from __future__ import annotations

import re

from gtm.config.checks import Ctx, join, show
from gtm.config.common import Shared, read_location
from gtm.config.yamlsrc import LMap
from gtm.model import Endpoint, IPAddress, Monitor, MonitorType, Region, Vantage


REGION_KEYS = {"location", "endpoints", "aws_region", "capacity"}


MONITOR_KEYS = {"type", "port", "path", "host", "expect", "body", "interval", "timeout", "rise", "fall", "quorum",
                "tls_verify"}


MONITOR_PORTS = {MonitorType.HTTP: 80, MonitorType.HTTPS: 443}


AWS_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-[0-9]+")  # us-east-1, us-gov-west-1, ap-southeast-2


def read_region(ctx: Ctx, name: str, m: LMap, path: str, shared: Shared) -> Region | None:
    start = len(ctx.problems)
    ctx.keys(m, path, REGION_KEYS, ("endpoints",))
    loc = read_location(ctx, m, path)
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
