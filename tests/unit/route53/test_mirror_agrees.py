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
records: {ns1: {A: 13.0.2.53}}
regions:
  us: {location: {lat: 39, lon: -77}, aws_region: us-east-1, endpoints: [13.0.2.10, 13.0.2.11]}
  eu: {location: {lat: 53, lon: -6}, aws_region: eu-west-1, endpoints: [13.51.100.10, 13.51.100.11]}
  ap: {location: {lat: 1, lon: 104}, aws_region: ap-southeast-1, endpoints: [13.0.113.10]}
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
    """gtm's health with the regions ``down`` (every endpoint's check failing), and what Route53's checks see."""
    health = HealthSnapshot(down_checks=frozenset(("web", r, str(e.address)) for r in down
                                                  for e in config.regions[r].endpoints))
    observed = {f"ep:web:{r}:{e.address}": r not in down for r in config.regions
                for e in config.regions[r].endpoints}
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


@pytest.mark.parametrize("down", [set(), {"13.51.100.11"}, {"13.51.100.11", "13.0.2.10", "13.0.2.11", "13.0.113.10"}])
def test_a_drained_endpoint_is_never_answered_and_its_region_answers_as_gtm_does(world, down) -> None:  # type: ignore[no-untyped-def]
    """eu's 13.51.100.10 drained for every service: its checks Disabled and Inverted (always unhealthy) and out of
    the terminals. With its neighbour up the region answers the neighbour; with the neighbour down too the
    region is out; with every other endpoint down as well, gtm fails open without the drained endpoint, and so
    do the failover and geo mirrors (their terminals leave it out). A weighted service with everything down
    is the exception: Route53 fails open by weight into every region's pool, and a pool with no healthy record
    answers its unhealthy ones, the drained endpoint among them (docs/route53.md says so)."""
    from gtm.model import Override
    from gtm.state.overrides import endpoints_out_everywhere, in_force

    config, _ = world
    drain = [Override("d", "drain", "eu", "13.51.100.10", None, "disk", "ops", 0.0)]
    out = endpoints_out_everywhere(config, drain, 1.0)
    assert out == {("eu", "13.51.100.10")}
    want = desired(config, "m.test", "t", drained_endpoints=out)
    assert {(c.disabled, c.inverted) for c in want.health_checks if c.key == "ep:web:eu:13.51.100.10"} == {(True, True)}
    snapshot = HealthSnapshot(down_checks=frozenset(("web", r, str(e.address)) for r in REGIONS
                                                    for e in config.regions[r].endpoints if str(e.address) in down))
    health = apply(in_force(drain, 1.0), snapshot, config.services)
    observed = {f"ep:web:{r}:{e.address}": str(e.address) not in down for r in REGIONS
                for e in config.regions[r].endpoints}
    for svc in config.services:
        name = f"{svc.key}.m.test."
        for gtm_client, client_geo in CLIENTS.values():
            answer = simulate(want, observed, name, "A", geo=client_geo)
            everything_down = len(down) == 4
            if not (svc.key == "w" and everything_down):
                assert all("13.51.100.10" not in addrs for addrs, _ in answer.outcomes), (name, answer.trail)
            else:
                assert any("13.51.100.10" in addrs for addrs, _ in answer.outcomes)  # the limit, as documented
            if svc.key != "w":  # (weighted: a distribution, compared elsewhere)
                ours = steering.decide(svc, steering.Client(None, 0, gtm_client), config, health)
                assert set(answer.addresses) == set(ours.a), (name, client_geo, ours.regions, answer.trail)


# -- geo rules whose codes mean a continent and a country alike -----------------------------------------------------
SAME_CODES = """\
zone: c.test
soa: {}
ns: [ns1]
records: {ns1: {A: 13.0.2.53}}
regions:
  us: {location: {lat: 39, lon: -77}, aws_region: us-east-1, endpoints: [13.0.2.10]}
  eu: {location: {lat: 53, lon: -6}, aws_region: eu-west-1, endpoints: [13.51.100.10]}
  ap: {location: {lat: 1, lon: 104}, aws_region: ap-southeast-1, endpoints: [13.0.113.10]}
monitors:
  web: {type: http, port: 80, path: /h, interval: 10, rise: 3, fall: 3}
services:
  geo:
    regions: [us, eu, ap]
    monitor: web
    policy:
      type: geo
      rules:
        - {continent: AF, regions: [eu]}      # Africa
        - {country: AF, regions: [ap]}        # Afghanistan
        - {continent: NA, regions: [us]}      # North America
        - {country: NA, regions: [ap]}        # Namibia
      default: [eu, us, ap]
"""


def test_a_continent_and_a_country_of_the_same_code_are_two_records(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """AF is Africa and Afghanistan, NA North America and Namibia: each rule keeps its own record (one used to
    overwrite the other, and Nigeria, Brazil's neighbours and the USA fell to the default chain)."""
    path = tmp_path / "c.yaml"
    path.write_text(SAME_CODES)
    config = load([str(path)])
    want = desired(config, "c.test", "t")
    geos = sorted(r.geo for r in want.records if r.name == "geo.c.test." and r.type == "A" and r.geo)
    assert geos == [("continent", "AF"), ("continent", "NA"), ("country", "AF"), ("country", "NA"), ("default",)]
    health, observed = states(config, set())
    svc = config.services[0]
    for gtm_geo, r53_geo, region in ((GeoInfo(True, "AF", "NG"), ClientGeo("AF", "NG"), "eu"),
                                     (GeoInfo(True, "AS", "AF"), ClientGeo("AS", "AF"), "ap"),
                                     (GeoInfo(True, "NA", "US"), ClientGeo("NA", "US"), "us"),
                                     (GeoInfo(True, "AF", "NA"), ClientGeo("AF", "NA"), "ap")):
        ours = steering.decide(svc, steering.Client(None, 0, gtm_geo), config, health)
        theirs = simulate(want, observed, "geo.c.test.", "A", geo=r53_geo)
        assert ours.regions[0] == region and set(theirs.addresses) == set(ours.a), (gtm_geo, theirs.trail)


# -- latency and proximity: the next nearest region when the nearest is down ----------------------------------------
NEAR = """\
zone: n.test
soa: {}
ns: [ns1]
records: {ns1: {A: 13.0.2.53}}
regions:   # each at its AWS region's place, so that distance ranks both alike
  us: {location: {lat: 38.9, lon: -77.4}, aws_region: us-east-1, endpoints: [13.0.2.10]}
  eu: {location: {lat: 53.3, lon: -6.3}, aws_region: eu-west-1, endpoints: [13.51.100.10]}
  ap: {location: {lat: 1.35, lon: 103.8}, aws_region: ap-southeast-1, endpoints: [13.0.113.10]}
  jp: {location: {lat: 35.7, lon: 139.7}, aws_region: ap-northeast-1, endpoints: [13.0.113.20]}
  br: {location: {lat: -23.5, lon: -46.6}, aws_region: sa-east-1, endpoints: [13.0.113.30]}
monitors:
  web: {type: http, port: 80, path: /h, interval: 10, rise: 3, fall: 3}
services:
  near: {regions: [us, eu, ap, jp, br], monitor: web, policy: proximity}
"""
PLACES = {"sydney": (-33.9, 151.2), "tokyo": (35.7, 139.7), "lagos": (6.5, 3.4), "berlin": (52.5, 13.4),
          "chicago": (41.9, -87.6), "lima": (-12.0, -77.0), "mumbai": (19.1, 72.9), "auckland": (-36.8, 174.8)}


@pytest.fixture(scope="module")
def near(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("n") / "n.yaml"
    path.write_text(NEAR)
    config = load([str(path)])
    return config, desired(config, "n.test", "t")


NEAR_REGIONS = ("us", "eu", "ap", "jp", "br")


@pytest.mark.parametrize("down", [set(c) for n in range(len(NEAR_REGIONS) + 1)
                                  for c in itertools.combinations(NEAR_REGIONS, n)],
                         ids=lambda d: "down:" + ",".join(sorted(d)) if d else "all-up")
def test_proximity_falls_back_to_the_next_nearest_as_gtm_does(near, down: set[str]) -> None:  # type: ignore[no-untyped-def]
    """For every set of regions down and clients on every continent, the mirror answers what gtm answers: a Sydney
    client whose nearest region (ap) is down goes to the next nearest (jp), not to the first configured (us)."""
    from gtm.model import Location
    from gtm.route53.simulate import latency_order

    config, want = near
    health, observed = states(config, down)
    svc = config.services[0]
    aws = [config.regions[r].aws_region for r in svc.regions]
    for place, (lat, lon) in PLACES.items():
        ours = steering.decide(svc, steering.Client(None, 0, GeoInfo(True, location=Location(lat, lon))), config,
                               health)
        theirs = simulate(want, observed, "near.n.test.", "A", latency_region=latency_order(lat, lon, aws))
        assert set(theirs.addresses) == set(ours.a), (place, ours.regions, theirs.trail)


SHARED = """\
zone: s.test
soa: {}
ns: [ns1]
records: {ns1: {A: 13.0.2.53}}
regions:   # a and b share an AWS region (and its place)
  a: {location: {lat: 50.1, lon: 8.7}, aws_region: eu-central-1, endpoints: [13.0.2.10]}
  b: {location: {lat: 50.1, lon: 8.7}, aws_region: eu-central-1, endpoints: [13.0.2.20]}
  c: {location: {lat: 38.9, lon: -77.4}, aws_region: us-east-1, endpoints: [13.0.2.30]}
monitors:
  web: {type: http, port: 80, path: /h, interval: 10, rise: 3, fall: 3}
services:
  near: {regions: [a, b, c], monitor: web, policy: proximity}
"""


@pytest.mark.parametrize("down", [set(c) for n in range(4) for c in itertools.combinations("abc", n)],
                         ids=lambda d: "down:" + ",".join(sorted(d)) if d else "all-up")
def test_regions_sharing_an_aws_region_are_all_answered(tmp_path, down: set[str]) -> None:  # type: ignore[no-untyped-def]
    """One latency record per AWS region: a and b share eu-central-1's, whose chain holds both and whose check
    is healthy while either is; so b answers when a is down, before Route53 moves on to c."""
    from gtm.model import Location
    from gtm.route53.simulate import latency_order

    (tmp_path / "s.yaml").write_text(SHARED)
    config = load([str(tmp_path)])
    want = desired(config, "s.test", "t")
    health, observed = states(config, down)
    svc = config.services[0]
    for lat, lon in ((52.5, 13.4), (40.7, -74.0), (1.3, 103.8)):  # Berlin, New York, Singapore
        ours = steering.decide(svc, steering.Client(None, 0, GeoInfo(True, location=Location(lat, lon))), config,
                               health)
        theirs = simulate(want, observed, "near.s.test.", "A",
                          latency_region=latency_order(lat, lon, ["eu-central-1", "us-east-1"]))
        assert set(theirs.addresses) == set(ours.a), ((lat, lon), ours.regions, theirs.trail)
