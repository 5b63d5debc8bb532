"""Health files: a hand-written (or generated) statement of what is down and what the probers measured.

Used by ``gtm explain --health`` and ``gtm serve --health`` (and by tests) to answer as under given health::

    down:                      # regions, or single endpoints as REGION/ADDRESS
      - eu-west
      - us-east/192.0.2.11
    rtt:                       # smoothed round-trip times in milliseconds, per vantage and region
      frankfurt: {eu-west: 12.5, us-east: 88}
    sticky:                    # the region a latency service currently sticks to, per SERVICE/VANTAGE
      api/frankfurt: eu-west   # (example.com/api/frankfurt where two zones have an api)

Every name is checked against the configuration; problems are reported like config problems.
"""
from __future__ import annotations

import ipaddress

from gtm.config.checks import Ctx, join, show
from gtm.config.common import read_file
from gtm.config.yamlsrc import LMap, load_yaml
from gtm.errors import ConfigError, Problem
from gtm.model import Config, HealthSnapshot
from gtm.model.effective import PinnedHealth


def load_health(path: str, config: Config) -> PinnedHealth:
    """Read a health file for ``config``; raises ConfigError listing every problem."""
    text, why = read_file(path)
    if text is None:
        raise ConfigError([Problem(path, 0, "", f"cannot read: {why}")])
    data, problems = load_yaml(text, path)
    ctx = Ctx(path)
    ctx.problems += problems
    if data is None:
        data = LMap()
        data.line, data.key_lines, data.value_lines = 1, {}, {}
    doc = ctx.mapping(data, "", 1)
    down_regions: set[str] = set()
    down_endpoints: set[tuple[str, str]] = set()
    rtt: dict[tuple[str, str], float] = {}
    sticky: dict[tuple[str, str], str] = {}
    if doc is not None:
        ctx.keys(doc, "", {"down", "rtt", "sticky"})
        for item, line, p in ctx.seq(doc, "down", ""):
            text_item = item if isinstance(item, str) else ""
            region, _, address = text_item.partition("/")
            if region not in config.regions:
                ctx.err(line, p, f"unknown region; defined: {', '.join(config.regions) or 'none'} (got {show(item)})")
            elif not address:
                down_regions.add(region)
            else:
                known = {e.key for e in config.regions[region].endpoints}
                try:
                    canonical = str(ipaddress.ip_address(address))
                except ValueError:  # a hostname endpoint: named as the config names it (lower case, no final dot)
                    canonical = address.lower().removesuffix(".")
                if canonical not in known:
                    ctx.err(line, p, f"{region} has no endpoint {address} (got {show(item)})")
                else:
                    down_endpoints.add((region, canonical))
        for vantage, regions in _mapping(ctx, doc, "rtt"):
            p = join("rtt", vantage)
            if vantage not in config.vantages:
                ctx.err(doc["rtt"].key_line(vantage), p,
                        f"unknown vantage; defined: {', '.join(config.vantages) or 'none'}")
                continue
            sub = ctx.mapping(regions, p, doc["rtt"].value_line(vantage))
            for region in sub or {}:
                if region not in config.regions:
                    ctx.err(sub.key_line(region), join(p, region), "unknown region")  # type: ignore[union-attr]
                    continue
                ms = ctx.number(sub, region, p, None, 0, 60_000)  # type: ignore[arg-type]
                if ms is not None:
                    rtt[(vantage, region)] = ms
        for key, target in _mapping(ctx, doc, "sticky"):
            name, _, vantage = str(key).rpartition("/")
            p = join("sticky", key)
            line = doc["sticky"].key_line(key)
            try:
                service = config.find_service(name) if name else None
            except LookupError as e:
                ctx.err(line, p, f"must be SERVICE/VANTAGE: {e}")
                continue
            if service is None or vantage not in config.vantages:
                ctx.err(line, p, "must be SERVICE/VANTAGE naming a service (zone/key where keys repeat across "
                                 "zones) and a vantage")
            elif target not in config.regions:
                ctx.err(line, p, f"unknown region (got {show(target)})")
            else:
                sticky[(service.ref, vantage)] = str(target)
    if ctx.problems:
        raise ConfigError(ctx.problems)
    return PinnedHealth(HealthSnapshot(down_endpoints=frozenset(down_endpoints),
                                       down_regions=frozenset(down_regions), rtt_ms=tuple(sorted(rtt.items()))),
                        tuple(sorted(sticky.items())))


def _mapping(ctx: Ctx, doc: LMap, key: str) -> list[tuple[str, object]]:
    if doc.get(key) is None:
        return []
    m = ctx.mapping(doc[key], key, doc.value_line(key))
    return list(m.items()) if m is not None else []
