"""Hostname endpoints mirrored to Route53 on moto: an ALB-named endpoint becomes an alias to the load balancer
with Elastic Load Balancing's zone id for its region and EvaluateTargetHealth; a non-AWS hostname makes a CNAME
tree with health checks by FullyQualifiedDomainName; the plan says which form each region got; a second apply
makes no write."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gtm.cli import main
from tests.integration.test_route53_moto import r53, records, writes  # noqa: F401  (r53: the fixture)

ALB = "my-alb-1234567890.eu-west-1.elb.amazonaws.com"

CONFIG = f"""\
zone: example.com
soa: {{}}
ns: [ns1]
records:
  ns1: {{A: 13.0.2.53}}
regions:
  eu: {{location: {{lat: 53, lon: -6}}, aws_region: eu-west-1, endpoints: [{{hostname: {ALB}}}]}}
  us: {{location: {{lat: 39, lon: -77}}, aws_region: us-east-1, endpoints: [13.0.2.10]}}
  edge: {{location: {{lat: 50, lon: 8}}, endpoints: [{{hostname: lb.cdn.example.net}}]}}
monitors:
  web: {{type: https, path: /healthz, interval: 10, fall: 3, rise: 3}}
services:
  www: {{regions: [eu, us], monitor: web, ttl: 60}}
  cdn: {{regions: [edge, eu], monitor: web, ttl: 60, answer_as: cname}}
"""


def test_an_alb_endpoint_is_an_alias_and_other_names_a_cname_tree(r53: Any, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "example.com.yaml").write_text(CONFIG)
    assert main(["route53", "plan", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert (f"form: service www: region eu: alias to the ALB dualstack.{ALB} (zone Z32O12XQLNTSW2, eu-west-1; "
            "EvaluateTargetHealth)") in out
    assert "form: service cdn: region edge: CNAME lb.cdn.example.net (health checked by name)" in out
    assert main(["route53", "apply", "--yes", str(tmp_path)]) == 0
    capsys.readouterr()
    rrsets = records(r53)
    elb = [rr for rr in rrsets if rr["Name"] == "_gtm-r-eu.www.example.com." and rr["Type"] == "A"]
    assert len(elb) == 1
    assert elb[0]["AliasTarget"] == {"HostedZoneId": "Z32O12XQLNTSW2", "DNSName": f"dualstack.{ALB}.",
                                     "EvaluateTargetHealth": True}
    assert {rr["Type"] for rr in rrsets if rr["Name"].endswith("cdn.example.com.") and rr["Type"] != "TXT"} == {"CNAME"}
    cn = [rr for rr in rrsets if rr["Name"] == "_gtm-r-edge.cdn.example.com."]
    assert [v["Value"] for v in cn[0]["ResourceRecords"]] == ["lb.cdn.example.net."] and cn[0]["TTL"] == 60
    checks = {h["CallerReference"]: h["HealthCheckConfig"] for h in r53.api.list_health_checks()["HealthChecks"]}
    by_name = [c for c in checks.values() if c.get("FullyQualifiedDomainName") == "lb.cdn.example.net"]
    assert len(by_name) == 1 and "IPAddress" not in by_name[0] and by_name[0]["Type"] == "HTTPS"
    before = writes(r53)
    assert main(["route53", "apply", "--yes", str(tmp_path)]) == 0
    assert writes(r53) == before  # a second apply: nothing to write
    assert capsys.readouterr().out.rstrip().endswith("no changes")


def test_draining_a_load_balancer_endpoint_turns_its_switch_and_apply_keeps_it(r53: Any, tmp_path: Path) -> None:
    """``gtm override drain eu/<ALB> --route53`` (here its Route53 half, sync.switch_endpoint): the load
    balancer's own switch ep:-:eu:<ALB> (www's alias) and cdn's check of it by name become Disabled and
    Inverted, one UpdateHealthCheck each; a routine apply afterwards keeps them drained (runtime state), and
    restoring turns them back."""
    from gtm.config import load
    from gtm.route53 import aws
    from gtm.route53.sync import make_plan, switch_endpoint

    (tmp_path / "example.com.yaml").write_text(CONFIG)
    assert main(["route53", "apply", "--yes", str(tmp_path)]) == 0
    config = load([str(tmp_path)])
    r53.calls.clear()
    changed = switch_endpoint(r53, config, "gtm", "eu", ALB, True)
    assert len(changed) == 2 and r53.calls["UpdateHealthCheck"] == 2
    from gtm.route53.model import HealthCheckSpec

    wanted = [HealthCheckSpec(k, "HTTP") for k in (f"ep:-:eu:{ALB}", f"ep:web:eu:{ALB}")]
    checks = {c.key: c for c in aws.read_checks(r53, "gtm", "example.com.", wanted)}
    for key in (f"ep:-:eu:{ALB}", f"ep:web:eu:{ALB}"):
        assert (checks[key].spec.disabled, checks[key].spec.inverted) == (True, True), key
    sync = make_plan(r53, config, "example.com", "gtm")
    assert sync.plan.switch_changes() == 0 and any(f"endpoint eu/{ALB} is drained on Route53" in w
                                                    for w in sync.plan.warnings)
    assert sorted(switch_endpoint(r53, config, "gtm", "eu", ALB, False)) == sorted(changed)


ADDRESSES = CONFIG + "  app: {regions: [eu], monitor: web, ttl: 60}\n"
CNAMED = CONFIG + "  app: {regions: [eu], monitor: web, ttl: 60, answer_as: cname}\n"


@pytest.mark.parametrize("before, after, types", [(ADDRESSES, CNAMED, {"CNAME"}), (CNAMED, ADDRESSES, {"A", "AAAA"})],
                         ids=["to-cname", "to-addresses"])
def test_a_service_switches_between_cname_and_address_form_in_valid_batches(
        r53: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], before: str, after: str, types: set[str]) -> None:
    """app, on the ALB alone, is an alias (A and AAAA) to it in address form and a CNAME to its name in cname
    form: its name holds one form's types or the other's. Route53 applies a batch in order and never lets a
    CNAME share its name, so the records of the old form are deleted before the new ones are written, in the
    same batch (the batch validation checks that order; moto does not). (One switch per fresh zone: moto
    refuses to CREATE again a record its journal saw created, even after a DELETE; Route53 does not.)"""
    (tmp_path / "example.com.yaml").write_text(before)
    assert main(["route53", "apply", "--yes", str(tmp_path)]) == 0
    (tmp_path / "example.com.yaml").write_text(after)
    capsys.readouterr()
    assert main(["route53", "apply", "--yes", str(tmp_path)]) == 0, capsys.readouterr()
    assert {rr["Type"] for rr in records(r53) if rr["Name"] == "app.example.com."} == types
    assert main(["route53", "plan", "--detailed-exitcode", str(tmp_path)]) == 0  # nothing left to do
