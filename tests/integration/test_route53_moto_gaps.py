"""moto 5.2.5 (pinned in pyproject.toml) differs from Route53 in ways gtm works around; these tests pin each
difference, so that a moto upgrade that fixes or changes one fails here and the workaround is revisited, and
check that gtm's reads come out right despite them.

1. CreateHealthCheck retried with the same CallerReference and configuration makes a second check (Route53
   returns the first): gtm's CallerReference is per key and configuration, so on Route53 a retried create is
   idempotent; on moto nothing retries creates.
2. ListHealthChecks ignores MaxItems and never says IsTruncated: gtm's reader follows NextMarker only when
   IsTruncated is set and stops on a repeated marker.
3. ListResourceRecordSets never returns NextRecordIdentifier and ignores StartRecordIdentifier, so a page
   boundary inside one name and type repeats: gtm's reader skips rrsets it has seen, and fails when a page
   brings nothing new.
4. DELETE of one weighted rrset deletes every rrset in the zone with that SetIdentifier: gtm's SetIdentifiers
   are unique in the zone (a hash of name and type in each).
5. UpdateHealthCheck ignores ResetElements: gtm sends it to clear a field (e.g. a monitor's host), as Route53
   requires; on moto the field stays, so the plan after such an apply is not empty there.
6. Moto has no CIDR collection API (404), and it drops an rrset's CidrRoutingConfig: it stores the rrset
   and returns it without that config. The tests of gtm's CIDR mirror therefore put tests/support/route53_cidr.py
   in front of moto: the six CIDR calls with the real API's rules, and each rrset's CidrRoutingConfig kept
   beside moto's copy.
7. A CREATE at a name and type that has an rrset with other values adds a second rrset (Route53 refuses it:
   the rrset exists). gtm's apply lock relies on Route53's refusal, so the tests inject it where a lock meets
   another.
8. A CREATE identical to one moto once accepted in the zone (the rrset deleted since) is refused as "already
   exists" when any rrset sorts at or after its name: moto looks in its change journal, then lists the zone
   *from* that name rather than at it. The CIDR tests do not apply a tree, remove it and apply it again.
"""
from __future__ import annotations

from typing import Any, Iterator

import pytest
from moto import mock_aws

from gtm.errors import GtmError
from gtm.route53 import aws

HC = {"Type": "HTTP", "IPAddress": "8.8.8.8", "Port": 80, "ResourcePath": "/", "RequestInterval": 30,
      "FailureThreshold": 3}


@pytest.fixture
def r53(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        yield aws.client()


def zone(r53: Any, name: str = "gaps.test") -> str:
    return str(r53.api.create_hosted_zone(Name=name, CallerReference=name)["HostedZone"]["Id"]).split("/")[-1]


def weighted(name: str, set_id: str, value: str) -> dict[str, Any]:
    return {"Name": name, "Type": "A", "SetIdentifier": set_id, "Weight": 1, "TTL": 60,
            "ResourceRecords": [{"Value": value}]}


def test_moto_gap_1_a_retried_create_makes_a_second_check(r53: Any) -> None:
    a = r53.api.create_health_check(CallerReference="gtm1:t:same", HealthCheckConfig=HC)["HealthCheck"]["Id"]
    b = r53.api.create_health_check(CallerReference="gtm1:t:same", HealthCheckConfig=HC)["HealthCheck"]["Id"]
    assert a != b, "moto now returns the same check for a retried CreateHealthCheck, as Route53 does"


def test_moto_gap_2_list_health_checks_is_not_paginated(r53: Any) -> None:
    prefix = aws._check_prefix("t", "gaps.test.")
    for i in range(5):
        r53.api.create_health_check(CallerReference=f"{prefix}{i}", HealthCheckConfig=HC)
    page = r53.api.list_health_checks(MaxItems="2")
    assert len(page["HealthChecks"]) == 5 and not page.get("IsTruncated"), \
        "moto now paginates ListHealthChecks: drop the IsTruncated workaround note in gtm.route53.aws"
    assert len(aws.read_checks(r53, "t", "gaps.test.", [])) == 5


def test_moto_gap_3_paging_inside_one_name_repeats(r53: Any) -> None:
    zone_id = zone(r53)
    names = ["a.gaps.test.", "b.gaps.test.", "c.gaps.test."]
    changes = [{"Action": "CREATE", "ResourceRecordSet": weighted(n, f"{n}{i}", f"192.0.2.{i}")}
               for n in names for i in range(3)]
    r53.api.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})
    first = r53.api.list_resource_record_sets(HostedZoneId=zone_id, MaxItems="4")  # apex NS, SOA, then a's 1st, 2nd
    assert [rr.get("SetIdentifier") for rr in first["ResourceRecordSets"]][2:] == ["a.gaps.test.0", "a.gaps.test.1"]
    assert first["IsTruncated"] and first["NextRecordName"] == "a.gaps.test." and \
        "NextRecordIdentifier" not in first, \
        "moto now returns NextRecordIdentifier: paging inside one name and type no longer repeats"
    again = r53.api.list_resource_record_sets(HostedZoneId=zone_id, MaxItems="4", StartRecordName=first["NextRecordName"],
                                          StartRecordType=first["NextRecordType"], StartRecordIdentifier="a.gaps.test.2")
    assert again["ResourceRecordSets"][0]["SetIdentifier"] == "a.gaps.test.0"  # StartRecordIdentifier ignored
    # gtm reads every rrset exactly once through the repeats (pages of 300 > Route53's 100 per name and type)
    read = aws.read_records(r53, zone_id, {})
    assert sorted(r.set_id for r in read if r.set_id) == sorted(f"{n}{i}" for n in names for i in range(3))


def test_a_page_with_nothing_new_is_an_error_not_a_loop(r53: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    zone_id = zone(r53)
    changes = [{"Action": "CREATE", "ResourceRecordSet": weighted("a.gaps.test.", f"w{i}", f"192.0.2.{i}")}
               for i in range(5)]
    r53.api.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})
    real = r53.api.list_resource_record_sets
    monkeypatch.setattr(r53.api, "list_resource_record_sets", lambda **kw: real(**{**kw, "MaxItems": "2"}))
    with pytest.raises(GtmError, match="paging repeats itself at a.gaps.test. A without returning new"):
        aws.read_records(r53, zone_id, {})


def test_moto_gap_4_deleting_one_weighted_rrset_deletes_its_set_identifier_everywhere(r53: Any) -> None:
    zone_id = zone(r53)
    d1, d2 = weighted("d1.gaps.test.", "same", "192.0.2.1"), weighted("d2.gaps.test.", "same", "192.0.2.2")
    r53.api.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [
        {"Action": "CREATE", "ResourceRecordSet": d1}, {"Action": "CREATE", "ResourceRecordSet": d2}]})
    r53.api.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [
        {"Action": "DELETE", "ResourceRecordSet": d1}]})
    left = {rr["Name"] for rr in r53.api.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]}
    assert "d2.gaps.test." not in left, "moto now deletes only the named rrset, as Route53 does"


def test_moto_gap_5_reset_elements_is_ignored(r53: Any) -> None:
    check = r53.api.create_health_check(CallerReference="gtm1:t:reset", HealthCheckConfig={
        **HC, "FullyQualifiedDomainName": "a.gaps.test"})["HealthCheck"]
    r53.api.update_health_check(HealthCheckId=check["Id"], HealthCheckVersion=1,
                            ResetElements=["FullyQualifiedDomainName"])
    config = r53.api.get_health_check(HealthCheckId=check["Id"])["HealthCheck"]["HealthCheckConfig"]
    assert config.get("FullyQualifiedDomainName") == "a.gaps.test", \
        "moto now honours ResetElements: tighten test_route53_lifecycle.py::test_a_cleared_monitor_field_is_reset"


def test_moto_gap_6_no_cidr_collections_and_cidr_routing_is_dropped(r53: Any) -> None:
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError, match="404"):
        r53.api.list_cidr_collections()
    zone = r53.api.create_hosted_zone(Name="example.com", CallerReference="gap6")["HostedZone"]["Id"]
    rr = {"Name": "w.example.com.", "Type": "A", "TTL": 60, "SetIdentifier": "x", "ResourceRecords": [{"Value": "8.8.8.8"}],
          "CidrRoutingConfig": {"CollectionId": "c-1", "LocationName": "loc1"}}
    r53.api.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [{"Action": "CREATE",
                                                                                    "ResourceRecordSet": rr}]})
    [back] = [r for r in r53.api.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
              if r["Name"] == "w.example.com."]
    assert "CidrRoutingConfig" not in back and back["SetIdentifier"] == "x"


def test_moto_gap_7_create_over_an_rrset_of_other_values_adds_a_second(r53: Any) -> None:
    zone = r53.api.create_hosted_zone(Name="example.com", CallerReference="gap7")["HostedZone"]["Id"]

    def change(action: str, rr: dict[str, Any]) -> None:
        r53.api.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [{"Action": action,
                                                                                        "ResourceRecordSet": rr}]})

    def at(name: str) -> int:
        return len([r for r in r53.api.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
                    if r["Name"] == name])

    one = {"Name": "l.example.com.", "Type": "TXT", "TTL": 60, "ResourceRecords": [{"Value": '"a"'}]}
    change("CREATE", one)
    change("CREATE", {**one, "ResourceRecords": [{"Value": '"b"'}]})  # Route53 refuses it: the rrset exists
    assert at("l.example.com.") == 2


def test_moto_gap_8_a_create_seen_before_is_refused_after_its_delete(r53: Any) -> None:
    from botocore.exceptions import ClientError

    zone = r53.api.create_hosted_zone(Name="example.com", CallerReference="gap8")["HostedZone"]["Id"]

    def change(action: str, rr: dict[str, Any]) -> None:
        r53.api.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [{"Action": action,
                                                                                        "ResourceRecordSet": rr}]})

    one = {"Name": "a.example.com.", "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": "8.8.8.8"}]}
    change("CREATE", {"Name": "z.example.com.", "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": "8.8.4.4"}]})
    change("CREATE", one)
    change("DELETE", one)
    assert not [r for r in r53.api.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
                if r["Name"] == "a.example.com."]
    with pytest.raises(ClientError, match="already exists"):  # Route53 creates it: it does not exist
        change("CREATE", one)
