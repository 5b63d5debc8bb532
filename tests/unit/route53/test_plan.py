"""Plans: minimal, ordered, owned-only, within Route53's batch limits (plain values)."""
from __future__ import annotations

import tempfile

from dataclasses import replace
from pathlib import Path

import pytest

from gtm.config import load
from gtm.route53.desired import desired
from gtm.route53.model import Desired, RecordSpec
from gtm.route53.plan import ExistingCheck, Plan, batch, diff
from tests.support.route53 import public_example

ROOT = Path(__file__).resolve().parents[3]
# The bundled example with public addresses (Route53 refuses checks on documentation ranges): written once.
ZONES = public_example(Path(tempfile.mkdtemp(prefix="gtm-route53-example-")))


@pytest.fixture(scope="module")
def want() -> Desired:
    return desired(load([str(ZONES)]), "example.com", "main")


def applied(want: Desired) -> tuple[list[RecordSpec], list[ExistingCheck]]:
    """What Route53 holds after a successful apply of ``want`` (checks read back with their keys)."""
    return list(want.records), [ExistingCheck(f"id-{i}", 1, c.key, c) for i, c in enumerate(want.health_checks)]


def order_is_valid(plan: Plan, existing: list[RecordSpec]) -> None:
    """Replaying the changes in order, no alias ever points at a name that does not exist."""
    state = {r.key: r for r in existing}
    for action, r in plan.changes:
        if action == "DELETE":
            del state[r.key]
        else:
            state[r.key] = r
        names = {(x.name, x.type) for x in state.values()}
        for x in state.values():
            assert x.alias is None or (x.alias, x.type) in names, f"{x.name} -> {x.alias} dangles after {action} {r.key}"


def test_initial_plan_creates_everything_in_a_valid_order(want: Desired) -> None:
    plan = diff(want, [], [], "main")
    assert [a for a, _ in plan.changes] == ["CREATE"] * len(want.records)
    assert len(plan.create_checks) == len(want.health_checks)
    order_is_valid(plan, [])
    assert len(plan.batches) == 1


def test_second_plan_is_empty(want: Desired) -> None:
    records, checks = applied(want)
    plan = diff(want, records, checks, "main")
    assert plan.is_empty(), plan.to_text()
    assert plan.to_text().endswith("no changes")


def test_one_value_change_is_one_upsert(want: Desired) -> None:
    records, checks = applied(want)
    pool = next(r for r in want.records if r.multivalue and r.type == "A")
    changed = replace(pool, ttl=(pool.ttl or 0) + 1)
    new = replace(want, records=tuple(changed if r.key == pool.key else r for r in want.records))
    plan = diff(new, records, checks, "main")
    assert plan.changes == (("UPSERT", changed),)
    assert not (plan.create_checks or plan.update_checks or plan.delete_checks)


def test_a_switch_is_runtime_state_an_apply_leaves_alone(want: Desired) -> None:
    drained = replace(want, health_checks=tuple(replace(c, inverted=True) if c.key == "switch:eu-west" else c
                                                 for c in want.health_checks))
    records, checks = applied(drained)  # Route53 has eu-west drained; the override store does not
    plan = diff(want, records, checks, "main")
    assert plan.is_empty() and plan.destructive() == 0
    assert plan.warnings[0].startswith("drift: region eu-west is drained on Route53 (switch:eu-west inverted) and "
                                       "not in the override store; apply keeps it drained")
    # asked to, it restores the region: one switch update, counted as destructive
    plan = diff(want, records, checks, "main", restore_drains=True)
    assert [(old.key, new.inverted) for old, new in plan.update_checks] == [("switch:eu-west", False)]
    assert not plan.changes and not plan.create_checks and not plan.delete_checks
    assert plan.switch_changes() == 1 and plan.destructive() == 1
    # the store drains a region Route53 answers: an apply never drains it (gtm failover --route53 does)
    records, checks = applied(want)
    plan = diff(drained, records, checks, "main", restore_drains=True)
    assert plan.is_empty()
    assert plan.warnings[0].startswith("drift: region eu-west is drained in the override store and not on Route53")


def test_foreign_records_are_never_touched(want: Desired) -> None:
    records, checks = applied(want)
    foreign = RecordSpec("www.example.com.", "TXT", None, 300, ('"not ours"',))
    elsewhere = RecordSpec("other.example.com.", "A", None, 300, ("13.0.2.99",))
    clash = RecordSpec("api.example.com.", "A", "someone-else", 60, ("13.0.2.1",), weight=1)
    plan = diff(want, records + [foreign, elsewhere, clash], checks, "main")
    touched = {r.key for _, r in plan.changes}
    assert not touched & {foreign.key, elsewhere.key, clash.key}
    assert [c.split(" exists")[0] for c in plan.conflicts] == ["api.example.com. A set someone-else"]
    adopted = diff(want, records + [clash], checks, "main", adopt=True)
    assert ("DELETE", clash) in adopted.changes and not adopted.conflicts


def test_another_owner_is_left_alone(want: Desired) -> None:
    theirs = desired(load([str(ZONES)]), "example.com", "blue")
    records, checks = applied(want)
    plan = diff(theirs, records, [], "blue")
    assert all(a != "DELETE" for a, _ in plan.changes)  # blue never deletes main's rrsets


def test_leftovers_are_deleted_after_the_creates(want: Desired) -> None:
    records, checks = applied(want)
    gone = next(r for r in want.records if r.weight is None and r.failover == "PRIMARY")
    old_only = RecordSpec("_gtm-f-0000000000.www.example.com.", "A", "gtm:main:x:primary:old", alias=gone.alias,
                          evaluate_target_health=True, failover="PRIMARY")
    stale_check = ExistingCheck("id-stale", 1, "ep:gone:13.0.2.250", replace(want.health_checks[0], key="ep:gone"))
    plan = diff(want, records + [old_only], checks + [stale_check], "main")
    assert plan.changes == (("DELETE", old_only),)
    assert [c.id for c in plan.delete_checks] == ["id-stale"]
    order_is_valid(plan, records + [old_only])


def test_immutable_check_fields_recreate(want: Desired) -> None:
    records, checks = applied(want)
    ep = next(c for c in checks if c.key and c.key.startswith("ep:"))
    old = replace(ep, spec=replace(ep.spec, request_interval=30 if ep.spec.request_interval == 10 else 10))
    plan = diff(want, records, [old if c.id == ep.id else c for c in checks], "main")
    assert [o.id for o, _ in plan.replace_checks] == [ep.id]
    assert ep.id in [c.id for c in plan.delete_checks]
    assert {r.health_check for _, r in plan.changes} == {ep.key}  # records using it are repointed


def test_large_plans_split_into_batches_within_limits() -> None:
    changes = [("CREATE", RecordSpec(f"_gtm-r-x.n{i}.example.com.", "A", f"gtm:main:{i}", 60,
                                     tuple(f"10.0.{j}.{i % 250}" for j in range(3)), multivalue=True))
               for i in range(1500)]
    batches = batch(changes)
    assert len(batches) >= 5
    for b in batches:
        assert sum(len(r.values) * (2 if a == "UPSERT" else 1) for a, r in b) <= 1000
        assert sum(len(v) for _, r in b for v in r.values) <= 32_000
    assert [c for b in batches for c in b] == changes  # order kept
    upserts = [("UPSERT", r) for _, r in changes[:600]]
    assert all(sum(2 * len(r.values) for _, r in b) <= 1000 for b in batch(upserts))


def test_a_changed_routing_policy_replaces_the_group_in_one_batch(want: Desired, tmp_path: Path) -> None:
    """www turns from geo into failover: its old geolocation rrsets are deleted right before the new failover
    ones are created (Route53 allows one policy per name and type), in one batch even when batches are small,
    and every batch passes the strict validator in order."""
    from gtm.route53.validate import apply_changes, validate_batch
    text = (ZONES / "example.com.yaml").read_text()
    start = text.index("  www:\n")
    end = text.index("\n  api:", start)
    (tmp_path / "example.com.yaml").write_text(
        text[:start] + "  www:\n    regions: [eu-west, us-east]\n    policy: failover\n" + text[end + 1:])
    new = desired(load([str(tmp_path)]), "example.com", "main")
    records, checks = applied(want)
    plan = diff(new, records, checks, "main")
    top = [(a, r) for a, r in plan.changes if r.name == "www.example.com." and r.type == "A"]
    assert {a for a, _ in top} == {"DELETE", "CREATE"}
    first_create = [a for a, _ in top].index("CREATE")
    assert all(a == "DELETE" for a, _ in top[:first_create]) and all(a == "CREATE" for a, _ in top[first_create:])
    small = batch(list(plan.changes), max_records=8)
    assert len(small) > 3
    assert [i for i, b in enumerate(small) for a, r in b if (r.name, r.type) == ("www.example.com.", "A")] == \
        [next(i for i, b in enumerate(small) if any(r.name == "www.example.com." and r.type == "A" for _, r in b))] * \
        len(top)
    state = {r.key: r for r in records}
    known = {c.key for c in new.health_checks} | {c.key for c in want.health_checks}
    for b in plan.batches:
        assert validate_batch(list(b), state, known) == []
        state = apply_changes(state, list(b))


def test_owner_markers_come_first_and_go_last(want: Desired) -> None:
    """An interrupted apply must leave every record it wrote under a marker the next plan recognises: the
    markers are the first creates and the last deletes; and records under a marker of ours whose service is
    gone from the config are deleted (they are ours), while another owner's are not."""
    first = diff(want, [], [], "main").changes
    markers = [i for i, (_, r) in enumerate(first) if r.name.startswith("_gtm-owner.")]
    assert markers == list(range(len(markers))) and len(markers) == 3  # www, api, shop
    records, checks = applied(want)
    empty = replace(want, records=(), health_checks=())
    gone = diff(empty, records, checks, "main").changes
    assert {r.key for _, r in gone} == {r.key for r in records} and all(a == "DELETE" for a, _ in gone)
    tail = [r.name for _, r in gone[-2:]]
    assert all(n.startswith("_gtm-owner.") for n in tail)
    assert diff(empty, records, checks, "other").changes == ()  # not other's to delete
