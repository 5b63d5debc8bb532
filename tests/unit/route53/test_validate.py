"""The strict change-batch and health-check validator: one failing and one passing case per rule."""
from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from gtm.route53.model import Desired, HealthCheckSpec, RecordSpec
from gtm.route53.validate import (
    AWS_REGIONS,
    US_STATES,
    Change,
    Key,
    apply_changes,
    validate_batch,
    validate_desired,
    validate_health_check,
    validate_health_checks,
    validate_record,
    validate_state,
)

PUBLIC = "16.15.0.1"  # health checkers refuse documentation ranges like 192.0.2.0/24
Z = ".gtm.example.com."
API = "api" + Z


def rec(name: str = API, *values: str, **kw: Any) -> RecordSpec:
    values = tuple(kw.pop("values", values))
    if kw.get("alias") is None:
        kw.setdefault("ttl", 60)
        values = values or ("192.0.2.1",)
    return RecordSpec(name=name, type=kw.pop("type", "A"), values=tuple(values), **kw)


def state(*recs: RecordSpec) -> dict[Key, RecordSpec]:
    return {r.key: r for r in recs}


def errs(changes: list[Change], existing: dict[Key, RecordSpec] | None = None, **kw: Any) -> list[str]:
    return validate_batch(changes, existing or {}, **kw)


def one(errors: list[str], *fragments: str) -> None:
    """Exactly one error, containing every fragment."""
    assert len(errors) == 1, errors
    for f in fragments:
        assert f in errors[0], (f, errors[0])


def create(*recs: RecordSpec) -> list[Change]:
    return [("CREATE", r) for r in recs]


# --------------------------------------------------------------------------------------------- per record


def test_a_plain_record_is_valid() -> None:
    assert errs(create(rec())) == []
    assert validate_record(rec(type="AAAA", values=("2001:db8::1",))) == []
    assert validate_record(rec(type="TXT", values=('"gtm owner=x v=1"', '"a" "b\\"c"'))) == []


def test_weight_range() -> None:
    assert validate_record(rec(set_id="w", weight=0)) == [] and validate_record(rec(set_id="w", weight=255)) == []
    one(validate_record(rec(set_id="w", weight=256)), f"{API} A [w]", "Weight 256", "0..255")
    one(validate_record(rec(set_id="w", weight=-1)), "Weight -1")


def test_set_identifier_length() -> None:
    assert validate_record(rec(set_id="x" * 128, weight=1)) == []
    one(validate_record(rec(set_id="x" * 129, weight=1)), "SetIdentifier must be 1..128", "129")
    one(validate_record(rec(set_id="", weight=1)), "SetIdentifier must be 1..128")


def test_set_identifier_required_with_a_policy_and_only_with_one() -> None:
    one(validate_record(rec(weight=1)), f"{API} A:", "SetIdentifier is required with a weighted")
    one(validate_record(rec(failover="PRIMARY")), "required with a failover")
    one(validate_record(rec(set_id="s")), "SetIdentifier without a routing policy")


def test_exactly_one_routing_policy_per_rrset() -> None:
    one(validate_record(rec(set_id="s", weight=1, geo=("continent", "EU"))), "exactly one routing policy",
        "weighted + geolocation")
    one(validate_record(rec(set_id="s", region="us-east-1", multivalue=True)), "latency + multivalue")
    assert validate_record(rec(set_id="s", multivalue=True)) == []


def test_failover_value() -> None:
    assert validate_record(rec(set_id="s", failover="SECONDARY")) == []
    one(validate_record(rec(set_id="s", failover="TERTIARY")), "PRIMARY or SECONDARY")


@pytest.mark.parametrize("geo", [("continent", "EU"), ("continent", "AN"), ("country", "DE"), ("country", "*"),
                                 ("subdivision", "US", "CA"), ("subdivision", "US", "DC"), ("default",)])
def test_valid_geolocations(geo: tuple[str, ...]) -> None:
    assert validate_record(rec(set_id="g", geo=geo)) == []


@pytest.mark.parametrize(("geo", "why"), [(("continent", "XX"), "ContinentCode 'XX'"),
                                          (("continent", "eu"), "ContinentCode 'eu'"),
                                          (("country", "DEU"), "CountryCode 'DEU'"),
                                          (("country", "de"), "CountryCode 'de'"),
                                          (("subdivision", "CA", "ON"), "only with CountryCode US"),
                                          (("subdivision", "US", "ZZ"), "'ZZ' is not a US state"),
                                          (("subdivision", "US", "PR"), "'PR' is not a US state"),
                                          (("city", "Berlin"), "is not continent, country")])
def test_invalid_geolocations(geo: tuple[str, ...], why: str) -> None:
    one(validate_record(rec(set_id="g", geo=geo)), f"{API} A [g]", why)


def test_us_states_are_the_fifty_and_dc() -> None:
    assert len(US_STATES) == 51 and "DC" in US_STATES


def test_latency_region_must_be_an_aws_region() -> None:
    assert len(AWS_REGIONS) == 39 and len(set(AWS_REGIONS)) == 39
    assert validate_record(rec(set_id="l", region="eu-central-2")) == []
    one(validate_record(rec(set_id="l", region="mars-1")), "Region 'mars-1' is not an AWS region")


def test_alias_takes_no_ttl_and_no_values() -> None:
    target = rec("t" + Z)
    assert errs(create(target, rec(alias="t" + Z))) == []
    one(errs(create(target, rec(alias="t" + Z, ttl=60))), "an alias takes no TTL")
    one(errs(create(target, RecordSpec(API, "A", alias="t" + Z, values=("192.0.2.1",)))), "no ResourceRecords")


def test_multivalue_cannot_be_an_alias() -> None:
    target = rec("t" + Z)
    one(errs(create(target, rec(alias="t" + Z, set_id="m", multivalue=True))), "multivalue", "cannot be an alias")


def test_non_alias_needs_a_ttl_and_a_value() -> None:
    one(validate_record(RecordSpec(API, "A", values=("192.0.2.1",))), "needs a TTL")
    one(validate_record(RecordSpec(API, "A", ttl=60)), "at least one value")
    one(validate_record(rec(ttl=-1)), "TTL -1")
    one(validate_record(rec(evaluate_target_health=True)), "EvaluateTargetHealth applies only to an alias")


def test_values_must_fit_the_type() -> None:
    one(validate_record(rec(values=("2001:db8::1",))), "is not an IPv4 address")
    one(validate_record(rec(type="AAAA", values=("192.0.2.1",))), "is not an IPv6 address")
    one(validate_record(rec(type="TXT", values=("unquoted",))), "double-quoted")
    one(validate_record(rec(type="TXT", values=('"' + "x" * 256 + '"',))), "256 characters exceeds 255")
    assert validate_record(rec(type="TXT", values=('"' + "x" * 255 + '" "y"',))) == []
    one(validate_record(rec(type="CNAME", values=("a.example.", "b.example."))), "exactly one value")
    one(validate_record(rec(type="BOGUS")), "not a Route53 record type")


def test_health_check_id_must_exist_when_known() -> None:
    r = rec(set_id="w", weight=1, health_check="ep:eu:1")
    assert errs(create(r), health_check_ids={"ep:eu:1"}) == []
    assert errs(create(r)) == []  # unknown ids: not checked
    one(errs(create(r), health_check_ids={"other"}), f"{API} A [w]", "HealthCheckId 'ep:eu:1' does not exist")


# --------------------------------------------------------------------------------------------- batch semantics


def test_batch_element_limit_counts_upsert_twice() -> None:
    recs = [rec(f"h{i}" + Z) for i in range(1000)]
    assert errs(create(*recs)) == []
    one(errs(create(*recs, rec("x" + Z))), "1001 ResourceRecord elements exceed 1000")
    existing = state(*recs[:501])
    assert errs([("UPSERT", r) for r in recs[:500]], existing) == []
    one(errs([("UPSERT", r) for r in recs[:501]], existing), "1002 ResourceRecord elements", "UPSERT counts twice")


def test_batch_value_characters_limit_counts_upsert_twice() -> None:
    big = '"' + "x" * 198 + '"'                      # 200 characters per value
    recs = [rec(f"t{i}" + Z, *([big] * 10), type="TXT") for i in range(16)]   # 32,000 characters
    assert errs(create(*recs)) == []
    one(errs(create(*recs, rec("x" + Z, '"y"', type="TXT"))), "32003 characters of Value exceed 32000")
    existing = state(*recs)
    one(errs([("UPSERT", r) for r in recs[:9]], existing), "36000 characters")
    assert errs([("UPSERT", r) for r in recs[:8]], existing) == []


def test_empty_batch_and_unknown_action() -> None:
    one(errs([]), "at least one change")
    one(errs([("REPLACE", rec())]), "action 'REPLACE'")


def test_create_of_an_existing_rrset_fails_and_upsert_replaces() -> None:
    old = rec()
    one(errs(create(rec(values=("192.0.2.2",))), state(old)), f"{API} A", "CREATE of an rrset that already exists")
    assert errs([("UPSERT", rec(values=("192.0.2.2",)))], state(old)) == []
    assert errs([("UPSERT", rec())]) == []   # UPSERT creates as well


def test_delete_must_match_the_existing_rrset_exactly() -> None:
    old = rec(set_id="w", weight=3, health_check="h")
    assert errs([("DELETE", old)], state(old)) == []
    one(errs([("DELETE", dataclasses.replace(old, weight=4))], state(old)), "DELETE must match", "weight")
    one(errs([("DELETE", rec("gone" + Z))], state(old)), "DELETE of an rrset that does not exist")


def test_the_same_rrset_twice_in_one_batch_fails() -> None:
    old = rec()
    one(errs([("DELETE", old), ("CREATE", rec(values=("192.0.2.2",)))], state(old)), "more than once in one batch")
    one(errs(create(rec(set_id="a", weight=1), rec(set_id="a", weight=2))), "more than once")
    assert errs(create(rec(set_id="a", weight=1), rec(set_id="b", weight=2))) == []


def test_apply_changes() -> None:
    a, b = rec("a" + Z), rec("b" + Z)
    assert apply_changes(state(a), [("DELETE", a), ("CREATE", b)]) == state(b)


# --------------------------------------------------------------------------------------------- resulting state


def test_simple_cannot_coexist_with_routed_rrsets() -> None:
    simple = rec()
    one(errs(create(rec(set_id="w", weight=1)), state(simple)), f"{API} A:", "simple rrset cannot coexist")
    # UPSERT simple -> weighted leaves the simple one in place (its key has no set id): rejected too
    one(errs([("UPSERT", rec(set_id="w", weight=1))], state(simple)), "simple rrset cannot coexist")
    assert errs([("DELETE", simple), ("CREATE", rec(set_id="w", weight=1))], state(simple)) == []


def test_one_routing_policy_per_name_and_type() -> None:
    one(errs(create(rec(set_id="w", weight=1), rec(set_id="g", geo=("default",)))),
        "mixes routing policies geolocation, weighted")
    assert errs(create(rec(set_id="w", weight=1), rec(set_id="g", geo=("default",), type="AAAA",
                                                          values=("2001:db8::1",)))) == []


def test_cname_cannot_coexist_with_other_types() -> None:
    cname = rec(type="CNAME", values=("elsewhere.example.",))
    one(errs(create(cname), state(rec(type="TXT", values=('"x"',)))), API, "CNAME cannot coexist", "TXT")
    assert errs(create(cname)) == []


def test_a_batch_is_applied_in_order_so_a_cname_waits_for_the_other_types_to_go() -> None:
    """Route53 applies a batch's changes in order: a CNAME written while an A is still at its name is refused
    even when a later change deletes the A; deleting first is right. The same the other way round."""
    a, cname = rec(), rec(type="CNAME", values=("elsewhere.example.",))
    one(errs([("CREATE", cname), ("DELETE", a)], state(a)), API, "written while A is still at", "delete first")
    assert errs([("DELETE", a), ("CREATE", cname)], state(a)) == []
    one(errs([("CREATE", a), ("DELETE", cname)], state(cname)), "written while CNAME is still at")
    assert errs([("DELETE", cname), ("CREATE", a)], state(cname)) == []


def test_failover_has_at_most_one_primary_and_one_secondary() -> None:
    assert errs(create(rec(set_id="p", failover="PRIMARY"), rec(set_id="s", failover="SECONDARY"))) == []
    one(errs(create(rec(set_id="p1", failover="PRIMARY"), rec(set_id="p2", failover="PRIMARY"))),
        "more than one failover PRIMARY (p1, p2)")
    one(errs(create(rec(set_id="s2", failover="SECONDARY")), state(rec(set_id="s1", failover="SECONDARY"))),
        "more than one failover SECONDARY")


def test_latency_has_one_rrset_per_region() -> None:
    assert errs(create(rec(set_id="a", region="us-east-1"), rec(set_id="b", region="eu-west-1"))) == []
    one(errs(create(rec(set_id="a", region="us-east-1"), rec(set_id="b", region="us-east-1"))),
        "more than one rrset for latency Region us-east-1 (a, b)")


def test_at_most_400_values_per_record() -> None:
    values = tuple(f"10.0.{i // 256}.{i % 256}" for i in range(401))
    assert validate_record(rec(values=values[:400])) == []
    one(validate_record(rec(values=values)), "401 values exceed Route53's 400 per record")


def test_at_most_100_routed_rrsets_per_name_and_type() -> None:
    hundred = [rec(set_id=f"m{i}", values=(f"192.0.2.{i}",), multivalue=True) for i in range(100)]
    assert errs(create(*hundred)) == []
    one(errs(create(*hundred, rec(set_id="m100", values=("192.0.2.200",), multivalue=True))),
        f"{API} A: 101 multivalue rrsets exceed Route53's 100 per name and type")
    weighted = [rec(set_id=f"w{i}", weight=1) for i in range(101)]
    one(errs(create(*weighted)), "101 weighted rrsets exceed")


def test_geolocation_has_one_rrset_per_location() -> None:
    assert errs(create(rec(set_id="a", geo=("country", "US")), rec(set_id="b", geo=("subdivision", "US", "CA")))) == []
    one(errs(create(rec(set_id="a", geo=("default",)), rec(set_id="b", geo=("country", "*")))),
        "more than one rrset for geolocation *")


def test_alias_target_must_exist_in_the_resulting_state() -> None:
    alias = rec(alias="t" + Z, evaluate_target_health=True)
    one(errs(create(alias)), f"{API} A", "alias target t.gtm.example.com. A does not exist")
    assert errs(create(rec("t" + Z), alias)) == []
    assert errs(create(alias), state(rec("t" + Z))) == []
    # deleting the target of an existing alias breaks it
    one(errs([("DELETE", rec("t" + Z))], state(rec("t" + Z), alias)), "alias target", "does not exist")
    # a target of another type does not count
    one(errs(create(alias), state(rec("t" + Z, type="AAAA", values=("2001:db8::1",)))), "does not exist")


def test_alias_loops_are_rejected() -> None:
    a = rec("a" + Z, alias="b" + Z)
    b = rec("b" + Z, alias="a" + Z)
    one(errs(create(a, b)), "alias loop: a.gtm.example.com. A -> b.gtm.example.com. A -> a.gtm.example.com. A")
    one(errs(create(rec("a" + Z, alias="a" + Z, set_id="1", weight=1))), "alias loop")


def test_validate_state_and_desired() -> None:
    hc = HealthCheckSpec("ep:eu:1", "HTTPS", ip=PUBLIC, port=443)
    recs = (rec("t" + Z, set_id="w", weight=1, health_check="ep:eu:1"), rec(alias="t" + Z, evaluate_target_health=True))
    assert validate_state(recs) == []
    assert validate_desired(Desired("gtm.example.com.", recs, ())) != []   # the check is missing
    assert validate_desired(Desired("gtm.example.com.", recs, (hc,))) == []
    one(validate_state([recs[0], recs[0]]), "defined more than once")


# --------------------------------------------------------------------------------------------- health checks


def hc(**kw: Any) -> HealthCheckSpec:
    base: dict[str, Any] = {"key": "ep:eu:1", "type": "HTTPS", "ip": PUBLIC, "port": 443, "path": "/healthz"}
    return HealthCheckSpec(**{**base, **kw})


def calc(**kw: Any) -> HealthCheckSpec:
    return HealthCheckSpec(**{"key": "region:eu", "type": "CALCULATED", **kw})


def test_a_plain_endpoint_check_and_calculated_check_are_valid() -> None:
    assert validate_health_check(hc()) == []
    assert validate_health_check(hc(type="TCP", path=None)) == []
    assert validate_health_check(calc(children=("a", "b"), health_threshold=2)) == []
    assert validate_health_check(calc()) == []   # the "switch"


def test_check_type() -> None:
    one(validate_health_check(hc(type="CLOUDWATCH_METRIC")), "health check ep:eu:1", "type 'CLOUDWATCH_METRIC'")


def test_request_interval_is_10_or_30() -> None:
    assert validate_health_check(hc(request_interval=10)) == []
    one(validate_health_check(hc(request_interval=20)), "RequestInterval must be 10 or 30")


@pytest.mark.parametrize(("n", "ok"), [(0, False), (1, True), (10, True), (11, False)])
def test_failure_threshold(n: int, ok: bool) -> None:
    e = validate_health_check(hc(failure_threshold=n))
    assert e == [] if ok else len(e) == 1 and "FailureThreshold" in e[0]


def test_regions_empty_or_at_least_three_checker_regions() -> None:
    assert validate_health_check(hc(regions=("us-east-1", "eu-west-1", "ap-southeast-1"))) == []
    one(validate_health_check(hc(regions=("us-east-1", "eu-west-1"))), "at least 3 checker regions")
    one(validate_health_check(hc(regions=("us-east-1", "eu-west-1", "eu-central-1"))),
        "eu-central-1 are not health-checker regions")
    one(validate_health_check(hc(regions=("us-east-1", "eu-west-1", "eu-west-1"))), "twice")


def test_calculated_takes_no_endpoint_and_at_most_255_children() -> None:
    one(validate_health_check(calc(ip=PUBLIC, port=443)), "CALCULATED check takes no ip, port")
    one(validate_health_check(calc(regions=("us-east-1", "eu-west-1", "ap-southeast-1"))), "takes no Regions")
    kids = tuple(f"c{i}" for i in range(256))
    one(validate_health_check(calc(children=kids[:255], health_threshold=255)) + validate_health_check(
        calc(children=kids, health_threshold=1)), "256 child health checks exceed 255")
    one(validate_health_check(calc(children=("a", "a"), health_threshold=1)), "listed twice")
    one(validate_health_check(calc(children=("region:eu",))), "its own child")


@pytest.mark.parametrize(("n", "ok"), [(-1, False), (0, True), (256, True), (257, False)])
def test_health_threshold(n: int, ok: bool) -> None:
    e = validate_health_check(calc(children=("a",), health_threshold=n))
    assert e == [] if ok else len(e) == 1 and "HealthThreshold" in e[0]


def test_endpoint_check_needs_ip_and_port() -> None:
    one(validate_health_check(hc(ip=None)), "needs an IPAddress")
    one(validate_health_check(hc(port=None)), "needs a Port")
    one(validate_health_check(hc(port=0)), "Port 0 is outside 1..65535")
    one(validate_health_check(hc(port=65536)), "Port 65536")
    one(validate_health_check(hc(ip="nope")), "is not an IP address")
    one(validate_health_check(hc(children=("a",))), "only a CALCULATED check has child")


def test_endpoint_ip_must_be_publicly_routable_unless_allowed() -> None:
    for ip in ("10.0.0.1", "192.168.1.1", "127.0.0.1", "192.0.2.1", "100.64.0.1", "224.0.0.1", "fd00::1"):
        one(validate_health_check(hc(ip=ip)), f"IPAddress {ip}", "Route53 cannot check")
        assert validate_health_check(hc(ip=ip), allow_private_ip=True) == []
    assert validate_health_check(hc(ip="2606:4700::1111")) == []


def test_str_match_needs_a_search_string_of_at_most_255() -> None:
    assert validate_health_check(hc(type="HTTPS_STR_MATCH", search="ok")) == []
    one(validate_health_check(hc(type="HTTP_STR_MATCH")), "needs a SearchString")
    one(validate_health_check(hc(type="HTTPS_STR_MATCH", search="x" * 256)), "256 characters exceeds 255")
    one(validate_health_check(hc(search="ok")), "SearchString applies only to")


def test_path_and_fqdn_lengths() -> None:
    one(validate_health_check(hc(path="/" + "x" * 255)), "ResourcePath of 256")
    one(validate_health_check(hc(fqdn="x" * 256)), "FullyQualifiedDomainName of 256")


def test_health_checks_together_children_must_exist_and_not_cycle() -> None:
    ep = hc()
    switch = calc(key="switch:eu")
    region = calc(children=(ep.key, switch.key), health_threshold=2)
    assert validate_health_checks([ep, switch, region]) == []
    one(validate_health_checks([ep, region]), "health check region:eu", "child health check 'switch:eu' does not exist")
    assert validate_health_checks([ep, region], existing_keys={"switch:eu"}) == []
    one(validate_health_checks([ep, ep]), "defined more than once")
    one(validate_health_checks([calc(key="a", children=("b",), health_threshold=1),
                                calc(key="b", children=("a",), health_threshold=1)]), "health check cycle: a -> b -> a")
