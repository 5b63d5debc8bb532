"""geo: rules on CIDR, ASN, subdivision, country or continent, each naming an ordered list of regions.

The most specific matching rule wins: CIDR (longest prefix) > ASN > subdivision > country > continent > the
default list. A rule's regions come first, then the default list's (like a Route53 geolocation record falling
back to the default one): the rule's list order is the fallback order.

The ECS scope is the widest prefix around the client for which this choice cannot differ: the database network
of the location (and of the ASN, with ASN rules), narrowed so that it contains no CIDR rule the client is not in;
a client inside CIDR rules gets the shortest of those rules' prefixes (overlapping rules must name the same
regions, which the loader checks), narrowed the same way.
"""
from __future__ import annotations

from gtm.model import GeoInfo, GeoMatch, GeoPolicy, GeoRule, Service
from gtm.steering.context import Context, PolicyInput, PolicyKind
from gtm.steering.types import Client, Ranking

MATCH_KEYS = ("continent", "country", "subdivision", "cidr", "asn")


def _common_prefix(a: int, b: int, width: int) -> int:
    return width - (a ^ b).bit_length()


def _rank_of(rule: GeoRule, geo: GeoInfo) -> tuple[int, int]:
    """How specific a matching non-CIDR rule is: its kind, then (subdivisions) how deep the code is, since a
    client in GB-ENG and GB-BEN (most general first) is better described by GB-BEN."""
    m = rule.match
    depth = geo.subdivisions.index(m.subdivision) if m.subdivision is not None else 0
    return m.specificity, depth


def matching_rule(policy: GeoPolicy, client: Client) -> tuple[GeoRule | None, list[GeoRule]]:
    """The winning rule (None: default) and every CIDR rule containing the client."""
    geo, addr = client.geo, client.address
    cidr_hits = [r for r in policy.rules if r.match.cidr is not None and addr is not None
                 and r.match.cidr.version == addr.version and addr in r.match.cidr]
    if cidr_hits:
        return max(cidr_hits, key=lambda r: r.match.cidr.prefixlen), cidr_hits  # type: ignore[union-attr]
    best: GeoRule | None = None
    for rule in policy.rules:
        m = rule.match
        hit = (m.asn is not None and m.asn == geo.asn) or \
              (m.subdivision is not None and m.subdivision in geo.subdivisions) or \
              (m.country is not None and m.country == geo.country) or \
              (m.continent is not None and m.continent == geo.continent)
        if hit and (best is None or _rank_of(rule, geo) > _rank_of(best, geo)):  # equal: the first listed
            best = rule
    return best, []


def scope_for(policy: GeoPolicy, client: Client, cidr_hits: list[GeoRule]) -> int:
    """The widest prefix around the client inside which every client gets the same ranking."""
    addr = client.address
    if addr is None:
        return 0
    width = addr.max_prefixlen
    bits = int(addr)
    if cidr_hits:
        # Inside CIDR rules the location does not matter. Start from the shortest containing rule that still
        # gives the winner's regions (the loader rejects overlapping rules with different regions, so this is
        # normally the shortest hit; as a pure function, stay right for any rules).
        hits = sorted(cidr_hits, key=lambda r: -r.match.cidr.prefixlen)  # type: ignore[union-attr]
        winner = hits[0]
        scope = winner.match.cidr.prefixlen  # type: ignore[union-attr]
        for r in hits[1:]:
            if r.regions != winner.regions:
                break
            scope = r.match.cidr.prefixlen  # type: ignore[union-attr]
        same = winner.regions
    else:
        scope = 0
        if any(r.match.continent or r.match.country or r.match.subdivision for r in policy.rules):
            scope = client.geo.city_prefix
        if any(r.match.asn is not None for r in policy.rules):
            scope = max(scope, client.geo.asn_prefix)
        same = None
    for r in policy.rules:
        net = r.match.cidr
        if net is not None and net.version == addr.version and addr not in net and r.regions != same:
            # the scope network must not reach into a rule the client is outside of (and whose regions
            # differ): one bit past the common prefix separates the two
            scope = max(scope, min(_common_prefix(bits, int(net.network_address), width), net.prefixlen - 1) + 1)
    return min(scope, width)


def _describe(rule: GeoRule) -> str:
    m = rule.match
    for key in ("cidr", "asn", "subdivision", "country", "continent"):
        value = getattr(m, key)
        if value is not None:
            return f"{key} {value}"
    return "?"


def parse(p: PolicyInput) -> GeoPolicy:
    """``rules`` (each one match key and its ``regions``, most specific wins) and ``default`` (the service's
    regions when absent). Two rules on the same key, or on overlapping networks, must agree."""
    rules: list[GeoRule] = []
    paths: list[str] = []
    for rm in p.items("rules", set(MATCH_KEYS) | {"regions"}, ("regions",)):
        match = rm.geo_match(MATCH_KEYS)
        regions = rm.region_list("regions", None)
        if match is not None and match.asn is not None and not p.has_asn_database:
            rm.error("asn", "needs an ASN database: set geoip.asn")
        if match is not None and regions:
            new = GeoRule(match, regions)
            for old, where in zip(rules, paths):
                if _overlap(old.match, match) and old.regions != regions:
                    rm.error(None, f"overlaps {where} ({_match_text(old.match)}) with other regions "
                                   f"({', '.join(old.regions)}); make them agree or the networks disjoint")
            rules.append(new)
            paths.append(rm.path)
    return GeoPolicy(tuple(rules), p.region_list("default", p.candidates))


def _overlap(a: GeoMatch, b: GeoMatch) -> bool:
    if a.cidr is not None and b.cidr is not None:
        return a.cidr.version == b.cidr.version and a.cidr.overlaps(b.cidr)  # type: ignore[arg-type]
    return a == b


def _match_text(m: GeoMatch) -> str:
    for key in ("continent", "country", "subdivision", "cidr", "asn"):
        value = getattr(m, key)
        if value is not None:
            return f"{key} {value}"
    return "nothing"


def select(service: Service, client: Client, ctx: Context) -> Ranking:
    policy = service.policy
    assert isinstance(policy, GeoPolicy)
    rule, cidr_hits = matching_rule(policy, client)
    first = rule.regions if rule is not None else ()
    order = tuple(dict.fromkeys(first + policy.default))
    what = f"rule {_describe(rule)}" if rule is not None else "no rule matched; default"
    notes = (f"geo: {what} -> {', '.join(order)}",)
    return Ranking(order, scope_for(policy, client, cidr_hits), notes, key=what)


KIND = PolicyKind("geo", frozenset({"rules", "default"}), parse, select,
                  "rules on continent, country, subdivision, CIDR or ASN, each to an ordered list of regions (the "
                  "most specific match wins); default for everyone else")
