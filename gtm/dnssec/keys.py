"""DNSSEC keys of signed zones: made by ``gtm dnssec keygen``, kept one JSON file per key in the configured key
directory, read by every node that serves the zone.

A key file holds the zone, the algorithm, the role (``csk``: one combined key signing everything, the default;
``ksk``/``zsk``: the split), the DNSKEY flags, the public key (as its DNSKEY RDATA), the private key (PKCS#8
PEM), the state (``active``, ``published``, ``retired``) and the times of its life (Unix seconds). The
directory is 0700 and the files 0600, written atomically; a file another user can read is refused as a
secret exposed. Every node of a fleet signs with the same keys, so the directory is distributed to them as
the report keys are (docs/dnssec.md).

Algorithms: ECDSA P-256 with SHA-256 (13), the default, and Ed25519 (15): small keys and signatures, fast to
make, validated everywhere that matters (RFC 8624).
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import dns.dnssec
import dns.dnssectypes
import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from gtm.errors import GtmError
from gtm.files import exposure, write_atomic

ALGORITHMS = {"ecdsap256sha256": 13, "ed25519": 15}
ALGORITHM_NAMES = {v: k for k, v in ALGORITHMS.items()}
ROLES = {"csk": 257, "ksk": 257, "zsk": 256}   # DNSKEY flags: ZONE (256), plus SEP (1) for a key-signing key
STATES = ("published", "active", "retired")
FORMAT = "gtm-dnssec-key/1"


@dataclass(frozen=True)
class Key:
    """One DNSSEC key of ``zone`` (absolute, lower case)."""

    zone: str
    algorithm: int
    role: str
    dnskey: str            # the DNSKEY RDATA in presentation form ("257 3 13 <base64>")
    private_pem: str
    state: str = "active"
    created: float = 0.0
    published: float | None = None
    activated: float | None = None
    retired: float | None = None
    path: str = ""          # where it was read from (not stored)

    @property
    def flags(self) -> int:
        return ROLES[self.role]

    @property
    def rdata(self) -> Any:
        return dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.DNSKEY, self.dnskey)

    @property
    def tag(self) -> int:
        return int(dns.dnssec.key_id(self.rdata))

    @property
    def signs_keys(self) -> bool:
        """Whether it signs the DNSKEY RRset (a CSK or a KSK: its DS is the parent's)."""
        return self.role in ("csk", "ksk")

    @property
    def file_name(self) -> str:
        return f"K{self.zone.rstrip('.') or 'root'}+{self.algorithm:03d}+{self.tag:05d}.json"

    def private_key(self) -> Any:
        return serialization.load_pem_private_key(self.private_pem.encode(), password=None)

    def ds(self, digest: str = "SHA256") -> str:
        """The DS record for the parent zone, in presentation form."""
        ds = dns.dnssec.make_ds(dns.name.from_text(self.zone), self.rdata, digest)
        return f"{self.zone} IN DS {ds.to_text()}"


def generate(zone: str, algorithm: str = "ecdsap256sha256", role: str = "csk", now: float | None = None,
             avoid: set[int] | frozenset[int] = frozenset()) -> Key:
    """A new key (active from now), whose tag is none of ``avoid`` (the zone's keys: a tag names a key's file)."""
    while True:
        key = _generate(zone, algorithm, role, now)
        if key.tag not in avoid:
            return key


def _generate(zone: str, algorithm: str, role: str, now: float | None) -> Key:
    if algorithm not in ALGORITHMS:
        raise GtmError(f"unknown DNSSEC algorithm {algorithm!r}; known: {', '.join(ALGORITHMS)}")
    if role not in ROLES:
        raise GtmError(f"unknown key role {role!r}; known: {', '.join(ROLES)}")
    number = ALGORITHMS[algorithm]
    private: Any = ec.generate_private_key(ec.SECP256R1()) if number == 13 else ed25519.Ed25519PrivateKey.generate()
    dnskey = dns.dnssec.make_dnskey(private.public_key(), dns.dnssectypes.Algorithm(number), flags=ROLES[role])
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    at = time.time() if now is None else now
    return Key(zone.lower().rstrip(".") + ".", number, role, dnskey.to_text(), pem, "active", at, at, at)


def write(key_dir: str, key: Key) -> Path:
    """Write ``key`` into ``key_dir`` (made 0700 when missing) as a 0600 file; the path."""
    os.makedirs(key_dir, mode=0o700, exist_ok=True)
    path = Path(key_dir) / key.file_name
    data = {k: v for k, v in asdict(key).items() if k != "path"}
    write_atomic(str(path), (json.dumps({"format": FORMAT, **data}, indent=1) + "\n").encode(), mode=0o600)
    return path


def load(key_dir: str, zone: str) -> list[Key]:
    """Every key of ``zone`` in ``key_dir``; GtmError naming the file for one that cannot be read, is not a key
    file, belongs to another zone under this zone's name, has an algorithm gtm does not sign with, or whose
    private and public keys do not match."""
    origin = zone.lower().rstrip(".") + "."
    prefix = f"K{origin.rstrip('.') or 'root'}+"
    if not os.path.isdir(key_dir):
        raise GtmError(f"{key_dir}: no such key directory (dnssec.key_dir; gtm dnssec keygen {origin} makes it)")
    out = []
    for entry in sorted(os.listdir(key_dir)):
        if not (entry.startswith(prefix) and entry.endswith(".json")):
            continue
        out.append(read(os.path.join(key_dir, entry), origin))
    return out


def read(path: str, zone: str | None = None) -> Key:
    """One key file (see :func:`load`)."""
    why = exposure(path, secret=True)
    if why is not None:
        raise GtmError(f"{path}: {why}")
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except OSError as e:
        raise GtmError(f"{path}: cannot read the key file: {e.strerror or e}") from None
    except ValueError as e:
        raise GtmError(f"{path}: not a key file (bad JSON: {e})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise GtmError(f"{path}: not a gtm DNSSEC key file (format {data.get('format') if isinstance(data, dict) else None!r})")
    try:
        key = Key(**{k: v for k, v in data.items() if k in Key.__dataclass_fields__ and k != "path"}, path=path)
        if key.algorithm not in ALGORITHM_NAMES:
            raise GtmError(f"{path}: algorithm {key.algorithm} is not one gtm signs with "
                           f"({', '.join(f'{n} ({a})' for a, n in ALGORITHM_NAMES.items())})")
        if zone is not None and key.zone != zone:
            raise GtmError(f"{path}: the key is for zone {key.zone}, not {zone}")
        if key.role not in ROLES or key.state not in STATES:
            raise GtmError(f"{path}: role {key.role!r} / state {key.state!r} not known")
        public = dns.dnssec.make_dnskey(key.private_key().public_key(), dns.dnssectypes.Algorithm(key.algorithm),
                                        flags=key.flags)
        if public.key != key.rdata.key or key.rdata.algorithm != key.algorithm:
            raise GtmError(f"{path}: the private key does not match the DNSKEY")
    except GtmError:
        raise
    except (TypeError, ValueError, dns.exception.DNSException) as e:
        raise GtmError(f"{path}: a broken key file ({type(e).__name__}: {e})") from None
    return key


__all__ = ["ALGORITHMS", "Key", "generate", "load", "read", "write"]
