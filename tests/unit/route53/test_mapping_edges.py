"""Edges of the mapping and the plan: weight-0 standbys, latency without any aws_region, ownership of names
nested under another owner's, and a group's changes kept in one batch."""
from __future__ import annotations

import ipaddress
from dataclasses import replace
from pathlib import Path

from gtm import steering
from gtm.config import load
from gtm.model import HealthSnapshot
from gtm.model.effective import Overrides
from gtm.state.overrides import apply
from gtm.route53.desired import desired
from gtm.route53.model import RecordSpec
from gtm.route53.plan import batch, diff, marked_names, owned
from gtm.route53.simulate import simulate

BASE = ("zone: e.test\nsoa: {}\nns: [ns1]\nrecords: {ns1: {A: 13.0.2.53}}\n"
        "monitors: {web: {type: http, port: 80, interval: 10, rise: 3, fall: 3}}\n"
        "vantages: {v: {location: {lat: 0, lon: 0}}}\n")


def world(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    (tmp_path / "e.test.yaml").write_text(BASE + text)
    config = load([str(tmp_path)])
    return config, desired(config, "e.test", "t")


def test_weight_zero_endpoints_are_standbys_on_route53_too(tmp_path: Path) -> None:
    """Region a: 13.0.2.10 (weight 1) and 13.0.2.11 (weight 0). gtm answers the standby only while the
    weighted one is down, and so does the mirror; b only when both are."""
    config, want = world(tmp_path, (
        "regions:\n  a: {location: {lat: 0, lon: 0}, endpoints: [{address: 13.0.2.10}, "
        "{address: 13.0.2.11, weight: 0}]}\n  b: {location: {lat: 0, lon: 9}, endpoints: [13.51.100.1]}\n"
        "services: {www: {regions: [a, b], monitor: web, policy: failover}}\n"))
    svc = config.services[0]
    for down in ((), ("13.0.2.10",), ("13.0.2.10", "13.0.2.11")):
        health = apply(Overrides(), HealthSnapshot(down_endpoints=frozenset(("a", d) for d in down)),
                       config.services)
        gtm = steering.decide(svc, steering.Client(), config, health).a
        observed = {f"ep:web:a:{d}": False for d in down}
        assert simulate(want, observed, "www.e.test.").addresses == gtm, down
    assert {r.failover for r in want.records if r.name == "_gtm-r-a.www.e.test."} == {"PRIMARY", "SECONDARY"}


def test_latency_without_any_aws_region_is_mirrored_as_failover(tmp_path: Path) -> None:
    config, want = world(tmp_path, (
        "regions:\n  a: {location: {lat: 0, lon: 0}, endpoints: [13.0.2.10]}\n"
        "  b: {location: {lat: 0, lon: 9}, endpoints: [13.51.100.1]}\n"
        "services: {www: {regions: [a, b], monitor: web, policy: latency}}\n"))
    assert simulate(want, {}, "www.e.test.").addresses == ("13.0.2.10",)
    assert simulate(want, {"ep:web:a:13.0.2.10": False}, "www.e.test.").addresses == ("13.51.100.1",)
    assert any("no region has an aws_region" in w for w in want.warnings)


def marker(name: str, owner: str) -> RecordSpec:
    return RecordSpec(f"_gtm-owner.{name}", "TXT", None, 300, (f'"gtm owner={owner}"',))


def test_ownership_is_by_marker_and_only_one_level_deep() -> None:
    existing = [marker("www.e.test.", "t"), marker("x.www.e.test.", "blue")]
    marked = marked_names(existing, "t")
    assert marked == {"www.e.test."}
    assert owned(RecordSpec("www.e.test.", "A", None, alias="_gtm-f-1.www.e.test."), "t", marked)
    assert owned(RecordSpec("_gtm-r-a.www.e.test.", "A", "gtm:t:1:ep:a"), "t", marked)
    assert owned(RecordSpec("_gtm-last-a.www.e.test.", "A", None, 30, ("13.0.2.1",)), "t", marked)
    # blue's records under x.www are not t's, however they end
    assert not owned(RecordSpec("_gtm-last-a.x.www.e.test.", "A", None, 30, ("13.0.2.1",)), "t", marked)
    assert not owned(existing[1], "t", marked)
    # other types at a marked name are someone else's
    assert not owned(RecordSpec("www.e.test.", "TXT", None, 300, ('"v=spf1 -all"',)), "t", marked)
    # without the marker, a plain record at a name gtm wants is not gtm's (a conflict)
    assert not owned(RecordSpec("www.e.test.", "A", None, 30, ("13.0.2.7",)), "t", set())


def test_a_group_with_upserts_and_deletes_stays_in_one_batch(tmp_path: Path) -> None:
    """Pool a loses one endpoint and another changes TTL (UPSERT): the DELETE sits right before the group's
    UPSERTs, so even tiny batches never split the group."""
    config, want = world(tmp_path, (
        "regions:\n  a: {location: {lat: 0, lon: 0}, endpoints: [13.0.2.10, 13.0.2.11, 13.0.2.12]}\n"
        "services: {www: {regions: [a], monitor: web, policy: failover}}\n"))
    have = list(want.records)
    pool = [r for r in want.records if r.name == "_gtm-r-a.www.e.test." and r.type == "A"]
    gone = pool[0]
    changed = {r.key: replace(r, ttl=99) for r in pool[1:]}
    new = replace(want, records=tuple(changed.get(r.key, r) for r in want.records if r.key != gone.key))
    plan = diff(new, have, [], "t")
    group = [(a, r.key) for a, r in plan.changes if r.name == gone.name and r.type == "A"]
    assert [a for a, _ in group] == ["DELETE", "UPSERT", "UPSERT"]
    for size in (1, 2, 3):
        batches = batch(list(plan.changes), max_records=size)
        holding = {i for i, b in enumerate(batches) for a, r in b if r.name == gone.name and r.type == "A"}
        assert len(holding) == 1, size
    assert ipaddress.ip_address(gone.values[0])


def test_internal_names_of_two_regions_never_meet(tmp_path: Path) -> None:
    """Region us's standby split and region us-w's pool once shared the name _gtm-r-us-w: us-w's pool then held
    us's weighted endpoints too. Every internal name now belongs to one region."""
    (tmp_path / "z.yaml").write_text("""\
zone: i.test
soa: {}
ns: [ns1]
records: {ns1: {A: 13.0.2.53}}
regions:
  us: {location: {lat: 39, lon: -77}, endpoints: [{address: 3.3.3.1}, {address: 3.3.3.2, weight: 0}]}
  us-w: {location: {lat: 45, lon: -120}, endpoints: [4.4.4.1]}
services:
  www: {regions: [us, us-w], policy: failover}
""")
    want = desired(load([str(tmp_path)]), "i.test", "t")
    by_name: dict[str, set[str]] = {}
    for r in want.records:
        if r.multivalue:
            by_name.setdefault(r.name, set()).update(r.values)
    assert by_name == {"_gtm-rw-us.www.i.test.": {"3.3.3.1"}, "_gtm-rs-us.www.i.test.": {"3.3.3.2"},
                       "_gtm-r-us-w.www.i.test.": {"4.4.4.1"}}
