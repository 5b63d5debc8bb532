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

from gtm.config import load
from gtm.errors import GtmError
from gtm.model import Config, Override
from gtm.state import guard
from gtm.state import overrides as ov
from gtm.state.store import Store, Stored, audit_entry, open_store, update

EXIT_REFUSED = 3  # a guardrail said no (distinct from errors, 1, and usage, 2)


class Refused(GtmError):
    """A guardrail refused the change (exit 3)."""


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
        p.add_argument("target", metavar="TARGET", help="a region, REGION/ADDRESS, or an endpoint address")
        p.add_argument("--service", help="only for this service (default: every service)")
        add_config_args(p)
        if action != "clear":
            p.add_argument("--reason", default="", help="why (kept with the override and in the audit log)")
            p.add_argument("--expires", metavar="DURATION", help="lift it after DURATION (30m, 2h, 1d)")
            p.add_argument("--force", action="store_true",
                           help="go past the guardrails (health, capacity, blackout); the reason is logged")
        p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                       help="wait up to SECONDS until every node has applied it, and say how long it took")
        p.set_defaults(func=run, action=action)
    ls = osub.add_parser("list", help="the overrides in force (and with --history the audit log)")
    add_config_args(ls)
    ls.add_argument("--history", type=int, default=0, metavar="N", help="also the last N changes")
    ls.set_defaults(func=run_list)


def _config(args: argparse.Namespace) -> Config:
    return load(args.config or ["zones"])


def situation(config: Config, nodes: Sequence[Any], token: str | None) -> tuple[dict[str, list[str]], dict[str, float],
                                                                          list[str]]:
    """What the nodes say (see gtm.drill.nodes.combined), and the nodes that could not say."""
    from gtm.drill.nodes import NodeStatus, combined, fetch_status

    statuses: list[NodeStatus] = []
    failed = []
    for node in nodes:
        try:
            statuses.append(fetch_status(node, token))
        except GtmError as e:
            failed.append(str(e))
    up, qps = combined(statuses)
    return up, qps, failed


def change_overrides(config: Config, store: Store, make_change: Any, *, force: bool, reason: str, who: str,
                     nodes: Sequence[Any], token: str | None, check: bool) -> tuple[Stored, list[str], int]:
    """Apply ``make_change(current) -> (overrides after, description, overrides touched)`` to the store after
    the guardrails (when ``check``); Refused when one says no and ``force`` is not given. Returns the new state,
    the guardrails' notes and the number of write conflicts met."""
    notes: list[str] = []
    now = time.time()
    if check:
        window = guard.blackout(config.drills.blackout, now)
        if window is not None:
            if not force:
                raise Refused(f"refused: inside the blackout window {window.text} (--force to go ahead)")
            notes.append(f"forced through the blackout window {window.text}")
        up, qps, failed = situation(config, nodes, token)
        if not up:
            if not force:
                raise Refused("refused: no node could say which regions are healthy ("
                              + "; ".join(failed) + "); --force to go ahead without the health guardrail")
            notes.append("no node reachable: health and capacity not checked")
        elif failed:
            notes.append("unreachable: " + "; ".join(failed))

    def change(current: Stored) -> tuple[list[Override], dict[str, Any]]:
        after, what, touched = make_change(current)
        if check and up:
            verdict = guard.check(config, after, up, qps, time.time())
            notes[:] = [n for n in notes if n.startswith(("forced", "no node", "unreachable"))] + list(verdict.notes)
            if not verdict.ok:
                if not force:
                    raise Refused("refused: " + "; ".join(verdict.problems) + " (--force to go ahead)")
                notes.extend(f"forced past: {p}" for p in verdict.problems)
        entry = audit_entry(what, touched, who, reason, forced=bool(force and any(
            n.startswith("forced") for n in notes)), notes=list(notes))
        return after, entry

    stored, conflicts = update(store, change)
    return stored, notes, conflicts


def wait_applied(nodes: Sequence[Any], token: str | None, version: int, timeout: float) -> dict[str, float | None]:
    """Seconds until each node reports override store ``version`` or later (None: not within ``timeout``)."""
    from gtm.drill.nodes import fetch_status

    start = time.monotonic()
    out: dict[str, float | None] = {n.admin or f"{n.dns[0]}:{n.dns[1]}": None for n in nodes}
    while time.monotonic() - start < timeout and any(v is None for v in out.values()):
        for n in nodes:
            key = n.admin or f"{n.dns[0]}:{n.dns[1]}"
            if out[key] is None:
                try:
                    if fetch_status(n, token, timeout=1.0).override_version() >= version:
                        out[key] = round(time.monotonic() - start, 3)
                except GtmError:
                    pass
        time.sleep(0.05)
    return out


def run(args: argparse.Namespace) -> int:
    from gtm.admin.app import read_token
    from gtm.drill.nodes import nodes_of

    config = _config(args)
    store = open_store(config.overrides)
    nodes = nodes_of(config, args.nodes, args.admin)
    token = read_token(config.admin)
    who = author()
    reason = getattr(args, "reason", "")
    expires = ov.parse_duration(args.expires) if getattr(args, "expires", None) else None
    if args.action == "clear":
        region, address = ov.parse_target(config, args.target)
        ov.check_service(config, args.service, region)

        def clearing(current: Stored) -> tuple[list[Override], str, list[Override]]:
            kept, removed = ov.clear(current.overrides, region, address, args.service or True, time.time())
            if not removed:
                raise GtmError(f"no override in force on {args.target}"
                               + (f" for {args.service}" if args.service else ""))
            return kept, "clear", removed

        stored, notes, conflicts = change_overrides(config, store, clearing, force=False, reason=reason, who=who,
                                                    nodes=nodes, token=token, check=False)
        print(f"cleared {args.target}" + (f" for {args.service}" if args.service else "") +
              f" (store version {stored.version})")
    else:
        region, _ = ov.parse_target(config, args.target)  # bad input fails before any node is asked
        ov.check_service(config, args.service, region)

        def setting(current: Stored) -> tuple[list[Override], str, list[Override]]:
            now = time.time()
            new = ov.make(config, current.overrides, args.action, args.target, service=args.service, reason=reason,
                          author=who, now=now, expires_in=expires, new_id=secrets.token_hex(6))
            return ov.put(current.overrides, new, now), args.action, [new]

        try:
            stored, notes, conflicts = change_overrides(
                config, store, setting, force=args.force, reason=reason, who=who, nodes=nodes, token=token,
                check=args.action in ("drain", "down"))
        except Refused as e:
            print(f"gtm override: {e}", file=sys.stderr)
            return EXIT_REFUSED
        new = stored.overrides[-1]
        until = f" until {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(new.expires))}" if new.expires else ""
        print(f"{new.describe()}: in force{until} (store version {stored.version})")
    for n in notes:
        print(f"  note: {n}")
    if conflicts:
        print(f"  note: another writer changed the store meanwhile; re-read and applied after {conflicts} "
              f"conflict{'s' if conflicts > 1 else ''}")
    if args.wait > 0:
        applied = wait_applied(nodes, token, stored.version, args.wait)
        for node, took in applied.items():
            print(f"  {node}: " + (f"applied after {took:.2f} s" if took is not None else
                                   f"not applied within {args.wait:g} s"))
        if any(t is None for t in applied.values()):
            return 1
    return 0


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
        print(f"{o.action:5} {o.target:28} {scope:14} {until:19}  {o.author}: {o.reason}")
    if args.history:
        for entry in store.history(args.history):
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.get("at", 0)))
            what = ", ".join(f"{o.get('action')} {o.get('region')}{'/' + o['address'] if o.get('address') else ''}"
                             for o in entry.get("overrides", []))
            print(f"{when}  v{entry.get('version')}  {entry.get('action')}: {what}  "
                  f"({entry.get('author')}: {entry.get('reason') or '-'})")
    return 0
