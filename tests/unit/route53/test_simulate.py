"""The Route53 answer simulator on small hand-built trees: health-check evaluation (CALCULATED, Inverted,
Disabled), every routing policy, fail open, aliases, the octoDNS 3-level tree and a region drain."""
from __future__ import annotations

from typing import Any

import pytest

from gtm.route53.model import Desired, HealthCheckSpec, RecordSpec
from gtm.route53.simulate import Answer, ClientGeo, health_states, resolve, simulate

Z = ".gtm.example.com."
API = "api" + Z


def rec(name: str, *values: str, **kw: Any) -> RecordSpec:
    if kw.get("alias") is None:
        kw.setdefault("ttl", 60)
    return RecordSpec(name=name, type=kw.pop("type", "A"), values=tuple(values), **kw)


def R(recs: list[RecordSpec], health: dict[str, bool], name: str, rtype: str, **kw: Any) -> Answer:
    """resolve() with every check the records name healthy unless ``health`` says otherwise."""
    full = {r.health_check: True for r in recs if r.health_check}
    return resolve(recs, {**full, **health}, name, rtype, **kw)


def ep(key: str) -> HealthCheckSpec:
    return HealthCheckSpec(key=key, type="HTTPS", ip="198.18.0.1", port=443)


def calc(key: str, children: tuple[str, ...], threshold: int, **kw: Any) -> HealthCheckSpec:
    return HealthCheckSpec(key=key, type="CALCULATED", children=children, health_threshold=threshold, **kw)


EU = ClientGeo("EU", "DE")
CA = ClientGeo("NA", "US", "CA")
TX = ClientGeo("NA", "US", "TX")
JP = ClientGeo("AS", "JP")


# --------------------------------------------------------------------------------------------- health states


def test_endpoint_checks_take_the_observation_and_default_to_healthy() -> None:
    assert health_states([ep("a"), ep("b")], {"b": False}) == {"a": True, "b": False}


def test_calculated_counts_healthy_children_against_the_threshold() -> None:
    checks = [ep("a"), ep("b"), ep("c"), calc("two-of-three", ("a", "b", "c"), 2)]
    assert health_states(checks, {"a": False})["two-of-three"] is True
    assert health_states(checks, {"a": False, "b": False})["two-of-three"] is False


def test_threshold_zero_is_always_healthy_and_above_the_child_count_never() -> None:
    checks = [ep("a"), calc("zero", ("a",), 0), calc("switch", (), 0), calc("too-high", ("a",), 2)]
    state = health_states(checks, {"a": False})
    assert state["zero"] is True and state["switch"] is True
    assert health_states(checks, {})["too-high"] is False


def test_inverted_flips_disabled_is_healthy_disabled_inverted_is_unhealthy() -> None:
    checks = [HealthCheckSpec("inv", "TCP", ip="198.18.0.1", port=1, inverted=True),
              HealthCheckSpec("dis", "TCP", ip="198.18.0.1", port=1, disabled=True),
              HealthCheckSpec("down", "TCP", ip="198.18.0.1", port=1, disabled=True, inverted=True)]
    assert health_states(checks, {"inv": False, "dis": False, "down": True}) == \
        {"inv": True, "dis": True, "down": False}
    assert health_states(checks, {"inv": True})["inv"] is False
    # a calculated check is Inverted/Disabled the same way
    sw = [calc("sw", (), 0, inverted=True), calc("sw2", (), 1, disabled=True)]
    assert health_states(sw, {}) == {"sw": False, "sw2": True}


def test_calculated_children_are_evaluated_first_whatever_the_order() -> None:
    checks = [calc("top", ("mid", "c"), 2), calc("mid", ("a", "b"), 1), ep("a"), ep("b"), ep("c")]
    assert health_states(checks, {"a": False})["top"] is True
    assert health_states(checks, {"a": False, "b": False})["top"] is False
    # the child's final (inverted) state is what the parent counts
    inv = [calc("top", ("x",), 1), HealthCheckSpec("x", "TCP", ip="198.18.0.1", port=1, inverted=True)]
    assert health_states(inv, {"x": True})["top"] is False


def test_cycles_unknown_children_and_bad_observations_are_rejected() -> None:
    with pytest.raises(ValueError, match="cycle: a -> b -> a"):
        health_states([calc("a", ("b",), 1), calc("b", ("a",), 1)], {})
    with pytest.raises(ValueError, match="unknown child 'nope'"):
        health_states([calc("a", ("nope",), 1)], {})
    with pytest.raises(ValueError, match="defined twice"):
        health_states([ep("a"), ep("a")], {})
    with pytest.raises(ValueError, match="unknown health check 'typo'"):
        health_states([ep("a")], {"typo": False})
    with pytest.raises(ValueError, match="CALCULATED"):
        health_states([calc("a", (), 0)], {"a": False})


# --------------------------------------------------------------------------------------------- simple, aliases


def test_simple_record_and_missing_name() -> None:
    recs = [rec("www" + Z, "192.0.2.1", "192.0.2.2")]
    ans = R(recs, {}, "WWW.gtm.example.com", "A")
    assert ans.addresses == ("192.0.2.1", "192.0.2.2") and ans.outcomes == ((ans.addresses, 1.0),)
    assert ans.healthy and not ans.failed_open
    empty = R(recs, {}, "nope" + Z, "A")
    assert empty.addresses == () and not empty.healthy and "no records" in empty.trail[0]
    assert R(recs, {}, "www" + Z, "AAAA").addresses == ()


def test_alias_is_followed_and_eth_takes_the_target_groups_health() -> None:
    recs = [rec("t" + Z, "192.0.2.9", set_id="t1", weight=1, health_check="h"),
            rec("eth" + Z, alias="t" + Z, evaluate_target_health=True, set_id="p", failover="PRIMARY"),
            rec("eth" + Z, "192.0.2.5", set_id="s", failover="SECONDARY"),
            rec("blind" + Z, alias="t" + Z, set_id="p", failover="PRIMARY"),
            rec("blind" + Z, "192.0.2.5", set_id="s", failover="SECONDARY")]
    assert R(recs, {"h": True}, "eth" + Z, "A").addresses == ("192.0.2.9",)
    assert R(recs, {"h": False}, "eth" + Z, "A").addresses == ("192.0.2.5",)
    # without EvaluateTargetHealth the alias is healthy, so PRIMARY stays (and its target fails open)
    blind = R(recs, {"h": False}, "blind" + Z, "A")
    assert blind.addresses == ("192.0.2.9",) and blind.failed_open
    assert not R(recs, {"h": False}, "t" + Z, "A").healthy


def test_record_with_check_and_evaluated_alias_needs_both() -> None:
    recs = [rec("t" + Z, "192.0.2.9"),
            rec("x" + Z, alias="t" + Z, evaluate_target_health=True, set_id="p", failover="PRIMARY",
                health_check="h"),
            rec("x" + Z, "192.0.2.5", set_id="s", failover="SECONDARY")]
    assert R(recs, {"h": True}, "x" + Z, "A").addresses == ("192.0.2.9",)
    assert R(recs, {"h": False}, "x" + Z, "A").addresses == ("192.0.2.5",)


def test_alias_loops_missing_targets_and_unknown_checks_raise() -> None:
    loop = [rec("a" + Z, alias="b" + Z), rec("b" + Z, alias="a" + Z)]
    with pytest.raises(ValueError, match="alias loop"):
        R(loop, {}, "a" + Z, "A")
    eth_loop = [rec("a" + Z, alias="b" + Z, evaluate_target_health=True, set_id="1", weight=1),
                rec("b" + Z, alias="a" + Z, evaluate_target_health=True, set_id="1", weight=1)]
    with pytest.raises(ValueError, match="alias loop"):
        R(eth_loop, {}, "a" + Z, "A")
    with pytest.raises(ValueError, match="does not exist"):
        R([rec("a" + Z, alias="gone" + Z)], {}, "a" + Z, "A")
    with pytest.raises(ValueError, match="unknown health check 'h'"):
        resolve([rec("a" + Z, "192.0.2.1", set_id="1", weight=1, health_check="h")], {}, "a" + Z, "A")


def test_mixed_policies_in_a_group_raise() -> None:
    recs = [rec("a" + Z, "192.0.2.1", set_id="1", weight=1), rec("a" + Z, "192.0.2.2", set_id="2", region="us-east-1")]
    with pytest.raises(ValueError, match="mixes routing policies"):
        R(recs, {}, "a" + Z, "A")


# --------------------------------------------------------------------------------------------- failover


FAILOVER = [rec("f" + Z, "192.0.2.1", set_id="p", failover="PRIMARY", health_check="p"),
            rec("f" + Z, "192.0.2.2", set_id="s", failover="SECONDARY", health_check="s")]


@pytest.mark.parametrize(("p", "s", "want"), [(True, True, "192.0.2.1"), (False, True, "192.0.2.2"),
                                               (True, False, "192.0.2.1"), (False, False, "192.0.2.1")])
def test_failover(p: bool, s: bool, want: str) -> None:
    ans = R(FAILOVER, {"p": p, "s": s}, "f" + Z, "A")
    assert ans.addresses == (want,)
    assert ans.failed_open == (not p and not s)


def test_failover_returns_primary_when_secondary_is_down_too() -> None:
    # PRIMARY unhealthy + SECONDARY (an alias with ETH to a dead group) unhealthy -> PRIMARY
    recs = [rec("f" + Z, "192.0.2.1", set_id="p", failover="PRIMARY", health_check="p"),
            rec("f" + Z, alias="dead" + Z, evaluate_target_health=True, set_id="s", failover="SECONDARY"),
            rec("dead" + Z, "192.0.2.3", set_id="d", weight=1, health_check="d")]
    ans = R(recs, {"p": False, "d": False}, "f" + Z, "A")
    assert ans.addresses == ("192.0.2.1",)
    assert any("PRIMARY regardless" in line for line in ans.trail)


def test_secondary_without_check_is_always_used_when_primary_is_down() -> None:
    recs = [FAILOVER[0], rec("f" + Z, "192.0.2.2", set_id="s", failover="SECONDARY")]
    assert R(recs, {"p": False}, "f" + Z, "A").addresses == ("192.0.2.2",)


# --------------------------------------------------------------------------------------------- weighted


def weighted(*ws: int) -> list[RecordSpec]:
    return [rec("w" + Z, f"192.0.2.{i}", set_id=f"w{i}", weight=w, health_check=f"h{i}") for i, w in enumerate(ws)]


def test_weighted_outcomes_are_exact_and_the_most_likely_is_the_answer() -> None:
    ans = R(weighted(1, 3), {}, "w" + Z, "A")
    assert ans.outcomes == ((("192.0.2.1",), 0.75), (("192.0.2.0",), 0.25))
    assert ans.addresses == ("192.0.2.1",) and ans.probability(["192.0.2.0"]) == 0.25
    assert ans.possible == {("192.0.2.0",), ("192.0.2.1",)}


def test_weighted_drops_unhealthy_records() -> None:
    ans = R(weighted(1, 3, 4), {"h1": False}, "w" + Z, "A")
    assert dict(ans.outcomes) == {("192.0.2.0",): 0.2, ("192.0.2.2",): 0.8}


def test_weight_zero_is_a_standby_used_only_when_every_weighted_record_is_down() -> None:
    recs = weighted(1, 1, 0)
    assert R(recs, {}, "w" + Z, "A").possible == {("192.0.2.0",), ("192.0.2.1",)}
    assert R(recs, {"h0": False}, "w" + Z, "A").possible == {("192.0.2.1",)}
    standby = R(recs, {"h0": False, "h1": False}, "w" + Z, "A")
    assert standby.outcomes == ((("192.0.2.2",), 1.0),) and not standby.failed_open


def test_weighted_fails_open_to_the_weighted_records_when_all_are_down() -> None:
    ans = R(weighted(1, 3, 0), {"h0": False, "h1": False, "h2": False}, "w" + Z, "A")
    assert dict(ans.outcomes) == {("192.0.2.0",): 0.25, ("192.0.2.1",): 0.75}
    assert ans.failed_open and not ans.healthy
    assert any("fail open" in line for line in ans.trail)


def test_all_weight_zero_records_are_equally_likely() -> None:
    ans = R(weighted(0, 0, 0, 0), {}, "w" + Z, "A")
    assert [p for _, p in ans.outcomes] == [0.25] * 4


def test_weighted_through_aliases_mixes_the_distributions() -> None:
    recs = [rec("top" + Z, alias="w" + Z, set_id="a", weight=1), rec("top" + Z, "192.0.2.9", set_id="b", weight=1),
            *weighted(1, 3)]
    ans = R(recs, {}, "top" + Z, "A")
    assert dict(ans.outcomes) == {("192.0.2.9",): 0.5, ("192.0.2.1",): 0.375, ("192.0.2.0",): 0.125}


def test_rng_pick_draws_one_branch() -> None:
    seen: list[list[float]] = []

    def pick(ps: Any) -> int:
        seen.append(list(ps))
        return 0

    ans = R(weighted(1, 3), {}, "w" + Z, "A", rng_pick=pick)
    assert seen == [[0.25, 0.75]] and ans.outcomes == ((("192.0.2.0",), 1.0),)


# --------------------------------------------------------------------------------------------- geolocation


GEO = [rec("g" + Z, "192.0.2.1", set_id="ca", geo=("subdivision", "US", "CA"), health_check="ca"),
       rec("g" + Z, "192.0.2.2", set_id="us", geo=("country", "US"), health_check="us"),
       rec("g" + Z, "192.0.2.3", set_id="na", geo=("continent", "NA"), health_check="na"),
       rec("g" + Z, "192.0.2.4", set_id="eu", geo=("continent", "EU")),
       rec("g" + Z, "192.0.2.9", set_id="any", geo=("country", "*"), health_check="any")]


@pytest.mark.parametrize(("client", "want"), [(CA, "192.0.2.1"), (TX, "192.0.2.2"), (ClientGeo("NA", "CA"), "192.0.2.3"),
                                              (EU, "192.0.2.4"), (JP, "192.0.2.9"), (None, "192.0.2.9")])
def test_geolocation_most_specific_match_wins(client: ClientGeo | None, want: str) -> None:
    assert R(GEO, {}, "g" + Z, "A", geo=client).addresses == (want,)


def test_geolocation_default_written_as_default() -> None:
    recs = [rec("g" + Z, "192.0.2.4", set_id="eu", geo=("continent", "EU")),
            rec("g" + Z, "192.0.2.9", set_id="any", geo=("default",))]
    assert R(recs, {}, "g" + Z, "A", geo=JP).addresses == ("192.0.2.9",)


def test_geolocation_without_match_or_default_is_empty() -> None:
    ans = R(GEO[:4], {}, "g" + Z, "A", geo=JP)
    assert ans.addresses == () and not ans.healthy
    assert any("no matching location" in line for line in ans.trail)


def test_unhealthy_geo_match_falls_to_the_next_less_specific() -> None:
    assert R(GEO, {"ca": False}, "g" + Z, "A", geo=CA).addresses == ("192.0.2.2",)
    assert R(GEO, {"ca": False, "us": False}, "g" + Z, "A", geo=CA).addresses == ("192.0.2.3",)
    assert R(GEO, {"ca": False, "us": False, "na": False}, "g" + Z, "A", geo=CA).addresses == ("192.0.2.9",)


def test_every_geo_match_unhealthy_fails_open_to_the_most_specific() -> None:
    # the EU record (no check) is healthy but does not match a Californian client
    ans = R(GEO, {"ca": False, "us": False, "na": False, "any": False}, "g" + Z, "A", geo=CA)
    assert ans.addresses == ("192.0.2.1",) and ans.failed_open and not ans.healthy


def test_eth_alias_to_a_geo_group_sees_only_the_clients_matches() -> None:
    recs = [*GEO, rec("top" + Z, alias="g" + Z, evaluate_target_health=True, set_id="p", failover="PRIMARY"),
            rec("top" + Z, "192.0.2.100", set_id="s", failover="SECONDARY")]
    down = {"ca": False, "us": False, "na": False, "any": False}
    assert R(recs, down, "top" + Z, "A", geo=CA).addresses == ("192.0.2.100",)
    assert R(recs, down, "top" + Z, "A", geo=EU).addresses == ("192.0.2.4",)


# --------------------------------------------------------------------------------------------- latency, multivalue


LATENCY = [rec("l" + Z, "192.0.2.1", set_id="use1", region="us-east-1", health_check="use1"),
           rec("l" + Z, "192.0.2.2", set_id="euw1", region="eu-west-1", health_check="euw1"),
           rec("l" + Z, "192.0.2.3", set_id="apne1", region="ap-northeast-1", health_check="apne1")]


def test_latency_picks_the_clients_region() -> None:
    assert R(LATENCY, {}, "l" + Z, "A", latency_region="eu-west-1").addresses == ("192.0.2.2",)


def test_latency_unhealthy_region_takes_the_first_healthy_in_order() -> None:
    assert R(LATENCY, {"euw1": False}, "l" + Z, "A", latency_region="eu-west-1").addresses == ("192.0.2.1",)
    assert R(LATENCY, {"use1": False}, "l" + Z, "A").addresses == ("192.0.2.2",)
    all_down = R(LATENCY, {"use1": False, "euw1": False, "apne1": False}, "l" + Z, "A",
                       latency_region="ap-northeast-1")
    assert all_down.addresses == ("192.0.2.3",) and all_down.failed_open


def test_multivalue_returns_up_to_eight_healthy_values() -> None:
    recs = [rec("m" + Z, f"192.0.2.{i}", set_id=f"m{i}", multivalue=True, health_check=f"h{i}") for i in range(10)]
    ans = R(recs, {"h0": False}, "m" + Z, "A")
    assert ans.addresses == tuple(f"192.0.2.{i}" for i in range(1, 9)) and ans.outcomes[0][1] == 1.0
    few = R(recs, {f"h{i}": i > 2 for i in range(10)}, "m" + Z, "A")
    assert few.addresses == ("192.0.2.3", "192.0.2.4", "192.0.2.5", "192.0.2.6", "192.0.2.7", "192.0.2.8",
                             "192.0.2.9")
    none = R(recs, {f"h{i}": False for i in range(10)}, "m" + Z, "A")
    assert len(none.addresses) == 8 and none.failed_open


def test_multivalue_alias_raises() -> None:
    recs = [rec("t" + Z, "192.0.2.1"), rec("m" + Z, alias="t" + Z, set_id="m", multivalue=True)]
    with pytest.raises(ValueError, match="multivalue"):
        R(recs, {}, "m" + Z, "A")


# --------------------------------------------------------------------------------------------- the octoDNS tree


def octodns_tree() -> list[RecordSpec]:
    """research route53.md section 2: 5 geo rules -> pool failover pairs -> weighted values -> default pool."""
    def pool(p: str) -> str:
        return f"_octodns-{p}-pool.{API}"

    def value(p: str) -> str:
        return f"_octodns-{p}-value.{API}"

    def geo_rule(set_id: str, geo: tuple[str, ...], p: str) -> RecordSpec:
        return rec(API, set_id=set_id, geo=geo, alias=pool(p), evaluate_target_health=True)

    def pair(p: str, fallback: str | None) -> list[RecordSpec]:
        second = pool(fallback) if fallback else "_octodns-default-pool." + API
        return [rec(pool(p), set_id=f"{p}-Primary", failover="PRIMARY", alias=value(p), evaluate_target_health=True),
                rec(pool(p), set_id=f"{p}-Secondary-{fallback or 'default'}", failover="SECONDARY", alias=second,
                    evaluate_target_health=True)]

    def val(p: str, i: int, ip: str, w: int) -> RecordSpec:
        return rec(value(p), ip, set_id=f"{p}-{i:03d}", weight=w, health_check=ip)

    return [geo_rule("0-eu-AF", ("continent", "AF"), "eu"), geo_rule("0-eu-EU", ("continent", "EU"), "eu"),
            geo_rule("1-us-west-NA-US-CA", ("subdivision", "US", "CA"), "us-west"),
            geo_rule("1-us-west-NA-US-OR", ("subdivision", "US", "OR"), "us-west"),
            geo_rule("2-us-east-None", ("country", "*"), "us-east"),
            rec("_octodns-default-pool." + API, "192.0.2.250"),
            *pair("eu", "us-east"), val("eu", 0, "192.0.2.1", 1), val("eu", 1, "192.0.2.2", 3),
            *pair("us-east", "us-west"), val("us-east", 0, "198.51.100.1", 1), val("us-east", 1, "198.51.100.2", 1),
            *pair("us-west", None), val("us-west", 0, "203.0.113.1", 1)]


OCTO_IPS = ("192.0.2.1", "192.0.2.2", "198.51.100.1", "198.51.100.2", "203.0.113.1")


def octo(client: ClientGeo, *down: str) -> Answer:
    health = {ip: ip not in down for ip in OCTO_IPS}
    return resolve(octodns_tree(), health, API, "A", geo=client)


def test_octodns_tree_has_the_17_rrsets() -> None:
    assert len(octodns_tree()) == 17


def test_octodns_tree_routes_each_geo_to_its_pool() -> None:
    eu = octo(EU)
    assert dict(eu.outcomes) == {("192.0.2.2",): 0.75, ("192.0.2.1",): 0.25}
    assert octo(ClientGeo("AF", "NG")).possible == eu.possible
    assert octo(CA).addresses == ("203.0.113.1",)
    assert dict(octo(JP).outcomes) == {("198.51.100.1",): 0.5, ("198.51.100.2",): 0.5}
    assert octo(TX).possible == octo(JP).possible


def test_octodns_tree_falls_back_along_the_pool_chain() -> None:
    assert octo(EU, "192.0.2.1").outcomes == ((("192.0.2.2",), 1.0),)
    assert octo(EU, "192.0.2.1", "192.0.2.2").possible == {("198.51.100.1",), ("198.51.100.2",)}
    assert octo(EU, "192.0.2.1", "192.0.2.2", "198.51.100.1", "198.51.100.2").addresses == ("203.0.113.1",)


def test_octodns_tree_ends_in_the_default_pool_without_failing_open() -> None:
    ans = octo(EU, *OCTO_IPS)
    assert ans.outcomes == ((("192.0.2.250",), 1.0),)
    assert ans.healthy and not ans.failed_open
    assert octo(CA, "203.0.113.1").addresses == ("192.0.2.250",)
    assert any("_octodns-default-pool" in line for line in ans.trail)


# --------------------------------------------------------------------------------------------- region drain


def drain_zone() -> Desired:
    """gtm's shape: geo -> pool failover pair -> weighted leaves checked by the region's CALCULATED check
    (every endpoint AND the switch) -> terminal static record."""
    checks: list[HealthCheckSpec] = []
    records: list[RecordSpec] = [rec("_gtm-last." + API, "192.0.2.250")]
    regions = {"eu-west": ("192.0.2.1", "192.0.2.2"), "us-east": ("198.51.100.1",)}
    fallback = {"eu-west": "us-east", "us-east": None}
    for region, ips in regions.items():
        eps = [HealthCheckSpec(f"ep:{region}:{ip}", "HTTPS", ip=ip, port=443, region=region) for ip in ips]
        switch = calc(f"switch:{region}", (), 0, region=region)
        checks += [*eps, switch, calc(f"region:{region}", (*[e.key for e in eps], switch.key), len(eps) + 1)]
        leaves = f"_gtm-v-{region}.{API}"
        records += [rec(leaves, ip, set_id=f"{region}:{ip}", weight=1, health_check=f"region:{region}") for ip in ips]
        fb = fallback[region]
        records += [rec(f"_gtm-p-{region}.{API}", set_id=f"{region}:p", failover="PRIMARY", alias=leaves,
                        evaluate_target_health=True),
                    rec(f"_gtm-p-{region}.{API}", set_id=f"{region}:s", failover="SECONDARY",
                        alias=f"_gtm-p-{fb}.{API}" if fb else "_gtm-last." + API, evaluate_target_health=True)]
    records += [rec(API, set_id="eu", geo=("continent", "EU"), alias=f"_gtm-p-eu-west.{API}",
                    evaluate_target_health=True),
                rec(API, set_id="default", geo=("default",), alias=f"_gtm-p-us-east.{API}",
                    evaluate_target_health=True)]
    return Desired(zone="gtm.example.com.", records=tuple(records), health_checks=tuple(checks))


def test_drained_region_sends_its_clients_to_the_fallback_region() -> None:
    zone = drain_zone()
    assert simulate(zone, {}, API, geo=EU).possible == {("192.0.2.1",), ("192.0.2.2",)}
    drained = Desired(zone.zone, zone.records, tuple(
        HealthCheckSpec(**{**c.__dict__, "inverted": True}) if c.key == "switch:eu-west" else c
        for c in zone.health_checks))
    assert health_states(drained.health_checks, {})["region:eu-west"] is False
    ans = simulate(drained, {}, API, geo=EU)
    assert ans.outcomes == ((("198.51.100.1",), 1.0),) and not ans.failed_open
    # the US is unaffected, and undraining (Inverted back to False) restores EU
    assert simulate(drained, {}, API, geo=TX).addresses == ("198.51.100.1",)


def test_one_dead_endpoint_takes_the_and_region_down_and_everything_dead_ends_at_last_resort() -> None:
    zone = drain_zone()
    assert simulate(zone, {"ep:eu-west:192.0.2.1": False}, API, geo=EU).addresses == ("198.51.100.1",)
    dead = {f"ep:{r}:{ip}": False for r, ip in (("eu-west", "192.0.2.1"), ("eu-west", "192.0.2.2"),
                                                  ("us-east", "198.51.100.1"))}
    ans = simulate(zone, dead, API, geo=EU)
    assert ans.addresses == ("192.0.2.250",) and ans.healthy and not ans.failed_open
