"""The mirrored Route53 tree answers what gtm's own steering answers, for every region up/down combination
(failover, weighted, geo), and a drained region is never answered while another is up."""
from __future__ import annotations

import itertools

import pytest

from gtm import steering
from gtm.config import load
from gtm.model import GeoInfo, HealthSnapshot
from gtm.model.effective import Effective, Overrides
from gtm.state.overrides import apply
from gtm.route53.desired import desired
from gtm.route53.model import Desired
from gtm.route53.simulate import ClientGeo, simulate

CONFIG = """\
zone: m.test
soa: {}
ns: [ns1]
records: {ns1: {A: 192.0.2.53}}
regions:
  us: {location: {lat: 39, lon: -77}, aws_region: us-east-1, endpoints: [192.0.2.10, 192.0.2.11]}
  eu: {location: {lat: 53, lon: -6}, aws_region: eu-west-1, endpoints: [198.51.100.10, 198.51.100.11]}
  ap: {location: {lat: 1, lon: 104}, aws_region: ap-southeast-1, endpoints: [203.0.113.10]}
monitors:
  web: {type: http, port: 80, path: /h, interval: 10, rise: 3, fall: 3}
services:
  fo: {regions: [eu, us, ap], monitor: web, policy: failover}
  w: {regions: [us, eu, ap], monitor: web, policy: {type: weighted, weights: {us: 3, eu: 1, ap: 2}}}
  geo:
    regions: [us, eu, ap]
    monitor: web
    policy:
      type: geo
      rules:
        - {continent: EU, regions: [eu, us]}
        - {country: JP, regions: [ap, us]}
        - {continent: AS, regions: [ap, eu]}
      default: [us, eu, ap]
"""
REGIONS = ("us", "eu", "ap")
CLIENTS = {  # place -> (gtm's view of the client, Route53's)
    "germany": (GeoInfo(True, "EU", "DE"), ClientGeo("EU", "DE")),
    "japan": (GeoInfo(True, "AS", "JP"), ClientGeo("AS", "JP")),
    "india": (GeoInfo(True, "AS", "IN"), ClientGeo("AS", "IN")),
    "brazil": (GeoInfo(True, "SA", "BR"), ClientGeo("SA", "BR")),
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("m") / "m.yaml"
    path.write_text(CONFIG)
    config = load([str(path)])
    return config, desired(config, "m.test", "t")


def states(config, down: set[str]) -> tuple[Effective, dict[str, bool]]:  # type: ignore[no-untyped-def]
    health = HealthSnapshot(down_checks=frozenset(("web", r, str(e.address)) for r in down
                                                  for e in config.regions[r].endpoints))
    observed = {f"ep:web:{r}:{e.address}": r not in down for r in REGIONS for e in config.regions[r].endpoints}
    return apply(Overrides(), health, config.services), observed


def combos() -> list[set[str]]:
    return [set(c) for n in range(len(REGIONS) + 1) for c in itertools.combinations(REGIONS, n)]


@pytest.mark.parametrize("down", combos(), ids=lambda d: "down:" + ",".join(sorted(d)) if d else "all-up")
def test_failover_agrees(world, down: set[str]) -> None:  # type: ignore[no-untyped-def]
    config, want = world
    health, observed = states(config, down)
    svc = next(s for s in config.services if s.key == "fo")
    ours = steering.decide(svc, steering.Client(), config, health)
    theirs = simulate(want, observed, "fo.m.test.", "A")
    assert set(theirs.addresses) == set(ours.a), theirs.trail


@pytest.mark.parametrize("down", combos(), ids=lambda d: "down:" + ",".join(sorted(d)) if d else "all-up")
@pytest.mark.parametrize("place", sorted(CLIENTS))
def test_geo_agrees(world, down: set[str], place: str) -> None:  # type: ignore[no-untyped-def]
    config, want = world
    health, observed = states(config, down)
    svc = next(s for s in config.services if s.key == "geo")
    geo, client_geo = CLIENTS[place]
    ours = steering.decide(svc, steering.Client(None, 0, geo), config, health)
    theirs = simulate(want, observed, "geo.m.test.", "A", geo=client_geo)
    assert set(theirs.addresses) == set(ours.a), theirs.trail


@pytest.mark.parametrize("down", combos(), ids=lambda d: "down:" + ",".join(sorted(d)) if d else "all-up")
def test_weighted_agrees_in_distribution(world, down: set[str]) -> None:  # type: ignore[no-untyped-def]
    config, want = world
    health, observed = states(config, down)
    svc = next(s for s in config.services if s.key == "w")
    theirs = simulate(want, observed, "w.m.test.", "A")
    got = {frozenset(addrs): p for addrs, p in theirs.outcomes}
    weights = {"us": 3, "eu": 1, "ap": 2}
    up = [r for r in REGIONS if r not in down] or list(REGIONS)  # all down: both fail open by weight
    total = sum(weights[r] for r in up)
    expected = {}
    for region in up:
        first = steering.choose(svc, steering.rank(svc, steering.Client(), steering.Context(config, health)),
                                config, health, first=region)
        expected[frozenset(first.a)] = weights[region] / total
    assert got.keys() == expected.keys()
    for k, p in expected.items():
        assert got[k] == pytest.approx(p)


def test_a_drained_region_is_never_answered_while_another_is_up(world) -> None:  # type: ignore[no-untyped-def]
    config, want = world
    drained = Desired(want.zone, want.records, tuple(
        c.__class__(**{**c.__dict__, "inverted": True}) if c.key == "switch:eu" else c for c in want.health_checks))
    observed = {f"ep:web:{r}:{e.address}": True for r in REGIONS for e in config.regions[r].endpoints}
    eu = {str(e.address) for e in config.regions["eu"].endpoints}
    for name in ("fo.m.test.", "geo.m.test.", "w.m.test."):
        for _, client_geo in CLIENTS.values():
            answer = simulate(drained, observed, name, "A", geo=client_geo)
            for addrs, p in answer.outcomes:
                assert not eu & set(addrs), (name, client_geo, answer.trail)
