"""The UDP reply cache (``Table.replies``): a reply that depends only on the query bytes after the ID and the
table is kept, and the same query again is answered from it, counted, with its own ID; a reply chosen by the
source address, a weighted rotation, a truncated or a TCP reply is never kept; a new table starts empty; the
cache is bounded."""
from __future__ import annotations

from pathlib import Path

import dns.flags
import dns.message
import pytest

from gtm.config import load
from gtm.dns import server as server_mod
from gtm.dns.counts import Counts
from gtm.dns.server import Responder
from gtm.dns.table import Table

ZONE = """\
zone: t.test
soa: {}
ns: [ns1]
records:
  ns1: {A: 192.0.2.1}
  big: {TXT: [%s]}
regions:
  a: {location: {lat: 0, lon: 0}, endpoints: [192.0.2.10]}
  b: {location: {lat: 10, lon: 10}, endpoints: [192.0.2.20]}
services:
  geo:
    regions: [a, b]
    policy: {type: geo, rules: [{cidr: 10.1.0.0/16, regions: [a]}, {cidr: 10.2.0.0/16, regions: [b]}], default: [a, b]}
  w: {regions: [a, b], policy: {type: weighted, weights: {a: 1, b: 1}}}
""" % ", ".join(f'"{"x" * 60}{i}"' for i in range(12))


@pytest.fixture
def responder(tmp_path: Path) -> Responder:
    (tmp_path / "t.yaml").write_text(ZONE)
    return Responder(Table(load([str(tmp_path)])))


def wire(name: str, rtype: str = "A", ident: int = 1, **kw: object) -> bytes:
    q = dns.message.make_query(name, rtype, **kw)  # type: ignore[arg-type]
    q.id = ident
    q.flags &= ~dns.flags.RD
    return q.to_wire()


def addresses(resp: bytes | None) -> list[str]:
    assert resp is not None
    return sorted(rd.to_text() for rrset in dns.message.from_wire(resp).answer for rd in rrset)


def test_a_static_reply_is_kept_and_answered_again_with_the_new_id_and_counted(responder: Responder) -> None:
    first = responder.answer(wire("ns1.t.test", ident=1), "10.9.9.9")
    assert len(responder.table.replies) == 1
    again = responder.answer(wire("ns1.t.test", ident=0xBEEF), "10.9.9.9")
    assert again is not None and first is not None
    assert again[:2] == b"\xbe\xef" and again[2:] == first[2:]
    counts = Counts()
    counts.responder = responder
    assert sum(n for (zone, qtype, rcode), n in counts.totals()["queries"].items() if qtype == "A") == 2
    assert responder.answer(wire("ns1.t.test", ident=2), "10.9.9.9", tcp=True) == b"\x00\x02" + first[2:]


def test_a_reply_chosen_by_the_source_address_is_not_kept(responder: Responder) -> None:
    for use_edns in (False, 0):
        assert addresses(responder.answer(wire("geo.t.test", use_edns=use_edns), "10.1.0.1")) == ["192.0.2.10"]
        assert addresses(responder.answer(wire("geo.t.test", use_edns=use_edns), "10.2.0.1")) == ["192.0.2.20"]
    assert not responder.table.replies


def test_a_reply_chosen_by_the_ecs_option_is_kept_per_network(responder: Responder) -> None:
    import dns.edns

    def ecs(net: str) -> bytes:
        return wire("geo.t.test", use_edns=0, options=[dns.edns.ECSOption(net, 24)])

    assert addresses(responder.answer(ecs("10.1.0.0"), "10.2.0.1")) == ["192.0.2.10"]
    assert addresses(responder.answer(ecs("10.2.0.0"), "10.1.0.1")) == ["192.0.2.20"]
    assert len(responder.table.replies) == 2
    assert addresses(responder.answer(ecs("10.1.0.0"), "10.2.0.1")) == ["192.0.2.10"]  # from the cache


def test_a_weighted_rotation_and_a_truncated_reply_are_not_kept(responder: Responder) -> None:
    seen = {tuple(addresses(responder.answer(wire("w.t.test", ident=i, use_edns=0), "10.9.9.9"))) for i in range(8)}
    assert seen == {("192.0.2.10",), ("192.0.2.20",)}  # still rotating
    before = responder.stats.truncated
    for i in range(3):
        resp = responder.answer(wire("big.t.test", "TXT", ident=i), "10.9.9.9")
        assert resp is not None and resp[2] & 0x02  # TC
    assert responder.stats.truncated == before + 3  # each one counted
    assert not responder.table.replies


def test_a_new_table_starts_empty_and_the_cache_is_bounded(responder: Responder,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    responder.answer(wire("ns1.t.test"), "10.9.9.9")
    assert responder.table.with_health(responder.table.health).replies == {}
    monkeypatch.setattr(server_mod, "REPLY_CACHE_LIMIT", 5)
    for i in range(12):
        responder.answer(wire("ns1.t.test", ident=i, use_edns=0, payload=600 + i), "10.9.9.9")
        assert len(responder.table.replies) <= 5
