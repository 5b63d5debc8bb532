"""The compiled answer tables and ``steering.decide`` agree (DESIGN.md section 1: decide is the one source of
truth, the tables its memoised output).

Random health (down regions and endpoints, RTTs, sticky latency choices, last-known-good states) and random
clients (inside and outside a tiny GeoIP database, IPv4 and IPv6, ECS prefixes of every length or a plain
source address) ask every managed name through the real query path (``Responder.answer``); the reply,
parsed by dnspython, must carry exactly the addresses ``decide`` gives, in its order, with its ECS scope.
A weighted service without affinity answers from a rotation: over one full turn, the answers seen and how
often each comes must be the outcomes of the weighted draw and their probabilities.
"""
from __future__ import annotations

import ipaddress
import random
from collections import Counter
from collections.abc import Iterator
from fractions import Fraction

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rdatatype
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gtm import steering
from gtm.config import load
from gtm.dns.server import Responder
from gtm.dns.table import Steered, Table
from gtm.geoip import Locator
from gtm.model import (
    Config,
    Force,
    GeoIPSource,
    HealthSnapshot,
    IPAddress,
    Service,
    WeightedPolicy,
)
from gtm.model.effective import Effective, Overrides, SteeringMemory, View
from gtm.state.overrides import apply
from tests.support.mmdb import city_record, write_asn, write_city

# -- the world: a tiny GeoIP database and a config with every policy ------------------------------------------
CITY = {
    "81.2.0.0/16": city_record("EU", "GB", 51.51, -0.13, ("ENG", "LND")),
    "85.214.0.0/16": city_record("EU", "DE", 52.52, 13.40, ("BE",)),
    "90.0.0.0/12": {"continent": {"code": "EU"}, "country": {"iso_code": "FR"}},  # no coordinates
    "10.0.0.0/8": city_record("NA", "US", 37.77, -122.42, ("CA",)),
    "1.0.0.0/14": city_record("AS", "JP", 35.68, 139.69),
    "200.128.0.0/9": city_record("SA", "BR", -23.55, -46.63),
    "2001:db8:100::/40": city_record("EU", "DE", 50.11, 8.68, ("HE",)),
    "2400:cb00::/32": city_record("AS", "SG", 1.29, 103.85),
    "2600::/24": city_record("NA", "US", 40.71, -74.0, ("NY",)),
}
ASN = {"85.214.0.0/17": 64500, "10.1.0.0/16": 64501, "2001:db8:100::/48": 64500}

CONFIG = """
zone: example.com
soa: {minimum: 60}
ns: [ns1]
records:
  ns1: {A: 192.0.2.53}

geoip: {city: @CITY@, asn: @ASN@}

regions:
  us-east:
    location: {lat: 39.0, lon: -77.5}
    endpoints: [192.0.2.10, {address: 192.0.2.11, weight: 3}, "2001:db8:10::10", {address: "2001:db8:10::11", weight: 0}]
  eu-west:
    location: {lat: 53.35, lon: -6.26}
    endpoints: [198.51.100.10, {address: 198.51.100.11, weight: 2}, "2001:db8:20::10"]
  ap-southeast:
    location: {lat: 1.35, lon: 103.82}
    endpoints: [203.0.113.10, "2001:db8:30::10", {address: "2001:db8:30::11", weight: 2}]
  us-west:
    location: {lat: 37.4, lon: -122.1}
    endpoints: [192.0.2.50, {address: 192.0.2.51, weight: 0}]

vantages:
  virginia: {location: {lat: 38.9, lon: -77.0}}
  frankfurt: {location: {lat: 50.11, lon: 8.68}}
  singapore: {location: {lat: 1.29, lon: 103.85}}

services:
  fo:
    regions: [us-west, us-east, eu-west, ap-southeast]
  fo2:
    regions: [us-east, eu-west, ap-southeast]
    answers: 2
    fail_mode: fail_closed
  w:
    regions: [us-east, eu-west, ap-southeast, us-west]
    policy: {type: weighted, weights: {us-east: 3, eu-west: 2, us-west: 0}}
    answers: 1
    fail_mode: last_known_good
  w2:
    names: [w2, w2b]
    regions: [us-east, eu-west]
    policy: {type: weighted, weights: {us-east: 1, eu-west: 1}}
  wa:
    regions: [us-east, eu-west, ap-southeast]
    policy: {type: weighted, weights: {us-east: 2, eu-west: 1}}
    affinity: hash
    answers: 2
    ecs_scope: {v4: 20, v6: 48}
    fail_mode: static
    fallback: [192.0.2.99, "2001:db8::99"]
  geo:
    regions: [us-east, eu-west, ap-southeast, us-west]
    policy:
      type: geo
      rules:
        - {cidr: 10.1.0.0/16, regions: [ap-southeast]}
        - {cidr: 10.1.2.0/24, regions: [ap-southeast]}
        - {cidr: 10.128.0.0/9, regions: [eu-west]}
        - {cidr: "2001:db8:100:1::/64", regions: [us-west, us-east]}
        - {asn: 64500, regions: [us-east]}
        - {subdivision: GB-LND, regions: [us-east, eu-west]}
        - {country: GB, regions: [eu-west]}
        - {country: JP, regions: [ap-southeast, us-west]}
        - {continent: EU, regions: [eu-west, us-east]}
      default: [us-west, us-east]
    answers: 1
    fail_mode: fail_closed
  geo2:
    regions: [us-east, eu-west, ap-southeast]
    policy:
      type: geo
      rules:
        - {cidr: 81.2.69.0/24, regions: [ap-southeast]}
        - {country: DE, regions: [eu-west]}
      default: [us-east]
  prox:
    regions: [us-east, eu-west, ap-southeast, us-west]
    policy: {type: proximity, bias: {eu-west: "20%", ap-southeast: 500}}
    answers: 3
    fail_mode: last_known_good
  lat:
    regions: [eu-west, us-east, ap-southeast]
    policy: {type: latency, hysteresis: 0.2}
    fail_mode: static
    fallback: [192.0.2.98]
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Config, Locator]]:
    d = tmp_path_factory.mktemp("agree")
    city = write_city(d / "city.mmdb", CITY)
    asn = write_asn(d / "asn.mmdb", ASN)
    (d / "example.com.yaml").write_text(CONFIG.replace("@CITY@", str(city)).replace("@ASN@", str(asn)))
    config = load([str(d / "example.com.yaml")])
    locator = Locator(GeoIPSource(str(city), str(asn)))
    yield config, locator
    locator.close()


# -- random health ---------------------------------------------------------------------------------------------
REGION_NAMES = ("us-east", "eu-west", "ap-southeast", "us-west")
ENDPOINTS = ("us-east/192.0.2.10", "us-east/192.0.2.11", "us-east/2001:db8:10::10", "us-east/2001:db8:10::11",
             "eu-west/198.51.100.10", "eu-west/198.51.100.11", "eu-west/2001:db8:20::10",
             "ap-southeast/203.0.113.10", "ap-southeast/2001:db8:30::10", "ap-southeast/2001:db8:30::11",
             "us-west/192.0.2.50", "us-west/192.0.2.51")
VANTAGES = ("virginia", "frankfurt", "singapore")


@st.composite
def outages(draw: st.DrawFn) -> tuple[frozenset[tuple[str, str]], frozenset[str]]:
    # now and then everything is down, so that every fail mode is exercised
    if draw(st.integers(0, 4)) == 0:
        regions = frozenset(REGION_NAMES)
    else:
        regions = draw(st.frozensets(st.sampled_from(REGION_NAMES), max_size=3))
    eps = draw(st.frozensets(st.sampled_from(ENDPOINTS), max_size=5))
    return frozenset(tuple(e.split("/", 1)) for e in eps), regions  # type: ignore[misc]


@st.composite
def healths(draw: st.DrawFn) -> Effective:
    down_eps, down_regions = draw(outages())
    rtt = draw(st.dictionaries(st.tuples(st.sampled_from(VANTAGES), st.sampled_from(REGION_NAMES)),
                               st.sampled_from([5.0, 20.0, 20.0, 48.5, 120.0]) | st.floats(1, 300)))
    choices = draw(st.dictionaries(st.tuples(st.just("lat"), st.sampled_from(VANTAGES)),
                                   st.sampled_from(REGION_NAMES)))
    last_good = {}
    for key in draw(st.lists(st.sampled_from(["w", "prox", "fo"]), unique=True)):
        e, r = draw(outages())
        last_good[key] = View(down_endpoints=e, down_regions=r)
    # operators' overrides on whole regions, for every service (drains stay out of every fail mode)
    forces = tuple(Force(draw(st.sampled_from(["drain", "down", "up"])), region)
                   for region in draw(st.lists(st.sampled_from(REGION_NAMES), max_size=2)))
    memory = SteeringMemory(tuple(sorted(choices.items())), tuple(sorted(last_good.items(), key=lambda kv: kv[0])))
    return apply(Overrides(forces), HealthSnapshot(down_eps, down_regions, tuple(sorted(rtt.items()))), (), memory)


# -- random clients --------------------------------------------------------------------------------------------
NETS = [ipaddress.ip_network(n) for n in list(CITY) + ["10.1.2.0/24", "81.2.69.0/24", "2001:db8:100:1::/64"]]


@st.composite
def addresses(draw: st.DrawFn) -> IPAddress:
    if draw(st.booleans()):  # inside a database network (or a CIDR rule)
        net = draw(st.sampled_from(NETS))
        return net.network_address + draw(st.integers(0, net.num_addresses - 1))
    if draw(st.booleans()):
        return ipaddress.IPv4Address(draw(st.integers(0, 2**32 - 1)))
    return ipaddress.IPv6Address(draw(st.integers(0, 2**128 - 1)))


@st.composite
def clients(draw: st.DrawFn) -> tuple[str, IPAddress, int]:
    """(how the client is given: "ecs" or "source", address, ECS source prefix length)."""
    addr = draw(addresses())
    if draw(st.integers(0, 3)) == 0:
        return "source", addr, addr.max_prefixlen
    common = [24, 20, 32, 0] if addr.version == 4 else [56, 48, 64, 128, 0]
    prefix = draw(st.sampled_from(common) | st.integers(0, addr.max_prefixlen))
    return "ecs", addr, prefix


# -- asking, and what decide says ------------------------------------------------------------------------------
RESOLVER = "192.0.2.1"


def ask(responder: Responder, name: str, rdtype: str, how: str, addr: IPAddress, prefix: int,
        rng: random.Random) -> tuple[list[str], int | None]:
    """The addresses the server answers (in order) and the ECS scope it returns (None without ECS)."""
    qname = "".join(c.upper() if rng.random() < 0.5 else c for c in name)  # 0x20 case mixing
    if how == "ecs":
        ecs = dns.edns.ECSOption(str(addr), prefix)
        query = dns.message.make_query(qname, rdtype, use_edns=0, options=[ecs])
        source = RESOLVER
    else:
        query = dns.message.make_query(qname, rdtype)
        # an IPv4 client through a dual-stack socket looks like ::ffff:a.b.c.d, now and then
        source = str(addr) if addr.version == 6 or rng.random() < 0.7 else f"::ffff:{addr}"
    wire = responder.answer(query.to_wire(), source)
    assert wire is not None
    reply = dns.message.from_wire(wire)
    assert reply.rcode() == 0 and reply.flags & dns.flags.AA
    got = [rd.address for rrset in reply.answer for rd in rrset]
    scope = None
    if how == "ecs":
        (opt,) = [o for o in reply.options if isinstance(o, dns.edns.ECSOption)]
        assert opt.srclen == prefix
        scope = opt.scopelen
    if not got:  # NODATA: the zone's SOA says for how long
        assert [r.rdtype for r in reply.authority] == [dns.rdatatype.SOA]
    else:
        assert all(rrset.ttl == 30 for rrset in reply.answer)
    return got, scope


def expected_client(how: str, addr: IPAddress, prefix: int, locator: Locator) -> steering.Client:
    """The client as RFC 7871 defines it, built here independently of ``gtm.dns.table.client_of``."""
    if how == "ecs":
        if prefix == 0:  # section 7.1.2: do not use the address
            return steering.Client()
        net = ipaddress.ip_network(f"{addr}/{prefix}", strict=False)
        return steering.Client(net.network_address, prefix, locator.locate(net.network_address))
    if addr.version == 6 and addr.ipv4_mapped is not None:  # ::ffff:a.b.c.d is the IPv4 client a.b.c.d
        addr = addr.ipv4_mapped
    return steering.Client(addr, addr.max_prefixlen, locator.locate(addr))


def draw_outcomes(svc: Service, config: Config, health: Effective, rdtype: int) -> dict[tuple[str, ...], Fraction]:
    """Every answer the weighted draw can give, with its probability, from the weights in the config."""
    ranking = steering.rank(svc, steering.Client(), steering.Context(config, health))
    under = steering.answering_health(svc, ranking, config, health)
    weights = {r: w for r, w in ranking.weights or () if w > 0}
    up = [r for r in weights if under is not None and r in steering.regions_up(svc, config, under)]
    if not up:  # nothing to draw from: one answer, decided without a draw
        return {steering.choose(svc, ranking, config, health).addresses(rdtype): Fraction(1)}
    out: dict[tuple[str, ...], Fraction] = {}
    total = sum(weights[r] for r in up)
    for r in up:
        assert under is not None
        leads: list[tuple[Fraction, steering.Lead | None]] = [(Fraction(1), None)]
        region = config.regions[r]
        if steering.draws_endpoints(svc, region, under):
            leads = [(Fraction(1), {})]
            for family in (4, 6):
                eps = steering.endpoints_of(region, family, under)
                if eps:
                    esum = sum(e.weight or 1 for e in eps)
                    leads = [(p * Fraction(e.weight or 1, esum), {**lead, (r, family): str(e.address)})  # type: ignore[dict-item]
                             for p, lead in leads for e in eps]
        for p, lead in leads:
            d = steering.choose(svc, ranking, config, health, first=r, lead=lead)
            key = d.addresses(rdtype)
            out[key] = out.get(key, Fraction(0)) + Fraction(weights[r], total) * p
    return dict(out)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(health=healths(), asked=st.lists(clients(), min_size=1, max_size=4), seed=st.integers(0, 2**32 - 1))
def test_tables_agree_with_decide(world: tuple[Config, Locator], health: Effective,
                                  asked: list[tuple[str, IPAddress, int]], seed: int) -> None:
    config, locator = world
    table = Table(config, health, locator.locate)
    responder = Responder(table)
    rng = random.Random(seed)
    for svc in config.services:
        rotating = isinstance(svc.policy, WeightedPolicy) and not svc.affinity
        for name in svc.names:
            for rdtype in ("A", "AAAA"):
                rtype = dns.rdatatype.from_text(rdtype)
                if rotating:
                    check_rotation(responder, svc, config, health, name, rdtype, rtype, asked, rng)
                    continue
                for how, addr, prefix in asked:
                    got, scope = ask(responder, name, rdtype, how, addr, prefix, rng)
                    d = steering.decide(svc, expected_client(how, addr, prefix, locator), config, health)
                    why = f"{svc.key} {rdtype} for {how} {addr}/{prefix}: {d.trail}"
                    event(f"{svc.key}: {d.mode}")  # --hypothesis-show-statistics tells what was covered
                    assert got == list(d.addresses(rtype)), why
                    if scope is not None:
                        assert scope == d.scope, why
                    if how == "ecs" and prefix:
                        # what the scope promises: any client inside it gets the same answer
                        c = expected_client(how, addr, prefix, locator)
                        assert c.address is not None
                        inside = ipaddress.ip_network(f"{c.address}/{d.scope}", strict=False)
                        other = inside.network_address + rng.randrange(inside.num_addresses)
                        nd = steering.decide(svc, expected_client("source", other, other.max_prefixlen, locator),
                                             config, health)
                        assert nd.addresses(rtype) == d.addresses(rtype), f"{why}; {other} inside /{d.scope}"


def check_rotation(responder: Responder, svc: Service, config: Config, health: Effective, name: str,
                   rdtype: str, rtype: int, asked: list[tuple[str, IPAddress, int]], rng: random.Random) -> None:
    entry = responder.table.entries[dns.name.from_text(name).canonicalize().to_wire() + rtype.to_bytes(2, "big")]
    assert isinstance(entry, Steered)
    turn = len(entry.rotation)
    seen: Counter[tuple[str, ...]] = Counter()
    for i in range(turn):  # one full turn, whoever asks: the client plays no part (scope 0)
        how, addr, prefix = asked[i % len(asked)]
        got, scope = ask(responder, name, rdtype, how, addr, prefix, rng)
        assert scope in (None, 0)
        seen[tuple(got)] += 1
    expected = draw_outcomes(svc, config, health, rtype)
    assert set(seen) == set(expected), (svc.key, rdtype)
    assert {k: Fraction(n, turn) for k, n in seen.items()} == expected, (svc.key, rdtype)
    # and what decide draws with a random source is always among them
    draws = random.Random(rng.random())
    for _ in range(20):
        d = steering.decide(svc, steering.Client(), config, health, draws)
        assert d.addresses(rtype) in expected


def test_a_source_address_key_and_an_ecs_key(world: tuple[Config, Locator]) -> None:
    """``Steered.pick`` takes the ECS option bytes or a source address string, as the query path passes them."""
    config, locator = world
    table = Table(config, Effective(), locator.locate)
    svc = next(s for s in config.services if s.key == "geo")
    entry = table.entries[dns.name.from_text("geo.example.com.").to_wire() + b"\x00\x01"]
    assert isinstance(entry, Steered)
    london = entry.pick("81.2.69.160")
    d = steering.decide(svc, expected_client("source", ipaddress.ip_address("81.2.69.160"), 32, locator), config,
                        Effective())
    assert d.regions == ("us-east",) and london.scope == d.scope == 16
    assert [r.rrset.rdatas[0].fields[0] for r in london.resolution.answer] == list(d.a)
    # the same /24 as an ECS option: FAMILY 1, SOURCE 24, SCOPE 0, ADDRESS 81.2.69
    assert entry.pick(b"\x00\x01\x18\x00\x51\x02\x45") is london
    # ::ffff:81.2.69.160 is the same IPv4 client
    assert entry.pick("::ffff:81.2.69.160").resolution.answer == london.resolution.answer
    # SOURCE 0: no client; the default rule, scope 0
    anyone = entry.pick(b"\x00\x01\x00\x00")
    assert anyone.scope == 0
    assert [r.rrset.rdatas[0].fields[0] for r in anyone.resolution.answer] == ["192.0.2.50"]
