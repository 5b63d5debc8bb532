"""`gtm explain PATH NAME --client IP[/LEN] [--type A|AAAA] [--health FILE] [--json]`, run as a command on the
steering fixture (tests/fixtures/steering/), checked against what a real `gtm serve` answers the same ECS
client under the same health file."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from gtm import steering
from tests.conftest import ROOT, GtmProcess
from tests.conftest import run_gtm as gtm
from tests.support.steering_world import (
    HEALTH_DOWN, HEALTH_RTT, HEALTH_RTT_UNSTICKY, OUTSIDE_V4, PLACES, addresses, ask, build_config, regions, scope,
    serve,
)


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_config(tmp_path_factory.mktemp("explain"))


@pytest.fixture(scope="module")
def srv(cfg: Path) -> Iterator[GtmProcess]:
    yield from serve(cfg, "--health", HEALTH_RTT)


def explain(cfg: Path, name: str, client: str | None = None, rdtype: str = "A", health: Path | None = None,
            *, as_json: bool = False) -> Any:
    args: list[str | Path] = ["explain", cfg, name]
    if client is not None:
        args += ["--client", client]
    args += ["--type", rdtype]
    args += ["--health", health] if health is not None else ["--offline"]  # (the files, not a node)
    if as_json:
        args.append("--json")
    done = gtm(*args)
    assert done.returncode == 0, done.stderr
    if as_json:
        return json.loads(done.stdout)
    first, _, rest = done.stdout.partition("\n")
    assert first.startswith("from the files"), first
    return rest


def fqdn(service: str) -> str:
    return f"{service}.steer.test"


# -- text -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("client, rule, answer, want_scope", [
    ("31.10.130.0/24", "rule asn 64501", "192.0.2.12", 18),
    ("31.10.1.0/24", "rule subdivision DE-BY", "192.0.2.11", 17),
    ("31.10.250.0/24", "rule cidr 31.10.250.0/24", "192.0.2.22, 192.0.2.21", 24),
    ("64.10.3.0/24", "rule subdivision US-CA", "192.0.2.31", 16),
    ("51.10.7.0/24", "rule country GB", "192.0.2.12", 16),
    ("37.10.5.0/24", "rule continent EU", "192.0.2.11", 16),
    (OUTSIDE_V4, "no rule matched; default", "192.0.2.22, 192.0.2.21", None),
])
def test_text_names_the_rule_and_the_answer(cfg: Path, client: str, rule: str, answer: str,
                                            want_scope: int | None) -> None:
    out = explain(cfg, fqdn("geo"), client)
    assert out.startswith(f"geo.steer.test. A for {client} (")
    assert f"policy geo, class '{rule}'" in out
    assert f"(geo: {steering.POLICIES['geo'].summary})" in out  # what the policy does, from its registry entry
    assert f"geo: {rule} -> " in out
    assert f"\nanswer: {answer}  (TTL 30, mode normal)\n" in out
    if want_scope is not None:
        assert f"\nECS scope: /{want_scope}\n" in out


def test_text_for_a_source_address_client(cfg: Path) -> None:
    """A bare IP is the resolver's source address: the scope is only sent to ECS queries."""
    out = explain(cfg, fqdn("near"), "64.10.3.1")
    assert "near.steer.test. A for 64.10.3.1/32 (NA US US-CA" in out
    assert "answer: 192.0.2.31" in out
    assert "ECS scope: /16 (only sent to ECS queries)" in out


def test_text_for_a_static_name(cfg: Path) -> None:
    out = explain(cfg, "ns1.steer.test", "64.10.3.0/24")
    assert "static data of zone steer.test." in out and "192.0.2.53" in out


def test_json_for_names_that_are_not_managed(cfg: Path) -> None:
    """The JSON carries the rcode: NXDOMAIN inside the zone, REFUSED outside every zone."""
    nx = explain(cfg, "nope.steer.test", "64.10.3.0/24", as_json=True)
    assert (nx["managed"], nx["rcode"], nx["zone"], nx["answer"]) == (False, 3, "steer.test.", [])
    refused = explain(cfg, "www.example.org", "64.10.3.0/24", as_json=True)
    assert (refused["managed"], refused["rcode"], refused["zone"]) == (False, 5, None)


@pytest.mark.parametrize("name, rcode", [("nope.steer.test", "NXDOMAIN"), ("www.example.org", "REFUSED")])
def test_text_for_a_name_the_server_does_not_answer_says_so(cfg: Path, name: str, rcode: str) -> None:
    out = explain(cfg, name, "64.10.3.0/24")
    assert "zone None" not in out
    assert rcode in out, out


# -- JSON, against the server ---------------------------------------------------------------------------------
CASES = [
    ("geo", "A", PLACES["munich"].v4_client),
    ("geo", "A", "31.10.130.0/24"),
    ("geo", "A", "31.10.250.0/25"),
    ("geo", "AAAA", "2a01:100:8001::/48"),
    ("geo", "AAAA", PLACES["sydney"].v6_client),
    ("geo", "A", OUTSIDE_V4),
    ("geo", "A", "0.0.0.0/0"),
    ("near", "A", PLACES["saopaulo"].v4_client),
    ("nearb", "A", PLACES["paris"].v4_client),
    ("nearb", "AAAA", PLACES["sydney"].v6_client),
    ("fast", "A", PLACES["munich"].v4_client),
    ("fast", "A", PLACES["nyc"].v4_client),
    ("fast", "AAAA", PLACES["sf"].v6_client),
    ("fo", "A", PLACES["singapore"].v4_client),
    ("wa", "A", "198.51.3.0/24"),
    ("wa", "AAAA", "2001:db8:aa00::/56"),
    ("multi", "A", PLACES["nyc"].v4_client),
    ("multi", "AAAA", PLACES["nyc"].v4_client),
    ("multi", "AAAA", PLACES["london"].v6_client),
]


@pytest.mark.parametrize("service, rdtype, client", CASES)
def test_json_agrees_with_the_server(cfg: Path, srv: GtmProcess, service: str, rdtype: str, client: str) -> None:
    """`answer` and `ecs_scope` are what the server replies to the same ECS client; `regions` is ranked as the
    server answers (the answer's regions are the first regions that are up)."""
    info = explain(cfg, fqdn(service), client, rdtype, HEALTH_RTT, as_json=True)
    resp = ask(srv.port, service, rdtype, client)
    assert info["managed"] is True and info["service"] == service
    assert info["client"]["ecs"] is True
    assert info["client"]["network"] == (None if client.endswith("/0") else client)  # SOURCE 0: unknown client
    assert info["answer"] == addresses(resp)
    assert info["ecs_scope"] == scope(resp)
    served = regions(resp)
    ranked_up = [r["name"] for r in info["regions"] if r["up"]]
    assert ranked_up[:len(served)] == served
    assert info["mode"] == "normal"


def test_json_shows_why(cfg: Path) -> None:
    """The client's location and database network, distances and RTTs per region, and the trail."""
    info = explain(cfg, fqdn("fast"), PLACES["nyc"].v4_client, health=HEALTH_RTT, as_json=True)
    assert info["policy"] == "latency"
    c = info["client"]
    assert (c["continent"], c["country"], c["subdivisions"], c["database_network_prefix"]) == ("NA", "US", ["US-NY"], 16)
    assert [r["name"] for r in info["regions"]][:3] == ["us-east", "us-west", "eu-west"]
    first = info["regions"][0]
    assert first["rtt_ms"] == {"vantage": "virginia", "ms": 20.0}
    assert 300 < first["distance_km"] < 400
    assert any("keeps us-east" in step for step in info["trail"])


def test_json_weighted_draw_is_flagged(cfg: Path) -> None:
    info = explain(cfg, fqdn("wr"), PLACES["paris"].v4_client, as_json=True)
    assert info["weights"] == {"us-east": 3, "eu-central": 1}
    assert "drawn per query" in info["note"]
    assert info["ecs_scope"] == 0


def test_json_agrees_with_the_server_on_the_bundled_example(gtm_server) -> None:  # type: ignore[no-untyped-def]
    """zones/ with the embedded GeoLite2 City database: the issue's two clients, explained and asked."""
    srv = gtm_server(ROOT / "zones")
    seen = []
    for client in ("81.2.69.0/24", "8.8.8.0/24"):
        info = explain(ROOT / "zones", "www.example.com", client, as_json=True)
        resp = ask(srv.port, "www.example.com.", "A", client)
        assert info["answer"] == addresses(resp) and info["ecs_scope"] == scope(resp) > 0
        seen.append(info["regions"][0]["name"])
    assert seen == ["eu-west", "us-east"]


# -- --health -------------------------------------------------------------------------------------------------
def test_health_file_changes_the_answer(cfg: Path) -> None:
    """The latency service's sticky choice (health-rtt.yaml) against none (health-rtt-unsticky.yaml: the fastest
    wins), and a region down (health-down.yaml) against everything up."""
    nyc = PLACES["nyc"].v4_client
    assert explain(cfg, fqdn("fast"), nyc, health=HEALTH_RTT, as_json=True)["answer"] == ["192.0.2.22", "192.0.2.21"]
    assert explain(cfg, fqdn("fast"), nyc, health=HEALTH_RTT_UNSTICKY, as_json=True)["answer"] == ["192.0.2.31"]
    # no health file: no RTTs, so proximity
    assert explain(cfg, fqdn("fast"), PLACES["munich"].v4_client, as_json=True)["answer"] == ["192.0.2.11"]

    sf = PLACES["sf"].v4_client
    up = explain(cfg, fqdn("geo"), sf, as_json=True)
    assert up["answer"] == ["192.0.2.31"]
    down = explain(cfg, fqdn("geo"), sf, health=HEALTH_DOWN, as_json=True)
    assert down["answer"] == ["192.0.2.22"]        # us-west down, and us-east's 192.0.2.21
    assert [(r["name"], r["up"]) for r in down["regions"]][:2] == [("us-west", False), ("us-east", True)]
    assert {e["address"]: e["up"] for e in down["regions"][1]["endpoints"]}["192.0.2.21"] is False
    assert any(step.startswith("down: us-west") for step in down["trail"])


def test_health_file_with_every_region_down_shows_the_fail_mode(cfg: Path) -> None:
    from tests.support.steering_world import HEALTH_ALL_DOWN

    closed = explain(cfg, fqdn("fclosed"), PLACES["paris"].v4_client, health=HEALTH_ALL_DOWN, as_json=True)
    assert closed["mode"] == "fail_closed" and closed["answer"] == []
    text = explain(cfg, fqdn("fclosed"), PLACES["paris"].v4_client, health=HEALTH_ALL_DOWN)
    assert "no addresses (NODATA)" in text
    static = explain(cfg, fqdn("fstatic"), None, "AAAA", HEALTH_ALL_DOWN, as_json=True)
    assert static["mode"] == "static" and static["answer"] == ["2001:db8::99"]


# -- errors ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("client", ["1.2.3", "31.10.1.0/33", "2001:db8::/129", ""])
def test_bad_client_is_a_one_line_error(cfg: Path, client: str) -> None:
    """A usage error, found before any node is asked (whatever listens on the default admin address)."""
    done = gtm("explain", cfg, fqdn("geo"), "--client", client)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and "--client" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("rdtype", ["MX", "BOGUS", ""])
def test_unknown_type_is_a_one_line_error(cfg: Path, rdtype: str) -> None:
    done = gtm("explain", cfg, fqdn("geo"), "--client", "31.10.1.0/24", "--type", rdtype)
    assert done.returncode in (1, 2), (done.stdout, done.stderr)
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and "--type" in done.stderr, done.stderr


def test_bad_health_file_is_reported_like_a_config_problem(cfg: Path, tmp_path: Path) -> None:
    bad = tmp_path / "health.yaml"
    bad.write_text("down: [eu-centre]\n")
    done = gtm("explain", cfg, fqdn("geo"), "--client", "31.10.1.0/24", "--health", bad)
    assert done.returncode == 1 and done.stdout == ""
    lines = done.stderr.splitlines()
    assert lines[-1] == "gtm: 1 problem found"
    assert lines[0].startswith(f"{bad}:1: down[0]: unknown region"), lines


def test_explain_asks_the_live_node_by_default_and_says_so(tmp_path: Path) -> None:
    """Before: `gtm explain` explained from the files: after a region failed, it still said it was up while
    dig got the other one. Now it asks the node (its live table), and falls back to the files only when no
    node answers, saying which it used."""
    from tests.support.admin_node import APP, ENDPOINTS, all_obs, running_node, write_node

    with running_node(write_node(tmp_path)) as node:
        node.send("frankfurt", all_obs(up=["us-east"], down=["eu-west"]))
        assert {rr.address for rrset in node.query(APP).answer for rr in rrset} == set(ENDPOINTS["us-east"])
        live = gtm("explain", tmp_path, APP, "--client", "81.2.69.0/24", "--node", node.url)
        assert live.returncode == 0, live.stderr
        assert live.stdout.startswith(f"from the node at {node.url} (its live health and overrides)"), live.stdout
        assert f"answer: {ENDPOINTS['us-east'][0]}" in live.stdout and "eu-west" in live.stdout
        offline = gtm("explain", tmp_path, APP, "--client", "81.2.69.0/24", "--offline")
        assert f"answer: {', '.join(ENDPOINTS['eu-west'])}" in offline.stdout  # the files: everything up
    # no node at --node: an error, not a silent fall back
    gone = gtm("explain", tmp_path, APP, "--node", node.url)
    assert gone.returncode == 1 and "no node answers at" in gone.stderr, gone.stderr
