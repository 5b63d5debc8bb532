"""gtm.config.load: every validation rule gives one exact ``file:line: path: what is wrong (got X)`` line.

Each test writes small files into a temporary directory (the working directory, so messages name ``z.yaml``)
and compares the full problem lines.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from gtm.config import load
from gtm.errors import ConfigError
from tests.conftest import run_gtm as gtm

ROOT = Path(__file__).resolve().parents[3]

# Line numbers matter: records added with records() start at line 11, services added with services() at 12.
BASE = """\
zone: example.com
soa: {}
ns: [ns1]
regions:
  r1: {location: {lat: 0, lon: 0}, endpoints: [192.0.2.1]}
  r2: {location: {lat: 10, lon: 10}, endpoints: [192.0.2.2]}
monitors:
  web: {type: https}
records:
  ns1: {A: 192.0.2.53}
"""


def records(text: str) -> str:
    return BASE + text


def services(text: str) -> str:
    return BASE + "services:\n" + text


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def problems(text: str, **others: str) -> list[str]:
    """The problem lines of loading ``z.yaml`` (= ``text``) and ``others`` (name -> text), in that order."""
    files = {"z.yaml": text, **others}
    for name, content in files.items():
        Path(name).write_text(content)
    with pytest.raises(ConfigError) as info:
        load(list(files))
    lines = [str(p) for p in info.value.problems]
    assert str(info.value) == "\n".join(lines)
    return lines


def test_base_is_valid() -> None:
    Path("z.yaml").write_text(services("  www: {regions: [r1, r2], monitor: web}\n"))
    assert load("z.yaml").services[0].regions == ("r1", "r2")


# -- files and YAML -------------------------------------------------------------------------------------------
def test_unknown_keys_with_did_you_mean() -> None:
    assert problems(BASE.replace("soa: {}", "soa: {serail: 1}\nservice: {}")) == [
        "z.yaml:2: soa.serail: unknown key; did you mean 'serial'?",
        "z.yaml:3: service: unknown key; did you mean 'services'?",
    ]


def test_unknown_key_without_a_close_match_lists_the_valid_ones() -> None:
    assert problems(BASE.replace("monitors:\n  web: {type: https}", "monitors:\n  web: {type: https, xyz: 1}")) == [
        "z.yaml:8: monitors.web.xyz: unknown key; valid keys: body, expect, fall, host, interval, path, port, "
        "quorum, rise, timeout, tls_verify, type",
    ]


def test_yaml_syntax_error_with_line() -> None:
    assert problems("zone: example.com\nsoa: {serial: 1\nns: [ns1]\n") == [
        "z.yaml:3: YAML syntax error: while parsing a flow mapping; expected ',' or '}', but got ':'",
    ]


def test_tab_indentation_is_a_syntax_error() -> None:
    assert problems("zone: example.com\n\tsoa: {}\n") == [
        "z.yaml:2: YAML syntax error: while scanning for the next token; found character '\\t' that cannot start "
        "any token",
    ]


def test_duplicate_keys() -> None:
    assert problems(records("  www: {A: 192.0.2.1}\n  www: {A: 192.0.2.2}\nns: [ns2]\n")) == [
        "z.yaml:12: records.www: duplicate key (first at line 11)",
        "z.yaml:13: ns: duplicate key (first at line 3)",
    ]


def test_one_owner_or_type_written_twice_differently() -> None:
    text = records("  www: {A: 192.0.2.1, a: 192.0.2.2}\n  WWW: {TXT: x}\n  www.example.com.: {TXT: y}\n")
    assert problems(text) == [
        "z.yaml:11: records.www.a: names the same type as A (got 'a')",
        "z.yaml:12: records.WWW: names the same owner as records.www at line 11 (got 'WWW')",
        "z.yaml:13: records.www.example.com.: names the same owner as records.www at line 11 "
        "(got 'www.example.com.')",
    ]


@pytest.mark.parametrize("text, expected", [
    ("", "z.yaml: file is empty"),
    ("# only a comment\n", "z.yaml: file is empty"),
    ("- zone: example.com\n", "z.yaml:1: top level must be a mapping (got [{'zone': 'example.com'}])"),
    ("just text\n", "z.yaml:1: top level must be a mapping (got 'just text')"),
    ("? [a, b]\n: 1\n", "z.yaml:1: YAML syntax error: a key must be a plain value such as a name"),
    ("a: !!python/object:os.system x\n", "z.yaml:1: YAML syntax error: could not determine a constructor for the "
                                         "tag 'tag:yaml.org,2002:python/object:os.system'"),
])
def test_files_that_are_no_config(text: str, expected: str) -> None:
    assert problems(text) == [expected]


def test_file_that_is_not_utf8() -> None:
    Path("z.yaml").write_bytes(b"zone: \xff\n")
    with pytest.raises(ConfigError) as info:
        load("z.yaml")
    assert [str(p) for p in info.value.problems] == [
        "z.yaml: cannot read: is not UTF-8 text (invalid start byte at byte 6)"]


def test_missing_file_and_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(["nothere.yaml"])
    assert str(info.value) == "nothere.yaml: cannot read: No such file or directory"
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError) as info:
        load(["empty"])
    assert str(info.value) == "empty: no configuration files (*.yaml, *.yml, *.zone) found"


def test_zone_keys_need_a_zone() -> None:
    assert problems("ttl: 60\nsoa: {}\nrecords: {}\nregions: {}\n") == [
        "z.yaml:1: ttl: needs 'zone' (the origin) in the same file",
        "z.yaml:2: soa: needs 'zone' (the origin) in the same file",
        "z.yaml:3: records: needs 'zone' (the origin) in the same file",
    ]


def test_zone_without_soa_or_ns() -> None:
    assert problems("\nzone: example.com\n") == [
        "z.yaml:2: ns: zone example.com. has no NS records at its apex",
        "z.yaml:2: soa: zone example.com. has no SOA record",
    ]


def test_bad_zone_names() -> None:
    assert problems("zone: '@'\n") == ["z.yaml:1: zone: must be a domain name such as example.com (got '@')"]
    assert problems("zone: a..b\n") == ["z.yaml:1: zone: empty label in name (got 'a..b.')"]


def test_duplicate_zone_across_files() -> None:
    assert problems("zone: example.com\nsoa: {}\nns: [ns1.example.net.]\n",
                    **{"other.yaml": "\nzone: Example.COM.\nsoa: {}\nns: [ns1.example.net.]\n"}) == [
        "other.yaml:2: zone: zone example.com. is also defined in z.yaml",
    ]


# -- records --------------------------------------------------------------------------------------------------
def test_cname_with_other_data() -> None:
    assert problems(records("  www: {CNAME: x, TXT: hi, MX: 10 mx}\n")) == [
        "z.yaml:11: records.www.CNAME: a CNAME cannot have other data at its name (RFC 1034 section 3.6.2) "
        "(got MX, TXT)",
    ]


def test_two_cnames() -> None:
    assert problems(records("  www: {CNAME: [x, y]}\n")) == [
        "z.yaml:11: records.www.CNAME[1]: a name can have only one CNAME record (RFC 2181 section 10.1); the first "
        "is x.example.com. (got 'y.example.com.')",
    ]


def test_out_of_zone_record() -> None:
    assert problems(records("  www.example.net.: {A: 192.0.2.1}\n")) == [
        "z.yaml:11: records.www.example.net..A: is outside zone example.com. (got 'www.example.net.')",
    ]


def test_out_of_zone_glue() -> None:
    assert problems(records("  lab: {NS: ns.example.net.}\n  ns.example.net.: {A: 192.0.2.1}\n")) == [
        "z.yaml:12: records.ns.example.net..A: is outside zone example.com. (got 'ns.example.net.')",
    ]


def test_data_at_and_below_a_delegation() -> None:
    assert problems(records("  lab: {NS: ns.lab, MX: 10 mx}\n  ns.lab: {A: 192.0.2.1, TXT: x}\n"
                            "  www.lab: {A: 192.0.2.2}\n")) == [
        "z.yaml:11: records.lab.MX: cannot be at the delegation point lab.example.com.: only NS, DS and glue "
        "addresses may be there",
        "z.yaml:12: records.ns.lab.TXT: lies below the delegation lab.example.com.: only glue addresses of name "
        "servers may be there (got 'ns.lab.example.com.')",
        "z.yaml:13: records.www.lab.A: lies below the delegation lab.example.com.: only glue addresses of name "
        "servers may be there (got 'www.lab.example.com.')",
    ]


def test_in_bailiwick_name_server_without_glue() -> None:
    assert problems(records("  lab: {NS: [ns.example.net., ns.lab]}\n")) == [
        "z.yaml:11: records.lab.NS[1]: name server ns.lab.example.com. lies inside the delegation lab.example.com. "
        "and needs glue (an A or AAAA record)",
    ]


def test_ds_and_sibling_glue_are_allowed() -> None:
    Path("z.yaml").write_text(records("  a: {NS: ns.b, DS: '\\# 4 01020304'}\n  b: {NS: ns.b}\n"
                                      "  ns.b: {A: 192.0.2.9}\n"))
    assert load("z.yaml").zones["example.com."].record_count() == 7


def test_bad_addresses() -> None:
    assert problems(records("  www:\n    A: [192.0.2.256, 2001:db8::1]\n    AAAA: [2001:db8::1::2, 192.0.2.1]\n")) == [
        "z.yaml:12: records.www.A[0]: bad IPv4 address (got '192.0.2.256')",
        "z.yaml:12: records.www.A[1]: bad IPv4 address (got '2001:db8::1')",
        "z.yaml:13: records.www.AAAA[0]: bad IPv6 address (got '2001:db8::1::2')",
        "z.yaml:13: records.www.AAAA[1]: bad IPv6 address (got '192.0.2.1')",
    ]


def test_bad_record_values() -> None:
    assert problems(records("  a: {MX: mx, SRV: 1 2 3, BOGUS: x, SOA: x, A: null, TXT: [[x]]}\n")) == [
        "z.yaml:11: records.a.A: must be a value in presentation format (got null)",
        "z.yaml:11: records.a.BOGUS: unknown type 'BOGUS'",
        "z.yaml:11: records.a.MX: MX needs 2 fields: preference target (got 1)",
        "z.yaml:11: records.a.SOA: the SOA is set with the top-level 'soa' key",
        "z.yaml:11: records.a.SRV: SRV needs 4 fields: priority weight port target (got 3)",
        "z.yaml:11: records.a.TXT[0]: must be a value in presentation format (got ['x'])",
    ]


def test_ttl_bounds() -> None:
    assert problems(records("  a: {ttl: -1, A: 192.0.2.1}\n  b: {A: {ttl: 2147483648, values: 192.0.2.1}}\n")) == [
        "z.yaml:11: records.a.ttl: must be between 0 and 2147483647 (got -1)",
        "z.yaml:12: records.b.A.ttl: must be between 0 and 2147483647 (got 2147483648)",
    ]
    assert problems(BASE.replace("soa: {}", "ttl: -1\nsoa: {ttl: 2147483648}")) == [
        "z.yaml:2: ttl: must be between 0 and 2147483647 (got -1)",
        "z.yaml:3: soa.ttl: must be between 0 and 2147483647 (got 2147483648)",
    ]


def test_ttl_written_as_a_string() -> None:
    assert problems(BASE.replace("soa: {}", "ttl: 1h\nsoa: {}")) == ["z.yaml:2: ttl: must be an integer (got '1h')"]


# -- regions, monitors, vantages ------------------------------------------------------------------------------
def test_endpoint_address_and_weight() -> None:
    text = BASE.replace("[192.0.2.2]", "[192.0.2.2, 2001:db8:::1, {address: 192.0.2.3, weight: 256}, 192.0.2.2]")
    assert problems(text) == [
        "z.yaml:6: regions.r2.endpoints[1]: must be an IPv4 or IPv6 address (got '2001:db8:::1')",
        "z.yaml:6: regions.r2.endpoints[2].weight: must be between 0 and 255 (got 256)",
        "z.yaml:6: regions.r2.endpoints[3]: duplicate endpoint address (got '192.0.2.2')",
    ]


def test_duplicate_region_across_files() -> None:
    other = "regions:\n  r2: {location: {lat: 0, lon: 0}, endpoints: [192.0.2.9]}\nvantages:\n  v: {}\n"
    assert problems(BASE, **{"a.yaml": other}) == [
        "a.yaml:2: regions.r2: duplicate region (also defined at z.yaml:6)",
        "a.yaml:4: vantages.v.location: is required",
    ]


def test_region_problems() -> None:
    text = ("regions:\n  r:\n    location: {lat: 91, lon: '0'}\n    endpoints: []\n    aws_region: Virginia\n"
            "    capacity: -1\n")
    assert problems(text) == [
        "z.yaml:3: regions.r.location.lat: must be between -90 and 90 (got 91)",
        "z.yaml:3: regions.r.location.lon: must be a number (got '0')",
        "z.yaml:4: regions.r.endpoints: needs at least one endpoint",
        "z.yaml:5: regions.r.aws_region: must be an AWS region name such as us-east-1 (got 'Virginia')",
        "z.yaml:6: regions.r.capacity: must be at least 0 (got -1)",
    ]


def test_monitor_problems() -> None:
    text = ("monitors:\n  m1: {type: tcp}\n"
            "  m2: {type: http, timeout: 5, interval: 5, path: health, expect: [99, 200], body: '(', quorum: 3}\n"
            "  m3: {type: htp}\nvantages:\n  v1: {location: {lat: 0, lon: 0}}\n")
    assert problems(text) == [
        "z.yaml:2: monitors.m1.port: is required for tcp monitors",
        "z.yaml:3: monitors.m2.body: is not a valid regular expression: missing ), unterminated subpattern at "
        "position 0 (got '(')",
        "z.yaml:3: monitors.m2.expect[0]: must be an HTTP status between 100 and 599 (got 99)",
        "z.yaml:3: monitors.m2.path: must start with '/' (got 'health')",
        "z.yaml:3: monitors.m2.quorum: must be at most the number of vantages, 1 (got 3)",
        "z.yaml:3: monitors.m2.timeout: must be less than the interval, 5 (got 5)",
        "z.yaml:4: monitors.m3.type: must be one of http, https, tcp; did you mean 'http'? (got 'htp')",
    ]


# -- services -------------------------------------------------------------------------------------------------
def test_unknown_region_and_monitor() -> None:
    assert problems(services("  www: {regions: [r1, r3], monitor: wbe}\n  api: {regions: [zzz], monitor: x}\n")) == [
        "z.yaml:12: services.www.monitor: unknown monitor; did you mean 'web'? (got 'wbe')",
        "z.yaml:12: services.www.regions[1]: unknown region; defined: r1, r2 (got 'r3')",
        "z.yaml:13: services.api.monitor: unknown monitor; defined: web (got 'x')",
        "z.yaml:13: services.api.regions[0]: unknown region; defined: r1, r2 (got 'zzz')",
    ]


def test_regions_and_monitors_of_another_file() -> None:
    shared = ("regions:\n  far: {location: {lat: 1, lon: 1}, endpoints: [192.0.2.77]}\n"
              "monitors:\n  tcp: {type: tcp, port: 1}\n")
    Path("z.yaml").write_text(services("  www: {regions: [far], monitor: tcp}\n"))
    Path("shared.yaml").write_text(shared)
    (svc,) = load(["z.yaml", "shared.yaml"]).services
    assert (svc.regions, svc.monitor) == (("far",), "tcp")


def test_a_broken_region_is_not_also_unknown() -> None:
    assert problems(BASE.replace("lat: 10", "lat: 100") + "services:\n  www: {regions: [r2]}\n") == [
        "z.yaml:6: regions.r2.location.lat: must be between -90 and 90 (got 100)",
    ]


def test_service_name_outside_the_zone() -> None:
    assert problems(services("  www: {names: [www.example.org., example.com.evil.], regions: [r1]}\n")) == [
        "z.yaml:12: services.www.names[0]: is outside zone example.com. (got 'www.example.org.')",
        "z.yaml:12: services.www.names[1]: is outside zone example.com. (got 'example.com.evil.')",
    ]


def test_managed_name_clashing_with_static_records() -> None:
    text = records("  www: {A: 192.0.2.9, TXT: ok}\n  api: {CNAME: x}\nservices:\n  www: {regions: [r1]}\n"
                   "  api: {regions: [r1]}\n")
    assert problems(text) == [
        "z.yaml:14: services.www: a managed name cannot also have static A records (got 'www.example.com.')",
        "z.yaml:15: services.api: a managed name cannot also have static CNAME records (got 'api.example.com.')",
    ]


def test_managed_name_twice_or_below_a_delegation() -> None:
    text = records("  lab: {NS: ns.example.net.}\nservices:\n  www: {regions: [r1]}\n"
                   "  api: {names: [www, api, API.example.com.], regions: [r1]}\n  x: {names: a.lab, regions: [r1]}\n")
    assert problems(text) == [
        "z.yaml:14: services.api.names[0]: is already managed by service www (got 'www.example.com.')",
        "z.yaml:14: services.api.names[2]: is listed twice (got 'api.example.com.')",
        "z.yaml:15: services.x.names: lies in the delegated subzone lab.example.com. (got 'a.lab.example.com.')",
    ]


def test_geo_rule_with_two_match_keys_or_none() -> None:
    text = services("  www:\n    regions: [r1]\n    policy:\n      type: geo\n      rules:\n"
                    "        - {country: DE, asn: 1, regions: r1}\n        - {regions: r1}\n")
    assert problems(text) == [
        "z.yaml:17: services.www.policy.rules[0]: needs exactly one of continent, country, subdivision, cidr, asn "
        "(got country, asn)",
        "z.yaml:18: services.www.policy.rules[1]: needs exactly one of continent, country, subdivision, cidr, asn "
        "(got none)",
    ]


def test_geo_bad_codes_networks_and_asns() -> None:
    text = services("  www:\n    regions: [r1, r2]\n    policy:\n      type: geo\n      rules:\n"
                    "        - {country: Germany, regions: r1}\n"
                    "        - {continent: EUR, regions: r1}\n"
                    "        - {cidr: 192.0.2.0/33, regions: r1}\n"
                    "        - {cidr: 192.0.2.1/24, regions: r1}\n"
                    "        - {asn: 4294967296, regions: r1}\n"
                    "        - {asn: ASX, regions: r1}\n"
                    "        - {subdivision: California, regions: r1}\n"
                    "        - {country: 49, regions: r1}\n")
    assert problems(text) == [
        "z.yaml:17: services.www.policy.rules[0].country: must be an ISO 3166-1 two-letter country code such as DE "
        "(got 'Germany')",
        "z.yaml:18: services.www.policy.rules[1].continent: must be a continent code (AF, AN, AS, EU, NA, OC, SA) "
        "(got 'EUR')",
        "z.yaml:19: services.www.policy.rules[2].cidr: must be a network such as 192.0.2.0/24 or 2001:db8::/32 "
        "(got '192.0.2.0/33')",
        "z.yaml:20: services.www.policy.rules[3].cidr: has host bits set; write the network address, such as "
        "192.0.2.0/24 (got '192.0.2.1/24')",
        "z.yaml:21: services.www.policy.rules[4].asn: must be an AS number such as 64500 or AS64500 "
        "(got 4294967296)",
        "z.yaml:22: services.www.policy.rules[5].asn: must be an AS number such as 64500 or AS64500 (got 'ASX')",
        "z.yaml:23: services.www.policy.rules[6].subdivision: must be an ISO 3166-2 subdivision code such as US-CA "
        "(got 'California')",
        "z.yaml:24: services.www.policy.rules[7].country: must be an ISO 3166-1 two-letter country code such as DE "
        "(got 49)",
    ]


def test_policy_naming_a_region_not_in_the_service() -> None:
    text = services("  www:\n    regions: [r1]\n    policy: {type: proximity, bias: {r2: 10}}\n"
                    "  api:\n    regions: [r1]\n    policy:\n      type: geo\n"
                    "      rules: [{country: DE, regions: [r1, r2]}]\n      default: [r1, r1]\n")
    assert problems(text) == [
        "z.yaml:14: services.www.policy.bias.r2: is not one of the service's regions (r1) (got 'r2')",
        "z.yaml:19: services.api.policy.rules[0].regions[1]: is not one of the service's regions (r1) (got 'r2')",
        "z.yaml:20: services.api.policy.default[1]: region is listed twice (got 'r1')",
    ]


def test_weight_out_of_range() -> None:
    text = services("  www:\n    regions: [r1, r2]\n    policy: {type: weighted, weights: {r1: 256, r2: -1}}\n")
    assert problems(text) == [
        "z.yaml:14: services.www.policy.weights.r1: must be between 0 and 255 (got 256)",
        "z.yaml:14: services.www.policy.weights.r2: must be between 0 and 255 (got -1)",
    ]


def test_policy_type_and_keys() -> None:
    text = services("  www: {regions: [r1], policy: {type: latency, bias: {r1: 1}}}\n"
                    "  api: {regions: [r1], policy: {typ: geo}}\n  x: {regions: [r1], policy: latncy}\n"
                    "  y: {regions: [r1], policy: [geo]}\n")
    assert problems(text) == [
        "z.yaml:12: services.www.policy.bias: unknown key; valid keys: alpha, hysteresis, hysteresis_ms, type",
        "z.yaml:12: services.www.policy.type: latency needs measurements, but no vantages are defined (add a "
        "top-level 'vantages' section)",
        "z.yaml:13: services.api.policy.typ: unknown key; did you mean 'type'?",
        "z.yaml:13: services.api.policy.type: is required",
        "z.yaml:14: services.x.policy: must be one of failover, weighted, geo, proximity, latency; did you mean "
        "'latency'? (got 'latncy')",
        "z.yaml:15: services.y.policy: must be a policy name (failover, weighted, geo, proximity, latency) or a "
        "mapping with its type (got ['geo'])",
    ]


def test_fail_mode_static_needs_a_fallback() -> None:
    text = services("  www: {regions: [r1], fail_mode: static}\n  api: {regions: [r1], fallback: 192.0.2.9}\n"
                    "  w3: {regions: [r1], fail_mode: static, fallback: [not-an-ip]}\n"
                    "  w4: {regions: [r1], fail_mode: statc}\n  w5: {regions: [r1], fail_mode: static, fallback: []}\n")
    assert problems(text) == [
        "z.yaml:12: services.www.fallback: is required when fail_mode is static",
        "z.yaml:13: services.api.fallback: is only used with fail_mode: static (got fail_mode: fail_open)",
        "z.yaml:14: services.w3.fallback[0]: must be an IPv4 or IPv6 address (got 'not-an-ip')",
        "z.yaml:15: services.w4.fail_mode: must be one of fail_open, last_known_good, fail_closed, static; did you "
        "mean 'static'? (got 'statc')",
        "z.yaml:16: services.w5.fallback: needs at least one address",
    ]


def test_service_scalars() -> None:
    text = services("  www: {regions: [r1, r2], ttl: 86401, answers: 65, affinity: yes, ecs_scope: {v4: 33, v6: x}}\n"
                    "  api: {regions: [], ttl: -1}\n")
    assert problems(text) == [
        "z.yaml:12: services.www.affinity: must be one of hash, none (got 'yes')",
        "z.yaml:12: services.www.answers: must be between 1 and 64 (got 65)",
        "z.yaml:12: services.www.ecs_scope.v4: must be between 0 and 32 (got 33)",
        "z.yaml:12: services.www.ecs_scope.v6: must be an integer (got 'x')",
        "z.yaml:12: services.www.ttl: must be between 0 and 86400 (got 86401)",
        "z.yaml:13: services.api.regions: needs at least one region",
        "z.yaml:13: services.api.ttl: must be between 0 and 86400 (got -1)",
    ]


# -- YAML 1.1 traps -------------------------------------------------------------------------------------------
def test_country_no_stays_norway(tmp_path: Path) -> None:
    Path("z.yaml").write_text(services("  www:\n    regions: [r1]\n    policy:\n      type: geo\n"
                                       "      rules: [{country: NO, regions: r1}, {country: no, regions: r1}]\n"))
    rules = load("z.yaml").services[0].policy.rules  # type: ignore[union-attr]
    assert [r.match.country for r in rules] == ["NO", "NO"]


def test_sexagesimal_and_other_yaml_11_values_stay_strings() -> None:
    Path("z.yaml").write_text(records("  t: {TXT: [2001:10, 1:30, yes, 0x1f, 2024-01-01]}\n"))
    strings = {r.fields[0] for r in load("z.yaml").zones["example.com."].rrsets["t.example.com."][16].rdatas}
    assert strings == {(b"2001:10",), (b"1:30",), (b"yes",), (b"0x1f",), (b"2024-01-01",)}
    assert problems(records("  a: {AAAA: 2001:10}\n")) == [
        "z.yaml:11: records.a.AAAA: bad IPv6 address (got '2001:10')"]


# -- every problem at once ------------------------------------------------------------------------------------
def test_a_file_with_several_problems_reports_all_of_them_in_order() -> None:
    text = ("zone: example.com\nsoa: {serial: -1, mname: 'a..b'}\nns: [ns1]\nrecords:\n"
            "  ns1: {A: 192.0.2.300}\n  '*.x': {AAAA: 192.0.2.1}\nregions:\n"
            "  r1: {location: {lat: 91, lon: 0}, endpoints: []}\nservices:\n"
            "  www: {regions: [r1], ttl: 86401, affinity: yes}\nbogus: 1\n")
    assert problems(text) == [
        "z.yaml:2: soa.mname: empty label in name (got 'a..b')",
        "z.yaml:2: soa.serial: must be between 0 and 4294967295 (got -1)",
        "z.yaml:5: records.ns1.A: bad IPv4 address (got '192.0.2.300')",
        "z.yaml:6: records.*.x.AAAA: bad IPv6 address (got '192.0.2.1')",
        "z.yaml:8: regions.r1.endpoints: needs at least one endpoint",
        "z.yaml:8: regions.r1.location.lat: must be between -90 and 90 (got 91)",
        "z.yaml:10: services.www.affinity: must be one of hash, none (got 'yes')",
        "z.yaml:10: services.www.ttl: must be between 0 and 86400 (got 86401)",
        "z.yaml:11: bogus: unknown key; valid keys: admin, dnssec, drills, geoip, health, import, monitors, ns, overrides, records, regions, resolvers, rrl, services, signed, soa, ttl, "
        "vantages, zone",
    ]


def test_problems_are_sorted_by_file_and_line() -> None:
    found = problems("zone: example.com\nsoa: {}\nns: [ns1]\nrecords: {ns1: {A: 1}}\nbogus: 1\n",
                     **{"b.yaml": "\n\nregions: 7\n", "a.yaml": "monitors: {m: {type: x}}\n"})
    assert found == [
        "a.yaml:1: monitors.m.type: must be one of http, https, tcp (got 'x')",
        "b.yaml:3: regions: must be a mapping (got 7)",
        "z.yaml:4: records.ns1.A: bad IPv4 address (got '1')",
        "z.yaml:5: bogus: unknown key; valid keys: admin, dnssec, drills, geoip, health, import, monitors, ns, overrides, records, regions, resolvers, rrl, services, signed, soa, ttl, "
        "vantages, zone",
    ]


# -- master files ---------------------------------------------------------------------------------------------
def test_master_file_problems() -> None:
    Path("example.org.zone").write_text("$TTL 1h\n@ IN SOA ns1 hostmaster 1 2h 15m 2w 5m\nns1 IN A 192.0.2.1\n"
                                        "www IN CNAME a\nwww IN CNAME b\nx.example.net. IN A 192.0.2.1\nbad IN A 1\n")
    with pytest.raises(ConfigError) as info:
        load("example.org.zone")
    assert [str(p) for p in info.value.problems] == ["example.org.zone:7: bad IPv4 address (got '1')"]
    Path("example.org.zone").write_text("$TTL 1h\n@ IN SOA ns1 hostmaster 1 2h 15m 2w 5m\nns1 IN A 192.0.2.1\n"
                                        "www IN CNAME a\nwww IN CNAME b\nx.example.net. IN A 192.0.2.1\n")
    with pytest.raises(ConfigError) as info:
        load("example.org.zone")
    assert [str(p) for p in info.value.problems] == [
        "example.org.zone:2: zone example.org. has no NS records at its apex",
        "example.org.zone:5: www.example.org. CNAME: a name can have only one CNAME record (RFC 2181 section 10.1); "
        "the first is a.example.org.",
        "example.org.zone:6: x.example.net. A: is outside zone example.org.",
    ]


def test_master_file_without_origin() -> None:
    Path("bad..name.zone").write_text("$TTL 1h\nwww IN A 192.0.2.1\n")
    with pytest.raises(ConfigError) as info:
        load("bad..name.zone")
    assert [str(p) for p in info.value.problems] == [
        "bad..name.zone:1: no origin: set $ORIGIN or name the file after the zone",
        "bad..name.zone:2: relative name with no origin (got 'www')",
    ]


def test_import_problems() -> None:
    Path("out.zone").write_text("$ORIGIN example.net.\nns1 300 A 192.0.2.1\n")
    assert problems("zone: example.com\nsoa: {}\nns: [ns1]\nimport: nothere.zone\n") == [
        "z.yaml:4: import: cannot read nothere.zone: No such file or directory",
    ]
    assert problems("zone: example.com\nsoa: {}\nns: [ns1]\nimport: out.zone\n") == [
        "z.yaml:4: import: out.zone moves $ORIGIN out of zone example.com. (got 'example.net.')",
    ]


# -- gtm check ------------------------------------------------------------------------------------------------
def test_check_ok_prints_one_line_per_zone() -> None:
    out = gtm("check", "zones/", "tests/fixtures/config/multi/example.net.zone",
              "tests/fixtures/config/multi/static.zone")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "example.com. ok: 27 records, 3 services (zones/example.com.yaml)",
        "example.net. ok: 4 records, 0 services (tests/fixtures/config/multi/example.net.zone)",
        "example.info. ok: 3 records, 0 services (tests/fixtures/config/multi/static.zone)",
    ]
    assert out.stderr == ""


def test_check_broken_file_exit_1(tmp_path: Path) -> None:
    (tmp_path / "z.yaml").write_text(services("  www: {regions: [r3]}\n") + "bogus: 1\n")
    out = gtm("check", "z.yaml", cwd=tmp_path)
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.splitlines() == [
        "z.yaml:12: services.www.regions[0]: unknown region; defined: r1, r2 (got 'r3')",
        "z.yaml:13: bogus: unknown key; valid keys: admin, dnssec, drills, geoip, health, import, monitors, ns, overrides, records, regions, resolvers, rrl, services, signed, soa, ttl, "
        "vantages, zone",
        "gtm: 2 problems found",
    ]


@pytest.mark.parametrize("args, message", [
    (["check"], "gtm check: error: the following arguments are required: PATH (see --help)"),
    (["serve", "--listen", "nonsense", "zones/"],
     "gtm serve: error: --listen: expected ADDRESS:PORT, IPv6 as [ADDRESS]:PORT (got 'nonsense')"),
])
def test_usage_errors_exit_2(args: list[str], message: str) -> None:
    out = gtm(*args)
    assert (out.returncode, out.stdout, out.stderr) == (2, "", message + "\n")


def test_two_regions_that_become_one_dns_label_are_a_config_error(tmp_path: Path) -> None:
    """The Route53 mirror names a region's records after it as a DNS label (lower case, `-` for the rest)."""
    f = tmp_path / "r.yaml"
    f.write_text("regions:\n  eu-west: {location: {lat: 1, lon: 1}, endpoints: [192.0.2.1]}\n"
                 "  EU_west: {location: {lat: 1, lon: 1}, endpoints: [192.0.2.2]}\n"
                 "  us: {location: {lat: 1, lon: 1}, endpoints: [192.0.2.3]}\n"
                 "  us-w: {location: {lat: 1, lon: 1}, endpoints: [192.0.2.4]}\n")
    with pytest.raises(ConfigError) as e:
        load([str(f)])
    assert [str(p) for p in e.value.problems] == [
        f"{f}:3: regions.EU_west: becomes the same DNS label as region eu-west (eu-west) in the Route53 mirror's "
        f"internal names; rename one"]
