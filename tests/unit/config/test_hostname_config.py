"""Hostname endpoints, answer_as and resolvers in the config: what loads, and each mistake as one exact
``file:line: path: what is wrong (got X)`` line."""
from __future__ import annotations

from pathlib import Path

import pytest

from gtm.config import load
from gtm.errors import ConfigError
from gtm.model import OnResolveFailure, ProbeMode

HEAD = """\
zone: example.com
soa: {}
ns: [ns1]
records:
  ns1: {A: 192.0.2.53}
  edge: {A: 192.0.2.99}
  mx: {MX: "10 ns1"}
"""


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def problems(text: str) -> list[str]:
    Path("z.yaml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load(["z.yaml"])
    return [str(p) for p in info.value.problems]


def test_a_region_mixes_addresses_and_hostnames_and_the_resolvers_section_loads() -> None:
    Path("z.yaml").write_text(HEAD + """\
resolvers: {servers: ["127.0.0.1:5300", "192.0.2.53", "[::1]:5301"], min_ttl: 2, max_ttl: 30, stale_for: 60,
            timeout: 1, on_failure: keep}
regions:
  eu:
    location: {lat: 0, lon: 0}
    on_resolve_failure: down
    endpoints:
      - 192.0.2.1
      - {hostname: My-ALB-1.eu-west-1.ELB.amazonaws.com., weight: 3}
services:
  www: {regions: [eu], answer_as: cname, on_resolve_failure: keep}
""")
    cfg = load(["z.yaml"])
    eps = cfg.regions["eu"].endpoints
    assert [e.key for e in eps] == ["192.0.2.1", "my-alb-1.eu-west-1.elb.amazonaws.com"]
    assert (eps[1].weight, eps[1].probe, eps[1].address) == (3, ProbeMode.NAME, None)
    assert cfg.hostnames == ("my-alb-1.eu-west-1.elb.amazonaws.com",)
    assert cfg.resolvers.servers == (("127.0.0.1", 5300), ("192.0.2.53", 53), ("::1", 5301))
    assert (cfg.resolvers.min_ttl, cfg.resolvers.max_ttl, cfg.resolvers.stale_for, cfg.resolvers.timeout) == (2, 30, 60, 1)
    assert cfg.resolvers.on_failure is OnResolveFailure.KEEP
    assert cfg.regions["eu"].on_resolve_failure is OnResolveFailure.DOWN
    svc = cfg.services[0]
    assert svc.answer_as == "cname" and svc.on_resolve_failure is OnResolveFailure.KEEP
    assert cfg.keeps() == {"example.com/www": frozenset({"my-alb-1.eu-west-1.elb.amazonaws.com"})}


REGION = """\
regions:
  eu:
    location: {lat: 0, lon: 0}
    endpoints:
"""


@pytest.mark.parametrize("endpoint, message", [
    ("{hostname: 'bad_label-.example.com'}",
     "has an invalid label 'bad_label-' (letters, digits and inner hyphens, 1 to 63 of them) (got 'bad_label-.example.com')"),
    ("{hostname: localhost}", "needs at least two labels (a fully qualified name) (got 'localhost')"),
    ("{hostname: 192.0.2.7}", "is an address: write it as address:, not hostname: (got '192.0.2.7')"),
    ("{hostname: 'a..example.com'}", "has an invalid label '' (letters, digits and inner hyphens, 1 to 63 of them) (got 'a..example.com')"),
    ("{hostname: 12}", "must be a host name such as my-lb-123.eu-west-1.elb.amazonaws.com (got 12)"),
])
def test_a_bad_hostname_names_file_line_and_field(endpoint: str, message: str) -> None:
    assert problems(HEAD + REGION + f"      - {endpoint}\n") == [
        f"z.yaml:12: regions.eu.endpoints[0].hostname: {message}"]


def test_endpoint_mistakes() -> None:
    assert problems(HEAD + REGION + """\
      - {address: 192.0.2.1, hostname: lb.example.net}
      - {weight: 2}
      - {address: 192.0.2.2, probe: name}
      - {hostname: lb2.example.net, probe: everything}
      - {hostname: LB2.example.net.}
""") == [
        "z.yaml:12: regions.eu.endpoints[0]: needs exactly one of address (an IP address) or hostname (a load "
        "balancer's DNS name) (got address and hostname)",
        "z.yaml:13: regions.eu.endpoints[1]: needs exactly one of address (an IP address) or hostname (a load "
        "balancer's DNS name)",
        "z.yaml:14: regions.eu.endpoints[2].probe: is only used with hostname endpoints",
        "z.yaml:15: regions.eu.endpoints[3].probe: must be one of name, addresses (got 'everything')",
        "z.yaml:16: regions.eu.endpoints[4]: duplicate endpoint hostname (got 'lb2.example.net')",
    ]


def test_a_hostname_that_leads_to_a_name_gtm_steers_would_loop() -> None:
    assert problems(HEAD + """\
  alias: {CNAME: www}
regions:
  eu: {location: {lat: 0, lon: 0}, endpoints: [{hostname: www.example.com}]}
  us: {location: {lat: 0, lon: 0}, endpoints: [{hostname: alias.example.com}, {hostname: edge.example.com}]}
services:
  www: {regions: [eu, us]}
""") == [
        "z.yaml:10: regions.eu.endpoints[0].hostname: leads to www.example.com, which service www answers with "
        "gtm's own steering: a hostname endpoint must not depend on gtm's answers (it would loop) (www.example.com)",
        "z.yaml:11: regions.us.endpoints[0].hostname: leads to www.example.com, which service www answers with "
        "gtm's own steering: a hostname endpoint must not depend on gtm's answers (it would loop) "
        "(alias.example.com -> www.example.com)",
    ]


def test_cname_answers_need_a_bare_name_one_answer_and_a_hostname_in_every_region() -> None:
    assert problems(HEAD + """\
regions:
  eu: {location: {lat: 0, lon: 0}, endpoints: [{hostname: lb.example.net}]}
  us: {location: {lat: 0, lon: 0}, endpoints: [192.0.2.1]}
services:
  www: {names: ["@", mx, cdn], regions: [eu, us], answer_as: cname, answers: 2}
  api: {regions: [eu], answer_as: alias}
""") == [
        "z.yaml:12: services.www.answer_as: cname: example.com. is the zone apex, which has SOA and NS records; a "
        "CNAME cannot be there (answer_as: addresses is the only form at an apex)",
        "z.yaml:12: services.www.answer_as: cname: mx.example.com. also has static MX records; a CNAME owner can "
        "have no other data (RFC 1034 section 3.6.2)",
        "z.yaml:12: services.www.answer_as: cname: region us has no hostname endpoint to answer with",
        "z.yaml:12: services.www.answers: must be 1 (or unset) with answer_as: cname: a CNAME answer names one load "
        "balancer (got 2)",
        "z.yaml:13: services.api.answer_as: must be one of addresses, cname (got 'alias')",
    ]


def test_resolver_settings_mistakes() -> None:
    assert problems(HEAD + """\
resolvers: {servers: [dns.example.net, "127.0.0.1:99999"], min_ttl: 60, max_ttl: 10, on_failure: maybe, when: now}
regions:
  eu: {location: {lat: 0, lon: 0}, endpoints: [192.0.2.1], on_resolve_failure: keep}
services:
  www: {regions: [eu], on_resolve_failure: keep}
""") == [
        "z.yaml:8: resolvers.max_ttl: must be at least min_ttl, 60 (got 10)",
        "z.yaml:8: resolvers.on_failure: must be one of down, keep (got 'maybe')",
        "z.yaml:8: resolvers.servers[0]: must be a resolver's IP address, with :PORT if not 53 ([ADDRESS]:PORT for "
        "IPv6) (got 'dns.example.net')",
        "z.yaml:8: resolvers.servers[1]: must be a resolver's IP address, with :PORT if not 53 ([ADDRESS]:PORT for "
        "IPv6) (got '127.0.0.1:99999')",
        "z.yaml:8: resolvers.when: unknown key; valid keys: max_ttl, min_ttl, on_failure, retry, servers, stale_for, "
        "timeout",
        "z.yaml:10: regions.eu.on_resolve_failure: is only used in a region with hostname endpoints",
        "z.yaml:12: services.www.on_resolve_failure: is only used by a service with hostname endpoints in its regions",
    ]
