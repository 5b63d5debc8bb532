"""The channel between the control process and a worker: length-prefixed pickles of typed messages, over a
stream socketpair (the shared zones' files travel beside it on a datagram socketpair, see ``sharedmem``).

Messages:

* :class:`Swap` (control -> worker): a snapshot the control process swapped in (``gtm.serving``); ``config`` is
  the config after a reload and None when only health or overrides changed, ``rest`` the snapshot without its
  config (``Snapshot.parts``). The worker swaps the joined snapshot through its own ``Serving``.
* :class:`AskReport` (control -> worker): report now (a scrape of /metrics wants counts that are current).
* :class:`WorkerReport` (worker -> control): its counts (``gtm.dns.counts.Counts.totals``) and the query durations
  sampled since the last report; every ``REPORT_EVERY`` seconds and when asked.

The pickling of the model's read-only mappings (as the dicts they show) is registered here, on this channel's
pickler alone (a dispatch table), not process-wide.
"""
from __future__ import annotations

import asyncio
import copyreg
import io
import pickle
import struct
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from gtm.model.packed import PackedRRsets

if TYPE_CHECKING:
    from gtm.proc.sharedmem import SharedZones

REPORT_EVERY = 1.0
ORPHAN_GRACE = 3.0  # seconds a worker keeps answering after its control process went away, then it stops


@dataclass(frozen=True)
class Swap:
    generation: int
    config: Any            # a gtm.model.Config after a reload, else None
    rest: Any              # a gtm.serving.Snapshot without its config
    settings: dict[str, Any]


@dataclass(frozen=True)
class AskReport:
    pass


@dataclass(frozen=True)
class WorkerReport:
    totals: dict[str, Any]
    durations: list[float]


def _readonly(d: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    return MappingProxyType(d)


_DISPATCH = copyreg.dispatch_table.copy()
_DISPATCH[MappingProxyType] = lambda m: (_readonly, (dict(m),))


class _Pickler(pickle.Pickler):
    """A zone in shared memory travels as its reference (``gtm.proc.sharedmem``), everything else as usual."""

    dispatch_table = _DISPATCH

    def persistent_id(self, obj: Any) -> Any:
        if type(obj) is PackedRRsets and obj.shared is not None:
            return ("zone", *obj.shared)
        return None


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes, zones: "SharedZones | None"):
        super().__init__(io.BytesIO(data))
        self.zones = zones

    def persistent_load(self, pid: Any) -> Any:
        if isinstance(pid, tuple) and pid[:1] == ("zone",) and self.zones is not None:
            return self.zones.attach(*pid[1:])
        raise pickle.UnpicklingError("a shared zone arrived in a process that cannot attach one")


def dumps(message: Any) -> bytes:
    """Pickle ``message`` for the channel (or the loading child's answer)."""
    buf = io.BytesIO()
    _Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(message)
    return buf.getvalue()


def loads(data: bytes, zones: "SharedZones | None" = None) -> Any:
    """Unpickle a message; references to shared zones are attached through ``zones`` (this process's)."""
    return _Unpickler(data, zones).load()


def frame(message: Any) -> bytes:
    body = dumps(message)
    return struct.pack("!Q", len(body)) + body


async def read_raw(reader: asyncio.StreamReader) -> bytes:
    size = struct.unpack("!Q", await reader.readexactly(8))[0]
    return await reader.readexactly(size)


async def read_frame(reader: asyncio.StreamReader, zones: "SharedZones | None" = None) -> Any:
    return loads(await read_raw(reader), zones)
