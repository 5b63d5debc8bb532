"""The fleet as an operator's command sees it: the nodes, what each says, and override plans.

* :class:`NodeStatus` is ``GET /v1/status``: the node builds it (``gtm.control.status``) and sends
  :meth:`NodeStatus.to_json`; clients parse it back with :meth:`NodeStatus.from_json`. One type, both ends.
* :func:`situation` asks every node and combines what they say into the guardrails' inputs.
* :func:`plan_override` turns a change of the override store into an :class:`OverridePlan` (what will be in
  force, the guardrails' notes, or :class:`~gtm.errors.UnsafePlan`), without writing anything: ``--dry-run``
  prints it. :func:`apply` writes it with compare-and-swap; when another writer got there first it plans the
  same change again on what the store holds now. ``gtm override``, ``gtm failover``/``restore`` and
  ``gtm drill`` all change overrides this way.
"""
from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from gtm.errors import GtmError, UnsafePlan
from gtm.model import Config, NodeAddress, Override
from gtm.model.net import parse_host_port
from gtm.state import guard
from gtm.state.store import AuditEntry, Store, Stored, audit_entry, update


# -- what a node says ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ServiceStatus:
    name: str
    policy: str
    names: tuple[str, ...]
    healthy_regions: tuple[str, ...]   # answered: by health and the overrides in force
    up_regions: tuple[str, ...]        # by health alone
    queries_per_s: float | None = None
    up_endpoints: tuple[str, ...] | None = None  # REGION/ADDRESS up by health alone (None: an earlier node)


@dataclass(frozen=True)
class OverridesStatus:
    store: str | None = None           # file | dynamodb
    where: str | None = None           # its path or table
    version: int = 0                   # the store version last read
    error: str | None = None           # the last error reading it (the overrides last read stay in force)
    in_force: tuple[Override, ...] = ()


@dataclass(frozen=True)
class NodeStatus:
    """``GET /v1/status`` of a node. ``health`` is the health node's own report (see ``docs/health.md``), kept
    as the node sent it; ``node`` is where it came from (on the client's side)."""

    generation: int = 0
    sources: tuple[str, ...] = ()
    zones: tuple[str, ...] = ()
    last_error: str | None = None
    listen: tuple[str, ...] = ()
    serving: bool = False
    workers: int = 0
    health: Mapping[str, Any] = field(default_factory=dict)
    overrides: OverridesStatus = OverridesStatus()
    services: tuple[ServiceStatus, ...] | None = None   # None before the node has a config
    regions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    node: NodeAddress | None = None
    hostnames: tuple[Mapping[str, Any], ...] = ()   # hostname endpoints as resolved (gtm.control.names)

    def to_json(self) -> dict[str, Any]:
        o = self.overrides
        out: dict[str, Any] = {
            "config": {"generation": self.generation, "sources": list(self.sources), "zones": list(self.zones),
                       "last_error": self.last_error},
            "dns": {"listen": list(self.listen), "serving": self.serving, "workers": self.workers},
            "health": dict(self.health),
            "overrides": {"store": o.store, "where": o.where, "version": o.version, "error": o.error,
                          "in_force": [{**x.to_json(), "target": x.target} for x in o.in_force]},
        }
        if self.services is not None:
            out["services"] = [{"name": s.name, "policy": s.policy, "names": list(s.names),
                                "healthy_regions": list(s.healthy_regions), "up_regions": list(s.up_regions),
                                "queries_per_s": s.queries_per_s,
                                **({"up_endpoints": list(s.up_endpoints)} if s.up_endpoints is not None else {})}
                               for s in self.services]
            out["regions"] = {k: list(v) for k, v in self.regions.items()}
        if self.hostnames:
            out["hostnames"] = [dict(h) for h in self.hostnames]
        return out

    @classmethod
    def from_json(cls, data: Any, node: NodeAddress | None = None) -> "NodeStatus":
        """Parse a ``/v1/status`` body; GtmError naming the field that is wrong."""
        where = node.admin if node is not None and node.admin else "the node"
        try:
            cfg, dns = _obj(data, "config"), _obj(data, "dns")
            # an earlier version of the node sends "overrides": [] when none are in force
            raw = data.get("overrides") if isinstance(data, dict) else None
            ovr: dict[str, Any] = raw if isinstance(raw, dict) else {}
            services = None
            if "services" in data:
                # a node of an earlier version says no up_regions: its healthy_regions are the best there is
                services = tuple(ServiceStatus(
                    str(s["name"]), str(s.get("policy", "")), _strs(s.get("names", [])), _strs(s["healthy_regions"]),
                    _strs(s.get("up_regions", s["healthy_regions"])),
                    None if s.get("queries_per_s") is None else float(s["queries_per_s"]),
                    _strs(s["up_endpoints"]) if s.get("up_endpoints") is not None else None)
                    for s in _list(data, "services"))
            return cls(
                generation=int(cfg.get("generation", 0)), sources=_strs(cfg.get("sources", [])),
                zones=_strs(cfg.get("zones", [])), last_error=cfg.get("last_error"),
                listen=_strs(dns.get("listen", [])), serving=bool(dns.get("serving")),
                workers=int(dns.get("workers", 0)), health=_obj(data, "health"),
                overrides=OverridesStatus(
                    ovr.get("store"), ovr.get("where"), int(ovr.get("version", 0)), ovr.get("error"),
                    tuple(Override.from_json({k: v for k, v in x.items() if k != "target"})
                          for x in ovr.get("in_force", []))),
                services=services,
                regions={str(k): _strs(v) for k, v in _obj(data, "regions").items()} if "regions" in data else {},
                node=node, hostnames=tuple(dict(h) for h in data.get("hostnames", []) if isinstance(h, dict)))
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise GtmError(f"{where}: /v1/status is not a gtm node's status ({type(e).__name__}: {e})") from None

    def up_regions(self) -> dict[str, list[str]]:
        """Per service, regions up by health alone (without overrides)."""
        return {s.name: list(s.up_regions) for s in self.services or ()}

    def up_endpoints(self) -> dict[str, list[str]]:
        """Per service, its endpoints (REGION/ADDRESS) up by health alone, where the node says."""
        return {s.name: list(s.up_endpoints) for s in self.services or () if s.up_endpoints is not None}

    def healthy_regions(self) -> dict[str, list[str]]:
        """Per service, regions answered (health and overrides)."""
        return {s.name: list(s.healthy_regions) for s in self.services or ()}

    def rates(self) -> dict[str, float]:
        return {s.name: s.queries_per_s for s in self.services or () if s.queries_per_s is not None}

    def override_version(self) -> int:
        return self.overrides.version

    @property
    def where(self) -> str:
        """The node, for messages: its admin URL."""
        return (self.node.admin or f"{self.node.dns[0]}:{self.node.dns[1]}") if self.node else "the node"

    def addresses(self) -> dict[str, str]:
        """Endpoint address -> its region, as this node is configured; a hostname endpoint's addresses as the
        node resolves them map to its region too (as does the hostname, which a CNAME answer names)."""
        out = {a: region for region, addrs in self.regions.items() for a in addrs}
        for h in self.hostnames:
            region = out.get(str(h.get("hostname", "")))
            if region is not None:
                out.update({str(a): region for a in h.get("addresses", []) if str(a) not in out})
        return out


def _obj(data: Any, key: str) -> dict[str, Any]:
    value = data.get(key, {}) if isinstance(data, dict) else None
    if not isinstance(value, dict):
        raise TypeError(f"{key} is not an object")
    return value


def _list(data: Any, key: str) -> list[Any]:
    value = data.get(key)
    if not isinstance(value, list):
        raise TypeError(f"{key} is not a list")
    return value


def _strs(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list (got {type(value).__name__})")
    return tuple(str(v) for v in value)


# -- the nodes ----------------------------------------------------------------------------------------------------
def nodes_of(config: Config, dns: Sequence[str] = (), admin: Sequence[str] = ()) -> list[NodeAddress]:
    """The nodes named on the command line (``--nodes`` DNS addresses, ``--admin`` URLs, paired in order),
    else ``drills.nodes`` of the config, else one node at the config's admin address and 127.0.0.1:5353."""
    if dns:
        out = []
        for i, text in enumerate(dns):
            try:
                address = parse_host_port(text)
            except ValueError as e:
                raise GtmError(f"a node's DNS address: {e}") from None
            out.append(NodeAddress(address, admin[i].rstrip("/") if i < len(admin) else None))
        return out
    if config.drills.nodes:
        return list(config.drills.nodes)
    host, port = config.admin.listen
    scheme = "https" if config.admin.tls_cert else "http"
    return [NodeAddress(("127.0.0.1", 5353), f"{scheme}://{host if ':' not in host else f'[{host}]'}:{port}")]


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
            body = json.loads(resp.read().decode())
    except urllib.error.HTTPError as e:
        raise GtmError(f"node {node.admin}: /v1/status answered {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError, ValueError, RecursionError) as e:
        reason = getattr(e, "reason", e)
        raise GtmError(f"node {node.admin} is unreachable: {reason}") from None
    return NodeStatus.from_json(body, node)


@dataclass(frozen=True)
class Situation:
    """What the nodes say together, as the guardrails need it: per service the regions up by health on every
    node that answered (the most careful view), the query rates summed (each node answers its share), and the
    nodes that could not say."""

    up: Mapping[str, Sequence[str]] = field(default_factory=dict)
    qps: Mapping[str, float] = field(default_factory=dict)
    unreachable: tuple[str, ...] = ()
    endpoints: Mapping[str, Sequence[str]] = field(default_factory=dict)  # REGION/ADDRESS up, per service


def combined(statuses: Sequence[NodeStatus], unreachable: Sequence[str] = ()) -> Situation:
    up: dict[str, list[str]] | None = None
    qps: dict[str, float] = {}
    endpoints: dict[str, list[str]] = {}
    for st in statuses:
        mine = st.up_regions()
        up = mine if up is None else {k: [r for r in v if r in mine.get(k, [])] for k, v in up.items()}
        for k, v in st.rates().items():
            qps[k] = qps.get(k, 0.0) + v
        for k, eps in st.up_endpoints().items():  # up on every node that says
            endpoints[k] = [e for e in endpoints[k] if e in eps] if k in endpoints else list(eps)
    return Situation(up or {}, qps, tuple(unreachable), endpoints)


def situation(nodes: Sequence[NodeAddress], token: str | None) -> Situation:
    """Ask every node (blocking); the ones that cannot answer are listed, not fatal."""
    statuses, failed = [], []
    for node in nodes:
        try:
            statuses.append(fetch_status(node, token))
        except GtmError as e:
            failed.append(str(e))
    return combined(statuses, failed)


# -- override plans -----------------------------------------------------------------------------------------------
Change = Callable[[Stored, float], tuple[list[Override], str, list[Override]]]
"""``change(current, now) -> (overrides after, action, overrides touched)``; may raise GtmError (e.g. nothing to
clear)."""


@dataclass(frozen=True)
class OverridePlan:
    """A change of the override store, planned against the store at ``version``: ``after`` is everything in force
    once it is written, ``touched`` the overrides it adds or removes. ``notes`` are the guardrails' findings;
    ``forced`` the problems ``--force`` went past."""

    action: str
    version: int
    after: tuple[Override, ...]
    touched: tuple[Override, ...]
    notes: tuple[str, ...]
    forced: tuple[str, ...]
    audit: AuditEntry
    remake: Callable[[Stored], "OverridePlan"] = field(compare=False, repr=False)

    def describe(self) -> str:
        """The plan as text (``--dry-run``)."""
        lines = [f"plan: {self.action} at store version {self.version}"]
        lines += [f"  + {o.describe()}" if self.action != "clear" else f"  - {o.describe()}" for o in self.touched]
        lines += [f"  in force after: {o.describe()}" for o in self.after]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def plan_override(config: Config, current: Stored, change: Change, *, author: str, reason: str,
                  guarded: Callable[[], Situation] | None = None, force: bool = False, now: float | None = None,
                  via: str = "") -> OverridePlan:
    """Plan ``change`` on ``current``. With ``guarded`` (asks what the nodes say; only once the blackout windows
    let the change through) the guardrails apply, in this order: blackout windows, a node that can say what
    is up, a healthy region left for every service and capacity for the demand. A refusal raises UnsafePlan
    unless ``force``, which goes past it; the notes say so, and the audit entry records ``forced`` when a
    blackout or a health or capacity guardrail was gone past."""
    at = time.time() if now is None else now
    notes: list[str] = []
    forced: list[str] = []

    def refuse(problem: str, advice: str, *forced_notes: str, counts: bool = True) -> None:
        if not force:
            raise UnsafePlan(f"{problem}{advice}")
        if counts:
            forced.append(problem)
        notes.extend(forced_notes)

    situation_now: Situation | None = None
    if guarded is not None:
        window = guard.blackout(config.drills.blackout, at)
        if window is not None:
            refuse(f"inside the blackout window {window.text}", " (--force to go ahead)",
                   f"forced through the blackout window {window.text}")
        situation_now = guarded()
        if not situation_now.up:
            refuse("no node could say which regions are healthy (" + "; ".join(situation_now.unreachable) + ")",
                   "; --force to go ahead without the health guardrail",
                   "no node reachable: health and capacity not checked", counts=False)
        elif situation_now.unreachable:
            notes.append("unreachable: " + "; ".join(situation_now.unreachable))
    after, action, touched = change(current, at)
    if situation_now is not None and situation_now.up:
        verdict = guard.check(config, after, situation_now.up, situation_now.qps, at, situation_now.endpoints)
        notes += verdict.notes
        if not verdict.ok:
            refuse("; ".join(verdict.problems), " (--force to go ahead)",
                   *(f"forced past: {p}" for p in verdict.problems))
    entry = audit_entry(action, touched, author, reason, forced=bool(forced), notes=notes, via=via, at=at)
    asked = situation_now

    def remake(now_stored: Stored) -> OverridePlan:  # the nodes were asked once: their answer stands
        return plan_override(config, now_stored, change, author=author, reason=reason,
                             guarded=(lambda: asked) if asked is not None else None, force=force, via=via)

    return OverridePlan(action, current.version, tuple(after), tuple(touched), tuple(notes), tuple(forced), entry,
                        remake)


def apply(plan: OverridePlan, store: Store, retries: int = 5) -> tuple[Stored, OverridePlan, int]:
    """Write ``plan`` if the store is still at its version; when another writer changed it meanwhile, plan the
    same change again on what it holds now (the guardrails judge that too) and write that. Returns the new
    state, the plan written and how many times it was planned again."""
    written, again = plan, 0

    def change(current: Stored) -> tuple[list[Override], AuditEntry]:
        nonlocal written, again
        if current.version != written.version:
            written, again = written.remake(current), again + 1
        return list(written.after), written.audit

    stored, _ = update(store, change, retries)
    return stored, written, again
