"""Key rollovers' steps and their guards, on the clock the tests give (gtm.dnssec.roll): pre-publish for a
combined key with the parent's DS (double-DS) in between, double-DS for a key-signing key; the CDS/CDNSKEY
name both key-signing keys while one is rolled in; a step before its time, or before --ds-seen, changes
nothing; a broken state file is named. (The whole roll under a validating resolver: tests/integration/
test_dnssec_roll.py.)"""
from __future__ import annotations

from pathlib import Path

import pytest

from gtm.config import load
from gtm.dnssec import keys
from gtm.dnssec.roll import Timings, advance, path_of, read
from gtm.dnssec.zone import CDS, DNSKEY, apex_rrsets, published
from gtm.errors import GtmError

ZONE = "zone: s.test\nttl: 600\nsoa: {minimum: 300}\nns: [ns1]\nsigned: true\ndnssec: {key_dir: keys}\n" \
       "records:\n  ns1: {A: 192.0.2.53, ttl: 7200}\n"
T = Timings(dnskey_ttl=600, max_ttl=7200, propagation=60, parent_ds_ttl=86400)
NOW = 1_765_000_000.0


def setup(tmp_path: Path, *roles: str) -> tuple[str, list[keys.Key]]:
    (tmp_path / "s.test.yaml").write_text(ZONE)
    made = [keys.generate("s.test", role=r, now=NOW - 10) for r in roles]
    for k in made:
        keys.write(str(tmp_path / "keys"), k)
    return str(tmp_path / "keys"), made


def states(key_dir: str) -> dict[int, str]:
    return {k.tag: k.state for k in keys.load(key_dir, "s.test.")}


def apex(tmp_path: Path, rtype: int) -> int:
    config = published(load([str(tmp_path / "s.test.yaml")]))
    return len(apex_rrsets(config.zones["s.test."])[rtype].rdatas)


def test_a_combined_key_roll_waits_for_the_dnskey_ttl_the_parent_and_the_longest_ttl(tmp_path: Path) -> None:
    key_dir, (old,) = setup(tmp_path, "csk")
    zone = load([str(tmp_path / "s.test.yaml")]).zones["s.test."]
    first = advance(key_dir, zone, T, NOW)
    assert first.changed and first.roll is not None
    new = first.roll.new
    assert states(key_dir) == {old.tag: "active", new: "published"}
    assert apex(tmp_path, DNSKEY) == 2 and apex(tmp_path, CDS) == 2  # double-DS: both named for the parent
    assert any("--ds-seen" in line for line in first.lines)

    waiting = advance(key_dir, zone, T, NOW + 10_000)  # long after the DNSKEY TTL, but the parent has not the DS
    assert not waiting.changed and "--ds-seen" in waiting.lines[0]
    seen = advance(key_dir, zone, T, NOW + 10_000, ds_seen=True)  # noted; the parent's DS TTL runs from here
    assert not seen.changed and seen.ready_at == NOW + 10_000 + 86400
    assert read(key_dir, "s.test.").ds_seen == NOW + 10_000  # type: ignore[union-attr]
    assert states(key_dir) == {old.tag: "active", new: "published"}

    active = advance(key_dir, zone, T, NOW + 10_000 + 86400)
    assert active.changed and states(key_dir) == {old.tag: "published", new: "active"}
    assert not advance(key_dir, zone, T, NOW + 10_000 + 86400 + 7200).changed  # max TTL + propagation: not yet
    done = advance(key_dir, zone, T, NOW + 10_000 + 86400 + 7260)
    assert done.changed and states(key_dir) == {old.tag: "retired", new: "active"}
    assert "complete" in done.lines[-1] and any(f"DS of {old.tag}" in line for line in done.lines)
    assert not path_of(key_dir, "s.test.").exists() and apex(tmp_path, DNSKEY) == 1 and apex(tmp_path, CDS) == 1


def test_a_zone_signing_key_roll_is_pre_publish(tmp_path: Path) -> None:
    key_dir, (ksk, zsk) = setup(tmp_path, "ksk", "zsk")
    zone = load([str(tmp_path / "s.test.yaml")]).zones["s.test."]
    new = advance(key_dir, zone, T, NOW).roll.new  # type: ignore[union-attr]
    assert not advance(key_dir, zone, T, NOW + 659).changed  # DNSKEY TTL 600 + propagation 60
    assert advance(key_dir, zone, T, NOW + 660).changed
    assert states(key_dir) == {ksk.tag: "active", zsk.tag: "published", new: "active"}
    assert apex(tmp_path, CDS) == 1  # the key-signing key did not change
    assert advance(key_dir, zone, T, NOW + 660 + 7260).changed
    assert states(key_dir) == {ksk.tag: "active", zsk.tag: "retired", new: "active"}


def test_a_key_signing_key_roll_is_double_ds(tmp_path: Path) -> None:
    key_dir, (ksk, zsk) = setup(tmp_path, "ksk", "zsk")
    zone = load([str(tmp_path / "s.test.yaml")]).zones["s.test."]
    new = advance(key_dir, zone, T, NOW, kind="ksk").roll.new  # type: ignore[union-attr]
    with pytest.raises(GtmError, match="a ksk roll of s.test. is under way"):
        advance(key_dir, zone, T, NOW, kind="zsk")
    advance(key_dir, zone, T, NOW + 100, ds_seen=True)
    swapped = advance(key_dir, zone, T, NOW + 100 + 86400)
    assert swapped.changed and states(key_dir) == {ksk.tag: "published", zsk.tag: "active", new: "active"}
    assert apex(tmp_path, CDS) == 2  # the parent keeps the old DS while the old DNSKEY RRset may be cached
    assert not advance(key_dir, zone, T, NOW + 100 + 86400 + 659).changed
    done = advance(key_dir, zone, T, NOW + 100 + 86400 + 660)
    assert done.changed and any(f"drop the DS of {ksk.tag}" in line for line in done.lines)
    assert states(key_dir) == {ksk.tag: "retired", zsk.tag: "active", new: "active"} and apex(tmp_path, CDS) == 1


def test_a_broken_state_file_is_named(tmp_path: Path) -> None:
    key_dir, _ = setup(tmp_path, "csk")
    zone = load([str(tmp_path / "s.test.yaml")]).zones["s.test."]
    path_of(key_dir, "s.test.").write_text("{nope")
    with pytest.raises(GtmError, match=r"roll-s\.test\.json: cannot read the roll's state"):
        advance(key_dir, zone, T, NOW)
