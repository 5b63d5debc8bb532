"""gtm.config.load on malformed input: always a Config or a ConfigError of well-formed problems, never a crash."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gtm.config import load
from gtm.config.checks import show
from gtm.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]
TOP = ["zone", "ttl", "soa", "ns", "records", "import", "regions", "monitors", "vantages", "services", "geoip",
       "health", "admin"]


def outcome(path: Path) -> list[str]:
    """The problem lines of loading ``path`` ([] when it loads); any other exception fails the test."""
    try:
        load([str(path)])
    except ConfigError as e:
        assert e.problems, "a ConfigError without problems"
        for p in e.problems:
            assert isinstance(p.line, int) and p.line >= 0 and p.message and "\n" not in str(p)
        return [str(p) for p in e.problems]
    return []


@pytest.mark.parametrize("text", [
    "", "~\n", "[]\n", "7\n", "'text'\n", "zone:\n", "zone: []\n", "zone: {a: 1}\n", "zone: 5.5\nsoa: {}\nns: [a]\n",
    "zone: example.com\nsoa: []\nns: {a: 1}\nrecords: [a]\n",
    "zone: example.com\nsoa: {serial: null, mname: 5, rname: [x]}\nns: [null, 5, [x], {a: 1}]\n",
    "zone: example.com\nrecords: {www: null, ftp: [A], ~: {A: 1.2.3.4}, 5: {A: 1.2.3.4}, mail: {A: {values: null}}}\n",
    "zone: example.com\nrecords: {www: {A: {ttl: x}, ~: 1, 5: x, TXT: {values: []}, MX: []}}\n",
    "zone: example.com\nimport: [a]\n", "zone: example.com\nimport: ''\n", "zone: example.com\nimport: 5\n",
    "regions: []\nmonitors: [a]\nvantages: 1\nservices: x\n",
    "regions: {r: []}\nmonitors: {m: null}\nvantages: {v: x}\n",
    "regions: {r: {location: [1, 2], endpoints: {a: 1}}}\n",
    "regions: {r: {location: {lat: null, lon: [1]}, endpoints: [{}, {weight: null}, {address: [1]}, [], ~]}}\n",
    "regions: {~: {}, '': {}, true: {}, 1.5: {location: {lat: 1, lon: 1}, endpoints: [192.0.2.1]}}\n",
    "monitors: {m: {type: [http], port: '80', expect: {a: 1}, interval: 0, timeout: -1, body: 5, path: []}}\n",
    "monitors: {m: {type: https, interval: 1e400, timeout: .inf, quorum: 1.5, rise: true, tls_verify: 1}}\n",
    "zone: a.b\nsoa: {}\nns: [ns.x.]\nservices: {www: null, api: [], x: {regions: null, names: null}}\n",
    "zone: a.b\nsoa: {}\nns: [ns.x.]\nservices: {www: {regions: {a: 1}, names: {a: 1}, monitor: [1]}}\n",
    "zone: a.b\nsoa: {}\nns: [ns.x.]\nservices: {www: {regions: [[1], null, 5], fallback: {a: 1}}}\n",
    "zone: a.b\nsoa: {}\nns: [ns.x.]\nregions: {r: {location: {lat: 1, lon: 1}, endpoints: [192.0.2.1]}}\n"
    "services: {www: {regions: [r], policy: {type: geo, rules: {a: 1}, default: {a: 1}}}}\n",
    "zone: a.b\nsoa: {}\nns: [ns.x.]\nregions: {r: {location: {lat: 1, lon: 1}, endpoints: [192.0.2.1]}}\n"
    "services: {www: {regions: [r], policy: {type: geo, rules: [null, [], 5, {country: null, regions: null}]}}}\n",
    "zone: a.b\nsoa: {}\nns: [ns.x.]\nregions: {r: {location: {lat: 1, lon: 1}, endpoints: [192.0.2.1]}}\n"
    "services: {www: {regions: [r], policy: {type: weighted, weights: [r]}}, "
    "x: {regions: [r], policy: {type: proximity, bias: {r: null, ~: 1, [1]: 2}}}}\n",
    "zone: a.b\nsoa: {}\nns: [ns.x.]\nregions: {r: {location: {lat: 1, lon: 1}, endpoints: [192.0.2.1]}}\n"
    "services: {www: {regions: [r], policy: {type: null}}, x: {regions: [r], policy: {type: 5}}, "
    "y: {regions: [r], policy: 5}, z: {regions: [r], ecs_scope: [1], answers: 0, affinity: null}}\n",
    "zone: a.b\nsoa: {}\nns: [ns.x.]\nregions: {r: {location: {lat: 1, lon: 1}, endpoints: [192.0.2.1]}}\n"
    "services: {www: {regions: [r], policy: {type: geo, rules: [{cidr: 5, regions: r}, {asn: [1], regions: r},"
    " {continent: null, regions: r}, {subdivision: 5, regions: r}, {asn: 1.5, regions: r},"
    " {asn: true, regions: r}, {cidr: '::/0', regions: [r, r]}]}}}\n",
])
def test_malformed_input_is_a_problem(tmp_path: Path, text: str) -> None:
    f = tmp_path / "z.yaml"
    f.write_text(text)
    assert outcome(f)


@pytest.mark.parametrize("text, expected", [
    ("zone: example.com\nsoa: {}\nns: [ns1.example.net.]\nrecords: {www: null}\n",
     ["z.yaml:4: records.www: must be a mapping (got null)"]),
    ("regions: {r: {location: {lat: 1, lon: 1}, endpoints: [{}]}}\n",
     ["z.yaml:1: regions.r.endpoints[0]: needs exactly one of address (an IP address) or hostname (a load "
      "balancer's DNS name)"]),
    ("monitors: {m: {type: https, interval: 1e400}}\n",
     ["z.yaml:1: monitors.m.interval: must be a number (got '1e400')"]),
    ("monitors: {m: {type: https, interval: 1.0e400}}\n",
     ["z.yaml:1: monitors.m.interval: must be between 0.5 and 3600 (got inf)"]),
    ("regions: {5: {location: {lat: 1, lon: 1}, endpoints: [192.0.2.1]}}\nvantages: {~: {}}\n",
     ["z.yaml:2: vantages.null: a vantage needs a name (got null)"]),
])
def test_malformed_input_messages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str,
                                  expected: list[str]) -> None:
    monkeypatch.chdir(tmp_path)
    Path("z.yaml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load("z.yaml")
    assert [str(p) for p in info.value.problems] == expected


def test_show_is_short_and_yaml_like() -> None:
    assert [show(v) for v in (None, True, False, "x", 5, 1.5, [1, "a"], {"k": None})] == [
        "null", "true", "false", "'x'", "5", "1.5", "[1, 'a']", "{'k': null}"]
    assert show("x" * 100) == "'" + "x" * 56 + "..."
    assert show(10**1000) == "a huge number"
    nested: list[Any] = [1]
    for _ in range(10):
        nested = [nested] * 10  # 10**10 leaves, shared
    text = show(nested)
    assert len(text) <= 60 and text.startswith("[[[[[[[[[...]")


# -- properties -----------------------------------------------------------------------------------------------
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-2**40, 2**40), st.floats(allow_nan=True),
    st.sampled_from(["", "@", "*", "r1", "192.0.2.1", "2001:db8::1", "www", "example.com", "geo", "weighted",
                     "static", "https", "tcp", "10 mx", "EU", "NO", "192.0.2.0/24", "AS1", "ns1", "..", "a" * 70,
                     "\\# 1 00", "m", "latency", "proximity", "failover", "fail_closed"]),
    st.text(max_size=6),
)
keys = st.one_of(st.sampled_from(TOP + [
    "location", "lat", "lon", "endpoints", "address", "weight", "type", "port", "names", "policy", "rules",
    "default", "weights", "bias", "country", "continent", "cidr", "asn", "fail_mode", "fallback", "monitor", "A",
    "AAAA", "CNAME", "NS", "MX", "TXT", "values", "r1", "m", "www", "@", "ecs_scope", "v4", "answers", "quorum",
    "interval", "timeout", "serial", "expect", "body", "path", "hysteresis"]), st.text(max_size=4),
    st.integers(-2, 2), st.none(), st.booleans())
trees = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(keys, inner, max_size=5)), max_leaves=20)
documents = st.dictionaries(st.sampled_from(TOP), trees, max_size=8)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(docs=st.lists(documents, min_size=1, max_size=2))
def test_random_documents_load_or_fail_cleanly(tmp_path: Path, docs: list[dict[str, Any]]) -> None:
    for old in tmp_path.glob("*.yaml"):
        old.unlink()
    for i, doc in enumerate(docs):
        (tmp_path / f"f{i}.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True))
    try:
        load([str(tmp_path)])
    except ConfigError as e:
        assert e.problems and all(p.file.startswith(str(tmp_path)) for p in e.problems)


# A valid config with every kind of thing; mutations replace or delete one part of it at a time.
VALID: dict[str, Any] = {
    "zone": "example.com", "ttl": 300, "soa": {"serial": 1}, "ns": ["ns1", "ns2.example.net."],
    "records": {"ns1": {"A": "192.0.2.53"}, "@": {"MX": ["10 mx"], "TXT": "x"}, "mx": {"A": {"ttl": 5, "values":
                ["192.0.2.25"]}}, "c": {"CNAME": "www"}, "lab": {"NS": "ns.lab"}, "ns.lab": {"AAAA": "2001:db8::5"}},
    "regions": {"r1": {"location": {"lat": 1, "lon": 2}, "endpoints": ["192.0.2.1", {"address": "2001:db8::1",
                                                                                       "weight": 5}]},
                "r2": {"location": {"lat": -1, "lon": -2}, "endpoints": ["192.0.2.2"], "aws_region": "eu-west-1",
                       "capacity": 5}},
    "monitors": {"m": {"type": "http", "port": 8080, "path": "/h", "expect": [200, 204], "interval": 2,
                       "timeout": 1, "quorum": 1}},
    "vantages": {"v": {"location": {"lat": 0, "lon": 0}}},
    "services": {
        "www": {"regions": ["r1", "r2"], "monitor": "m", "policy": {"type": "geo", "rules": [
            {"country": "DE", "regions": ["r2"]}, {"cidr": "10.0.0.0/8", "regions": "r1"}, {"subdivision": "DE-BY",
                                                                                           "regions": ["r1"]}],
            "default": ["r1"]}, "fail_mode": "static", "fallback": ["192.0.2.99"]},
        "api": {"names": ["api", "api2"], "regions": ["r1", "r2"], "answers": 2, "policy": {
            "type": "weighted", "weights": {"r1": 2}}, "ecs_scope": {"v4": 20}},
        "near": {"regions": ["r2", "r1"], "policy": {"type": "proximity", "bias": {"r1": 10}}},
        "fast": {"regions": ["r1"], "policy": {"type": "latency", "hysteresis": 0.1}, "affinity": "hash"},
    },
}


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, prefix + (i,))
    return out


PATHS = _paths(VALID)[1:]
DELETE = object()


def test_the_valid_config_is_valid(tmp_path: Path) -> None:
    (tmp_path / "z.yaml").write_text(yaml.safe_dump(VALID))
    assert outcome(tmp_path / "z.yaml") == []


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutations=st.lists(st.tuples(st.sampled_from(PATHS), st.one_of(trees, st.just(DELETE))), min_size=1,
                          max_size=3))
def test_mutated_valid_config_loads_or_fails_cleanly(tmp_path: Path, mutations: list[tuple[tuple[Any, ...], Any]]
                                                     ) -> None:
    doc = copy.deepcopy(VALID)
    for path, value in mutations:
        node = doc
        try:
            for k in path[:-1]:
                node = node[k]
            if value is DELETE:
                del node[path[-1]]
            else:
                node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced this part
    (tmp_path / "z.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True))
    outcome(tmp_path / "z.yaml")
