"""The gtm DNS nodes a drill talks to: where they answer DNS and where their admin API is, and what their
``/v1/status`` says (health by region, query rates, overrides in force)."""
from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Sequence

from gtm.dns.server import parse_listen
from gtm.errors import GtmError
from gtm.model import Config, NodeAddress


@dataclass(frozen=True)
class NodeStatus:
    node: NodeAddress
    status: dict[str, Any]

    def up_regions(self) -> dict[str, list[str]]:
        """Per service, regions up by health alone (without overrides)."""
        return {s["name"]: list(s.get("up_regions", s.get("healthy_regions", []))) for s in self.status.get("services", [])}

    def healthy_regions(self) -> dict[str, list[str]]:
        """Per service, regions answered (health and overrides)."""
        return {s["name"]: list(s.get("healthy_regions", [])) for s in self.status.get("services", [])}

    def rates(self) -> dict[str, float]:
        return {s["name"]: float(s["queries_per_s"]) for s in self.status.get("services", [])
                if s.get("queries_per_s") is not None}

    def override_version(self) -> int:
        return int(self.status.get("overrides", {}).get("version", 0))


def nodes_of(config: Config, dns: Sequence[str] = (), admin: Sequence[str] = ()) -> list[NodeAddress]:
    """The nodes named on the command line (``--nodes`` DNS addresses, ``--admin`` URLs, paired in order),
    else ``drills.nodes`` of the config, else one node at the config's admin address and 127.0.0.1:5353."""
    if dns:
        out = []
        for i, text in enumerate(dns):
            out.append(NodeAddress(parse_host_port(text), admin[i].rstrip("/") if i < len(admin) else None))
        return out
    if config.drills.nodes:
        return list(config.drills.nodes)
    host, port = config.admin.listen
    scheme = "https" if config.admin.tls_cert else "http"
    return [NodeAddress(("127.0.0.1", 5353), f"{scheme}://{host if ':' not in host else f'[{host}]'}:{port}")]


def parse_host_port(text: str) -> tuple[str, int]:
    try:
        return parse_listen(text)
    except ValueError as e:
        raise GtmError(f"a node's DNS address: {e}") from None


def combined(statuses: Sequence[NodeStatus]) -> tuple[dict[str, list[str]], dict[str, float]]:
    """What the nodes say together: per service the regions up by health on every node (the most careful
    view), and the query rates summed (each node answers its share)."""
    up: dict[str, list[str]] | None = None
    qps: dict[str, float] = {}
    for st in statuses:
        mine = st.up_regions()
        up = mine if up is None else {k: [r for r in v if r in mine.get(k, [])] for k, v in up.items()}
        for k, v in st.rates().items():
            qps[k] = qps.get(k, 0.0) + v
    return up or {}, qps


def fetch_status(node: NodeAddress, token: str | None, timeout: float = 3.0) -> NodeStatus:
    """The node's ``/v1/status``; GtmError naming the node when it cannot be had."""
    if node.admin is None:
        raise GtmError(f"node {node.dns[0]}:{node.dns[1]} has no admin URL")
    req = urllib.request.Request(node.admin + "/v1/status")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    ctx = ssl.create_default_context() if node.admin.startswith("https") else None
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
            return NodeStatus(node, json.loads(resp.read().decode()))
    except urllib.error.HTTPError as e:
        raise GtmError(f"node {node.admin}: /v1/status answered {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise GtmError(f"node {node.admin} is unreachable: {reason}") from None
