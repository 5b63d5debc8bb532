"""``gtm explain``: why a name answers what it answers for a client, told by the code the server runs.

The answer comes from the same compiled table the server would build (config + health file + GeoIP), asked
the way the query path asks it; the trail comes from ``steering.rank`` and ``steering.choose``, the functions
that compiled that answer.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import struct
from typing import Any

from gtm import steering
from gtm.dns.codec import name_to_wire
from gtm.dns.table import Entry, Steered, Table, client_of
from gtm.errors import GtmError
from gtm.model import A, AAAA, TYPE_NAMES, TYPE_NUMBERS, Config, HealthSnapshot, Service
from gtm.runtime import Builder
from gtm.steering.geomath import distance_km
from gtm.steering.latency import nearest_vantage


def client_key(text: str | None) -> bytes | str | None:
    """``IP`` -> the source-address key; ``IP/LEN`` -> the ECS key (as a query with that ECS option)."""
    if text is None:
        return None
    try:
        if "/" not in text:
            return str(ipaddress.ip_address(text))
        net = ipaddress.ip_network(text, strict=False)
    except ValueError as e:
        raise GtmError(f"--client: {e}") from None
    nbytes = (net.prefixlen + 7) // 8
    return struct.pack("!HBB", 1 if net.version == 4 else 2, net.prefixlen, 0) + net.network_address.packed[:nbytes]


def _regions(service: Service, config: Config, health: HealthSnapshot, client: steering.Client,
             ranking: steering.Ranking) -> list[dict[str, Any]]:
    vantage = nearest_vantage(config, client)
    rtt = health.rtt()
    health = health.for_monitor(service.monitor)
    out = []
    for name in ranking.order:
        region = config.regions[name]
        eps = [{"address": str(e.address), "weight": e.weight, "up": health.endpoint_up(name, str(e.address))}
               for e in region.endpoints]
        row: dict[str, Any] = {"name": name, "up": any(e["up"] for e in eps), "endpoints": eps}
        if client.geo.location is not None:
            row["distance_km"] = round(distance_km(client.geo.location, region.location), 1)
        if vantage is not None and (vantage, name) in rtt:
            row["rtt_ms"] = {"vantage": vantage, "ms": rtt[(vantage, name)]}
        out.append(row)
    return out


def explain(table_paths: list[str], name: str, client_text: str | None, qtype_text: str,
            health_file: str | None) -> dict[str, Any]:
    """The explanation as a JSON-able dict (``regions`` lists the ranked regions)."""
    _qtype(qtype_text)  # a bad type is reported before the config is loaded
    return explain_table(Builder(health_file)(table_paths), name, client_text, qtype_text)


def _qtype(text: str) -> int:
    qtype = TYPE_NUMBERS.get(text.upper())
    if qtype not in (A, AAAA):
        raise GtmError(f"--type must be A or AAAA (got {text!r})")
    return qtype  # type: ignore[return-value]


def explain_table(table: Table, name: str, client_text: str | None, qtype_text: str) -> dict[str, Any]:
    """The explanation from a compiled table (the server's own, for the admin API)."""
    qtype = _qtype(qtype_text)
    qname = name.lower().rstrip(".") + "."
    key = client_key(client_text)
    found = table.lookup(name_to_wire(qname) + struct.pack("!H", qtype), qname, qtype)
    out: dict[str, Any] = {"name": qname, "type": TYPE_NAMES[qtype]}
    if not isinstance(found, Steered):
        res = found.resolution
        out.update({"managed": False, "rcode": res.rcode, "zone": res.zone,
                    "answer": [line for rr in res.answer for line in rr.rrset.to_text()]})
        return out
    service, config, health = found.service, table.config, table.health
    client = client_of(key, table.locate)
    ranking = steering.rank(service, client, table.context)
    decision = steering.choose(service, ranking, config, health)
    entry: Entry = found.pick(key)  # what the server answers this client with
    answered = [str(rd.fields[0]) for rr in entry.resolution.answer if rr.rrset.rtype == qtype
                for rd in rr.rrset.rdatas]
    out.update({
        "managed": True, "service": service.key, "policy": service.policy.kind, "zone": service.zone,
        "client": {"network": None if client.address is None else f"{client.address}/{client.prefix}",
                   "ecs": isinstance(key, bytes), "location": client.geo.describe(),
                   "continent": client.geo.continent, "country": client.geo.country,
                   "subdivisions": list(client.geo.subdivisions), "asn": client.geo.asn,
                   "database_network_prefix": client.geo.city_prefix},
        "regions": _regions(service, config, health, client, ranking),
        "class": ranking.key, "trail": list(decision.trail), "mode": decision.mode,
        "answer": answered, "ttl": service.ttl, "ecs_scope": entry.scope,
    })
    if ranking.weights is not None:
        out["weights"] = dict(ranking.weights)
        out["note"] = "the first region is drawn per query by weight; the answer shown is one draw"
    return out


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
             f"service {info['service']} in zone {info['zone']}, policy {info['policy']}, class {info['class']!r}"]
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
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    info = explain(args.paths, args.name, args.client, args.type, args.health)
    print(json.dumps(info, indent=2) if args.json else render(info))
    return 0
