"""The Route53 mirror against moto (AWS itself is out of reach): apply, idempotency, ownership, drains."""
from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

import pytest
from moto import mock_aws

from gtm.cli import main
from gtm.config import load
from gtm.route53 import aws
from gtm.route53.sync import make_plan, run_apply

ROOT = Path(__file__).resolve().parents[2]
WRITES = {"ChangeResourceRecordSets", "CreateHealthCheck", "UpdateHealthCheck", "DeleteHealthCheck",
          "ChangeTagsForResource"}


@pytest.fixture
def r53(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        client = aws.client()
        client.create_hosted_zone(Name="example.com", CallerReference="test")
        client.calls = Counter()  # type: ignore[attr-defined]
        client.meta.events.register("before-call.route53",
                                    lambda model, **kw: client.calls.update([model.name]))  # type: ignore[attr-defined]
        monkeypatch.setattr(aws, "client", lambda profile=None: client)
        yield client


def writes(client: Any) -> int:
    return sum(n for op, n in client.calls.items() if op in WRITES)


def records(client: Any) -> list[dict[str, Any]]:
    zone_id = aws.find_zone(client, "example.com.")
    return client.list_resource_record_sets(HostedZoneId=zone_id, MaxItems="1000")["ResourceRecordSets"]


def test_plan_shows_the_whole_tree_and_apply_is_idempotent(r53: Any, capsys: pytest.CaptureFixture[str]) -> None:
    zone_id = aws.find_zone(r53, "example.com.")
    r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [{"Action": "CREATE",
        "ResourceRecordSet": {"Name": "foreign.example.com.", "Type": "A", "TTL": 60,
                              "ResourceRecords": [{"Value": "192.0.2.200"}]}}]})
    assert main(["route53", "plan", str(ROOT / "zones")]) == 0
    out = capsys.readouterr().out
    assert "+ www.example.com. A alias" in out and "+ health check switch:eu-west" in out
    assert main(["route53", "apply", "--yes", str(ROOT / "zones")]) == 0
    first = writes(r53)
    assert first > 0
    names = {rr["Name"] for rr in records(r53)}
    assert "foreign.example.com." in names and "www.example.com." in names
    r53.calls.clear()
    assert main(["route53", "apply", "--yes", str(ROOT / "zones")]) == 0
    assert writes(r53) == 0, r53.calls  # a second apply changes nothing
    assert "no changes" in capsys.readouterr().out
    assert "foreign.example.com." in {rr["Name"] for rr in records(r53)}


def test_drain_flips_only_the_switch(r53: Any) -> None:
    config = load([str(ROOT / "zones")])
    run_apply(r53, make_plan(r53, config, "example.com", "gtm"), "gtm")
    sync = make_plan(r53, config, "example.com", "gtm")
    assert sync.plan.is_empty()
    drained = replace(sync.desired, health_checks=tuple(replace(c, inverted=True) if c.key == "switch:eu-west"
                                                         else c for c in sync.desired.health_checks))
    from gtm.route53.plan import diff
    keys = {c.id: c.key for c in sync.checks if c.key}
    plan = diff(drained, aws.read_records(r53, sync.zone_id, keys), list(sync.checks), "gtm")
    r53.calls.clear()
    aws.apply(r53, sync.zone_id, plan, "gtm", list(sync.checks))
    assert {op: n for op, n in r53.calls.items() if op in WRITES} == {"UpdateHealthCheck": 1}


def test_a_failed_batch_is_repaired_by_the_next_apply(r53: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load([str(ROOT / "zones")])
    real = r53.change_resource_record_sets
    monkeypatch.setattr("gtm.route53.plan.MAX_RECORDS_PER_BATCH", 40)  # force several batches
    sync = make_plan(r53, config, "example.com", "gtm")
    assert len(sync.plan.batches) > 1
    calls = {"n": 0}

    def flaky(**kw: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise aws.ClientError({"Error": {"Code": "InvalidChangeBatch", "Message": "injected"}},
                                  "ChangeResourceRecordSets")
        return real(**kw)

    monkeypatch.setattr(r53, "change_resource_record_sets", flaky)
    with pytest.raises(Exception, match="batch 2 of"):
        run_apply(r53, sync, "gtm")
    monkeypatch.setattr(r53, "change_resource_record_sets", real)
    again = make_plan(r53, config, "example.com", "gtm")
    assert not again.plan.is_empty() and not again.plan.create_checks  # checks were made; records remain
    run_apply(r53, again, "gtm")
    assert make_plan(r53, config, "example.com", "gtm").plan.is_empty()


def test_no_hosted_zone_is_a_one_line_error(r53: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["route53", "plan", "--zone", "example.org", str(ROOT / "zones")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["gtm: error: the config has no zone example.org.; zones: example.com."]


def test_large_rewrites_need_force(r53: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["route53", "apply", "--yes", str(ROOT / "zones")]) == 0
    capsys.readouterr()
    # Another owner id would own nothing; the same owner with the services removed deletes a lot.
    import shutil
    import tempfile

    d = Path(tempfile.mkdtemp())
    shutil.copy(ROOT / "zones" / "example.com.yaml", d / "example.com.yaml")
    text = (d / "example.com.yaml").read_text()
    (d / "example.com.yaml").write_text(text[:text.index("\nservices:")] + "\n")
    before = writes(r53)
    # No services left: the config has no zone with services, so --zone is needed.
    assert main(["route53", "apply", "--yes", "--zone", "example.com", str(d)]) == 1
    assert "refusing" in capsys.readouterr().err
    assert writes(r53) == before  # nothing was written
    assert main(["route53", "apply", "--yes", "--force", "--zone", "example.com", str(d)]) == 0
    assert not [rr for rr in records(r53) if rr.get("SetIdentifier", "").startswith("gtm:gtm:")]
