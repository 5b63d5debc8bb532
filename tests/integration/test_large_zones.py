"""A big zone under `gtm serve --workers 2`: loaded in a child process (gtm.proc.loading), packed into shared
memory (gtm.proc.sharedmem) that the workers map instead of copying; answers right; reloads (and broken reloads) behave as
with any zone."""
from __future__ import annotations

import random
import signal
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import pytest

from gtm.proc import loading, sharedmem
from gtm.config import load
from gtm.errors import ConfigError
from gtm.model.packed import PackedRRsets
from tests.integration.test_workers import Server

RECORDS = 175_000  # over ISOLATE_BYTES of master file, over PACK_THRESHOLD records

pytestmark = pytest.mark.skipif(not sharedmem.available(), reason="needs memfd and /proc (Linux)")


def address(i: int, salt: int = 0) -> str:
    return f"10.{salt}.{i >> 8 & 255}.{i & 255}" if salt else f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"


def write_zone(path: Path, salt: int = 0, extra: str = "") -> None:
    lines = ["$ORIGIN big.test.", "$TTL 3600", "@ IN SOA ns1 hostmaster 1 3600 900 1209600 300", "@ IN NS ns1",
             "ns1 IN A 192.0.2.53"]
    lines += [f"h{i} IN A {address(i, salt)}" for i in range(RECORDS)]
    path.write_text("\n".join(lines) + "\n" + extra)


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("big")
    write_zone(d / "big.test.zone")
    assert loading.config_bytes([str(d)]) >= loading.ISOLATE_BYTES
    return d


def ask(port: int, name: str) -> dns.message.Message:
    return dns.query.udp(dns.message.make_query(name, "A"), "127.0.0.1", port=port, timeout=5)


def mapped(pid: int) -> set[str]:
    """The shared zone files ``pid`` maps (their inodes)."""
    return {line.split()[4] for line in Path(f"/proc/{pid}/maps").read_text().splitlines()
            if "memfd:gtm-zone-big.test." in line}


def files(pid: int) -> set[int]:
    """The shared zone files ``pid`` holds open (their inodes)."""
    out = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if "memfd:gtm-zone" in str(fd.readlink()):
                out.add(fd.stat().st_ino)
        except OSError:
            pass
    return out


def test_a_child_loads_it_and_reports_problems_as_the_loader_does(big: Path, tmp_path: Path) -> None:
    config = loading.load([str(big)], sharedmem.SharedZones())
    packed = config.zones["big.test."].rrsets
    assert isinstance(packed, PackedRRsets) and len(packed) == RECORDS + 2
    assert packed["h4242.big.test."][1].rdatas[0].fields == (address(4242),)
    assert sharedmem.descriptors(config)  # in shared memory, owned by this process now

    broken = tmp_path / "broken"
    broken.mkdir()
    write_zone(broken / "big.test.zone", extra="h7 IN A 10.999.0.1\nh8 IN BOGUS x\n")
    with pytest.raises(ConfigError) as in_child:
        loading.load([str(broken)])
    with pytest.raises(ConfigError) as here:
        load([str(broken)])
    assert in_child.value.problems == here.value.problems
    assert any(f"big.test.zone:{RECORDS + 6}" in str(p) for p in in_child.value.problems)


def test_workers_map_the_one_copy_and_follow_reloads(big: Path, tmp_path: Path) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    zone = zones / "big.test.zone"
    zone.write_bytes((big / "big.test.zone").read_bytes())
    server = Server(zones, "--workers", "2")
    try:
        rng = random.Random(5)
        for i in rng.sample(range(RECORDS), 50):
            reply = ask(server.port, f"h{i}.big.test.")
            assert [rr.address for rr in reply.answer[0]] == [address(i)]
        assert ask(server.port, "nope.big.test.").rcode() == dns.rcode.NXDOMAIN
        workers = server.workers()
        assert len(workers) == 2 and all(len(mapped(pid)) == 1 for pid in workers)
        first = mapped(workers[0])
        assert "loaded in a separate process" in "\n".join(server.lines)

        write_zone(zone, salt=77)  # every address changes
        server.proc.send_signal(signal.SIGHUP)
        server.wait(r"reloaded in", timeout=120)
        for n in range(2):
            server.wait(rf"worker {n}: generation \d+ answering", timeout=30)
        for i in rng.sample(range(RECORDS), 50):
            assert [rr.address for rr in ask(server.port, f"h{i}.big.test.").answer[0]] == [address(i, 77)]
        for pid in workers:  # the new generation's file, and no longer the old one's
            now = mapped(pid)
            assert len(now) == 1 and now != first
        assert len(files(server.proc.pid)) == 1  # nor does the control process keep the old one

        zone.write_text(zone.read_text() + "h9 IN A not-an-address\n")
        server.proc.send_signal(signal.SIGHUP)
        server.wait(r"reload failed", timeout=120)
        server.wait(rf"big\.test\.zone:{RECORDS + 6}", timeout=5)
        assert [rr.address for rr in ask(server.port, "h9.big.test.").answer[0]] == [address(9, 77)]
        assert server.workers() == workers
    finally:
        server.stop()
