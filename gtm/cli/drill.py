"""``gtm drill run``, ``gtm failover REGION``, ``gtm restore REGION``: take a region out on every node (and on
Route53), verify with real DNS queries from many client networks, and (drills) bring it back and report.

Exit codes: 0 passed, 1 error, 2 usage, 3 refused (guardrails or prechecks: nothing changed), 4 verification
failed (a drill rolled back), 5 interrupted (rolled back)."""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from typing import Any

from gtm.cli.override import add_config_args, author
from gtm.cli.loading import config_paths, load
from gtm.drill.report import Report
from gtm.errors import Exit, GtmError, UnsafePlan, UsageError


def add_parser(sub: Any) -> None:
    d = sub.add_parser("drill", help="practice a failover: drain, verify, hold, restore, report")
    dsub = d.add_subparsers(dest="drill_command", metavar="run")
    dsub.required = True
    r = dsub.add_parser("run", help="a drill of one region, end to end, rolled back on any failure or Ctrl-C")
    r.add_argument("--region", required=True, help="the region to drain")
    r.add_argument("--services", nargs="+", metavar="SERVICE",
                   help="verify only these services' names (key, or zone/key where keys repeat across zones; default: "
                        "all using the region); the drain itself covers the whole region, for every service")
    r.add_argument("--hold", default="30s", metavar="DURATION", help="how long to hold the drain (default 30s)")
    r.add_argument("--budget", type=float, metavar="SECONDS",
                   help="time beyond the TTL for answers to move (default: drills.budget, 30)")
    r.add_argument("--report", metavar="FILE", help="write the report: FILE.json/FILE.md, or both for another name "
                   "(default: reports/drill-REGION-TIME.json and .md)")
    _common(r)
    r.set_defaults(func=run, kind="drill")
    for kind, text in (("failover", "an incident: drain REGION everywhere and verify (no rollback)"),
                       ("restore", "bring REGION back everywhere and verify it is answered again")):
        p = sub.add_parser(kind, help=text)
        p.add_argument("region", metavar="REGION")
        p.add_argument("--budget", type=float, metavar="SECONDS", help="time beyond the TTL for answers to move")
        p.add_argument("--report", metavar="FILE", help="write the report (JSON/Markdown; default: reports/)")
        p.add_argument("--dry-run", action="store_true",
                       help="print the plan (what would be in force, the guardrails' notes) and change nothing")
        _common(p)
        p.set_defaults(func=run, kind=kind, services=None, hold="0s")


def _common(p: argparse.ArgumentParser) -> None:
    add_config_args(p)
    p.add_argument("--reason", default="", help="why (kept with the override and in the audit log)")
    p.add_argument("--route53", action="store_true", help="also flip the region's switch health check on Route53")
    p.add_argument("--owner", default="gtm", help="the Route53 mirror's owner id (default gtm)")
    p.add_argument("--profile", help="AWS profile for Route53 (default: boto3's standard chain)")
    p.add_argument("--clients", type=int, metavar="N", help="client networks per country (default: drills.clients, 2)")
    p.add_argument("--force", action="store_true", help="go past the guardrails (health, capacity, blackout)")


def default_report(kind: str, region: str) -> str:
    """``reports/KIND-REGION-YYYYmmdd-HHMMSS`` (both .json and .md), the directory made when missing."""
    os.makedirs("reports", exist_ok=True)
    return os.path.join("reports", f"{kind}-{region}-{time.strftime('%Y%m%d-%H%M%S')}")


def run(args: argparse.Namespace) -> int:
    from gtm.admin.app import read_token
    from gtm.fleet import nodes_of
    from gtm.drill.run import Run, Settings, drill, failover, restore
    from gtm.geoip import sample_networks
    from gtm.model import GeoPolicy
    from gtm.state.overrides import parse_duration
    from gtm.state.store import open_store

    config = load(config_paths(args.config))
    if args.region not in config.regions:
        raise UsageError(f"unknown region {args.region!r}; regions: {', '.join(sorted(config.regions))}")
    services = [s for s in config.services if args.region in s.regions]
    if args.services:
        wanted = set()
        for name in args.services:
            try:
                wanted.add(config.find_service(name).ref)
            except LookupError as e:
                raise UsageError(str(e)) from None
        services = [s for s in services if s.ref in wanted]
        if not services:
            raise UsageError(f"none of {', '.join(args.services)} uses region {args.region}")
    countries = {r.match.country for s in services if isinstance(s.policy, GeoPolicy) for r in s.policy.rules
                 if r.match.country}
    continents = {"AF", "AS", "EU", "NA", "OC", "SA"}
    per = args.clients or config.drills.clients
    clients = sample_networks(config.geoip, countries, continents, per)
    r53 = None
    if args.route53:
        from gtm.route53 import aws

        r53 = aws.client(args.profile)
    try:
        hold = parse_duration(args.hold) if args.hold != "0s" else 0.0
    except GtmError as e:
        raise UsageError(f"--hold: {e}") from None
    settings = Settings(region=args.region, services=services, hold=hold, budget=args.budget if args.budget is not None else config.drills.budget,
                        reason=args.reason or f"gtm {args.kind}", author=author(), force=args.force, route53=r53,
                        owner=args.owner, clients=clients)
    report = Report(args.kind, args.region, [config.service_label(s) for s in services])
    runner = Run(config, open_store(config.overrides), nodes_of(config, args.nodes, args.admin),
                 read_token(config.admin), settings, report)
    if getattr(args, "dry_run", False):
        try:
            plan = runner.plan(args.kind)
        except UnsafePlan as e:
            print(f"gtm {args.kind}: refused: {e}", file=sys.stderr)
            return Exit.REFUSED
        print(plan.describe())
        if r53 is not None:
            print(f"  route53: the switch health checks of {args.region} would be "
                  + ("inverted (reported unhealthy)" if args.kind == "failover" else "set back"))
        print("dry run: nothing was changed")
        return Exit.OK
    step = {"drill": drill, "failover": failover, "restore": restore}[args.kind]
    started = time.monotonic()

    async def main() -> Report:
        # Ctrl-C and SIGTERM cancel the step, which rolls back what it changed before it returns its report.
        task = asyncio.ensure_future(step(runner))
        loop = asyncio.get_running_loop()
        signalled: list[int] = []

        def interrupt() -> None:  # the first one cancels the step; later ones must not cancel its rollback
            if not signalled:
                task.cancel()
            signalled.append(1)

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, interrupt)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            return await task

    report = asyncio.run(main())
    print(f"gtm {args.kind} {args.region}: {report.outcome} — {report.summary} ({time.monotonic() - started:.1f} s)",
          file=sys.stderr if report.exit_code else sys.stdout)
    for node in sorted(set(report.shift) | set(report.restore)):
        shift, back = report.shift.get(node), report.restore.get(node)
        parts = []
        if node in report.shift:
            parts.append(f"shift {shift:.2f} s" if shift is not None else "did not shift")
        if node in report.restore:
            parts.append(f"restore {back:.2f} s" if back is not None else "did not come back")
        print(f"  {node}: {', '.join(parts)}")
    target = args.report or default_report(args.kind, args.region)
    if target:
        for out in report.write(target):
            print(f"  report: {out}")
    return report.exit_code
