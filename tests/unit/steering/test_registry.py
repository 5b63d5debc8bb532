"""One policy registry (gtm.steering.POLICIES): each policy is one module with its keys, parser, select and
summary; the loader, the docs' table and the Route53 mirror go by it, so that adding a policy is adding a module
and its entry, and anything that does not follow shows here."""
from __future__ import annotations

import logging
import re
import typing
from pathlib import Path

import pytest

from gtm import steering
from gtm.config import load
from gtm.errors import ConfigError
from gtm.model import Bias, FailoverPolicy, LatencyPolicy, Policy
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


HEAD = ("zone: z.test\nsoa: {}\nns: [ns1]\nrecords: {ns1: {A: 192.0.2.1}}\n"
        "vantages: {v: {location: {lat: 0, lon: 0}}}\n"
        "regions:\n  a: {location: {lat: 1, lon: 1}, endpoints: [192.0.2.10]}\n"
        "  b: {location: {lat: 2, lon: 2}, endpoints: [192.0.2.20]}\n")
# Every key of every policy, set to something other than its default, and what the parsed policy must hold.
EVERY_KEY = {
    "failover": ("{type: failover}", lambda p: p == FailoverPolicy()),
    "weighted": ("{type: weighted, weights: {a: 3}}", lambda p: p.weights == (("a", 3),)),
    "geo": ("{type: geo, rules: [{country: DE, regions: [b]}], default: [b]}",
            lambda p: [r.regions for r in p.rules] == [("b",)] and p.rules[0].match.country == "DE"
            and p.default == ("b",)),
    "proximity": ("{type: proximity, bias: {a: 100}}", lambda p: p.bias == (("a", Bias(km=100.0)),)),
    "latency": ("{type: latency, hysteresis: 0.5, hysteresis_ms: 3}", lambda p: p == LatencyPolicy(0.5, 3.0)),
}


def test_the_samples_set_every_key_of_every_policy() -> None:
    assert set(EVERY_KEY) == set(steering.POLICIES)
    for name, (text, _) in EVERY_KEY.items():
        assert set(steering.POLICIES[name].keys) <= set(re.findall(r"(\w+):", text)), name


@pytest.mark.parametrize("name", sorted(steering.POLICIES))
def test_the_loader_reads_each_policy_s_keys_and_refuses_others(tmp_path: Path, name: str) -> None:
    text, holds = EVERY_KEY[name]
    (tmp_path / "z.yaml").write_text(HEAD + f"services:\n  www: {{regions: [a, b], policy: {text}}}\n")
    policy = load([str(tmp_path)]).services[0].policy
    assert policy.kind == name and holds(policy), policy
    (tmp_path / "z.yaml").write_text(HEAD + f"services:\n  www: {{regions: [a, b], policy: {{type: {name}, nonsense: 1}}}}\n")
    with pytest.raises(ConfigError) as e:
        load([str(tmp_path)])
    expected = ", ".join(sorted(set(steering.POLICIES[name].keys) | set(steering.POLICIES[name].ignored) | {"type"}))
    assert [str(p) for p in e.value.problems] == [
        f"{tmp_path / 'z.yaml'}:10: services.www.policy.nonsense: unknown key; valid keys: {expected}"]


def test_a_key_no_longer_used_loads_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A node must not fail to start over a key an earlier version used (latency's alpha)."""
    (tmp_path / "z.yaml").write_text(HEAD + "services:\n  www: {regions: [a, b], policy: {type: latency, alpha: 0.1}}\n")
    with caplog.at_level(logging.WARNING, logger="gtm.config.services"):
        assert load([str(tmp_path)]).services[0].policy == LatencyPolicy()
    assert f"{tmp_path / 'z.yaml'}:10: services.www.policy.alpha: is ignored: RTTs are smoothed with " \
           "health.rtt_alpha" in caplog.text
