"""proximity: nearest region by great-circle distance, after each region's bias (km, then %)."""
from __future__ import annotations

import pytest

from gtm import steering
from gtm.model import Bias, GeoInfo, Location, ProximityPolicy
from gtm.steering.geomath import distance_km
from tests.unit.steering.world import (
    ALL,
    BERLIN,
    NEW_YORK,
    SAO_PAULO,
    TOKYO,
    UP,
    client,
    config,
    geo,
    health,
    region,
    service,
)

CFG = config()
CTX = steering.Context(CFG, UP)


def order(where: Location | None, *bias: tuple[str, Bias], regions: tuple[str, ...] = ALL,
          cfg: steering.Context = CTX) -> tuple[str, ...]:
    svc = service(regions, ProximityPolicy(tuple(bias)))
    return steering.rank(svc, client("192.0.2.1", geo(where)), cfg).order


def test_great_circle_distance() -> None:
    assert distance_km(Location(51.5074, -0.1278), Location(48.8566, 2.3522)) == pytest.approx(343.6, abs=0.5)
    assert distance_km(Location(0, 0), Location(0, 180)) == pytest.approx(20015.1, abs=0.5)  # half the equator
    assert distance_km(BERLIN, BERLIN) == 0
    assert distance_km(Location(0, 179.5), Location(0, -179.5)) == pytest.approx(111.2, abs=0.1)  # date line


def test_nearest_first() -> None:
    assert order(BERLIN) == ("eu-west", "us-east", "ap-southeast")          # 1317, 6731, 9917 km
    assert order(TOKYO) == ("ap-southeast", "eu-west", "us-east")           # 5315, 9586, 10876 km
    assert order(NEW_YORK) == ("us-east", "eu-west", "ap-southeast")        # 354, 5115, 15333 km
    assert order(SAO_PAULO) == ("us-east", "eu-west", "ap-southeast")       # 7661, 9393, 15987 km


def test_equal_distances_keep_the_configured_order() -> None:
    here = Location(10, 10)
    a, b, c = (region(n, here, "192.0.2.1") for n in ("a", "b", "c"))
    ctx = steering.Context(config(regions=(a, b, c)), UP)
    assert order(BERLIN, regions=("a", "b", "c"), cfg=ctx) == ("a", "b", "c")
    assert order(BERLIN, regions=("c", "a", "b"), cfg=ctx) == ("c", "a", "b")


def test_client_without_location_gets_the_configured_order_and_the_database_scope() -> None:
    svc = service(("ap-southeast", "us-east", "eu-west"), ProximityPolicy())
    r = steering.rank(svc, client("192.0.2.1", GeoInfo(False, city_prefix=9)), CTX)
    assert (r.order, r.scope, r.key) == (("ap-southeast", "us-east", "eu-west"), 9, "nowhere")
    r = steering.rank(svc, steering.Client(), CTX)
    assert (r.order, r.scope) == (("ap-southeast", "us-east", "eu-west"), 0)
    # found in the database, but without coordinates
    r = steering.rank(svc, client("192.0.2.1", geo(None, "EU", "DE", city_prefix=12)), CTX)
    assert (r.order, r.scope) == (("ap-southeast", "us-east", "eu-west"), 12)


def test_scope_is_the_city_network() -> None:
    svc = service(policy=ProximityPolicy())
    assert steering.rank(svc, client("81.2.69.0/24", geo(BERLIN, city_prefix=19)), CTX).scope == 19
    assert steering.rank(svc, client("2001:db8::/56", geo(BERLIN, city_prefix=32)), CTX).scope == 32


def test_bias_in_km() -> None:
    # from Berlin us-east is 5414 km farther than eu-west
    assert order(BERLIN, ("us-east", Bias(km=5400))) == ("eu-west", "us-east", "ap-southeast")
    assert order(BERLIN, ("us-east", Bias(km=5430))) == ("us-east", "eu-west", "ap-southeast")
    # a negative bias pushes a region away
    assert order(NEW_YORK, ("us-east", Bias(km=-5000))) == ("eu-west", "us-east", "ap-southeast")


def test_bias_in_percent() -> None:
    # us-east from Berlin: 6731 km; 80 % off = 1346 (> 1317), 81 % off = 1279 (< 1317)
    assert order(BERLIN, ("us-east", Bias(percent=80))) == ("eu-west", "us-east", "ap-southeast")
    assert order(BERLIN, ("us-east", Bias(percent=81))) == ("us-east", "eu-west", "ap-southeast")
    # a negative percentage makes a region count farther: eu-west from Tokyo 9586 km * 1.2 > 10876 km
    assert order(TOKYO, ("eu-west", Bias(percent=-20))) == ("ap-southeast", "us-east", "eu-west")


def test_bias_km_then_percent() -> None:
    assert Bias(km=1000, percent=50).apply(3000) == 1000
    assert Bias().apply(1234.5) == 1234.5


def test_nearest_down_region_gives_way_to_the_next_nearest() -> None:
    svc = service(policy=ProximityPolicy())
    d = steering.decide(svc, client("192.0.2.1", geo(TOKYO)), CFG, health("ap-southeast"))
    assert (d.regions, d.a, d.aaaa) == (("eu-west",), ("198.51.100.10",), ("2001:db8:2::10",))
