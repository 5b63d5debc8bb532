"""``gtm route53 plan|apply``: mirror the config's services to a Route53 hosted zone."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from gtm.cli.loading import load
from gtm.errors import GtmError, UsageError

DESTRUCTIVE_LIMIT = 10  # deletes and rewrites above this need --force


def add_parser(sub: Any) -> None:
    r = sub.add_parser("route53", help="mirror the services to AWS Route53 (plan, apply, destroy)")
    rsub = r.add_subparsers(dest="route53_command", metavar="plan|apply|destroy")
    rsub.required = True
    for name, text in (("plan", "print exactly what apply would change"), ("apply", "make the changes"),
                       ("destroy", "remove every record and health check this owner wrote, and nothing else")):
        p = rsub.add_parser(name, help=text)
        p.add_argument("paths", nargs="+", metavar="PATH")
        p.add_argument("--zone", help="the hosted zone (default: the config's only zone with services)")
        p.add_argument("--zone-id", help="the hosted zone's id, where two public zones have its name")
        p.add_argument("--owner", help="owner id marking what this installation manages (default gtm; a saved plan "
                                       "carries its own)")
        p.add_argument("--profile", help="AWS profile (default: boto3's standard chain)")
        if name != "destroy":
            p.add_argument("--adopt", action="store_true", help="take over records at managed names that are not ours")
            p.add_argument("--restore-drains", action="store_true",
                           help="restore regions drained on Route53 and not in the override store (by default an "
                                "apply leaves every region switch as Route53 has it: a drain is runtime state)")
        if name == "plan":
            p.add_argument("--json", action="store_true", help="the plan as JSON")
            p.add_argument("--out", metavar="FILE", help="save the plan: `gtm route53 apply FILE` carries out exactly "
                                                         "this plan, or refuses it if the zone changed since")
            p.add_argument("--detailed-exitcode", action="store_true",
                           help="exit 0 when there are no changes, 2 when there are, 1 on an error or a conflict "
                                "that stops apply")
        else:
            p.add_argument("--yes", action="store_true", help="go ahead without asking")
            p.add_argument("--force", action="store_true",
                           help=f"allow more than {DESTRUCTIVE_LIMIT} deletes/rewrites in one apply")
            p.add_argument("--wait", action="store_true",
                           help="wait until Route53's name servers all have the changes (GetChange: INSYNC)")
            p.add_argument("--force-unlock", action="store_true",
                           help="take the zone's apply lock even while another apply holds it (one that died)")
        p.set_defaults(func=run)


def _drained(config: Any) -> tuple[frozenset[str], frozenset[tuple[str, str]], list[str]]:
    """Regions and endpoints the override store has out for every service (a check made for one is made
    drained), and a warning for each override in force that Route53 cannot express: for one service (a region's
    switch and an endpoint's checks serve every service), or an ``up`` that overrules the probers."""
    import time

    from gtm.state.overrides import active, drained_everywhere, endpoints_out_everywhere
    from gtm.state.store import open_store

    stored = open_store(config.overrides).read()
    now = time.time()
    drained = drained_everywhere(config, stored.overrides, now)
    endpoints = endpoints_out_everywhere(config, stored.overrides, now)
    if drained or endpoints:
        print(f"override store: {', '.join(sorted(drained) + [f'{r}/{a}' for r, a in sorted(endpoints)])} out "
              f"for every service", file=sys.stderr)
    notes = []
    for o in active(stored.overrides, now):
        why = ("for one service: Route53's checks serve every service" if o.service is not None else
               "up: Route53 goes by its own health checks" if o.action == "up" else None)
        if why is not None:
            notes.append(f"override {o.describe()} is not mirrored ({why})")
    return drained, endpoints, notes


def run(args: argparse.Namespace) -> int:
    from gtm.route53 import aws
    from gtm.route53.saved import is_saved
    from gtm.route53.sync import destroy_plan, make_plan

    if args.route53_command == "apply" and len(args.paths) == 1 and os.path.isfile(args.paths[0]):
        with open(args.paths[0], encoding="utf-8", errors="replace") as fh:
            text = fh.read(10_000_000)
        if is_saved(text):
            return _apply_saved(args, text)
    args.owner = args.owner or "gtm"
    config = load(args.paths)
    zone = args.zone
    if zone is None:
        zones = [z.origin for z in config.zones.values() if z.services]
        if len(zones) != 1:
            raise GtmError(f"--zone is needed: the config has {len(zones)} zones with services "
                           f"({', '.join(zones) or 'none'})")
        zone = zones[0]
    zone = zone.lower().rstrip(".") + "."
    r53 = aws.client(args.profile)

    drained, endpoints, notes = _drained(config) if args.route53_command != "destroy" else \
        (frozenset(), frozenset(), [])

    def planned(zone_id: str | None) -> Any:
        if args.route53_command == "destroy":
            return destroy_plan(r53, zone, args.owner, zone_id)
        return make_plan(r53, config, zone, args.owner, args.adopt, drained, args.restore_drains, zone_id, notes,
                         endpoints)

    sync = planned(args.zone_id)
    if args.route53_command == "plan":
        print(sync.plan.to_json() if args.json else sync.plan.to_text())
        if args.detailed_exitcode and sync.plan.conflicts:
            return 1  # apply would refuse: not "in sync", whatever else the plan holds
        if args.out:
            import time

            from gtm.files import write_atomic
            from gtm.route53.saved import dumps

            write_atomic(args.out, dumps(sync.plan, sync.zone_id, args.owner, sync.state, sync.checks,
                                         time.time(), _lock_record(config.overrides)).encode())
            print(f"saved to {args.out}: `gtm route53 apply {args.out}` applies exactly this plan", file=sys.stderr)
        return 2 if args.detailed_exitcode and not sync.plan.is_empty() else 0
    plan = sync.plan
    verb = "gtm route53 " + args.route53_command
    print(plan.to_text())
    stop = _gate(plan, args, verb, "apply these changes?")
    if stop is not None:
        return stop
    # Under the zone's lock, planned again: the changes made are the ones shown, or none.
    from gtm.cli.override import author

    lock = _apply_lock(config.overrides, r53, sync.zone_id, zone, args.owner, author())
    lock.take(plan.apply_seconds(), args.force_unlock)
    try:
        again = planned(sync.zone_id)
        if not again.plan.same_changes(plan):
            print(f"{verb}: refusing: the zone changed between the plan shown and the lock; run again",
                  file=sys.stderr)
            return 1
        change_ids: list[str] = []
        done = aws.apply(r53, again.zone_id, again.plan, args.owner, list(again.checks), change_ids)
    finally:
        lock.release()
    print(f"applied: {done['checks_created']} health checks created, {done['checks_updated']} updated, "
          f"{done['batches']} change batches, {done['checks_deleted']} health checks deleted"
          + (f" ({done['lost_responses']} batch responses lost, and the batches found applied)"
             if done["lost_responses"] else ""))
    _wait(r53, args, change_ids, done)
    return 0


def _apply_lock(store: Any, r53: Any, zone_id: str, zone: str, owner: str, holder: str) -> Any:
    """The zone's apply lock (gtm.route53.locks): in the override table when the store (the config's
    ``overrides``, or a saved plan's record of it) is DynamoDB, else a record in the zone."""
    from gtm.model import StoreSettings
    from gtm.route53.locks import ZoneLock

    if isinstance(store, dict):
        store = StoreSettings(kind="dynamodb", table=str(store["table"]), aws_region=store.get("aws_region"))
    if store is not None and store.kind == "dynamodb":
        from gtm.state.dynamodb import DynamoStore, TableLock

        return TableLock(DynamoStore(store.table, store.aws_region), f"route53:{zone}", f"{holder} (owner {owner})")
    return ZoneLock(r53, zone_id, zone, owner, holder)


def _lock_record(store: Any) -> dict[str, Any] | None:
    """What a saved plan keeps of the store, to take the same lock when it is applied."""
    return {"table": store.table, "aws_region": store.aws_region} if store.kind == "dynamodb" else None


def _gate(plan: Any, args: argparse.Namespace, verb: str, question: str, owner: str | None = None) -> int | None:
    """Whether ``plan`` may go ahead: None to go on, else the exit code (conflicts, nothing to do, too many
    deletes without --force, no --yes and no "y" on a terminal)."""
    if plan.conflicts:  # half a service mirrored is worse than none: settle the conflicts first
        print(f"{verb}: refusing: {len(plan.conflicts)} record set(s) at managed names are not gtm's "
              f"(owner {owner or args.owner}); remove them or pass --adopt to take them over", file=sys.stderr)
        return 1
    if plan.is_empty():  # nothing to write: no lock either (a second apply is reads only)
        return 0
    if plan.destructive() > DESTRUCTIVE_LIMIT and not args.force:
        print(f"{verb}: refusing {plan.destructive()} deletes/rewrites without --force", file=sys.stderr)
        return 1
    if not args.yes:
        if not sys.stdin.isatty():
            print(f"{verb}: not a terminal; pass --yes to go ahead", file=sys.stderr)
            return 1
        if input(f"{question} [y/N] ").strip().lower() not in ("y", "yes"):
            return 1
    return None


def _wait(r53: Any, args: argparse.Namespace, change_ids: list[str], done: dict[str, int]) -> None:
    from gtm.route53 import aws

    if not args.wait or not change_ids:
        return
    took = aws.wait_in_sync(r53, change_ids)
    lost = f" (not the {done['lost_responses']} batch(es) whose response was lost: no change id to ask about)" \
        if done.get("lost_responses") else ""
    print(f"in sync on every Route53 name server after {took:.0f} s{lost}")


def _apply_saved(args: argparse.Namespace, text: str) -> int:
    """``gtm route53 apply FILE``: the saved plan exactly, under the zone's lock, if the zone is as it was read."""
    import time

    from gtm.cli.override import author
    from gtm.route53 import aws
    from gtm.route53.saved import loads
    from gtm.route53.sync import current_state

    plan, zone_id, owner, state, checks, made = loads(text, args.paths[0])
    if args.owner is not None and args.owner != owner:
        raise GtmError(f"{args.paths[0]} is a plan of owner {owner}, not {args.owner}")
    given = [flag for flag, on in (("--zone", args.zone), ("--zone-id", args.zone_id), ("--adopt", args.adopt),
                                   ("--restore-drains", args.restore_drains)) if on]
    if given:
        raise UsageError(f"{', '.join(given)}: a saved plan is applied as it was planned; give them to plan --out")
    print(plan.to_text())
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(made))
    stop = _gate(plan, args, "gtm route53 apply", "apply this saved plan?", owner)
    if stop is not None:
        return stop
    r53 = aws.client(args.profile)
    from gtm.route53.saved import lock_of

    lock = _apply_lock(lock_of(text), r53, zone_id, plan.zone, owner, author())
    lock.take(plan.apply_seconds(), args.force_unlock)
    try:
        if current_state(r53, plan.zone, zone_id, owner, plan.checks_after, state) != state:
            print(f"gtm route53 apply: refusing {args.paths[0]}: the zone changed since the plan was made ({when}); "
                  f"plan again", file=sys.stderr)
            return 1
        change_ids: list[str] = []
        done = aws.apply(r53, zone_id, plan, owner, checks, change_ids)
    finally:
        lock.release()
    print(f"applied the plan of {when}: {done['checks_created']} health checks created, {done['checks_updated']} "
          f"updated, {done['batches']} change batches, {done['checks_deleted']} health checks deleted")
    _wait(r53, args, change_ids, done)
    return 0
