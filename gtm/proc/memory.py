"""Memory policy of gtm's processes: when the garbage collector runs, and when freed memory goes back."""
from __future__ import annotations

import ctypes
import gc
from contextlib import contextmanager
from typing import Any, Iterator


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside (loading builds millions of objects and frees none of them: the
    collector's passes over them were half of a million-record load); the previous state after."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def settle() -> None:
    """Once, after start-up: collect what start-up left behind, then move every object alive now (modules,
    the config, the first answer tables) out of the cyclic garbage collector's reach: its full collections
    would otherwise walk them all, a pause of milliseconds that lands on whatever queries are waiting (the
    p99). Not repeated on later swaps: whatever is frozen is never collected if it ends up in a cycle, and
    later tables are smaller than what start-up imports. Answer tables hold no reference cycles, so replaced
    ones are freed by reference counting anyway (see ``gtm.dns.table.TableEnv``)."""
    gc.collect()
    gc.freeze()
    release_memory()


def release_memory() -> None:
    """Give the C allocator's free memory back to the system (glibc ``malloc_trim``; elsewhere nothing).
    Loading a big zone allocates and frees gigabytes in a thread, whose malloc arena otherwise keeps the
    freed pages; a worker's bounded caches fill and empty again and again, each time with new big blocks."""
    if _TRIM is not None:
        _TRIM(0)


def _malloc_trim() -> Any:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim  # glibc; (find_library would run ldconfig)
    except (OSError, AttributeError):
        return None


_TRIM = _malloc_trim()  # looked up once, at import; never changed
TRIM_EVERY = 60.0  # seconds between a worker's calls of release_memory
