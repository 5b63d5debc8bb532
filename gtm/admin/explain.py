"""Explaining a decision: the answer as the server's own compiled table gives it, and the trail from the
steering functions that compiled it. Used by ``gtm explain`` and ``GET /v1/explain``."""
from __future__ import annotations

import struct
import time
from typing import Any

from gtm import steering
from gtm.dns.codec import describe, ecs_data, name_to_wire
from gtm.dns.table import Entry, Steered, Table, client_of
from gtm.dnssec.sign import NSEC, RRSIG, SKEW, nsec_text
from gtm.errors import GtmError
from gtm.model import A, AAAA, CNAME, TYPE_NAMES, TYPE_NUMBERS, Config, Service
from gtm.model.effective import Effective
from gtm.model.net import parse_client
from gtm.steering.geomath import distance_km
from gtm.steering.latency import nearest_vantage


def client_key(text: str | None) -> bytes | str | None:
    """``IP`` -> the source-address key; ``IP/LEN`` -> the ECS key (as a query with that ECS option)."""
    if text is None:
        return None
    try:
        net = parse_client(text)
    except ValueError as e:
        raise GtmError(f"--client: {e}") from None
    return ecs_data(net) if "/" in text else str(net.network_address)


def _regions(service: Service, config: Config, health: Effective, client: steering.Client,
             ranking: steering.Ranking) -> list[dict[str, Any]]:
    vantage = nearest_vantage(config, client)
    rtt = health.rtt()
    view = health.for_service(service.ref)
    out = []
    for name in ranking.order:
        region = config.regions[name]
        eps = []
        for e in region.endpoints:
            ep: dict[str, Any] = {"address": e.key, "weight": e.weight, "up": view.endpoint_up(name, e.key)}
            if e.hostname is not None:  # a hostname endpoint: its addresses as resolved, and their state
                lookup = view.names.get(e.hostname)
                usable = lookup.usable(e.hostname in view.keep)
                ep.update({"hostname": e.hostname, "resolved": list(lookup.v4 + lookup.v6), "state": lookup.state,
                           "up": ep["up"] and usable and bool(lookup.v4 + lookup.v6)})
            eps.append(ep)
        row: dict[str, Any] = {"name": name, "up": any(e["up"] for e in eps), "endpoints": eps}
        if client.geo.location is not None:
            row["distance_km"] = round(distance_km(client.geo.location, region.location), 1)
        if vantage is not None and (vantage, name) in rtt:
            row["rtt_ms"] = {"vantage": vantage, "ms": rtt[(vantage, name)]}
        out.append(row)
    return out


def _utc(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def signature(table: Table, entry: Entry) -> dict[str, Any] | None:
    """How a DO=1 query gets this answer in a signed zone: the keys, the validity window, the RRSIGs and the
    denial NSEC (RFC 9824); None for an unsigned zone's answer."""
    signer = table.signers.get(entry.resolution.zone or "")
    pending = entry.dnssec
    if signer is None or pending is None:
        return None
    signed = pending if isinstance(pending, Entry) else pending.build()
    sections = signed.resolution.answer + signed.resolution.authority
    out: dict[str, Any] = {
        "keys": [k.tag for k in signer.data_keys], "inception": _utc(signer.inception),
        "expiration": _utc(signer.expiration), "renewed_from": _utc(signer.inception + SKEW + signer.period),
        "signatures": sum(len(rr.rrset.rdatas) for rr in sections if rr.rrset.rtype == RRSIG)}
    denial = [line for rr in sections if rr.rrset.rtype == NSEC for line in nsec_text(rr.rrset)]
    if denial:
        out["denial"] = denial
    return out


def qtype_of(text: str) -> int:
    qtype = TYPE_NUMBERS.get(text.upper())
    if qtype not in (A, AAAA):
        raise GtmError(f"--type must be A or AAAA (got {text!r})")
    return qtype  # type: ignore[return-value]


def explain_table(table: Table, name: str, client_text: str | None, qtype_text: str) -> dict[str, Any]:
    """The explanation from a compiled table (the server's own, for the admin API)."""
    qtype = qtype_of(qtype_text)
    qname = name.lower().rstrip(".") + "."
    key = client_key(client_text)
    found = table.lookup(name_to_wire(qname) + struct.pack("!H", qtype), qname, qtype)
    out: dict[str, Any] = {"name": qname, "type": TYPE_NAMES[qtype]}
    if not isinstance(found, Steered):
        res = found.resolution
        out.update({"managed": False, "rcode": res.rcode, "zone": res.zone,
                    "answer": [line for rr in res.answer for line in rr.rrset.to_text()]})
        if (signed := signature(table, found)) is not None:
            out["dnssec"] = signed
        return out
    service, config, health = found.service, table.config, table.health
    client = client_of(key, table.locate)
    ranking = steering.rank(service, client, table.context)
    decision = steering.choose(service, ranking, config, health)
    entry: Entry = found.pick(key)  # what the server answers this client with
    # The reply itself, as the server sends it to this client (ID 0, RD off, no EDNS), rendered like dig.
    wire = struct.pack("!H", 0) + entry.heads[0] + name_to_wire(qname) + struct.pack("!HH", qtype, 1) + entry.body
    answered = [str(rd.fields[0]) for rr in entry.resolution.answer if rr.rrset.rtype in (qtype, CNAME)
                for rd in rr.rrset.rdatas]
    out.update({
        "managed": True, "service": service.key, "ref": service.ref, "policy": service.policy.kind, "zone": service.zone,
        "policy_summary": steering.POLICIES[service.policy.kind].summary,
        "client": {"network": None if client.address is None else f"{client.address}/{client.prefix}",
                   "ecs": isinstance(key, bytes), "location": client.geo.describe(),
                   "continent": client.geo.continent, "country": client.geo.country,
                   "subdivisions": list(client.geo.subdivisions), "asn": client.geo.asn,
                   "database_network_prefix": client.geo.city_prefix},
        "regions": _regions(service, config, health, client, ranking),
        "class": ranking.key, "trail": list(decision.trail), "mode": decision.mode,
        "answer": answered, "ttl": service.ttl, "ecs_scope": entry.scope, "reply": describe(wire),
        "answer_as": service.answer_as,
    })
    if (signed := signature(table, entry)) is not None:
        out["dnssec"] = signed
    if decision.cname is not None:
        out["cname"] = decision.cname
    if ranking.weights is not None:
        out["weights"] = dict(ranking.weights)
        out["note"] = "the first region is drawn per query by weight; the answer shown is one draw"
    return out
