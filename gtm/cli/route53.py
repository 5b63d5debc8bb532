"""``gtm route53 plan|apply``: mirror the config's services to a Route53 hosted zone."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from gtm.cli.loading import load
from gtm.errors import GtmError

DESTRUCTIVE_LIMIT = 10  # deletes and rewrites above this need --force


def add_parser(sub: Any) -> None:
    r = sub.add_parser("route53", help="mirror the services to AWS Route53 (plan, apply)")
    rsub = r.add_subparsers(dest="route53_command", metavar="plan|apply")
    rsub.required = True
    for name, text in (("plan", "print exactly what apply would change"), ("apply", "make the changes")):
        p = rsub.add_parser(name, help=text)
        p.add_argument("paths", nargs="+", metavar="PATH")
        p.add_argument("--zone", help="the hosted zone (default: the config's only zone with services)")
        p.add_argument("--zone-id", help="the hosted zone's id, where two public zones have its name")
        p.add_argument("--owner", default="gtm", help="owner id marking what this installation manages (default gtm)")
        p.add_argument("--adopt", action="store_true", help="take over records at managed names that are not ours")
        p.add_argument("--profile", help="AWS profile (default: boto3's standard chain)")
        p.add_argument("--restore-drains", action="store_true",
                       help="restore regions drained on Route53 and not in the override store (by default an apply "
                            "leaves every region switch as Route53 has it: a drain is runtime state)")
        if name == "plan":
            p.add_argument("--json", action="store_true", help="the plan as JSON")
            p.add_argument("--detailed-exitcode", action="store_true",
                           help="exit 0 when there are no changes, 2 when there are, 1 on an error")
        else:
            p.add_argument("--yes", action="store_true", help="apply without asking")
            p.add_argument("--force", action="store_true",
                           help=f"allow more than {DESTRUCTIVE_LIMIT} deletes/rewrites in one apply")
        p.set_defaults(func=run)


def _drained(config: Any) -> frozenset[str]:
    """Regions the override store has drained for every service: their switch checks stay inverted."""
    import time

    from gtm.state.overrides import drained_everywhere
    from gtm.state.store import open_store

    stored = open_store(config.overrides).read()
    drained = drained_everywhere(config, stored.overrides, time.time())
    if drained:
        print(f"override store: {', '.join(sorted(drained))} drained; their switch checks stay inverted",
              file=sys.stderr)
    return drained


def run(args: argparse.Namespace) -> int:
    from gtm.route53 import aws
    from gtm.route53.sync import make_plan, run_apply

    config = load(args.paths)
    zone = args.zone
    if zone is None:
        zones = [z.origin for z in config.zones.values() if z.services]
        if len(zones) != 1:
            raise GtmError(f"--zone is needed: the config has {len(zones)} zones with services "
                           f"({', '.join(zones) or 'none'})")
        zone = zones[0]
    r53 = aws.client(args.profile)
    drained = _drained(config)
    sync = make_plan(r53, config, zone, args.owner, args.adopt, drained, args.restore_drains, args.zone_id)
    plan = sync.plan
    if args.route53_command == "plan":
        print(plan.to_json() if args.json else plan.to_text())
        return 2 if args.detailed_exitcode and not plan.is_empty() else 0
    print(plan.to_text())
    if plan.conflicts:  # half a service mirrored is worse than none: settle the conflicts first
        print(f"gtm route53 apply: refusing: {len(plan.conflicts)} record set(s) at managed names are not gtm's "
              f"(owner {args.owner}); remove them or pass --adopt to take them over", file=sys.stderr)
        return 1
    if plan.is_empty():
        return 0
    if plan.destructive() > DESTRUCTIVE_LIMIT and not args.force:
        print(f"gtm route53 apply: refusing {plan.destructive()} deletes/rewrites without --force", file=sys.stderr)
        return 1
    if not args.yes:
        if not sys.stdin.isatty():
            print("gtm route53 apply: not a terminal; pass --yes to apply", file=sys.stderr)
            return 1
        if input("apply these changes? [y/N] ").strip().lower() not in ("y", "yes"):
            return 1
    done = run_apply(r53, sync, args.owner)
    print(f"applied: {done['checks_created']} health checks created, {done['checks_updated']} updated, "
          f"{done['batches']} change batches, {done['checks_deleted']} health checks deleted")
    return 0
