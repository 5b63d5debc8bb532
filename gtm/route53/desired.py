"""Config → the record sets and health checks Route53 should hold (pure: the mapping, no AWS calls).

For each service and address family the tree is, from the leaves up (``<n>`` = the service's name):

* **region pools** ``_gtm-r-<region>.<n>``: one multivalue record per endpoint of that family (weight > 0),
  each with its endpoint's health check, so a pool answers the region's healthy endpoints (up to 8);
* **failover chains** ``_gtm-f-<hash>.<n>`` for an ordered list of regions: PRIMARY aliases the first region's
  pool and carries that region's health check; SECONDARY aliases the chain of the rest; the last SECONDARY
  aliases a **terminal** ``_gtm-last-<first region>.<n>`` (``_gtm-last.<n>`` with static fallback addresses):
  static values without a health check, what gtm answers when every candidate is down, so Route53 never
  answers empty;
* **the name itself**: failover → an alias to the chain of the configured order; weighted → one weighted
  record per region aliasing its pool under the region's check (all unhealthy: Route53 fails open by weight,
  as gtm does; a weight-0 standby aliases the static fallback when there is one);
  geo → one geolocation record per rule (continent, country, US state) and a ``*`` default, each aliasing the
  chain of the rule's regions then the default list; with CIDR rules, IP-based records in front of them (one
  per location of the zone's CIDR collection, and ``*`` aliasing the geolocation records, moved to
  ``_gtm-geo.<n>``); latency and proximity → one latency record per AWS
  region under its region's check, aliasing the chain of that region alone (Route53 itself moves to the next
  lowest latency when it is down);
* an owner marker ``_gtm-owner.<n>`` TXT ``"gtm owner=<id>"``.

Health checks, per region used: one per endpoint (HTTP/HTTPS/TCP from the service's monitor), a **switch**
(CALCULATED, no children, threshold 0: always healthy; draining the region = inverting it), ``eps`` (CALCULATED:
at least ``region_min_up`` endpoint checks healthy) and the **region** check (CALCULATED: ``eps`` AND the
switch). Route53 cannot express everything gtm does; each such case is a warning in ``Desired.warnings``.
"""
from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import replace
from types import MappingProxyType
from typing import Callable

from gtm.model import A, AAAA, TYPE_NAMES, Config, FailMode, GeoPolicy, IPNetwork, LatencyPolicy, Monitor, MonitorType
from gtm.model import ProximityPolicy
from gtm.model import Endpoint, Service, WeightedPolicy
from gtm.model.names import own_answer
from gtm.route53.elb import ElbTarget, target as elb_target
from gtm.route53.model import Desired, HealthCheckSpec, RecordSpec
from gtm.route53.limits import MAX_CHILDREN, MAX_GROUP
from gtm.route53.validate import AWS_REGIONS, US_STATES, checkable_ip

FAMILIES = (("A", 4), ("AAAA", 6))
MULTIVALUE_MAX = 8
DEFAULT_CHECK_QUOTA = 200  # active health checks per account, unless raised


def _h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def _buckets(items: list[str], cap: int) -> list[tuple[int, list[str]]]:
    """``items`` spread over hash buckets of at most ``cap`` each, numbered; one bucket (0) when they fit. A
    bucket is chosen by a hash of the item, so adding or removing one item moves no other (unless the number of
    buckets changes); buckets start about 80 % full."""
    if len(items) <= cap:
        return [(0, items)]
    n = -(-len(items) * 5 // (cap * 4))
    while True:
        out: list[list[str]] = [[] for _ in range(n)]
        for item in items:
            out[int(_h(item), 16) % n].append(item)
        if max(map(len, out)) <= cap:
            return [(k, b) for k, b in enumerate(out) if b]
        n += 1


# Route53's IP-based routing holds IPv4 blocks of /1 to /24 and IPv6 blocks of /1 to /48.
CIDR_MAX_PREFIX = {4: 24, 6: 48}


def cidr_expressible(net: IPNetwork) -> bool:
    return 1 <= net.prefixlen <= CIDR_MAX_PREFIX[net.version]


def cidr_location(net: IPNetwork) -> str:
    """The CIDR location of one block (a location holds one block: see :func:`desired`): at most 16 characters
    of ``[0-9A-Za-z_-]``, stable, the same block in every service."""
    return "c" + hashlib.sha256(str(net).encode()).hexdigest()[:15]


def collection_name(owner: str, zone: str) -> str:
    """The CIDR collection of an owner's records in one hosted zone (collections belong to the account)."""
    name = f"gtm-{owner}-{zone.rstrip('.').replace('.', '-')}"
    return name if len(name) <= 64 and re.fullmatch(r"[0-9A-Za-z_-]+", name) else f"gtm-{owner}-{_h(zone)}"


def _label(text: str) -> str:
    """A region name as a DNS label (letters, digits, hyphens), hashed when it would not fit."""
    clean = re.sub(r"[^a-z0-9-]", "-", text.lower()).strip("-")
    return clean if clean and len(clean) <= 40 else _h(text)


class _Builder:
    def __init__(self, config: Config, zone: str, owner: str, drained: frozenset[str] = frozenset(),
                 drained_endpoints: frozenset[tuple[str, str]] = frozenset()):
        self.config, self.zone, self.owner = config, zone, owner
        self.drained = drained
        self.drained_endpoints = drained_endpoints
        self.records: dict[tuple[str, str, str], RecordSpec] = {}
        self.checks: dict[str, HealthCheckSpec] = {}
        self.warnings: list[str] = []
        self.cidr_blocks: list[IPNetwork] = []  # every block of the zone's CIDR rules Route53 can hold
        self.collection = ""
        self.forms: list[str] = []  # how each region with hostname endpoints is answered (the plan shows them)

    def sid(self, name: str, *parts: str) -> str:
        """A SetIdentifier unique in the zone (moto deletes every rrset sharing one), stable across runs (never a
        list position), with the owner's prefix; hashed when it would pass Route53's 128 characters."""
        text = ":".join(("gtm", self.owner, _h(name)) + parts)
        return text if len(text) <= 128 else ":".join(("gtm", self.owner, _h(text)))

    def monitor(self, service: Service) -> Monitor | None:
        """The monitor whose checks the mirror makes for ``service``: none with ``route53: {health_checks:
        false}`` (its regions then have their switches alone)."""
        return self.config.monitors.get(service.monitor or "") if service.route53_checks else None

    def add(self, r: RecordSpec) -> None:
        """Add ``r``; the same record again is no change (pools and chains are shared), but another record under
        its (name, type, SetIdentifier) is a bug in the mapping, raised before Route53 would keep one of them."""
        old = self.records.get(r.key)
        if old is not None and old != r:
            raise ValueError(f"two record sets share {r.name} {r.type} set {r.set_id}: {old} and {r}")
        self.records[r.key] = r

    # -- health checks --------------------------------------------------------------------------------------
    def endpoint_check(self, service: Service, monitor: Monitor, region: str, address: str,
                       by_name: bool = False) -> str:
        """``address``: an endpoint's address, or (``by_name``) a hostname that Route53's checkers resolve
        themselves (FullyQualifiedDomainName, which is then the Host header and SNI too)."""
        key = f"ep:{monitor.name}:{region}:{address}"  # per monitor: services may check one LB differently
        if key in self.checks:
            return key
        kind = {MonitorType.HTTP: "HTTP", MonitorType.HTTPS: "HTTPS", MonitorType.TCP: "TCP"}[monitor.type]
        search = None
        if monitor.body and kind != "TCP":
            if re.fullmatch(r"[\w \-.:/=\"']+", monitor.body) and len(monitor.body) <= 255:
                kind, search = kind + "_STR_MATCH", monitor.body
            else:
                self._warn(f"service {service.key}: monitor {monitor.name}: body pattern {monitor.body!r} is a "
                           "regular expression; Route53 matches plain text only, so the body is not checked there")
        if set(monitor.expect) - set(range(200, 400)):
            self._warn(f"service {service.key}: monitor {monitor.name}: Route53 counts any 2xx/3xx as healthy "
                       f"(expect {list(monitor.expect)} is not checked exactly)")
        interval = 10 if monitor.interval <= 10 else 30
        if by_name and monitor.host and monitor.host != address:
            self._warn(f"service {service.key}: monitor {monitor.name}: Route53 checks {address} by name, so its "
                       f"Host header and SNI are {address}, not the monitor's host {monitor.host}")
        self.checks[key] = HealthCheckSpec(
            key=key, type=kind, ip=None if by_name else address, port=monitor.port,
            fqdn=address if by_name else monitor.host,
            path=monitor.path if kind != "TCP" else None, search=search, request_interval=interval,
            failure_threshold=max(1, min(10, monitor.fall)), enable_sni=kind.startswith("HTTPS"), region=region,
            # a drained endpoint: Disabled and Inverted, Route53's "always unhealthy"
            disabled=(region, address) in self.drained_endpoints, inverted=(region, address) in self.drained_endpoints)
        return key

    def region_check(self, service: Service, region: str) -> str:
        """The region's check: (enough endpoints up) AND its switch. Built once per region."""
        monitor = self.monitor(service)
        by_name = cname_tree(service, self.config)
        elb = any(e.hostname and elb_target(e.hostname) for e in self.config.regions[region].endpoints)
        # (a CNAME-answered service checks a load balancer by name; an aliased one leaves it to the alias)
        key = f"region:{monitor.name if monitor else '-'}:{region}" + (":by-name" if by_name and elb else "")
        if key in self.checks:
            return key
        switch = f"switch:{region}"  # one per region, whatever the monitor: a drain is one update
        # Threshold 0: always healthy; inverted (a drain), always unhealthy, so the region check fails.
        self.checks[switch] = HealthCheckSpec(switch, "CALCULATED", health_threshold=0, region=region,
                                              inverted=region in self.drained)
        children = [switch]
        # A region answered by alias to its load balancers has its switch alone here: each alias evaluates its
        # target's health (the load balancer's own, or the pool of the region's addresses, whose records carry
        # their checks), so the region is out only when all of them are (or it is drained).
        eps = [self.endpoint_check(service, monitor, region, e.key, by_name=e.hostname is not None)
               for e in self.config.regions[region].endpoints] if monitor is not None and (by_name or not elb) else []
        if eps:
            assert monitor is not None
            need = min(self.config.health.region_min_up, len(eps))
            eps_key = f"eps:{monitor.name}:{region}" + (":by-name" if by_name and elb else "")
            groups = _buckets(eps, MAX_CHILDREN)
            if len(groups) == 1:
                self.checks[eps_key] = HealthCheckSpec(eps_key, "CALCULATED", children=tuple(eps),
                                                       health_threshold=need, region=region)
            else:  # more endpoints than a CALCULATED check's 255 children: one level more
                for k, group in groups:
                    self.checks[f"{eps_key}:{k}"] = HealthCheckSpec(
                        f"{eps_key}:{k}", "CALCULATED", children=tuple(group),
                        health_threshold=min(need, len(group)), region=region)
                self.checks[eps_key] = HealthCheckSpec(eps_key, "CALCULATED", health_threshold=1, region=region,
                                                       children=tuple(f"{eps_key}:{k}" for k, _ in groups))
                if need > 1:
                    self._warn(f"region {region}: {len(eps)} endpoint checks are more than a CALCULATED check's "
                               f"{MAX_CHILDREN} children; split in {len(groups)} groups, the region is up when one "
                               f"group has region_min_up {need} endpoints up (not {need} across groups)")
            children.insert(0, eps_key)
        self.checks[key] = HealthCheckSpec(key, "CALCULATED", children=tuple(children),
                                           health_threshold=len(children), region=region)
        return key

    # -- records --------------------------------------------------------------------------------------------
    def pool(self, service: Service, name: str, rtype: str, family: int, region: str) -> str | None:
        """The region's pool of endpoints of one family; None when it has none. Weight-0 endpoints are standbys,
        as in gtm: answered only while every weighted endpoint of the family is down. Route53 has no such
        rule within a multivalue group, so a region with both gets a failover pair at the pool name: PRIMARY
        the weighted endpoints, SECONDARY the standbys (each group healthy while one of its records is)."""
        pool = f"_gtm-r-{_label(region)}.{name}"
        if family == 0:
            return self._names_pool(service, name, region, pool)
        elbs = [(e, t) for e in self.config.regions[region].endpoints if e.hostname is not None
                and (t := elb_target(e.hostname)) is not None]
        if elbs:
            return self._elb_pool(service, name, rtype, family, region, pool, elbs)
        return self._address_pool(service, name, rtype, family, region, pool)

    def _address_pool(self, service: Service, name: str, rtype: str, family: int, region: str,
                      pool: str) -> str | None:
        eps = [e for e in self.config.regions[region].endpoints if e.version == family]
        if not eps:
            return None
        weighted = [str(e.address) for e in eps if e.weight > 0]
        standby = [str(e.address) for e in eps if e.weight == 0]
        if len(weighted or standby) > MULTIVALUE_MAX:
            self._warn(f"service {service.key}: region {region} has {len(weighted or standby)} {rtype} endpoints; "
                       f"a Route53 multivalue answer carries at most {MULTIVALUE_MAX}")
        if weighted and standby:
            for role, addrs, tag in (("PRIMARY", weighted, "w"), ("SECONDARY", standby, "s")):
                group = f"_gtm-r{tag}-{_label(region)}.{name}"  # (_gtm-r-us-w would be region us-w's pool)
                self._members(service, name, rtype, region, group, addrs)
                self.add(RecordSpec(pool, rtype, self.sid(f"{name}/{rtype}", "standby", region, role.lower()),
                                    alias=group, evaluate_target_health=True, failover=role))
        else:
            self._members(service, name, rtype, region, pool, weighted or standby)
        return pool

    def _elb_pool(self, service: Service, name: str, rtype: str, family: int, region: str, pool: str,
                  elbs: list[tuple[Endpoint, ElbTarget]]) -> str:
        """A region with AWS load balancers: one weighted alias per load balancer (its endpoint's weight) to the
        load balancer itself, EvaluateTargetHealth on (Elastic Load Balancing's own view of its targets) and a
        switch for drains; the region's address endpoints of this family, if any, in a pool of their own behind
        one more weighted alias (their total weight)."""
        for e, t in elbs:
            assert e.hostname is not None
            self.add(RecordSpec(pool, rtype, self.sid(f"{name}/{rtype}", "elb", e.hostname), alias=t.dns_name,
                                alias_zone=t.zone_id, evaluate_target_health=True, weight=e.weight,
                                health_check=self.elb_switch(region, e.hostname)))
        rest = self._address_pool(service, name, rtype, family, region, f"_gtm-ra-{_label(region)}.{name}")
        if rest is not None:
            weight = sum(e.weight for e in self.config.regions[region].endpoints if e.version == family) or 1
            self.add(RecordSpec(pool, rtype, self.sid(f"{name}/{rtype}", "elb", "addresses"), alias=rest,
                                evaluate_target_health=True, weight=min(weight, 255)))
        return pool

    def _names_pool(self, service: Service, name: str, region: str, pool: str) -> str | None:
        """A region answered by CNAME: one weighted CNAME record per hostname endpoint (its endpoint's weight),
        each under that hostname's health check (by FullyQualifiedDomainName)."""
        hosts = [e for e in self.config.regions[region].endpoints if e.hostname is not None]
        if not hosts:
            return None
        monitor = self.monitor(service)
        for e in hosts:
            assert e.hostname is not None
            hc = self.endpoint_check(service, monitor, region, e.hostname, by_name=True) if monitor is not None \
                else None
            self.add(RecordSpec(pool, "CNAME", self.sid(f"{name}/CNAME", "cn", e.hostname), service.ttl,
                                (e.hostname + ".",), health_check=hc, weight=e.weight))
        return pool

    def elb_switch(self, region: str, hostname: str) -> str:
        """A load balancer's own switch (CALCULATED, no children, threshold 0: always healthy), Disabled and
        Inverted while the endpoint is drained, like an endpoint check: its health is the alias's
        EvaluateTargetHealth, and a drain of it still has a check to turn."""
        key = f"ep:-:{region}:{hostname}"
        drained = (region, hostname) in self.drained_endpoints
        self.checks.setdefault(key, HealthCheckSpec(key, "CALCULATED", health_threshold=0, region=region,
                                                    disabled=drained, inverted=drained))
        return key

    def _forms(self, service: Service, cname: bool) -> None:
        """What the plan says each region of ``service`` is answered as."""
        for region in service.regions:
            parts = []
            for e in self.config.regions[region].endpoints:
                if e.hostname is None:
                    continue
                t = elb_target(e.hostname)
                if cname:
                    parts.append(f"CNAME {e.hostname} (health checked by name)")
                elif t is not None:
                    parts.append(f"alias to the {t.kind.upper()} {t.dns_name.rstrip('.')} (zone {t.zone_id}, "
                                 f"{t.region}; EvaluateTargetHealth)")
            if parts and any(e.hostname is None for e in self.config.regions[region].endpoints) and not cname:
                parts.append("its addresses")
            if parts:
                self.forms.append(f"service {service.key}: region {region}: " + "; ".join(parts))

    def _members(self, service: Service, name: str, rtype: str, region: str, pool: str, addrs: list[str]) -> None:
        """One multivalue rrset per address at ``pool``, each with its endpoint's check; past 100 (Route53's
        limit per name and type), sub-pools of at most 100 behind weighted aliases (weight = size) that skip a
        sub-pool with no healthy endpoint."""
        monitor = self.monitor(service)
        parts = _buckets(addrs, MAX_GROUP)
        for k, members in parts:
            head = pool.split(".", 1)[0]  # _gtm-r-<region> or a standby group's _gtm-rw-/_gtm-rs-<region>
            sub = pool if len(parts) == 1 else f"_gtm-p{k}-{head[len('_gtm-'):]}.{name}"
            for addr in members:
                hc = self.endpoint_check(service, monitor, region, addr) if monitor is not None else None
                self.add(RecordSpec(sub, rtype, self.sid(f"{name}/{rtype}", "ep", addr), service.ttl, (addr,),
                                    health_check=hc, multivalue=True))
            if sub != pool:
                self.add(RecordSpec(pool, rtype, self.sid(f"{name}/{rtype}", "part", head, str(k)),
                                    None, (), alias=sub, evaluate_target_health=True, weight=len(members)))

    def terminal(self, service: Service, name: str, rtype: str, family: int, first: str | None) -> str | None:
        """Static values without a health check that a chain ends in: what gtm answers when every candidate is
        down — the fallback addresses (``static``), else the chain's first region as if it were up
        (``fail_open``, Route53's own behaviour too)."""
        if service.fail_mode is FailMode.STATIC:
            if family == 0:
                self._warn(f"service {service.key}: static fallback addresses cannot sit under a CNAME answer in "
                           "Route53; when every region is down the mirror answers as fail_open")
                return self.terminal(replace(service, fail_mode=FailMode.FAIL_OPEN), name, rtype, family, first)
            values = [str(a) for a in service.fallback_addresses if a.version == family]
            last = f"_gtm-last.{name}"
        else:
            if service.fail_mode is not FailMode.FAIL_OPEN:
                self._warn(f"service {service.key}: fail_mode {service.fail_mode.value} cannot be expressed in "
                           "Route53; when every region is down the mirror answers as fail_open")
            if first is None:
                return None
            last = f"_gtm-last-{_label(first)}.{name}"
            live = [e for e in self.config.regions[first].endpoints
                    if (first, e.key) not in self.drained_endpoints]  # (drained: never answered)
            hosts = [e for e in live if e.hostname is not None]
            hosts = [e for e in hosts if e.weight > 0] or hosts
            if family == 0 or (not any(e.version == family for e in live) and any(
                    e.hostname and elb_target(e.hostname) for e in hosts)):
                if not hosts:
                    return None
                assert hosts[0].hostname is not None
                t = elb_target(hosts[0].hostname)
                if family == 0 or t is None:
                    self.add(RecordSpec(last, rtype, None, service.ttl, (hosts[0].hostname + ".",)))
                else:
                    t = next(x for e in hosts if e.hostname and (x := elb_target(e.hostname)) is not None)
                    self.add(RecordSpec(last, rtype, None, alias=t.dns_name, alias_zone=t.zone_id))
                return last
            eps = [e for e in live if e.version == family]
            values = [str(e.address) for e in eps if e.weight > 0] or [str(e.address) for e in eps]
            values = values[:MULTIVALUE_MAX]  # as many as a multivalue answer; the first in config order
        if not values:
            return None
        self.add(RecordSpec(last, rtype, None, service.ttl, tuple(sorted(values))))
        return last

    def chain(self, service: Service, name: str, rtype: str, family: int, order: list[str]) -> str | None:
        """Failover chain over ``order``; returns the name to alias (or None when nothing can answer)."""
        order = [r for r in order if self.pool(service, name, rtype, family, r) is not None]
        last_region = order[0] if order and service.fail_mode is not FailMode.STATIC else None
        tail = last = self.terminal(service, name, rtype, family, order[0] if order else None)
        for i in range(len(order) - 1, -1, -1):
            region = order[i]
            # Named by the regions and the terminal: chains that end differently must not share a sub-chain.
            head = f"_gtm-f-{_h(','.join(order[i:]) + '>' + str(last))}.{name}"
            key = ":".join(order[i:]) + (f">{_label(last_region)}" if last_region else "")
            if (head, rtype, self.sid(f"{name}/{rtype}", "primary", key)) not in self.records:
                self.add(RecordSpec(head, rtype, self.sid(f"{name}/{rtype}", "primary", key), alias=f"_gtm-r-{_label(region)}.{name}",
                                    evaluate_target_health=True, failover="PRIMARY",
                                    health_check=self.region_check(service, region)))
                if tail is not None:
                    self.add(RecordSpec(head, rtype, self.sid(f"{name}/{rtype}", "secondary", key), alias=tail,
                                        evaluate_target_health=True, failover="SECONDARY"))
            tail = head
        return tail

    def service(self, service: Service) -> None:
        self._unexpressible(service)
        mirror = MIRRORS[service.policy.kind]
        families = (("CNAME", 0),) if cname_tree(service, self.config) else FAMILIES
        self._forms(service, families[0][1] == 0)
        for name in service.names:
            self.add(RecordSpec(f"_gtm-owner.{name}", "TXT", None, 300, (f'"gtm owner={self.owner}"',)))
            for rtype, family in families:
                mirror(self, service, name, rtype, family)

    def _failover(self, service: Service, name: str, rtype: str, family: int) -> None:
        target = self.chain(service, name, rtype, family, list(service.regions))
        if target is not None:
            self.add(RecordSpec(name, rtype, None, alias=target, evaluate_target_health=False))

    def _weighted(self, service: Service, name: str, rtype: str, family: int) -> None:
        policy = service.policy
        assert isinstance(policy, WeightedPolicy)
        weights = dict(policy.weights)
        any_pool = False
        for region in service.regions:
            pool = self.pool(service, name, rtype, family, region)
            if pool is None:
                continue
            any_pool = True
            self.add(RecordSpec(name, rtype, self.sid(f"{name}/{rtype}", "w", region), alias=pool, evaluate_target_health=True,
                                weight=weights.get(region, 1), health_check=self.region_check(service, region)))
        # When every weighted region is unhealthy Route53 fails open and draws among all of them by weight,
        # as gtm's fail_open does; only static fallback addresses need a standby (weight 0: used only then).
        if any_pool and service.fail_mode is FailMode.STATIC:
            last = self.terminal(service, name, rtype, family, None)
            if last is not None:
                self.add(RecordSpec(name, rtype, self.sid(f"{name}/{rtype}", "w", "last"), alias=last, weight=0))
        elif service.fail_mode is not FailMode.FAIL_OPEN:
            self.terminal(service, name, rtype, family, None)  # only for its warning

    def _geo(self, service: Service, name: str, rtype: str, family: int) -> None:
        """Geolocation records per rule (continent, country, US state) and a ``*`` default. With CIDR rules the
        name holds IP-based records instead: one per location of the zone's CIDR collection, aliasing the chain
        of the service's rule that contains that block (a block of another service's rule that none of this
        service's rules contains aliases what a client outside every rule gets), and the ``*`` default
        aliasing the geolocation records, then at ``_gtm-geo.<n>``. gtm's CIDR rules win over every other rule,
        longest prefix first, as Route53's longest-match of a client in the collection does."""
        policy = service.policy
        assert isinstance(policy, GeoPolicy)
        default = list(policy.default)
        cidr_rules = [r for r in policy.rules if r.match.cidr is not None and cidr_expressible(r.match.cidr)]
        where = f"_gtm-geo.{name}" if cidr_rules else name  # the geolocation records
        tag = "geo" if where == name else "ipgeo"  # (identifiers unique in the zone: moto deletes all that share one)
        geo_records = 0
        for rule in policy.rules:
            m = rule.match
            geo: tuple[str, ...]
            if m.continent:
                geo = ("continent", m.continent)
            elif m.country:
                geo = ("country", m.country)
            elif m.subdivision and m.subdivision.startswith("US-"):
                geo = ("subdivision", "US", m.subdivision[3:])
            else:
                continue  # CIDR rules below; the rest reported once per service by _unexpressible
            target = self.chain(service, name, rtype, family, list(dict.fromkeys(list(rule.regions) + default)))
            if target is not None:
                # the kind is part of the identifier: AF is Africa and Afghanistan, NA North America and Namibia
                self.add(RecordSpec(where, rtype, self.sid(f"{name}/{rtype}", tag, *geo), alias=target,
                                    evaluate_target_health=True, geo=geo))
                geo_records += 1
        rest = self.chain(service, name, rtype, family, default)
        if rest is not None and (geo_records or not cidr_rules):
            self.add(RecordSpec(where, rtype, self.sid(f"{name}/{rtype}", tag, "default"), alias=rest,
                                evaluate_target_health=True, geo=("default",)))
            rest = where
        if not cidr_rules or rest is None:
            return
        for block in self.cidr_blocks:
            inside = [r for r in cidr_rules if r.match.cidr is not None and r.match.cidr.version == block.version
                      and block.subnet_of(r.match.cidr)]  # type: ignore[arg-type]
            target = rest
            if inside:  # (overlapping rules name the same regions: the loader sees to it)
                rule = max(inside, key=lambda r: r.match.cidr.prefixlen)  # type: ignore[union-attr]
                target = self.chain(service, name, rtype, family,
                                    list(dict.fromkeys(list(rule.regions) + default))) or rest
            loc = cidr_location(block)
            self.add(RecordSpec(name, rtype, self.sid(f"{name}/{rtype}", "cidr", loc), alias=target,
                                evaluate_target_health=False, cidr=(self.collection, loc)))
        self.add(RecordSpec(name, rtype, self.sid(f"{name}/{rtype}", "cidr", "*"), alias=rest,
                            evaluate_target_health=False, cidr=(self.collection, "*")))

    def _latency(self, service: Service, name: str, rtype: str, family: int) -> None:
        """One latency record per AWS region, each carrying its region's check and aliasing the chain of that
        region alone (then the regions without an aws_region, then the terminal). When a client's lowest-latency
        region is down, Route53 picks the record with the next lowest latency (its documented rule for an
        unhealthy record), as gtm answers the next nearest region; when every region is down, every record
        counts as healthy and the lowest-latency one answers its chain's terminal, as gtm's fail mode does."""
        if not any(self.config.regions[r].aws_region for r in service.regions):
            self._warn(f"service {service.key}: no region has an aws_region, so Route53 has no latency to go "
                       "by: mirrored as failover in the configured order")
            target = self.chain(service, name, rtype, family, list(service.regions))
            if target is not None:
                self.add(RecordSpec(name, rtype, None, alias=target, evaluate_target_health=False))
            return
        unmapped = [r for r in service.regions if self.config.regions[r].aws_region is None]
        for region in unmapped:
            self._warn(f"service {service.key}: region {region} has no aws_region; it gets no latency record "
                       "(it is answered only when every region with one is down)")
        groups: dict[str, list[str]] = {}  # AWS region -> the service's regions there, in configured order
        for region in service.regions:
            aws = self.config.regions[region].aws_region
            if aws is not None and self.pool(service, name, rtype, family, region) is not None:
                groups.setdefault(aws, []).append(region)  # (no endpoint of this family: no record for it)
        for aws, regions in groups.items():
            if len(regions) > 1:
                self._warn(f"service {service.key}: regions {', '.join(regions)} share aws_region {aws}; Route53 "
                           f"allows one latency record per AWS region: it answers them in that order")
            target = self.chain(service, name, rtype, family, regions + unmapped)
            if target is not None:
                self.add(RecordSpec(name, rtype, self.sid(f"{name}/{rtype}", "lat", aws), alias=target,
                                    evaluate_target_health=True, region=aws,
                                    health_check=self.group_check(service, regions)))

    def group_check(self, service: Service, regions: list[str]) -> str:
        """The check of a latency record: its region's check; for regions sharing an AWS region, a CALCULATED
        check healthy while one of theirs is (so that Route53 moves on only when all of them are down)."""
        children = [self.region_check(service, r) for r in regions]
        if len(children) == 1:
            return children[0]
        key = f"any:{','.join(children)}"
        self.checks.setdefault(key, HealthCheckSpec(key, "CALCULATED", children=tuple(children), health_threshold=1,
                                                    region=regions[0]))
        return key

    def _unexpressible(self, service: Service) -> None:
        p = service.policy
        if isinstance(p, LatencyPolicy):
            self._warn(f"service {service.key}: latency is measured by Route53 from clients to AWS regions "
                       "(aws_region), not by gtm's probers to the load balancers")
        if isinstance(p, ProximityPolicy):
            self._warn(f"service {service.key}: proximity is mirrored as Route53 latency records per aws_region"
                       + (" (the bias is not expressible)" if p.bias else ""))
        if isinstance(p, GeoPolicy):
            for r in p.rules:
                m = r.match
                if m.cidr is not None and not cidr_expressible(m.cidr):
                    self._warn(f"service {service.key}: geo rule on {m.cidr} is not mirrored: Route53 holds CIDR "
                               f"blocks of /1 to /{CIDR_MAX_PREFIX[m.cidr.version]} (IPv{m.cidr.version}); those "
                               "clients get the next rule that matches them there (a wider CIDR rule, or their "
                               "location) or the default")
                elif m.asn is not None or (m.subdivision and not m.subdivision.startswith("US-")):
                    what = f"AS{m.asn}" if m.asn is not None else m.subdivision
                    self._warn(f"service {service.key}: geo rule on {what} has no Route53 equivalent (Route53 "
                               "locates clients by continent, country, US state and CIDR block); those clients "
                               "get the next rule that matches them there or the default")
        if service.ttl > 60:
            self._warn(f"service {service.key}: TTL {service.ttl} s on health-checked names: resolvers keep a dead "
                       "region's answer that long after Route53 moves (AWS advises 60 s or less)")
        if service.affinity:
            self._warn(f"service {service.key}: affinity (consistent hashing) is not expressible; Route53 draws "
                       "weighted records per query")
        if service.answers is not None:
            self._warn(f"service {service.key}: answers: {service.answers} is mirrored as a multivalue answer of "
                       f"the first healthy region (up to {MULTIVALUE_MAX}), not spilled across regions")
        monitor = self.monitor(service)
        if monitor is not None:
            if monitor.rise != monitor.fall:
                self._warn(f"service {service.key}: monitor {monitor.name}: rise {monitor.rise} differs from fall "
                           f"{monitor.fall}; Route53 uses one FailureThreshold ({max(1, min(10, monitor.fall))}) "
                           "for both")
            quorum = monitor.quorum_among(len(self.config.vantages))
            if quorum > 1:
                self._warn(f"service {service.key}: monitor {monitor.name}: quorum {quorum} becomes "
                           "Route53's rule (healthy when more than 18 % of its checkers say so)")
            if monitor.interval not in (10.0, 30.0):
                self._warn(f"service {service.key}: monitor {monitor.name}: interval {monitor.interval:g} s becomes "
                           f"Route53's {10 if monitor.interval <= 10 else 30} s")
        elif service.monitor is None:
            self._warn(f"service {service.key}: no monitor: the mirror has no endpoint health checks, only the "
                       "regions' switches")
        else:
            self._warn(f"service {service.key}: route53: {{health_checks: false}}: the mirror has no endpoint "
                       "health checks, only the regions' switches")

    def _warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)


# How each steering policy (gtm.steering.POLICIES, by name) is mirrored: a test checks that every policy has
# its entry. Latency and proximity both become Route53 latency records per aws_region.
MIRRORS: dict[str, Callable[[_Builder, Service, str, str, int], None]] = {
    "failover": _Builder._failover,
    "weighted": _Builder._weighted,
    "geo": _Builder._geo,
    "proximity": _Builder._latency,
    "latency": _Builder._latency,
}


def desired(config: Config, zone: str, owner: str, drained: frozenset[str] = frozenset(),
            drained_endpoints: frozenset[tuple[str, str]] = frozenset()) -> Desired:
    """Everything gtm wants in the hosted zone ``zone`` for the services of the config zone of that name;
    the regions in ``drained`` (drained for every service in the override store) have their switch inverted,
    and the endpoints in ``drained_endpoints`` (region, address) their checks Disabled and Inverted (always
    unhealthy) and no place in a terminal, as the store says (an apply keeps what Route53 has: see
    gtm.route53.plan.switches)."""
    zone = zone.lower().rstrip(".") + "."
    if not re.fullmatch(r"[a-z0-9-]{1,32}", owner):
        raise ValueError(f"owner id must be 1-32 lower-case letters, digits or hyphens (got {owner!r})")
    config, own = flatten_own(config)
    drained_endpoints = frozenset(d for r, a in drained_endpoints for d in own.get((r, a), [(r, a)]))
    b = _Builder(config, zone, owner, drained, drained_endpoints)
    b.forms += [f"region {r}: {h} is a name of the config's own zones: its addresses there "
                f"({', '.join(a for _, a in addrs)}), as address endpoints" for (r, h), addrs in sorted(own.items())
                if any(r in s.regions for s in config.zones[zone].services)] if zone in config.zones else []
    z = config.zones.get(zone)
    if z is None:
        raise ValueError(f"the config has no zone {zone}; zones: {', '.join(config.zones) or 'none'}")
    problems = []
    for service in z.services:
        for region in service.regions:
            aws = config.regions[region].aws_region
            if aws is not None and aws not in AWS_REGIONS:
                problems.append(f"service {service.key}: region {region}: aws_region {aws!r} is not an AWS region "
                                f"Route53 knows")
        if isinstance(service.policy, GeoPolicy):
            for rule in service.policy.rules:
                sub = rule.match.subdivision
                if sub and sub.startswith("US-") and sub[3:] not in US_STATES:
                    problems.append(f"service {service.key}: geo rule subdivision {sub}: Route53 knows no such US "
                                    f"state")
        if cname_tree(service, config):
            for name in service.names:  # a CNAME owner has no other data (RFC 1034 section 3.6.2)
                here = sorted(t for t in (z.rrsets.get(name) or {}) if t not in (A, AAAA))
                if name == zone or here:
                    problems.append(f"service {service.key}: Route53 answers it with a CNAME, which cannot be at "
                                    f"{name}: " + ("the zone apex" if name == zone else "it has other records ("
                                    + ", ".join(TYPE_NAMES.get(t, str(t)) for t in here) + ")"))
            mixed = [r for r in service.regions if any(e.hostname is None for e in config.regions[r].endpoints)]
            if mixed and service.answer_as != "cname":
                others = sorted({e.hostname for r in service.regions for e in config.regions[r].endpoints
                                 if e.hostname is not None and elb_target(e.hostname) is None})
                problems.append(f"service {service.key}: {', '.join(others)} {'is' if len(others) == 1 else 'are'} "
                                f"no AWS load balancer, so Route53 answers {'it' if len(others) == 1 else 'them'} "
                                f"with a CNAME, and a name with a CNAME can have no addresses: region"
                                f"{'s' if len(mixed) > 1 else ''} {', '.join(mixed)} {'have' if len(mixed) > 1 else 'has'} "
                                f"address endpoints (give them their own service, or answer_as: cname)")
        if service.route53_checks and service.monitor is not None:
            bad = sorted({str(e.address) for r in service.regions for e in config.regions[r].endpoints
                          if e.address is not None and not checkable_ip(str(e.address))},
                         key=lambda a: (ipaddress.ip_address(a).version, ipaddress.ip_address(a)))
            if bad:
                shown = ", ".join(bad[:6]) + (f" and {len(bad) - 6} more" if len(bad) > 6 else "")
                problems.append(f"service {service.key}: Route53's checkers cannot reach {shown} (private, reserved "
                                f"or documentation ranges) and AWS refuses a health check on them: configure the "
                                f"load balancers' public addresses, or set route53: {{health_checks: false}} on the "
                                f"service (its regions then have their switches alone)")
    if problems:
        raise ValueError("; ".join(sorted(set(problems))))
    # One CIDR collection for the zone, one location per block: Route53 matches a client against every block
    # of the collection (longest prefix), so each name with IP-based records has a record for every location,
    # its own blocks' and the other services' alike (see _Builder._geo).
    b.cidr_blocks = sorted({r.match.cidr for s in z.services if isinstance(s.policy, GeoPolicy)
                            for r in s.policy.rules if r.match.cidr is not None and cidr_expressible(r.match.cidr)},
                           key=lambda n: (n.version, int(n.network_address), n.prefixlen))
    b.collection = collection_name(owner, zone) if b.cidr_blocks else ""
    for service in z.services:
        b.service(service)
    records = tuple(sorted(b.records.values(), key=lambda r: r.key))
    checks = tuple(sorted(b.checks.values(), key=lambda c: c.key))
    if len(checks) > DEFAULT_CHECK_QUOTA:
        b.warnings.append(f"{len(checks)} health checks: more than Route53's default quota of {DEFAULT_CHECK_QUOTA} "
                          "active health checks per account; request a higher quota before applying")
    return Desired(zone, records, checks, tuple(b.warnings), b.collection,
                   tuple((cidr_location(n), (str(n),)) for n in b.cidr_blocks), tuple(b.forms))


def flatten_own(config: Config) -> tuple[Config, dict[tuple[str, str], list[tuple[str, str]]]]:
    """``config`` with each hostname endpoint whose name is in the config's own zones replaced by address
    endpoints of its addresses there (what every node resolves it to, from the same data; Route53 gets them
    as addresses, since the mirror does not write the zone's static records an alias could point at), and
    (region, hostname) -> [(region, address)] for drains of those endpoints."""
    own: dict[tuple[str, str], list[tuple[str, str]]] = {}
    regions = {}
    for name, region in config.regions.items():
        eps: list[Endpoint] = []
        for e in region.endpoints:
            got = own_answer(config, e.hostname) if e.hostname is not None else None
            if e.hostname is None or got is None or isinstance(got, str):
                eps.append(e)
                continue
            addrs = [ipaddress.ip_address(a) for a in got.v4 + got.v6]
            eps += [Endpoint(a, e.weight) for a in addrs if all(x.address != a for x in region.endpoints)]
            own[(name, e.hostname)] = [(name, str(a)) for a in addrs]
        regions[name] = replace(region, endpoints=tuple(eps)) if own and eps != list(region.endpoints) else region
    if not own:
        return config, own
    return replace(config, regions=MappingProxyType(regions)), own


def cname_tree(service: Service, config: Config) -> bool:
    """Whether Route53 answers ``service`` with CNAMEs: ``answer_as: cname``, or a hostname endpoint that is no
    AWS load balancer (only those have aliases; any other name can only be a CNAME's target)."""
    return service.answer_as == "cname" or any(
        e.hostname is not None and elb_target(e.hostname) is None
        for r in service.regions for e in config.regions[r].endpoints)

