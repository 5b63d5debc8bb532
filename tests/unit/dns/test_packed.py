"""Packed zones (gtm.model.packed, gtm.proc.sharedmem) answer exactly as the same zone held as objects.

The same files are loaded twice, once below the packing threshold and once above it (the threshold lowered),
and every question about every name of the zone, names next to them that do not exist, wildcard matches,
names below delegations and the managed names, in every type asked, must get the same reply bytes.
"""
from __future__ import annotations

import os
import pickle
import subprocess
import socket
import sys
from pathlib import Path
from types import SimpleNamespace

import dns.message
import dns.name
import pytest

from gtm.proc import sharedmem
from gtm.proc.channel import dumps, loads
from gtm.config import load, zonebuild
from gtm.dns.server import Responder
from gtm.dns.table import Table
from gtm.model import packed as packed_mod
from gtm.model.packed import PackedRRsets, pack

MASTER = r"""$ORIGIN p.test.
$TTL 300
@ IN SOA ns1 hostmaster 7 3600 900 1209600 60
@ IN NS ns1
@ IN NS ns2.elsewhere.test.
@ IN MX 10 mail
@ IN TXT "v=spf1 -all" "second string"
ns1 IN A 192.0.2.53
ns1 IN AAAA 2001:db8::53
mail IN A 192.0.2.25
mail 60 IN A 192.0.2.26
www IN CNAME web.deep.a.b
web.deep.a.b IN A 192.0.2.80
web.deep.a.b IN AAAA 2001:db8::80
chain1 IN CNAME chain2
chain2 IN CNAME outside.example.net.
*.wild IN A 192.0.2.99
*.wild IN TXT "wildcard"
x.wild IN MX 5 mail
sub IN NS ns.sub
sub IN DS \# 4 30390d02
ns.sub IN A 192.0.2.200
_sip._udp IN SRV 10 60 5060 mail
caa IN CAA 0 issue "ca.example.net"
opaque IN TYPE65400 \# 3 010203
"""

SERVICES = """
zone: p.test
import: p.test.zone
regions:
  one:
    location: {lat: 50.1, lon: 8.7}
    endpoints: [192.0.2.1, "2001:db8:1::1"]
  two:
    location: {lat: 1.3, lon: 103.8}
    endpoints: [198.51.100.1]
services:
  app:
    names: [app.svc.deep]
    regions: [one, two]
"""

TYPES = ["A", "AAAA", "NS", "MX", "TXT", "CNAME", "SOA", "SRV", "CAA", "DS", "ANY", "PTR", "TYPE65400"]


def _load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, packed: bool) -> Table:
    (tmp_path / "p.test.zone").write_text(MASTER)
    (tmp_path / "p.yaml").write_text(SERVICES)
    monkeypatch.setattr(zonebuild, "PACK_THRESHOLD", 0 if packed else 10**9)
    config = load([str(tmp_path / "p.yaml")])
    assert isinstance(config.zones["p.test."].rrsets, PackedRRsets) is packed
    return Table(config)


def _names(table: Table) -> list[str]:
    rrsets = table.config.zones["p.test."].rrsets
    names = set(rrsets) | {"app.svc.deep.p.test.", "svc.deep.p.test.",
                                                      "deep.p.test.", "a.b.p.test.", "b.p.test."}
    extra = set()
    for n in names:
        extra |= {"nope." + n, "zz" + n, "*." + n}
    return sorted(names | extra | {"anything.wild.p.test.", "deeper.x.wild.p.test.", "below.ns.sub.p.test.",
                                   "p.test.", "other.test.", "esc\\.aped.p.test."})


def test_packed_zone_answers_every_question_as_the_unpacked_one(tmp_path: Path, monkeypatch) -> None:
    plain = _load(tmp_path, monkeypatch, packed=False)
    packed = _load(tmp_path, monkeypatch, packed=True)
    asked = 0
    for name in _names(plain):
        for rdtype in TYPES:
            query = dns.message.make_query(dns.name.from_text(name), rdtype).to_wire()
            a = Responder(plain).answer(query, "192.0.2.9")
            b = Responder(packed).answer(query, "192.0.2.9")
            assert a == b, f"{name} {rdtype}: {dns.message.from_wire(a)}\n!=\n{dns.message.from_wire(b)}"
            asked += 1
    assert asked > 500


def test_packed_mapping_reads_as_the_dict(tmp_path: Path, monkeypatch) -> None:
    plain = _load(tmp_path, monkeypatch, packed=False).config.zones["p.test."]
    packed = _load(tmp_path, monkeypatch, packed=True).config.zones["p.test."]
    p, d = packed.rrsets, plain.rrsets
    assert isinstance(p, PackedRRsets)
    assert len(p) == len(d) and sorted(p) == sorted(d)
    assert {n: dict(p[n]) for n in p} == {n: dict(d[n]) for n in d}
    assert packed.record_count() == plain.record_count() == 23
    assert p == d  # Mapping equality, name by name
    # empty non-terminals exist but hold no data, as in the dict
    for ent in ("a.b.p.test.", "b.p.test.", "deep.a.b.p.test.", "_udp.p.test."):
        assert p.exists(ent) and ent not in p and p.get(ent) is None
        with pytest.raises(KeyError):
            p[ent]
    assert not p.exists("nope.p.test.") and "nope.p.test." not in p and 7 not in p
    assert p.cuts == frozenset({"sub.p.test."})
    again = pickle.loads(pickle.dumps(p))  # not shared: the bytes travel
    assert again == p and again is not p


@pytest.mark.parametrize("collide", [False, True])
def test_pack_finds_every_name_however_crowded(monkeypatch, collide: bool) -> None:
    """Names find their entries past others in the same slot run, with the real hash and with one that puts
    every name in one slot (each lookup then probes through the whole run); absent names are not found."""
    if collide:
        monkeypatch.setattr(packed_mod, "zlib", SimpleNamespace(crc32=lambda raw: 7))
    owners = [(f"n{i}.z.", [(1, 60, ((f"10.0.{i // 256}.{i % 256}",),))]) for i in range(600)]
    p = PackedRRsets(pack("z.", [("z.", [(6, 60, (("a.", "b.", 1, 2, 3, 4, 5),))])] + owners, []))
    assert len(p) == 601 and p.records == 601
    for i in range(600):
        assert p[f"n{i}.z."][1].rdatas[0].fields == (f"10.0.{i // 256}.{i % 256}",)
    assert all(f"m{i}.z." not in p and not p.exists(f"n{i}.y.") for i in range(600))
    assert p["z."][6].rdatas[0].fields[0] == "a."


def test_bad_buffer_is_refused() -> None:
    with pytest.raises(ValueError, match="not a packed zone"):
        PackedRRsets(b"something else entirely")


@pytest.mark.skipif(not sharedmem.available(), reason="needs memfd and /proc (Linux)")
def test_shared_zone_is_mapped_by_another_process_not_copied(tmp_path: Path, monkeypatch) -> None:
    config = _load(tmp_path, monkeypatch, packed=True).config
    p = config.zones["p.test."].rrsets
    assert isinstance(p, PackedRRsets)
    size = p.nbytes
    zones = sharedmem.SharedZones()  # this process's
    assert zones.share(config) == size
    assert zones.share(config) == 0  # already shared
    assert p.shared is not None and p.shared[0] == os.getpid()
    before = dumps(_load(tmp_path, monkeypatch, packed=True).config)
    message = dumps(config)  # as the channel to the workers pickles it
    assert b"web.deep" in before and b"web.deep" not in message  # a reference travels, not the zone
    assert len(message) < len(before) - size + 200
    assert loads(message, zones).zones["p.test."].rrsets is p  # this process: the same object
    with pytest.raises(pickle.UnpicklingError, match="cannot attach"):
        loads(message)  # a reference needs the process's shared zones to resolve it
    # a plain pickle (not the channel) carries the bytes: correct anywhere, just not shared
    assert pickle.loads(pickle.dumps(p)) == p
    # Another process with no inbox: it maps the file through /proc/<pid>/fd.
    child = ("import sys; from gtm.proc import channel, sharedmem; "
             "c = channel.loads(sys.stdin.buffer.read(), sharedmem.SharedZones()); "
             "z = c.zones['p.test.'].rrsets; print(z['web.deep.a.b.p.test.'][1].rdatas[0].fields[0], len(z))")
    out = subprocess.run([sys.executable, "-c", child], input=message, capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout.decode().split() == ["192.0.2.80", str(len(p))]

    # As the workers get them: the files passed over a socketpair (SCM_RIGHTS), no /proc needed.
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with ours, theirs:
        assert sharedmem.send(ours, config)
        child = ("import os, socket, sys; from gtm.proc import channel, sharedmem; "
                 "inbox = socket.socket(fileno=int(sys.argv[1])); inbox.setblocking(False); "
                 "real = os.open; os.open = lambda path, *a: (_ for _ in ()).throw(PermissionError(path)) "
                 "if path.startswith('/proc') else real(path, *a); "
                 "c = channel.loads(sys.stdin.buffer.read(), sharedmem.SharedZones(inbox)); "
                 "z = c.zones['p.test.'].rrsets; print(z['web.deep.a.b.p.test.'][28].rdatas[0].fields[0])")
        out = subprocess.run([sys.executable, "-c", child, str(theirs.fileno())], input=message,
                             capture_output=True, timeout=60, pass_fds=[theirs.fileno()])
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout.decode().split() == ["2001:db8::80"]


@pytest.mark.skipif(not sharedmem.available(), reason="needs memfd and /proc (Linux)")
def test_a_stale_shared_reference_fails_clearly(tmp_path: Path, monkeypatch) -> None:
    config = _load(tmp_path, monkeypatch, packed=True).config
    sharedmem.SharedZones().share(config)
    p = config.zones["p.test."].rrsets
    assert isinstance(p, PackedRRsets) and p.shared is not None
    pid, fd, token, size = p.shared
    elsewhere = sharedmem.SharedZones()  # another process's view: it knows none of these tokens
    with pytest.raises(ValueError, match="no longer the one sent"):
        elsewhere.attach(pid, fd, b"x" * len(token), size)
    with pytest.raises(ValueError, match="cannot be opened"):
        elsewhere.attach(pid, 10**6, b"y" * len(token), size)
