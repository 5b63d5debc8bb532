"""Verification by real DNS queries: every node, every managed name of the services concerned, A and AAAA,
from a sample of client networks (sent as EDNS Client Subnet), each answer mapped back to the regions whose
endpoints it names (by the node's own view of the regions)."""
from __future__ import annotations

import asyncio
import ipaddress
import time
from dataclasses import dataclass
from typing import Sequence

from gtm.dns.client import IPNet, ask
from gtm.model import A, AAAA, NodeAddress


@dataclass(frozen=True)
class Probe:
    node: NodeAddress
    name: str
    qtype: int
    client: IPNet
    where: str                       # "EU/DE": the client network's continent and country

    @property
    def node_key(self) -> str:
        return f"{self.node.dns[0]}:{self.node.dns[1]}"

    def label(self) -> str:
        return f"{self.name} {'A' if self.qtype == A else 'AAAA'} from {self.client} ({self.where})"


@dataclass(frozen=True)
class Seen:
    probe: Probe
    at: float                        # time.monotonic() when the answer came
    addresses: tuple[str, ...]
    regions: tuple[str, ...]
    error: str | None = None


def probes_for(nodes: Sequence[NodeAddress], names: Sequence[str], families: dict[str, set[int]],
               clients: Sequence[tuple[IPNet, str, str]]) -> list[Probe]:
    """One probe per node, name, family the node has endpoints of (``families``: per node key, IP versions),
    and client network (the node's own family's clients are used: ECS of the other family would be odd)."""
    out = []
    for node in nodes:
        key = f"{node.dns[0]}:{node.dns[1]}"
        for name in names:
            for qtype, version in ((A, 4), (AAAA, 6)):
                if version not in families.get(key, {4, 6}):
                    continue
                for net, continent, country in clients:
                    out.append(Probe(node, name, qtype, net, f"{continent}/{country}"))
    return out


class Verifier:
    """Runs rounds of probes, at most ``parallel`` queries at once."""

    def __init__(self, probes: Sequence[Probe], region_of: dict[str, dict[str, str]], parallel: int = 64,
                 timeout: float = 1.0):
        self.probes = list(probes)
        self.region_of = region_of   # node key -> address -> region
        self.limit = asyncio.Semaphore(parallel)
        self.timeout = timeout
        self.queries = 0

    async def one(self, probe: Probe) -> Seen:
        async with self.limit:
            self.queries += 1
            try:
                reply = await ask(probe.node.dns, probe.name, probe.qtype, probe.client, timeout=self.timeout)
            except (TimeoutError, OSError) as e:
                return Seen(probe, time.monotonic(), (), (), str(e) or type(e).__name__)
        if reply.rcode != 0:
            return Seen(probe, time.monotonic(), (), (), f"rcode {reply.rcode}")
        mapping = self.region_of.get(probe.node_key, {})
        regions = tuple(dict.fromkeys(mapping.get(str(ipaddress.ip_address(a)), "?") for a in reply.addresses))
        if reply.cname is not None and (not regions or "?" in regions):
            # a CNAME answer (answer_as: cname): the hostname names its region (the node's status maps it)
            regions = (mapping.get(reply.cname, "?"),)
            return Seen(probe, time.monotonic(), reply.addresses or (reply.cname,), regions)
        return Seen(probe, time.monotonic(), reply.addresses, regions)

    async def round(self, probes: Sequence[Probe] | None = None) -> list[Seen]:
        return list(await asyncio.gather(*(self.one(p) for p in (self.probes if probes is None else probes))))
