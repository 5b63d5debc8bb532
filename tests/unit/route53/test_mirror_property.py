"""A property over generated configs: for failover, geo (with CIDR rules) and proximity services over 2 to 4 regions, any set of
regions down and clients on every continent, the mirrored tree (run through the Route53 answer simulator)
answers what gtm's own steering answers. The regions sit at their AWS regions' places, so that the simulator's
stand-in for latency (distance to the AWS region) ranks them as gtm's proximity does."""
from __future__ import annotations

import ipaddress
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gtm import steering
from gtm.config import load
from gtm.model import GeoInfo, HealthSnapshot, Location
from gtm.model.effective import Overrides
from gtm.route53.desired import desired
from gtm.route53.simulate import AWS_LOCATIONS, ClientGeo, latency_order, simulate
from gtm.state.overrides import apply

REGIONS = {  # name: (aws_region, endpoint); each region at its AWS region's place
    "use": ("us-east-1", "13.1.0.10"), "usw": ("us-west-2", "13.2.0.10"), "euw": ("eu-west-1", "13.3.0.10"),
    "euc": ("eu-central-1", "13.4.0.10"), "aps": ("ap-southeast-1", "13.5.0.10"),
    "apn": ("ap-northeast-1", "13.6.0.10"), "sae": ("sa-east-1", "13.7.0.10"), "afs": ("af-south-1", "13.8.0.10"),
}
CLIENTS = {  # (continent, country, lat, lon)
    "berlin": ("EU", "DE", 52.5, 13.4), "dublin": ("EU", "IE", 53.3, -6.3), "new-york": ("NA", "US", 40.7, -74.0),
    "seattle": ("NA", "US", 47.6, -122.3), "sao-paulo": ("SA", "BR", -23.5, -46.6), "lagos": ("AF", "NG", 6.5, 3.4),
    "tokyo": ("AS", "JP", 35.7, 139.7), "mumbai": ("AS", "IN", 19.1, 72.9), "sydney": ("OC", "AU", -33.9, 151.2),
    "kabul": ("AS", "AF", 34.5, 69.2), "windhoek": ("AF", "NA", -22.6, 17.1),
}
MATCHES = [("continent", c) for c in ("EU", "NA", "SA", "AF", "AS", "OC")] + \
          [("country", c) for c in ("DE", "US", "BR", "JP", "AF", "NA", "AU")] + \
          [("cidr", c) for c in ("13.200.0.0/16", "13.201.0.0/20", "2600:1f18::/32")]  # (disjoint: see the loader)
# Client addresses (each place asks from each, and without one): inside each CIDR rule, and outside all of them.
ADDRESSES = (None, "13.200.9.9", "13.201.0.5", "13.201.200.1", "2600:1f18::1", "13.99.0.1")


@st.composite
def worlds(draw: st.DrawFn) -> tuple[str, str, frozenset[str]]:
    names = draw(st.lists(st.sampled_from(sorted(REGIONS)), min_size=2, max_size=4, unique=True))
    kind = draw(st.sampled_from(["failover", "geo", "proximity"]))
    order = draw(st.permutations(names))
    lines = []
    for n in names:
        aws, address = REGIONS[n]
        lat, lon = AWS_LOCATIONS[aws]
        lines.append(f"  {n}: {{location: {{lat: {lat}, lon: {lon}}}, aws_region: {aws}, endpoints: [{address}]}}")
    policy = kind
    if kind == "geo":
        rules = draw(st.lists(st.sampled_from(MATCHES), min_size=1, max_size=4, unique=True))
        body = []
        for what, code in rules:
            regions = draw(st.lists(st.sampled_from(names), min_size=1, max_size=len(names), unique=True))
            body.append(f"{{{what}: {code}, regions: [{', '.join(regions)}]}}")
        policy = f"{{type: geo, rules: [{', '.join(body)}], default: [{', '.join(order)}]}}"
    config = ("zone: p.test\nsoa: {}\nns: [ns1]\nrecords: {ns1: {A: 13.0.0.53}}\nregions:\n" + "\n".join(lines) +
              "\nmonitors:\n  web: {type: http, port: 80, path: /h, interval: 10, rise: 3, fall: 3}\n"
              f"services:\n  svc: {{regions: [{', '.join(order)}], monitor: web, policy: {policy}}}\n")
    down = frozenset(draw(st.lists(st.sampled_from(names), max_size=len(names), unique=True)))
    return config, kind, down


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_the_mirror_answers_what_gtm_answers(world: tuple[str, str, frozenset[str]]) -> None:
    text, kind, down = world
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "p.yaml").write_text(text)
        config = load([d])
    want = desired(config, "p.test", "t")
    svc = config.services[0]
    health = apply(Overrides(), HealthSnapshot(down_checks=frozenset(
        ("web", r, str(e.address)) for r in down for e in config.regions[r].endpoints)), config.services)
    observed = {f"ep:web:{r}:{e.address}": r not in down for r in svc.regions for e in config.regions[r].endpoints}
    aws = [config.regions[r].aws_region for r in svc.regions]
    for place, (continent, country, lat, lon) in CLIENTS.items():
        geo = GeoInfo(True, continent, country, (), Location(lat, lon))
        for address in ADDRESSES if kind == "geo" else (None,):
            ip = ipaddress.ip_address(address) if address else None
            ours = steering.decide(svc, steering.Client(ip, ip.max_prefixlen if ip else 0, geo), config, health)
            theirs = simulate(want, observed, "svc.p.test.", "A", geo=ClientGeo(continent, country, address=address),
                              latency_region=latency_order(lat, lon, aws) if kind == "proximity" else None)
            assert set(theirs.addresses) == set(ours.a), (place, address, kind, sorted(down), ours.regions, text,
                                                          theirs.trail)
