"""The Route53 mirror against moto (AWS itself is out of reach): apply, idempotency, ownership, drains."""
from __future__ import annotations

import re
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

import pytest
from moto import mock_aws

from gtm.cli import main
from gtm.config import load
from gtm.errors import ApplyError
from gtm.route53 import aws
from gtm.route53.sync import make_plan, run_apply
from tests.support.route53 import public_example

ROOT = Path(__file__).resolve().parents[2]
# The bundled example with public addresses (Route53 refuses checks on documentation ranges): written once.
ZONES = public_example(Path(tempfile.mkdtemp(prefix="gtm-route53-example-")))
WRITES = {"ChangeResourceRecordSets", "CreateHealthCheck", "UpdateHealthCheck", "DeleteHealthCheck",
          "ChangeTagsForResource"}


@pytest.fixture
def r53(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        client = aws.client()
        client.api.create_hosted_zone(Name="example.com", CallerReference="test")
        client.calls = Counter()  # type: ignore[attr-defined]
        client.api.meta.events.register("before-call.route53",
                                    lambda model, **kw: client.calls.update([model.name]))  # type: ignore[attr-defined]
        monkeypatch.setattr(aws, "client", lambda profile=None: client)
        client.pacer = virtual_pacer()
        yield client


def virtual_pacer() -> aws.Pacer:
    """Route53's pacing on a virtual clock that only sleeping advances: the waits are counted, not waited."""
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    return aws.Pacer(lambda: now[0], sleep)


def writes(client: Any) -> int:
    return sum(n for op, n in client.calls.items() if op in WRITES)


def records(client: Any) -> list[dict[str, Any]]:
    zone_id = aws.find_zone(client, "example.com.")
    return client.api.list_resource_record_sets(HostedZoneId=zone_id, MaxItems="1000")["ResourceRecordSets"]


def test_plan_shows_the_whole_tree_and_apply_is_idempotent(r53: Any, capsys: pytest.CaptureFixture[str]) -> None:
    zone_id = aws.find_zone(r53, "example.com.")
    r53.api.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [{"Action": "CREATE",
        "ResourceRecordSet": {"Name": "foreign.example.com.", "Type": "A", "TTL": 60,
                              "ResourceRecords": [{"Value": "13.0.2.200"}]}}]})
    assert main(["route53", "plan", str(ZONES)]) == 0
    out = capsys.readouterr().out
    assert "+ www.example.com. A alias" in out and "+ health check switch:eu-west" in out
    assert main(["route53", "apply", "--yes", str(ZONES)]) == 0
    first = writes(r53)
    assert first > 0
    names = {rr["Name"] for rr in records(r53)}
    assert "foreign.example.com." in names and "www.example.com." in names
    r53.calls.clear()
    assert main(["route53", "apply", "--yes", str(ZONES)]) == 0
    assert writes(r53) == 0, r53.calls  # a second apply changes nothing
    assert sum(r53.calls.values()) == 3, r53.calls  # and reads three times: the zone, its checks, its records
    assert "no changes" in capsys.readouterr().out
    assert "foreign.example.com." in {rr["Name"] for rr in records(r53)}


def test_drain_flips_only_the_switch(r53: Any) -> None:
    from gtm.route53.sync import switch_regions

    config = load([str(ZONES)])
    run_apply(r53, make_plan(r53, config, "example.com", "gtm"), "gtm")
    assert make_plan(r53, config, "example.com", "gtm").plan.is_empty()
    r53.calls.clear()
    assert len(switch_regions(r53, config, "gtm", "eu-west", True)) == 1
    assert {op: n for op, n in r53.calls.items() if op in WRITES} == {"UpdateHealthCheck": 1}


def switch_inverted(client: Any, region: str) -> bool:
    config = load([str(ZONES)])
    want = make_plan(client, config, "example.com", "gtm").desired
    checks = aws.read_checks(client, "gtm", "example.com.", want.health_checks)
    return next(c for c in checks if c.key == f"switch:{region}").spec.inverted


def test_an_apply_keeps_a_drain_made_on_route53_by_another_hand(r53: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """A region drained on Route53 (the console, or gtm failover --route53 with another override store) and not
    in this machine's store: a routine apply shows the drift and keeps the drain; --restore-drains undoes it."""
    from gtm.route53.sync import switch_regions

    config = load([str(ZONES)])
    run_apply(r53, make_plan(r53, config, "example.com", "gtm"), "gtm")
    switch_regions(r53, config, "gtm", "eu-west", True)  # the other hand
    r53.calls.clear()
    assert main(["route53", "plan", str(ZONES)]) == 0
    out = capsys.readouterr().out
    assert "drift: region eu-west is drained on Route53 (switch:eu-west inverted) and not in the override store; " \
           "apply keeps it drained" in out
    assert "no changes" in out
    assert main(["route53", "apply", "--yes", str(ZONES)]) == 0
    assert writes(r53) == 0, r53.calls
    assert switch_inverted(r53, "eu-west")
    capsys.readouterr()
    assert main(["route53", "apply", "--yes", "--restore-drains", str(ZONES)]) == 0
    assert "~ health check switch:eu-west" in capsys.readouterr().out
    assert not switch_inverted(r53, "eu-west")
    # the switch, and the apply lock taken and released
    assert {op: n for op, n in r53.calls.items() if op in WRITES} == {"UpdateHealthCheck": 1,
                                                                      "ChangeResourceRecordSets": 2}


def test_switch_changes_count_as_destructive(r53: Any) -> None:
    from gtm.route53.sync import switch_regions

    config = load([str(ZONES)])
    run_apply(r53, make_plan(r53, config, "example.com", "gtm"), "gtm")
    for region in ("eu-west", "us-east"):
        switch_regions(r53, config, "gtm", region, True)
    assert make_plan(r53, config, "example.com", "gtm").plan.destructive() == 0
    restoring = make_plan(r53, config, "example.com", "gtm", restore_drains=True).plan
    assert restoring.switch_changes() == 2 and restoring.destructive() == 2


def test_a_failed_batch_is_repaired_by_the_next_apply(r53: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load([str(ZONES)])
    real = r53.api.change_resource_record_sets
    monkeypatch.setattr("gtm.route53.plan.MAX_RR_ELEMENTS", 40)  # force several batches
    sync = make_plan(r53, config, "example.com", "gtm")
    assert len(sync.plan.batches) > 1
    calls = {"n": 0}

    def flaky(**kw: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise aws.ClientError({"Error": {"Code": "InvalidChangeBatch", "Message": "injected"}},
                                  "ChangeResourceRecordSets")
        return real(**kw)

    monkeypatch.setattr(r53.api, "change_resource_record_sets", flaky)
    with pytest.raises(Exception, match="batch 2 of"):
        run_apply(r53, sync, "gtm")
    monkeypatch.setattr(r53.api, "change_resource_record_sets", real)
    again = make_plan(r53, config, "example.com", "gtm")
    assert not again.plan.is_empty() and not again.plan.create_checks  # checks were made; records remain
    run_apply(r53, again, "gtm")
    assert make_plan(r53, config, "example.com", "gtm").plan.is_empty()


def test_no_hosted_zone_is_a_one_line_error(r53: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["route53", "plan", "--zone", "example.org", str(ZONES)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["gtm: error: the config has no zone example.org.; zones: example.com."]


def test_large_rewrites_need_force(r53: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["route53", "apply", "--yes", str(ZONES)]) == 0
    capsys.readouterr()
    # Another owner id would own nothing; the same owner with the services removed deletes a lot.
    import shutil
    import tempfile

    d = Path(tempfile.mkdtemp())
    shutil.copy(ZONES / "example.com.yaml", d / "example.com.yaml")
    text = (d / "example.com.yaml").read_text()
    (d / "example.com.yaml").write_text(text[:text.index("\nservices:")] + "\n")
    before = writes(r53)
    # No services left: the config has no zone with services, so --zone is needed.
    assert main(["route53", "apply", "--yes", "--zone", "example.com", str(d)]) == 1
    assert "refusing" in capsys.readouterr().err
    assert writes(r53) == before  # nothing was written
    assert main(["route53", "apply", "--yes", "--force", "--zone", "example.com", str(d)]) == 0
    assert not [rr for rr in records(r53) if rr.get("SetIdentifier", "").startswith("gtm:gtm:")]


def test_a_service_with_1500_endpoints_goes_in_several_valid_batches(r53: Any, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Every batch is checked by the strict validator inside make_plan (the plan would be refused otherwise);
    moto itself enforces the 1,000-record limit. Health checks are created at Route53's pace (virtual clock)."""
    from tests.support.route53 import write_big_config

    r53.api.create_hosted_zone(Name="big.test", CallerReference="big")
    path = str(write_big_config(tmp_path, 1500))
    assert main(["route53", "plan", path]) == 0
    out = capsys.readouterr().out
    assert "batch 2 (" in out and "batch 3 (" not in out
    assert re.search(r"note: 15\d\d health checks to create; .* takes about 4\d min", out), out[-2000:]
    assert main(["route53", "apply", "--yes", path]) == 0
    assert r53.calls["ChangeResourceRecordSets"] == 2 + 2  # two batches, and the apply lock taken and released
    creates = r53.calls["CreateHealthCheck"]
    assert creates > 1500
    assert r53.pacer.waited == pytest.approx((creates - 50) / 0.5, rel=0.01)  # 50 at once, then 0.5/s
    r53.calls.clear()
    config = load([path])
    assert make_plan(r53, config, "big.test", "gtm").plan.is_empty()
    assert writes(r53) == 0
    zone_id = aws.find_zone(r53, "big.test.")
    pool = [rr for rr in aws.read_records(r53, zone_id, {}) if rr.multivalue]
    assert len(pool) == 1501  # 1,500 + the small region's one


def test_a_check_changed_since_the_plan_stops_the_apply(r53: Any) -> None:
    """moto never raises HealthCheckVersionMismatch (its versions stay 1), so the first UpdateHealthCheck gets
    Route53's answer for a stale version injected through botocore's before-call hook. The apply stops there,
    saying so, before any record change: writing over someone else's change (a drain, perhaps) is not gtm's
    call; the next plan is made from what is there now."""
    config = load([str(ZONES)])
    run_apply(r53, make_plan(r53, config, "example.com", "gtm"), "gtm")
    sync = make_plan(r53, config, "example.com", "gtm")
    changed = replace(sync.desired, health_checks=tuple(replace(c, failure_threshold=5)
                                                        if c.key == "ep:web:us-east:13.0.2.10" else c
                                                        for c in sync.desired.health_checks))
    from gtm.route53.plan import diff
    keys = {c.id: c.key for c in sync.checks if c.key}
    plan = diff(changed, aws.read_records(r53, sync.zone_id, keys), list(sync.checks), "gtm")
    [(old, _)] = plan.update_checks
    versions: list[int] = []

    def sent(params: dict[str, Any], **_: Any) -> None:
        versions.append(params["HealthCheckVersion"])

    def stale(**_: Any) -> Any:
        return (type("Http", (), {"status_code": 400, "headers": {}})(),
                {"Error": {"Code": "HealthCheckVersionMismatch", "Message": "The value of HealthCheckVersion "
                           "in the request doesn't match the value of HealthCheckVersion in the health check"},
                 "ResponseMetadata": {"HTTPStatusCode": 400}})

    r53.api.meta.events.register("before-parameter-build.route53.UpdateHealthCheck", sent)
    r53.api.meta.events.register("before-call.route53.UpdateHealthCheck", stale)
    r53.calls.clear()
    with pytest.raises(ApplyError) as e:
        aws.apply(r53, sync.zone_id, plan, "gtm", list(sync.checks))
    assert "health check ep:web:us-east:13.0.2.10" in str(e.value) and \
        "changed by someone else since the plan" in str(e.value)
    assert "Run plan again" in str(e.value)
    assert versions == [old.version] and writes(r53) == 0  # one attempt, refused before it reached moto
    assert r53.api.get_health_check(HealthCheckId=old.id)["HealthCheck"]["HealthCheckConfig"]["FailureThreshold"] == 3


def test_a_foreign_record_at_a_managed_name_blocks_apply_until_adopted(r53: Any,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    zone_id = aws.find_zone(r53, "example.com.")
    theirs = {"Name": "www.example.com.", "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": "13.0.2.7"}]}
    r53.api.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [
        {"Action": "CREATE", "ResourceRecordSet": theirs}]})
    assert main(["route53", "plan", str(ZONES)]) == 0
    assert "! conflict: www.example.com. A exists and is not gtm's (owner gtm)" in capsys.readouterr().out
    r53.calls.clear()
    assert main(["route53", "apply", "--yes", str(ZONES)]) == 1
    assert "refusing: 1 record set(s) at managed names are not gtm's" in capsys.readouterr().err
    assert writes(r53) == 0
    assert [rr for rr in records(r53) if rr["Name"] == "www.example.com."] == [theirs]
    assert main(["route53", "apply", "--yes", "--adopt", str(ZONES)]) == 0
    www = [rr for rr in records(r53) if rr["Name"] == "www.example.com." and rr["Type"] == "A"]
    assert www and all(rr.get("AliasTarget") and rr["SetIdentifier"].startswith("gtm:gtm:") for rr in www)


def test_two_installations_with_different_owners_share_a_zone(r53: Any, tmp_path: Path) -> None:
    """blue mirrors the example's services; green mirrors a service of its own (store) into the same hosted
    zone. Each apply leaves the other's rrsets and checks alone, and each is idempotent afterwards."""
    text = (ZONES / "example.com.yaml").read_text()
    green_dir = tmp_path / "green"
    green_dir.mkdir()
    head = text[:text.index("\nservices:")]
    (green_dir / "example.com.yaml").write_text(
        head + "\nservices:\n  store:\n    regions: [eu-west, us-east]\n    policy: failover\n")
    blue, green = load([str(ZONES)]), load([str(green_dir)])
    run_apply(r53, make_plan(r53, blue, "example.com", "blue"), "blue")
    blue_rrsets = {(rr["Name"], rr["Type"], rr.get("SetIdentifier")) for rr in records(r53)}
    plan = make_plan(r53, green, "example.com", "green")
    assert not plan.plan.conflicts and all(a == "CREATE" for a, _ in plan.plan.changes)
    run_apply(r53, plan, "green")
    after = {(rr["Name"], rr["Type"], rr.get("SetIdentifier")) for rr in records(r53)}
    assert blue_rrsets < after
    assert {n for n, _, _ in after - blue_rrsets} >= {"store.example.com.", "_gtm-owner.store.example.com."}
    for config, owner in ((blue, "blue"), (green, "green")):
        again = make_plan(r53, config, "example.com", owner)
        assert again.plan.is_empty() and not again.plan.conflicts, (owner, again.plan.to_text())
    # green has no monitor: per region a switch and the region check over it
    assert len(make_plan(r53, blue, "example.com", "blue").checks) == 38
    assert len(make_plan(r53, green, "example.com", "green").checks) == 4


def test_no_credentials_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """Outside moto, with boto3's chain empty (no variables, no files, no instance metadata): botocore raises
    before any request leaves the machine."""
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
              "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    assert main(["route53", "plan", str(ZONES)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["gtm: error: no AWS credentials found (boto3's chain: environment, profile, instance role)"]


def test_a_check_that_comes_back_gets_a_new_caller_reference(r53: Any, tmp_path: Path) -> None:
    """Route53 refuses (HealthCheckAlreadyExists) the CallerReference of a deleted check for some days, so a
    region removed and added again must not reuse it; moto does not enforce this, so the references are
    compared. Keys are still found from the references (no tag reads)."""
    text = (ZONES / "example.com.yaml").read_text()
    (tmp_path / "example.com.yaml").write_text(text[:text.index("\nservices:")] + "\n")
    full = load([str(ZONES)])

    def refs() -> dict[str, str]:
        return {h["CallerReference"]: h["Id"] for h in r53.api.list_health_checks()["HealthChecks"]}

    run_apply(r53, make_plan(r53, full, "example.com", "gtm"), "gtm")
    first = refs()
    assert len(first) == 38 and all(len(ref) <= 64 for ref in first)
    run_apply(r53, make_plan(r53, load([str(tmp_path)]), "example.com", "gtm"), "gtm")
    assert refs() == {}
    r53.calls.clear()
    run_apply(r53, make_plan(r53, full, "example.com", "gtm"), "gtm")
    assert len(refs()) == 38 and not set(refs()) & set(first)
    again = make_plan(r53, full, "example.com", "gtm")
    assert again.plan.is_empty() and {c.key for c in again.checks} == {c.key for c in full_checks(again)}
    assert "ListTagsForResources" not in r53.calls


def full_checks(sync: Any) -> Any:
    return sync.desired.health_checks


def test_an_interrupted_replacement_is_finished_by_the_next_apply(r53: Any, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """web's interval goes from 5 s to 60 s: Route53's RequestInterval (10 -> 30) cannot change in place, so its
    endpoint checks are recreated. The record batch fails: old and new checks now share keys. The next plan
    gives each key to the check with the wanted interval, repoints nothing twice, and deletes the old ones."""
    text = (ZONES / "example.com.yaml").read_text()
    assert "    interval: 5\n" in text
    (tmp_path / "example.com.yaml").write_text(text.replace("    interval: 5\n", "    interval: 60\n"))
    before, after = load([str(ZONES)]), load([str(tmp_path)])
    run_apply(r53, make_plan(r53, before, "example.com", "gtm"), "gtm")
    sync = make_plan(r53, after, "example.com", "gtm")
    assert len(sync.plan.replace_checks) == 11  # web's endpoint checks
    real = r53.api.change_resource_record_sets

    def refused(**_: Any) -> Any:
        raise aws.ClientError({"Error": {"Code": "InvalidChangeBatch", "Message": "injected"}},
                              "ChangeResourceRecordSets")

    monkeypatch.setattr(r53.api, "change_resource_record_sets", refused)
    with pytest.raises(Exception, match="batch 1 of 1 failed"):
        run_apply(r53, sync, "gtm")
    monkeypatch.setattr(r53.api, "change_resource_record_sets", real)
    assert len(r53.api.list_health_checks()["HealthChecks"]) == 38 + 11
    again = make_plan(r53, after, "example.com", "gtm")
    assert not again.plan.create_checks and not again.plan.replace_checks
    assert len(again.plan.delete_checks) == 11 and all(c.spec.request_interval == 10 for c in again.plan.delete_checks)
    run_apply(r53, again, "gtm")
    assert len(r53.api.list_health_checks()["HealthChecks"]) == 38
    assert make_plan(r53, after, "example.com", "gtm").plan.is_empty()


def test_two_public_zones_of_one_name_need_a_zone_id(r53: Any, capsys: pytest.CaptureFixture[str]) -> None:
    first = aws.find_zone(r53, "example.com.")
    second = r53.api.create_hosted_zone(Name="example.com", CallerReference="test-2")["HostedZone"]["Id"].split("/")[-1]
    r53.api.create_hosted_zone(Name="example.com", CallerReference="test-3", HostedZoneConfig={"PrivateZone": True},
                               VPC={"VPCRegion": "us-east-1", "VPCId": "vpc-12345678"})  # private: never chosen
    assert main(["route53", "plan", str(ZONES)]) == 1
    err = capsys.readouterr().err
    assert f"2 public hosted zones are named example.com. ({first}, {second}); choose one with --zone-id" in err
    assert main(["route53", "apply", "--yes", "--zone-id", second, str(ZONES)]) == 0
    config = load([str(ZONES)])
    assert make_plan(r53, config, "example.com", "gtm", zone_id=second).plan.is_empty()
    assert not make_plan(r53, config, "example.com", "gtm", zone_id=first).plan.is_empty()  # the other, untouched
    assert main(["route53", "plan", "--zone-id", "ZNOSUCHZONE", str(ZONES)]) == 1
    assert "--zone-id ZNOSUCHZONE" in capsys.readouterr().err


def test_zones_of_one_name_are_counted_across_pages(r53: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """ListHostedZonesByName returns at most MaxItems zones a page, with NextDNSName and NextHostedZoneId to go
    on from (moto returns every zone at once, so its answer is cut into Route53's pages of 2 here): zones of the
    name on later pages count too."""
    calls: list[dict[str, Any]] = []
    real = r53.api.list_hosted_zones_by_name

    def paged(**kw: Any) -> Any:
        calls.append(kw)
        every = real(DNSName=kw["DNSName"])["HostedZones"]
        start = next((i for i, z in enumerate(every) if z["Id"].split("/")[-1] == kw.get("HostedZoneId")), 0)
        page, rest = every[start:start + 2], every[start + 2:]
        out: dict[str, Any] = {"HostedZones": page, "IsTruncated": bool(rest), "MaxItems": "2"}
        if rest:
            out.update(NextDNSName=rest[0]["Name"], NextHostedZoneId=rest[0]["Id"].split("/")[-1])
        return out

    for i in range(4):
        r53.api.create_hosted_zone(Name="example.com", CallerReference=f"dup-{i}")
    monkeypatch.setattr(r53.api, "list_hosted_zones_by_name", paged)
    with pytest.raises(Exception, match="5 public hosted zones are named example.com."):
        aws.find_zone(r53, "example.com.")
    assert len(calls) == 3 and [c.get("HostedZoneId") is not None for c in calls] == [False, True, True]


def test_plan_detailed_exitcode_json_counts_before_values_and_cost(r53: Any, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    import json as jsonlib

    zones = tmp_path / "zones"
    zones.mkdir()
    text = (ZONES / "example.com.yaml").read_text()
    (zones / "example.com.yaml").write_text(text)
    assert main(["route53", "plan", "--detailed-exitcode", str(zones)]) == 2  # changes to make
    out = capsys.readouterr().out
    assert re.search(r"cost: 38 health checks, about \$[0-9.,]+ a month \(prices of 2026-12-04, unverified", out), out
    assert main(["route53", "apply", "--yes", str(zones)]) == 0
    capsys.readouterr()
    assert main(["route53", "plan", "--detailed-exitcode", str(zones)]) == 0  # nothing to do
    capsys.readouterr()
    # one TTL changed: one pool's records are upserted, each with what it replaces
    (zones / "example.com.yaml").write_text(text.replace("    ttl: 30\n", "    ttl: 120\n", 1))
    assert main(["route53", "plan", "--json", "--detailed-exitcode", str(zones)]) == 2
    plan = jsonlib.loads(capsys.readouterr().out)
    counts = plan["counts"]
    assert counts["records_upsert"] > 0 and counts["records_create"] == counts["records_delete"] == 0
    assert counts["checks_create"] == counts["switches"] == 0 and counts["destructive"] == counts["records_upsert"]
    upserts = [c for b in plan["batches"] for c in b if c["action"] == "UPSERT"]
    assert upserts and all(c["before"]["ttl"] == 30 and c["record"]["ttl"] == 120 for c in upserts)
    assert plan["cost"]["health_checks"] == 38 and plan["cost"]["usd_per_month"] > 0
    assert any("TTL 120 s on health-checked names" in w for w in plan["warnings"])
    assert main(["route53", "plan", "--detailed-exitcode", "--zone-id", "ZNOSUCHZONE", str(zones)]) == 1  # an error


def test_an_apply_holds_the_zones_lock_and_a_second_one_is_refused(r53: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """The lock is a TXT record created with CREATE, which Route53 refuses when it exists (moto accepts a second
    rrset of other values: Route53's refusal is injected for that one call)."""
    zone_id = aws.find_zone(r53, "example.com.")
    held = aws.take_lock(r53, zone_id, "example.com.", "gtm", "alice@ops")  # another apply, running
    refuse_create_of("_gtm-lock.example.com.", r53)
    assert main(["route53", "apply", "--yes", str(ZONES)]) == 1
    err = capsys.readouterr().err
    assert "another apply holds the lock of example.com.: \"gtm lock owner=gtm holder=alice@ops until=" in err
    assert "--force-unlock" in err
    assert not [rr for rr in records(r53) if rr.get("SetIdentifier", "").startswith("gtm:gtm:")]  # nothing written
    # the holder died: --force-unlock takes the lock over (deleting exactly the one read), applies, releases
    assert main(["route53", "apply", "--yes", "--force-unlock", str(ZONES)]) == 0
    assert not [rr for rr in records(r53) if rr["Name"] == "_gtm-lock.example.com."]
    assert held.values[0] not in str(records(r53))
    # a lock past its time is taken over without being asked
    stale = aws.lock_record("example.com.", "gtm", "bob@ops", time.time() - 1)
    r53.api.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [
        {"Action": "CREATE", "ResourceRecordSet": aws.to_aws(stale, zone_id, {})}]})
    refuse_create_of("_gtm-lock.example.com.", r53)
    mine = aws.take_lock(r53, zone_id, "example.com.", "gtm", "carol@ops")
    assert [rr["ResourceRecords"][0]["Value"] for rr in records(r53) if rr["Name"] == "_gtm-lock.example.com."] == \
        [mine.values[0]]


def test_with_a_dynamodb_override_store_the_lock_is_an_item_of_its_table(
        r53: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The table drills and failovers share holds the apply lock: nothing is written to the zone for it, an apply
    while another holds it is refused (naming the holder), and a saved plan takes the same lock."""
    from gtm.state.dynamodb import DynamoStore, TableLock, create_table

    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "example.com.yaml").write_text((ZONES / "example.com.yaml").read_text() +
                                            "\noverrides: {store: dynamodb, table: gtm-locks, aws_region: us-east-1}\n")
    store = DynamoStore("gtm-locks", "us-east-1")
    create_table(store.client, "gtm-locks")
    held = TableLock(store, "route53:example.com.", "alice@ops")
    held.take(600)
    assert main(["route53", "apply", "--yes", str(zones)]) == 1
    assert "another apply holds the lock route53:example.com. in table gtm-locks: held by alice@ops until" in \
        capsys.readouterr().err
    assert writes(r53) == 0
    held.release()
    assert main(["route53", "apply", "--yes", str(zones)]) == 0
    assert r53.calls["ChangeResourceRecordSets"] == 1  # the records alone: no lock record taken and released
    assert not [rr for rr in records(r53) if rr["Name"].startswith("_gtm-lock.")]
    assert store.client.scan(TableName="gtm-locks")["Items"] == []  # released
    # a saved plan takes the table's lock too
    (zones / "example.com.yaml").write_text((zones / "example.com.yaml").read_text().replace("ttl: 30", "ttl: 40"))
    saved = tmp_path / "plan.json"
    assert main(["route53", "plan", "--out", str(saved), str(zones)]) == 0
    held.take(600)
    capsys.readouterr()
    assert main(["route53", "apply", "--yes", "--force", str(saved)]) == 1
    assert "held by alice@ops" in capsys.readouterr().err
    held.release()
    assert main(["route53", "apply", "--yes", "--force", str(saved)]) == 0


def refuse_create_of(name: str, client: Any) -> None:
    """Route53's answer to the next lone CREATE of ``name`` (moto does not give it while the rrset exists)."""
    flagged: list[bool] = []

    def look(params: dict[str, Any], **_: Any) -> None:
        changes = params["ChangeBatch"]["Changes"]
        flagged.append(any(c["Action"] == "CREATE" and c["ResourceRecordSet"]["Name"] == name for c in changes)
                       and not any(c["Action"] == "DELETE" for c in changes))

    def refuse(**_: Any) -> Any:
        if not flagged or not flagged[-1]:
            return None
        client.api.meta.events.unregister("before-parameter-build.route53.ChangeResourceRecordSets", look)
        client.api.meta.events.unregister("before-call.route53.ChangeResourceRecordSets", refuse)
        return (type("Http", (), {"status_code": 400, "headers": {}})(),
                {"Error": {"Code": "InvalidChangeBatch", "Message": f"Tried to create resource record set "
                           f"[name='{name}', type='TXT'] but it already exists"},
                 "ResponseMetadata": {"HTTPStatusCode": 400}})

    client.api.meta.events.register("before-parameter-build.route53.ChangeResourceRecordSets", look)
    client.api.meta.events.register("before-call.route53.ChangeResourceRecordSets", refuse)


def test_destroy_removes_what_the_owner_wrote_and_nothing_else(r53: Any, tmp_path: Path) -> None:
    zone_id = aws.find_zone(r53, "example.com.")
    before = {(rr["Name"], rr["Type"]) for rr in records(r53)}
    r53.api.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [{"Action": "CREATE",
        "ResourceRecordSet": {"Name": "foreign.example.com.", "Type": "A", "TTL": 60,
                              "ResourceRecords": [{"Value": "13.0.2.200"}]}}]})
    other = tmp_path / "other"
    (other).mkdir()
    (other / "example.com.yaml").write_text((ZONES / "example.com.yaml").read_text().replace(
        "\n  shop:\n    ttl: 30", "\n  cart:\n    ttl: 30").replace("\n  www:\n    ttl: 30", "\n  store:\n    ttl: 30")
        .replace("\n  api:\n    ttl: 20", "\n  blog:\n    ttl: 20"))
    assert main(["route53", "apply", "--yes", "--owner", "blue", str(other)]) == 0  # another owner's mirror
    blue = {(rr["Name"], rr["Type"], rr.get("SetIdentifier")) for rr in records(r53)}
    assert main(["route53", "apply", "--yes", str(ZONES)]) == 0
    assert main(["route53", "destroy", "--yes", str(ZONES)]) == 1  # more than 10 deletes: --force
    assert main(["route53", "destroy", "--yes", "--force", str(ZONES)]) == 0
    assert {(rr["Name"], rr["Type"], rr.get("SetIdentifier")) for rr in records(r53)} == blue
    assert ("foreign.example.com.", "A") in {(n, t) for n, t, _ in blue} and before <= {(n, t) for n, t, _ in blue}
    config, theirs = load([str(ZONES)]), load([str(other)])
    assert not aws.read_checks(r53, "gtm", "example.com.", make_plan(
        r53, config, "example.com", "gtm").desired.health_checks)  # gtm's checks are gone
    assert make_plan(r53, theirs, "example.com", "blue").plan.is_empty()  # blue's are all there


def test_a_lost_response_to_an_applied_batch_is_not_a_failure(r53: Any, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """The first record batch goes through but its response is lost (a read timeout): the apply looks, finds the
    batch applied, and goes on; the next plan is empty."""
    from botocore.exceptions import ReadTimeoutError

    real = r53.api.change_resource_record_sets
    seen = {"n": 0}

    def lost(**kw: Any) -> Any:
        out = real(**kw)
        if "batch 1/" in kw["ChangeBatch"].get("Comment", "") and not seen["n"]:
            seen["n"] += 1
            raise ReadTimeoutError(endpoint_url="https://route53.amazonaws.com")
        return out

    monkeypatch.setattr(r53.api, "change_resource_record_sets", lost)
    assert main(["route53", "apply", "--yes", str(ZONES)]) == 0
    out = capsys.readouterr().out
    assert "(1 batch responses lost, and the batches found applied)" in out and seen["n"] == 1
    assert make_plan(r53, load([str(ZONES)]), "example.com", "gtm").plan.is_empty()


def test_apply_wait_polls_getchange_until_insync(r53: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["route53", "apply", "--yes", "--wait", str(ZONES)]) == 0
    assert re.search(r"in sync on every Route53 name server after \d+ s", capsys.readouterr().out)
    assert r53.calls["GetChange"] >= 1


def test_adopting_a_cname_replaces_it_in_one_batch(r53: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """www was a CNAME to an old load balancer: a conflict until adopted; then the CNAME's DELETE and every
    record at www go in one batch (atomic: the name resolves all along; Route53 never holds a CNAME beside A)."""
    zone_id = aws.find_zone(r53, "example.com.")
    cname = {"Name": "www.example.com.", "Type": "CNAME", "TTL": 60, "ResourceRecords": [{"Value": "old-lb.example.net"}]}
    r53.api.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [
        {"Action": "CREATE", "ResourceRecordSet": cname}]})
    assert main(["route53", "plan", str(ZONES)]) == 0
    assert "! conflict: www.example.com. CNAME exists and is not gtm's" in capsys.readouterr().out
    assert main(["route53", "apply", "--yes", str(ZONES)]) == 1
    batches: list[list[dict[str, Any]]] = []
    r53.api.meta.events.register("before-parameter-build.route53.ChangeResourceRecordSets",
                                 lambda params, **_: batches.append(params["ChangeBatch"]["Changes"]))
    assert main(["route53", "apply", "--yes", "--adopt", str(ZONES)]) == 0
    [with_cname] = [b for b in batches if any(c["ResourceRecordSet"]["Type"] == "CNAME" for c in b)]
    at_www = [(c["Action"], c["ResourceRecordSet"]["Type"]) for c in with_cname
              if c["ResourceRecordSet"]["Name"] == "www.example.com."]
    assert at_www[0] == ("DELETE", "CNAME") and {t for a, t in at_www[1:]} == {"A", "AAAA"}
    assert all(a == "CREATE" for a, _ in at_www[1:])
    assert not [b for b in batches if b is not with_cname and any(
        c["ResourceRecordSet"]["Name"] == "www.example.com." for c in b)]  # nothing else at www, in no other batch
    assert {rr["Type"] for rr in records(r53) if rr["Name"] == "www.example.com."} == {"A", "AAAA"}
    assert make_plan(r53, load([str(ZONES)]), "example.com", "gtm").plan.is_empty()


def test_overrides_route53_cannot_express_are_warned(r53: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from gtm.model import Override
    from gtm.state.store import AuditEntry, open_store

    zones = public_example(tmp_path / "zones")
    store = open_store(load([str(zones)]).overrides)
    store.write(0, [Override("a", "up", "eu-west", "13.51.100.10", None, "disk", "ops", time.time()),
                    Override("b", "drain", "us-east", None, "example.com/api", "deploy", "ops", time.time())],
                AuditEntry(time.time(), "drain", "ops"))
    assert main(["route53", "plan", str(zones)]) == 0
    out = capsys.readouterr().out
    assert "warning: override up eu-west/13.51.100.10 is not mirrored (up: Route53 goes by its own health " \
           "checks)" in out
    assert "warning: override drain us-east for example.com/api is not mirrored (for one service: Route53's " \
           "checks serve every service)" in out


def endpoint_checks(client: Any, zones: Path, region: str, address: str) -> dict[str, tuple[bool, bool]]:
    want = make_plan(client, load([str(zones)]), "example.com", "gtm").desired
    return {c.key: (c.spec.disabled, c.spec.inverted)
            for c in aws.read_checks(client, "gtm", "example.com.", want.health_checks)
            if c.key and c.key.startswith("ep:") and c.key.endswith(f":{region}:{address}")}


def test_an_endpoint_drain_is_mirrored_as_its_checks_always_unhealthy(
        r53: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Drained for every service, an endpoint's checks (one per monitor) become Disabled and Inverted, Route53's
    "always unhealthy": by ``gtm override drain R/ADDR --route53`` (one UpdateHealthCheck per check, no record
    change), kept by a routine apply, set back by ``clear --route53``; a new check is created as the store says,
    and the endpoint leaves the terminal a chain ends in."""
    zones = public_example(tmp_path / "zones")
    assert main(["route53", "apply", "--yes", str(zones)]) == 0
    assert set(endpoint_checks(r53, zones, "eu-west", "13.51.100.10").values()) == {(False, False)}
    r53.calls.clear()
    assert main(["override", "drain", "eu-west/13.51.100.10", "--route53", "--force", "-c", str(zones),
                 "--nodes", "127.0.0.1:9", "--admin", "http://127.0.0.1:9"]) == 0
    out = capsys.readouterr().out
    assert "route53: the health checks of eu-west/13.51.100.10 disabled and inverted (always unhealthy): 2 changed" \
        in out
    assert {op: n for op, n in r53.calls.items() if op in WRITES} == {"UpdateHealthCheck": 2}  # web's and api's
    assert set(endpoint_checks(r53, zones, "eu-west", "13.51.100.10").values()) == {(True, True)}
    # the store and Route53 agree: a plan has no drift, and takes the endpoint out of the terminal it was in
    assert main(["route53", "plan", str(zones)]) == 0
    out = capsys.readouterr().out
    assert "drift" not in out and "~ _gtm-last-eu-west.www.example.com. A 30 13.51.100.11" in out
    # another machine, with an empty override store: the drain on Route53 is kept, and named
    other = public_example(tmp_path / "other")
    capsys.readouterr()
    assert main(["route53", "apply", "--yes", str(other)]) == 0
    out = capsys.readouterr().out
    assert "drift: endpoint eu-west/13.51.100.10 is drained on Route53 (ep:web:eu-west:13.51.100.10 disabled and " \
           "inverted) and not in the override store; apply keeps it drained" in out
    assert set(endpoint_checks(r53, zones, "eu-west", "13.51.100.10").values()) == {(True, True)}
    # cleared, with --route53: set back
    assert main(["override", "clear", "eu-west/13.51.100.10", "--route53", "-c", str(zones),
                 "--nodes", "127.0.0.1:9", "--admin", "http://127.0.0.1:9"]) == 0
    assert "route53: the health checks of eu-west/13.51.100.10 set back: 2 changed" in capsys.readouterr().out
    assert set(endpoint_checks(r53, zones, "eu-west", "13.51.100.10").values()) == {(False, False)}
    assert main(["override", "drain", "eu-west/13.51.100.10", "--route53", "--service", "www", "-c", str(zones)]) == 2
    assert "--route53 with --service: Route53's checks serve every service" in capsys.readouterr().err


def test_a_saved_plan_is_applied_exactly_or_refused_when_the_zone_changed(r53: Any, tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    saved = tmp_path / "plan.json"
    assert main(["route53", "plan", "--out", str(saved), str(ZONES)]) == 0
    shown = capsys.readouterr().out
    assert main(["route53", "apply", "--yes", str(saved)]) == 0
    applied = capsys.readouterr().out
    assert applied.startswith(shown.rstrip("\n")) and "applied the plan of" in applied  # the very plan shown
    assert make_plan(r53, load([str(ZONES)]), "example.com", "gtm").plan.is_empty()
    # a second saved plan, then someone changes the zone before it is applied: refused, nothing written
    (tmp_path / "z").mkdir()
    changed = tmp_path / "z" / "example.com.yaml"
    changed.write_text((ZONES / "example.com.yaml").read_text().replace("    ttl: 30\n", "    ttl: 45\n", 1))
    assert main(["route53", "plan", "--out", str(saved), str(changed.parent)]) == 0
    from gtm.route53.sync import switch_regions

    switch_regions(r53, load([str(ZONES)]), "gtm", "eu-west", True)  # a drain meanwhile: a check's version moves
    capsys.readouterr()
    r53.calls.clear()
    assert main(["route53", "apply", "--yes", "--force", str(saved)]) == 1
    assert "the zone changed since the plan was made" in capsys.readouterr().err
    assert {op: n for op, n in r53.calls.items() if op in WRITES} == {"ChangeResourceRecordSets": 2}  # the lock only
    (tmp_path / "junk.json").write_text('{"format": "gtm-route53-plan/1", "zone": 1}')
    assert main(["route53", "apply", "--yes", str(tmp_path / "junk.json")]) == 1
    assert "not a saved gtm route53 plan" in capsys.readouterr().err


def test_a_lock_whose_create_response_was_lost_is_still_ours(r53: Any) -> None:
    """The CREATE of the lock goes through, its response is lost, and the retry is refused as "already exists":
    the lock read back is ours (same value), so the apply goes on instead of refusing itself."""
    zone_id = aws.find_zone(r53, "example.com.")
    real = r53.api.change_resource_record_sets
    calls = {"n": 0}

    def lost_then_refused(**kw: Any) -> Any:
        calls["n"] += 1
        out = real(**kw)
        if calls["n"] == 1:  # Route53 has it; what the caller sees is the retry's answer
            raise aws.AwsError("Route53 change_resource_record_sets: InvalidChangeBatch: Tried to create resource "
                               "record set [name='_gtm-lock.example.com.', type='TXT'] but it already exists",
                               "InvalidChangeBatch")
        return out

    monkeypatch_api = pytest.MonkeyPatch()
    monkeypatch_api.setattr(r53.api, "change_resource_record_sets", lost_then_refused)
    try:
        mine = aws.take_lock(r53, zone_id, "example.com.", "gtm", "me@here")
    finally:
        monkeypatch_api.undo()
    assert [rr["ResourceRecords"][0]["Value"] for rr in records(r53) if rr["Name"] == "_gtm-lock.example.com."] == \
        [mine.values[0]]


def test_conflicts_are_not_in_sync_for_a_pipeline(r53: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    zone_id = aws.find_zone(r53, "example.com.")
    assert main(["route53", "apply", "--yes", str(ZONES)]) == 0
    r53.api.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [{"Action": "CREATE",
        "ResourceRecordSet": {"Name": "www.example.com.", "Type": "CNAME", "TTL": 60,
                              "ResourceRecords": [{"Value": "elsewhere.example.net"}]}}]})
    assert main(["route53", "plan", "--detailed-exitcode", str(ZONES)]) == 1
    capsys.readouterr()
    saved = tmp_path / "plan.json"
    assert main(["route53", "plan", "--out", str(saved), str(ZONES)]) == 0
    assert main(["route53", "apply", "--yes", "--adopt", str(saved)]) == 2  # flags a saved plan cannot take
    assert "--adopt: a saved plan is applied as it was planned" in capsys.readouterr().err
