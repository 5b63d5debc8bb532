"""A zone's RRsets packed into one flat buffer: for zones of hundreds of thousands of records.

As Python objects a record costs several hundred bytes (the RRset, its Rdata, their tuples and strings, the
dict slots); a million of them take well over a gigabyte, and every worker process would hold its own copy.
:class:`PackedRRsets` keeps the same data as one read-only buffer (about 60 bytes a record) that several
processes can map at once (``gtm.proc.sharedmem`` moves it into shared memory), and decodes an owner's RRsets only
when a query asks for them. It is a ``Mapping[str, Mapping[int, RRset]]`` like the dict it replaces, so the
rest of gtm reads it the same way; it also answers what the resolver needs without walking it: whether a name
exists (empty non-terminals included, RFC 4592 section 2.2.2) and where the zone is cut.

Layout (integers little-endian, but the slot table in the machine's own order: a buffer is only ever shared
between processes of one machine)::

    MAGIC  u32 meta_len  meta (marshal: origin, names, records, slots, cuts)  pad to 4
    slots: ``slots`` x u32, each 0 (empty) or 1 + the offset of an entry in the data part
    data: entries, each  u16 name_len  u8 flags  u32 value_len  name (UTF-8)  value (marshal)

An entry's value is a tuple of ``(rtype, ttl, (fields, ...))``, one per RRset, ``fields`` as in
:class:`~gtm.model.Rdata`; an empty non-terminal has flag ``ENT`` and no value. The slots are an
open-addressing hash table (CRC-32 of the name, linear probing, at most half full), so a lookup reads a
handful of bytes wherever the buffer lives.
"""
from __future__ import annotations

import marshal
import struct
import zlib
from array import array
from types import MappingProxyType
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from gtm.model.records import Rdata, RRset, label_parent

MAGIC = b"GTMPACK1"
ENT = 1
_ENTRY = struct.Struct("<HBI")
_META = struct.Struct("<I")
MAX_BUFFER = 2**32 - 2  # offsets are 32-bit

RRsetData = tuple[int, int, tuple[tuple[Any, ...], ...]]  # (rtype, ttl, (fields, ...))


def pack(origin: str, owners: Iterable[tuple[str, list[RRsetData]]], cuts: Iterable[str]) -> bytes:
    """The buffer for ``owners`` (each owner name with its RRsets) of the zone ``origin``; ``cuts`` are its
    delegation points. Empty non-terminals between the owners and the apex are added."""
    values: dict[str, bytes | None] = {}
    records = 0
    for name, sets in owners:
        values[name] = marshal.dumps(tuple(sets))
        records += sum(len(rd) for _, _, rd in sets)
    owned = len(values)
    for name in list(values):
        n = name
        while n != origin and n != ".":
            n = label_parent(n)
            if n in values:
                break
            values[n] = None  # an empty non-terminal
    size = 1 << max(4, (2 * len(values)).bit_length())  # a power of two, at least twice the entries
    mask = size - 1
    slots = array("I", bytes(4 * size))
    data = bytearray()
    for name, value in values.items():
        raw = name.encode()
        off = len(data)
        if off >= MAX_BUFFER:
            raise ValueError(f"zone {origin} packs into more than {MAX_BUFFER} bytes")
        data += _ENTRY.pack(len(raw), ENT if value is None else 0, len(value or b""))
        data += raw
        if value:
            data += value
        i = zlib.crc32(raw) & mask
        while slots[i]:
            i = (i + 1) & mask
        slots[i] = off + 1
    meta = marshal.dumps((origin, owned, records, size, tuple(sorted(cuts))))
    head = MAGIC + _META.pack(len(meta)) + meta
    head += b"\0" * (-len(head) % 4)
    out = head + slots.tobytes() + bytes(data)
    if len(out) > MAX_BUFFER:
        raise ValueError(f"zone {origin} packs into {len(out)} bytes, more than {MAX_BUFFER}")
    return out


class PackedRRsets(Mapping[str, Mapping[int, RRset]]):
    """``rrsets[name][rtype]`` of one zone, read from a packed buffer (see the module docstring).

    ``buffer`` is any bytes-like object (bytes, an mmap, a memoryview of one) holding what :func:`pack` made.
    ``shared``, when set (by ``gtm.proc.sharedmem``), says where the buffer lives in shared memory: (pid, fd,
    token, size). The channel to the workers (``gtm.proc.channel``) then sends that reference instead of the
    bytes; a plain pickle sends the bytes.
    """

    def __init__(self, buffer: Any, shared: tuple[int, int, bytes, int] | None = None):
        view = memoryview(buffer)
        if bytes(view[:len(MAGIC)]) != MAGIC:
            raise ValueError("not a packed zone (bad magic)")
        (meta_len,) = _META.unpack_from(view, len(MAGIC))
        start = len(MAGIC) + _META.size
        self.origin, self.owners, self.records, size, cuts = marshal.loads(view[start:start + meta_len])
        self.cuts: frozenset[str] = frozenset(cuts)
        start += meta_len
        start += -start % 4
        self._view = view
        self._slots = view[start:start + 4 * size].cast("I")
        self._mask = size - 1
        self._data = start + 4 * size
        self.shared = shared

    @property
    def nbytes(self) -> int:
        return self._view.nbytes

    def _find(self, name: str) -> int:
        """Offset of ``name``'s entry (owners and empty non-terminals), or -1."""
        raw = name.encode()
        view, slots, mask = self._view, self._slots, self._mask
        i = zlib.crc32(raw) & mask
        n = len(raw)
        while True:
            off = slots[i]
            if not off:
                return -1
            at = self._data + off - 1
            if view[at] | view[at + 1] << 8 == n and view[at + 7:at + 7 + n] == raw:
                return at
            i = (i + 1) & mask

    def exists(self, name: str) -> bool:
        """Whether the zone has data at ``name`` or below it (an owner or an empty non-terminal)."""
        return self._find(name) >= 0

    def __getitem__(self, name: str) -> Mapping[int, RRset]:
        at = self._find(name) if isinstance(name, str) else -1
        if at < 0:
            raise KeyError(name)
        n, flags, size = _ENTRY.unpack_from(self._view, at)
        if flags & ENT:
            raise KeyError(name)
        start = at + _ENTRY.size + n
        return MappingProxyType({t: RRset(name, t, ttl, tuple(Rdata(t, f) for f in rdatas))
                                 for t, ttl, rdatas in marshal.loads(self._view[start:start + size])})

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        at = self._find(name)
        return at >= 0 and not self._view[at + 2] & ENT

    def names(self) -> Iterator[tuple[str, bool]]:
        """Every name in the buffer with whether it is an owner (False: an empty non-terminal)."""
        view, at, end = self._view, self._data, self._view.nbytes
        while at < end:
            n, flags, size = _ENTRY.unpack_from(view, at)
            yield bytes(view[at + _ENTRY.size:at + _ENTRY.size + n]).decode(), not flags & ENT
            at += _ENTRY.size + n + size

    def __iter__(self) -> Iterator[str]:
        return (name for name, owner in self.names() if owner)

    def __len__(self) -> int:
        return int(self.owners)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PackedRRsets):
            return self._view == other._view
        return Mapping.__eq__(self, other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<PackedRRsets {self.origin} {self.owners} owners, {self.records} records, {self.nbytes} bytes>"

    def __reduce__(self) -> tuple[Any, ...]:
        return (PackedRRsets, (bytes(self._view),))
