"""``gtm explain``: why a name answers what it answers for a client, told by the code the server runs.

The answer comes from the same compiled table the server would build (config + health file + GeoIP), asked
the way the query path asks it; the trail comes from ``steering.rank`` and ``steering.choose``, the functions
that compiled that answer (see ``gtm.admin.explain``).
"""
from __future__ import annotations

import argparse
import json
from typing import Any

from gtm.admin.explain import explain_table, qtype_of
from gtm.cli.loading import build


def explain(table_paths: list[str], name: str, client_text: str | None, qtype_text: str,
            health_file: str | None) -> dict[str, Any]:
    """The explanation as a JSON-able dict (``regions`` lists the ranked regions)."""
    qtype_of(qtype_text)  # a bad type is reported before the config is loaded
    return explain_table(build(table_paths, health_file), name, client_text, qtype_text)


def render(info: dict[str, Any]) -> str:
    if not info["managed"]:
        if info["zone"] is None:
            return f"{info['name']} {info['type']}: outside every served zone: the server answers REFUSED"
        what = {0: "NOERROR", 3: "NXDOMAIN (no such name)"}.get(info["rcode"], f"RCODE {info['rcode']}")
        lines = [f"{info['name']} {info['type']}: static data of zone {info['zone']} (not a managed name): {what}"]
        lines += [f"  {line}" for line in info["answer"]] or ["  (no records of this type)"]
        return "\n".join(lines)
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
        eps = ", ".join(f"{e['address']}{'' if e['up'] else ' (down)'}" for e in r["endpoints"])
        lines.append(f"  {r['name']:<16} {'up  ' if r['up'] else 'DOWN'}  {'; '.join(extra):<28} {eps}")
    lines.append("trail:")
    lines += [f"  {step}" for step in info["trail"]]
    if info.get("note"):
        lines.append(f"note: {info['note']}")
    answer = ", ".join(info["answer"]) or "no addresses (NODATA)"
    lines.append(f"answer: {answer}  (TTL {info['ttl']}, mode {info['mode']})")
    lines.append(f"ECS scope: /{info['ecs_scope']}" + ("" if c["ecs"] else " (only sent to ECS queries)"))
    lines.append("reply:")
    lines += [f"  {line}" for line in info["reply"].splitlines()]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    info = explain(args.paths, args.name, args.client, args.type, args.health)
    print(json.dumps(info, indent=2) if args.json else render(info))
    return 0
