"""Health end to end: `gtm serve --health FILE` answers as under that file; a region (or endpoint) marked down
sends its clients to the next region; the file is re-read with the config on SIGHUP; with every region down
the services' fail modes decide (fail_open, fail_closed, static, last_known_good).

Fixture: tests/fixtures/steering/ (see tests/support/steering_world.py).
"""
from __future__ import annotations

import os
import shutil
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Iterator

import dns.rdatatype
import pytest

from tests.conftest import GtmProcess
from tests.support.steering_world import (
    HEALTH_ALL_DOWN, HEALTH_DOWN, PLACES, SOA_TEXT, addresses, ask, build_config, region, reply_ecs, scope, serve,
    steer,
)

SF, NYC, PARIS, MUNICH = (PLACES[p].v4_client for p in ("sf", "nyc", "paris", "munich"))


def write(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)  # atomic, as config management would do


def reload(srv: GtmProcess, expect: str = "reloaded in") -> None:
    """SIGHUP, then wait for the server to say it reloaded (or, with ``expect``, that it refused to)."""
    start = len(srv.lines)
    srv.signal(signal.SIGHUP)
    srv.wait_for_log(expect, timeout=10, start=start)


def test_down_region_and_endpoint_move_clients_and_sighup_rereads_the_file(tmp_path: Path, gtm_server) -> None:  # type: ignore[no-untyped-def]
    cfg = build_config(tmp_path / "cfg")
    health = tmp_path / "health.yaml"
    shutil.copy(HEALTH_DOWN, health)  # us-west down; us-east/192.0.2.21 and ap-southeast/192.0.2.41 down
    srv = gtm_server(cfg, "--health", health)
    port = srv.port

    # us-west down: failover takes the next configured region; geo the rule's next region (US-CA: us-west,
    # us-east); proximity the next nearest. The scope stays the location's.
    assert steer(port, "fo", SF) == ("eu-central", 0)
    assert steer(port, "geo", SF) == ("us-east", 16)
    assert steer(port, "near", SF) == ("us-east", 16)
    # one of us-east's two IPv4 endpoints down: only the other is answered; its IPv6 endpoint is untouched
    assert addresses(ask(port, "geo", "A", NYC)) == ["192.0.2.22"]
    assert addresses(ask(port, "geo", "AAAA", NYC)) == ["2001:db8:21::1"]
    # ap-southeast's weighted IPv4 endpoint down: its IPv6 one still answers AAAA (for A see
    # test_weight_zero_endpoint_stands_in_for_its_own_family below)
    assert addresses(ask(port, "geo", "AAAA", PLACES["singapore"].v4_client)) == ["2001:db8:41::1"]
    # multi-value skips the down region: us-east (.22), then eu-west and eu-central (us-west is down)
    assert addresses(ask(port, "multi", "A", NYC)) == ["192.0.2.22", "192.0.2.12", "192.0.2.11"]
    # untouched clients keep their regions
    assert steer(port, "geo", PARIS) == ("eu-central", 16)
    wa_before = {i: region(ask(port, "wa", "A", f"198.51.{i}.0/24")) for i in range(32)}
    assert set(wa_before.values()) == {"us-east", "eu-central"}

    # Now eu-central is down instead; SIGHUP re-reads the health file with the config.
    write(health, "down: [eu-central]\n")
    reload(srv)
    assert steer(port, "fo", SF) == ("us-west", 0)
    assert steer(port, "geo", SF) == ("us-west", 16)
    assert sorted(addresses(ask(port, "geo", "A", NYC))) == ["192.0.2.21", "192.0.2.22"]
    assert steer(port, "geo", PARIS) == ("eu-west", 16)      # continent EU: eu-central, eu-west
    assert steer(port, "near", MUNICH) == ("eu-west", 16)    # the next nearest
    assert steer(port, "geo", MUNICH) == ("us-east", 17)     # DE-BY names only eu-central: then the default
    # affinity: the networks hashed to eu-central move to us-east; the others keep it; the scope stays /24
    wa_after = {i: steer(port, "wa", f"198.51.{i}.0/24") for i in range(32)}
    assert all(v == ("us-east", 24) for v in wa_after.values())

    # A health file with a problem is refused like a broken config: the last good health keeps answering.
    write(health, "down: [eu-centre]\n")
    reload(srv, "reload failed")
    assert steer(port, "geo", PARIS) == ("eu-west", 16)

    # Everything up again.
    write(health, "down: []\n")
    reload(srv)
    assert steer(port, "geo", PARIS) == ("eu-central", 16)
    assert steer(port, "fo", SF) == ("us-west", 0)
    assert {i: region(ask(port, "wa", "A", f"198.51.{i}.0/24")) for i in range(32)} == wa_before


def test_weight_zero_endpoint_stands_in_for_its_own_family(tmp_path: Path, gtm_server) -> None:  # type: ignore[no-untyped-def]
    """ap-southeast: 192.0.2.41 (weight 1, down), 192.0.2.49 (weight 0, up), 2001:db8:41::1 (weight 1, up).
    A Singapore client's A query should get the local stand-in 192.0.2.49, not us-east from the default list."""
    srv = gtm_server(build_config(tmp_path), "--health", HEALTH_DOWN)
    singapore = PLACES["singapore"].v4_client
    assert addresses(ask(srv.port, "geo", "AAAA", singapore)) == ["2001:db8:41::1"]
    assert addresses(ask(srv.port, "geo", "A", singapore)) == ["192.0.2.49"]   # today: ["192.0.2.22"] (us-east)


def test_watch_rereads_the_health_file(tmp_path: Path, gtm_server) -> None:  # type: ignore[no-untyped-def]
    """With --watch, a changed health file is picked up without a signal."""
    cfg = build_config(tmp_path / "cfg")
    health = tmp_path / "health.yaml"
    health.write_text("down: []\n")
    srv = gtm_server(cfg, "--health", health, "--watch", "--watch-interval", "0.1")
    assert steer(srv.port, "fo", SF) == ("us-west", 0)
    start = len(srv.lines)
    write(health, "down: [us-west]\n")
    later = time.time() + 5
    os.utime(health, (later, later))  # a different mtime even on a file system with coarse timestamps
    srv.wait_for_log("reloaded in", timeout=10, start=start)
    assert steer(srv.port, "fo", SF) == ("eu-central", 0)


def test_sighup_with_a_new_geoip_path_relocates_clients(tmp_path: Path, gtm_server) -> None:  # type: ignore[no-untyped-def]
    """A reload opens the databases again when a configured path changes (docs/configuration.md, geoip)."""
    from tests.support.mmdb import city_record, write_city

    cfg = build_config(tmp_path)
    srv = gtm_server(cfg)
    assert steer(srv.port, "geo", PARIS) == ("eu-central", 16)       # FR: continent EU
    # a new database in which the Paris network is in GB (a /20 now), under a new name
    write_city(tmp_path / "city2.mmdb", {"37.10.0.0/20": city_record("EU", "GB", 51.51, -0.13)})
    write(cfg, cfg.read_text().replace("geoip: {city: city.mmdb,", "geoip: {city: city2.mmdb,"))
    reload(srv)
    assert steer(srv.port, "geo", PARIS) == ("eu-west", 20)          # country GB
    assert steer(srv.port, "geo", PLACES["sf"].v4_client)[0] == "us-east"  # no longer in the database: default


# -- every region down: the fail modes ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def all_down(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GtmProcess]:
    cfg = build_config(tmp_path_factory.mktemp("steer-all-down"))
    yield from serve(cfg, "--health", HEALTH_ALL_DOWN)


@pytest.fixture(scope="module")
def down_port(all_down: GtmProcess) -> int:
    return all_down.port


@pytest.mark.parametrize("subnet", [None, PARIS, PLACES["sydney"].v6_client])
def test_fail_open_answers_as_if_everything_were_up(down_port: int, subnet: str | None) -> None:
    assert addresses(ask(down_port, "fopen", "A", subnet)) == ["192.0.2.11"]
    assert addresses(ask(down_port, "fopen", "AAAA", subnet)) == ["2001:db8:11::1"]


def test_fail_open_keeps_steering(down_port: int) -> None:
    """fail_open (the default) answers what the policy ranks first, per client, as when everything is up."""
    assert steer(down_port, "geo", PARIS) == ("eu-central", 16)
    assert steer(down_port, "geo", SF) == ("us-west", 16)
    assert steer(down_port, "geo", "31.10.250.0/24") == ("us-east", 24)
    assert steer(down_port, "near", PLACES["sydney"].v4_client) == ("ap-southeast", 16)
    assert addresses(ask(down_port, "multi", "A", PARIS)) == ["192.0.2.11", "192.0.2.12", "192.0.2.22"]
    # weighted without affinity: drawn by weight as if every region were up (3:1)
    drawn = Counter(region(ask(down_port, "wr", "A", PARIS)) for _ in range(40))
    assert set(drawn) == {"us-east", "eu-central"} and drawn["us-east"] > drawn["eu-central"], drawn


@pytest.mark.parametrize("rdtype", ["A", "AAAA"])
@pytest.mark.parametrize("subnet", [None, PARIS])
def test_fail_closed_answers_nodata_with_the_soa(down_port: int, rdtype: str, subnet: str | None) -> None:
    resp = ask(down_port, "fclosed", rdtype, subnet)
    assert resp.answer == []
    assert [rrset.to_text() for rrset in resp.authority] == [SOA_TEXT]
    assert resp.authority[0].rdtype == dns.rdatatype.SOA
    if subnet is not None:
        assert scope(resp) == 0
    else:
        assert reply_ecs(resp) is None


def test_static_answers_the_fallback(down_port: int) -> None:
    for subnet in (None, PARIS):
        a = ask(down_port, "fstatic", "A", subnet)
        assert addresses(a) == ["192.0.2.99"] and a.answer[0].ttl == 30
        assert addresses(ask(down_port, "fstatic", "AAAA", subnet)) == ["2001:db8::99"]


def test_last_known_good_without_history_answers_as_fail_open(down_port: int) -> None:
    """A health file has no earlier healthy state: last_known_good falls back to fail_open."""
    assert addresses(ask(down_port, "flkg", "A", PARIS)) == ["192.0.2.11"]
    assert addresses(ask(down_port, "flkg", "AAAA")) == ["2001:db8:11::1"]
