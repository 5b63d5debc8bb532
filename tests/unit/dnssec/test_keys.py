"""DNSSEC key files (gtm.dnssec.keys) on plain files: made with safe permissions, read back the same, the DS
dnspython computes, and every broken file refused with its path named."""
from __future__ import annotations

import json
import re
import os
import stat
from pathlib import Path

import dns.dnssec
import dns.name
import pytest

from gtm.dnssec import keys
from gtm.errors import GtmError


@pytest.mark.parametrize("algorithm, number", [("ecdsap256sha256", 13), ("ed25519", 15)])
def test_a_key_is_written_privately_and_read_back_the_same(tmp_path: Path, algorithm: str, number: int) -> None:
    key = keys.generate("Example.COM", algorithm)
    path = keys.write(str(tmp_path / "keys"), key)
    assert stat.S_IMODE(os.stat(tmp_path / "keys").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert path.name == f"Kexample.com+{number:03d}+{key.tag:05d}.json"
    (back,) = keys.load(str(tmp_path / "keys"), "example.com.")
    assert (back.zone, back.algorithm, back.role, back.flags, back.dnskey, back.tag) == (
        "example.com.", number, "csk", 257, key.dnskey, key.tag)
    expected = dns.dnssec.make_ds(dns.name.from_text("example.com."), key.rdata, "SHA256").to_text()
    assert back.ds() == f"example.com. IN DS {expected}"
    assert expected.startswith(f"{key.tag} {number} 2 ")


def test_a_split_pair_has_the_flags_of_its_roles() -> None:
    assert (keys.generate("example.com", role="ksk").flags, keys.generate("example.com", role="zsk").flags) == (257, 256)
    assert keys.generate("example.com", role="zsk").signs_keys is False
    with pytest.raises(GtmError, match="unknown DNSSEC algorithm 'rsasha1'"):
        keys.generate("example.com", "rsasha1")


def test_broken_key_files_are_refused_with_their_path(tmp_path: Path) -> None:
    d = tmp_path / "keys"
    path = keys.write(str(d), keys.generate("example.com"))
    data = json.loads(path.read_text())

    def rewrite(**changes: object) -> Path:
        path.write_text(json.dumps({**data, **changes}))
        os.chmod(path, 0o600)
        return path

    rewrite(zone="example.org.")
    with pytest.raises(GtmError, match=re.escape(f"{path}: the key is for zone example.org., not example.com.")):
        keys.load(str(d), "example.com")
    rewrite(algorithm=8)
    with pytest.raises(GtmError, match=re.escape(f"{path}: algorithm 8 is not one gtm signs with")):
        keys.load(str(d), "example.com")
    other = keys.generate("example.com")
    rewrite(private_pem=other.private_pem)
    with pytest.raises(GtmError, match=re.escape(f"{path}: the private key does not match the DNSKEY")):
        keys.load(str(d), "example.com")
    path.write_text("{not json")
    with pytest.raises(GtmError, match=re.escape(f"{path}: not a key file (bad JSON")):
        keys.load(str(d), "example.com")
    rewrite()
    os.chmod(path, 0o644)
    with pytest.raises(GtmError, match=re.escape(f"{path}: ")):  # a secret others can read
        keys.load(str(d), "example.com")
    with pytest.raises(GtmError, match="no such key directory"):
        keys.load(str(tmp_path / "nowhere"), "example.com")
