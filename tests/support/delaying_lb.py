"""A regional load balancer for the fleet tests, as a process of its own: answers ``GET /health`` with 200 after a
delay that depends on which vantage's prober asks, so that the latency policy sees a different RTT from each
vantage (these kernels have no ``netem``; the delay is in userspace, before the reply).

    python -m tests.support.delaying_lb --region eu --delays FILE --listen ADDR:PORT[=VANTAGE] ...
        [--prober ADDR=VANTAGE ...]

A request's vantage is the one its listening port stands for (``ADDR:PORT=VANTAGE``: on loopback, each vantage
probes a port of its own), else the one its source address belongs to (``--prober``: in network namespaces each
prober has an address of its own). ``FILE`` is JSON, ``{"VANTAGE": {"REGION": seconds}}``, read on every request
so that a test can change the delays while everything runs. A request from no known vantage gets no delay. It
prints ``listening`` once every address is bound, and stops on SIGTERM.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import signal
from pathlib import Path

from aiohttp import web


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--region", required=True)
    ap.add_argument("--delays", required=True, type=Path)
    ap.add_argument("--listen", action="append", required=True, help="ADDR:PORT[=VANTAGE]")
    ap.add_argument("--prober", action="append", default=[], help="ADDR=VANTAGE")
    a = ap.parse_args()
    by_port: dict[int, str] = {}
    binds: list[tuple[str, int]] = []
    for item in a.listen:
        where, _, vantage = item.partition("=")
        host, _, port = where.rpartition(":")
        binds.append((host, int(port)))
        if vantage:
            by_port[int(port)] = vantage
    by_source = dict(p.split("=", 1) for p in a.prober)

    async def health(request: web.Request) -> web.Response:
        sock = request.transport.get_extra_info("sockname") if request.transport else None
        vantage = by_port.get(sock[1]) if sock else None
        vantage = vantage or by_source.get(request.remote or "")
        try:
            delays = json.loads(a.delays.read_text())
        except (OSError, ValueError):
            delays = {}
        delay = float(delays.get(vantage, {}).get(a.region, 0.0)) if vantage else 0.0
        if delay > 0:
            await asyncio.sleep(delay)
        return web.Response(text=f"ok {a.region} {vantage or '-'}\n")

    async def run() -> None:
        app = web.Application()
        app.router.add_get("/health", health)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        for host, port in binds:
            await web.TCPSite(runner, host, port, reuse_address=True).start()
        print("listening", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await runner.cleanup()

    asyncio.run(run())


if __name__ == "__main__":
    main()
