"""``gtm override drain|down|up|clear TARGET`` and ``gtm override list``: operators' overrides, written to the
shared store (every node applies them within its poll interval), after the guardrails."""
from __future__ import annotations

import argparse
import getpass
import secrets
import socket
import sys
import time
from typing import Any, Sequence

from gtm import fleet
from gtm.cli.loading import config_paths, load
from gtm.errors import Exit, GtmError, UnsafePlan, UsageError
from gtm.model import Config, NodeAddress, Override
from gtm.state import overrides as ov
from gtm.state.store import Stored, open_store



def author() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", action="append", metavar="PATH",
                   help="configuration files or directories (default: zones/); repeatable")
    p.add_argument("--nodes", action="append", default=[], metavar="ADDR:PORT",
                   help="a gtm node's DNS address (default: drills.nodes, else 127.0.0.1:5353); repeatable")
    p.add_argument("--admin", action="append", default=[], metavar="URL",
                   help="that node's admin API, in the order of --nodes (default: drills.nodes, else admin.listen)")


def add_parser(sub: Any) -> None:
    o = sub.add_parser("override", help="force a region or endpoint down, drained or up on every node")
    osub = o.add_subparsers(dest="override_command", metavar="drain|down|up|clear|list")
    osub.required = True
    for action, text in (("drain", "stop answering TARGET (kept out even when everything else is down)"),
                         ("down", "force TARGET down, as if its health checks failed"),
                         ("up", "force TARGET up, whatever its health checks say"),
                         ("clear", "remove the overrides on TARGET")):
        p = osub.add_parser(action, help=text)
        p.add_argument("target", metavar="TARGET",
                       help="a region, REGION/ADDRESS or REGION/HOSTNAME, or an endpoint address or hostname")
        p.add_argument("--service", help="only for this service: its key, or zone/key where keys repeat across zones (default: every service)")
        add_config_args(p)
        if action != "clear":
            p.add_argument("--reason", default="", help="why (kept with the override and in the audit log)")
            p.add_argument("--expires", metavar="DURATION", help="lift it after DURATION (30m, 2h, 1d)")
            p.add_argument("--force", action="store_true",
                           help="go past the guardrails (health, capacity, blackout); the reason is logged")
        p.add_argument("--dry-run", action="store_true",
                       help="print the plan (what would be in force, the guardrails' notes) and write nothing")
        p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                       help="wait up to SECONDS until every node has applied it, and say how long it took")
        if action != "up":
            p.add_argument("--route53", action="store_true",
                           help="also on the Route53 mirror: a region's switch check, or an endpoint's checks made "
                                "always unhealthy (for every service only)")
            p.add_argument("--owner", default="gtm", help="the Route53 mirror's owner id (default gtm)")
            p.add_argument("--profile", help="AWS profile for Route53 (default: boto3's standard chain)")
        p.set_defaults(func=run, action=action)
    ls = osub.add_parser("list", help="the overrides in force (and with --history the audit log)")
    add_config_args(ls)
    ls.add_argument("--history", type=int, default=0, metavar="N", help="also the last N changes")
    ls.set_defaults(func=run_list)


def _config(args: argparse.Namespace) -> Config:
    return load(config_paths(args.config))


def wait_applied(nodes: Sequence[NodeAddress], token: str | None, version: int,
                 timeout: float) -> dict[str, float | None]:
    """Seconds until each node reports override store ``version`` or later (None: not within ``timeout``)."""
    start = time.monotonic()
    out: dict[str, float | None] = {n.admin or f"{n.dns[0]}:{n.dns[1]}": None for n in nodes}
    while time.monotonic() - start < timeout and any(v is None for v in out.values()):
        for n in nodes:
            key = n.admin or f"{n.dns[0]}:{n.dns[1]}"
            if out[key] is None:
                try:
                    if fleet.fetch_status(n, token, timeout=1.0).override_version() >= version:
                        out[key] = round(time.monotonic() - start, 3)
                except GtmError:
                    pass
        time.sleep(0.05)
    return out


def run(args: argparse.Namespace) -> int:
    from gtm.admin.app import read_token

    config = _config(args)
    store = open_store(config.overrides)
    nodes = fleet.nodes_of(config, args.nodes, args.admin)
    token = read_token(config.admin)
    who = author()
    reason = getattr(args, "reason", "")
    try:  # bad values fail before any node is asked, as usage errors (exit 2)
        expires = ov.parse_duration(args.expires) if getattr(args, "expires", None) else None
        region, address = ov.parse_target(config, args.target)
        service = ov.check_service(config, args.service, region)  # zone/key
        if getattr(args, "route53", False) and service is not None:
            raise GtmError("--route53 with --service: Route53's checks serve every service of a region; drain "
                           "it there for every service, or leave --route53 out")
    except GtmError as e:
        raise UsageError(str(e)) from None
    change: fleet.Change
    if args.action == "clear":
        def change(current: Stored, now: float) -> tuple[list[Override], str, list[Override]]:
            kept, removed = ov.clear(current.overrides, region, address, service or True, now)
            if not removed:
                raise GtmError(f"no override in force on {args.target}"
                               + (f" for {args.service}" if args.service else ""))
            return kept, "clear", removed
    else:
        new_id = secrets.token_hex(6)

        def change(current: Stored, now: float) -> tuple[list[Override], str, list[Override]]:
            new = ov.make(config, current.overrides, args.action, args.target, service=args.service, reason=reason,
                          author=who, now=now, expires_in=expires, new_id=new_id)
            return ov.put(current.overrides, new, now), args.action, [new]
    # Taking something out is guarded (health, capacity, blackout); putting it back or clearing is not.
    guarded = (lambda: fleet.situation(nodes, token)) if args.action in ("drain", "down") else None
    try:
        plan = fleet.plan_override(config, store.read(), change, author=who, reason=reason, guarded=guarded,
                                   force=getattr(args, "force", False))
        if args.dry_run:
            print(plan.describe())
            print("dry run: nothing was written")
            return Exit.OK
        stored, plan, conflicts = fleet.apply(plan, store)
    except UnsafePlan as e:
        print(f"gtm override: refused: {e}", file=sys.stderr)
        return Exit.REFUSED
    if args.action == "clear":
        print(f"cleared {args.target}" + (f" for {args.service}" if args.service else "") +
              f" (store version {stored.version})")
    else:
        new = plan.touched[0]
        until = f" until {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(new.expires))}" if new.expires else ""
        print(f"{new.describe()}: in force{until} (store version {stored.version})")
    for n in plan.notes:
        print(f"  note: {n}")
    if conflicts:
        print(f"  note: another writer changed the store meanwhile; re-read and applied after {conflicts} "
              f"conflict{'s' if conflicts > 1 else ''}")
    if getattr(args, "route53", False):
        _route53(args, config, stored, region, address)
    if args.wait > 0:
        applied = wait_applied(nodes, token, stored.version, args.wait)
        for node, took in applied.items():
            print(f"  {node}: " + (f"applied after {took:.2f} s" if took is not None else
                                   f"not applied within {args.wait:g} s"))
        if any(t is None for t in applied.values()):
            return Exit.FAIL
    return Exit.OK


def _route53(args: argparse.Namespace, config: Config, stored: Stored, region: str, address: str | None) -> None:
    """Make Route53 say what the store now says of ``region`` (its switch) or of one endpoint (its checks):
    drained when it is out for every service, else not (another override may still keep it out)."""
    from gtm.route53 import aws
    from gtm.route53.sync import switch_endpoint, switch_regions

    now = time.time()
    r53 = aws.client(args.profile)
    if address is None:
        out = region in ov.drained_everywhere(config, stored.overrides, now)
        changed = switch_regions(r53, config, args.owner, region, out)
        what = f"the switch health check of {region}"
    else:
        out = (region, address) in ov.endpoints_out_everywhere(config, stored.overrides, now)
        changed = switch_endpoint(r53, config, args.owner, region, address, out)
        what = f"the health checks of {region}/{address}"
    state = ("inverted (reported unhealthy)" if address is None else "disabled and inverted (always unhealthy)") \
        if out else "set back"
    print(f"  route53: {what} {state}: {len(changed)} changed" + ("" if changed else " (already so)"))


def run_list(args: argparse.Namespace) -> int:
    config = _config(args)
    store = open_store(config.overrides)
    stored = store.read()
    now = time.time()
    live = ov.active(stored.overrides, now)
    if not live:
        print(f"no overrides in force (store version {stored.version})")
    for o in live:
        until = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(o.expires)) if o.expires else "until cleared"
        scope = o.service or "all services"
        print(f"{o.action:5} {o.target:28} {scope:20} {until:19}  {o.author}: {o.reason}")
    if args.history:
        for entry in store.history(args.history):
            print(entry.describe())
    return 0
