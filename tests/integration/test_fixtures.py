"""The shared test fixtures (``tests/support/``) are what the tests that use them assume."""
from __future__ import annotations

import ipaddress
from pathlib import Path

from gtm.config import load
from tests.support import admin_node as adm
from tests.support import dns_server as dnss
from tests.support import health_fleet as hf
from tests.support import steering_world as sw


def test_node_fixture_serves_dns_and_the_admin_api(tmp_path: Path) -> None:
    with adm.running_node(adm.write_node(tmp_path)) as node:
        assert node.url.startswith("http://127.0.0.1:") and node.admin_port != node.dns_port
        assert node.get("/healthz", token=None).status == 200
        assert [str(rr) for rr in node.query(f"www.{adm.ZONE}").answer] == [f"www.{adm.ZONE}. 3600 IN A 192.0.2.80"]
        st = node.status()
        assert st["config"]["zones"] == [f"{adm.ZONE}."]
        assert [v["name"] for v in st["health"]["vantages"]] == list(adm.VANTAGES)
        assert sorted((e["region"], e["address"]) for e in st["health"]["endpoints"]) == \
            sorted((r, a) for r, addrs in adm.ENDPOINTS.items() for a in addrs)
        assert node.send("frankfurt", adm.all_obs(up=["eu-west"])) == {"applied": 2, "ignored": 0}


def test_fixture_zones_load() -> None:
    """The fixture is the two zones the other modules assume, and `gtm check` accepts it."""
    from gtm.dns.table import Table

    config = load([str(dnss.ZONES)])
    assert sorted(config.zones) == ["example.com.", "static.example."]
    assert [s.key for s in config.services] == ["www", "legacy"]
    assert config.zones["example.com."].negative_ttl == dnss.NEG_TTL
    assert config.zones["static.example."].negative_ttl == dnss.STATIC_NEG_TTL
    Table(config)


def test_fixture_loads(tmp_path: Path) -> None:
    """The fixture is what the health tests assume: three regions on loopback, three vantages, a fast monitor
    with quorum 2 of 3, keys for each vantage."""
    setup = hf.write_setup(tmp_path, {"frankfurt": 1001, "virginia": 1002, "singapore": 1003})
    config = load([str(setup.node)])
    assert {r: tuple(str(e.address) for e in reg.endpoints) for r, reg in config.regions.items()} == hf.ENDPOINTS
    assert tuple(config.vantages) == hf.VANTAGES and set(hf.KEYS) == set(hf.VANTAGES)
    mon = config.monitors["web"]
    assert (mon.port, mon.interval, mon.timeout, mon.rise, mon.fall, mon.quorum) == (1001, hf.INTERVAL, 0.4, 2, 2, 2)
    assert config.health.state_file == str(setup.state_file)
    assert load([str(setup.probers["singapore"])]).monitors["web"].port == 1003
    assert load([str(hf.write_setup(tmp_path / "b", setup.ports, {"start_timeout": "1.5", "warmup": "2.0"}).node)]
                ).health.start_timeout == 1.5


def test_fixture_config_loads(tmp_path: Path) -> None:
    """The fixture is what the other modules assume: every service, the databases, `gtm check` accepts it."""
    from gtm.geoip import Locator
    from gtm.model import GeoIPSource
    from gtm.serving import build

    cfg = sw.build_config(tmp_path)
    config = load([str(cfg)])
    assert [s.key for s in config.services] == ["geo", "near", "nearb", "fast", "fo", "wa", "wr", "wl", "multi",
                                                "fopen", "fclosed", "fstatic", "flkg"]
    assert config.geoip == GeoIPSource(str(tmp_path / "city.mmdb"), str(tmp_path / "asn.mmdb"))
    build([str(cfg)])
    loc = Locator(config.geoip)
    try:
        munich = loc.locate(ipaddress.ip_address("31.10.200.1"))
        assert (munich.continent, munich.country, munich.subdivisions, munich.asn) == ("EU", "DE", ("DE-BY",), 64501)
        assert (munich.city_prefix, munich.asn_prefix) == (16, 17)
        assert loc.locate(ipaddress.ip_address("2600:300::1")).subdivisions == ("US-CA",)
        assert not loc.locate(ipaddress.ip_address(sw.OUTSIDE_V4.split("/")[0])).found
    finally:
        loc.close()

