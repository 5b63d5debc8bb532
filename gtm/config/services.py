"""``services``: managed names, their regions, monitor, answers, fail mode, demand and policy (each policy parses
its own keys: ``gtm.steering.POLICIES``)."""
from __future__ import annotations

import logging


from gtm.config.checks import Ctx, join, show
from gtm.config.common import Shared, choices_message, named_entries, read_domain, unknown_message
from gtm.config.policies import PolicyReader, ref as name_of
from gtm.config.shared import read_on_resolve_failure
from gtm.config.yamlsrc import LMap
from gtm.config.zonebuild import RecordIn
from gtm.model import (
    A, AAAA, CNAME, NS, TYPE_NAMES, Demand, FailMode, FailoverPolicy, Policy, Service, is_subdomain,
)
from gtm.steering import POLICIES


log = logging.getLogger(__name__)

SERVICE_KEYS = {"names", "ttl", "regions", "policy", "monitor", "answers", "affinity", "fail_mode", "fallback",
                "ecs_scope", "demand", "route53", "answer_as", "on_resolve_failure"}
ANSWER_FORMS = ["addresses", "cname"]


MAX_ANSWERS = 64  # addresses per family in one multi-value answer


POLICY_NAMES = list(POLICIES)


POLICY_KEYS = {name: set(k.keys) | set(k.ignored) | {"type"} for name, k in POLICIES.items()}


SERVICE_MAX_TTL = 86400


def read_demand(ctx: Ctx, m: LMap, path: str) -> Demand | None:
    """A service's ``demand:``: ``latency_ms`` and either ``rps`` or ``per_query``."""
    if m.get("demand") is None:
        return None
    dp = join(path, "demand")
    dm = ctx.mapping(m["demand"], dp, m.value_line("demand"))
    if dm is None:
        return None
    ctx.keys(dm, dp, {"rps", "per_query", "latency_ms"}, ("latency_ms",))
    latency = ctx.number(dm, "latency_ms", dp, None, 0.001, 3_600_000)
    rps = ctx.number(dm, "rps", dp, None, 0, 1e12)
    per_query = ctx.number(dm, "per_query", dp, None, 0, 1e9)
    given = [k for k in ("rps", "per_query") if dm.get(k) is not None]
    if len(given) != 1:
        ctx.err(dm.line, dp, "needs exactly one of rps (requests/s) or per_query (requests per DNS query)")
        return None
    return Demand(latency, rps, per_query) if latency is not None else None


# -- services -------------------------------------------------------------------------------------------------
def read_services(ctx: Ctx, doc: LMap, origin: str, records: list[RecordIn], shared: Shared,
              service_names: dict[str, str]) -> tuple[Service, ...]:
    out = []
    static: dict[str, set[int]] = {}
    for r in records:
        static.setdefault(r.name, set()).add(r.rtype)
    cuts = sorted({r.name for r in records if r.rtype == NS and r.name != origin})
    for key, m, line, path in named_entries(ctx, doc, "services"):
        start = len(ctx.problems)
        if "/" in key:  # zone/key names a service where keys repeat across zones
            ctx.err(line, path, f"a service key cannot contain '/' (got {show(key)})")
        ctx.keys(m, path, SERVICE_KEYS, ("regions",))
        names = []
        raw_names = ctx.seq(m, "names", path)
        if isinstance(m.get("names"), list) and not raw_names:
            ctx.err(m.value_line("names"), join(path, "names"), "needs at least one name")
        elif "names" not in m or m["names"] is None:
            raw_names = [(key, line, path)]
        for item, nline, npath in raw_names:
            name = read_domain(ctx, item, nline, npath, origin)
            if name is None:
                continue
            clash = sorted(t for t, n in (("A", A), ("AAAA", AAAA), ("CNAME", CNAME)) if n in static.get(name, ()))
            cut = next((c for c in cuts if is_subdomain(name, c)), None)
            if not is_subdomain(name, origin):
                ctx.err(nline, npath, f"is outside zone {origin} (got {show(name)})")
            elif service_names.get(name) == key:
                ctx.err(nline, npath, f"is listed twice (got {show(name)})")
            elif name in service_names:
                ctx.err(nline, npath, f"is already managed by service {service_names[name]} (got {show(name)})")
            elif clash:
                ctx.err(nline, npath, f"a managed name cannot also have static {', '.join(clash)} records "
                                      f"(got {show(name)})")
            elif cut is not None:
                ctx.err(nline, npath, f"lies in the delegated subzone {cut} (got {show(name)})")
            else:
                service_names[name] = key
                names.append(name)
        ttl = ctx.integer(m, "ttl", path, 30, 0, SERVICE_MAX_TTL)
        cands: list[str] = []
        items = ctx.seq(m, "regions", path)
        broken = False
        for item, rline, rpath in items:
            ref = name_of(item)
            if ref is not None and ("regions", ref) in shared.broken:
                broken = True  # its own problems are reported; the policy may still name it
                cands.append(ref)
            elif ref is None or ref not in shared.regions:
                ctx.err(rline, rpath, unknown_message("region", item, list(shared.regions)))
            elif ref in cands:
                ctx.err(rline, rpath, f"region is listed twice (got {show(item)})")
            else:
                cands.append(ref)
        if "regions" in m and not items and isinstance(m["regions"], (list, type(None))):
            ctx.err(m.value_line("regions"), join(path, "regions"), "needs at least one region")
        monitor = None
        if m.get("monitor") is not None:
            monitor = name_of(m["monitor"])
            if monitor is None or (monitor not in shared.monitors and ("monitors", monitor) not in shared.broken):
                ctx.err(m.value_line("monitor"), join(path, "monitor"),
                        unknown_message("monitor", m["monitor"], list(shared.monitors)))
        answers = ctx.integer(m, "answers", path, None, 1, MAX_ANSWERS)
        affinity = ctx.choice(m, "affinity", path, ["hash", "none"], "none") == "hash"
        modes = [x.value for x in FailMode]
        fail_mode = ctx.choice(m, "fail_mode", path, modes, FailMode.FAIL_OPEN.value)
        fallback = [a for item, fline, fpath in ctx.seq(m, "fallback", path)
                    if (a := ctx.address(item, fline, fpath)) is not None]
        if fail_mode == FailMode.STATIC.value and m.get("fallback") is None:
            ctx.err(m.value_line("fail_mode"), join(path, "fallback"), "is required when fail_mode is static")
        elif fail_mode == FailMode.STATIC.value and isinstance(m["fallback"], list) and not m["fallback"]:
            ctx.err(m.value_line("fallback"), join(path, "fallback"), "needs at least one address")
        elif m.get("fallback") is not None and fail_mode != FailMode.STATIC.value \
                and m.get("fail_mode") in (None, *modes):  # not when fail_mode itself is wrong
            ctx.err(m.value_line("fallback"), join(path, "fallback"),
                    f"is only used with fail_mode: static (got fail_mode: {fail_mode})")
        scope4, scope6 = 24, 56
        if m.get("ecs_scope") is not None:
            sp = join(path, "ecs_scope")
            sm = ctx.mapping(m["ecs_scope"], sp, m.value_line("ecs_scope"))
            if sm is not None:
                ctx.keys(sm, sp, {"v4", "v6"})
                scope4 = ctx.integer(sm, "v4", sp, 24, 0, 32)
                scope6 = ctx.integer(sm, "v6", sp, 56, 0, 128)
        demand = read_demand(ctx, m, path)
        route53_checks = True
        if m.get("route53") is not None:
            rp = join(path, "route53")
            rm = ctx.mapping(m["route53"], rp, m.value_line("route53"))
            if rm is not None:
                ctx.keys(rm, rp, {"health_checks"})
                route53_checks = ctx.get(rm, "health_checks", rp, bool, True, "true or false")
        policy = read_policy(ctx, m, path, cands, shared)
        answer_as = ctx.choice(m, "answer_as", path, ANSWER_FORMS, "addresses")
        if answer_as == "cname":
            check_cname_service(ctx, m, path, names, origin, static, cands, shared, answers)
        failure = read_on_resolve_failure(ctx, m, path)
        if failure is not None and not any(shared.regions[r].hostnames for r in cands if r in shared.regions):
            ctx.err(m.value_line("on_resolve_failure"), join(path, "on_resolve_failure"),
                    "is only used by a service with hostname endpoints in its regions")
        if len(ctx.problems) == start and not broken and names and cands and policy is not None:
            out.append(Service(key, origin, tuple(names), ttl, tuple(cands), policy, monitor, answers,
                               bool(affinity), FailMode(fail_mode), tuple(fallback), scope4, scope6, demand,
                               route53_checks, answer_as or "addresses", failure))
    return tuple(out)


def check_cname_service(ctx: Ctx, m: LMap, path: str, names: list[str], origin: str, static: dict[str, set[int]],
                        cands: list[str], shared: Shared, answers: int | None) -> None:
    """``answer_as: cname``: a CNAME owner has no other data (RFC 1034 section 3.6.2, RFC 2181 section 10.1),
    so not the apex (SOA, NS) nor a name with static records; it answers one load balancer, so no multi-value;
    and every region needs a hostname endpoint to name."""
    line, p = m.value_line("answer_as"), join(path, "answer_as")
    for name in names:
        others = sorted(TYPE_NAMES.get(t, str(t)) for t in static.get(name, ()))
        if name == origin:
            ctx.err(line, p, f"cname: {name} is the zone apex, which has SOA and NS records; a CNAME cannot be "
                             "there (answer_as: addresses is the only form at an apex)")
        elif others:
            ctx.err(line, p, f"cname: {name} also has static {', '.join(others)} records; a CNAME owner can have "
                             "no other data (RFC 1034 section 3.6.2)")
    if answers is not None and answers > 1:
        ctx.err(m.value_line("answers"), join(path, "answers"),
                f"must be 1 (or unset) with answer_as: cname: a CNAME answer names one load balancer (got {answers})")
    lacking = [r for r in cands if r in shared.regions and not shared.regions[r].hostnames]
    if lacking:
        ctx.err(line, p, f"cname: region{'s' if len(lacking) > 1 else ''} {', '.join(lacking)} "
                         f"{'have' if len(lacking) > 1 else 'has'} no hostname endpoint to answer with")


def read_policy(ctx: Ctx, m: LMap, path: str, cands: list[str], shared: Shared) -> Policy | None:
    p = join(path, "policy")
    raw = m.get("policy")
    if raw is None:
        return FailoverPolicy()
    if isinstance(raw, LMap):
        pm = raw
        kind = ctx.choice(pm, "type", p, POLICY_NAMES)
    elif isinstance(raw, str):
        pm = LMap()
        pm.line, pm.key_lines, pm.value_lines = m.value_line("policy"), {}, {}
        kind = raw if raw in POLICIES else None
        if kind is None:
            ctx.err(m.value_line("policy"), p, choices_message(raw, POLICY_NAMES))
    else:
        ctx.err(m.value_line("policy"), p,
                f"must be a policy name ({', '.join(POLICY_NAMES)}) or a mapping with its type (got {show(raw)})")
        return None
    # With an unknown type, no key is reported as unknown: the type's problem says what to fix.
    ctx.keys(pm, p, POLICY_KEYS[kind] if kind else set().union(*POLICY_KEYS.values()))
    if kind is None:
        return None
    for key, why in POLICIES[kind].ignored.items():
        if key in pm:  # an old config keeps loading (a node must not fail to start over it); it is told
            log.warning("%s:%d: %s: %s", ctx.file, pm.key_line(key), join(p, key), why)
    return POLICIES[kind].parse(PolicyReader(ctx, pm, p, tuple(cands), bool(shared.vantages), bool(shared.geoip.asn)))
