"""Hosts for the fleet tests: network namespaces on a bridge, or loopback addresses where namespaces cannot be made.

:class:`Net` gives each host (a DNS node, a prober, a region's load balancers) its own addresses. With network
namespaces (root, ``ip``), each host is a namespace ``gtm-TAG-NAME`` joined to a bridge in the root namespace by
a veth pair, on ``10.213.N.0/24``; the root namespace holds ``.1`` (the operator's machine: the test itself and
the ``gtm`` commands it runs). Without them, hosts are addresses on loopback (``127.213.N.x``, all loopback on
Linux) and processes run in the root namespace; ``Net.why_loopback`` says why (``GTM_TEST_LOOPBACK=1`` asks for
loopback). The net removes everything it
made (processes first, by PID) when closed.
"""
from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=10)


@dataclass
class Host:
    name: str
    addresses: list[str]
    namespace: str | None = None


@dataclass
class Net:
    tag: str = field(default_factory=lambda: f"{random.randrange(16 ** 4):04x}")
    subnet: int = field(default_factory=lambda: random.randrange(1, 250))
    hosts: dict[str, Host] = field(default_factory=dict)
    procs: list[subprocess.Popen[Any]] = field(default_factory=list)
    why_loopback: str | None = None
    _next: int = 10
    _made: list[tuple[str, str]] = field(default_factory=list)  # ("netns"|"link", name), for cleanup

    def __post_init__(self) -> None:
        self.why_loopback = self._bridge()

    # -- the network ----------------------------------------------------------------------------------------------
    @property
    def namespaces(self) -> bool:
        return self.why_loopback is None

    @property
    def operator(self) -> str:
        """The root namespace's address on the net (where the test and its commands run from)."""
        return f"10.213.{self.subnet}.1" if self.namespaces else "127.0.0.1"

    def _bridge(self) -> str | None:
        if os.environ.get("GTM_TEST_LOOPBACK"):
            return "GTM_TEST_LOOPBACK is set"
        if os.geteuid() != 0:
            return "not root"
        if shutil.which("ip") is None:
            return "no ip command"
        bridge = f"gtb{self.tag}"
        try:
            _ip("link", "add", bridge, "type", "bridge")
            self._made.append(("link", bridge))
            _ip("addr", "add", f"10.213.{self.subnet}.1/24", "dev", bridge)
            _ip("link", "set", bridge, "up")
        except (subprocess.CalledProcessError, OSError, subprocess.TimeoutExpired) as e:
            self._undo()
            return f"cannot make a bridge ({getattr(e, 'stderr', '') or e})".strip()
        return None

    def host(self, name: str, count: int = 1) -> Host:
        """A new host with ``count`` addresses of its own."""
        addresses = []
        for _ in range(count):
            self._next += 1
            addresses.append(f"10.213.{self.subnet}.{self._next}" if self.namespaces
                             else f"127.213.{self.subnet}.{self._next}")
        h = Host(name, addresses)
        if self.namespaces:
            ns, outside, inside = f"gtm-{self.tag}-{name}", f"gt{self.tag}{len(self.hosts):02d}a", \
                f"gt{self.tag}{len(self.hosts):02d}b"
            try:
                _ip("netns", "add", ns)
                self._made.append(("netns", ns))
                _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
                self._made.append(("link", outside))
                _ip("link", "set", outside, "master", f"gtb{self.tag}")
                _ip("link", "set", outside, "up")
                _ip("link", "set", inside, "netns", ns)
                for a in addresses:
                    _ip("-n", ns, "addr", "add", f"{a}/24", "dev", inside)
                _ip("-n", ns, "link", "set", inside, "up")
                _ip("-n", ns, "link", "set", "lo", "up")
            except subprocess.CalledProcessError as e:
                raise RuntimeError(f"network namespace {ns}: {e.stderr.strip()}") from None
            h.namespace = ns
        self.hosts[name] = h
        return h

    def reachable(self, host: Host, port: int, timeout: float = 5.0) -> bool:
        """Whether something accepts TCP connections at the host's first address and ``port`` (from the root)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((host.addresses[0], port), timeout=0.5):
                    return True
            except OSError:
                time.sleep(0.05)
        return False

    # -- processes ------------------------------------------------------------------------------------------------
    def popen(self, host: Host, argv: list[str], **kw: Any) -> subprocess.Popen[Any]:
        """Start ``argv`` on ``host`` (in its namespace, if it has one); stopped with the net."""
        prefix = ["ip", "netns", "exec", host.namespace] if host.namespace else []
        p = subprocess.Popen(prefix + argv, **kw)
        self.procs.append(p)
        return p

    @staticmethod
    def stop(p: subprocess.Popen[Any], timeout: float = 10.0) -> int | None:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        return p.returncode

    def close(self) -> None:
        for p in reversed(self.procs):
            self.stop(p)
        self._undo()

    def _undo(self) -> None:
        for kind, name in reversed(self._made):
            args = ("netns", "del", name) if kind == "netns" else ("link", "del", name)
            subprocess.run(["ip", *args], capture_output=True, timeout=10)
        self._made.clear()
