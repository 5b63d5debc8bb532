"""Random and mutated packets never escape the parser or the query path, and every reply is a sane message."""
from __future__ import annotations

import random
import socket
from pathlib import Path

import dns.edns
import dns.message
import dns.query
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gtm.config import load
from gtm.dns.server import Responder
from gtm.dns.table import Table
from bench.fuzzcases import SEEDS, survives  # shared with bench.fuzz and bench.soak

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def responder() -> Responder:
    return Responder(Table(load([str(ROOT / "zones")])))


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "set", "cut", "insert", "delete"]))
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            data[i] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[i:]
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=8))
        else:
            del data[i: i + draw(st.integers(1, 4))]
    return bytes(data)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=600))
def test_random_bytes_never_escape(responder: Responder, data: bytes) -> None:
    survives(responder, data, tcp=True)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutated())
def test_mutated_queries_never_escape(responder: Responder, data: bytes) -> None:
    survives(responder, data)


def test_fast_and_slow_paths_agree(responder: Responder) -> None:
    """Every seed query answered by the fast path equals what the full parser's path answers. The slow path
    goes first: it compiles and caches names that are not precompiled, so the fast path then serves them."""
    for data in SEEDS:
        slow = responder.slow(data, "192.0.2.1", False)
        before = responder.stats.slow_path
        fast = responder.answer(data, "192.0.2.1")
        assert fast == slow, dns.message.from_wire(data).question
        if b"example.org" not in data.lower():  # outside every zone: REFUSED, not an error either way
            assert responder.stats.slow_path == before, "the fast path did not answer it"


def test_server_survives_a_storm_of_garbage(gtm_server) -> None:
    srv = gtm_server(ROOT / "zones")
    rng = random.Random(7)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for i in range(3000):  # bounded: 3000 packets
            if i % 2:
                data = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300)))
            else:
                seed = bytearray(rng.choice(SEEDS))
                for _ in range(rng.randint(1, 4)):
                    seed[rng.randrange(len(seed))] = rng.getrandbits(8)
                data = bytes(seed)
            s.sendto(data, ("127.0.0.1", srv.port))
    resp = dns.query.udp(dns.message.make_query("ns1.example.com", "A"), "127.0.0.1", port=srv.port, timeout=3)
    assert [rd.address for rd in resp.answer[0]] == ["192.0.2.53"]
    assert "Traceback" not in srv.log
