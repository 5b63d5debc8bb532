"""gtm.admin.app.Coalesced: scrapes share one collection in flight instead of piling up."""
from __future__ import annotations

import asyncio

from gtm.admin.app import Coalesced


def test_concurrent_scrapes_share_one_collection_and_a_later_one_collects_again() -> None:
    started = 0
    gate: asyncio.Event

    async def collect() -> bytes:
        nonlocal started
        started += 1
        await gate.wait()
        return f"collection {started}".encode()

    async def main() -> None:
        nonlocal gate
        gate = asyncio.Event()
        scrapes = Coalesced(collect)
        waiting = [asyncio.ensure_future(scrapes.get()) for _ in range(50)]
        await asyncio.sleep(0.01)
        waiting[0].cancel()  # a scraper that goes away does not cancel the others' collection
        gate.set()
        results = await asyncio.gather(*waiting[1:])
        assert set(results) == {b"collection 1"} and started == 1 and scrapes.collections == 1
        assert await scrapes.get() == b"collection 2"  # nothing in flight: a fresh collection

    asyncio.run(main())

