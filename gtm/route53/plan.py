"""Desired vs existing → a Plan: the exact changes, in an order where every step is valid (pure).

* Only what gtm owns is compared: rrsets whose SetIdentifier starts with ``gtm:<owner>:``, the owner's markers
  (``_gtm-owner.<name>`` TXT), and A/AAAA rrsets (a CNAME only as an alias into gtm's tree) at a name carrying
  the owner's marker or at an internal name (``_gtm-…``) right below one. Any other rrset at a name gtm wants
  to write is a **conflict**: reported, never changed, unless ``adopt`` is given.
* Records: CREATE what is missing, UPSERT only what differs (field by field), DELETE what gtm owns and no
  longer wants (the existing rrset verbatim). Creates and upserts go first, targets before the aliases that
  point at them; a group that keeps rrsets loses its old ones right before it gets the new ones; groups that
  go away entirely are deleted last, aliases before their targets; so no alias ever points at nothing.
* Health checks: create the missing ones first; update in place what may change (with HealthCheckVersion);
  replace (create new, repoint, delete old) what cannot (type, request interval); delete unused ones only
  after the record changes that stopped using them have succeeded.
* Batches respect Route53's limits: 1,000 ResourceRecord elements (UPSERT counts twice) and 32,000
  characters of values per ChangeResourceRecordSets call.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from typing import AbstractSet, Any, Iterable

from gtm.route53.limits import CREATE_CHECK_BURST, CREATE_CHECK_RATE, MAX_RR_ELEMENTS, MAX_VALUE_CHARS
from gtm.route53.model import CHECKER_REGIONS, Desired, HealthCheckSpec, RecordSpec

IMMUTABLE_CHECK_FIELDS = ("type", "request_interval")
Change = tuple[str, RecordSpec]  # (CREATE | UPSERT | DELETE, rrset)


@dataclass(frozen=True)
class ExistingCheck:
    """A health check as read from Route53: its id and version, the gtm key its CallerReference names (None
    when it is not gtm's), and its configuration in gtm's terms (children as keys where known)."""

    id: str
    version: int
    key: str | None
    spec: HealthCheckSpec


@dataclass(frozen=True)
class Collection:
    """A CIDR collection as read from Route53: its id, CollectionVersion and locations (location, blocks)."""

    id: str
    name: str
    version: int
    locations: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class CidrChanges:
    """What changes in the CIDR collection the IP-based records name: blocks put before the record batches
    (the collection created first when ``id`` is None), blocks removed after them (a record never names a
    location that is not there), and the collection deleted at the end when nothing uses it any more."""

    collection: str
    id: str | None = None
    version: int = 0
    put: tuple[tuple[str, tuple[str, ...]], ...] = ()
    remove: tuple[tuple[str, tuple[str, ...]], ...] = ()
    delete: bool = False

    @property
    def create(self) -> bool:
        return self.id is None and bool(self.put)

    def is_empty(self) -> bool:
        return not (self.put or self.remove or self.delete)


def cidr_changes(name: str, want: Iterable[tuple[str, tuple[str, ...]]], have: Collection | None) -> CidrChanges | None:
    """The changes that make collection ``name`` hold exactly ``want`` (None: nothing to do, or no collection
    wanted and none there)."""
    wanted = {loc: set(blocks) for loc, blocks in want}
    held = {loc: set(blocks) for loc, blocks in (have.locations if have else ())}
    put = tuple((loc, tuple(sorted(wanted[loc] - held.get(loc, set())))) for loc in sorted(wanted)
                if wanted[loc] - held.get(loc, set()))
    remove = tuple((loc, tuple(sorted(held[loc] - wanted.get(loc, set())))) for loc in sorted(held)
                   if held[loc] - wanted.get(loc, set()))
    out = CidrChanges(name, have.id if have else None, have.version if have else 0, put, remove,
                      delete=have is not None and not wanted)
    return None if out.is_empty() else out


@dataclass(frozen=True)
class Plan:
    zone: str
    create_checks: tuple[HealthCheckSpec, ...] = ()
    update_checks: tuple[tuple[ExistingCheck, HealthCheckSpec], ...] = ()
    replace_checks: tuple[tuple[ExistingCheck, HealthCheckSpec], ...] = ()
    delete_checks: tuple[ExistingCheck, ...] = ()
    batches: tuple[tuple[Change, ...], ...] = ()
    conflicts: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    before: tuple[RecordSpec, ...] = ()           # what each UPSERT replaces, as Route53 has it
    checks_after: tuple[HealthCheckSpec, ...] = ()  # every check once applied (for the cost line)
    cidr: CidrChanges | None = None
    forms: tuple[str, ...] = ()                   # how regions with hostname endpoints are answered

    @property
    def changes(self) -> tuple[Change, ...]:
        return tuple(c for b in self.batches for c in b)

    def is_empty(self) -> bool:
        return not (self.create_checks or self.update_checks or self.replace_checks or self.delete_checks
                    or self.batches or self.cidr)

    def destructive(self) -> int:
        """Deletes and rewrites of records, check deletions/replacements, region switches turned (a drain
        undone or made) and CIDR locations emptied: ``--force`` beyond a threshold."""
        return sum(1 for a, _ in self.changes if a in ("DELETE", "UPSERT")) + len(self.delete_checks) + \
            len(self.replace_checks) + self.switch_changes() + (len(self.cidr.remove) if self.cidr else 0)

    def counts(self) -> dict[str, int]:
        changes = self.changes
        return {"checks_create": len(self.create_checks), "checks_update": len(self.update_checks),
                "checks_replace": len(self.replace_checks), "checks_delete": len(self.delete_checks),
                "records_create": sum(1 for a, _ in changes if a == "CREATE"),
                "records_upsert": sum(1 for a, _ in changes if a == "UPSERT"),
                "records_delete": sum(1 for a, _ in changes if a == "DELETE"),
                "switches": self.switch_changes(), "batches": len(self.batches), "destructive": self.destructive(),
                "cidr_put": len(self.cidr.put) if self.cidr else 0,
                "cidr_remove": len(self.cidr.remove) if self.cidr else 0}

    def monthly_cost(self) -> float:
        """US dollars a month for the health checks once applied, at :data:`CHECK_PRICES`."""
        return round(sum(check_price(c) for c in self.checks_after), 2)

    def same_changes(self, other: "Plan") -> bool:
        """Whether ``other`` makes the very changes this plan makes (the warnings aside)."""
        return (self.create_checks, self.update_checks, self.replace_checks, self.delete_checks, self.batches,
                self.conflicts, self.cidr) == (other.create_checks, other.update_checks, other.replace_checks,
                                               other.delete_checks, other.batches, other.conflicts, other.cidr)

    def apply_seconds(self) -> float:
        """How long an apply of this plan may take at Route53's CreateHealthCheck rate (the burst, then the
        rate), with an hour's margin for everything else."""
        creates = len(self.create_checks) + len(self.replace_checks)
        return 3600.0 + max(0.0, creates - CREATE_CHECK_BURST) / CREATE_CHECK_RATE * 2

    def switch_changes(self) -> int:
        """Region switches and endpoint checks whose drained state this plan changes."""
        return sum(1 for old, new in self.update_checks if _runtime(new) is not None
                   and _runtime(old.spec) != _runtime(new))

    def to_text(self) -> str:
        out = [f"zone {self.zone}"]
        for c in self.create_checks:
            out.append(f"  + health check {c.key} ({_check_text(c)})")
        for old, new in self.update_checks:
            out.append(f"  ~ health check {new.key} ({old.id}): {', '.join(_diff_fields(old.spec, new))}")
        for old, new in self.replace_checks:
            out.append(f"  ± health check {new.key} ({old.id}) recreated: "
                       f"{', '.join(_diff_fields(old.spec, new))} cannot change in place")
        cidr = self.cidr
        if cidr is not None and cidr.create:
            out.append(f"  + cidr collection {cidr.collection}")
        for loc, blocks in (cidr.put if cidr else ()):
            out.append(f"  + cidr location {loc} {' '.join(blocks)} (in {cidr.collection})")  # type: ignore[union-attr]
        for i, changes in enumerate(self.batches, 1):
            out.append(f"  batch {i} ({len(changes)} changes):")
            for action, r in changes:
                sign = {"CREATE": "+", "UPSERT": "~", "DELETE": "-"}[action]
                out.append(f"    {sign} {_record_text(r)}")
        for loc, blocks in (cidr.remove if cidr else ()):
            out.append(f"  - cidr location {loc} {' '.join(blocks)} (in {cidr.collection}) after the "  # type: ignore[union-attr]
                       "record changes")
        if cidr is not None and cidr.delete:
            out.append(f"  - cidr collection {cidr.collection} ({cidr.id}) after the record changes")
        for gone in self.delete_checks:
            out.append(f"  - health check {gone.key or '?'} ({gone.id}) after the record changes")
        for text in self.conflicts:
            out.append(f"  ! conflict: {text}")
        for text in self.forms:
            out.append(f"  form: {text}")
        for text in self.warnings:
            out.append(f"  warning: {text}")
        creates = len(self.create_checks) + len(self.replace_checks)
        if creates > CREATE_CHECK_BURST:
            minutes = (creates - CREATE_CHECK_BURST) / CREATE_CHECK_RATE / 60
            out.append(f"  note: {creates} health checks to create; at Route53's CreateHealthCheck rate (a burst of "
                       f"{CREATE_CHECK_BURST:g}, then {CREATE_CHECK_RATE:g}/s) that takes about {minutes:.0f} min")
        if self.checks_after:
            out.append(f"  cost: {len(self.checks_after)} health checks, about ${self.monthly_cost():,.2f} a month "
                       f"({PRICES_NOTE})")
        if self.is_empty():
            out.append("  no changes")
        return "\n".join(out)

    def to_json(self) -> str:
        before = {r.key: r for r in self.before}
        return json.dumps({
            "zone": self.zone,
            "health_checks": {"create": [asdict(c) for c in self.create_checks],
                              "update": [{"id": o.id, "key": n.key, "fields": _diff_fields(o.spec, n)}
                                         for o, n in self.update_checks],
                              "replace": [{"id": o.id, "key": n.key, "fields": _diff_fields(o.spec, n)}
                                          for o, n in self.replace_checks],
                              "delete": [{"id": c.id, "key": c.key} for c in self.delete_checks]},
            "batches": [[{"action": a, "record": _record_json(r),
                          **({"before": _record_json(before[r.key])} if a == "UPSERT" and r.key in before else {})}
                         for a, r in b] for b in self.batches],
            "cidr": asdict(self.cidr) if self.cidr else None,
            "conflicts": list(self.conflicts), "warnings": list(self.warnings), "forms": list(self.forms),
            "counts": self.counts(),
            "cost": {"health_checks": len(self.checks_after), "usd_per_month": self.monthly_cost(),
                     "prices": PRICES_NOTE},
        }, indent=2)


def _record_json(r: RecordSpec) -> dict[str, Any]:
    return {k: v for k, v in asdict(r).items() if k != "raw"}


# Route53's health check prices, US dollars a month, as written down on 2026-12-04 from secondary sources (the
# research notes); check https://aws.amazon.com/route53/pricing/ before relying on them. gtm's endpoint checks
# are on non-AWS endpoints (IP addresses); a CALCULATED check is counted as a basic one.
CHECK_PRICES = {"basic": 0.75, "calculated": 0.50, "feature": 2.00}
PRICES_NOTE = "prices of 2026-12-04, unverified: $0.75 an endpoint check, $2 each for HTTPS, string match and a " \
              "10 s interval, $0.50 a CALCULATED check"


def check_price(c: HealthCheckSpec) -> float:
    if c.calculated:
        return CHECK_PRICES["calculated"]
    features = sum((c.type.startswith("HTTPS"), c.type.endswith("_STR_MATCH"), c.request_interval == 10))
    return CHECK_PRICES["basic"] + CHECK_PRICES["feature"] * features


def _check_text(c: HealthCheckSpec) -> str:
    if c.calculated:
        return f"CALCULATED {c.health_threshold} of [{', '.join(c.children)}]" + (" inverted" if c.inverted else "")
    where = c.ip if c.ip is not None else f"{c.fqdn} (by name)"
    return f"{c.type} {where}:{c.port}{c.path or ''} every {c.request_interval} s"


def _record_text(r: RecordSpec) -> str:
    what = (f"alias {r.alias}" + (f" (zone {r.alias_zone})" if r.alias_zone else "")) if r.alias \
        else f"{r.ttl} {' '.join(r.values)}"
    routing = [f"set {r.set_id}"] if r.set_id else []
    for label, value in (("failover", r.failover), ("weight", r.weight), ("geo", r.geo), ("region", r.region),
                         ("cidr", r.cidr[1] if r.cidr else None), ("check", r.health_check)):
        if value is not None:
            routing.append(f"{label} {value if not isinstance(value, tuple) else '-'.join(value)}")
    if r.multivalue:
        routing.append("multivalue")
    return f"{r.name} {r.type} {what}" + (f" [{'; '.join(routing)}]" if routing else "")


def normal_field(spec: HealthCheckSpec, name: str) -> Any:
    """A check's field as compared: children as a set (Route53 keeps no order); checker regions empty when
    they are Route53's default list (which it reports for a check created without any)."""
    value = getattr(spec, name)
    if name == "children":
        return tuple(sorted(value))
    if name == "regions":
        return () if set(value) == set(CHECKER_REGIONS) else tuple(sorted(value))
    return value


def _diff_fields(old: HealthCheckSpec, new: HealthCheckSpec) -> list[str]:
    """The fields of ``new`` that differ from ``old`` (see :func:`normal_field`)."""
    return [f.name for f in fields(HealthCheckSpec) if f.name not in ("key", "region")
            and normal_field(old, f.name) != normal_field(new, f.name)]


MARKER = "_gtm-owner."


def marked_names(existing: Iterable[RecordSpec], owner: str) -> set[str]:
    """The managed names that carry this owner's marker (``_gtm-owner.<name>`` TXT ``"gtm owner=<owner>"``)."""
    value = (f'"gtm owner={owner}"',)
    return {r.name[len(MARKER):] for r in existing
            if r.name.startswith(MARKER) and r.type == "TXT" and r.set_id is None and r.values == value}


def owned(r: RecordSpec, owner: str, marked: set[str]) -> bool:
    """Whether gtm (this owner) wrote ``r``: a SetIdentifier with the owner's prefix; else the owner's marker
    itself; else an A/AAAA or CNAME record at an internal name (``_gtm-…``) right below a name marked as this
    owner's, an A/AAAA record at such a name itself, and a CNAME there only when it is an alias into gtm's own
    tree (a plain CNAME there is someone else's). Nothing else, however it is named."""
    if r.set_id is not None:
        return r.set_id.startswith(f"gtm:{owner}:")
    if r.name.startswith(MARKER):
        return r.type == "TXT" and r.values == (f'"gtm owner={owner}"',)
    internal = r.name.startswith("_gtm-") and r.name.split(".", 1)[1] in marked
    if r.type == "CNAME":  # (hostname endpoints' trees): at a marked name only gtm's own alias into its tree
        return internal or (r.name in marked and r.alias is not None and r.alias.startswith("_gtm-")
                            and r.alias.endswith("." + r.name))
    if r.type not in ("A", "AAAA"):  # all gtm writes besides its markers
        return False
    return r.name in marked or internal


def _runtime(spec: HealthCheckSpec) -> tuple[bool, bool] | None:
    """A check's runtime state (drained or not), for the checks that have one: a region's switch (Inverted)
    and an endpoint's check (Disabled and Inverted: always unhealthy)."""
    if spec.key.startswith("switch:"):
        return (False, spec.inverted)
    if spec.key.startswith("ep:"):
        return (spec.disabled, spec.inverted)
    return None


def switches(desired: Desired, checks: Iterable[ExistingCheck],
             restore_drains: bool = False) -> tuple[Desired, list[str], int]:
    """``desired`` with each existing region switch's ``Inverted``, and each existing endpoint check's
    ``Disabled``/``Inverted``, left as Route53 has them: they are runtime state (a drain), not configuration,
    and a drain made on Route53 by another hand (the console, ``gtm failover --route53`` or ``gtm override drain
    --route53`` from a machine with another override store) must survive a routine apply. Returns that
    desired state, a drift warning per region or endpoint where Route53 and the override store disagree, and
    how many such checks the plan changes: none, unless ``restore_drains``, which un-drains what Route53 has
    drained and the override store has not (what the store drains and Route53 does not is drained there by
    ``gtm failover --route53`` or ``gtm override drain --route53``, never by an apply)."""
    have = {c.key: c for c in checks if c.key is not None and _runtime(c.spec) is not None}
    out, warnings, changed = [], [], 0
    for spec in desired.health_checks:
        old = have.get(spec.key)
        state = _runtime(spec)
        if old is None or state is None or _runtime(old.spec) == state:
            out.append(spec)
            continue
        on_route53 = any(_runtime(old.spec) or ())
        if spec.key.startswith("switch:"):
            what = f"region {spec.key.split(':', 1)[1]}"
            failover, restore = f"gtm failover {what[7:]} --route53", f"gtm restore {what[7:]} --route53"
            how = "inverted"
        else:
            _, _, region, address = spec.key.split(":", 3)
            what = f"endpoint {region}/{address}"
            failover = f"gtm override drain {region}/{address} --route53"
            restore = f"gtm override clear {region}/{address} --route53"
            how = "disabled and inverted"
        if on_route53 and restore_drains:
            out.append(spec)
            changed += 1
            warnings.append(f"{what} is drained on Route53 ({spec.key} {how}) and not in the override store: "
                            f"--restore-drains restores it")
        elif on_route53:
            out.append(replace(spec, disabled=old.spec.disabled, inverted=old.spec.inverted))
            warnings.append(f"drift: {what} is drained on Route53 ({spec.key} {how}) and not in the override "
                            f"store; apply keeps it drained ({restore}, or apply --restore-drains, restores it)")
        else:
            out.append(replace(spec, disabled=old.spec.disabled, inverted=old.spec.inverted))
            warnings.append(f"drift: {what} is drained in the override store and not on Route53; apply leaves "
                            f"Route53 answering it ({failover} drains it there)")
    return replace(desired, health_checks=tuple(out)), warnings, changed


def diff(desired: Desired, existing: Iterable[RecordSpec], checks: Iterable[ExistingCheck], owner: str,
         adopt: bool = False, restore_drains: bool = False, collection: Collection | None = None) -> Plan:
    """The plan that makes Route53 hold ``desired``; ``existing`` records have health check ids already mapped
    to gtm keys where the check is gtm's (and the CIDR collection's id to its name). Region switches keep their
    state on Route53 (:func:`switches`). ``collection``: the owner's CIDR collection for the zone, as read."""
    checks, existing = list(checks), list(existing)
    desired, drift, _ = switches(desired, checks, restore_drains)
    marked = marked_names(existing, owner)
    want = {r.key: r for r in desired.records}
    have_all = {r.key: r for r in existing}
    have = {k: r for k, r in have_all.items() if owned(r, owner, marked)}
    conflicts = []
    wanted_names = {(r.name, r.type) for r in desired.records}
    owners = {r.name for r in desired.records}

    def clash(r: RecordSpec) -> bool:  # a CNAME allows no other type at its name
        return (r.name, r.type) in wanted_names or (r.type == "CNAME" and r.name in owners)

    for k, r in sorted(have_all.items()):
        if k in have or not clash(r):
            continue
        if adopt:
            have[k] = r  # taken over: rewritten or deleted like our own
        else:
            conflicts.append(f"{r.name} {r.type}{' set ' + r.set_id if r.set_id else ''} exists and is not "
                             f"gtm's (owner {owner}); it is left alone (use --adopt to take it over)")
    blocked = {(r.name, r.type) for k, r in have_all.items() if k not in have and (r.name, r.type) in wanted_names}
    blocked |= {(r.name, t) for k, r in have_all.items() if k not in have and r.type == "CNAME" and clash(r)
                for t in ("A", "AAAA", "TXT")}

    # Health checks.
    by_key = {c.key: c for c in checks if c.key is not None}
    create, update, recreate = [], [], []
    for spec in desired.health_checks:
        old = by_key.get(spec.key)
        if old is None:
            create.append(spec)
        elif any(getattr(old.spec, f) != getattr(spec, f) for f in IMMUTABLE_CHECK_FIELDS):
            recreate.append((old, spec))
        elif _diff_fields(old.spec, spec):
            update.append((old, spec))
    # A recreated check gets a new id: every CALCULATED check that combines it must be pointed at the new one.
    renewed = {spec.key for _, spec in recreate}
    planned = {spec.key for spec in create} | {spec.key for _, spec in update} | renewed
    for spec in desired.health_checks:
        if spec.key not in planned and set(spec.children) & renewed:
            update.append((by_key[spec.key], spec))
    wanted_checks = {c.key for c in desired.health_checks}
    delete_checks = [c for k, c in sorted(by_key.items()) if k not in wanted_checks]
    delete_checks += sorted((c for c in checks if c.key is None), key=lambda c: c.id)  # ours, no longer wanted
    delete_checks += [old for old, _ in recreate]

    # Records: field-level diff on (name, type, set id).
    upserts, creates, deletes = [], [], []
    for k, r in want.items():
        if (r.name, r.type) in blocked:
            continue
        if k not in have:
            creates.append(r)
        elif _normal(have[k]) != _normal(r) or r.health_check in {n.key for _, n in recreate}:
            upserts.append(r)
    for k, r in have.items():
        if k not in want:
            deletes.append(r)
    # A (name, type) that keeps rrsets loses its old ones just before it gets the new ones, all in one batch:
    # a replaced group (an adopted record, a changed routing policy) must be empty of the old policy first
    # (Route53 allows one per name), and a group is never half-changed between two batches. Groups that go
    # away entirely are deleted at the end, aliases before their targets.
    replaced = {(r.name, r.type) for r in deletes} & {(r.name, r.type) for r in creates + upserts}
    # A CNAME that goes (an adopted one, or a service's CNAME tree turning into addresses) is deleted in the
    # batch that creates the records at its name, just before them; so are the records of other types at a
    # name that a CNAME comes to (a service turning from addresses into a CNAME tree). The name resolves all
    # along (one atomic batch), and Route53, which applies a batch in order, never holds a CNAME beside another
    # type.
    written = creates + upserts
    before: dict[str, list[RecordSpec]] = {}
    for r in deletes:
        if any(c.name == r.name and (c.type == "CNAME") != (r.type == "CNAME") for c in written):
            before.setdefault(r.name, []).append(r)
    bound = set(before)
    changes: list[Change] = []
    for r in _targets_first(written):
        if r.name in before:
            changes += [("DELETE", d) for d in reversed(_targets_first(before.pop(r.name)))]
        if (r.name, r.type) in replaced:
            replaced.discard((r.name, r.type))
            changes += [("DELETE", d) for d in deletes if (d.name, d.type) == (r.name, r.type)]
        changes.append(("CREATE" if r in creates else "UPSERT", r))
    early = {id(d) for a, d in changes if a == "DELETE"}
    changes += [("DELETE", r) for r in reversed(_targets_first(deletes)) if id(r) not in early]
    # The owner markers: created first and deleted last, so that whatever an interrupted apply left behind
    # still sits under a marker that tells the next plan it is ours.
    changes.sort(key=lambda c: 0 if c[0] != "DELETE" and c[1].name.startswith("_gtm-owner.") else
                 2 if c[0] == "DELETE" and c[1].name.startswith("_gtm-owner.") else 1)
    cidr = cidr_changes(desired.cidr_collection or (collection.name if collection else ""), desired.cidr, collection)
    return Plan(desired.zone, tuple(create), tuple(update), tuple(recreate), tuple(delete_checks),
                tuple(batch(changes, bound=bound)), tuple(conflicts), tuple(drift) + desired.warnings,
                tuple(have[r.key] for r in upserts if r.key in have), desired.health_checks, cidr, desired.forms)


def _normal(r: RecordSpec) -> RecordSpec:
    return replace(r, values=tuple(sorted(r.values)))


def _targets_first(records: list[RecordSpec]) -> list[RecordSpec]:
    """Records ordered so that an alias comes after every record of its target name (depth from the leaves)."""
    names = {(r.name, r.type) for r in records}
    by_name: dict[tuple[str, str], list[RecordSpec]] = {}
    for r in records:
        by_name.setdefault((r.name, r.type), []).append(r)
    depth: dict[tuple[str, str], int] = {}

    def d(n: tuple[str, str], seen: frozenset[tuple[str, str]] = frozenset()) -> int:
        if n in depth:
            return depth[n]
        if n in seen:
            raise ValueError(f"alias loop at {n[0]} {n[1]}")
        deps = [(r.alias, r.type) for r in by_name.get(n, []) if r.alias and (r.alias, r.type) in names]
        depth[n] = 1 + max((d(t, seen | {n}) for t in deps), default=0)
        return depth[n]

    return sorted(records, key=lambda r: (d((r.name, r.type)), r.key))


def _weight(action: str, r: RecordSpec) -> tuple[int, int]:
    n = max(1, len(r.values))
    return (n * (2 if action == "UPSERT" else 1), sum(len(v) for v in r.values) * (2 if action == "UPSERT" else 1))


def batch(changes: list[Change], max_records: int | None = None,
          max_chars: int | None = None, bound: AbstractSet[str] = frozenset()) -> list[tuple[Change, ...]]:
    """Split ``changes`` (already in a valid order) into batches within Route53's limits. All changes of one
    (name, type) stay in one batch, so that a group is never half-changed between two calls; so do all changes
    at a name in ``bound`` (an adopted CNAME and the records that replace it)."""
    max_records = max_records or MAX_RR_ELEMENTS
    max_chars = max_chars or MAX_VALUE_CHARS

    def group(r: RecordSpec) -> tuple[str, str]:
        return (r.name, "") if r.name in bound else (r.name, r.type)

    if bound:  # every change at a bound name next to the others, where the last of them was (all targets exist)
        last = {c[1].name: i for i, c in enumerate(changes) if c[1].name in bound}
        at = {n: [c for c in changes if c[1].name == n] for n in last}
        changes = [x for i, c in enumerate(changes) if c[1].name not in bound or last[c[1].name] == i
                   for x in (at[c[1].name] if c[1].name in bound else [c])]
    groups: list[list[Change]] = []
    for c in changes:
        if groups and group(groups[-1][0][1]) == group(c[1]):
            groups[-1].append(c)
        else:
            groups.append([c])
    out: list[list[Change]] = []
    size = chars = 0
    for g in groups:
        gs = sum(_weight(a, r)[0] for a, r in g)
        gc = sum(_weight(a, r)[1] for a, r in g)
        if out and (size + gs > max_records or chars + gc > max_chars):
            out.append([])
            size = chars = 0
        if not out:
            out.append([])
        out[-1].extend(g)
        size, chars = size + gs, chars + gc
    return [tuple(b) for b in out if b]


__all__ = ["Change", "CidrChanges", "Collection", "ExistingCheck", "Plan", "batch", "diff", "owned"]
