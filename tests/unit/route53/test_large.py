"""A region with 1,500 endpoints, mapped within Route53's limits: at most 100 multivalue rrsets per name and type
(sub-pools behind weighted aliases), at most 255 children per CALCULATED check (one more level), every endpoint
in exactly one sub-pool, stable when one endpoint leaves, and the tree still answers like gtm."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from gtm.config import load
from gtm.route53.desired import desired
from gtm.route53.model import Desired
from gtm.route53.simulate import simulate
from gtm.route53.validate import validate_desired
from tests.support.route53 import big_address, write_big_config

N = 1500


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Desired:
    return desired(load([str(write_big_config(tmp_path_factory.mktemp("big"), N))]), "big.test", "t")


def test_the_tree_is_valid_for_route53(big: Desired) -> None:
    assert validate_desired(big) == []  # public addresses: no waiver needed
    groups = Counter((r.name, r.type) for r in big.records if r.set_id is not None and r.failover is None)
    assert max(groups.values()) <= 100
    assert max(len(c.children) for c in big.health_checks) <= 255


def test_every_endpoint_is_in_exactly_one_sub_pool_behind_a_weighted_alias(big: Desired) -> None:
    members = [r for r in big.records if r.multivalue and r.name.startswith("_gtm-p") and "-r-big." in r.name]
    assert sorted(v for r in members for v in r.values) == sorted(big_address(i) for i in range(N))
    parts = [r for r in big.records if r.name == "_gtm-r-big.www.big.test." and r.alias]
    sizes = Counter(r.name for r in members)
    assert len(parts) == len(sizes) >= 15
    assert {(r.alias, r.weight) for r in parts} == set(sizes.items())
    assert all(r.evaluate_target_health for r in parts)


def test_endpoint_checks_are_grouped_under_the_region(big: Desired) -> None:
    checks = {c.key: c for c in big.health_checks}
    top = checks["eps:web:big"]
    assert top.health_threshold == 1 and len(top.children) >= 6
    grouped = [k for g in top.children for k in checks[g].children]
    assert sorted(grouped) == sorted(f"ep:web:big:{big_address(i)}" for i in range(N))


def test_one_endpoint_leaving_changes_only_its_own_records(big: Desired, tmp_path: Path) -> None:
    smaller = desired(load([str(write_big_config(tmp_path, N, drop=700))]), "big.test", "t")
    before, after = {r.key: r for r in big.records}, {r.key: r for r in smaller.records}
    gone = set(before) - set(after)
    assert [before[k].values for k in gone] == [(big_address(700),)] and not set(after) - set(before)
    changed = [k for k in after if after[k] != before[k]]
    assert len(changed) == 1 and after[changed[0]].alias is not None  # its sub-pool's weight, one less
    assert after[changed[0]].weight == before[changed[0]].weight - 1  # type: ignore[operator]


def test_region_min_up_above_one_with_groups_is_warned(tmp_path: Path) -> None:
    d = desired(load([str(write_big_config(tmp_path, 600, region_min_up=2))]), "big.test", "t")
    assert any("split in" in w and "region_min_up 2" in w for w in d.warnings), d.warnings


def test_the_big_region_answers_until_every_sub_pool_is_down(big: Desired) -> None:
    up = simulate(big, {}, "www.big.test.")
    assert len(up.addresses) == 8 and all(a.startswith("11.") for a in up.addresses)
    subs = sorted({r.name for r in big.records if r.multivalue and r.name.startswith("_gtm-p") and "-r-big." in r.name})
    members = {s: [r.values[0] for r in big.records if r.name == s] for s in subs}
    # every sub-pool but the last down: answers come from the last one only
    down = {f"ep:web:big:{a}": False for s in subs[:-1] for a in members[s]}
    answer = simulate(big, down, "www.big.test.")
    assert answer.possible and all(set(a) <= set(members[subs[-1]]) for a in answer.possible)
    # all of them down: the region check fails and the chain moves on to small
    down.update({f"ep:web:big:{a}": False for a in members[subs[-1]]})
    assert simulate(big, down, "www.big.test.").addresses == ("12.0.0.1",)
