"""``gtm explain``: why a name answers what it answers for a client, told by the code the server runs.

By default it asks a running node (``/v1/explain`` on its admin API: the table it answers from, under the live
health and overrides): ``--node URL``, else the config's first drill node or its ``admin.listen``. When no node
answers there, or with ``--offline``, it explains from the files: the same compiled table the server would
build (config + health file + GeoIP, everything up unless the health file says otherwise). It says which.
The trail comes from ``steering.rank`` and ``steering.choose``, the functions that compiled the answer (see
``gtm.admin.explain``).
"""
from __future__ import annotations

import argparse
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from gtm.admin.app import read_token
from gtm.admin.explain import client_key, explain_table, qtype_of
from gtm.cli.loading import build, load
from gtm.errors import GtmError, UsageError
from gtm.fleet import nodes_of


def explain(table_paths: list[str], name: str, client_text: str | None, qtype_text: str,
            health_file: str | None) -> dict[str, Any]:
    """The explanation from the files, as a JSON-able dict (``regions`` lists the ranked regions)."""
    qtype_of(qtype_text)  # a bad type is reported before the config is loaded
    return explain_table(build(table_paths, health_file), name, client_text, qtype_text)


class Unreachable(GtmError):
    """No node answered at the URL (as opposed to a node that answered with an error)."""


def ask_node(url: str, token: str | None, name: str, client_text: str | None, qtype_text: str,
             timeout: float = 3.0) -> dict[str, Any]:
    """The explanation of the node at ``url`` (its live table). Unreachable when nothing answers there;
    GtmError with the node's reason when it refuses."""
    query = {"name": name, "type": qtype_text, **({"client": client_text} if client_text else {})}
    req = urllib.request.Request(f"{url.rstrip('/')}/v1/explain?{urllib.parse.urlencode(query)}")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    ctx = ssl.create_default_context() if url.startswith("https") else None
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
            return json.loads(resp.read().decode())  # type: ignore[no-any-return]
    except urllib.error.HTTPError as e:
        try:
            reason = json.loads(e.read().decode()).get("error", e.reason)
        except (ValueError, AttributeError):
            reason = e.reason
        raise GtmError(f"node {url}: {e.code} {reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise Unreachable(f"no node answers at {url} ({getattr(e, 'reason', e)})") from None


def _endpoint(e: dict[str, Any]) -> str:
    """``192.0.2.10``, ``192.0.2.11 (down)``, ``lb.example.net [ok: 192.0.2.7, 192.0.2.8]``."""
    text = e["address"]
    if "hostname" in e:
        text += f" [{e['state']}: {', '.join(e['resolved']) or 'no address'}]"
    return text + ("" if e["up"] else " (down)")


def render(info: dict[str, Any]) -> str:
    if not info["managed"]:
        if info["zone"] is None:
            return f"{info['name']} {info['type']}: outside every served zone: the server answers REFUSED"
        what = {0: "NOERROR", 3: "NXDOMAIN (no such name)"}.get(info["rcode"], f"RCODE {info['rcode']}")
        lines = [f"{info['name']} {info['type']}: static data of zone {info['zone']} (not a managed name): {what}"]
        lines += [f"  {line}" for line in info["answer"]] or ["  (no records of this type)"]
        return "\n".join(lines + _dnssec(info))
    c = info["client"]
    who = f"{c['network']} ({c['location']})" if c["network"] else "an unknown client (no address)"
    lines = [f"{info['name']} {info['type']} for {who}",
             f"service {info['service']} in zone {info['zone']}, policy {info['policy']}, class {info['class']!r}",
             f"  ({info['policy']}: {info['policy_summary']})"]
    lines.append("regions, best first:")
    for r in info["regions"]:
        extra = []
        if "distance_km" in r:
            extra.append(f"{r['distance_km']:.0f} km")
        if "rtt_ms" in r:
            extra.append(f"{r['rtt_ms']['ms']:.1f} ms from {r['rtt_ms']['vantage']}")
        eps = ", ".join(_endpoint(e) for e in r["endpoints"])
        lines.append(f"  {r['name']:<16} {'up  ' if r['up'] else 'DOWN'}  {'; '.join(extra):<28} {eps}")
    lines.append("trail:")
    lines += [f"  {step}" for step in info["trail"]]
    if info.get("note"):
        lines.append(f"note: {info['note']}")
    answer = ", ".join(info["answer"]) or "no addresses (NODATA)"
    if info.get("cname"):
        answer = f"CNAME {info['cname']}" + (f" ({', '.join(info['answer'][1:])} from our zones)"
                                                if len(info["answer"]) > 1 else "")
    lines.append(f"answer: {answer}  (TTL {info['ttl']}, mode {info['mode']})")
    lines.append(f"ECS scope: /{info['ecs_scope']}" + ("" if c["ecs"] else " (only sent to ECS queries)"))
    lines += _dnssec(info)
    lines.append("reply:")
    lines += [f"  {line}" for line in info["reply"].splitlines()]
    return "\n".join(lines)


def _dnssec(info: dict[str, Any]) -> list[str]:
    """A signed zone's answer: what a DO=1 query gets besides (the window, the keys, the denial NSEC)."""
    d = info.get("dnssec")
    if d is None:
        return []
    lines = [f"DNSSEC (to DO=1 queries): {d['signatures']} RRSIG(s) by key {', '.join(map(str, d['keys']))}, "
             f"valid {d['inception']} to {d['expiration']}; signed afresh from {d['renewed_from']}"]
    lines += [f"  denial (RFC 9824): {line}" for line in d.get("denial", [])]
    return lines


def run(args: argparse.Namespace) -> int:
    try:  # bad values are usage errors (exit 2), reported before any node is asked
        qtype_of(args.type)
        client_key(args.client)
    except GtmError as e:
        raise UsageError(str(e)) from None
    info, source = None, ""
    if not args.offline and not args.health:
        config = load(args.paths)
        url = args.node or (nodes_of(config)[0].admin or "")
        try:
            info = ask_node(url, read_token(config.admin), args.name, args.client, args.type)
            source = f"the node at {url} (its live health and overrides)"
        except Unreachable as e:
            if args.node:
                raise
            source = f"the files: {e}; everything counts as up"
    if info is None:
        info = explain(args.paths, args.name, args.client, args.type, args.health)
        source = source or ("the files, under the health file " + args.health if args.health
                            else "the files (--offline): everything counts as up")
    info["source"] = source
    print(json.dumps(info, indent=2) if args.json else f"from {source}\n" + render(info))
    return 0
