"""``gtm demo``: the whole system on loopback in one command, for a first look.

It serves the bundled example (``zones/``: a geo-steered ``www``, a latency-steered ``api``, ``shop`` on a load
balancer known by name) with its regional
load balancers simulated on loopback (aiohttp backends on 127.0.R.E with a health endpoint), a prober for each
of its vantages, the DNS server and the admin API with the status page. The simulated backends answer a prober after a delay that grows with the great-circle distance
between the prober's vantage and the region (1 ms per 100 km), so the latency policy has something real to
measure. ``POST /demo/regions/{name}/fail`` and ``/recover`` on the admin API make a region's backends fail
their health checks and come back. Ctrl-C stops everything.
"""
from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import os
import re
import secrets
import shlex
import shutil
import socket
import sys
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from aiohttp import web

from gtm.cli.loading import EXAMPLE, example_or_zones, load
from gtm.health.prober import Prober
from gtm.health.signing import load_keys
from gtm.model import A, AAAA, Config, Endpoint, Location, MonitorType, Rdata, RRset, Zone, is_subdomain
from gtm.model.effective import Overrides
from gtm.control.options import ServeOptions
from gtm.runtime import Runtime
from gtm.steering.geomath import distance_km

log = logging.getLogger(__name__)

CLIENTS = [("Europe (London)", "81.2.69.0/24"), ("America (US)", "8.8.8.0/24"), ("Asia (Singapore)", "1.128.0.0/11")]

@dataclass
class SimRegion:
    """One simulated region: its backends' addresses, whether they fail health checks."""

    name: str
    location: Location
    addresses: list[str]
    failed: bool = False
    runners: list[web.AppRunner] = field(default_factory=list)


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


async def _start_backends(region: SimRegion, port: int, vantages: dict[str, Location]) -> None:
    async def healthz(request: web.Request) -> web.Response:
        # Simulated geography: a prober's vantage is in its User-Agent; answer after 1 ms per 100 km.
        m = re.search(r"\(([^)]+)\)", request.headers.get("User-Agent", ""))
        where = vantages.get(m.group(1)) if m else None
        if where is not None:
            await asyncio.sleep(distance_km(where, region.location) / 100 / 1000)
        if region.failed:
            return web.Response(status=503, text=f"{region.name}: failing (demo)\n")
        return web.Response(text=f"{region.name} ok\n")

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text=f"hello from {region.name} ({request.host})\n")

    for address in region.addresses:
        app = web.Application()
        app.add_routes([web.get("/healthz", healthz), web.get("/", hello)])
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, address, port).start()
        region.runners.append(runner)


def simulate(config: Config, regions: dict[str, SimRegion], port: int, keys_file: str,
             aliases: dict[str, str] | None = None) -> Config:
    """The example config with its load balancers simulated on loopback: each region's IPv4 endpoints become
    127.0.R.E (IPv6 ones are left out: loopback has one IPv6 address); a hostname endpoint whose name is in the
    config's own zone keeps its name, which now resolves (from the zone's data) to two simulated load balancers
    127.0.R.1 and 127.0.R.2; every monitor checks the simulated backends' /healthz each second (fall 2, rise 2,
    quorum 2), and reports are signed with the demo's keys (one per vantage)."""
    new_regions = {}
    zones = dict(config.zones)
    for i, (name, region) in enumerate(config.regions.items(), 1):
        hosts = [e for e in region.endpoints if e.hostname is not None and _own_zone(zones, e.hostname)]
        if hosts:  # a load balancer known by name, in the config's own zone: its name now resolves to the
            # simulated load balancers (the node and the probers answer it from the zone's data)
            sims = [f"127.0.{i}.{n}" for n in range(1, 3)]
            for e in hosts:
                assert e.hostname is not None
                zones = _with_addresses(zones, e.hostname, sims)
            new_regions[name] = replace(region, endpoints=tuple(hosts))
            if name not in regions:
                regions[name] = SimRegion(name, region.location, sims)
            continue
        v4 = [e for e in region.endpoints if e.version == 4] or [Endpoint(ipaddress.ip_address("0.0.0.0"))]
        eps = tuple(Endpoint(ipaddress.ip_address(f"127.0.{i}.{e}"), ep.weight) for e, ep in enumerate(v4, 1))
        if aliases is not None:  # the configured address -> the simulated one (overrides name either)
            aliases.update({str(ep.address): str(sim.address) for ep, sim in zip(v4, eps)})
        new_regions[name] = replace(region, endpoints=eps)
        if name not in regions:
            regions[name] = SimRegion(name, region.location, [str(e.address) for e in eps])
    monitors = {n: replace(m, type=MonitorType.HTTP, port=port, path="/healthz", host=None, expect=(200,), body=None,
                           interval=1.0, timeout=0.5, rise=2, fall=2, quorum=min(2, len(config.vantages)),
                           tls_verify=True) for n, m in config.monitors.items()}
    health = replace(config.health, keys_file=keys_file, keys_env=None, start_timeout=10.0, state_file=None)
    return replace(config, regions=MappingProxyType(new_regions), monitors=MappingProxyType(monitors),
                   health=health, zones=MappingProxyType(zones))


def _own_zone(zones: dict[str, Zone], hostname: str) -> Zone | None:
    return next((z for origin, z in zones.items() if is_subdomain(hostname + ".", origin)), None)


def _with_addresses(zones: dict[str, Zone], hostname: str, addresses: list[str]) -> dict[str, Zone]:
    """``zones`` with ``hostname``'s A records (in its zone's static data) set to ``addresses``."""
    zone = _own_zone(zones, hostname)
    if zone is None or not isinstance(zone.rrsets, Mapping):
        return zones
    fqdn = hostname + "."
    old = zone.rrsets.get(fqdn, {})
    ttl = old[A].ttl if A in old else 60
    types = {t: rs for t, rs in old.items() if t not in (A, AAAA)}
    types[A] = RRset(fqdn, A, ttl, tuple(Rdata(A, (a,)) for a in addresses))
    rrsets = dict(zone.rrsets)
    rrsets[fqdn] = MappingProxyType(types)
    return {**zones, zone.origin: replace(zone, rrsets=MappingProxyType(rrsets))}


def demo_routes(regions: dict[str, SimRegion]) -> list[web.RouteDef]:
    async def change(request: web.Request) -> web.Response:
        name, action = request.match_info["name"], request.match_info["action"]
        region = regions.get(name)
        if region is None:
            return web.json_response({"error": f"unknown region {name!r}; regions: {', '.join(regions)}",
                                      "reason": "unknown_region"}, status=404)
        region.failed = action == "fail"
        log.info("demo: region %s %s", name, "now fails its health checks" if region.failed else "recovered")
        return web.json_response({"region": name, "failing": region.failed})

    async def listing(request: web.Request) -> web.Response:
        return web.json_response({n: {"addresses": r.addresses, "failing": r.failed} for n, r in regions.items()})

    return [web.post(r"/demo/regions/{name}/{action:fail|recover}", change), web.get("/demo/regions", listing)]


class DemoRuntime(Runtime):
    """A node whose regions are simulated: every loaded config has its endpoints moved to the simulated load
    balancers on loopback, and the admin API has the routes that fail and recover them."""

    def __init__(self, options: ServeOptions, regions: dict[str, SimRegion], port: int, keys_file: str):
        super().__init__(options)
        self.regions, self.port, self.keys_file = regions, port, keys_file
        self.aliases: dict[str, str] = {}

    def load(self, paths: list[str]) -> Config:
        return simulate(super().load(paths), self.regions, self.port, self.keys_file, self.aliases)

    def _on_overrides(self, overrides: Overrides) -> None:
        """An override of one endpoint names its configured address (``gtm override`` reads the files) or the
        simulated one: both reach the simulated load balancer."""
        forces = tuple(replace(f, address=self.aliases.get(f.address, f.address)) if f.address else f
                       for f in overrides.forces)
        super()._on_overrides(replace(overrides, forces=forces))

    def routes(self) -> list[web.RouteDef]:
        return demo_routes(self.regions)


def _gtm() -> str:
    """How to run gtm from a shell as this demo was run: the script beside this Python (a venv's bin/), else
    ``python -m gtm``."""
    script = shutil.which("gtm", path=os.path.dirname(sys.executable))
    return shlex.quote(script) if script else f"{shlex.quote(sys.executable)} -m gtm"


def _banner(dns: tuple[str, int], admin_url: str, paths: list[str] | None = None) -> str:
    host, port = dns
    gtm = _gtm()
    config = "" if not paths or paths == ["zones"] else " -c " + " -c ".join(shlex.quote(p) for p in paths)
    lines = [f"dns: {host}:{port}", f"admin: {admin_url}", "",
             "Simulated regions (us-east, eu-west, ap-southeast, and sa-east behind a load balancer known by its "
             "name), probed from virginia, frankfurt and singapore.", "", "Ask as clients in different places:"]
    for where, net in CLIENTS:
        lines.append(f"  dig @{host} -p {port} www.example.com +subnet={net} +short   # {where}")
    lines += [f"  dig @{host} -p {port} api.example.com +subnet=81.2.69.0/24 +short   # latency-steered",
              f"  dig @{host} -p {port} shop.example.com +short   # sa-east's load balancer, by its name's addresses",
              "",
              f"Status page: {admin_url}/", "",
              "Fail a region, then watch answers move (and come back):",
              f"  curl -X POST {admin_url}/demo/regions/eu-west/fail",
              f"  curl -X POST {admin_url}/demo/regions/eu-west/recover", "",
              "Why an answer, from the running node:",
              f"  {gtm} explain {' '.join(shlex.quote(p) for p in paths or ['zones'])} www.example.com "
              f"--client 81.2.69.0/24 --node {admin_url}", ""]
    where = "" if (host, port) == ("127.0.0.1", 5353) and admin_url == "http://127.0.0.1:8053" \
        else f" --nodes {host}:{port} --admin {admin_url}"
    lines += ["Take a region out on purpose (docs/drills.md)" + (", from this directory:" if not config else ":"),
              f"  {gtm} override drain eu-west --reason 'trying it' --wait 5{config}{where}",
              f"  {gtm} override clear eu-west{config}",
              f"  {gtm} drill run --region eu-west --hold 10s --report drill{config}{where}", "",
              "Ctrl-C stops everything."]
    return "\n".join(lines)


async def run_demo(paths: list[str], dns: tuple[str, int], admin: tuple[str, int]) -> int:
    if dns[1] and admin[1]:  # known now: say where things are before anything else
        print(f"dns: {dns[0]}:{dns[1]}\nadmin: http://{admin[0]}:{admin[1]}", flush=True)
    directory = Path(tempfile.mkdtemp(prefix="gtm-demo-"))
    if paths == [EXAMPLE]:  # the example in the package: a copy to run, with its override store beside it
        shutil.copytree(EXAMPLE, directory / "zones")
        paths = [str(directory / "zones")]
    keys_file = directory / "keys.txt"
    loaded = load(paths)  # a config error surfaces here, before starting
    # one key per vantage: a node accepts a vantage's reports signed with its own key only
    fd = os.open(keys_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("".join(f"{v.key_id}:{secrets.token_hex(24)}\n" for v in loaded.vantages.values()))
    port = _free_port("127.0.1.1")
    regions: dict[str, SimRegion] = {}
    config = simulate(loaded, regions, port, str(keys_file))
    for region in regions.values():
        await _start_backends(region, port, {v.name: v.location for v in config.vantages.values()})
    runtime = DemoRuntime(ServeOptions(tuple(paths), (dns,), admin_listen=admin), regions, port, str(keys_file))
    serving = asyncio.ensure_future(runtime.run())
    while runtime.admin_url is None and not serving.done():
        await asyncio.sleep(0.02)
    probers: list[Prober] = []
    tasks = []
    if runtime.admin_url is not None:
        keys = load_keys(str(keys_file), None)
        for vantage in config.vantages.values():
            p = Prober(config, vantage.name, [runtime.admin_url], vantage.key_id, keys[vantage.key_id])
            probers.append(p)
            tasks.append(asyncio.ensure_future(p.run()))
    while not runtime.answering and not serving.done():
        await asyncio.sleep(0.05)
    if runtime.answering and runtime.dns.bound and runtime.admin_url is not None:
        bound = runtime.dns.bound[0]
        text = _banner(bound, runtime.admin_url, paths)
        if dns[1] and admin[1]:
            text = text.split("\n", 2)[2]  # the first two lines went out at start
        print(text, flush=True)
    try:
        await serving  # until Ctrl-C / SIGTERM (the runtime's signal handlers end it)
    finally:
        for p in probers:
            p.stop()
        if tasks:
            await asyncio.wait(tasks, timeout=3)
        for region in regions.values():
            for runner in region.runners:
                await runner.cleanup()
    return 0


def run(args: argparse.Namespace) -> int:
    from gtm.model.net import parse_host_port

    try:
        dns = parse_host_port(args.dns_listen)
        admin = parse_host_port(args.admin_listen)
    except ValueError as e:
        print(f"gtm demo: error: {e}", file=sys.stderr)
        return 2
    try:
        import uvloop

        return int(uvloop.run(run_demo(args.paths or example_or_zones(), dns, admin)))
    except ImportError:
        return asyncio.run(run_demo(args.paths or example_or_zones(), dns, admin))


def add_parser(sub: Any) -> None:
    d = sub.add_parser("demo", help="everything on loopback: simulated regions, probers, DNS, admin API")
    d.add_argument("--dns-listen", default="127.0.0.1:5353", metavar="ADDR:PORT", help="DNS (default 127.0.0.1:5353)")
    d.add_argument("--admin-listen", default="127.0.0.1:8053", metavar="ADDR:PORT",
                   help="admin API and status page (default 127.0.0.1:8053)")
    d.add_argument("paths", nargs="*", metavar="PATH",
                   help="the config to simulate (default: zones/ here, else the example bundled with gtm)")
    d.set_defaults(func=run)


__all__ = ["add_parser", "run"]
