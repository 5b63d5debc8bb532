"""The mapping from config to Route53 record sets and health checks (plain values)."""
from __future__ import annotations

import tempfile

from collections import Counter
from pathlib import Path

import pytest

from gtm.config import load
from gtm.route53.desired import desired
from gtm.route53.model import Desired
from tests.support.route53 import public_example

ROOT = Path(__file__).resolve().parents[3]
# The bundled example with public addresses (Route53 refuses checks on documentation ranges): written once.
ZONES = public_example(Path(tempfile.mkdtemp(prefix="gtm-route53-example-")))


@pytest.fixture(scope="module")
def example() -> Desired:
    return desired(load([str(ZONES)]), "example.com", "main")


def test_every_alias_target_exists_and_every_check_is_defined(example: Desired) -> None:
    names = {(r.name, r.type) for r in example.records}
    checks = {c.key for c in example.health_checks}
    for r in example.records:
        if r.alias is not None:
            assert (r.alias, r.type) in names, r
            assert r.ttl is None and not r.values
        else:
            assert r.ttl is not None and r.values, r
        if r.health_check is not None:
            assert r.health_check in checks, r
    for c in example.health_checks:
        assert set(c.children) <= checks, c


def test_keys_and_set_identifiers_are_unique(example: Desired) -> None:
    assert len({r.key for r in example.records}) == len(example.records)
    sids = Counter(r.set_id for r in example.records if r.set_id)
    assert max(sids.values()) == 1  # zone-unique: no two rrsets share a SetIdentifier
    assert all(s.startswith("gtm:main:") and len(s) <= 128 for s in sids)


def test_every_chain_ends_in_a_terminal_without_health_check(example: Desired) -> None:
    by_name: dict[tuple[str, str], list] = {}
    for r in example.records:
        by_name.setdefault((r.name, r.type), []).append(r)

    def ends(name: str, rtype: str, seen: frozenset[str] = frozenset()) -> bool:
        assert name not in seen, f"loop at {name}"
        group = by_name[(name, rtype)]
        if all(r.alias is None and r.health_check is None and not r.multivalue for r in group):
            return True  # a static terminal
        failover = {r.failover: r for r in group if r.failover}
        if failover:
            return ends(failover["SECONDARY"].alias, rtype, seen | {name})
        return any(r.alias is not None and ends(r.alias, rtype, seen | {name}) for r in group)

    for r in example.records:
        if r.name in ("www.example.com.", "api.example.com."):
            assert ends(r.name, r.type), r


def test_geo_records_cover_the_rules_and_a_default(example: Desired) -> None:
    geo = sorted(r.geo for r in example.records if r.name == "www.example.com." and r.type == "A")
    assert geo == [("continent", "AS"), ("continent", "EU"), ("continent", "OC"), ("country", "BR"), ("default",)]


def test_latency_records_one_per_aws_region(example: Desired) -> None:
    regions = sorted(r.region for r in example.records if r.name == "api.example.com." and r.type == "A")
    assert regions == ["ap-southeast-1", "eu-west-1", "us-east-1"]


def test_health_checks_per_endpoint_and_a_switch_per_region(example: Desired) -> None:
    checks = {c.key: c for c in example.health_checks}
    assert checks["switch:eu-west"].type == "CALCULATED" and checks["switch:eu-west"].health_threshold == 0
    region = checks["region:web:eu-west"]
    assert region.children == ("eps:web:eu-west", "switch:eu-west") and region.health_threshold == 2
    ep = checks["ep:web:eu-west:13.51.100.10"]
    assert (ep.type, ep.port, ep.path, ep.request_interval) == ("HTTPS", 443, "/healthz", 10)
    api = checks["ep:api:eu-west:13.51.100.10"]  # the api service checks the same LB its own way
    assert (api.type, api.port, api.path) == ("HTTP", 8080, "/health")
    # one check per endpoint and monitor, shared by every record and service that uses it (sa-east's load balancer
    # is a name of the zone itself: its two addresses there, checked as address endpoints)
    assert sum(1 for c in example.health_checks if c.key.startswith("ep:")) == 20
    assert {c.key for c in example.health_checks if c.key.startswith("ep:web:sa-east:")} == {
        "ep:web:sa-east:13.0.113.50", "ep:web:sa-east:13.0.113.51"}
    assert sum(1 for c in example.health_checks if c.key.startswith("switch:")) == 4


def test_unexpressible_parts_are_warned(example: Desired) -> None:
    text = "\n".join(example.warnings)
    assert "latency is measured by Route53 from clients to AWS regions" in text
    assert "quorum 2 becomes Route53's rule" in text


def test_bad_owner_or_zone() -> None:
    config = load([str(ZONES)])
    with pytest.raises(ValueError, match="owner id"):
        desired(config, "example.com", "Bad Owner")
    with pytest.raises(ValueError, match="no zone example.org."):
        desired(config, "example.org", "main")


def test_unknown_aws_region_is_an_error_naming_service_and_field(tmp_path: Path) -> None:
    (tmp_path / "z.yaml").write_text(
        "zone: z.test\nsoa: {}\nns: [ns1]\nrecords: {ns1: {A: 13.0.2.1}}\n"
        "regions: {mars: {location: {lat: 0, lon: 0}, aws_region: xx-north-9, endpoints: [13.0.2.9]}}\n"
        "services: {www: {regions: [mars], policy: latency}}\nvantages: {v: {location: {lat: 0, lon: 0}}}\n")
    with pytest.raises(ValueError) as e:
        desired(load([str(tmp_path)]), "z.test", "main")
    assert str(e.value) == "service www: region mars: aws_region 'xx-north-9' is not an AWS region Route53 knows"


def test_addresses_route53_cannot_check_are_an_error_unless_the_service_says_so(tmp_path: Path) -> None:
    """AWS refuses CreateHealthCheck on private, reserved and documentation addresses: an apply would stop at the
    first one, with billed checks already made. So the plan stops first, naming the service and the addresses."""
    (tmp_path / "z.yaml").write_text(
        "zone: z.test\nsoa: {}\nns: [ns1]\nrecords: {ns1: {A: 13.0.2.1}}\n"
        "monitors: {web: {type: http, port: 80}}\n"
        "regions: {a: {location: {lat: 0, lon: 0}, endpoints: [8.8.4.4, '2600::1']},\n"
        "          b: {location: {lat: 0, lon: 9}, endpoints: [10.0.0.1, 192.0.2.7]}}\n"
        "services: {www: {regions: [a], policy: failover, monitor: web}}\n"
        "vantages: {v: {location: {lat: 0, lon: 0}}}\n")
    assert desired(load([str(tmp_path)]), "z.test", "main").health_checks  # public: fine
    (tmp_path / "z.yaml").write_text((tmp_path / "z.yaml").read_text().replace("regions: [a]", "regions: [a, b]"))
    with pytest.raises(ValueError) as e:
        desired(load([str(tmp_path)]), "z.test", "main")
    assert str(e.value).startswith("service www: Route53's checkers cannot reach 10.0.0.1, 192.0.2.7 (private, "
                                   "reserved or documentation ranges)")
    (tmp_path / "z.yaml").write_text((tmp_path / "z.yaml").read_text().replace(
        "monitor: web}", "monitor: web, route53: {health_checks: false}}"))
    unchecked = desired(load([str(tmp_path)]), "z.test", "main")
    assert {c.type for c in unchecked.health_checks} == {"CALCULATED"}  # switches and region checks alone
    assert any("route53: {health_checks: false}: the mirror has no endpoint health checks" in w
               for w in unchecked.warnings)


