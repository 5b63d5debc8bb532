"""The Route53 mirror over a service's life on moto: a failover service applied twice and removed; a health
check recreated (its CALCULATED parents follow); two hosted zones of one owner; adopting a foreign alias whose
target is in another hosted zone; a monitor field cleared (ResetElements); a hosted zone missing."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gtm.cli import main
from gtm.config import load
from gtm.route53 import aws
from gtm.route53.sync import make_plan, run_apply
from tests.integration.test_route53_moto import ZONES, r53, records, writes  # noqa: F401  (r53: the fixture)

EXAMPLE = (ZONES / "example.com.yaml").read_text()
HEAD = EXAMPLE[:EXAMPLE.index("\nservices:")]


def write(directory: Path, text: str, name: str = "example.com.yaml") -> str:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(text)
    return str(directory)


def check_ids(r53: Any) -> set[str]:
    return {h["Id"] for h in r53.api.list_health_checks()["HealthChecks"]}


def test_a_failover_service_is_applied_twice_without_conflict_and_removed_cleanly(
        r53: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Its top record is a plain alias (no SetIdentifier): it is gtm's because its name carries the owner's
    marker. Removing the service deletes every record and check it had, and nothing else."""
    shop = write(tmp_path / "shop", HEAD + "\nservices:\n  shop:\n    monitor: web\n"
                 "    regions: [eu-west, us-east]\n    policy: failover\n")
    zone_id = aws.find_zone(r53, "example.com.")
    before = {(rr["Name"], rr["Type"]) for rr in records(r53)}
    assert main(["route53", "apply", "--yes", shop]) == 0
    assert main(["route53", "apply", "--yes", shop]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().endswith("no changes") and "conflict" not in out
    top = [rr for rr in records(r53) if rr["Name"] == "shop.example.com."]
    assert {rr["Type"] for rr in top} == {"A", "AAAA"} and all("SetIdentifier" not in rr for rr in top)
    empty = write(tmp_path / "empty", HEAD + "\n")
    assert main(["route53", "apply", "--yes", "--force", "--zone", "example.com", empty]) == 0
    assert {(rr["Name"], rr["Type"]) for rr in records(r53)} == before
    assert check_ids(r53) == set()
    assert aws.read_records(r53, zone_id, {})  # the zone itself is untouched (SOA, NS)


def test_a_recreated_check_takes_its_parents_along(r53: Any, tmp_path: Path) -> None:
    """web's interval 5 s -> 60 s: Route53's RequestInterval 10 -> 30 cannot change in place, so web's eleven
    endpoint checks are recreated; each eps:web:<region> check must name the new ones, not deleted ids."""
    slow = load([write(tmp_path, EXAMPLE.replace("    interval: 5\n", "    interval: 60\n"))])
    run_apply(r53, make_plan(r53, load([str(ZONES)]), "example.com", "gtm"), "gtm")
    sync = make_plan(r53, slow, "example.com", "gtm")
    assert len(sync.plan.replace_checks) == 11  # web's endpoint checks (sa-east's two addresses included)
    assert {spec.key for _, spec in sync.plan.update_checks} >= {"eps:web:us-east", "eps:web:eu-west",
                                                                  "eps:web:ap-southeast"}
    run_apply(r53, sync, "gtm")
    ids = check_ids(r53)
    assert len(ids) == 38
    for h in r53.api.list_health_checks()["HealthChecks"]:
        assert set(h["HealthCheckConfig"].get("ChildHealthChecks") or []) <= ids, h["CallerReference"]
    assert make_plan(r53, slow, "example.com", "gtm").plan.is_empty()


def test_two_hosted_zones_of_one_owner_keep_their_own_checks(r53: Any, tmp_path: Path) -> None:
    """Same owner id, one config with two zones (regions and monitors shared): applying example.org must not
    take example.com's checks for leftovers of its own."""
    r53.api.create_hosted_zone(Name="example.org", CallerReference="org")
    org = ("zone: example.org\nsoa: {mname: ns1.example.org., rname: hostmaster.example.org.}\nns: [ns1]\n"
           "records: {ns1: {A: 13.0.2.1}}\nservices:\n  shop:\n    monitor: web\n    regions: [eu-west, us-east]\n"
           "    policy: failover\n  store:\n    monitor: api\n    regions: [us-east, ap-southeast]\n"
           "    policy: latency\n")
    both = load([str(ZONES), write(tmp_path, org, "example.org.yaml")])
    run_apply(r53, make_plan(r53, both, "example.com", "gtm"), "gtm")
    run_apply(r53, make_plan(r53, both, "example.org", "gtm"), "gtm")
    org_checks = len(make_plan(r53, both, "example.org", "gtm").desired.health_checks)
    assert len(check_ids(r53)) == 38 + org_checks
    for zone, n in (("example.com", 38), ("example.org", org_checks)):
        again = make_plan(r53, both, zone, "gtm")
        assert again.plan.is_empty() and len(again.checks) == n, (zone, again.plan.to_text())


def test_adopting_a_foreign_alias_to_another_zone_deletes_it_exactly_as_read(r53: Any) -> None:
    """www was an alias to a load balancer in AWS's own hosted zone: the DELETE that --adopt sends must carry
    that zone's id (Route53 refuses a DELETE whose fields do not match), not the mirror's."""
    zone_id = aws.find_zone(r53, "example.com.")
    foreign = {"Name": "www.example.com.", "Type": "A", "AliasTarget": {
        "HostedZoneId": "Z35SXDOTRQ7X7K", "DNSName": "lb-1.us-east-1.elb.amazonaws.com.", "EvaluateTargetHealth": False}}
    r53.api.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [
        {"Action": "CREATE", "ResourceRecordSet": foreign}]})
    sent: list[dict[str, Any]] = []
    r53.api.meta.events.register("before-parameter-build.route53.ChangeResourceRecordSets",
                             lambda params, **_: sent.extend(params["ChangeBatch"]["Changes"]))
    assert main(["route53", "apply", "--yes", "--adopt", str(ZONES)]) == 0
    deletes = [c["ResourceRecordSet"] for c in sent if c["Action"] == "DELETE"
               and not c["ResourceRecordSet"]["Name"].startswith("_gtm-lock.")]  # (the apply lock's release)
    assert [d["AliasTarget"]["HostedZoneId"] for d in deletes] == ["Z35SXDOTRQ7X7K"]
    assert make_plan(r53, load([str(ZONES)]), "example.com", "gtm").plan.is_empty()


def test_a_cleared_monitor_field_is_reset(r53: Any, tmp_path: Path) -> None:
    """web loses its `host:`: UpdateHealthCheck leaves omitted fields as they are, so the update names
    FullyQualifiedDomainName in ResetElements; the next plan is empty."""
    assert "    host: www.example.com\n" in EXAMPLE
    hostless = load([write(tmp_path, EXAMPLE.replace("    host: www.example.com\n", ""))])
    run_apply(r53, make_plan(r53, load([str(ZONES)]), "example.com", "gtm"), "gtm")
    sent: list[dict[str, Any]] = []
    r53.api.meta.events.register("before-parameter-build.route53.UpdateHealthCheck",
                             lambda params, **_: sent.append(params))
    sync = make_plan(r53, hostless, "example.com", "gtm")
    assert len(sync.plan.update_checks) == 11
    run_apply(r53, sync, "gtm")
    assert len(sent) == 11 and all(p["ResetElements"] == ["FullyQualifiedDomainName"] for p in sent)
    assert all("FullyQualifiedDomainName" not in p for p in sent)
    # moto ignores ResetElements (test_route53_moto_gaps.py, gap 5): the same nine updates are planned again,
    # for that field only. On Route53 the field is gone and the plan is empty.
    again = make_plan(r53, hostless, "example.com", "gtm").plan
    assert {(old.id, tuple(f)) for old, f in ((o, _fields(o.spec, n)) for o, n in again.update_checks)} == \
        {(old.id, ("fqdn",)) for old, _ in sync.plan.update_checks}


def _fields(old: Any, new: Any) -> list[str]:
    from gtm.route53.plan import _diff_fields
    return _diff_fields(old, new)


def test_a_hosted_zone_missing_from_the_account_is_a_one_line_error(r53: Any, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    org = EXAMPLE.replace("zone: example.com", "zone: example.org").replace("sa-east.example.com", "sa-east.example.org")
    assert main(["route53", "plan", write(tmp_path, org, "example.org.yaml")]) == 1
    assert capsys.readouterr().err.strip().splitlines() == \
        ["gtm: error: no public hosted zone example.org. in this AWS account"]
    assert writes(r53) == 0
