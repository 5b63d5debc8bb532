"""A Route53 answer simulator on plain values (pure: no boto3, no IO, no global randomness).

moto stores Route53 configuration but evaluates nothing, so this module is the oracle for "what would
Route53 answer": :func:`health_states` turns observed endpoint states into the state of every health check
(CALCULATED, Inverted and Disabled included) and :func:`resolve` walks a record tree for one query.

Semantics (docs/research route53.md sections 5 and 6), and the choices made where Route53 documents
nothing:

* Records of one (name, type) form a group with one routing policy: simple, weighted, failover,
  geolocation, latency or multivalue. A record is healthy when it has no health check and is not an alias
  with EvaluateTargetHealth, or when its check is healthy; an alias with EvaluateTargetHealth is healthy iff
  its target group is healthy, i.e. at least one of the target's *candidate* records is healthy (for a
  geolocation target the candidates are the records that match the client; otherwise every record). A
  record with both a health check and an evaluated alias needs both (choice: the docs do not say).
* Fail open: if every record of a group is unhealthy, all are treated as healthy and the policy applies.
* Failover: PRIMARY if healthy, else SECONDARY if healthy, else PRIMARY whatever its health.
* Weighted: the healthy records with weight > 0; else the healthy weight-0 records; else (fail open) the
  weight > 0 records, or the weight-0 ones if there are none. Weights are normalised; when every candidate
  has weight 0 they are equally likely. The result is every possible answer with its exact probability.
* Geolocation: the most specific matching record (subdivision > country > continent > ``*``). **Choice**:
  an unhealthy match falls to the next less specific match (Route53 documents this only for private
  zones); if every match is unhealthy the most specific match answers (fail open among the matches). No
  match (and no ``*``) gives an empty answer.
* Latency: the healthy record with the lowest latency for the client: the first healthy one in the client's
  ``latency_order`` (AWS regions, lowest latency first: Route53's rule for an unhealthy record is to choose
  again by the same criteria); without an order, the record of ``latency_region`` if healthy, else the first
  healthy record in the order given. Latency is the simulator's input, not something it measures:
  :func:`latency_order` ranks AWS regions by great-circle distance, which stands in for it.
* IP-based (CIDR): the client's address is matched against every block of the collection, longest prefix
  first; the record of that location answers. **Choice**: a client in no location, in a location with no
  record at this name, or whose location's record is unhealthy gets the ``*`` record (Route53 documents the
  first case); without one, the answer is empty. If both are unhealthy the location's record answers.
* Multivalue: the values of up to 8 healthy records (the first 8 in the order given, where Route53 would
  pick 8 at random); if none is healthy, up to 8 unhealthy ones.
* Aliases (same zone, same type) are followed; a loop, or an alias to a name that does not exist, raises
  ValueError. An alias to a load balancer (another hosted zone) answers ``alias:<its name>``, and with
  EvaluateTargetHealth is healthy unless ``health`` says ``target:<its name>`` is False.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from gtm.route53.model import Desired, HealthCheckSpec, RecordSpec

MULTIVALUE_MAX = 8

GroupKey = tuple[str, str]
Dist = dict[tuple[str, ...], Fraction]
RngPick = Callable[[Sequence[float]], int]


# --------------------------------------------------------------------------------------------- health


def health_states(checks: Sequence[HealthCheckSpec], observed: Mapping[str, bool]) -> dict[str, bool]:
    """The health of every check, as Route53 would report it.

    Non-CALCULATED checks take ``observed[key]`` (healthy when absent). A CALCULATED check is healthy when
    at least ``health_threshold`` of its children are healthy (0: always healthy; more than the children:
    never), children being evaluated first (they may be CALCULATED themselves). Then ``inverted`` flips the
    result, ``disabled`` forces healthy and ``disabled`` + ``inverted`` forces unhealthy.

    Raises ValueError on a duplicate key, an unknown child, a cycle, or an observation for a key that is
    unknown or CALCULATED (its state is computed, not observed).
    """
    by_key: dict[str, HealthCheckSpec] = {}
    for check in checks:
        if check.key in by_key:
            raise ValueError(f"health check {check.key!r} is defined twice")
        by_key[check.key] = check
    for key in observed:
        if key not in by_key:
            raise ValueError(f"observed state for unknown health check {key!r}")
        if by_key[key].calculated:
            raise ValueError(f"observed state for CALCULATED health check {key!r}: its state is computed")

    state: dict[str, bool] = {}
    visiting: list[str] = []

    def evaluate(key: str) -> bool:
        if key in state:
            return state[key]
        if key in visiting:
            cycle = " -> ".join([*visiting[visiting.index(key):], key])
            raise ValueError(f"health check cycle: {cycle}")
        check = by_key.get(key)
        if check is None:
            raise ValueError(f"health check {visiting[-1]!r} has unknown child {key!r}")
        visiting.append(key)
        if check.calculated:
            healthy_children = sum(1 for child in check.children if evaluate(child))
            raw = healthy_children >= check.health_threshold
        else:
            raw = observed.get(key, True)
        visiting.pop()
        state[key] = _final(raw, check)
        return state[key]

    for key in by_key:
        evaluate(key)
    return state


def _final(raw: bool, check: HealthCheckSpec) -> bool:
    if check.disabled:
        return not check.inverted
    return raw != check.inverted


# --------------------------------------------------------------------------------------------- answers


@dataclass(frozen=True)
class ClientGeo:
    """Where the client is: continent (AF AN AS EU NA OC SA), ISO country, US state code (e.g. "CA"), and its
    address (the ECS network, else the resolver's; what IP-based records match)."""

    continent: str | None = None
    country: str | None = None
    subdivision: str | None = None
    address: str | None = None


@dataclass(frozen=True)
class Answer:
    """What Route53 would answer for one query.

    ``outcomes`` lists every possible answer with its probability (more than one only below a weighted
    group), most likely first, ties in address order; ``addresses`` is the first of them. ``healthy`` says
    whether the queried group itself is healthy (what an alias with EvaluateTargetHealth would see), and
    ``failed_open`` whether some group on the way had to fail open (every record unhealthy).
    """

    addresses: tuple[str, ...]
    outcomes: tuple[tuple[tuple[str, ...], float], ...]
    trail: tuple[str, ...]
    healthy: bool
    failed_open: bool

    def probability(self, addresses: Sequence[str]) -> float:
        """The probability of one exact answer (0.0 if it is not possible)."""
        want = tuple(addresses)
        return sum((p for a, p in self.outcomes if a == want), 0.0)

    @property
    def possible(self) -> frozenset[tuple[str, ...]]:
        return frozenset(a for a, _ in self.outcomes)


def routing_policies(rec: RecordSpec) -> tuple[str, ...]:
    """The routing policies a record carries (``()`` for a simple record; more than one is invalid)."""
    out = []
    if rec.failover is not None:
        out.append("failover")
    if rec.weight is not None:
        out.append("weighted")
    if rec.geo is not None:
        out.append("geolocation")
    if rec.region is not None:
        out.append("latency")
    if rec.multivalue:
        out.append("multivalue")
    if rec.cidr is not None:
        out.append("cidr")
    return tuple(out)


def group_policy(records: Sequence[RecordSpec]) -> str:
    """The one routing policy of a group ("simple" for a plain rrset); ValueError if records disagree."""
    kinds = set()
    for rec in records:
        pols = routing_policies(rec)
        if len(pols) > 1:
            raise ValueError(f"{_label(rec)} has more than one routing policy: {', '.join(pols)}")
        kinds.add(pols[0] if pols else "simple")
    if len(kinds) != 1:
        raise ValueError(f"{records[0].name} {records[0].type} mixes routing policies: {', '.join(sorted(kinds))}")
    kind = kinds.pop()
    if kind == "simple" and len(records) > 1:
        raise ValueError(f"{records[0].name} {records[0].type} has {len(records)} simple rrsets")
    return kind


def geo_rank(geo: tuple[str, ...], client: ClientGeo) -> int | None:
    """How specifically a record's location matches the client: 3 subdivision, 2 country, 1 continent,
    0 the ``*`` default; None when it does not match."""
    kind = geo[0]
    if kind == "default" or (kind == "country" and geo[1] == "*"):
        return 0
    if kind == "subdivision":
        return 3 if (client.country == geo[1] and client.subdivision == geo[2]) else None
    if kind == "country":
        return 2 if client.country == geo[1] else None
    if kind == "continent":
        return 1 if client.continent == geo[1] else None
    raise ValueError(f"unknown geolocation {geo!r}")


def resolve(records: Sequence[RecordSpec], health: Mapping[str, bool], name: str, rtype: str,
            geo: ClientGeo | None = None, latency_region: str | Sequence[str] | None = None,
            rng_pick: RngPick | None = None, cidr: Sequence[tuple[str, Sequence[str]]] = ()) -> Answer:
    """Route53's answer to ``name``/``rtype`` for a client at ``geo`` nearest to AWS ``latency_region`` (or with
    the AWS regions in that order of latency, when it is a sequence).

    ``health`` maps health-check keys to states (see :func:`health_states`); a record naming a check that
    is not in it raises ValueError. Without ``rng_pick`` a weighted group yields every possible answer with
    its exact probability; with it, each weighted choice calls ``rng_pick(probabilities)`` for the index of
    the branch to follow, and the one answer drawn has probability 1.0. ``cidr``: the locations of the CIDR
    collection that IP-based records name, as (location, blocks).
    """
    return _Resolver(records, health, geo or ClientGeo(), latency_region, rng_pick, cidr).answer(name, rtype)


def simulate(desired: Desired, observed: Mapping[str, bool], name: str, rtype: str = "A",
             geo: ClientGeo | None = None, latency_region: str | Sequence[str] | None = None,
             rng_pick: RngPick | None = None) -> Answer:
    """:func:`resolve` over a :class:`Desired` zone, its health computed from endpoint observations."""
    health = health_states(desired.health_checks, observed)
    return resolve(desired.records, health, name, rtype, geo, latency_region, rng_pick, desired.cidr)


def _norm(name: str) -> str:
    name = name.lower()
    return name if name.endswith(".") else name + "."


def _label(rec: RecordSpec) -> str:
    return f"{rec.name} {rec.type}" + (f" [{rec.set_id}]" if rec.set_id else "")


def _fmt(p: Fraction) -> str:
    return "1" if p == 1 else f"{p.numerator}/{p.denominator}"


class _Resolver:
    def __init__(self, records: Sequence[RecordSpec], health: Mapping[str, bool], client: ClientGeo,
                 latency_region: str | Sequence[str] | None, rng_pick: RngPick | None,
                 cidr: Sequence[tuple[str, Sequence[str]]] = ()) -> None:
        self.groups: dict[GroupKey, list[RecordSpec]] = {}
        for rec in records:
            self.groups.setdefault((_norm(rec.name), rec.type), []).append(rec)
        self.health = health
        self.client = client
        self.latency_order: tuple[str, ...] | None = None
        if latency_region is not None and not isinstance(latency_region, str):
            self.latency_order = tuple(latency_region)
            latency_region = self.latency_order[0] if self.latency_order else None
        self.latency_region = latency_region
        self.rng_pick = rng_pick
        self.location = "*"  # the client's CIDR location: the longest block of the collection holding it
        if client.address is not None:
            addr = ipaddress.ip_address(client.address)
            best = -1
            for loc, blocks in cidr:
                for block in blocks:
                    net = ipaddress.ip_network(block)
                    if net.version == addr.version and addr in net and net.prefixlen > best:
                        self.location, best = loc, net.prefixlen
        self.trail: list[str] = []
        self.failed_open = False
        self._group_health: dict[GroupKey, bool] = {}
        self._health_stack: list[GroupKey] = []
        self._resolve_stack: list[GroupKey] = []

    # -- health

    def record_healthy(self, rec: RecordSpec) -> bool:
        ok = True
        if rec.health_check is not None:
            if rec.health_check not in self.health:
                raise ValueError(f"{_label(rec)}: unknown health check {rec.health_check!r}")
            ok = self.health[rec.health_check]
        if ok and rec.alias is not None and rec.evaluate_target_health:
            if rec.alias_zone is not None:  # a load balancer: its targets' health, ``target:<name>`` in health
                ok = self.health.get(f"target:{_norm(rec.alias)}", True)
            else:
                ok = self.group_healthy((_norm(rec.alias), rec.type), referrer=rec)
        return ok

    def candidates(self, key: GroupKey, group: Sequence[RecordSpec]) -> list[RecordSpec]:
        if group_policy(group) == "geolocation":
            return [r for r in group if r.geo is not None and geo_rank(r.geo, self.client) is not None]
        if group_policy(group) == "cidr":
            return [r for r in group if r.cidr is not None and r.cidr[1] in (self.location, "*")]
        return list(group)

    def group_healthy(self, key: GroupKey, referrer: RecordSpec | None = None) -> bool:
        if key in self._group_health:
            return self._group_health[key]
        group = self.groups.get(key)
        if not group:
            who = f"{_label(referrer)}: alias" if referrer else "query"
            raise ValueError(f"{who} target {key[0]} {key[1]} does not exist")
        if key in self._health_stack:
            loop = " -> ".join(f"{n} {t}" for n, t in [*self._health_stack[self._health_stack.index(key):], key])
            raise ValueError(f"alias loop: {loop}")
        self._health_stack.append(key)
        try:
            ok = any(self.record_healthy(r) for r in self.candidates(key, group))
        finally:
            self._health_stack.pop()
        self._group_health[key] = ok
        return ok

    # -- answers

    def answer(self, name: str, rtype: str) -> Answer:
        key = (_norm(name), rtype)
        dist = self.resolve(key, 0)
        healthy = self.group_healthy(key) if self.groups.get(key) else False
        outcomes = sorted(dist.items(), key=lambda kv: (-kv[1], kv[0]))
        return Answer(addresses=outcomes[0][0], outcomes=tuple((a, float(p)) for a, p in outcomes),
                      trail=tuple(self.trail), healthy=healthy, failed_open=self.failed_open)

    def note(self, depth: int, text: str) -> None:
        self.trail.append("  " * depth + text)

    def resolve(self, key: GroupKey, depth: int) -> Dist:
        name, rtype = key
        group = self.groups.get(key)
        if not group:
            if depth:
                raise ValueError(f"alias target {name} {rtype} does not exist")
            self.note(depth, f"{name} {rtype}: no records -> empty answer")
            return {(): Fraction(1)}
        if key in self._resolve_stack:
            loop = " -> ".join(f"{n} {t}" for n, t in [*self._resolve_stack[self._resolve_stack.index(key):], key])
            raise ValueError(f"alias loop: {loop}")
        self._resolve_stack.append(key)
        try:
            return self._resolve_group(key, group, depth)
        finally:
            self._resolve_stack.pop()

    def _resolve_group(self, key: GroupKey, group: list[RecordSpec], depth: int) -> Dist:
        name, rtype = key
        policy = group_policy(group)
        states = [self.record_healthy(r) for r in group]
        self.note(depth, f"{name} {rtype}: {policy}, "
                  + ", ".join(f"{r.set_id or '-'}={'up' if ok else 'DOWN'}" for r, ok in zip(group, states)))
        failed_open = False
        if policy not in ("geolocation", "failover", "cidr") and not any(states):
            # (geolocation and CIDR fail open among the matching records, failover to the PRIMARY: see below)
            failed_open = True
            self.failed_open = True
            self.note(depth, "  every record is unhealthy: fail open, all treated as healthy")
            states = [True] * len(group)
        healthy = {id(r): ok for r, ok in zip(group, states)}

        if policy == "multivalue":
            return self._multivalue(group, healthy, failed_open, depth)
        choices: list[tuple[Fraction, RecordSpec]]
        if policy == "simple":
            choices = [(Fraction(1), group[0])]
        elif policy == "failover":
            choices = [(Fraction(1), self._failover(group, healthy, depth))]
        elif policy == "geolocation":
            rec = self._geolocation(group, healthy, depth)
            if rec is None:
                return {(): Fraction(1)}
            choices = [(Fraction(1), rec)]
        elif policy == "latency":
            choices = [(Fraction(1), self._latency(group, healthy, depth))]
        elif policy == "cidr":
            rec = self._cidr(group, healthy, depth)
            if rec is None:
                return {(): Fraction(1)}
            choices = [(Fraction(1), rec)]
        else:
            choices = self._weighted(group, healthy, depth)

        out: Dist = {}
        for p, rec in choices:
            for addresses, q in self._record_answer(rec, depth).items():
                out[addresses] = out.get(addresses, Fraction(0)) + p * q
        return out

    def _record_answer(self, rec: RecordSpec, depth: int) -> Dist:
        if rec.alias is None:
            self.note(depth + 1, f"{_label(rec)} -> {', '.join(rec.values) or '(no values)'}")
            return {tuple(rec.values): Fraction(1)}
        eth = " (evaluate target health)" if rec.evaluate_target_health else ""
        self.note(depth + 1, f"{_label(rec)} -> alias {_norm(rec.alias)}{eth}")
        if rec.alias_zone is not None:  # outside the zone (a load balancer): answered by its own addresses
            return {(f"alias:{_norm(rec.alias)}",): Fraction(1)}
        return self.resolve((_norm(rec.alias), rec.type), depth + 2)

    def _failover(self, group: list[RecordSpec], healthy: Mapping[int, bool], depth: int) -> RecordSpec:
        primary = next((r for r in group if r.failover == "PRIMARY"), None)
        secondary = next((r for r in group if r.failover == "SECONDARY"), None)
        if primary is not None and healthy[id(primary)]:
            self.note(depth, "  PRIMARY is healthy")
            return primary
        if secondary is not None and healthy[id(secondary)]:
            self.note(depth, "  PRIMARY is unhealthy (or missing): SECONDARY")
            return secondary
        self.failed_open = True
        if primary is not None:
            self.note(depth, "  SECONDARY is unhealthy (or missing): PRIMARY regardless of its health")
            return primary
        assert secondary is not None
        return secondary

    def _geolocation(self, group: list[RecordSpec], healthy: Mapping[int, bool],
                     depth: int) -> RecordSpec | None:
        c = self.client
        where = "/".join(x or "-" for x in (c.continent, c.country, c.subdivision))
        ranked = sorted(((rank, i, r) for i, r in enumerate(group) if r.geo is not None
                         for rank in [geo_rank(r.geo, c)] if rank is not None), key=lambda t: (-t[0], t[1]))
        if not ranked:
            self.note(depth, f"  client {where}: no matching location and no '*' default -> empty answer")
            return None
        for _, _, rec in ranked:
            if healthy[id(rec)]:
                self.note(depth, f"  client {where}: most specific healthy match {rec.set_id} ({'-'.join(rec.geo or ())})")
                return rec
            self.note(depth, f"  client {where}: match {rec.set_id} ({'-'.join(rec.geo or ())}) is unhealthy, trying less specific")
        self.failed_open = True
        rec = ranked[0][2]
        self.note(depth, f"  every match is unhealthy: fail open to the most specific, {rec.set_id}")
        return rec

    def _cidr(self, group: list[RecordSpec], healthy: Mapping[int, bool], depth: int) -> RecordSpec | None:
        mine = next((r for r in group if r.cidr is not None and r.cidr[1] == self.location), None)
        star = next((r for r in group if r.cidr is not None and r.cidr[1] == "*"), None)
        who = f"client {self.client.address or '(no address)'}: location {self.location}"
        for rec in (mine, star):
            if rec is not None and healthy[id(rec)]:
                self.note(depth, f"  {who}: {rec.set_id}")
                return rec
        if mine is None and star is None:
            self.note(depth, f"  {who}: no record for it and no '*' default -> empty answer")
            return None
        self.failed_open = True
        rec = mine or star
        self.note(depth, f"  {who}: unhealthy, and so is '*': fail open to {rec.set_id if rec else '-'}")
        return rec

    def _latency(self, group: list[RecordSpec], healthy: Mapping[int, bool], depth: int) -> RecordSpec:
        if self.latency_order is not None:
            rank = {region: i for i, region in enumerate(self.latency_order)}
            ordered = sorted(group, key=lambda r: rank.get(r.region or "", len(rank)))
            rec = next(r for r in ordered if healthy[id(r)])
            self.note(depth, f"  lowest latency among the healthy: {rec.set_id} ({rec.region})")
            return rec
        for rec in group:
            if rec.region == self.latency_region and healthy[id(rec)]:
                self.note(depth, f"  client's latency region {self.latency_region}: {rec.set_id}")
                return rec
        rec = next(r for r in group if healthy[id(r)])
        why = (f"region {self.latency_region} has no healthy record" if self.latency_region
               else "no client latency region")
        self.note(depth, f"  {why}: first healthy in order, {rec.set_id} ({rec.region})")
        return rec

    def _weighted(self, group: list[RecordSpec], healthy: Mapping[int, bool],
                  depth: int) -> list[tuple[Fraction, RecordSpec]]:
        cands = [r for r in group if healthy[id(r)] and (r.weight or 0) > 0]
        if not cands:
            cands = [r for r in group if healthy[id(r)]]
            self.note(depth, "  no healthy record with weight > 0: the weight-0 records")
        total = sum(r.weight or 0 for r in cands)
        if total:
            probs = [(Fraction(r.weight or 0, total), r) for r in cands if (r.weight or 0) > 0]
        else:
            probs = [(Fraction(1, len(cands)), r) for r in cands]
        self.note(depth, "  candidates: " + ", ".join(f"{r.set_id} {_fmt(p)}" for p, r in probs))
        if self.rng_pick is not None and len(probs) > 1:
            i = self.rng_pick([float(p) for p, _ in probs])
            self.note(depth, f"  drawn: {probs[i][1].set_id}")
            return [(Fraction(1), probs[i][1])]
        return probs

    def _multivalue(self, group: list[RecordSpec], healthy: Mapping[int, bool], failed_open: bool,
                    depth: int) -> Dist:
        for rec in group:
            if rec.alias is not None:
                raise ValueError(f"{_label(rec)}: a multivalue record cannot be an alias")
        chosen = [r for r in group if healthy[id(r)]][:MULTIVALUE_MAX]
        why = "unhealthy (none is healthy)" if failed_open else "healthy"
        self.note(depth, f"  up to {MULTIVALUE_MAX} {why} records: " + ", ".join(r.set_id or "-" for r in chosen))
        return {tuple(v for r in chosen for v in r.values): Fraction(1)}


# Where the AWS regions are (the metro area of each; approximate, for ranking only).
AWS_LOCATIONS: dict[str, tuple[float, float]] = {
    "us-east-1": (38.9, -77.4), "us-east-2": (40.0, -83.0), "us-west-1": (37.4, -121.9), "us-west-2": (45.8, -119.7),
    "ca-central-1": (45.5, -73.6), "ca-west-1": (51.0, -114.1), "mx-central-1": (20.6, -100.4),
    "sa-east-1": (-23.5, -46.6), "eu-west-1": (53.3, -6.3), "eu-west-2": (51.5, -0.1), "eu-west-3": (48.9, 2.3),
    "eu-central-1": (50.1, 8.7), "eu-central-2": (47.4, 8.5), "eu-north-1": (59.3, 18.1), "eu-south-1": (45.5, 9.2),
    "eu-south-2": (41.6, -0.9), "il-central-1": (32.1, 34.8), "me-south-1": (26.1, 50.6),
    "me-central-1": (24.5, 54.4), "af-south-1": (-33.9, 18.4), "ap-south-1": (19.1, 72.9),
    "ap-south-2": (17.4, 78.5), "ap-southeast-1": (1.35, 103.8), "ap-southeast-2": (-33.9, 151.2),
    "ap-southeast-3": (-6.2, 106.8), "ap-southeast-4": (-37.8, 145.0), "ap-southeast-5": (3.1, 101.7),
    "ap-southeast-7": (13.8, 100.5), "ap-northeast-1": (35.7, 139.7), "ap-northeast-2": (37.6, 127.0),
    "ap-northeast-3": (34.7, 135.5), "ap-east-1": (22.3, 114.2),
}


def latency_order(lat: float, lon: float, regions: Sequence[str] | None = None) -> tuple[str, ...]:
    """AWS regions (``regions``, default every one placed in :data:`AWS_LOCATIONS`) nearest first from a client
    at (``lat``, ``lon``): the stand-in for Route53's latency measurements in the simulator."""
    import math

    def km(a: tuple[float, float]) -> float:
        p1, p2 = math.radians(lat), math.radians(a[0])
        dp, dl = p2 - p1, math.radians(a[1] - lon)
        h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
        return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))

    names = [r for r in (regions if regions is not None else AWS_LOCATIONS) if r in AWS_LOCATIONS]
    return tuple(sorted(names, key=lambda r: (km(AWS_LOCATIONS[r]), r)))
