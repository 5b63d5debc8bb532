"""Hostname endpoints in the Route53 mirror, on plain values: an AWS load balancer becomes an alias to it (its
canonical zone, EvaluateTargetHealth) and Route53 (the simulator) moves on when its targets are unhealthy or it
is drained; any other hostname makes the service a CNAME tree with checks by FullyQualifiedDomainName; a service
that would need a CNAME and addresses under one name is refused; the plan says which form each region got."""
from __future__ import annotations

from pathlib import Path

import pytest

from gtm.config import load
from gtm.route53.desired import desired
from gtm.route53.simulate import health_states, resolve
from gtm.route53.validate import validate_desired

ALB = "my-alb-1234567890.eu-west-1.elb.amazonaws.com"
NLB = "my-nlb-0123456789abcdef.elb.us-east-1.amazonaws.com"

CONFIG = f"""\
zone: example.com
soa: {{}}
ns: [ns1]
records:
  ns1: {{A: 192.0.2.53}}
regions:
  eu: {{location: {{lat: 53, lon: -6}}, aws_region: eu-west-1, endpoints: [{{hostname: {ALB}}}]}}
  us: {{location: {{lat: 39, lon: -77}}, aws_region: us-east-1, endpoints: [13.0.2.10, {{hostname: {NLB}, weight: 3}}]}}
  ap: {{location: {{lat: 1, lon: 103}}, aws_region: ap-southeast-1, endpoints: [13.0.3.10, "2600:1f18::10"]}}
  edge: {{location: {{lat: 50, lon: 8}}, endpoints: [{{hostname: lb.cdn.example.net}}]}}
monitors:
  web: {{type: https, path: /healthz, interval: 10}}
services:
  www: {{regions: [eu, us, ap], monitor: web, ttl: 60}}
  cdn: {{regions: [edge, eu], monitor: web, ttl: 60, answer_as: cname}}
"""


@pytest.fixture
def zone(tmp_path: Path) -> object:
    (tmp_path / "z.yaml").write_text(CONFIG)
    return desired(load([str(tmp_path / "z.yaml")]), "example.com", "gtm")


def answer(d: object, name: str, rtype: str = "A", bad: tuple[str, ...] = (), down: tuple[str, ...] = ()) -> tuple[str, ...]:
    observed = {c.key: c.key not in down for c in d.health_checks if not c.calculated}  # type: ignore[attr-defined]
    health = health_states(d.health_checks, observed)  # type: ignore[attr-defined]
    health.update({f"target:{t}.": False for t in bad})
    return resolve(d.records, health, name, rtype).addresses  # type: ignore[attr-defined]


def test_a_load_balancer_is_an_alias_to_it_in_its_canonical_zone(zone: object) -> None:
    recs = {(r.name, r.type, r.set_id): r for r in zone.records}  # type: ignore[attr-defined]
    eu = [r for (n, t, _), r in recs.items() if n == "_gtm-r-eu.www.example.com." and t == "A"]
    assert len(eu) == 1
    r = eu[0]
    assert (r.alias, r.alias_zone, r.evaluate_target_health, r.weight) == (
        f"dualstack.{ALB}.", "Z32O12XQLNTSW2", True, 1)
    assert r.health_check == f"ep:-:eu:{ALB}"  # its switch, for drains
    # us: the NLB (its own zone id, name as is) beside a pool of the region's addresses, by weight
    us = sorted((r for (n, t, _), r in recs.items() if n == "_gtm-r-us.www.example.com." and t == "A"),
                key=lambda r: r.weight)
    assert [(r.alias, r.alias_zone, r.weight) for r in us] == [
        ("_gtm-ra-us.www.example.com.", None, 1), (NLB + ".", "Z26RNL4JYFTOTI", 3)]
    assert validate_desired(zone) == []  # type: ignore[arg-type]
    # No endpoint check for a load balancer in www's region checks: its alias evaluates its targets; the
    # addresses keep theirs. (cdn, a CNAME tree, checks the same load balancer by name: its own region check.)
    checks = {c.key: c for c in zone.health_checks}  # type: ignore[attr-defined]
    assert checks["region:web:eu"].children == ("switch:eu",)
    assert checks["region:web:us"].children == ("switch:us",)  # its aliases evaluate the NLB and the addresses
    assert "eps:web:us" not in checks and "ep:web:us:13.0.2.10" in checks  # (the address's check: on its record)
    assert checks["region:web:eu:by-name"].children == ("eps:web:eu:by-name", "switch:eu")
    assert checks["eps:web:eu:by-name"].children == (f"ep:web:eu:{ALB}",)


def test_route53_moves_on_when_a_load_balancers_targets_are_unhealthy(zone: object) -> None:
    assert answer(zone, "www.example.com.") == (f"alias:dualstack.{ALB}.",)
    assert answer(zone, "www.example.com.", bad=(f"dualstack.{ALB}",)) == (f"alias:{NLB}.",)
    # us's address down, its NLB healthy: the NLB still answers for us (the region is not taken out)
    assert answer(zone, "www.example.com.", bad=(f"dualstack.{ALB}",), down=("ep:web:us:13.0.2.10",)) == (
        f"alias:{NLB}.",)
    # us's NLB unhealthy too: its address pool (weight 1) answers, then ap
    assert answer(zone, "www.example.com.", bad=(f"dualstack.{ALB}", NLB)) == ("13.0.2.10",)
    assert answer(zone, "www.example.com.", bad=(f"dualstack.{ALB}", NLB),
                  down=("ep:web:us:13.0.2.10",)) == ("13.0.3.10",)


def test_a_drained_load_balancer_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "z.yaml").write_text(CONFIG)
    d = desired(load([str(tmp_path / "z.yaml")]), "example.com", "gtm", drained_endpoints=frozenset({("eu", ALB)}))
    check = next(c for c in d.health_checks if c.key == f"ep:-:eu:{ALB}")
    assert check.disabled and check.inverted
    assert answer(d, "www.example.com.") == (f"alias:{NLB}.",)


def test_other_hostnames_make_a_cname_tree_checked_by_name(zone: object) -> None:
    types = {r.type for r in zone.records if r.name.endswith("cdn.example.com.") and r.type != "TXT"}  # type: ignore[attr-defined]
    assert types == {"CNAME"}
    assert answer(zone, "cdn.example.com.", "CNAME") == ("lb.cdn.example.net.",)
    assert answer(zone, "cdn.example.com.", "CNAME", down=("ep:web:edge:lb.cdn.example.net",)) == (ALB + ".",)
    check = next(c for c in zone.health_checks if c.key == "ep:web:edge:lb.cdn.example.net")  # type: ignore[attr-defined]
    assert (check.ip, check.fqdn, check.type, check.enable_sni) == (None, "lb.cdn.example.net", "HTTPS", True)
    # In a CNAME tree a load balancer is a CNAME too, checked by name
    assert any(c.key == f"ep:web:eu:{ALB}" and c.fqdn == ALB for c in zone.health_checks)  # type: ignore[attr-defined]
    assert validate_desired(zone) == []  # type: ignore[arg-type]


def test_a_cname_and_addresses_under_one_name_are_refused(tmp_path: Path) -> None:
    (tmp_path / "z.yaml").write_text(CONFIG.replace("  cdn: {regions: [edge, eu]", "  cdn: {regions: [edge, ap]")
                                     .replace(", answer_as: cname}", "}"))
    with pytest.raises(ValueError, match=r"service cdn: lb.cdn.example.net is no AWS load balancer, so Route53 "
                                         r"answers it with a CNAME, and a name with a CNAME can have no addresses: "
                                         r"region ap has address endpoints"):
        desired(load([str(tmp_path / "z.yaml")]), "example.com", "gtm")


def test_the_plan_says_which_form_each_region_got(zone: object) -> None:
    forms = "\n".join(zone.forms)  # type: ignore[attr-defined]
    assert f"service www: region eu: alias to the ALB dualstack.{ALB} (zone Z32O12XQLNTSW2, eu-west-1; " \
           "EvaluateTargetHealth)" in forms
    assert f"service www: region us: alias to the NLB {NLB} (zone Z26RNL4JYFTOTI, us-east-1; EvaluateTargetHealth); " \
           "its addresses" in forms
    assert "service cdn: region edge: CNAME lb.cdn.example.net (health checked by name)" in forms


def test_a_cname_tree_at_the_apex_or_beside_other_records_is_refused(tmp_path: Path) -> None:
    """A service answered with addresses by gtm but with a CNAME by Route53 (its hostname is no AWS load
    balancer) cannot be mirrored at the apex, nor at a name with other records: the plan says so."""
    (tmp_path / "z.yaml").write_text(CONFIG.replace(
        "  cdn: {regions: [edge, eu], monitor: web, ttl: 60, answer_as: cname}",
        '  cdn: {names: ["@", txt], regions: [edge], monitor: web, ttl: 60}').replace(
        "  ns1: {A: 192.0.2.53}", '  ns1: {A: 192.0.2.53}\n  txt: {TXT: "v=1"}'))
    with pytest.raises(ValueError) as info:
        desired(load([str(tmp_path / "z.yaml")]), "example.com", "gtm")
    assert "service cdn: Route53 answers it with a CNAME, which cannot be at example.com.: the zone apex" in str(info.value)
    assert "cannot be at txt.example.com.: it has other records (TXT)" in str(info.value)
