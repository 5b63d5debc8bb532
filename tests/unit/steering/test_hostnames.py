"""Hostname endpoints in steering and in the answer tables, on plain values: a name's addresses are answered
(flattened) while it resolves, the region is down while it does not, the failure policy decides once it has
failed, fail_open falls back on the last addresses; ``answer_as: cname`` answers the chosen region's name and
follows it into our own zones."""
from __future__ import annotations

import ipaddress
from types import MappingProxyType

import dns.message
import dns.rdatatype
import pytest

from gtm import steering
from gtm.dns.table import Table
from gtm.model import (
    A, AAAA, Endpoint, FailoverPolicy, HealthSnapshot, Location, OnResolveFailure, Rdata, Region, RRset, SOA, NS, Zone,
)
from gtm.model.effective import Overrides
from gtm.model.names import FAILED, OK, STALE, UNRESOLVED, Lookup, Names
from gtm.serving import Snapshot
from tests.unit.steering.world import VANTAGES, config, service

ALB = "my-alb-1.eu-west-1.elb.amazonaws.com"
EU = Region("eu", Location(53.35, -6.26), (Endpoint(hostname=ALB),))
US = Region("us", Location(39.0, -77.5), (Endpoint(ipaddress.ip_address("192.0.2.10")),))


def names(state: str = OK, v4: tuple[str, ...] = ("198.51.100.7", "198.51.100.8"),
          v6: tuple[str, ...] = ("2001:db8:7::1",)) -> Names:
    return Names(MappingProxyType({ALB: Lookup(v4, v6, state)}))


def decide(nm: Names, keep: bool = False, down: tuple[str, ...] = (), **kw: object) -> steering.Decision:
    svc = service(("eu", "us"), FailoverPolicy(), **kw)  # type: ignore[arg-type]
    regions = (EU if not keep else Region("eu", EU.location, EU.endpoints, on_resolve_failure=OnResolveFailure.KEEP), US)
    cfg = config(regions, VANTAGES, (svc,))
    health = HealthSnapshot(down_endpoints=frozenset(tuple(d.split("/", 1)) for d in down))  # type: ignore[misc]
    snap = Snapshot.first(cfg, health, None, Overrides(), nm)
    return steering.decide(svc, steering.Client(), cfg, snap.effective)


def test_a_resolved_name_is_answered_with_its_addresses_of_each_family() -> None:
    d = decide(names())
    assert (d.a, d.aaaa, d.regions) == (("198.51.100.7", "198.51.100.8"), ("2001:db8:7::1",), ("eu",))
    assert decide(names(STALE)).a == ("198.51.100.7", "198.51.100.8")  # stale within stale_for: still answered


def test_a_name_without_addresses_of_a_family_spills_that_family_over() -> None:
    d = decide(names(v6=()))
    assert d.a == ("198.51.100.7", "198.51.100.8") and d.aaaa == () and d.regions == ("eu",)


@pytest.mark.parametrize("state", [UNRESOLVED, FAILED])
def test_a_name_that_does_not_resolve_takes_its_region_down(state: str) -> None:
    d = decide(names(state))
    assert (d.a, d.regions, d.mode) == (("192.0.2.10",), ("us",), "normal")
    assert "down: eu" in d.trail


def test_keep_answers_the_last_addresses_of_a_failed_name() -> None:
    assert decide(names(FAILED), keep=True).a == ("198.51.100.7", "198.51.100.8")
    # The service's own setting wins over its region's and the default.
    assert decide(names(FAILED), keep=True, on_resolve_failure=OnResolveFailure.DOWN).a == ("192.0.2.10",)
    assert decide(names(FAILED), on_resolve_failure=OnResolveFailure.KEEP).a == ("198.51.100.7", "198.51.100.8")


def test_fail_open_answers_a_failed_names_last_addresses_when_every_region_is_down() -> None:
    d = decide(names(FAILED), down=("us/192.0.2.10",))
    assert (d.mode, d.a, d.regions) == ("fail_open", ("198.51.100.7", "198.51.100.8"), ("eu",))
    d = decide(names(UNRESOLVED, (), ()), down=("us/192.0.2.10",))  # never resolved: no address to fall back on
    assert (d.mode, d.a, d.regions) == ("fail_open", ("192.0.2.10",), ("us",))


def test_the_hostname_endpoint_is_named_by_its_hostname_in_health_and_overrides() -> None:
    d = decide(names(), down=(f"eu/{ALB}",))
    assert d.regions == ("us",)


def test_cname_answers_the_chosen_regions_hostname() -> None:
    d = decide(names(), answer_as="cname")
    assert d.cname == ALB and (d.a, d.aaaa, d.regions) == ((), (), ("eu",))
    d = decide(names(FAILED), answer_as="cname")  # eu's name failed: us has no hostname, so addresses
    assert d.cname is None and d.a == ("192.0.2.10",)


# -- the answer tables ------------------------------------------------------------------------------------------
def zone(services: tuple[object, ...]) -> Zone:
    origin = "example.com."
    soa = RRset(origin, SOA, 3600, (Rdata(SOA, ("ns1.example.com.", "hostmaster.example.com.", 1, 3600, 900,
                                                 604800, 300)),))
    rrsets = {origin: {SOA: soa, NS: RRset(origin, NS, 3600, (Rdata(NS, ("ns1.example.com.",)),))},
              "ns1.example.com.": {A: RRset("ns1.example.com.", A, 3600, (Rdata(A, ("192.0.2.53",)),))},
              "edge.example.com.": {A: RRset("edge.example.com.", A, 60, (Rdata(A, ("192.0.2.99",)),))}}
    return Zone(origin, "test", MappingProxyType(rrsets), services)  # type: ignore[arg-type]


def ask(table: Table, name: str, rtype: str) -> dns.message.Message:
    from gtm.dns.server import Responder

    q = dns.message.make_query(name, rtype, use_edns=False)
    return dns.message.from_wire(Responder(table).answer(q.to_wire(), "192.0.2.1"))


def table_with(svc: object, regions: tuple[Region, ...], nm: Names) -> Table:
    cfg = config(regions, VANTAGES, ())
    from dataclasses import replace
    cfg = replace(cfg, zones={"example.com.": zone((svc,))})
    snap = Snapshot.first(cfg, names=nm)
    return snap.compile(None)


def test_a_cname_entry_follows_a_target_in_our_zone_and_leaves_others_to_the_resolver() -> None:
    edge = Region("edge", Location(50.0, 8.0), (Endpoint(hostname="edge.example.com"),))
    svc = service(("edge", "eu"), FailoverPolicy(), answer_as="cname")
    nm = Names(MappingProxyType({"edge.example.com": Lookup(("192.0.2.99",), (), OK), ALB: Lookup(("198.51.100.7",), (), OK)}))
    t = table_with(svc, (edge, EU), nm)
    r = ask(t, "www.example.com", "A")
    assert [(x.name.to_text(), dns.rdatatype.to_text(x.rdtype), [y.to_text() for y in x]) for x in r.answer] == [
        ("www.example.com.", "CNAME", ["edge.example.com."]), ("edge.example.com.", "A", ["192.0.2.99"])]
    assert r.answer[0].ttl == 30 and r.rcode() == 0
    r = ask(t, "www.example.com", "MX")  # the target has no MX: the CNAME, then NODATA's SOA
    assert [x.rdtype for x in r.answer] == [dns.rdatatype.CNAME] and r.authority[0].rdtype == dns.rdatatype.SOA
    r = ask(t, "www.example.com", "CNAME")  # asked for the CNAME itself: nothing followed
    assert [x.rdtype for x in r.answer] == [dns.rdatatype.CNAME] and not r.authority
    # The first region's name no longer resolves: the next region's name, outside our zones, stands alone.
    nm2 = Names(MappingProxyType({"edge.example.com": Lookup(("192.0.2.99",), (), FAILED), ALB: Lookup(("198.51.100.7",), (), OK)}))
    r = ask(table_with(svc, (edge, EU), nm2), "www.example.com", "AAAA")
    assert [(x.rdtype, x[0].to_text()) for x in r.answer] == [(dns.rdatatype.CNAME, ALB + ".")]


def test_flattened_entries_carry_the_resolved_addresses() -> None:
    svc = service(("eu", "us"), FailoverPolicy())
    r = ask(table_with(svc, (EU, US), names()), "www.example.com", "AAAA")
    assert [x.to_text() for x in r.answer[0]] == ["2001:db8:7::1"]
    r = ask(table_with(svc, (EU, US), names(UNRESOLVED)), "www.example.com", "A")
    assert [x.to_text() for x in r.answer[0]] == ["192.0.2.10"]


def test_an_override_names_a_hostname_endpoint_by_region_and_hostname(tmp_path: object) -> None:
    """``gtm override drain eu/<hostname>``: the target is parsed against the config, and the drain takes the
    endpoint (all its addresses) out."""
    from gtm.errors import GtmError
    from gtm.model import Force
    from gtm.state.overrides import parse_target

    svc = service(("eu", "us"), FailoverPolicy())
    cfg = config((EU, US), VANTAGES, (svc,))
    assert parse_target(cfg, f"eu/{ALB.upper()}.") == ("eu", ALB)
    assert parse_target(cfg, ALB) == ("eu", ALB)
    with pytest.raises(GtmError, match="region us has no endpoint lb.example.net; it has 192.0.2.10"):
        parse_target(cfg, "us/lb.example.net")
    snap = Snapshot.first(cfg, names=names(), overrides=Overrides((Force("drain", "eu", ALB),)))
    d = steering.decide(svc, steering.Client(), cfg, snap.effective)
    assert d.regions == ("us",) and d.a == ("192.0.2.10",)


def test_an_address_judged_down_on_its_own_leaves_the_flattened_answer() -> None:
    """``probe: addresses``: the verdict of one address (HOSTNAME/ADDRESS) takes that address out, the rest of
    the name's addresses stay; every address down takes the region down."""
    d = decide(names(), down=(f"eu/{ALB}/198.51.100.7",))
    assert (d.a, d.aaaa, d.regions) == (("198.51.100.8",), ("2001:db8:7::1",), ("eu",))
    d = decide(names(v6=()), down=(f"eu/{ALB}/198.51.100.7", f"eu/{ALB}/198.51.100.8"))
    assert d.regions == ("us",) and d.a == ("192.0.2.10",)


def test_a_cname_target_below_a_delegation_is_left_to_the_resolver() -> None:
    """The CNAME's target lies in a delegated subzone: the answer is the CNAME alone, not a referral tucked
    into an authoritative answer."""
    from dataclasses import replace

    svc = service(("edge",), FailoverPolicy(), answer_as="cname")
    edge = Region("edge", Location(50.0, 8.0), (Endpoint(hostname="lb.del.example.com"),))
    z = zone((svc,))
    rrsets = dict(z.rrsets)
    rrsets["del.example.com."] = {NS: RRset("del.example.com.", NS, 3600, (Rdata(NS, ("ns.elsewhere.net.",)),))}
    cfg = replace(config((edge,), VANTAGES, ()), zones={"example.com.": replace(z, rrsets=MappingProxyType(rrsets))})
    nm = Names(MappingProxyType({"lb.del.example.com": Lookup(("192.0.2.5",), (), OK)}))
    r = ask(Snapshot.first(cfg, names=nm).compile(None), "www.example.com", "A")
    assert [(x.rdtype, x[0].to_text()) for x in r.answer] == [(dns.rdatatype.CNAME, "lb.del.example.com.")]
    assert not r.authority and r.rcode() == 0
