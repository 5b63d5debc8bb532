"""One policy registry (gtm.steering.POLICIES): each policy is one module with its keys, parser, select and
summary; the loader, the docs' table and the Route53 mirror go by it, so that adding a policy is adding a module
and its entry, and anything that does not follow shows here."""
from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest

from gtm import steering
from gtm.config import load
from gtm.errors import ConfigError
from gtm.model import Policy
from gtm.route53.desired import MIRRORS

DOCS = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"


def test_every_model_policy_has_one_registry_entry() -> None:
    kinds = {p.kind for p in typing.get_args(Policy)}
    assert set(steering.POLICIES) == kinds
    for name, kind in steering.POLICIES.items():
        assert kind.name == name and kind.summary and callable(kind.parse) and callable(kind.select)
        assert kind.select.__module__ == kind.parse.__module__ == f"gtm.steering.{name}"  # one module per policy


def test_the_route53_mirror_maps_every_policy() -> None:
    assert set(MIRRORS) == set(steering.POLICIES)


def test_the_docs_table_lists_every_policy_with_its_keys() -> None:
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `(\w+)` \| ([^|]*) \|", DOCS.read_text(), re.M)
            if m.group(1) in steering.POLICIES}
    assert set(rows) == set(steering.POLICIES)
    for name, cell in rows.items():
        documented = set(re.findall(r"`(\w+)(?::|`)", cell))
        assert documented == set(steering.POLICIES[name].keys), (name, cell)


@pytest.mark.parametrize("name", sorted(steering.POLICIES))
def test_the_loader_accepts_each_policy_s_keys_and_no_other(tmp_path: Path, name: str) -> None:
    """Every key the registry gives a policy is known to the loader, and one it does not is an error."""
    (tmp_path / "z.yaml").write_text(
        "zone: z.test\nsoa: {}\nns: [ns1]\nrecords: {ns1: {A: 192.0.2.1}}\n"
        "vantages: {v: {location: {lat: 0, lon: 0}}}\n"
        "regions:\n  a: {location: {lat: 1, lon: 1}, endpoints: [192.0.2.10]}\n"
        "  b: {location: {lat: 2, lon: 2}, endpoints: [192.0.2.20]}\n"
        f"services:\n  www: {{regions: [a, b], policy: {{type: {name}, nonsense: 1}}}}\n")
    with pytest.raises(ConfigError) as e:
        load([str(tmp_path)])
    expected = ", ".join(sorted(steering.POLICIES[name].keys | {"type"}))
    assert [str(p) for p in e.value.problems] == [
        f"{tmp_path / 'z.yaml'}:10: services.www.policy.nonsense: unknown key; valid keys: {expected}"]
