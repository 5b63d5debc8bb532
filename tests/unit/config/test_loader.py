"""gtm.config.load: configuration files -> model values (the valid side; errors are in test_loader_errors.py)."""
from __future__ import annotations

import ipaddress
import os
import shutil
from pathlib import Path

import pytest

from gtm.config import discover, load
from gtm.errors import ConfigError
from gtm.model import (
    AAAA, CNAME, MX, NS, SOA, TXT, A, Bias, Endpoint, FailMode, FailoverPolicy, GeoMatch, GeoPolicy, GeoRule,
    LatencyPolicy, Location, MonitorType, ProximityPolicy, Rdata, Vantage, WeightedPolicy,
)

ROOT = Path(__file__).resolve().parents[3]
MULTI = ROOT / "tests" / "fixtures" / "config" / "multi"
ip = ipaddress.ip_address


def test_example_config_zone_and_records() -> None:
    config = load([str(ROOT / "zones")])
    assert list(config.zones) == ["example.com."]
    zone = config.zones["example.com."]
    assert zone.source.endswith("zones/example.com.yaml")
    assert zone.soa.rdatas[0].fields == ("ns1.example.com.", "hostmaster.example.com.", 2026112601, 3600, 900,
                                         1209600, 300)
    assert zone.soa.ttl == 3600 and zone.negative_ttl == 300
    rr = zone.rrsets
    assert rr["example.com."][NS].rdatas == (Rdata(NS, ("ns1.example.com.",)), Rdata(NS, ("ns2.example.com.",)))
    assert rr["example.com."][A].rdatas == (Rdata(A, ("192.0.2.80",)),)
    assert rr["example.com."][AAAA].rdatas == (Rdata(AAAA, ("2001:db8::80",)),)  # unquoted IPv6 stays a string
    assert rr["example.com."][MX].rdatas == (Rdata(MX, (10, "mail1.example.com.")),
                                             Rdata(MX, (20, "mail2.example.com.")))
    assert rr["example.com."][TXT].rdatas == (Rdata(TXT, ((b"v=spf1 mx -all",),)),)
    assert rr["example.com."][257].rdatas[0].fields == (0, "issue", b"letsencrypt.org")
    assert rr["_sip._tcp.example.com."][33].rdatas[0].fields == (10, 60, 5060, "sip.example.com.")
    assert rr["docs.example.com."][CNAME].ttl == 300
    assert rr["docs.example.com."][CNAME].rdatas[0].fields == ("docs.example.net.",)
    assert rr["status.example.com."][CNAME].ttl == 3600
    assert rr["*.preview.example.com."][A].rdatas[0].fields == ("192.0.2.90",)
    assert rr["lab.example.com."][NS].rdatas[1].fields == ("ns2.lab.example.com.",)
    assert rr["ns2.lab.example.com."][AAAA].rdatas[0].fields == ("2001:db8:2::153",)
    assert rr["lb.sa-east.example.com."][A].ttl == 60
    assert zone.record_count() == 27


def test_example_config_regions_monitors_vantages() -> None:
    config = load(str(ROOT / "zones"))
    assert list(config.regions) == ["us-east", "eu-west", "ap-southeast", "sa-east"]
    assert config.regions["sa-east"].endpoints == (Endpoint(hostname="lb.sa-east.example.com"),)
    assert config.hostnames == ("lb.sa-east.example.com",)
    us = config.regions["us-east"]
    assert us.location == Location(39.04, -77.49)
    assert us.aws_region == "us-east-1" and us.capacity == 40000
    assert us.endpoints == (Endpoint(ip("192.0.2.10")), Endpoint(ip("192.0.2.11")), Endpoint(ip("2001:db8:10::10")))
    assert all(e.weight == 1 for r in config.regions.values() for e in r.endpoints)

    web, api = config.monitors["web"], config.monitors["api"]
    assert (web.type, web.port, web.path, web.host, web.expect, web.quorum) == (
        MonitorType.HTTPS, 443, "/healthz", "www.example.com", (200,), 2)
    assert (web.interval, web.timeout, web.rise, web.fall, web.tls_verify, web.body) == (5.0, 2.0, 2, 3, True, None)
    assert (api.type, api.port, api.body, api.interval, api.timeout) == (MonitorType.HTTP, 8080, '"status": *"ok"',
                                                                         2.0, 1.0)
    assert (api.rise, api.fall, api.quorum, api.expect) == (2, 3, None, (200,))  # defaults (quorum: a majority)
    assert config.vantages["frankfurt"] == Vantage("frankfurt", Location(50.11, 8.68))
    assert list(config.vantages) == ["virginia", "frankfurt", "singapore"]


def test_example_config_services() -> None:
    config = load(str(ROOT / "zones"))
    www, api, shop = config.zones["example.com."].services
    assert (www.key, www.zone, www.names, www.ttl, www.monitor) == ("www", "example.com.", ("www.example.com.",),
                                                                    30, "web")
    assert www.regions == ("us-east", "eu-west", "ap-southeast")
    assert www.policy == GeoPolicy(
        rules=(GeoRule(GeoMatch(continent="EU"), ("eu-west", "us-east")),
               GeoRule(GeoMatch(continent="AS"), ("ap-southeast", "eu-west")),
               GeoRule(GeoMatch(continent="OC"), ("ap-southeast", "us-east")),
               GeoRule(GeoMatch(country="BR"), ("us-east", "eu-west"))),
        default=("us-east", "eu-west", "ap-southeast"))
    assert (www.answers, www.affinity, www.fail_mode, www.fallback_addresses) == (None, False, FailMode.FAIL_OPEN, ())
    assert (www.ecs_scope_v4, www.ecs_scope_v6) == (24, 56)
    assert api.policy == LatencyPolicy(hysteresis=0.2)
    assert (api.names, api.ttl, api.answers, api.monitor) == (("api.example.com.",), 20, 2, "api")
    assert (shop.regions, shop.policy, shop.answer_as) == (("sa-east", "us-east"), FailoverPolicy(), "addresses")
    assert config.services == (www, api, shop)


def test_bench_config_loads() -> None:
    config = load(str(ROOT / "bench" / "zones"))
    (svc,) = config.zones["bench.test."].services
    assert svc.policy == ProximityPolicy() and svc.regions == ("us", "eu", "ap")


# -- several files: shared parts, services of every policy, master files, import -----------------------------
@pytest.fixture(scope="module")
def multi():
    return load([str(MULTI)])


def test_shared_parts_from_another_file(multi) -> None:
    assert set(multi.regions) == {"us-east", "eu-west", "ap-southeast"}
    us = multi.regions["us-east"]
    assert us.endpoints == (Endpoint(ip("192.0.2.10"), 1), Endpoint(ip("192.0.2.11"), 3),
                            Endpoint(ip("2001:db8:10::10"), 0))
    assert multi.monitors["web"].port == 443 and multi.monitors["web"].path == "/"
    smtp = multi.monitors["smtp"]
    assert (smtp.type, smtp.port, smtp.interval, smtp.timeout) == (MonitorType.TCP, 25, 1.0, 0.5)  # min(2, i/2)
    api = multi.monitors["api"]
    assert (api.type, api.port, api.path, api.host, api.expect, api.body) == (
        MonitorType.HTTP, 8080, "/health", "api.example.org", (200, 204), "ok")
    assert (api.interval, api.timeout, api.rise, api.fall, api.quorum, api.tls_verify) == (10.0, 3.0, 1, 5, 2, False)
    assert set(multi.vantages) == {"virginia", "frankfurt"}


def test_every_policy_and_fail_mode(multi) -> None:
    s = {svc.key: svc for svc in multi.zones["example.org."].services}
    assert list(s) == ["www", "weighted", "near", "geo", "fast", "plain"]
    assert s["www"].policy == FailoverPolicy() and s["www"].monitor == "web" and s["www"].ttl == 30

    w = s["weighted"]
    assert w.names == ("w1.example.org.", "w2.example.org.")
    assert w.policy == WeightedPolicy(weights=(("us-east", 3), ("eu-west", 0)))
    assert (w.answers, w.affinity) == (2, True)

    near = s["near"]
    assert near.policy == ProximityPolicy(bias=(("eu-west", Bias(km=250.5)),))
    assert near.fail_mode is FailMode.STATIC
    assert near.fallback_addresses == (ip("192.0.2.99"), ip("2001:db8::99"))
    assert (near.ecs_scope_v4, near.ecs_scope_v6) == (20, 48)

    geo = s["geo"]
    assert geo.policy == GeoPolicy(
        rules=(GeoRule(GeoMatch(continent="EU"), ("eu-west", "us-east")),
               GeoRule(GeoMatch(country="NO"), ("eu-west",)),  # Norway, not false
               GeoRule(GeoMatch(subdivision="US-CA"), ("us-east",)),
               GeoRule(GeoMatch(cidr=ipaddress.ip_network("2001:db8:a::/48")), ("ap-southeast",)),
               GeoRule(GeoMatch(cidr=ipaddress.ip_network("203.0.113.0/24")), ("ap-southeast",)),
               GeoRule(GeoMatch(asn=64500), ("us-east",)),
               GeoRule(GeoMatch(asn=64501), ("eu-west",))),
        default=("us-east", "eu-west"))
    assert (geo.ttl, geo.monitor, geo.fail_mode) == (15, "api", FailMode.FAIL_CLOSED)
    specificity = [r.match.specificity for r in geo.policy.rules]
    assert specificity == [10, 20, 30, 148, 124, 90, 90]

    assert s["fast"].policy == LatencyPolicy(hysteresis=0.5)
    assert s["fast"].fail_mode is FailMode.LAST_KNOWN_GOOD and s["fast"].monitor == "smtp"
    assert s["plain"].policy == LatencyPolicy() and s["plain"].monitor is None


def test_geo_default_is_the_service_regions(tmp_path: Path) -> None:
    (tmp_path / "z.yaml").write_text(ZONE + "services:\n  www:\n    regions: [r1, r2]\n"
                                     "    policy: {type: geo, rules: [{country: DE, regions: r2}]}\n")
    (svc,) = load(str(tmp_path)).services
    assert svc.policy == GeoPolicy((GeoRule(GeoMatch(country="DE"), ("r2",)),), ("r1", "r2"))


def test_import_merges_and_is_not_loaded_twice(multi) -> None:
    zone = multi.zones["example.org."]
    rr = zone.rrsets
    assert rr["mail.example.org."][MX].rdatas == (Rdata(MX, (10, "mx1.example.org.")),)
    assert rr["mx1.example.org."][A].ttl == 300  # the import's $TTL
    assert rr["mx1.example.org."][AAAA].rdatas == (Rdata(AAAA, ("2001:db8::25",)),)
    assert rr["old.example.org."][CNAME].ttl == 60
    assert rr["ns1.example.org."][A].ttl == 600  # the YAML zone's ttl
    assert rr["example.org."][SOA].rdatas[0].fields == ("ns1.example.org.", "hostmaster.example.org.", 7, 3600,
                                                        900, 1209600, 300)  # SOA defaults
    txt = b'a YAML TXT value is literal text; quotes " and ; stay'
    assert rr["txt.example.org."][TXT].rdatas[0].fields == ((txt,),)
    # The imported file lies in the scanned directory but is no zone of its own.
    assert set(multi.zones) == {"example.org.", "example.net.", "example.info."}
    assert multi.sources.count(str(MULTI / "example.org.records.zone")) == 1


def test_imported_file_outside_the_scanned_paths_is_a_source(tmp_path: Path) -> None:
    shutil.copy(MULTI / "example.org.records.zone", tmp_path / "records.zone")
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "z.yaml").write_text("zone: example.org\nsoa: {}\nns: [ns1]\nimport: ../records.zone\n"
                                              "records: {ns1: {A: 192.0.2.1}}\n")
    config = load(str(tmp_path / "conf"))
    assert config.sources == (str(tmp_path / "conf" / "z.yaml"), str(tmp_path / "conf" / "../records.zone"))
    assert A in config.zones["example.org."].rrsets["mx1.example.org."]


def test_master_file_origin_from_the_file_name(multi) -> None:
    zone = multi.zones["example.net."]
    assert zone.services == () and zone.source == str(MULTI / "example.net.zone")
    assert zone.soa.rdatas[0].fields == ("ns1.example.net.", "hostmaster.example.net.", 2026010101, 7200, 900,
                                         1209600, 300)
    assert zone.rrsets["www.example.net."][TXT].rdatas[0].fields == ((b"hello; world", b"second string"),)
    assert zone.rrsets["ns1.example.net."][A].ttl == 300
    assert zone.record_count() == 4


def test_master_file_origin_from_dollar_origin(multi) -> None:
    zone = multi.zones["example.info."]  # the file is static.zone; $ORIGIN wins and is folded to lower case
    assert zone.rrsets["www.example.info."][A].rdatas == (Rdata(A, ("192.0.2.7",)),)
    assert zone.rrsets["www.example.info."][A].ttl == 120
    assert zone.rrsets["example.info."][NS].rdatas[0].fields == ("ns1.example.net.",)


def test_a_master_file_named_directly(tmp_path: Path) -> None:
    src = tmp_path / "example.net.zone"
    shutil.copy(MULTI / "example.net.zone", src)
    config = load([str(src)])
    assert list(config.zones) == ["example.net."] and config.sources == (str(src),)


def test_discover_sorts_skips_and_deduplicates(tmp_path: Path) -> None:
    for name in ("b.yaml", "a.zone", "c.yml", ".hidden.yaml", "notes.txt"):
        (tmp_path / name).write_text("")
    (tmp_path / "dir.yaml").mkdir()
    found = discover([str(tmp_path), str(tmp_path / "b.yaml")])
    assert found == [str(tmp_path / n) for n in ("a.zone", "b.yaml", "c.yml")]


# -- details of the YAML zone syntax ---------------------------------------------------------------------------
ZONE = """\
zone: example.com.
soa: {}
ns: ns1
records:
  ns1: {A: 192.0.2.53}
regions:
  r1: {location: {lat: 0, lon: 0}, endpoints: [192.0.2.1]}
  r2: {location: {lat: 0, lon: 0}, endpoints: [192.0.2.2]}
"""


def with_records(extra: str) -> str:
    """ZONE with ``extra`` (YAML lines indented by two) added under ``records``."""
    return ZONE.replace("records:\n", "records:\n" + extra)


def test_record_value_forms(tmp_path: Path) -> None:
    (tmp_path / "z.yaml").write_text(with_records(f"""\
  api:
    A: {{ttl: 60, values: [192.0.2.30, 192.0.2.31]}}
    AAAA: 2001:db8::30
    ttl: 120
  Mixed.Case: {{a: 192.0.2.40, txt: ""}}
  long: {{TXT: "{"x" * 300}"}}
  gen: {{TYPE65280: '\\# 3 010203', A: '\\# 4 c0000201'}}
  "@": {{ns: [ns2.example.net.]}}
  "*": {{MX: 0 .}}
  dup: {{A: [192.0.2.9, 192.0.2.9]}}
"""))
    rr = load(str(tmp_path)).zones["example.com."].rrsets
    assert rr["api.example.com."][A].ttl == 60 and rr["api.example.com."][AAAA].ttl == 120
    assert len(rr["api.example.com."][A].rdatas) == 2
    assert rr["mixed.case.example.com."][A].rdatas[0].fields == ("192.0.2.40",)
    assert rr["mixed.case.example.com."][TXT].rdatas[0].fields == ((b"",),)
    assert rr["long.example.com."][TXT].rdatas[0].fields == ((b"x" * 255, b"x" * 45),)  # 255-byte chunks
    assert rr["gen.example.com."][65280].rdatas[0].fields == (b"\x01\x02\x03",)
    assert rr["gen.example.com."][A].rdatas[0].fields == ("192.0.2.1",)
    assert {r.fields[0] for r in rr["example.com."][NS].rdatas} == {"ns1.example.com.", "ns2.example.net."}
    assert rr["*.example.com."][MX].rdatas[0].fields == (0, ".")
    assert rr["example.com."][NS].ttl == 3600  # the default zone TTL
    assert len(rr["dup.example.com."][A].rdatas) == 1  # RFC 2181 section 5: equal records are one


def test_txt_utf8_is_split_on_bytes(tmp_path: Path) -> None:
    text = "é" * 200  # 400 bytes
    (tmp_path / "z.yaml").write_text(with_records(f"  t: {{TXT: {text}}}\n"), encoding="utf-8")
    strings = load(str(tmp_path)).zones["example.com."].rrsets["t.example.com."][TXT].rdatas[0].fields[0]
    assert [len(s) for s in strings] == [255, 145] and b"".join(strings) == text.encode()


def test_null_optional_keys_take_their_defaults(tmp_path: Path) -> None:
    (tmp_path / "z.yaml").write_text(ZONE.replace("soa: {}", "soa: {serial: null, ttl: ~}") + """\
monitors:
  m: {type: https, port: null, interval: null, expect: null}
services:
  www:
    regions: [r1]
    ttl:
    policy: null
    fail_mode: null
    answers: null
    ecs_scope: null
""")
    config = load(str(tmp_path))
    (svc,) = config.services
    assert (svc.ttl, svc.policy, svc.fail_mode, svc.answers) == (30, FailoverPolicy(), FailMode.FAIL_OPEN, None)
    m = config.monitors["m"]
    assert (m.port, m.interval, m.expect) == (443, 5.0, (200,))
    assert config.zones["example.com."].soa.rdatas[0].fields[2] == 1


def test_yaml_anchors_and_merge_keys(tmp_path: Path) -> None:
    (tmp_path / "z.yaml").write_text(ZONE + """\
  r3: &base {location: {lat: 1, lon: 2}, endpoints: [192.0.2.3]}
  r4: {<<: *base, endpoints: [192.0.2.4]}
""")
    config = load(str(tmp_path))
    assert config.regions["r4"].location == Location(1, 2)
    assert config.regions["r4"].endpoints == (Endpoint(ip("192.0.2.4")),)


def test_a_file_with_only_shared_parts(tmp_path: Path) -> None:
    (tmp_path / "shared.yaml").write_text("vantages: {v: {location: {lat: -33.9, lon: 151.2}}}\n")
    config = load(str(tmp_path))
    assert config.zones == {} and config.vantages["v"].location == Location(-33.9, 151.2)


@pytest.mark.parametrize("target, why", [("/dev/zero", "is not a regular file"), ("fifo", "is not a regular file"),
                                         (".", "is not a regular file")])
def test_import_reads_only_regular_files(tmp_path: Path, target: str, why: str) -> None:
    """Before: ``import: /dev/zero`` read until memory ran out; a FIFO blocked every later reload."""
    if target == "fifo":
        os.mkfifo(tmp_path / "fifo")
    (tmp_path / "z.yaml").write_text(f"zone: example.org\nsoa: {{}}\nns: [ns1]\nimport: {target}\n"
                                     "records: {ns1: {A: 192.0.2.1}}\n")
    with pytest.raises(ConfigError) as info:
        load(str(tmp_path / "z.yaml"))
    assert f"z.yaml:4: import: cannot read" in str(info.value) and why in str(info.value)


def test_an_import_of_a_secret_file_quotes_none_of_it(tmp_path: Path) -> None:
    """Before: ``import:`` pointed at the report key file quoted a key line in the error (gtm check, the log,
    /v1/status)."""
    secret = "s3cr3t-value-0123456789abcdef"
    (tmp_path / "keys.txt").write_text(f"frankfurt:{secret}\n")
    (tmp_path / "token.txt").write_text("token-value-0123456789abcdef\n")
    (tmp_path / "z.yaml").write_text(
        "zone: example.org\nsoa: {}\nns: [ns1]\nimport: keys.txt\nrecords: {ns1: {A: 192.0.2.1}}\n"
        "health: {keys: {file: keys.txt}}\nadmin: {token: {file: token.txt}}\n"
        "services: {www: {regions: [nowhere], policy: failover}, token-value-0123456789abcdef: {regions: [x]}}\n")
    with pytest.raises(ConfigError) as info:
        load(str(tmp_path / "z.yaml"))
    text = str(info.value)
    assert "keys.txt:1: (a secret file: its content is not shown)" in text, text
    assert secret not in text and "token-value-0123456789abcdef" not in text and "[redacted]" in text, text
