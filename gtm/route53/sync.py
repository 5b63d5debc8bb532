"""Plan and apply against a live hosted zone: read, diff, validate, write (the IO steps around the pure parts)."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from typing import Sequence

from gtm.errors import GtmError
from gtm.model import Config
from gtm.model.names import own_answer
from gtm.route53.elb import target as elb_target
from gtm.route53 import aws
from gtm.route53.desired import collection_name, desired
from gtm.route53.model import Desired, HealthCheckSpec, RecordSpec
from gtm.route53.plan import Collection, ExistingCheck, Plan, diff
from gtm.route53.saved import CIDR_READ, state_digest
from gtm.route53.validate import apply_changes, validate_batch, validate_health_checks


@dataclass(frozen=True)
class Sync:
    """A plan together with what it was made from."""

    plan: Plan
    zone_id: str
    desired: Desired
    checks: tuple[ExistingCheck, ...]
    state: str = ""                        # digest of the zone state read (gtm.route53.saved.state_digest)


def make_plan(r53: "aws.Route53", config: Config, zone: str, owner: str, adopt: bool = False,
              drained: frozenset[str] = frozenset(), restore_drains: bool = False, zone_id: str | None = None,
              notes: Sequence[str] = (), drained_endpoints: frozenset[tuple[str, str]] = frozenset()) -> Sync:
    """Read the hosted zone and gtm's checks, and plan; GtmError when the plan would be refused by Route53."""
    try:
        want = desired(config, zone, owner, drained, drained_endpoints)
    except ValueError as e:
        raise GtmError(str(e)) from None
    return plan_for(r53, replace(want, warnings=tuple(notes) + want.warnings), owner, adopt, restore_drains, zone_id)


def destroy_plan(r53: "aws.Route53", zone: str, owner: str, zone_id: str | None = None) -> Sync:
    """The plan that removes everything ``owner`` wrote in the hosted zone (its records, its markers, its health
    checks, the CIDR collection its records name), and nothing else."""
    return plan_for(r53, Desired(zone.lower().rstrip(".") + ".", (), ()), owner, zone_id=zone_id)


def read_state(r53: "aws.Route53", zone: str, zone_id: str, owner: str, wanted: Desired | Sequence[HealthCheckSpec],
               every_part: bool = False) -> tuple[list[ExistingCheck], list[RecordSpec], Collection | None, bool]:
    """The owner's checks, the zone's records, the owner's CIDR collection for the zone, and whether it was
    read: when records are to name it, when records name one, or with ``every_part``. A plan for a zone without
    IP-based records reads three times (the zone, the checks, the records); so a collection whose last record
    went away in an apply that stopped before emptying it is not seen until records name it again."""
    specs = wanted.health_checks if isinstance(wanted, Desired) else wanted
    checks = aws.read_checks(r53, owner, zone, specs)
    keys = {c.id: c.key for c in checks if c.key is not None}
    existing = aws.read_records(r53, zone_id, keys)
    collection = None
    wants_cidr = bool(wanted.cidr) if isinstance(wanted, Desired) else False
    read = every_part or wants_cidr or any(r.cidr is not None for r in existing)
    if read:
        collection = aws.read_collection(r53, collection_name(owner, zone))
        if collection is not None:  # its id as its name, as the desired records name it
            existing = [replace(r, cidr=(collection.name, r.cidr[1])) if r.cidr and r.cidr[0] == collection.id
                        else r for r in existing]
    return checks, existing, collection, read


def plan_for(r53: "aws.Route53", want: Desired, owner: str, adopt: bool = False, restore_drains: bool = False,
             zone_id: str | None = None, every_part: bool = False) -> Sync:
    zone_id = aws.find_zone(r53, want.zone, zone_id)
    checks, existing, collection, read = read_state(r53, want.zone, zone_id, owner, want, every_part)
    plan = diff(want, existing, checks, owner, adopt, restore_drains, collection)
    problems = validate_health_checks(list(want.health_checks))
    state = {r.key: r for r in existing}
    known = {c.key for c in want.health_checks} | {c.key for c in checks if c.key is not None}
    for i, batch in enumerate(plan.batches, 1):
        problems += [f"batch {i}: {p}" for p in validate_batch(list(batch), state, known)]
        state = apply_changes(state, list(batch))
    if problems:
        raise GtmError("the plan would be refused by Route53: " + "; ".join(problems[:10]) +
                       (f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""))
    return Sync(plan, zone_id, want, tuple(checks), state_digest(existing, checks, collection, read))


def current_state(r53: "aws.Route53", zone: str, zone_id: str, owner: str, wanted: Sequence[HealthCheckSpec],
                  digest: str) -> str:
    """The digest of the zone state now, read as the plan whose digest was ``digest`` read it (for ``wanted``
    checks; the CIDR collection too if it read that)."""
    cidr = digest.startswith(CIDR_READ)
    checks, existing, collection, _ = read_state(r53, zone, zone_id, owner, wanted, every_part=cidr)
    return state_digest(existing, checks, collection, cidr)


def run_apply(r53: "aws.Route53", sync: Sync, owner: str) -> dict[str, int]:
    return aws.apply(r53, sync.zone_id, sync.plan, owner, list(sync.checks))


def switch_regions(r53: "aws.Route53", config: Config, owner: str, region: str, drained: bool) -> list[str]:
    """Drain (or restore) ``region`` on Route53: invert (or not) its switch check in every hosted zone whose
    services use it: one UpdateHealthCheck per zone, no record change. Returns the check ids changed; GtmError
    when a zone has no such check (apply the mirror first)."""
    changed = []
    for zone in config.zones.values():
        if not any(region in s.regions for s in zone.services):
            continue
        # The switch alone is looked for: a failover during an incident must not depend on the rest of the
        # mirror being computable from today's config.
        spec = HealthCheckSpec(f"switch:{region}", "CALCULATED", health_threshold=0, region=region, inverted=drained)
        checks = aws.read_checks(r53, owner, zone.origin, [spec])
        found = next((c for c in checks if c.key == spec.key), None)
        if found is None:
            raise GtmError(f"no switch health check for region {region} in hosted zone {zone.origin} (owner "
                           f"{owner}); run gtm route53 apply first")
        if found.spec.inverted != drained:
            aws.set_inverted(r53, found, drained)
            changed.append(found.id)
    return changed


def switch_endpoint(r53: "aws.Route53", config: Config, owner: str, region: str, address: str,
                    drained: bool) -> list[str]:
    """Drain (or restore) one endpoint on Route53: make each of its health checks (one per monitor of the
    services using its region) always unhealthy, Disabled and Inverted (or set them back), in every hosted zone
    whose services use it: one UpdateHealthCheck per check, no record change. Returns the check ids changed;
    GtmError when there is none (apply the mirror first; a service with route53: {health_checks: false} has
    no endpoint checks)."""
    got = own_answer(config, address) if not _is_ip(address) else None
    if got is not None and not isinstance(got, str):  # a name of our own zones: mirrored as its addresses
        return [c for a in got.v4 + got.v6 for c in switch_endpoint(r53, config, owner, region, a, drained)]
    changed, found_any = [], False
    for zone in config.zones.values():
        monitors = {s.monitor for s in zone.services if region in s.regions and s.monitor and s.route53_checks}
        if elb_target(address) is not None and any(region in s.regions for s in zone.services):
            monitors.add("-")  # an AWS load balancer's own switch (its aliases' check; see route53.desired)
        if not monitors:
            continue
        specs = [HealthCheckSpec(f"ep:{m}:{region}:{address}", "HTTP", ip=address, region=region)
                 for m in sorted(monitors)]
        keys = {spec.key for spec in specs}
        for check in aws.read_checks(r53, owner, zone.origin, specs):
            if check.key not in keys:
                continue
            found_any = True
            if (check.spec.disabled, check.spec.inverted) != (drained, drained):
                aws.set_drained(r53, check, drained)
                changed.append(check.id)
    if not found_any:
        raise GtmError(f"no Route53 health check for endpoint {region}/{address} (owner {owner}); run gtm route53 "
                       f"apply first (a service with route53: {{health_checks: false}} has none)")
    return changed


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False
