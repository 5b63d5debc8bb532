"""gtm.state.overrides: durations and targets as an operator types them, making an override, "later wins" per
slot, expiry (``expires`` is exclusive), and what is in force as steering and Route53 see it. Pure: ``now`` is
an argument, the config is the bundled example (and a few hand-built ones)."""
from __future__ import annotations

from pathlib import Path

import pytest

from gtm.config import load
from gtm.errors import GtmError
from gtm.model import Config, Force, Override
from gtm.state import overrides as ov
from tests.unit.steering.world import ALL, EU_WEST, US_EAST, config, region, service

ZONES = Path(__file__).resolve().parents[3] / "zones"
NOW = 1_800_000_000.0


@pytest.fixture(scope="module")
def cfg() -> Config:
    return load(str(ZONES))


def o(id_: str, action: str, region: str, address: str | None = None, service: str | None = None,
      created: float = NOW - 100, expires: float | None = None, reason: str = "", author: str = "") -> Override:
    return Override(id_, action, region, address, service, reason, author, created, expires)


def make(cfg: Config, current: list[Override], action: str, target: str, service: str | None = None,
         expires_in: float | None = None, new_id: str = "new") -> Override:
    return ov.make(cfg, current, action, target, service=service, reason="drill", author="bob", now=NOW,
                   expires_in=expires_in, new_id=new_id)


# -- parse_duration -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, seconds", [
    ("30m", 1800), ("1h30m", 5400), ("90s", 90), ("1d", 86400), ("2h", 7200), (" 15m ", 900), ("1H", 3600),
    ("1h 30m", 5400), ("1.5h", 5400),
])
def test_parse_duration(text: str, seconds: float) -> None:
    assert ov.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "-1m", "3x", "m", "1h-30m", "1 h x"])
def test_parse_duration_refuses_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(GtmError) as info:
        ov.parse_duration(text)
    assert str(info.value) == ("a duration is a number and a unit s, m, h or d, e.g. 30m or 1h30m "
                               f"(got {text!r})")


@pytest.mark.parametrize("text", ["0s", "0m", "0h0m"])
def test_parse_duration_refuses_zero(text: str) -> None:
    with pytest.raises(GtmError, match=r"^a duration must be positive \(got '0"):
        ov.parse_duration(text)


# -- parse_target ---------------------------------------------------------------------------------------------
def test_parse_target_region(cfg: Config) -> None:
    assert ov.parse_target(cfg, "eu-west") == ("eu-west", None)


def test_parse_target_region_and_address(cfg: Config) -> None:
    assert ov.parse_target(cfg, "us-east/192.0.2.11") == ("us-east", "192.0.2.11")
    # the address comes back in its canonical form, so that slots compare equal however it was typed
    assert ov.parse_target(cfg, "us-east/2001:DB8:10:0::0010") == ("us-east", "2001:db8:10::10")


def test_a_bare_endpoint_address_is_found_in_its_region(cfg: Config) -> None:
    assert ov.parse_target(cfg, "203.0.113.11") == ("ap-southeast", "203.0.113.11")
    assert ov.parse_target(cfg, "2001:db8:20::10") == ("eu-west", "2001:db8:20::10")


def test_an_unknown_region_lists_the_known_ones(cfg: Config) -> None:
    expected = "unknown region 'eu-central'; regions: ap-southeast, eu-west, sa-east, us-east"
    with pytest.raises(GtmError) as info:
        ov.parse_target(cfg, "eu-central")
    assert str(info.value) == expected
    with pytest.raises(GtmError) as info:
        ov.parse_target(cfg, "eu-central/198.51.100.10")
    assert str(info.value) == expected


def test_an_unknown_address_in_a_region_lists_its_endpoints(cfg: Config) -> None:
    with pytest.raises(GtmError) as info:
        ov.parse_target(cfg, "us-east/198.51.100.10")  # an endpoint, but of eu-west
    assert str(info.value) == ("region us-east has no endpoint 198.51.100.10; it has "
                               "192.0.2.10, 192.0.2.11, 2001:db8:10::10")


def test_region_and_something_that_is_no_address(cfg: Config) -> None:
    with pytest.raises(GtmError) as info:
        ov.parse_target(cfg, "us-east/www")
    assert str(info.value) == "'www' is not an IP address or a host name"


def test_an_address_in_no_region(cfg: Config) -> None:
    with pytest.raises(GtmError) as info:
        ov.parse_target(cfg, "192.0.2.99")
    assert str(info.value) == "no region has an endpoint 192.0.2.99"


def test_an_address_in_two_regions_must_be_named_with_its_region() -> None:
    shared = config(regions=(region("a", US_EAST.location, "192.0.2.1"), region("b", EU_WEST.location, "192.0.2.1")))
    with pytest.raises(GtmError) as info:
        ov.parse_target(shared, "192.0.2.1")
    assert str(info.value) == "192.0.2.1 is an endpoint of 2 regions; name it as REGION/ADDRESS"
    assert ov.parse_target(shared, "b/192.0.2.1") == ("b", "192.0.2.1")


# -- check_service --------------------------------------------------------------------------------------------
def test_check_service(cfg: Config) -> None:
    ov.check_service(cfg, None, "us-east")
    ov.check_service(cfg, "api", "ap-southeast")
    with pytest.raises(GtmError) as info:
        ov.check_service(cfg, "mail", "us-east")
    assert str(info.value) == "unknown service 'mail'; services: api, shop, www"


def test_check_service_refuses_a_region_the_service_does_not_use() -> None:
    c = config(services=(service(ALL, key="www"), service(("eu-west", "us-east"), key="api")))
    ov.check_service(c, "api", "eu-west")
    with pytest.raises(GtmError) as info:
        ov.check_service(c, "api", "ap-southeast")
    assert str(info.value) == "service api does not use region ap-southeast (it uses eu-west, us-east)"


# -- make -----------------------------------------------------------------------------------------------------
def test_make_builds_the_override(cfg: Config) -> None:
    new = make(cfg, [], "drain", "198.51.100.11", service="www", expires_in=1800, new_id="x1")
    # stored under the service's zone/key: another zone may have a www of its own
    assert new == Override("x1", "drain", "eu-west", "198.51.100.11", "example.com/www", "drill", "bob", NOW,
                           NOW + 1800)
    assert make(cfg, [], "down", "us-east").expires is None


def test_make_refuses_what_is_already_in_force_naming_who_and_why(cfg: Config) -> None:
    current = [o("a", "drain", "us-east", service="example.com/www", author="alice", reason="kernel upgrade")]
    with pytest.raises(GtmError) as info:
        make(cfg, current, "drain", "us-east", service="www")
    assert str(info.value) == ("drain us-east for example.com/www: already in force by alice (kernel upgrade); "
                               "clear it first or choose another action")
    anonymous = [o("a", "down", "us-east", "192.0.2.10")]
    with pytest.raises(GtmError) as info:
        make(cfg, anonymous, "down", "192.0.2.10")
    assert str(info.value) == "down us-east/192.0.2.10: already in force; clear it first or choose another action"


def test_make_allows_another_action_or_another_slot(cfg: Config) -> None:
    current = [o("a", "drain", "us-east", service="example.com/www", author="alice")]
    assert make(cfg, current, "down", "us-east", service="www").action == "down"  # same slot, other action
    assert make(cfg, current, "drain", "us-east").service is None                 # global: another slot
    assert make(cfg, current, "drain", "us-east", service="api").service == "example.com/api"
    assert make(cfg, current, "drain", "us-east/192.0.2.10", service="www").address == "192.0.2.10"


def test_make_ignores_an_expired_override_of_the_same_slot(cfg: Config) -> None:
    current = [o("a", "drain", "us-east", expires=NOW)]  # ran out exactly now
    assert make(cfg, current, "drain", "us-east").id == "new"


def test_make_checks_action_target_and_service(cfg: Config) -> None:
    with pytest.raises(GtmError, match=r"^action must be one of drain, down, up \(got 'stop'\)$"):
        make(cfg, [], "stop", "us-east")
    with pytest.raises(GtmError, match="^unknown region 'mars'"):
        make(cfg, [], "drain", "mars")
    with pytest.raises(GtmError, match="^unknown service 'ftp'"):
        make(cfg, [], "drain", "us-east", service="ftp")


# -- put and clear --------------------------------------------------------------------------------------------
def test_put_replaces_the_same_slot_and_drops_expired_ones() -> None:
    www = o("a", "drain", "us-east", service="www")
    glob = o("b", "down", "us-east")
    endpoint = o("c", "drain", "us-east", "192.0.2.10")
    expired = o("d", "down", "eu-west", expires=NOW - 1)
    later = o("e", "up", "us-east", service="www", created=NOW)
    assert ov.put([www, glob, endpoint, expired], later, NOW) == [glob, endpoint, later]
    assert ov.put([], later, NOW) == [later]


def test_clear_by_service() -> None:
    www = o("a", "drain", "us-east", service="www")
    api = o("b", "drain", "us-east", service="api")
    glob = o("c", "drain", "us-east")
    endpoint = o("d", "drain", "us-east", "192.0.2.10", service="www")
    other = o("e", "drain", "eu-west", service="www")
    current = [www, api, glob, endpoint, other]
    assert ov.clear(current, "us-east", None, "www", NOW) == ([api, glob, endpoint, other], [www])
    assert ov.clear(current, "us-east", None, None, NOW) == ([www, api, endpoint, other], [glob])
    assert ov.clear(current, "us-east", "192.0.2.10", "www", NOW) == ([www, api, glob, other], [endpoint])


def test_clear_by_zone_and_key_also_clears_what_an_earlier_version_stored_under_the_key() -> None:
    mine = o("a", "drain", "us-east", service="example.com/www")
    legacy = o("b", "down", "us-east", service="www")
    theirs = o("c", "drain", "us-east", service="example.org/www")
    assert ov.clear([mine, legacy, theirs], "us-east", None, "example.com/www", NOW) == ([theirs], [mine, legacy])


def test_clear_every_scope() -> None:
    www = o("a", "drain", "us-east", service="www")
    api = o("b", "down", "us-east", service="api")
    glob = o("c", "drain", "us-east")
    endpoint = o("d", "drain", "us-east", "192.0.2.10")
    assert ov.clear([www, api, glob, endpoint], "us-east", None, True, NOW) == ([endpoint], [www, api, glob])


def test_clear_drops_expired_ones_silently() -> None:
    gone = o("a", "drain", "us-east", expires=NOW)
    gone_other = o("b", "drain", "eu-west", expires=NOW - 5)
    kept = o("c", "drain", "eu-west", expires=NOW + 1)
    assert ov.clear([gone, gone_other, kept], "us-east", None, None, NOW) == ([kept], [])


# -- active, forces, next_expiry ------------------------------------------------------------------------------
def test_active_is_oldest_first_and_expires_is_exclusive() -> None:
    newest = o("a", "drain", "us-east", created=NOW - 1)
    oldest = o("b", "down", "eu-west", created=NOW - 300, expires=NOW + 10)
    middle = o("c", "up", "us-east", created=NOW - 200)
    tie = o("0", "up", "eu-west", created=NOW - 200)  # same time as middle: the id breaks the tie
    ending = o("d", "drain", "ap-southeast", created=NOW - 250, expires=NOW)
    everything = [newest, oldest, middle, tie, ending]
    assert ov.active(everything, NOW) == [oldest, tie, middle, newest]
    assert ov.active(everything, NOW - 0.001) == [oldest, ending, tie, middle, newest]
    assert ov.active(everything, NOW + 10) == [tie, middle, newest]


def test_forces_in_order() -> None:
    later = o("a", "up", "us-east", service="www", created=NOW - 1)
    earlier = o("b", "drain", "us-east", created=NOW - 50)
    endpoint = o("c", "down", "eu-west", "198.51.100.10", created=NOW - 10, expires=NOW + 60)
    expired = o("d", "down", "ap-southeast", expires=NOW)
    assert ov.forces([later, earlier, endpoint, expired], NOW) == (
        Force("drain", "us-east"), Force("down", "eu-west", "198.51.100.10"), Force("up", "us-east", service="www"))
    assert ov.forces([], NOW) == ()


def test_next_expiry() -> None:
    assert ov.next_expiry([], NOW) is None
    assert ov.next_expiry([o("a", "drain", "us-east")], NOW) is None
    items = [o("a", "drain", "us-east", expires=NOW + 60), o("b", "drain", "eu-west", expires=NOW + 30),
             o("c", "drain", "ap-southeast", expires=NOW), o("d", "up", "us-east")]
    assert ov.next_expiry(items, NOW) == NOW + 30
    assert ov.next_expiry(items, NOW + 30) == NOW + 60
    assert ov.next_expiry(items, NOW + 60) is None


# -- drained_everywhere ---------------------------------------------------------------------------------------
def test_drained_everywhere(cfg: Config) -> None:
    assert ov.drained_everywhere(cfg, [], NOW) == frozenset()
    items = [o("a", "drain", "us-east"), o("b", "down", "eu-west", created=NOW - 50),
             o("c", "drain", "ap-southeast", service="www"),          # one service only: does not count
             o("d", "drain", "us-east", "192.0.2.10", created=NOW)]  # one endpoint: does not count
    assert ov.drained_everywhere(cfg, items, NOW) == {"us-east", "eu-west"}
    # expired: no longer drained
    assert ov.drained_everywhere(cfg, [o("a", "drain", "us-east", expires=NOW)], NOW) == frozenset()


def test_a_later_global_up_cancels_an_earlier_global_drain(cfg: Config) -> None:
    drain = o("a", "drain", "us-east", created=NOW - 100)
    up = o("b", "up", "us-east", "192.0.2.10", created=NOW - 50)  # an endpoint's up leaves the region drained
    assert ov.drained_everywhere(cfg, [drain, up], NOW) == {"us-east"}
    assert ov.drained_everywhere(cfg, [drain, o("c", "up", "us-east", created=NOW - 50)], NOW) == frozenset()
    # an earlier up does not cancel a later drain
    assert ov.drained_everywhere(cfg, [drain, o("c", "up", "us-east", created=NOW - 200)], NOW) == {"us-east"}


def test_a_service_scoped_up_after_a_global_drain_means_not_drained_for_every_service(cfg: Config) -> None:
    items = [o("a", "drain", "us-east", created=NOW - 100), o("b", "up", "us-east", service="www", created=NOW - 50)]
    # steering still answers us-east for www (HealthSnapshot.for_service), so it is not drained for every service
    assert ov.drained_everywhere(cfg, items, NOW) == frozenset()
