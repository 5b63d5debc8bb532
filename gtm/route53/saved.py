"""Saved plans (``gtm route53 plan --out FILE``, ``gtm route53 apply FILE``): a plan written as JSON together with
a digest of the zone state it was made from, so that an apply later carries out exactly that plan, or refuses it
when the zone has changed since (pure: JSON in and out; the reads are the caller's)."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, fields
from typing import Any, Iterable

from gtm.errors import GtmError
from gtm.route53.model import HealthCheckSpec, RecordSpec
from gtm.route53.plan import CidrChanges, Collection, ExistingCheck, Plan

FORMAT = "gtm-route53-plan/1"


CIDR_READ = "cidr:"  # the prefix of a digest that covers the CIDR collection (read, or looked for and absent)


def state_digest(records: Iterable[RecordSpec], checks: Iterable[ExistingCheck],
                 collection: Collection | None = None, cidr_read: bool = False) -> str:
    """A digest of everything a plan was made from: every rrset of the zone but the apply lock, every check
    of the owner (with its version, so that a check changed since reads as a change), and the CIDR collection
    when it was read."""
    rows = sorted(json.dumps(_record(r), sort_keys=True) for r in records
                  if not r.name.startswith("_gtm-lock."))  # (the apply lock is no part of what is planned)
    rows += sorted(json.dumps({"id": c.id, "version": c.version, "key": c.key, "spec": asdict(c.spec)},
                              sort_keys=True) for c in checks)
    if collection is not None:
        rows.append(json.dumps(asdict(collection), sort_keys=True))
    return (CIDR_READ if cidr_read else "") + hashlib.sha256("\n".join(rows).encode()).hexdigest()


def _record(r: RecordSpec) -> dict[str, Any]:
    out = {f.name: getattr(r, f.name) for f in fields(RecordSpec) if f.name != "raw"}
    out["values"] = sorted(r.values)
    if r.raw is not None:
        out["raw"] = r.raw
    return out


def _record_from(d: dict[str, Any]) -> RecordSpec:
    d = dict(d)
    raw = d.pop("raw", None)
    d["values"] = tuple(d["values"])
    d["geo"] = tuple(d["geo"]) if d.get("geo") is not None else None
    d["cidr"] = tuple(d["cidr"]) if d.get("cidr") is not None else None
    return RecordSpec(**d, raw=raw)


def _cidr_from(d: dict[str, Any] | None) -> CidrChanges | None:
    if d is None:
        return None
    return CidrChanges(d["collection"], d["id"], int(d["version"]),
                       tuple((loc, tuple(blocks)) for loc, blocks in d["put"]),
                       tuple((loc, tuple(blocks)) for loc, blocks in d["remove"]), bool(d["delete"]))


def _check_from(d: dict[str, Any]) -> HealthCheckSpec:
    d = dict(d)
    d["regions"], d["children"] = tuple(d["regions"]), tuple(d["children"])
    return HealthCheckSpec(**d)


def _existing_from(d: dict[str, Any]) -> ExistingCheck:
    return ExistingCheck(d["id"], int(d["version"]), d["key"], _check_from(d["spec"]))


def _existing(c: ExistingCheck) -> dict[str, Any]:
    return {"id": c.id, "version": c.version, "key": c.key, "spec": asdict(c.spec)}


def dumps(plan: Plan, zone_id: str, owner: str, digest: str, checks: Iterable[ExistingCheck], at: float,
          lock: dict[str, Any] | None = None) -> str:
    """``lock``: the DynamoDB table whose lock the apply takes (gtm.route53.locks.lock_record), or None."""
    return json.dumps({
        "format": FORMAT, "zone": plan.zone, "zone_id": zone_id, "owner": owner, "state": digest, "made": at,
        "create_checks": [asdict(c) for c in plan.create_checks],
        "update_checks": [[_existing(o), asdict(n)] for o, n in plan.update_checks],
        "replace_checks": [[_existing(o), asdict(n)] for o, n in plan.replace_checks],
        "delete_checks": [_existing(c) for c in plan.delete_checks],
        "batches": [[[a, _record(r)] for a, r in b] for b in plan.batches],
        "conflicts": list(plan.conflicts), "warnings": list(plan.warnings), "forms": list(plan.forms),
        "before": [_record(r) for r in plan.before], "checks_after": [asdict(c) for c in plan.checks_after],
        "existing_checks": [_existing(c) for c in checks],
        "cidr": asdict(plan.cidr) if plan.cidr else None, "lock": lock,
    }, indent=1)


def lock_of(text: str) -> dict[str, Any] | None:
    """The lock table a saved plan names (None: the lock record in the zone)."""
    lock = json.loads(text).get("lock")
    return lock if isinstance(lock, dict) and isinstance(lock.get("table"), str) else None


def is_saved(text: str) -> bool:
    return text.lstrip().startswith("{") and FORMAT in text[:200]


def loads(text: str, where: str) -> tuple[Plan, str, str, str, list[ExistingCheck], float]:
    """(plan, zone id, owner, state digest, the checks it was made with, when it was made); GtmError naming the
    file when it is not a saved plan this version reads."""
    try:
        d = json.loads(text)
        if d.get("format") != FORMAT:
            raise ValueError(f"format {d.get('format')!r}, not {FORMAT}")
        plan = Plan(
            zone=d["zone"],
            create_checks=tuple(_check_from(c) for c in d["create_checks"]),
            update_checks=tuple((_existing_from(o), _check_from(n)) for o, n in d["update_checks"]),
            replace_checks=tuple((_existing_from(o), _check_from(n)) for o, n in d["replace_checks"]),
            delete_checks=tuple(_existing_from(c) for c in d["delete_checks"]),
            batches=tuple(tuple((a, _record_from(r)) for a, r in b) for b in d["batches"]),
            conflicts=tuple(d["conflicts"]), warnings=tuple(d["warnings"]),
            before=tuple(_record_from(r) for r in d["before"]),
            checks_after=tuple(_check_from(c) for c in d["checks_after"]), cidr=_cidr_from(d.get("cidr")),
            forms=tuple(str(f) for f in d.get("forms", [])))
        return (plan, str(d["zone_id"]), str(d["owner"]), str(d["state"]),
                [_existing_from(c) for c in d["existing_checks"]], float(d["made"]))
    except (ValueError, KeyError, TypeError) as e:
        raise GtmError(f"{where}: not a saved gtm route53 plan ({type(e).__name__}: {e})") from None
