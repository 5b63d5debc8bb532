"""Loading a big configuration in a child process.

Loading a zone of a million records builds and drops some 1.5 GB of Python objects. Done in the serving
process, that has two costs: the loading thread holds the GIL for seconds (queries answered in that process
wait their turn), and the allocator does not give all of the freed memory back, so the process grows with
every reload (about 20 MB a reload for a million records). A child process has neither: it loads, packs the
big zones into shared memory (``gtm.proc.sharedmem``), sends the config back over a socketpair, with the memory
files' descriptors (SCM_RIGHTS), and exits, returning everything it allocated to the system.

:func:`load` does this when the configuration's files are big (``ISOLATE_BYTES``); small ones, the usual
case, are loaded in the calling process, where it takes milliseconds. Errors come back as they would from
``gtm.config.load``: a ConfigError with every problem, a GtmError with its message.
"""
from __future__ import annotations

import logging
import os
import re
import socket
import struct
import subprocess
import sys
import time
from typing import Any

from gtm import config as config_
from gtm.proc import sharedmem
from gtm.proc.channel import dumps, loads
from gtm.proc.memory import gc_paused
from gtm.errors import ConfigError, GtmError, Problem
from gtm.model import Config

log = logging.getLogger(__name__)

ISOLATE_BYTES = 4 << 20  # configuration files of this many bytes (about 150,000 records) and more
TIMEOUT = 1800.0         # seconds a child may take to load


_IMPORT = re.compile(r"^\s*import:\s*['\"]?([^'\"#\s]+)", re.M)


def config_bytes(paths: list[str]) -> int:
    """The size of the configuration's files: those found under ``paths`` and the master files their YAML
    imports (read with a pattern: this only decides where to load, the loader reads them properly)."""
    files = set(config_.discover(paths))
    for f in list(files):
        if f.endswith((".yaml", ".yml")):
            try:
                with open(f, encoding="utf-8", errors="replace") as fh:
                    text = fh.read(1 << 20)
            except OSError:
                continue
            files.update(os.path.join(os.path.dirname(f), m) for m in _IMPORT.findall(text))
    total = 0
    for f in files:
        try:
            total += os.stat(f).st_size
        except OSError:
            pass
    return total


def load(paths: list[str], zones: sharedmem.SharedZones | None = None) -> Config:
    """Load ``paths`` (in a child process when they are big). With ``zones`` (this process's shared zones),
    the packed zones are in shared memory; a config loaded in a child always needs them."""
    if config_bytes(paths) < ISOLATE_BYTES or not sharedmem.available():
        with gc_paused():
            config = config_.load(paths)
        if zones is not None:
            zones.share(config)
        return config
    return load_in_child(paths, zones or sharedmem.SharedZones())


def load_in_child(paths: list[str], zones: sharedmem.SharedZones) -> Config:
    started = time.monotonic()
    ours, theirs = socket.socketpair()
    try:
        # its own session: a Ctrl-C meant for the server does not reach the loading process
        proc = subprocess.Popen([sys.executable, "-m", "gtm.proc.loading", str(theirs.fileno()), *paths],
                                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, start_new_session=True)
    except OSError as e:
        ours.close()
        raise GtmError(f"cannot start a process to load the configuration: {e}") from None
    finally:
        theirs.close()
    fds: list[int] = []
    try:
        ours.settimeout(TIMEOUT)
        head, fds, flags, _addr = socket.recv_fds(ours, 12, sharedmem.MAX_FILES, socket.MSG_CMSG_CLOEXEC)
        if len(head) < 12:
            raise GtmError(f"the loading process ended without an answer (exit status {proc.wait(TIMEOUT)})")
        size, files = struct.unpack("!QI", head)
        if flags & socket.MSG_CTRUNC or len(fds) != files:
            raise GtmError(f"the loading process sent {files} shared zones, {len(fds)} arrived")
        chunks = []
        while size:
            chunk = ours.recv(min(size, 1 << 20))
            if not chunk:
                raise GtmError("the loading process ended in the middle of its answer")
            chunks.append(chunk)
            size -= len(chunk)
        adopted = []
        while fds:  # before unpickling: the config refers to them
            adopted.append(zones.adopt(fds.pop(0)))  # (adopt owns the descriptor, even when it fails)
        kind, payload = loads(b"".join(chunks), zones)
        del adopted  # the config holds what it uses
    except GtmError:
        raise
    except Exception as e:  # OSError, a timeout, a broken answer
        raise GtmError(f"loading the configuration in a separate process failed: {e}") from None
    finally:
        ours.close()
        for fd in fds:
            os.close(fd)
        if proc.poll() is None:
            try:
                proc.wait(5)  # it exits right after sending
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    if kind == "config":
        assert isinstance(payload, Config)
        log.info("configuration loaded in a separate process in %.1f s (%d packed zones in shared memory)",
                 time.monotonic() - started, len(sharedmem.descriptors(payload)))
        return payload
    if kind == "problems":
        raise ConfigError([Problem(*p) for p in payload])
    raise GtmError(str(payload))


def _child(fd: int, paths: list[str]) -> int:
    sock = socket.socket(fileno=fd)
    shared: list[int] = []
    message: tuple[str, Any]
    try:
        with gc_paused():
            config = config_.load(paths)
        sharedmem.SharedZones().share(config)
        shared = sharedmem.descriptors(config)
        message = ("config", config)
    except ConfigError as e:
        message = ("problems", [(p.file, p.line, p.path, p.message) for p in e.problems])
    except Exception as e:  # anything else is the caller's GtmError, with the same words
        message = ("error", str(e) if isinstance(e, GtmError) else f"{type(e).__name__}: {e}")
    body = dumps(message)
    if len(shared) > sharedmem.MAX_FILES:
        body = dumps(("error", f"{len(shared)} zones to share, more than {sharedmem.MAX_FILES}"))
        shared = []
    socket.send_fds(sock, [struct.pack("!QI", len(body), len(shared))], shared)
    sock.sendall(body)
    sock.close()
    return 0


if __name__ == "__main__":
    os._exit(_child(int(sys.argv[1]), sys.argv[2:]))  # skip freeing a gigabyte object by object
