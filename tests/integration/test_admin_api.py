"""The admin API of a real ``gtm serve`` (aiohttp on 127.0.0.1): every route, the bearer token, signed reports
accepted and refused (each refusal with its status, reason and counter), explain, the Prometheus metrics (parsed
with prometheus_client's parser, counted exactly against dnspython queries), TLS, and the refusal to serve
without a token off loopback (checked without ever binding a non-loopback address).

Most tests share one node (``node``) and only look at differences they cause; tests that need a known health
state start their own (``fresh``)."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import http.client
import socket
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator, cast

import dns.message
import dns.query
import pytest
import trustme
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import gtm.admin.app as admin_app
import gtm.dns.table
from gtm.admin.metrics import NodeMetrics
from gtm.dns.server import Responder
from gtm.errors import GtmError
from gtm.health import signing
from gtm.model import MAX_REPORT_BYTES, AdminSettings
from gtm.serving import build
from tests.conftest import ROOT
from tests.support.admin_node import (
    APP, ENDPOINTS, KEY_ID, KEYS, OTHER_KEY_ID, OTHER_SECRET, SECRET, TOKEN, ZONE, AdminNode, Response, all_obs, obs,
    report, running_node, write_node,
)

EU = list(ENDPOINTS["eu-west"])
US = list(ENDPOINTS["us-east"])


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AdminNode]:
    with running_node(write_node(tmp_path_factory.mktemp("node"))) as n:
        yield n


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[AdminNode]:
    with running_node(write_node(tmp_path)) as n:
        yield n


def rejected(node: AdminNode) -> dict[str, float]:
    """gtm_reports_rejected_total by reason."""
    return {s.labels["reason"]: s.value for s in node.metrics()["gtm_reports_rejected"].samples
            if s.name == "gtm_reports_rejected_total"}


def health_state(node: AdminNode) -> dict[str, Any]:
    """What a report could change in /v1/status, without what changes by itself (report ages)."""
    h = node.status()["health"]
    for v in h["vantages"]:
        v.pop("last_report_age_s")
    h["reports"].pop("rejected")
    return cast(dict[str, Any], h)


# -- authentication ------------------------------------------------------------------------------------------------
PROTECTED = [("GET", "/v1/status"), ("GET", f"/v1/explain?name={APP}"), ("POST", "/v1/reports"), ("GET", "/"),
             ("GET", "/no/such/route")]
WRONG = [None, "", "wrong-token-0123456789abcdef", TOKEN[:-1], TOKEN + "x", TOKEN.upper()]


@pytest.mark.parametrize("method,path", PROTECTED)
def test_protected_routes_need_the_token(node: AdminNode, method: str, path: str) -> None:
    body = report("frankfurt", all_obs(up=["eu-west"])) if method == "POST" else None
    before = health_state(node)
    for token in WRONG:
        r = node.request(method, path, body, token=token)
        assert (r.status, r.json()) == (401, {"error": "missing or wrong bearer token", "reason": "unauthorized"}), \
            token
        assert r.headers["www-authenticate"].startswith("Bearer")
    for header in (f"Basic {TOKEN}", TOKEN, f"Bearer{TOKEN}", f"Token {TOKEN}"):
        assert node.request(method, path, body, {"Authorization": header}, token=None).status == 401, header
    # ?token= is for opening the status page from a link only
    sep = "&" if "?" in path else "?"
    assert node.request(method, f"{path}{sep}token={TOKEN}", body, token=None).status == \
        (200 if (method, path) == ("GET", "/") else 401)
    assert health_state(node) == before  # the refused report was not applied
    # with the token: the route itself answers (a report without signature is refused by the node, not the API)
    ok = node.request(method, path, body)
    assert ok.status == {"/v1/reports": 401, "/no/such/route": 404}.get(path, 200), ok.body
    if path == "/v1/reports":
        assert ok.json()["reason"] == "unsigned"
    # the scheme is case-insensitive (RFC 7235)
    assert node.request(method, path, body, {"Authorization": f"bearer {TOKEN}"}, token=None).status == ok.status


def test_healthz_is_public_and_metrics_need_the_token_by_default(node: AdminNode) -> None:
    for token in (None, "wrong-token-0123456789abcdef", TOKEN):
        r = node.get("/healthz", token=token)
        assert (r.status, r.text) == (200, "ok\n")
        m = node.get("/metrics", token=token)
        if token != TOKEN:
            assert m.status == 401 and m.json()["reason"] == "unauthorized"
            continue
        assert m.status == 200 and m.headers["content-type"].startswith("text/plain; version=")
        assert "gtm_dns_queries_total" in m.text


@pytest.mark.parametrize("path", ["/healthz/../v1/status", "/metrics/%2e%2e/v1/status", "/healthz/..%2Fv1%2Fstatus",
                                  "/v1/status?x=/metrics", "/METRICS", "//metrics/../v1/status"])
def test_public_paths_do_not_open_protected_routes(node: AdminNode, path: str) -> None:
    r = node.get(path, token=None)
    assert r.status in (401, 404) and b"generation" not in r.body, (path, r.status, r.body)


@pytest.mark.parametrize("public", [[], ["metrics"], ["healthz"]])
def test_public_routes_are_configurable(tmp_path: Path, public: list[str]) -> None:
    with running_node(write_node(tmp_path, admin=f"public: [{', '.join(public)}]\n")) as n:
        for path in ("/healthz", "/metrics"):
            name = path.strip("/")
            for token in (None, "wrong-token-0123456789abcdef"):
                r = n.get(path, token=token)
                assert r.status == (200 if name in public else 401), (path, token)
                if name not in public:
                    assert r.json()["reason"] == "unauthorized"
            assert n.get(path).status == 200
        assert n.get("/v1/status", token=None).status == 401


# -- reports --------------------------------------------------------------------------------------------------------
def test_signed_reports_are_applied_and_shown_in_status(fresh: AdminNode) -> None:
    assert [str(rr) for rr in fresh.query(APP).answer] == [f"{APP}. 30 IN A {EU[0]}\n{APP}. 30 IN A {EU[1]}"]
    out = fresh.send("frankfurt", all_obs(up=["eu-west"], down=["us-east"], rtt={"eu-west": 12.5}))
    assert out == {"applied": 3, "ignored": 0}
    st = fresh.status()
    h = st["health"]
    assert st["config"]["generation"] == 1 and st["overrides"]["in_force"] == [] and st["overrides"]["store"] == "file"
    assert h["ready"] is True and h["generation"] >= 1
    assert h["endpoints"] == [{"monitor": "web", "region": "eu-west", "address": EU[0], "up": True},
                              {"monitor": "web", "region": "eu-west", "address": EU[1], "up": True},
                              {"monitor": "web", "region": "us-east", "address": US[0], "up": False}]
    assert h["regions"] == [{"monitor": "web", "region": "eu-west", "up": True},
                            {"monitor": "web", "region": "us-east", "up": False}]
    fra = next(v for v in h["vantages"] if v["name"] == "frankfurt")
    assert fra["fresh"] is True and fra["sick"] is False and fra["seq"] is not None
    assert 0 <= fra["last_report_age_s"] < 5
    assert [(v["region"], v["address"], v["up"], v["rtt_ms"], v["detail"]) for v in fra["view"]] == [
        ("eu-west", EU[0], True, 12.5, "200"), ("eu-west", EU[1], True, 12.5, "200"),
        ("us-east", US[0], False, None, "503")]
    silent = [v for v in h["vantages"] if v["name"] != "frankfurt"]
    assert [(v["fresh"], v["seq"], v["view"]) for v in silent] == [(False, None, [])] * 2
    assert h["rtt_ms"] == [{"vantage": "frankfurt", "region": "eu-west", "ms": 12.5}]
    assert h["reports"] == {"accepted": 1, "ignored_observations": 0, "rejected": {}}
    changes = {(t["kind"], t["name"], t["state"]) for t in h["transitions"]}
    assert changes == {("endpoint", f"web eu-west {EU[0]}", "up"), ("endpoint", f"web eu-west {EU[1]}", "up"),
                       ("endpoint", f"web us-east {US[0]}", "down"), ("region", "web eu-west", "up"),
                       ("region", "web us-east", "down")}
    down = next(t for t in h["transitions"] if t["name"] == f"web us-east {US[0]}")
    assert "frankfurt" in down["cause"] and "503" in down["cause"] and abs(down["at"] - time.time()) < 10
    assert [{k: v for k, v in svc.items() if k != "queries_per_s"} for svc in st["services"]] == \
        [{"name": f"{ZONE}/app", "policy": "failover", "names": [f"{APP}."], "healthy_regions": ["eu-west"],
          "up_regions": ["eu-west"], "up_endpoints": [f"eu-west/{a}" for a in EU]}]

    # eu-west goes down: the answers move to us-east at once (the report's request swaps the table)
    fresh.send("frankfurt", all_obs(up=["us-east"], down=["eu-west"]))
    assert [str(rr) for rr in fresh.query(APP).answer] == [f"{APP}. 30 IN A {US[0]}"]
    h = fresh.status()["health"]
    assert [e["up"] for e in h["endpoints"]] == [False, False, True]
    assert h["transitions"][0]["state"] in ("up", "down")  # newest first
    assert h["transitions"][0]["at"] >= h["transitions"][-1]["at"]
    assert fresh.status()["services"][0]["healthy_regions"] == ["us-east"]


def test_header_names_are_case_insensitive(node: AdminNode) -> None:
    for spelled in (str.lower, str.upper):
        body = report("frankfurt", all_obs(up=["eu-west"]))
        signed = signing.sign(body, KEY_ID, SECRET, time.time(), node.audience)
        r = node.request("POST", "/v1/reports", body, {spelled(k): v for k, v in signed.items()})
        assert r.status == 200, r.body


def test_every_key_in_the_key_file_is_accepted(node: AdminNode) -> None:
    r = node.post_report(report("virginia", all_obs(up=["eu-west"])), OTHER_KEY_ID, OTHER_SECRET)
    assert r.status == 200, r.body


def _signed(body: bytes, ts: str, audience: str, key_id: str = "singapore", secret: bytes = KEYS["singapore"]
            ) -> dict[str, str]:
    """Headers signed by hand, as the protocol in gtm.health.signing and docs/health.md describe it (for
    timestamps that ``signing.sign`` would not write)."""
    nonce = f"{int(time.monotonic_ns()):032x}"[-32:]
    mac = hmac.new(secret, f"{key_id}\n{ts}\n{nonce}\n{audience}\n".encode() + body, hashlib.sha256).hexdigest()
    return {signing.HEADER_KEY: key_id, signing.HEADER_TS: ts, signing.HEADER_NONCE: nonce,
            signing.HEADER_AUDIENCE: audience, signing.HEADER_SIG: mac}


def _without(name: str) -> Callable[[AdminNode, bytes], Response]:
    def send(n: AdminNode, body: bytes) -> Response:
        headers = {k: v for k, v in signing.sign(body, "singapore", KEYS["singapore"], time.time(), n.audience).items()
                   if k != name}
        return n.request("POST", "/v1/reports", body, headers)
    return send


def _posting(body: bytes) -> Callable[[AdminNode, bytes], Response]:
    """Sends ``body`` (correctly signed) instead of the good report."""
    return lambda n, _good: n.post_report(body)


GOOD = report("singapore", all_obs(down=["eu-west", "us-east"]))
MALFORMED_BODIES = {
    "not JSON": b"{not json",
    "nested too deeply": b"[" * 100_000 + b"]" * 100_000,  # before: a RecursionError and a 500
    "not a JSON object": b"[1, 2]",
    "vantage is missing": b'{"sent_at": 1, "seq": 1, "interval": 1, "observations": []}',
    "seq is missing or has the wrong type": GOOD.replace(b'"seq":', b'"seq":true,"x":'),
    "out of range": GOOD.replace(b'"interval":60.0', b'"interval":0'),
    "observations[0].rtt_ms": GOOD.replace(b'"rtt_ms":null', b'"rtt_ms":-1', 1),
    "observations[1].ok is missing": GOOD.replace(b'"ok":false', b'"ok":"no"', 2).replace(
        b'"ok":"no"', b'"ok":false', 1),
    "observations is missing": GOOD.replace(b'"observations"', b'"observation"'),
}
REFUSALS: list[tuple[str, int, str, str, Callable[[AdminNode, bytes], Response]]] = [
    # (case, HTTP status, reason, words of the error, how it is sent)
    ("no signature", 401, "unsigned", "missing signature headers",
     lambda n, b: n.request("POST", "/v1/reports", b)),
    ("no nonce", 401, "unsigned", "missing signature headers", _without(signing.HEADER_NONCE)),
    ("no signature header", 401, "unsigned", "missing signature headers", _without(signing.HEADER_SIG)),
    ("no audience", 401, "unsigned", "missing signature headers", _without(signing.HEADER_AUDIENCE)),
    ("unknown key", 401, "unknown_key", "unknown key id 'nobody'",
     lambda n, b: n.post_report(b, "nobody", SECRET)),
    ("forged: wrong secret", 401, "bad_signature", "signature does not match",
     lambda n, b: n.post_report(b, KEY_ID, b"not-the-secret-0123456789")),
    ("forged: another key's secret", 401, "bad_signature", "signature does not match",
     lambda n, b: n.post_report(b, KEY_ID, OTHER_SECRET)),
    ("forged: body changed after signing", 401, "bad_signature", "signature does not match",
     lambda n, b: n.request("POST", "/v1/reports", b.replace(b'"ok":false', b'"ok":true'),
                            signing.sign(b, "singapore", KEYS["singapore"], time.time(), n.audience))),
    ("signed for another node", 403, "wrong_audience", "signed for '127.0.0.1:1', not for this node",
     lambda n, b: n.post_report(b, audience="127.0.0.1:1")),
    ("another vantage's key", 403, "wrong_key", "key 'frankfurt' does not sign for vantage 'singapore'",
     lambda n, b: n.post_report(b, KEY_ID, SECRET)),
    ("stale: 2 minutes old", 401, "stale", "off the node's clock",
     lambda n, b: n.post_report(b, at=time.time() - 120)),
    ("stale: 2 minutes ahead", 401, "stale", "off the node's clock",
     lambda n, b: n.post_report(b, at=time.time() + 120)),
    ("timestamp not a number", 400, "bad_timestamp", "timestamp is not a number",
     lambda n, b: n.request("POST", "/v1/reports", b, _signed(b, "yesterday", n.audience))),
    ("timestamp NaN", 401, "stale", "off the node's clock",
     lambda n, b: n.request("POST", "/v1/reports", b, _signed(b, "nan", n.audience))),
    ("unknown vantage", 400, "unknown_vantage", "unknown vantage 'mars'",
     lambda n, b: n.post_report(b.replace(b'"singapore"', b'"mars"'), "singapore")),
    ("oversized", 413, "oversized", f"larger than {MAX_REPORT_BYTES} bytes",
     lambda n, b: n.post_report(b + b" " * MAX_REPORT_BYTES)),
] + [(f"malformed: {what}", 400, "malformed", what, _posting(body)) for what, body in MALFORMED_BODIES.items()]


@pytest.mark.parametrize("case,status,reason,words,send", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_bad_reports_are_refused_counted_and_not_applied(node: AdminNode, case: str, status: int, reason: str,
                                                         words: str, send: Callable[[AdminNode, bytes], Response]
                                                         ) -> None:
    before, counts = health_state(node), rejected(node)
    r = send(node, GOOD)
    assert r.status == status, (case, r.status, r.body)
    body = r.json()
    assert body["reason"] == reason and words in body["error"], body
    assert health_state(node) == before
    after = rejected(node)
    assert after.get(reason, 0) == counts.get(reason, 0) + 1
    assert {k: v for k, v in after.items() if k != reason} == {k: v for k, v in counts.items() if k != reason}
    assert node.status()["health"]["reports"]["rejected"][reason] == after[reason]


def test_a_body_of_exactly_the_limit_is_accepted(node: AdminNode) -> None:
    body = report("frankfurt", all_obs(up=["eu-west"]))
    r = node.post_report(body + b" " * (MAX_REPORT_BYTES - len(body)))
    assert r.status == 200, r.body


def test_a_replayed_report_is_refused(node: AdminNode) -> None:
    body = report("frankfurt", all_obs(up=["eu-west"]))
    headers = signing.sign(body, KEY_ID, SECRET, time.time(), node.audience)
    assert node.request("POST", "/v1/reports", body, headers).status == 200
    before, counts = health_state(node), rejected(node)
    again = node.request("POST", "/v1/reports", body, headers)
    assert (again.status, again.json()["reason"]) == (409, "replay")
    assert "nonce already used" in again.json()["error"]
    # the same nonce on a newly signed (different) body is a replay too
    other = report("frankfurt", all_obs(up=["eu-west"]))
    r = node.post_report(other, nonce=headers[signing.HEADER_NONCE])
    assert (r.status, r.json()["reason"]) == (409, "replay")
    assert health_state(node) == before
    assert rejected(node)["replay"] == counts.get("replay", 0) + 2


def test_unknown_endpoints_are_ignored_and_counted(node: AdminNode) -> None:
    ignored = node.sample("gtm_report_observations_ignored", "_total")
    before = node.status()["health"]
    out = node.send("frankfurt", (obs("eu-west", EU[0], True),
                                  obs("eu-west", "192.0.2.99", True),      # no such endpoint in the region
                                  obs("us-east", EU[0], False),            # an endpoint of another region
                                  obs("mars", "192.0.2.11", True),         # no such region
                                  obs("eu-west", EU[1], False, monitor="api")))  # no such monitor
    assert out == {"applied": 1, "ignored": 4}
    assert node.sample("gtm_report_observations_ignored", "_total") == ignored + 4
    h = node.status()["health"]
    assert h["reports"]["ignored_observations"] == before["reports"]["ignored_observations"] + 4
    assert h["reports"]["accepted"] == before["reports"]["accepted"] + 1
    fra = next(v for v in h["vantages"] if v["name"] == "frankfurt")
    assert {(v["monitor"], v["region"], v["address"]) for v in fra["view"]} <= \
        {("web", r, a) for r, addrs in ENDPOINTS.items() for a in addrs}
    assert [e["address"] for e in h["endpoints"]] == EU + US


def test_reports_need_keys(tmp_path: Path) -> None:
    with running_node(write_node(tmp_path, keys=False)) as n:
        r = n.post_report(report("frankfurt", all_obs(up=["eu-west"])))
        assert r.status == 403 and "no report keys configured" in r.json()["error"]
        assert r.json()["reason"] == "no_keys"
        assert rejected(n) == {"no_keys": 1}
        assert n.status()["health"]["reports"]["accepted"] == 0


# -- explain ----------------------------------------------------------------------------------------------------
def test_explain_without_a_client(node: AdminNode) -> None:
    r = node.get(f"/v1/explain?name={APP}")
    assert r.status == 200 and r.headers["content-type"].startswith("application/json")
    e = r.json()
    assert (e["name"], e["type"], e["managed"], e["service"], e["policy"], e["zone"]) == \
        (f"{APP}.", "A", True, "app", "failover", f"{ZONE}.")
    assert e["client"]["network"] is None and e["client"]["ecs"] is False
    assert [x["name"] for x in e["regions"]] == ["eu-west", "us-east"]
    assert e["answer"] == EU and e["ttl"] == 30 and e["trail"]
    assert node.get(f"/v1/explain?name={APP.upper()}.").json()["answer"] == EU  # any case, trailing dot


def test_explain_with_a_client(node: AdminNode) -> None:
    net = node.get(f"/v1/explain?name={APP}&client=81.2.69.0/24").json()
    assert net["client"]["network"] == "81.2.69.0/24" and net["client"]["ecs"] is True
    assert net["client"]["country"] == "GB" and net["client"]["continent"] == "EU"  # the embedded GeoLite2 City
    one = node.get(f"/v1/explain?name={APP}&client=81.2.69.160").json()
    assert one["client"]["network"] == "81.2.69.160/32" and one["client"]["ecs"] is False
    v6 = node.get(f"/v1/explain?name={APP}&client=2001:db8::/56&type=aaaa").json()
    assert (v6["type"], v6["client"]["network"], v6["answer"]) == ("AAAA", "2001:db8::/56", [])


def test_explain_of_names_that_are_not_managed(node: AdminNode) -> None:
    www = node.get(f"/v1/explain?name=www.{ZONE}").json()
    assert (www["managed"], www["rcode"], www["answer"]) == (False, 0, [f"www.{ZONE}. 3600 IN A 192.0.2.80"])
    assert node.get(f"/v1/explain?name=nope.{ZONE}").json()["rcode"] == 3
    assert node.get("/v1/explain?name=example.org").json()["rcode"] == 5


@pytest.mark.parametrize("query,words", [
    ("", "'name' is required"),
    ("?name=", "'name' is required"),
    (f"?nmae={APP}", "'name' is required"),
    ("?name=a..b", "empty label"),
    ("?name=" + "a" * 64 + f".{ZONE}", "longer than 63"),
    ("?name=" + ".".join(["abcdefghi"] * 26), "longer than 253"),
    ("?name=a%20b", "whitespace or control"),
    ("?name=a%00b", "whitespace or control"),
    (f"?name={APP}&client=zz", "'client' must be an IP address or network"),
    (f"?name={APP}&client=192.0.2.1/33", "'client' must be an IP address or network"),
    (f"?name={APP}&client=300.1.1.1", "'client' must be an IP address or network"),
    (f"?name={APP}&type=MX", "'type' must be A or AAAA (got 'MX')"),
    (f"?name={APP}&type=", "'type' must be A or AAAA"),
])
def test_explain_bad_parameters(node: AdminNode, query: str, words: str) -> None:
    r = node.get(f"/v1/explain{query}")
    assert r.status == 400, r.body
    assert r.json()["reason"] == "bad_request" and words in r.json()["error"], r.json()


# -- metrics ----------------------------------------------------------------------------------------------------
REQUIRED = {  # family (as the parser names it) -> (type, label names)
    "gtm_dns_queries": ("counter", {"zone", "qtype", "rcode"}),
    "gtm_dns_query_duration_seconds": ("histogram", set()),
    "gtm_answers": ("counter", {"zone", "service", "region"}),
    "gtm_endpoint_up": ("gauge", {"monitor", "region", "address"}),
    "gtm_region_up": ("gauge", {"monitor", "region"}),
    "gtm_healthy_regions": ("gauge", {"zone", "service"}),
    "gtm_probe_rtt_seconds": ("gauge", {"vantage", "region"}),
    "gtm_probe_results": ("counter", {"vantage", "result"}),
    "gtm_reports_rejected": ("counter", {"reason"}),
}


def test_metrics_have_every_family_with_its_labels(node: AdminNode) -> None:
    node.send("frankfurt", all_obs(up=["eu-west"], rtt={"eu-west": 5}))
    node.post_report(report("frankfurt", ()), "nobody", SECRET)
    node.query(APP)
    fams = node.metrics()
    for name, (kind, labels) in REQUIRED.items():
        assert name in fams, f"{name} missing; have {sorted(fams)}"
        fam = fams[name]
        assert fam.type == kind, (name, fam.type)
        assert fam.samples, f"{name} has no samples"
        for s in fam.samples:
            if kind == "histogram":
                assert s.name in (f"{name}_bucket", f"{name}_count", f"{name}_sum", f"{name}_created"), s
                assert set(s.labels) == ({"le"} if s.name.endswith("_bucket") else set()), s
            else:
                assert set(s.labels) == labels, s
    buckets = [s for s in fams["gtm_dns_query_duration_seconds"].samples if s.name.endswith("_bucket")]
    assert buckets[-1].labels["le"] == "+Inf" and len(buckets) > 5
    up = {(s.labels["region"], s.labels["address"]): s.value for s in fams["gtm_endpoint_up"].samples}
    assert up[("eu-west", EU[0])] == 1.0 and up[("eu-west", EU[1])] == 1.0
    assert {s.labels["reason"] for s in fams["gtm_reports_rejected"].samples} >= {"unknown_key"}
    rtt = {(s.labels["vantage"], s.labels["region"]): s.value for s in fams["gtm_probe_rtt_seconds"].samples}
    assert 0 < rtt[("frankfurt", "eu-west")] < 0.1  # seconds, not milliseconds


def _udp(n: AdminNode, name: str, rdtype: str = "A", ecs: str | None = "81.2.69.0/24") -> list[str]:
    return [str(rr) for rr in n.query(name, rdtype, ecs).answer]


def test_metrics_count_dns_queries_exactly(fresh: AdminNode) -> None:
    def answers() -> dict[tuple[str, str, str], float]:
        return {(s.labels["zone"], s.labels["service"], s.labels["region"]): s.value
                for s in fresh.metrics()["gtm_answers"].samples}

    def queries() -> dict[tuple[str, str, str], float]:
        return {(s.labels["zone"], s.labels["qtype"], s.labels["rcode"]): s.value
                for s in fresh.metrics()["gtm_dns_queries"].samples}

    fresh.send("frankfurt", all_obs(up=["eu-west", "us-east"]))
    assert queries() == {} and answers() == {}
    eu = f"{APP}. 30 IN A {EU[0]}\n{APP}. 30 IN A {EU[1]}"
    for ecs in ("81.2.69.0/24", "8.8.8.0/24", "2001:db8::/56", None, "81.2.69.0/24", "203.0.113.0/24", None):
        assert _udp(fresh, APP, ecs=ecs) == [eu]
    for _ in range(3):
        assert _udp(fresh, APP, "AAAA") == []  # NODATA: no region has IPv6 endpoints
    for _ in range(44):
        assert _udp(fresh, f"www.{ZONE}", ecs=None) == [f"www.{ZONE}. 3600 IN A 192.0.2.80"]
    for _ in range(2):
        assert fresh.query(f"nx.{ZONE}").rcode() == 3
    assert fresh.query(ZONE, "SOA").rcode() == 0
    assert fresh.query("example.org").rcode() == 5  # not our zone: REFUSED
    for _ in range(2):
        q = dns.message.make_query(APP, "A")
        assert [str(rr) for rr in dns.query.tcp(q, "127.0.0.1", port=fresh.dns_port, timeout=2).answer] == [eu]
    zone = f"{ZONE}."
    expected_q = {(zone, "A", "NOERROR"): 7 + 44 + 2, (zone, "AAAA", "NOERROR"): 3, (zone, "A", "NXDOMAIN"): 2,
                  (zone, "SOA", "NOERROR"): 1, ("", "A", "REFUSED"): 1}
    assert queries() == expected_q
    assert answers() == {(ZONE, "app", "eu-west"): 9, (ZONE, "app", "none"): 3}

    # eu-west goes down: new answers count for us-east, the old table's counts are kept
    fresh.send("frankfurt", all_obs(up=["us-east"], down=["eu-west"]))
    for _ in range(5):
        assert _udp(fresh, APP) == [f"{APP}. 30 IN A {US[0]}"]
    fresh.send("frankfurt", all_obs(up=["eu-west", "us-east"]))  # and back: a second table swap
    for _ in range(2):
        assert _udp(fresh, APP) == [eu]
    expected_q[(zone, "A", "NOERROR")] += 7
    assert queries() == expected_q
    assert answers() == {(ZONE, "app", "eu-west"): 11, (ZONE, "app", "us-east"): 5, (ZONE, "app", "none"): 3}
    assert fresh.sample("gtm_healthy_regions", zone=ZONE, service="app") == 2

    udp = 7 + 3 + 44 + 2 + 1 + 1 + 5 + 2  # 65 datagrams: the 64th was timed (1 in 64 is)
    assert fresh.sample("gtm_dns_events", "_total", event="queries_udp") == udp
    assert fresh.sample("gtm_dns_events", "_total", event="queries_tcp") == 2
    assert fresh.sample("gtm_dns_query_duration_seconds", "_count") == 1
    assert fresh.sample("gtm_dns_query_duration_seconds", "_bucket", le="+Inf") == 1
    assert 0 < fresh.sample("gtm_dns_query_duration_seconds", "_sum") < 0.05
    assert fresh.sample("gtm_probe_results", "_total", vantage="frankfurt", result="ok") == 3 + 1 + 3
    assert fresh.sample("gtm_probe_results", "_total", vantage="frankfurt", result="fail") == 2
    assert fresh.sample("gtm_region_up", monitor="web", region="eu-west") == 1


def test_query_counters_never_go_backwards_when_the_answer_cache_is_cleared(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gtm.dns.table, "CACHE_LIMIT", 8)
    responder = Responder(build([str(write_node(tmp_path))]))
    metrics = NodeMetrics()
    metrics.responder = responder

    def total() -> float:
        fams = {f.name: f for f in text_string_to_metric_families(generate_latest(metrics.registry).decode())}
        return sum(s.value for s in fams["gtm_dns_queries"].samples)

    for i in range(8):  # names that are not precompiled: NXDOMAIN answers compiled on demand and cached
        assert responder.answer(dns.message.make_query(f"nx{i}.{ZONE}", "A").to_wire(), "192.0.2.1") is not None
    assert total() == 8
    responder.answer(dns.message.make_query(f"nx-last.{ZONE}", "A").to_wire(), "192.0.2.1")  # the cache is full
    assert total() == 9


def test_a_collection_costs_what_was_answered_since_the_last_one(tmp_path: Path) -> None:
    """Counting never walks the answer tables or their caches (which a flood of random names fills): only the
    entries answered since the last collection are folded, and each once however often it was answered."""
    responder = Responder(build([str(write_node(tmp_path))]))
    metrics = NodeMetrics()
    metrics.responder = responder
    for i in range(500):  # 500 cached NXDOMAIN answers
        responder.answer(dns.message.make_query(f"nx{i}.{ZONE}", "A").to_wire(), "192.0.2.1")
    assert len(responder.table.touched) == 500
    assert sum(metrics.totals()["queries"].values()) == 500 and responder.table.touched == []
    for _ in range(3):
        responder.answer(dns.message.make_query(f"nx7.{ZONE}", "A").to_wire(), "192.0.2.1")
    assert len(responder.table.touched) == 1  # one entry, answered three times
    assert sum(metrics.totals()["queries"].values()) == 503 and responder.table.touched == []
    assert sum(metrics.totals()["queries"].values()) == 503  # nothing answered: nothing to fold, nothing lost


# -- healthz, the page ---------------------------------------------------------------------------------------------
def test_healthz_is_503_until_dns_is_served() -> None:
    serving = False

    async def main() -> None:
        nonlocal serving
        app = admin_app.make_app(cast(Any, None), CollectorRegistry(), lambda: {}, lambda *a: {}, lambda: serving,
                                 TOKEN)
        async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
            r = await client.get("/healthz")
            assert (r.status, await r.text()) == (503, "starting\n")
            serving = True
            r = await client.get("/healthz")
            assert (r.status, await r.text()) == (200, "ok\n")

    asyncio.run(asyncio.wait_for(main(), 10))


def test_status_page_is_self_contained_html(node: AdminNode) -> None:
    for r in (node.get("/"), node.get(f"/?token={TOKEN}", token=None)):
        assert r.status == 200 and r.headers["content-type"].startswith("text/html")
        assert r.text.lstrip().lower().startswith("<!doctype html>")
        for ref in ("http://", "https://", "src=", "href=", "@import", "url("):
            assert ref not in r.text, ref  # no external assets (nor any other)
        csp = r.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "connect-src 'self'" in csp
        assert r.headers["referrer-policy"] == "no-referrer" and r.headers["cache-control"] == "no-store"


# -- TLS ------------------------------------------------------------------------------------------------------------
def issue(directory: Path) -> trustme.CA:
    """A new CA's certificate for 127.0.0.1, written to cert.pem (with its chain) and key.pem; the CA."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(str(directory / "cert.pem"))
    for pem in cert.cert_chain_pems[1:]:
        pem.write_to_path(str(directory / "cert.pem"), append=True)
    cert.private_key_pem.write_to_path(str(directory / "key.pem"))
    return ca


def test_tls_when_a_certificate_is_configured(tmp_path: Path) -> None:
    ca = issue(tmp_path)
    write_node(tmp_path, admin="tls: {cert: cert.pem, key: key.pem}\n")
    trusted = ssl.create_default_context()
    ca.configure_trust(trusted)
    with running_node(tmp_path, ssl_context=trusted) as n:
        assert n.url.startswith("https://127.0.0.1:")
        assert n.get("/healthz", token=None).status == 200
        assert n.status()["config"]["zones"] == [f"{ZONE}."]
        assert n.get("/v1/status", token=None).status == 401
        assert n.send("frankfurt", all_obs(up=["eu-west"])) == {"applied": 2, "ignored": 0}
        # plain HTTP on the TLS port gets no HTTP answer
        plain = http.client.HTTPConnection("127.0.0.1", n.admin_port, timeout=5)
        with pytest.raises((http.client.HTTPException, OSError)):
            try:
                plain.request("GET", "/healthz")
                plain.getresponse()
            finally:
                plain.close()
        # and a client that does not trust the certificate refuses it
        untrusted = http.client.HTTPSConnection("127.0.0.1", n.admin_port, timeout=5,
                                                context=ssl.create_default_context())
        with pytest.raises(ssl.SSLCertVerificationError):
            try:
                untrusted.request("GET", "/healthz")
            finally:
                untrusted.close()
        # a renewed certificate (another CA here, to tell them apart) is served after a reload (SIGHUP)
        renewed_ca = issue(tmp_path)
        n.proc.proc.send_signal(signal.SIGHUP)
        trusts_renewed = ssl.create_default_context()
        renewed_ca.configure_trust(trusts_renewed)
        deadline = time.monotonic() + 10
        while True:
            conn = http.client.HTTPSConnection("127.0.0.1", n.admin_port, timeout=5, context=trusts_renewed)
            try:
                conn.request("GET", "/healthz")
                assert conn.getresponse().status == 200
                break
            except ssl.SSLCertVerificationError:
                assert time.monotonic() < deadline, "the renewed certificate was not served"
                time.sleep(0.1)
            finally:
                conn.close()


# -- no token off loopback -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("host", ["192.0.2.1", "0.0.0.0", "::", "2001:db8::1"])
def test_start_refuses_a_non_loopback_address_without_a_token_before_binding(
        monkeypatch: pytest.MonkeyPatch, host: str) -> None:
    calls: list[tuple[Any, ...]] = []

    def bind(self: socket.socket, address: Any) -> None:  # records, never binds
        calls.append(("bind", address[0]))
        raise AssertionError(f"bind({address}) attempted")

    monkeypatch.setattr(socket.socket, "bind", bind)
    settings = AdminSettings(listen=(host, 0))
    with pytest.raises(GtmError, match=rf"admin API on {host}: set admin.token"):
        asyncio.run(admin_app.start(web.Application(), settings))
    with pytest.raises(GtmError):
        asyncio.run(admin_app.start(web.Application(), AdminSettings(), listen=(host, 0)))
    assert calls == []
    # the check, not anything else, is what stopped it: with a token the same call goes on to bind
    with pytest.raises(AssertionError, match="attempted"):
        asyncio.run(admin_app.start(web.Application(), settings, token=TOKEN))
    assert [c[0] for c in calls] == ["bind"]
    calls.clear()
    with pytest.raises(AssertionError, match="attempted"):  # loopback: no token needed
        asyncio.run(admin_app.start(web.Application(), AdminSettings(listen=("127.0.0.1", 0))))
    assert calls == [("bind", "127.0.0.1")]


def test_serve_refuses_a_non_loopback_admin_address_without_a_token(tmp_path: Path) -> None:
    # 192.0.2.1 (TEST-NET-1) is not an address of this machine: even a broken check could not bind it.
    write_node(tmp_path, token=False)
    p = subprocess.run([sys.executable, "-m", "gtm.cli", "serve", "--listen", "127.0.0.1:0", "--admin-listen",
                        "192.0.2.1:0", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert p.returncode == 1, p.stderr
    errors = [line for line in p.stderr.splitlines() if " INFO " not in line and " WARNING " not in line]
    assert errors == ["gtm: error: admin API on 192.0.2.1: set admin.token (a bearer token is required off "
                      "loopback)"], p.stderr
    assert "listening on" not in p.stderr and p.stdout == ""


def test_a_reload_reads_the_token_again(tmp_path: Path) -> None:
    """Before: after a reload with a new token, the old token kept working and the new one got 401."""
    new = "a-new-admin-token-0123456789"
    with running_node(write_node(tmp_path), expected="reload failed; still serving") as n:
        assert n.get("/v1/status").status == 200
        (tmp_path / "token.txt").write_text(new + "\n")
        generation = n.status()["config"]["generation"]
        n.proc.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while n.get("/v1/status", token=new).status != 200:
            assert time.monotonic() < deadline, "the new token was not taken"
            time.sleep(0.05)
        assert n.get("/v1/status", token=new).json()["config"]["generation"] == generation + 1
        old = n.get("/v1/status")
        assert (old.status, old.json()["reason"]) == (401, "unauthorized")
        # a token file that cannot be read fails the reload: the token in force stays
        (tmp_path / "token.txt").write_text("short\n")
        n.proc.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while not n.get("/v1/status", token=new).json()["config"].get("last_error"):
            assert time.monotonic() < deadline, "the failed reload was not reported"
            time.sleep(0.05)
        assert "16 characters or more" in n.get("/v1/status", token=new).json()["config"]["last_error"]
        # what an alert needs: reloads by result, the generation and the age of the config in force
        fams = {f.name: f for f in text_string_to_metric_families(n.get("/metrics", token=new).text)}
        reloads = {s.labels["result"]: s.value for s in fams["gtm_reloads"].samples if s.name == "gtm_reloads_total"}
        assert reloads == {"success": 1.0, "failure": 1.0}
        assert fams["gtm_config_generation"].samples[0].value == 2
        assert 0 < time.time() - fams["gtm_config_loaded_timestamp_seconds"].samples[0].value < 30
        assert fams["gtm_build_info"].samples[0].labels["version"] == gtm.__version__
        assert fams["process_cpu_seconds"].samples[0].value > 0 and "process_open_fds" in fams
        assert {s.labels["reason"] for s in fams["gtm_admin_connections_closed"].samples} == {"refused", "timed_out"}
