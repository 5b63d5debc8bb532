"""The worker process (``python -m gtm.proc.worker``): answers queries on the sockets it was given, from the
snapshots the control process sends (``gtm.proc.channel``), through its own ``gtm.serving.Serving``."""
from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys
import time

import setproctitle

from gtm.proc.channel import (
    ORPHAN_GRACE, REPORT_EVERY, AskReport, Swap, WorkerReport, frame, loads, read_frame, read_raw,
)
from gtm.proc.sharedmem import SharedZones
from gtm.proc.memory import TRIM_EVERY, release_memory

log = logging.getLogger(__name__)


async def _worker(index: int, channel_fd: int, fds: list[int], workers: int = 1, files_fd: int = -1) -> None:
    from gtm.dns.counts import Counts
    from gtm.dns.server import DnsServer
    from gtm.serving import Serving

    inbox = None
    if files_fd >= 0:
        inbox = socket.socket(fileno=files_fd)
        inbox.setblocking(False)
    zones = SharedZones(inbox)  # this process's shared zones: the config's big zones map them
    loop = asyncio.get_running_loop()
    channel = socket.socket(fileno=channel_fd)
    reader, writer = await asyncio.open_connection(sock=channel)
    first: Swap = await read_frame(reader, zones)
    config, rest, settings = first.config, first.rest, first.settings
    counts = Counts()
    serving = Serving(rest.joined(config), counts, settings["udp_payload"], rrl_share=workers)
    durations: list[float] = []
    serving.responder.observe = durations.append
    serving.responder.query_log = settings.get("query_log", 0)
    socks = [socket.socket(fileno=fd) for fd in fds]
    server = DnsServer(serving.responder, [], max_tcp=settings["tcp_clients"], tcp_idle=settings["tcp_idle"],
                       limits=config.rrl, udp_io=settings.get("udp_io", "auto"))
    serving.add_server(server)
    await server.start_on(socks)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, lambda: None)  # Ctrl-C goes to the control process, which stops us
    loop.add_signal_handler(signal.SIGHUP, lambda: None)  # a reload is the control process's; not our death
    del first, config, rest  # serving holds the snapshot; a later one replaces it

    async def control() -> None:
        while True:
            try:
                raw = await read_raw(reader)
            except (asyncio.IncompleteReadError, ConnectionError, OSError):
                # Answers from a table nobody updates any more (a drain would not reach it) must not outlive the
                # control process by more than a moment; a new instance waits that long before it binds.
                log.warning("worker %d: the control process went away; stopping in %.0f s", index, ORPHAN_GRACE)
                loop.call_later(ORPHAN_GRACE, stop.set)
                return
            try:
                await apply(raw)
            except Exception:  # a bad message must not leave the worker deaf to the next ones
                log.exception("worker %d: could not apply a message of %d bytes", index, len(raw))
            del raw

    async def apply(raw: bytes) -> None:
        """Apply one message of the control process. (Its own function: what it holds, the previous table
        above all, is let go at its return, not kept until the next message.)"""
        started = time.perf_counter()
        message = loads(raw, zones)  # a packed zone arrives as a reference to shared memory (sharedmem)
        if isinstance(message, Swap):
            gen, cfg, rest = message.generation, message.config, message.rest
            if cfg is None:  # health or overrides: the same config, new answers for managed names (cheap)
                snapshot = rest.joined(serving.snapshot.config)
                if snapshot.epoch != serving.snapshot.epoch:  # a new signing period: every answer signed afresh,
                    prepared = await loop.run_in_executor(None, serving.prepare, snapshot)  # off the loop
                    serving.swap(snapshot, prepared)
                else:
                    serving.swap(snapshot)
                return
            unpickled = time.perf_counter()
            snapshot = rest.joined(cfg)
            prepared = await loop.run_in_executor(None, serving.prepare, snapshot)
            serving.swap(snapshot, prepared)
            log.info("worker %d: generation %d answering %.0f ms after it arrived (%d bytes, %.0f ms to "
                     "unpickle)", index, gen, (time.perf_counter() - started) * 1000, len(raw),
                     (unpickled - started) * 1000)
        elif isinstance(message, AskReport):
            send_report()

    def send_report() -> None:
        sample = durations[:]
        durations.clear()
        try:
            writer.write(frame(WorkerReport(counts.totals(), sample)))
        except (ConnectionError, OSError):
            pass

    async def report() -> None:
        trimmed = time.monotonic()
        while True:
            send_report()
            if time.monotonic() - trimmed >= TRIM_EVERY:  # (well under a millisecond for a worker's heap)
                release_memory()
                trimmed = time.monotonic()
            try:
                await asyncio.wait_for(writer.drain(), 1.0)
            except (ConnectionError, OSError, asyncio.TimeoutError):
                pass
            await asyncio.sleep(REPORT_EVERY)

    tasks = [asyncio.ensure_future(control()), asyncio.ensure_future(report())]
    await stop.wait()
    for t in tasks:
        t.cancel()
    await server.stop()


def main(argv: list[str]) -> None:
    index, channel_fd, fds = int(argv[0]), int(argv[1]), [int(x) for x in argv[2].split(",") if x]
    workers = int(argv[3]) if len(argv) > 3 else 1
    files_fd = int(argv[4]) if len(argv) > 4 else -1
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"%(asctime)s %(levelname)s worker{index} %(name)s: %(message)s")
    from gtm.errors import one_line_logs

    one_line_logs(f"worker {index}")
    setproctitle.setproctitle(f"gtm: worker {index}")
    try:
        import uvloop

        uvloop.run(_worker(index, channel_fd, fds, workers, files_fd))
    except ImportError:
        asyncio.run(_worker(index, channel_fd, fds, workers, files_fd))


if __name__ == "__main__":
    main(sys.argv[1:])
