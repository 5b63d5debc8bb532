"""A hostname endpoint probed by a prober against real parts: its name resolved through a real upstream (a
gtm serving the load balancers' zone on loopback), every address probed over HTTPS with the TLS SNI and Host
of the hostname (the certificate is trustme's, for that name); a certificate for another name fails; a name
that does not resolve is a failed observation that says so."""
from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import aiohttp
import pytest
import trustme
from aiohttp import web

from gtm.config import load
from gtm.health.prober import Prober, targets
from tests.conftest import GtmProcess

UPSTREAM = """\
zone: lb.test
ttl: 1
soa: {mname: ns.lb.test., rname: hostmaster.lb.test., serial: 1, refresh: 60, retry: 60, expire: 600, minimum: 1}
ns: [ns]
records:
  ns: {A: 127.0.0.53}
  alb-1: {A: [127.0.0.1, 127.0.0.2]}
  alb-2: {A: 127.0.0.1}
"""

CONFIG = """\
zone: example.test
soa: {{}}
ns: [ns1]
records:
  ns1: {{A: 192.0.2.53}}
resolvers: {{servers: ["127.0.0.1:{dns}"], timeout: 1}}
regions:
  eu: {{location: {{lat: 50, lon: 8}}, endpoints: [{{hostname: alb-1.lb.test}}]}}
  us: {{location: {{lat: 39, lon: -77}}, endpoints: [{{hostname: alb-2.lb.test}}]}}
  ap: {{location: {{lat: 1, lon: 103}}, endpoints: [{{hostname: gone.lb.test}}]}}
monitors:
  web: {{type: https, port: {port}, path: /healthz, timeout: 1, interval: 2}}
vantages:
  here: {{location: {{lat: 50, lon: 8}}}}
services:
  www: {{regions: [eu, us, ap], monitor: web}}
"""


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> GtmProcess:
    d = tmp_path_factory.mktemp("upstream")
    (d / "lb.test.yaml").write_text(UPSTREAM)
    p = GtmProcess([str(d / "lb.test.yaml")], d)
    yield p  # type: ignore[misc]
    p.stop()


def test_a_hostname_endpoint_is_probed_at_each_address_with_its_name_as_sni_and_host(
        upstream: GtmProcess, tmp_path: Path) -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("alb-1.lb.test").configure_cert(server_ctx)  # not alb-2's name
    seen_sni: list[str | None] = []
    server_ctx.sni_callback = lambda _s, name, _c: seen_sni.append(name)  # type: ignore[assignment,func-returns-value]
    hosts: list[tuple[str, str]] = []

    async def healthz(request: web.Request) -> web.Response:
        hosts.append((request.transport.get_extra_info("sockname")[0], request.headers.get("Host", "")))
        return web.Response(text="ok")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/healthz", healthz)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            sites = [web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx)]
            await sites[0].start()
            port = sites[0]._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            # The same port on 127.0.0.2, alb-1's second address.
            sites.append(web.TCPSite(runner, "127.0.0.2", port, ssl_context=server_ctx))
            await sites[1].start()
            (tmp_path / "z.yaml").write_text(CONFIG.format(dns=upstream.port, port=port))
            config = load([str(tmp_path / "z.yaml")])
            trust = ssl.create_default_context()
            ca.configure_trust(trust)
            prober = Prober(config, "here", [], "here", b"k" * 32, ssl_ctx=trust)
            by = {t.region: t for t in targets(config)}
            assert (by["eu"].address, by["eu"].hostname) == ("alb-1.lb.test", "alb-1.lb.test")
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
                ok, _ = await prober._probe_name(session, by["eu"])
                wrong, _ = await prober._probe_name(session, by["us"])
                gone, _ = await prober._probe_name(session, by["ap"])
            assert (ok.ok, ok.address, ok.region) == (True, "alb-1.lb.test", "eu"), ok
            assert ok.rtt_ms is not None and ok.detail == "200"
            # Both of alb-1's addresses were probed, each with the hostname as SNI and Host.
            assert sorted(a for a, _ in hosts) == ["127.0.0.1", "127.0.0.2"]
            assert {h for _, h in hosts} == {"alb-1.lb.test"}
            assert "alb-1.lb.test" in seen_sni
            # alb-2 resolves, but the certificate there is alb-1's: the name does not match.
            assert not wrong.ok and wrong.detail.startswith("tls: "), wrong
            assert "alb-2.lb.test" in seen_sni
            assert (gone.ok, gone.detail) == (False, "resolve: nxdomain"), gone
            assert prober.extra == {}  # probe: name: the name's observation alone
            # probe: addresses: each address's observation too, named HOSTNAME/ADDRESS, in the next report
            from dataclasses import replace as swap
            from gtm.model import ProbeMode

            eu = config.regions["eu"]
            per = swap(config, regions={**config.regions, "eu": swap(eu, endpoints=(
                swap(eu.endpoints[0], probe=ProbeMode.ADDRESSES),))})
            prober2 = Prober(per, "here", [], "here", b"k" * 32, ssl_ctx=trust)
            t = next(t for t in targets(per) if t.region == "eu")
            assert t.per_address
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
                prober2.latest[t.key], prober2.extra[t.key] = await prober2._probe_name(session, t)
            prober2.unreported.add(t.key)
            sent = prober2.build_report().observations
            assert [(o.address, o.ok) for o in sent] == [
                ("alb-1.lb.test", True), ("alb-1.lb.test/127.0.0.1", True), ("alb-1.lb.test/127.0.0.2", True)]
        finally:
            await runner.cleanup()

    asyncio.run(asyncio.wait_for(main(), 20))
