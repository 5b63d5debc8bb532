"""Hostname endpoints against a real upstream: a second gtm serves the load balancers' names on loopback, and
the server under test resolves them through it (``resolvers.servers``). Its answers follow a changed address
within the bounded TTL; a name the upstream says is gone (NXDOMAIN) fails at once, while an upstream that
stops answering (timeouts) leaves the last addresses in use for ``stale_for``, then the failure policy
applies: ``down`` takes the region out, ``keep`` keeps answering. ``answer_as: cname`` answers a CNAME to the
chosen region's name, follows it into our own zones, and keeps the ECS scope. /v1/status shows each name."""
from __future__ import annotations

import json
from contextlib import contextmanager
import signal
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator

import dns.edns
import dns.message
import dns.query
import dns.rdatatype
import pytest

from tests.conftest import GtmProcess

UPSTREAM = """\
zone: lb.test
ttl: 1
soa: {{mname: ns.lb.test., rname: hostmaster.lb.test., serial: 1, refresh: 60, retry: 60, expire: 600, minimum: 1}}
ns: [ns]
records:
  ns: {{A: 127.0.0.53}}
{names}
"""

SERVER = """\
zone: example.test
soa: {{}}
ns: [ns1]
records:
  ns1: {{A: 192.0.2.53}}
  edge: {{A: 192.0.2.99}}
admin: {{listen: "127.0.0.1:0"}}
resolvers: {{servers: ["127.0.0.1:{port}"], min_ttl: 1, max_ttl: 1, stale_for: 6, timeout: 0.4, retry: 0.5}}
regions:
  eu: {{location: {{lat: 50.1, lon: 8.7}}, endpoints: [{{hostname: alb-eu.lb.test}}]}}
  us: {{location: {{lat: 39.0, lon: -77.5}}, endpoints: [192.0.2.10]}}
  edge: {{location: {{lat: 50.1, lon: 8.7}}, endpoints: [{{hostname: edge.example.test}}]}}
  us-lb: {{location: {{lat: 39.0, lon: -77.5}}, endpoints: [{{hostname: alb-us.lb.test}}]}}
services:
  www: {{regions: [eu, us], ttl: 5}}
  api: {{regions: [eu, us], ttl: 5, on_resolve_failure: keep}}
  cdn:
    regions: [edge, us-lb, eu]
    ttl: 20
    answer_as: cname
    policy:
      type: geo
      rules: [{{continent: NA, regions: [us-lb, eu]}}]
      default: [edge, us-lb]
"""


def upstream_zone(path: Path, eu: str | None, us: str = "127.0.0.30") -> None:
    names = [f"  alb-us: {{A: {us}}}"]
    if eu is not None:
        names.append(f"  alb-eu: {{A: [{eu}], AAAA: '2001:db8:e::1'}}")
    path.write_text(UPSTREAM.format(names="\n".join(names)))


def ask(port: int, name: str, rtype: str = "A", ecs: str | None = None) -> dns.message.Message:
    q = dns.message.make_query(name, rtype, use_edns=0 if ecs else None,
                               options=[dns.edns.ECSOption.from_text(ecs)] if ecs else None)
    return dns.query.udp(q, "127.0.0.1", port=port, timeout=2)


def addresses(port: int, name: str, rtype: str = "A") -> list[str]:
    r = ask(port, name, rtype)
    return sorted(rd.to_text() for rrset in r.answer if rrset.rdtype == dns.rdatatype.from_text(rtype) for rd in rrset)


def until(check: Callable[[], Any], timeout: float, what: str) -> float:
    """Seconds until ``check()`` is true (polled every 50 ms); fails after ``timeout``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {what}")


def status(server: GtmProcess) -> dict[str, Any]:
    with urllib.request.urlopen(server.admin + "/v1/status", timeout=5) as resp:
        return {h["hostname"]: h for h in json.loads(resp.read())["hostnames"]}


Pair = tuple[GtmProcess, GtmProcess, Path]


@contextmanager
def serving(tmp_path: Path, workers: int = 0) -> Iterator[Pair]:
    """The upstream (serving lb.test from ``zone``, which a test may rewrite and reload) and the server under
    test (``workers`` worker processes), resolving through it; both stopped afterwards, and the server's log must
    hold no traceback."""
    up_dir, dir_ = tmp_path / "up", tmp_path / "gtm"
    up_dir.mkdir()
    dir_.mkdir()
    zone = up_dir / "lb.test.yaml"
    upstream_zone(zone, "127.0.0.21")
    upstream = GtmProcess([str(zone)], up_dir)
    server = None
    try:
        (dir_ / "example.test.yaml").write_text(SERVER.format(port=upstream.port))
        server = GtmProcess([str(dir_)], dir_, workers=workers)
        yield upstream, server, zone
    finally:
        upstream.stop()
        if server is not None:
            server.stop()
    assert server is not None and not [line for line in server.lines if "Traceback" in line], server.log


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    with serving(tmp_path) as p:
        yield p


def test_answers_follow_the_upstream_and_each_failure_gets_its_policy(pair: Pair) -> None:
    upstream, server, zone = pair
    # Resolved before the first answer: flattened, both families.
    assert addresses(server.port, "www.example.test") == ["127.0.0.21"]
    assert addresses(server.port, "www.example.test", "AAAA") == ["2001:db8:e::1"]
    names = status(server)
    assert names["alb-eu.lb.test"]["state"] == "ok" and names["alb-eu.lb.test"]["addresses"] == [
        "127.0.0.21", "2001:db8:e::1"]

    # The upstream changes the address: answers follow within max_ttl (1 s) and a lookup.
    upstream_zone(zone, "127.0.0.22")
    upstream.signal(signal.SIGHUP)
    took = until(lambda: addresses(server.port, "www.example.test") == ["127.0.0.22"], 6, "the new address")
    assert took < 4

    # NXDOMAIN: an answer, not an outage. The name fails at once (well within stale_for, 6 s): www (down)
    # answers us, api (keep) the last addresses.
    upstream_zone(zone, None)
    upstream.signal(signal.SIGHUP)
    took = until(lambda: addresses(server.port, "www.example.test") == ["192.0.2.10"], 5, "www failed over")
    assert took < 4
    assert addresses(server.port, "api.example.test") == ["127.0.0.22"]
    names = status(server)
    assert (names["alb-eu.lb.test"]["state"], names["alb-eu.lb.test"]["error"]) == ("failed", "nxdomain")

    # Back again.
    upstream_zone(zone, "127.0.0.23")
    upstream.signal(signal.SIGHUP)
    until(lambda: addresses(server.port, "www.example.test") == ["127.0.0.23"], 6, "the name back")

    # The upstream goes away: timeouts. The last addresses stand for stale_for (6 s since the last good
    # answer), then www (down) fails over and api (keep) goes on with them.
    upstream.stop()
    stopped = time.monotonic()
    until(lambda: status(server)["alb-eu.lb.test"]["error"] == "timeout", 4, "a timeout seen")
    names = status(server)
    assert names["alb-eu.lb.test"]["state"] == "stale"
    assert addresses(server.port, "www.example.test") == ["127.0.0.23"]
    until(lambda: addresses(server.port, "www.example.test") == ["192.0.2.10"], 10, "www failed over")
    assert time.monotonic() - stopped >= 4  # not before stale_for ran out (6 s after the last answer)
    assert addresses(server.port, "api.example.test") == ["127.0.0.23"]
    assert status(server)["alb-eu.lb.test"]["state"] == "failed"


def test_cname_answers_follow_the_chain_rules_and_keep_the_ecs_scope(pair: Pair) -> None:
    _, server, _ = pair
    # A client in Europe (ECS): the default rule, edge first, whose name is a static A record of our own
    # zone (resolved from it, not through the upstream): the CNAME, then the target's address, with the
    # service's TTL on the CNAME and the ECS scope set.
    r = ask(server.port, "cdn.example.test", "A", ecs="85.214.132.0/24")
    assert [(x.name.to_text(), x.rdtype, [y.to_text() for y in x]) for x in r.answer] == [
        ("cdn.example.test.", dns.rdatatype.CNAME, ["edge.example.test."]),
        ("edge.example.test.", dns.rdatatype.A, ["192.0.2.99"])]
    assert r.answer[0].ttl == 20
    opt = [o for o in r.options if isinstance(o, dns.edns.ECSOption)]
    assert opt and opt[0].scopelen > 0
    # A North American client: the NA rule's first region, us-lb, whose name is outside our zones: the
    # CNAME alone, for the client's resolver to follow; any type of question gets it.
    r = ask(server.port, "cdn.example.test", "A", ecs="8.8.8.0/24")
    assert [(x.rdtype, [y.to_text() for y in x]) for x in r.answer] == [(dns.rdatatype.CNAME, ["alb-us.lb.test."])]
    r = ask(server.port, "cdn.example.test", "TXT", ecs="8.8.8.0/24")
    assert [(x.rdtype, x[0].to_text()) for x in r.answer] == [(dns.rdatatype.CNAME, "alb-us.lb.test.")]
    r = ask(server.port, "cdn.example.test", "CNAME")
    assert [x.rdtype for x in r.answer] == [dns.rdatatype.CNAME] and r.rcode() == 0


def test_worker_processes_answer_with_the_addresses_the_control_process_resolved(tmp_path: Path) -> None:
    """With a worker process answering, a changed address reaches it like a health change does (the names are
    part of the snapshot shipped to workers)."""
    with serving(tmp_path, workers=1) as (upstream, server, zone):
        assert addresses(server.port, "www.example.test") == ["127.0.0.21"]
        upstream_zone(zone, "127.0.0.24")
        upstream.signal(signal.SIGHUP)
        until(lambda: addresses(server.port, "www.example.test") == ["127.0.0.24"], 6, "the worker's answer")
