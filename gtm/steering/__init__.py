"""Steering: which regional load balancers a managed name answers for a client (pure: no IO, no clock).

Two steps, both pure functions of plain values:

1. :func:`rank` — the policy (one module each, listed in :data:`POLICIES`) orders the service's candidate
   regions for this client and says how widely that holds (the ECS scope).
2. :func:`choose` — health removes what is down, the multi-value rule picks the addresses, and when every
   candidate is down the service's fail mode decides.

:func:`decide` is both, and the one source of truth: the DNS answer tables are its memoised output (compiled
per ranking), ``gtm explain`` prints its trail, and tests assert that the tables and ``decide`` agree.
"""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, NamedTuple

from gtm.model import Config, FailMode, Region, Service
from gtm.model.effective import ALL_UP, Effective, View  # noqa: F401  (ALL_UP re-exported)
from gtm.steering import failover, geo, latency, proximity, weighted
from gtm.steering.context import Context, PolicyInput, PolicyKind
from gtm.steering.types import Client, Decision, Ranking

if TYPE_CHECKING:  # randomness comes in as an argument; steering never draws from a global source
    import random

__all__ = ["ALL_UP", "Client", "Context", "Decision", "PolicyInput", "PolicyKind", "Ranking", "POLICIES", "rank",
           "choose", "decide", "answering_health", "healthy_regions", "regions_up"]

# The one policy registry: name -> its config keys, parser, select and summary. The config loader, the docs'
# table (checked by a test), explain and the Route53 mirror (its mapping per policy, checked by a test) go by it.
POLICIES: dict[str, PolicyKind] = {k.name: k for k in (failover.KIND, weighted.KIND, geo.KIND, proximity.KIND,
                                                       latency.KIND)}


def rank(service: Service, client: Client, ctx: Context) -> Ranking:
    """The policy's ordering of every candidate region for ``client``."""
    try:
        select = POLICIES[service.policy.kind].select
    except KeyError:
        raise ValueError(f"unknown policy {service.policy.kind!r}; known: {', '.join(POLICIES)}") from None
    return select(service, client, ctx)


class Target(NamedTuple):
    """One address a region may answer: an address endpoint's, or one of a hostname endpoint's resolved
    addresses (``endpoint`` is the endpoint's key: the address, or the hostname)."""

    address: str
    family: int
    weight: int
    endpoint: str


def _usable(region: Region, health: View | None) -> list[Target]:
    """Addresses of ``region`` that may be answered: of endpoints up, and of weight > 0 unless only weight-0
    ones of that family are up. Per family, like A and AAAA everywhere else (and like Route53, where weight 0 is
    per record set): an up IPv6 endpoint must not hide the weight-0 IPv4 stand-in when the region's weighted
    IPv4 ones are down (the A answer would spill to another region while the region can serve it). A hostname
    endpoint gives the addresses its name resolves to (``View.addresses``), none while it does not resolve."""
    if health is None:
        if region.hostnames:
            return []  # (no health, no names: only a fail mode's "no region answers" gets here)
        up = region.endpoints
    elif health.region_out(region.name):
        return []
    elif not health.touches(region.name):
        up = region.endpoints  # the common case, without formatting every address (slow for IPv6)
    else:
        up = tuple(e for e in region.endpoints if health.endpoint_up(region.name, e.key))
    out: list[Target] = []
    for family in (4, 6):
        same: list[Target] = []
        for e in up:
            if e.hostname is None:
                if e.address is not None and e.address.version == family:
                    same.append(Target(str(e.address), family, e.weight, str(e.address)))
            elif health is not None:  # (probe: addresses: each address has its own verdict, HOSTNAME/ADDRESS)
                same += [Target(a, family, e.weight, e.hostname) for a in health.addresses(e.hostname, family)
                         if not health.touches(region.name) or health.endpoint_up(region.name, f"{e.hostname}/{a}")]
        out += [t for t in same if t.weight > 0] or same
    return out


def healthy_regions(service: Service, config: Config, health: Effective) -> list[str]:
    """Candidate regions with at least one endpoint up, in configured order."""
    return regions_up(service, config, health.for_service(service.ref))


def regions_up(service: Service, config: Config, view: View) -> list[str]:
    """Candidate regions with at least one endpoint up in ``view``, in configured order."""
    return [r for r in service.regions if _usable(config.regions[r], view)]


Lead = dict[tuple[str, int], str]  # (region, IP version) -> the address to put first


def _pick(order: tuple[str, ...], service: Service, config: Config, health: View | None,
          lead: Lead | None = None) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Addresses per family: every usable address of the first region that has one of that family, or with
    ``answers: N`` up to N, spilling over to the next regions. Within a region heavier endpoints come first,
    after the ``lead`` address when one is named."""
    out: dict[int, list[str]] = {4: [], 6: []}
    used: list[str] = []
    for family in (4, 6):
        for name in order:
            eps = endpoints_of(config.regions[name], family, health)
            if not eps:
                continue
            first = (lead or {}).get((name, family))
            if first is not None:
                eps.sort(key=lambda t: t.address != first)
            room = len(eps) if service.answers is None else service.answers - len(out[family])
            out[family] += [t.address for t in eps[:room]]
            if name not in used:
                used.append(name)
            if service.answers is None or len(out[family]) >= service.answers:
                break
    return tuple(out[4]), tuple(out[6]), tuple(r for r in order if r in used)  # in ranking order


def endpoints_of(region: Region, family: int, health: View | None) -> list[Target]:
    """Usable addresses of one family, heaviest first (equal weights keep the configured order)."""
    return sorted((t for t in _usable(region, health) if t.family == family), key=lambda t: -t.weight)


def cname_of(region: Region, health: View | None) -> str | None:
    """The hostname a ``answer_as: cname`` service answers for ``region``: its first hostname endpoint (the
    heaviest, then in configured order) that is up and whose name may be answered; None when there is none."""
    if health is None or health.region_out(region.name):
        return None
    hosts = sorted((e for e in region.endpoints if e.hostname is not None and e.weight > 0), key=lambda e: -e.weight) \
        or [e for e in region.endpoints if e.hostname is not None]
    for e in hosts:
        assert e.hostname is not None
        if (not health.touches(region.name) or health.endpoint_up(region.name, e.hostname)) and (
                health.assumed or health.names.get(e.hostname).usable(e.hostname in health.keep)):
            return e.hostname
    return None


def draws_endpoints(service: Service, region: Region, health: View | None) -> bool:
    """Whether the weighted draw also picks the lead address: only when ``answers`` leaves some out."""
    return service.answers is not None and any(
        len(endpoints_of(region, f, health)) > service.answers for f in (4, 6))


def answering_health(service: Service, ranking: Ranking, config: Config, effective: Effective) -> View | None:
    """The health the answer is chosen under: ``health`` itself while a ranked region is up; when every one is
    down, the fail mode's: the health from before the outage (``last_known_good``, when a ranked region was up
    in it), every endpoint up (``fail_open``, and ``last_known_good`` without such a state), or None
    (``fail_closed`` and ``static``: no region answers). Drained regions and endpoints stay out of the fail
    mode's health too, unless every candidate is drained.

    The weighted draw happens under this health, so the answer tables build their weighted rotation from it
    too: a ``last_known_good`` or ``fail_open`` answer of a weighted service is drawn by weight like any other.
    """
    health = effective.for_service(service.ref)
    if any(_usable(config.regions[r], health) for r in ranking.order):
        return health
    mode = service.fail_mode
    if mode is FailMode.FAIL_CLOSED or mode is FailMode.STATIC:
        return None
    # What is drained stays out, whatever the fail mode.
    drained = health.all_up() if health.drained_regions or health.drained_endpoints else health.every_up()
    if mode is FailMode.LAST_KNOWN_GOOD:
        before = effective.last_good(service.ref)
        if before is not None:
            # (remembered verdicts, today's drains and today's addresses of the hostnames)
            if health.drained_regions or health.drained_endpoints:
                before = replace(before, drained_regions=drained.drained_regions,
                                 drained_endpoints=drained.drained_endpoints)
            before = before.with_names_of(health)
            if any(_usable(config.regions[r], before) for r in ranking.order):
                return before
    # Every candidate drained too (guardrails refuse that without --force): never answer nothing.
    return drained if any(_usable(config.regions[r], drained) for r in ranking.order) else health.every_up()


def choose(service: Service, ranking: Ranking, config: Config, effective: Effective,
           rng: random.Random | None = None, first: str | None = None, lead: Lead | None = None) -> Decision:
    """Apply health, the weighted draw, multi-value and the fail mode to a ranking.

    For a ranking with weights (weighted policy without affinity) the first region is ``first`` when given,
    else drawn with ``rng`` in proportion to the weights of the healthy regions, else the heaviest healthy one;
    when ``answers: N`` leaves endpoints out, the endpoint to lead with is ``lead`` or drawn by endpoint weight.
    When every candidate is down, the same happens under :func:`answering_health` (fail_open: as if every
    candidate were up, so a weighted service still draws by weight).
    """
    health = effective.for_service(service.ref)
    trail = list(ranking.notes)
    down = [r for r in ranking.order if not _usable(config.regions[r], health)]
    if down:
        trail.append("down: " + ", ".join(down))
    answering = answering_health(service, ranking, config, effective)
    if answering is health:
        return _answer(service, ranking, config, health, rng, first, lead, "normal", trail)
    mode = service.fail_mode
    trail.append(f"every candidate is down: {mode.value}")
    if answering is None and mode is FailMode.STATIC:
        fb = service.fallback_addresses
        return Decision(tuple(str(x) for x in fb if x.version == 4), tuple(str(x) for x in fb if x.version == 6),
                        (), ranking, mode.value, tuple(trail))
    if answering is None:  # fail_closed
        return Decision((), (), (), ranking, mode.value, tuple(trail))
    if not answering.assumed:
        trail.append("answered with the health from before the outage")
    else:
        if mode is FailMode.LAST_KNOWN_GOOD:
            trail.append("no earlier healthy state known: answering as fail_open")
        # fail_open: answer as if every candidate were up (what Route53 does when all health checks fail)
        trail.append("answering as if every candidate were up")
    return _answer(service, ranking, config, answering, rng, first, lead, mode.value, trail)


def _answer(service: Service, ranking: Ranking, config: Config, health: View,
            rng: random.Random | None, first: str | None, lead: Lead | None, mode: str,
            trail: list[str]) -> Decision:
    """The addresses under ``health``, in which at least one ranked region is up."""
    up = [r for r in ranking.order if _usable(config.regions[r], health)]
    order = tuple(up)
    if ranking.weights is not None:
        w = {r: wt for r, wt in ranking.weights if r in up and wt > 0}
        if first is None and rng is not None and w:
            first = rng.choices(list(w), weights=list(w.values()))[0]
        if first is not None and first in up:
            order = (first,) + tuple(r for r in order if r != first)
            trail.append(f"weighted draw: {first}")
            region = config.regions[first]
            if lead is None and rng is not None and draws_endpoints(service, region, health):
                lead = {}
                for family in (4, 6):
                    eps = endpoints_of(region, family, health)
                    if eps:
                        pick = rng.choices(eps, weights=[e.weight or 1 for e in eps])[0]
                        lead[(first, family)] = str(pick.address)
            if lead:
                trail.append("weighted draw of the lead endpoint: " + ", ".join(sorted(lead.values())))
    if service.answer_as == "cname":
        for name in order:
            target = cname_of(config.regions[name], health)
            if target is not None:
                trail.append(f"answer: {name} as a CNAME to {target}")
                return Decision((), (), (name,), ranking, mode, tuple(trail), cname=target)
        trail.append("no hostname endpoint up: answering addresses")
    a, aaaa, used = _pick(order, service, config, health, lead)
    trail.append(f"answer: {', '.join(used)}")
    return Decision(a, aaaa, used, ranking, mode, tuple(trail))


def decide(service: Service, client: Client, config: Config, health: Effective,
           rng: random.Random | None = None) -> Decision:
    """The answer of ``service`` for ``client`` given ``health``: :func:`rank`, then :func:`choose`."""
    ranking = rank(service, client, Context(config, health))
    return choose(service, ranking, config, health, rng)
