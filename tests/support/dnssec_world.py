"""Shared helpers for the DNSSEC tests: the bundled example made a signed zone, independent validators (BIND's
``delv``, Unbound) pointed at a running ``gtm serve``, and a small UDP relay between a validator and gtm that
does what the validator cannot: add an EDNS Client Subnet option to every query (a resolver's ECS), or break
the signature of chosen names on their way back (a tampered answer).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable

import dns.edns
import dns.flags
import dns.message
import dns.query
import dns.rdatatype
import dns.rrset

from tests.conftest import ROOT, run_gtm

ZONE = "example.com."


def signed_example(where: Path, period: int | None = None) -> tuple[Path, str]:
    """The bundled example in ``where/zones`` as a signed zone with a new key; (the zones directory, the DS)."""
    zones = where / "zones"
    zones.mkdir(parents=True)
    text = (ROOT / "zones" / "example.com.yaml").read_text()
    settings = "{key_dir: keys" + (f", signature_period: {period}" if period else "") + "}"
    text = text.replace("zone: example.com\n", f"zone: example.com\nsigned: true\ndnssec: {settings}\n", 1)
    # an RRset that fits 1232 octets unsigned (1169), not signed (1276): truncated over UDP, whole over TCP
    big = ", ".join(f'"{chr(97 + i) * n}"' for i, n in enumerate((250, 250, 250, 250, 60)))
    text = text.replace("\nrecords:\n", f"\nrecords:\n  big: {{TXT: [{big}]}}\n", 1)
    (zones / "example.com.yaml").write_text(text)
    made = run_gtm("dnssec", "keygen", "example.com", "-c", str(zones), cwd=where)
    assert made.returncode == 0, made.stderr
    ds = run_gtm("dnssec", "ds", "example.com", "-c", str(zones), cwd=where)
    assert ds.returncode == 0, ds.stderr
    return zones, ds.stdout.strip()


def delv_anchor(where: Path, ds: str) -> Path:
    """A delv trust-anchor file holding ``ds`` (``example.com. IN DS tag alg digest-type digest``)."""
    owner, _, _, tag, alg, dtype, digest = ds.split()
    path = where / "anchor.conf"
    path.write_text(f'trust-anchors {{ {owner} static-ds {tag} {alg} {dtype} "{digest}"; }};\n')
    return path


def delv(port: int, anchor: Path, name: str, rtype: str = "A") -> str:
    """What ``delv`` says of ``name``/``rtype`` asked of 127.0.0.1:``port``, validated from ``anchor``."""
    got = subprocess.run(["delv", "@127.0.0.1", "-p", str(port), "-a", str(anchor), "+root=example.com", name,
                          rtype], capture_output=True, text=True, timeout=20)
    return got.stdout + got.stderr


def answers(delv_output: str, rtype: str = "A") -> list[str]:
    """The RDATA of the ``rtype`` records delv printed."""
    out = []
    for line in delv_output.splitlines():
        parts = line.split()
        if len(parts) >= 5 and not line.startswith(";") and parts[3] == rtype:
            out.append(" ".join(parts[4:]))
    return sorted(out)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Relay:
    """A UDP relay on 127.0.0.1 in front of a DNS server: ``ecs`` (``"81.2.69.0/24"``) is added to every query
    and taken out of the replies; the RRSIGs over names in ``tamper`` get one bit of their signature flipped.
    Stopped with :meth:`close` (its thread polls a stop flag; nothing outlives the test)."""

    def __init__(self, upstream: int, ecs: str | None = None):
        self.upstream, self.ecs = upstream, ecs
        self.tamper: set[str] = set()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = int(self.sock.getsockname()[1])
        self.relayed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except (socket.timeout, OSError):
                continue
            try:
                self.sock.sendto(self._relay(data), peer)
                self.relayed += 1
            except Exception:  # a query the relay cannot handle goes unanswered; the validator retries or fails
                continue

    def _relay(self, data: bytes) -> bytes:
        query = dns.message.from_wire(data)
        options = [o for o in query.options if not isinstance(o, dns.edns.ECSOption)]
        if self.ecs is not None:
            address, prefix = self.ecs.split("/")
            options.append(dns.edns.ECSOption(address, int(prefix)))
        query.use_edns(0, query.ednsflags, max(query.payload, 1232), options=options)
        reply = dns.query.udp(query, "127.0.0.1", port=self.upstream, timeout=2)
        reply.use_edns(0, reply.ednsflags, reply.payload,
                       options=[o for o in reply.options if not isinstance(o, dns.edns.ECSOption)])
        for section in (reply.answer, reply.authority):
            for i, rrset in enumerate(section):
                if rrset.rdtype == dns.rdatatype.RRSIG and rrset.name.to_text().lower() in self.tamper:
                    section[i] = dns.rrset.from_rdata_list(rrset.name, rrset.ttl, [
                        rd.replace(signature=rd.signature[:-1] + bytes([rd.signature[-1] ^ 1])) for rd in rrset])
        return reply.to_wire(query.id)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


class Unbound:
    """Unbound as a validating resolver on 127.0.0.1: a stub zone for the anchor's zone at ``upstream`` (a port
    on 127.0.0.1), the trust anchor ``ds``, nothing cached for longer than ``cache_max_ttl`` seconds (so a changed
    answer is asked for again; None: as the TTLs say). Stopped by its PID."""

    def __init__(self, where: Path, upstream: int, ds: str, cache_max_ttl: int | None = 1):
        self.port = free_udp_port()
        where.mkdir(parents=True, exist_ok=True)
        conf = where / "unbound.conf"
        cache = "" if cache_max_ttl is None else (f"  cache-max-ttl: {cache_max_ttl}\n"
                                                   f"  cache-max-negative-ttl: {cache_max_ttl}\n")
        conf.write_text(f"""server:
  interface: 127.0.0.1
  port: {self.port}
  do-ip6: no
  do-tcp: yes
  username: ""
  chroot: ""
  directory: "{where}"
  pidfile: ""
  use-syslog: no
  logfile: ""
  verbosity: 1
  val-log-level: 2
  access-control: 127.0.0.0/8 allow
  do-not-query-localhost: no
  local-zone: "test." nodefault
  module-config: "validator iterator"
  trust-anchor: "{ds.replace(' IN ', ' ')}"
{cache}  val-bogus-ttl: 1
  qname-minimisation: no
  harden-referral-path: no
  target-fetch-policy: "0 0 0 0 0"
stub-zone:
  name: "{ds.split()[0]}"
  stub-addr: 127.0.0.1@{upstream}
""")
        self.proc = subprocess.Popen([shutil.which("unbound") or "/usr/sbin/unbound", "-d", "-c", str(conf)],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env={**os.environ})
        deadline = time.monotonic() + 15
        while True:
            try:
                dns.query.udp(dns.message.make_query(ds.split()[0], "SOA"), "127.0.0.1", port=self.port, timeout=1)
                break
            except Exception:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    out = self.stop()
                    raise RuntimeError("unbound did not start:\n" + out)
                time.sleep(0.1)

    def ask(self, name: str, rtype: str = "A") -> dns.message.Message:
        query = dns.message.make_query(name, rtype, want_dnssec=True)
        query.flags |= dns.flags.AD
        return dns.query.udp(query, "127.0.0.1", port=self.port, timeout=5)

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        assert self.proc.stdout is not None
        return self.proc.stdout.read()


def until(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()
