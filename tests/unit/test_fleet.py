"""gtm.fleet: /v1/status as one type at both ends, override plans (guardrails, dry runs) and their application
with compare-and-swap, planning again when another writer got there first. The store is the real file store."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from gtm import fleet
from gtm.config import load
from gtm.errors import GtmError, UnsafePlan
from gtm.fleet import NodeStatus, OverridesStatus, ServiceStatus, Situation
from gtm.model import Config, NodeAddress, Override
from gtm.state import overrides as ov
from gtm.state.store import FileStore, Stored, audit_entry

ZONES = Path(__file__).resolve().parents[2] / "zones"
NOW = 1_800_000_000.0
ALL_UP = Situation({"www": ["us-east", "eu-west", "ap-southeast"], "api": ["eu-west", "us-east", "ap-southeast"]},
                   {})


@pytest.fixture(scope="module")
def cfg() -> Config:
    return load(str(ZONES))


def draining(cfg: Config, region: str, new_id: str = "d1") -> fleet.Change:
    def change(current: Stored, now: float) -> tuple[list[Override], str, list[Override]]:
        new = ov.make(cfg, current.overrides, "drain", region, service=None, reason="test", author="t", now=now,
                      expires_in=None, new_id=new_id)
        return ov.put(current.overrides, new, now), "drain", [new]
    return change


def test_node_status_round_trips_through_json() -> None:
    st = NodeStatus(3, ("zones/a.yaml",), ("example.com.",), None, ("127.0.0.1:5353",), True, 2,
                    {"ready": True, "vantages": []},
                    OverridesStatus("file", "/tmp/s.json", 7, None, (Override("x", "drain", "eu-west", created=1.0),)),
                    (ServiceStatus("www", "geo", ("www.example.com.",), ("us-east",), ("us-east", "eu-west"), 1.5),),
                    {"eu-west": ("198.51.100.10",)})
    body = json.loads(json.dumps(st.to_json()))  # as it crosses HTTP
    assert body["overrides"]["in_force"][0]["target"] == "eu-west"
    node = NodeAddress(("127.0.0.1", 5353), "http://127.0.0.1:8053")
    back = NodeStatus.from_json(body, node)
    assert back == NodeStatus(**{**st.__dict__, "node": node})
    assert back.up_regions() == {"www": ["us-east", "eu-west"]} and back.healthy_regions() == {"www": ["us-east"]}
    assert back.rates() == {"www": 1.5} and back.override_version() == 7
    assert back.addresses() == {"198.51.100.10": "eu-west"}


@pytest.mark.parametrize("body", [[], {"config": []}, {"dns": {}, "overrides": {"in_force": [{"id": "x"}]}},
                                  {"services": [{"name": "www"}]}, {"services": "nope"}])
def test_a_status_that_is_not_a_nodes_is_a_one_line_error(body: object) -> None:
    with pytest.raises(GtmError, match=r"^http://n:1: /v1/status is not a gtm node's status \("):
        NodeStatus.from_json(body, NodeAddress(("127.0.0.1", 1), "http://n:1"))


def test_a_plan_says_what_will_be_in_force_and_writes_nothing(cfg: Config, tmp_path: Path) -> None:
    store = FileStore(str(tmp_path / "store.json"))
    plan = fleet.plan_override(cfg, store.read(), draining(cfg, "eu-west"), author="t", reason="r",
                               guarded=lambda: ALL_UP, now=NOW)
    assert [o.describe() for o in plan.after] == ["drain eu-west"] and plan.version == 0 and not plan.forced
    assert "plan: drain at store version 0" in plan.describe() and "+ drain eu-west" in plan.describe()
    assert store.read() == Stored(0) and not (tmp_path / "store.json").exists()


def test_an_unsafe_plan_is_refused_unless_forced(cfg: Config) -> None:
    current = Stored(4, (Override("a", "drain", "us-east", created=NOW - 5),
                         Override("b", "drain", "ap-southeast", created=NOW - 4)))
    with pytest.raises(UnsafePlan, match="would have no healthy region left"):
        fleet.plan_override(cfg, current, draining(cfg, "eu-west"), author="t", reason="r", guarded=lambda: ALL_UP, now=NOW)
    forced = fleet.plan_override(cfg, current, draining(cfg, "eu-west"), author="t", reason="r", guarded=lambda: ALL_UP,
                                 force=True, now=NOW)
    assert forced.forced and any(n.startswith("forced past: service www") for n in forced.notes)
    assert forced.audit.forced is True
    # no node could say what is up: refused too, with its own advice
    with pytest.raises(UnsafePlan, match="no node could say which regions are healthy \\(n1 down\\); --force"):
        fleet.plan_override(cfg, Stored(0), draining(cfg, "eu-west"), author="t", reason="r",
                            guarded=lambda: Situation({}, {}, ("n1 down",)), now=NOW)
    # unguarded (bringing things back): no check at all
    assert fleet.plan_override(cfg, current, draining(cfg, "eu-west"), author="t", reason="r", now=NOW).after


def test_apply_plans_again_when_another_writer_got_there_first(cfg: Config, tmp_path: Path) -> None:
    store = FileStore(str(tmp_path / "store.json"))
    plan = fleet.plan_override(cfg, store.read(), draining(cfg, "eu-west"), author="t", reason="r", guarded=lambda: ALL_UP)
    # meanwhile someone drains ap-southeast: the plan made at version 0 no longer holds
    store.write(0, [Override("other", "drain", "ap-southeast", created=NOW)], audit_entry("drain", [], "o", "o"))
    stored, written, conflicts = fleet.apply(plan, store)
    assert conflicts == 1 and written.version == 1 and stored.version == 2
    assert {o.target for o in store.read().overrides} == {"ap-southeast", "eu-west"}
    # the guardrails judge the plan made again: a drain of us-east planned on the old state (nothing drained)
    # would now leave no region at all
    plan = fleet.plan_override(cfg, Stored(0), draining(cfg, "us-east", "d2"), author="t", reason="r",
                               guarded=lambda: ALL_UP)
    with pytest.raises(UnsafePlan, match="no healthy region left"):
        fleet.apply(plan, store)
    assert store.read().version == 2  # nothing written


def test_a_blackout_refuses_before_any_node_is_asked_and_before_the_change_is_made(tmp_path: Path) -> None:
    (tmp_path / "z.yaml").write_text((ZONES / "example.com.yaml").read_text()
                                     + "\ndrills: {blackout: [{start: '2020-01-01T00:00:00Z', end: '2100-01-01T00:00:00Z'}]}\n")
    cfg = load(str(tmp_path))
    asked: list[int] = []

    def nodes() -> Situation:
        asked.append(1)
        return ALL_UP

    already = Stored(1, (Override("d0", "drain", "eu-west", created=NOW - 1),))
    with pytest.raises(UnsafePlan, match="inside the blackout window"):  # refused (exit 3), not "already in force"
        fleet.plan_override(cfg, already, draining(cfg, "eu-west"), author="t", reason="r", guarded=nodes, now=NOW)
    assert asked == []
    forced = fleet.plan_override(cfg, Stored(0), draining(cfg, "eu-west"), author="t", reason="r", guarded=nodes,
                                 force=True, now=NOW)
    assert asked == [1] and forced.audit.forced is True and forced.notes[0].startswith("forced through")


def test_going_past_no_reachable_node_alone_is_not_recorded_as_forced(cfg: Config) -> None:
    plan = fleet.plan_override(cfg, Stored(0), draining(cfg, "eu-west"), author="t", reason="r",
                               guarded=lambda: Situation({}, {}, ("n1 down",)), force=True, now=NOW)
    assert plan.notes == ("no node reachable: health and capacity not checked",) and plan.audit.forced is False


def test_a_status_from_an_earlier_node_version_still_parses() -> None:
    body = {"config": {}, "dns": {}, "health": {}, "overrides": [],
            "services": [{"name": "www", "policy": "geo", "names": [], "healthy_regions": ["us-east"]}]}
    st = NodeStatus.from_json(body)
    assert st.up_regions() == {"www": ["us-east"]} and st.overrides == OverridesStatus()
