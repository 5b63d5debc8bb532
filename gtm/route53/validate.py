"""A strict validator for Route53 change batches and health checks (pure: no boto3, no IO).

moto accepts much of what Route53 rejects (research route53.md section 4, the GAP rows), so every batch
gtm sends is checked here first, and the tests run the same checks against what the mirror plans. Every
message names the record (``name type [set id]``) or health check and the rule broken; an empty list
means valid.

Where this is stricter than Route53 (on purpose, because gtm never needs it): the same rrset may appear
only once per batch (Route53 accepts a DELETE followed by a CREATE of the same rrset), aliases count as one
ResourceRecord element towards the 1,000 limit, and alias loops are rejected.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet

from gtm.route53.limits import (
    MAX_CHILDREN, MAX_FQDN, MAX_GROUP, MAX_HEALTH_THRESHOLD, MAX_PATH, MAX_RR_ELEMENTS, MAX_SEARCH, MAX_SET_ID,
    MAX_TTL, MAX_TXT_STRING, MAX_VALUE_CHARS, MAX_VALUES, MAX_WEIGHT,
)
from gtm.route53.elb import target as elb_target
from gtm.route53.model import CHECKER_REGIONS, Desired, HealthCheckSpec, RecordSpec
from gtm.route53.simulate import routing_policies

Key = tuple[str, str, str]
Change = tuple[str, RecordSpec]

ACTIONS = ("CREATE", "DELETE", "UPSERT")

# botocore 1.44.8, route53 service-2 shape RRType
RR_TYPES = frozenset({"SOA", "A", "TXT", "NS", "CNAME", "MX", "NAPTR", "PTR", "SRV", "SPF", "AAAA", "CAA", "DS",
                      "TLSA", "SSHFP", "SVCB", "HTTPS"})

# botocore 1.44.8, route53 service-2 shape ResourceRecordSetRegion (the latency record regions)
AWS_REGIONS = (
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "eu-west-1", "eu-west-2", "eu-west-3",
    "eu-central-1", "eu-central-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-northeast-1",
    "ap-northeast-2", "ap-northeast-3", "eu-north-1", "sa-east-1", "cn-north-1", "cn-northwest-1", "ap-east-1",
    "me-south-1", "me-central-1", "ap-south-1", "ap-south-2", "af-south-1", "eu-south-1", "eu-south-2",
    "ap-southeast-4", "il-central-1", "ca-west-1", "ap-southeast-5", "mx-central-1", "ap-southeast-7",
    "us-gov-east-1", "us-gov-west-1", "ap-east-2", "ap-southeast-6", "eusc-de-east-1",
)

# botocore 1.44.8, route53 service-2 shape HealthCheckType, less the two gtm does not model
HEALTH_CHECK_TYPES = frozenset({"HTTP", "HTTPS", "HTTP_STR_MATCH", "HTTPS_STR_MATCH", "TCP", "CALCULATED"})

# Route53 GeoLocation ContinentCode
CONTINENTS = frozenset({"AF", "AN", "AS", "EU", "NA", "OC", "SA"})

# Route53 GeoLocation SubdivisionCode with CountryCode US: the 50 states and DC, as ListGeoLocations lists
# them. US territories (PR, GU, VI, AS, MP, UM) are countries there, not subdivisions.
US_STATES = frozenset({
    "AK", "AL", "AR", "AZ", "CA", "CO", "CT", "DC", "DE", "FL", "GA", "HI", "IA", "ID", "IL", "IN", "KS", "KY",
    "LA", "MA", "MD", "ME", "MI", "MN", "MO", "MS", "MT", "NC", "ND", "NE", "NH", "NJ", "NM", "NV", "NY", "OH",
    "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VA", "VT", "WA", "WI", "WV", "WY",
})

_COUNTRY = re.compile(r"[A-Z]{2}")
_TXT = re.compile(r'"((?:[^"\\]|\\.)*)"')
_TXT_ALL = re.compile(r'\s*"(?:[^"\\]|\\.)*"(?:\s+"(?:[^"\\]|\\.)*")*\s*')
_ESCAPE = re.compile(r"\\(\d{3}|.)")


def label(rec: RecordSpec) -> str:
    return f"{rec.name} {rec.type}" + (f" [{rec.set_id}]" if rec.set_id else "")


def _group_label(key: tuple[str, str]) -> str:
    return f"{key[0]} {key[1]}"


def geo_location(geo: tuple[str, ...]) -> str:
    """A geolocation as one comparable string: ``EU``, ``US``, ``US-CA`` or ``*`` (the default)."""
    if geo[0] == "default" or geo == ("country", "*"):
        return "*"
    if geo[0] == "continent" and len(geo) == 2:
        return f"continent {geo[1]}"
    if geo[0] == "country" and len(geo) == 2:
        return geo[1]
    if geo[0] == "subdivision" and len(geo) == 3:
        return f"{geo[1]}-{geo[2]}"
    return repr(geo)


# --------------------------------------------------------------------------------------------- records


def validate_record(rec: RecordSpec, health_check_ids: AbstractSet[str] | None = None) -> list[str]:
    """The rules one rrset must follow on its own (CREATE and UPSERT)."""
    at = label(rec)
    errors: list[str] = []
    if rec.type not in RR_TYPES:
        errors.append(f"{at}: type {rec.type!r} is not a Route53 record type")
    policies = routing_policies(rec)
    if len(policies) > 1:
        errors.append(f"{at}: exactly one routing policy per rrset, found {' + '.join(policies)}")
    if rec.set_id is not None and not 1 <= len(rec.set_id) <= MAX_SET_ID:
        errors.append(f"{at}: SetIdentifier must be 1..{MAX_SET_ID} characters, is {len(rec.set_id)}")
    if policies and rec.set_id is None:
        errors.append(f"{at}: SetIdentifier is required with a {policies[0]} routing policy")
    if not policies and rec.set_id is not None:
        errors.append(f"{at}: SetIdentifier without a routing policy")
    if rec.weight is not None and not 0 <= rec.weight <= MAX_WEIGHT:
        errors.append(f"{at}: Weight {rec.weight} is outside 0..{MAX_WEIGHT}")
    if rec.failover is not None and rec.failover not in ("PRIMARY", "SECONDARY"):
        errors.append(f"{at}: Failover must be PRIMARY or SECONDARY, is {rec.failover!r}")
    if rec.geo is not None:
        errors.extend(f"{at}: {e}" for e in _geo_errors(rec.geo))
    if rec.cidr is not None and not re.fullmatch(r"[0-9A-Za-z_\-]{1,16}|\*", rec.cidr[1]):
        errors.append(f"{at}: CIDR location {rec.cidr[1]!r} must be 1..16 of [0-9A-Za-z_-], or '*'")
    if rec.region is not None and rec.region not in AWS_REGIONS:
        errors.append(f"{at}: latency Region {rec.region!r} is not an AWS region")
    if rec.alias is not None:
        if rec.ttl is not None:
            errors.append(f"{at}: an alias takes no TTL (it uses the target's)")
        if rec.values:
            errors.append(f"{at}: an alias takes no ResourceRecords")
        if rec.multivalue:
            errors.append(f"{at}: a multivalue answer record cannot be an alias")
        if rec.alias_zone is not None:
            if rec.type not in ("A", "AAAA"):
                errors.append(f"{at}: an alias to a load balancer is of type A or AAAA, not {rec.type}")
            elb = elb_target(rec.alias)
            if elb is None or elb.zone_id != rec.alias_zone:
                errors.append(f"{at}: alias zone {rec.alias_zone} is not Elastic Load Balancing's zone for "
                              f"{rec.alias} ({elb.zone_id if elb else 'not a load balancer name gtm knows'})")
    else:
        if rec.evaluate_target_health:
            errors.append(f"{at}: EvaluateTargetHealth applies only to an alias")
        if rec.ttl is None:
            errors.append(f"{at}: a non-alias record needs a TTL")
        elif not 0 <= rec.ttl <= MAX_TTL:
            errors.append(f"{at}: TTL {rec.ttl} is outside 0..{MAX_TTL}")
        if not rec.values:
            errors.append(f"{at}: a non-alias record needs at least one value")
        elif len(rec.values) > MAX_VALUES:
            errors.append(f"{at}: {len(rec.values)} values exceed Route53's {MAX_VALUES} per record")
        errors.extend(f"{at}: {e}" for e in _value_errors(rec.type, rec.values))
    if health_check_ids is not None and rec.health_check is not None and rec.health_check not in health_check_ids:
        errors.append(f"{at}: HealthCheckId {rec.health_check!r} does not exist")
    return errors


def _geo_errors(geo: tuple[str, ...]) -> list[str]:
    kind = geo[0] if geo else ""
    if kind == "default" and len(geo) == 1:
        return []
    if kind == "continent" and len(geo) == 2:
        return [] if geo[1] in CONTINENTS else [f"ContinentCode {geo[1]!r} is not one of {' '.join(sorted(CONTINENTS))}"]
    if kind == "country" and len(geo) == 2:
        ok = geo[1] == "*" or _COUNTRY.fullmatch(geo[1]) is not None
        return [] if ok else [f"CountryCode {geo[1]!r} is not a two-letter code or '*'"]
    if kind == "subdivision" and len(geo) == 3:
        if geo[1] != "US":
            return [f"SubdivisionCode is allowed only with CountryCode US, not {geo[1]!r}"]
        return [] if geo[2] in US_STATES else [f"SubdivisionCode {geo[2]!r} is not a US state code"]
    return [f"GeoLocation {geo!r} is not continent, country, US subdivision or default"]


def _value_errors(rtype: str, values: Sequence[str]) -> list[str]:
    errors = []
    if rtype == "CNAME" and len(values) > 1:
        errors.append(f"a CNAME takes exactly one value, has {len(values)}")
    for value in values:
        if rtype in ("A", "AAAA"):
            try:
                ip = ipaddress.ip_address(value)
            except ValueError:
                ip = None
            if ip is None or ip.version != (4 if rtype == "A" else 6):
                errors.append(f"{value!r} is not an IPv{4 if rtype == 'A' else 6} address")
        elif rtype in ("TXT", "SPF"):
            if _TXT_ALL.fullmatch(value) is None:
                errors.append(f"TXT value {value!r} must be one or more double-quoted strings")
            else:
                for s in _TXT.findall(value):
                    n = len(_ESCAPE.sub("x", s))
                    if n > MAX_TXT_STRING:
                        errors.append(f"TXT string of {n} characters exceeds {MAX_TXT_STRING}")
    return errors


# --------------------------------------------------------------------------------------------- batches


def apply_changes(existing: Mapping[Key, RecordSpec], changes: Iterable[Change]) -> dict[Key, RecordSpec]:
    """The record sets after a batch (no validation: DELETE removes, CREATE and UPSERT set)."""
    state = dict(existing)
    for action, rec in changes:
        if action == "DELETE":
            state.pop(rec.key, None)
        else:
            state[rec.key] = rec
    return state


def validate_batch(changes: Sequence[Change], existing: Mapping[Key, RecordSpec],
                   health_check_ids: AbstractSet[str] | None = None) -> list[str]:
    """Every reason Route53 would reject ``changes`` applied to ``existing`` (keyed by RecordSpec.key)."""
    errors: list[str] = []
    if not changes:
        return ["change batch: at least one change is required"]
    elements = chars = 0
    seen: set[Key] = set()
    running = dict(existing)          # CREATE and DELETE are checked against the changes before them
    # rrsets per (name, type) as the batch goes: Route53 applies a batch in order, so a CNAME may not be
    # written while another type is still at its name, nor another type while a CNAME is
    present: Counter[tuple[str, str]] = Counter((r.name, r.type) for r in existing.values())
    types_at: dict[str, set[str]] = {}
    for name, rtype in present:
        types_at.setdefault(name, set()).add(rtype)
    in_order: dict[str, str] = {}     # (reported when the batch's end state is right at that name)
    for action, rec in changes:
        at = label(rec)
        if action not in ACTIONS:
            errors.append(f"{at}: action {action!r} is not CREATE, DELETE or UPSERT")
            continue
        factor = 2 if action == "UPSERT" else 1
        elements += factor * (1 if rec.alias is not None else len(rec.values))
        chars += factor * sum(len(v) for v in rec.values)
        twice = rec.key in seen
        if twice:
            errors.append(f"{at}: the same rrset appears more than once in one batch")
        seen.add(rec.key)
        current = None if twice else running.get(rec.key)
        if action != "DELETE":
            others = types_at.get(rec.name, set()) - {rec.type}
            clash = others if rec.type == "CNAME" else others & {"CNAME"}
            if clash:
                in_order.setdefault(rec.name, f"{at}: written while {', '.join(sorted(clash))} is still at "
                                              f"{rec.name} (a CNAME shares its name with nothing: delete first, "
                                              "earlier in the batch)")
        if action == "DELETE":
            if running.pop(rec.key, None) is not None:
                present[(rec.name, rec.type)] -= 1
                if not present[(rec.name, rec.type)]:
                    types_at.get(rec.name, set()).discard(rec.type)
        else:
            if rec.key not in running:
                present[(rec.name, rec.type)] += 1
                types_at.setdefault(rec.name, set()).add(rec.type)
            running[rec.key] = rec
        if action == "CREATE" and current is not None:
            errors.append(f"{at}: CREATE of an rrset that already exists")
        if action == "DELETE":
            if twice:
                pass
            elif current is None:
                errors.append(f"{at}: DELETE of an rrset that does not exist")
            elif current != rec:
                errors.append(f"{at}: DELETE must match the existing rrset exactly "
                              f"({', '.join(_differences(current, rec))} differ)")
        else:
            errors.extend(validate_record(rec, health_check_ids))
    if elements > MAX_RR_ELEMENTS:
        errors.append(f"change batch: {elements} ResourceRecord elements exceed {MAX_RR_ELEMENTS} "
                      "(UPSERT counts twice)")
    if chars > MAX_VALUE_CHARS:
        errors.append(f"change batch: {chars} characters of Value exceed {MAX_VALUE_CHARS} (UPSERT counts twice)")

    state = running
    written = [r for a, r in changes if a in ("CREATE", "UPSERT")]
    touched = {(r.name, r.type) for _, r in changes}
    errors.extend(_state_errors(state, touched, written))
    errors.extend(msg for name, msg in in_order.items()
                  if not ("CNAME" in types_at.get(name, set()) and len(types_at[name]) > 1))
    return errors


def validate_state(records: Iterable[RecordSpec], health_check_ids: AbstractSet[str] | None = None) -> list[str]:
    """The rules for a whole set of rrsets (e.g. a zone created from nothing), without batch-size limits."""
    state: dict[Key, RecordSpec] = {}
    errors: list[str] = []
    for rec in records:
        if rec.key in state:
            errors.append(f"{label(rec)}: defined more than once")
        state[rec.key] = rec
        errors.extend(validate_record(rec, health_check_ids))
    errors.extend(_state_errors(state, {(r.name, r.type) for r in state.values()}, list(state.values())))
    return errors


def validate_desired(desired: Desired, *, allow_private_ip: bool = False) -> list[str]:
    """Everything in one :class:`Desired`: its health checks and its records (health checks by key)."""
    return (validate_health_checks(desired.health_checks, allow_private_ip=allow_private_ip)
            + validate_state(desired.records, {c.key for c in desired.health_checks}))


def _differences(a: RecordSpec, b: RecordSpec) -> list[str]:
    return [f.name for f in dataclasses.fields(a) if getattr(a, f.name) != getattr(b, f.name)]


def _state_errors(state: Mapping[Key, RecordSpec], touched: set[tuple[str, str]],
                  written: Sequence[RecordSpec]) -> list[str]:
    groups: dict[tuple[str, str], list[RecordSpec]] = {}
    types_at: dict[str, set[str]] = {}
    for rec in state.values():
        groups.setdefault((rec.name, rec.type), []).append(rec)
        types_at.setdefault(rec.name, set()).add(rec.type)
    errors: list[str] = []

    for key in sorted(touched):
        group = groups.get(key, [])
        if group:
            errors.extend(_group_errors(key, group))
    for name in sorted({n for n, _ in touched}):
        types = types_at.get(name, set())
        if "CNAME" in types and len(types) > 1:
            others = ", ".join(sorted(types - {"CNAME"}))
            errors.append(f"{name}: a CNAME cannot coexist with other types at the same name ({others})")

    # aliases: written ones, and every alias whose target group this batch touched
    aliases = {r.key: r for r in written if r.alias is not None}
    for rec in state.values():
        if rec.alias is not None and (rec.alias, rec.type) in touched:
            aliases.setdefault(rec.key, rec)
    for rkey in sorted(aliases):
        rec = aliases[rkey]
        if rec.key in state and state[rec.key] == rec and rec.alias_zone is None and (rec.alias, rec.type) not in groups:
            errors.append(f"{label(rec)}: alias target {rec.alias} {rec.type} does not exist in the zone")
    errors.extend(_alias_loops(groups, touched))
    return errors


def _group_errors(key: tuple[str, str], group: list[RecordSpec]) -> list[str]:
    errors = []
    at = _group_label(key)
    kinds: dict[str, int] = {}
    for rec in group:
        pols = routing_policies(rec)
        if len(pols) <= 1:   # more than one is reported per record
            kind = pols[0] if pols else "simple"
            kinds[kind] = kinds.get(kind, 0) + 1
    if "simple" in kinds and len(group) > 1:
        errors.append(f"{at}: a simple rrset cannot coexist with routed rrsets of the same name and type")
    routed = sorted(k for k in kinds if k != "simple")
    if len(routed) > 1:
        errors.append(f"{at}: mixes routing policies {', '.join(routed)} (one policy per name and type)")
    for kind in set(routed) - {"failover"}:
        if kinds[kind] > MAX_GROUP:
            errors.append(f"{at}: {kinds[kind]} {kind} rrsets exceed Route53's {MAX_GROUP} per name and type")
    for role in ("PRIMARY", "SECONDARY"):
        ids = [r.set_id or "" for r in group if r.failover == role]
        if len(ids) > 1:
            errors.append(f"{at}: more than one failover {role} ({', '.join(sorted(ids))})")
    errors.extend(_duplicates(at, "latency Region", [(r.region, r) for r in group if r.region is not None]))
    errors.extend(_duplicates(at, "geolocation", [(geo_location(r.geo), r) for r in group if r.geo is not None]))
    errors.extend(_duplicates(at, "CIDR location", [(r.cidr[1], r) for r in group if r.cidr is not None]))
    collections = sorted({r.cidr[0] for r in group if r.cidr is not None})
    if len(collections) > 1:
        errors.append(f"{at}: IP-based records name {len(collections)} CIDR collections ({', '.join(collections)}); "
                      "Route53 allows one per name and type")
    return errors


def _duplicates(at: str, what: str, items: list[tuple[str, RecordSpec]]) -> list[str]:
    by: dict[str, list[str]] = {}
    for value, rec in items:
        by.setdefault(value, []).append(rec.set_id or "")
    return [f"{at}: more than one rrset for {what} {value} ({', '.join(sorted(ids))})"
            for value, ids in sorted(by.items()) if len(ids) > 1]


def _alias_loops(groups: Mapping[tuple[str, str], list[RecordSpec]], touched: set[tuple[str, str]]) -> list[str]:
    edges = {key: sorted({(r.alias, r.type) for r in recs if r.alias is not None and r.alias_zone is None})
             for key, recs in groups.items()}
    errors: list[str] = []
    done: set[tuple[str, str]] = set()
    reported: set[frozenset[tuple[str, str]]] = set()

    def walk(key: tuple[str, str], path: list[tuple[str, str]]) -> None:
        if key in path:
            cycle = path[path.index(key):]
            if frozenset(cycle) not in reported:
                reported.add(frozenset(cycle))
                errors.append("alias loop: " + " -> ".join(_group_label(k) for k in [*cycle, key]))
            return
        if key in done:
            return
        path.append(key)
        for nxt in edges.get(key, []):
            walk(nxt, path)
        path.pop()
        done.add(key)

    for key in sorted(touched):
        walk(key, [])
    return errors


# --------------------------------------------------------------------------------------------- health checks


def validate_health_check(spec: HealthCheckSpec, *, allow_private_ip: bool = False) -> list[str]:
    """The rules for one health check. Route53 cannot check IP addresses in local, private, reserved,
    documentation or multicast ranges; ``allow_private_ip`` waives that rule for test fixtures."""
    at = f"health check {spec.key}"
    errors: list[str] = []
    if spec.type not in HEALTH_CHECK_TYPES:
        errors.append(f"{at}: type {spec.type!r} is not one of {', '.join(sorted(HEALTH_CHECK_TYPES))}")
    if spec.request_interval not in (10, 30):
        errors.append(f"{at}: RequestInterval must be 10 or 30, is {spec.request_interval}")
    if not 1 <= spec.failure_threshold <= 10:
        errors.append(f"{at}: FailureThreshold {spec.failure_threshold} is outside 1..10")
    if spec.regions:
        if len(spec.regions) < 3:
            errors.append(f"{at}: Regions needs at least 3 checker regions, has {len(spec.regions)}")
        bad = [r for r in spec.regions if r not in CHECKER_REGIONS]
        if bad:
            errors.append(f"{at}: Regions {', '.join(bad)} are not health-checker regions")
        if len(set(spec.regions)) != len(spec.regions):
            errors.append(f"{at}: Regions lists a region twice")
    if spec.calculated:
        given = [f for f in ("ip", "port", "fqdn", "path", "search") if getattr(spec, f) is not None]
        if given:
            errors.append(f"{at}: a CALCULATED check takes no {', '.join(given)}")
        if spec.regions:
            errors.append(f"{at}: a CALCULATED check takes no Regions")
        if len(spec.children) > MAX_CHILDREN:
            errors.append(f"{at}: {len(spec.children)} child health checks exceed {MAX_CHILDREN}")
        if len(set(spec.children)) != len(spec.children):
            errors.append(f"{at}: a child health check is listed twice")
        if spec.key in spec.children:
            errors.append(f"{at}: a CALCULATED check cannot be its own child")
        if not 0 <= spec.health_threshold <= MAX_HEALTH_THRESHOLD:
            errors.append(f"{at}: HealthThreshold {spec.health_threshold} is outside 0..{MAX_HEALTH_THRESHOLD}")
    else:
        if spec.children:
            errors.append(f"{at}: only a CALCULATED check has child health checks")
        if spec.ip is None and not spec.fqdn:
            errors.append(f"{at}: an endpoint check needs an IPAddress or a FullyQualifiedDomainName")
        elif spec.ip is not None:
            errors.extend(f"{at}: {e}" for e in _ip_errors(spec.ip, allow_private_ip))
        if spec.port is None:
            errors.append(f"{at}: an endpoint check needs a Port")
        elif not 1 <= spec.port <= 65535:
            errors.append(f"{at}: Port {spec.port} is outside 1..65535")
    if spec.type.endswith("_STR_MATCH"):
        if not spec.search:
            errors.append(f"{at}: {spec.type} needs a SearchString")
        elif len(spec.search) > MAX_SEARCH:
            errors.append(f"{at}: SearchString of {len(spec.search)} characters exceeds {MAX_SEARCH}")
    elif spec.search is not None and not spec.calculated:
        errors.append(f"{at}: SearchString applies only to HTTP_STR_MATCH and HTTPS_STR_MATCH")
    if spec.path is not None and len(spec.path) > MAX_PATH:
        errors.append(f"{at}: ResourcePath of {len(spec.path)} characters exceeds {MAX_PATH}")
    if spec.fqdn is not None and len(spec.fqdn) > MAX_FQDN:
        errors.append(f"{at}: FullyQualifiedDomainName of {len(spec.fqdn)} characters exceeds {MAX_FQDN}")
    return errors


def checkable_ip(ip: str) -> bool:
    """Whether Route53's checkers may be pointed at ``ip``: a globally routable unicast address."""
    addr = ipaddress.ip_address(ip)
    return addr.is_global and not addr.is_multicast


def _ip_errors(ip: str, allow_private: bool) -> list[str]:
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        return [f"IPAddress {ip!r} is not an IP address"]
    if not allow_private and not checkable_ip(ip):
        return [f"IPAddress {ip} is in a local, private, reserved or multicast range that Route53 cannot check"]
    return []


def validate_health_checks(specs: Sequence[HealthCheckSpec], existing_keys: AbstractSet[str] = frozenset(), *,
                           allow_private_ip: bool = False) -> list[str]:
    """Each check, plus the rules between them: unique keys, every child exists (among ``specs`` or
    ``existing_keys``), no cycle through CALCULATED children."""
    errors: list[str] = []
    by_key: dict[str, HealthCheckSpec] = {}
    for spec in specs:
        if spec.key in by_key:
            errors.append(f"health check {spec.key}: defined more than once")
        by_key[spec.key] = spec
        errors.extend(validate_health_check(spec, allow_private_ip=allow_private_ip))
    known = set(by_key) | set(existing_keys)
    for spec in specs:
        for child in spec.children:
            if child not in known:
                errors.append(f"health check {spec.key}: child health check {child!r} does not exist")
    done: set[str] = set()

    def walk(key: str, path: list[str]) -> None:
        if key in path:
            if key != path[-1]:  # self-children are reported per check
                errors.append("health check cycle: " + " -> ".join([*path[path.index(key):], key]))
            return
        if key in done or key not in by_key:
            return
        path.append(key)
        for child in by_key[key].children:
            walk(child, path)
        path.pop()
        done.add(key)

    for key in by_key:
        walk(key, [])
    return errors
