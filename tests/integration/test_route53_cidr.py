"""CIDR rules on Route53: a CIDR collection of the owner's for the zone and IP-based records in front of the
geolocation ones. moto has neither (moto gap 6), so tests.support.route53_cidr serves those calls with the real
API's rules (versions, blocks in use, a collection in use) in front of moto's records."""
from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, Iterator

import pytest

from gtm import steering
from gtm.cli import main
from gtm.config import load
from gtm.errors import ApplyError
from gtm.model import GeoInfo, HealthSnapshot, Location
from gtm.model.effective import Overrides
from gtm.route53 import aws
from gtm.route53.desired import cidr_location, collection_name
from gtm.route53.simulate import ClientGeo, health_states, resolve
from gtm.route53.sync import make_plan, run_apply
from gtm.state.overrides import apply as effective
from tests.integration.test_route53_moto import ZONES, r53, records, writes  # noqa: F401  (r53: the fixture)
from tests.support.route53_cidr import CidrRoute53

EXAMPLE = (ZONES / "example.com.yaml").read_text()
HEAD = EXAMPLE[:EXAMPLE.index("\nservices:")]
SERVICES = """
services:
  www:
    ttl: 30
    monitor: web
    regions: [us-east, eu-west, ap-southeast]
    policy:
      type: geo
      rules:
        - {cidr: 13.200.0.0/16, regions: [ap-southeast]}
        - {cidr: "2600:1f18::/32", regions: [eu-west]}
        - {cidr: 13.200.7.0/28, regions: [ap-southeast]}
        - {continent: EU, regions: [eu-west, us-east]}
      default: [us-east, eu-west, ap-southeast]
  shop:
    ttl: 30
    monitor: web
    regions: [eu-west, us-east]
    policy:
      type: geo
      rules:
        - {cidr: 13.201.0.0/16, regions: [us-east]}
        - {cidr: 13.200.5.0/24, regions: [us-east]}
      default: [eu-west, us-east]
"""
BLOCKS = {"13.200.0.0/16", "13.200.5.0/24", "13.201.0.0/16", "2600:1f18::/32"}  # (not the /28: see the warning)
COLLECTION = collection_name("gtm", "example.com.")


@pytest.fixture
def r53c(r53: Any) -> Iterator[Any]:  # noqa: F811  (the fixture of test_route53_moto)
    r53.api = CidrRoute53(r53.api, r53.calls)
    yield r53


def write(directory: Path, text: str) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "example.com.yaml").write_text(text)
    return str(directory)


def collection(r53: Any) -> dict[str, set[str]]:
    held = [c for c in r53.api.collections.values() if c["Name"] == COLLECTION]
    return {loc: set(blocks) for loc, blocks in held[0]["locations"].items()} if held else {}


def test_cidr_rules_become_a_collection_and_ip_based_records_that_answer_as_gtm_does(
        r53c: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config_dir = write(tmp_path / "z", HEAD + SERVICES)
    assert main(["route53", "plan", config_dir]) == 0
    out = capsys.readouterr().out
    assert f"+ cidr collection {COLLECTION}" in out
    assert f"+ cidr location {cidr_location(ipaddress.ip_network('13.200.0.0/16'))} 13.200.0.0/16" in out
    assert "geo rule on 13.200.7.0/28 is not mirrored: Route53 holds CIDR blocks of /1 to /24 (IPv4)" in out
    assert main(["route53", "apply", "--yes", config_dir]) == 0
    assert {b for blocks in collection(r53c).values() for b in blocks} == BLOCKS
    assert all(len(blocks) == 1 for blocks in collection(r53c).values())  # one block a location
    top = [rr for rr in records(r53c) if rr["Name"] == "www.example.com." and rr["Type"] == "A"]
    assert sorted(rr["CidrRoutingConfig"]["LocationName"] for rr in top) == \
        sorted([cidr_location(ipaddress.ip_network(b)) for b in BLOCKS] + ["*"])
    assert {rr["Name"] for rr in records(r53c) if "GeoLocation" in rr} == {"_gtm-geo.www.example.com."}

    # A second apply reads and writes nothing more.
    capsys.readouterr()
    r53c.calls.clear()
    assert main(["route53", "apply", "--yes", config_dir]) == 0
    assert "no changes" in capsys.readouterr().out
    assert writes(r53c) == 0 and not {op for op in r53c.calls if op.startswith(("Create", "Change", "Delete"))}

    # The zone as Route53 holds it (read back: records, checks, collection) answers every client as gtm does.
    config = load([config_dir])
    sync = make_plan(r53c, config, "example.com", "gtm")
    zone_id = aws.find_zone(r53c, "example.com.")
    checks = aws.read_checks(r53c, "gtm", "example.com.", sync.desired.health_checks)
    held = aws.read_collection(r53c, COLLECTION)
    assert held is not None
    keys = {c.id: c.key for c in checks if c.key is not None} | {held.id: held.name}
    zone = aws.read_records(r53c, zone_id, keys)
    health = health_states([c.spec for c in checks], {})
    up = effective(Overrides(), HealthSnapshot(), config.services)
    clients = {  # address: (continent, country)
        "13.200.9.9": ("EU", "DE"), "13.200.5.1": ("EU", "DE"), "13.200.7.3": ("NA", "US"),
        "13.201.3.3": ("EU", "FR"), "13.201.3.4": ("AS", "JP"), "2600:1f18::5": ("NA", "US"),
        "13.99.0.1": ("EU", "IE"), "13.99.0.2": ("AS", "JP")}
    seen = set()
    for svc in config.services:
        for address, (continent, country) in clients.items():
            ip = ipaddress.ip_address(address)
            geo = GeoInfo(True, continent, country, (), Location(0, 0))
            ours = steering.decide(svc, steering.Client(ip, ip.max_prefixlen, geo), config, up)
            theirs = resolve(zone, health, f"{svc.key}.example.com.", "A",
                             ClientGeo(continent, country, address=address), cidr=held.locations)
            assert set(theirs.addresses) == set(ours.a), (svc.key, address, ours.regions, theirs.trail)
            seen.add((svc.key, ours.regions[0]))
    # (www from shop's 13.200.5.0/24 stays in www's /16: ap-southeast; from shop's 13.201/16, by continent)
    assert {("www", "ap-southeast"), ("www", "eu-west"), ("www", "us-east"), ("shop", "us-east"),
            ("shop", "eu-west")} <= seen


def test_cidr_rules_removed_leave_no_location_and_no_collection(r53c: Any, tmp_path: Path) -> None:
    """Records first, then the blocks (Route53 refuses to empty a location a record names), then the
    collection (refused while it holds locations); and back again."""
    with_cidr = write(tmp_path / "a", HEAD + SERVICES)
    assert main(["route53", "apply", "--yes", with_cidr]) == 0
    without = write(tmp_path / "b", HEAD + "\n".join(line for line in SERVICES.splitlines() if "cidr" not in line)
                    .replace("      rules:\n      default: [eu-west", "      default: [eu-west"))
    assert "cidr" not in Path(without, "example.com.yaml").read_text()
    assert main(["route53", "apply", "--yes", "--force", without]) == 0
    assert not r53c.api.collections
    assert not [rr for rr in records(r53c) if "CidrRoutingConfig" in rr]
    assert make_plan(r53c, load([without]), "example.com", "gtm").plan.is_empty()
    # (applying the CIDR rules again is not tried here: moto refuses to CREATE an rrset identical to one it
    # once held, moto gap 8)


def test_destroy_takes_the_collection_along(r53c: Any, tmp_path: Path) -> None:
    with_cidr = write(tmp_path / "a", HEAD + SERVICES)
    assert main(["route53", "apply", "--yes", with_cidr]) == 0
    assert r53c.api.collections
    assert main(["route53", "destroy", "--yes", "--force", with_cidr]) == 0
    assert not r53c.api.collections
    assert not [rr for rr in records(r53c) if "CidrRoutingConfig" in rr or rr["Name"].startswith("_gtm")]


def test_a_collection_changed_by_another_hand_stops_the_apply_and_the_next_plan_repairs_it(
        r53c: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config_dir = write(tmp_path / "z", HEAD + SERVICES)
    assert main(["route53", "apply", "--yes", config_dir]) == 0
    narrower = write(tmp_path / "n", HEAD + SERVICES.replace("13.201.0.0/16", "13.202.0.0/16"))
    config = load([narrower])
    stale = make_plan(r53c, config, "example.com", "gtm")
    assert stale.plan.cidr is not None and stale.plan.cidr.put and stale.plan.cidr.remove
    cid = next(iter(r53c.api.collections))
    r53c.api.change_cidr_collection(Id=cid, CollectionVersion=r53c.api.collections[cid]["Version"], Changes=[
        {"LocationName": "byhand", "Action": "PUT", "CidrList": ["13.250.0.0/16"]}])
    with pytest.raises(ApplyError, match="changed by someone else since the plan"):
        run_apply(r53c, stale, "gtm")
    again = make_plan(r53c, config, "example.com", "gtm")
    assert again.plan.cidr is not None and ("byhand", ("13.250.0.0/16",)) in again.plan.cidr.remove
    run_apply(r53c, again, "gtm")
    assert make_plan(r53c, config, "example.com", "gtm").plan.is_empty()
    assert {b for blocks in collection(r53c).values() for b in blocks} == BLOCKS - {"13.201.0.0/16"} | \
        {"13.202.0.0/16"}

    # A saved plan is refused once the collection changed after it was made.
    saved = tmp_path / "plan.json"
    assert main(["route53", "plan", "--out", str(saved), config_dir]) == 0
    r53c.api.change_cidr_collection(Id=cid, CollectionVersion=r53c.api.collections[cid]["Version"], Changes=[
        {"LocationName": "byhand", "Action": "PUT", "CidrList": ["13.251.0.0/16"]}])
    capsys.readouterr()
    assert main(["route53", "apply", "--yes", str(saved)]) == 1
    assert "the zone changed since the plan was made" in capsys.readouterr().err
