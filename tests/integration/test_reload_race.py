"""An override that reaches a node while a reload is compiling is in force after the reload: the reload's table
was compiled under the overrides of before, and must not swap them out. (A regression test: the new table once
replaced the override's without it, until the next change of the store.)"""
from __future__ import annotations

import asyncio
import shutil
import threading
import time
from pathlib import Path

import dns.asyncquery
import dns.message

from gtm.model import Override
from gtm.control.options import ServeOptions
from gtm.runtime import Runtime
from gtm.state.store import FileStore, audit_entry
from tests.support.dns_server import ZONES

EU, US = "198.51.100.10", "192.0.2.10"  # www: failover eu-west, then us-east


def test_an_override_arriving_during_a_reload_is_in_force_after_it(tmp_path: Path) -> None:
    zones = tmp_path / "zones"
    shutil.copytree(ZONES, zones)
    store_path = tmp_path / "overrides.json"
    with open(zones / "example.com.yaml", "a") as f:
        f.write(f"\noverrides: {{store: file, path: {store_path}, poll: 0.05}}\n")
    store = FileStore(str(store_path))
    asyncio.run(_scenario(zones, store))


async def _scenario(zones: Path, store: FileStore) -> None:
    rt = Runtime(ServeOptions((str(zones),), (("127.0.0.1", 0),)))
    await rt.start()
    try:
        assert rt.dns.server is not None
        port = rt.dns.bound[0][1]

        async def www() -> list[str]:
            reply = await dns.asyncquery.udp(dns.message.make_query("www.example.com", "A"), "127.0.0.1",
                                             port=port, timeout=5)
            return [rr.address for rrset in reply.answer for rr in rrset]

        assert EU in await www()
        compiling = threading.Event()
        release = threading.Event()
        assert rt.serving is not None
        prepare = rt.serving.prepare

        def slow_prepare(*args, **kwargs):  # runs in the reload's thread: hold it until the override is in
            compiling.set()
            assert release.wait(20), "the override never reached the node"
            return prepare(*args, **kwargs)

        rt.serving.prepare = slow_prepare  # type: ignore[method-assign]
        reload = asyncio.ensure_future(rt.reload())
        deadline = time.monotonic() + 60
        while not compiling.is_set():
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        current = store.read()
        store.write(current.version, [Override("race", "drain", "eu-west", author="test", reason="race",
                                               created=time.time())], audit_entry("drain", [], "test", "race"))
        while not rt.overrides.in_force.forces:  # the store watcher applies it, on the event loop, while the reload compiles
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        assert EU not in await www()
        release.set()
        assert await reload
        assert rt.serving.table.health.forces == rt.overrides.in_force.forces == rt.serving.snapshot.overrides.forces
        for _ in range(5):  # and it stays so: nothing puts the drained region back
            assert EU not in await www() and US in await www()
            await asyncio.sleep(0.1)
    finally:
        release.set()
        await rt.stop()
