"""A service's ``policy:`` mapping read for the policy's own parser (``gtm.steering.POLICIES``): the
:class:`~gtm.steering.PolicyInput` the parsers read through, over the YAML with lines and field paths, so that
every problem names file, line and field like any other config problem."""
from __future__ import annotations

import ipaddress
from typing import Any, Callable, Iterator

from gtm.config.checks import MISSING, Ctx, index, join, show
from gtm.config.iso3166 import is_country, is_subdivision
from gtm.config.yamlsrc import LMap, LSeq
from gtm.model import Bias, GeoMatch

CONTINENTS = {"AF", "AN", "AS", "EU", "NA", "OC", "SA"}


def ref(value: Any) -> str | None:
    """A reference to a named thing (region, monitor): a string, or a number written without quotes."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


class PolicyReader:
    """``gtm.steering.PolicyInput`` over the mapping ``m`` at ``path``."""

    def __init__(self, ctx: Ctx, m: LMap, path: str, candidates: tuple[str, ...], has_vantages: bool,
                 has_asn_database: bool):
        self.ctx, self.m, self.path = ctx, m, path
        self.candidates, self.has_vantages, self.has_asn_database = candidates, has_vantages, has_asn_database

    def number(self, key: str, default: float, lo: float, hi: float) -> float | None:
        return self.ctx.number(self.m, key, self.path, default, lo, hi)

    def region_map(self, key: str, value: str, lo: float, hi: float) -> tuple[tuple[str, Any], ...]:
        ctx, m, cands = self.ctx, self.m, self.candidates
        read: Callable[..., Any] = ctx.integer if value == "integer" else _bias_reader(ctx)
        if m.get(key) is None:
            return ()
        kp = join(self.path, key)
        sub = ctx.mapping(m[key], kp, m.value_line(key))
        if sub is None:
            return ()
        out = []
        for r in sub:
            name = ref(r)
            if name is None or name not in cands:
                ctx.err(sub.key_line(r), join(kp, r),
                        f"is not one of the service's regions ({', '.join(cands) or 'none'}) (got {show(r)})")
                continue
            v = read(sub, r, kp, MISSING, lo, hi)
            if v is not None:
                out.append((name, v))
        return tuple(out)

    def region_list(self, key: str, default: tuple[str, ...] | None) -> tuple[str, ...]:
        ctx, rm, cands, lpath = self.ctx, self.m, self.candidates, join(self.path, key)
        if key not in rm:
            return default or ()  # a missing ``regions`` of a rule is reported by keys()
        value, line = rm[key], rm.value_line(key)
        if value is None and default is not None:
            return default
        items = [(r, value.item_line(i), index(lpath, i)) for i, r in enumerate(value)] \
            if isinstance(value, LSeq) else [(value, line, lpath)]
        if isinstance(value, LSeq) and not items:
            ctx.err(line, lpath, "needs at least one region")
        out: list[str] = []
        for r, rline, ipath in items:
            name = ref(r)
            if name is None or name not in cands:
                ctx.err(rline, ipath, f"is not one of the service's regions ({', '.join(cands) or 'none'}) "
                                      f"(got {show(r)})")
            elif name in out:
                ctx.err(rline, ipath, f"region is listed twice (got {show(r)})")
            else:
                out.append(name)
        return tuple(out)

    def items(self, key: str, keys: set[str], required: tuple[str, ...]) -> Iterator["PolicyReader"]:
        for item, line, rpath in self.ctx.seq(self.m, key, self.path, single_ok=False):
            rm = self.ctx.mapping(item, rpath, line)
            if rm is None:
                continue
            self.ctx.keys(rm, rpath, keys, required)
            yield PolicyReader(self.ctx, rm, rpath, self.candidates, self.has_vantages, self.has_asn_database)

    def geo_match(self, keys: tuple[str, ...]) -> GeoMatch | None:
        given = [k for k in keys if k in self.m]
        if len(given) != 1:
            self.ctx.err(self.m.line, self.path, f"needs exactly one of {', '.join(keys)} "
                                                 f"(got {', '.join(given) or 'none'})")
            return None
        return _geo_match(self.ctx, self.m, given[0], self.path)

    def error(self, key: str | None, message: str) -> None:
        # a problem of the policy's type, or of the mapping itself, is shown at the mapping
        line = self.m.line if key in (None, "type") else self.m.value_line(key)
        self.ctx.err(line, join(self.path, key) if key else self.path, message)


def _bias_reader(ctx: Ctx) -> Callable[..., Any]:
    """Reads a proximity bias: a number of km (``500``, ``"500km"``) or a percentage (``"20%"``)."""
    def read(m: LMap, key: str, path: str, default: Any, lo: float, hi: float) -> Bias | None:
        value = m[key]
        p, line = join(path, key), m.value_line(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            km = ctx.number(m, key, path, default, lo, hi)
            return Bias(km=km) if km is not None else None
        text = value.strip().lower() if isinstance(value, str) else ""
        try:
            if text.endswith("%"):
                pct = float(text[:-1])
                if not -1000 <= pct < 100:
                    raise ValueError
                return Bias(percent=pct)
            if text.endswith("km"):
                km = float(text[:-2])
                if not lo <= km <= hi:
                    raise ValueError
                return Bias(km=km)
        except ValueError:
            pass
        ctx.err(line, p, f"must be a distance in km (500, '500km', between {lo:g} and {hi:g}) or a percentage "
                         f"below 100 ('20%') (got {show(value)})")
        return None
    return read


def _geo_match(ctx: Ctx, rm: LMap, key: str, path: str) -> GeoMatch | None:
    value = rm[key]
    line, p = rm.value_line(key), join(path, key)
    text = value.strip() if isinstance(value, str) else ""
    if key == "continent":
        if text.upper() not in CONTINENTS:
            ctx.err(line, p, f"must be a continent code ({', '.join(sorted(CONTINENTS))}) (got {show(value)})")
            return None
        return GeoMatch(continent=text.upper())
    if key == "country":
        if not is_country(text.upper()):
            ctx.err(line, p, f"must be an ISO 3166-1 two-letter country code such as DE (got {show(value)})")
            return None
        return GeoMatch(country=text.upper())
    if key == "subdivision":
        if not is_subdivision(text.upper()):
            ctx.err(line, p, f"must be an ISO 3166-2 subdivision code such as US-CA (got {show(value)})")
            return None
        return GeoMatch(subdivision=text.upper())
    if key == "cidr":
        try:
            return GeoMatch(cidr=ipaddress.ip_network(text, strict=True))
        except ValueError:
            try:
                ipaddress.ip_network(text, strict=False)
                why = "has host bits set; write the network address, such as 192.0.2.0/24"
            except ValueError:
                why = "must be a network such as 192.0.2.0/24 or 2001:db8::/32"
            ctx.err(line, p, f"{why} (got {show(value)})")
            return None
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**32:
        return GeoMatch(asn=value)
    digits = text[2:] if text.upper().startswith("AS") else ""
    if digits.isascii() and digits.isdigit() and len(digits) <= 10 and 0 < int(digits) < 2**32:
        return GeoMatch(asn=int(text[2:]))
    ctx.err(line, p, f"must be an AS number such as 64500 or AS64500 (got {show(value)})")
    return None
