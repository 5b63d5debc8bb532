"""Loading a big configuration in a child process.

Loading a zone of a million records builds and drops some 1.5 GB of Python objects. Done in the serving
process, that has two costs: the loading thread holds the GIL for seconds (queries answered in that process
wait their turn), and the allocator does not give all of the freed memory back, so the process grows with
every reload (about 20 MB a reload for a million records). A child process has neither: it loads, packs the
big zones into shared memory (``gtm.sharedmem``), sends the config back over a socketpair, with the memory
files' descriptors (SCM_RIGHTS), and exits, returning everything it allocated to the system.

:func:`load` does this when the configuration's files are big (``ISOLATE_BYTES``); small ones, the usual
case, are loaded in the calling process, where it takes milliseconds. Errors come back as they would from
``gtm.config.load``: a ConfigError with every problem, a GtmError with its message.
"""
from __future__ import annotations

import logging
import os
import pickle
import socket
import struct
import subprocess
import sys
import time
from typing import Any

from gtm import config as config_
from gtm import sharedmem
from gtm.errors import ConfigError, GtmError, Problem
from gtm.model import Config

log = logging.getLogger(__name__)

ISOLATE_BYTES = 4 << 20  # configuration files of this many bytes (about 150,000 records) and more
TIMEOUT = 1800.0         # seconds a child may take to load


def config_bytes(paths: list[str]) -> int:
    total = 0
    for f in config_.discover(paths):
        try:
            total += os.stat(f).st_size
        except OSError:
            pass
    return total


def load(paths: list[str], share: bool = True) -> Config:
    """Load ``paths`` (in a child process when they are big); with ``share`` (or when loaded in a child), the
    packed zones are in shared memory."""
    if config_bytes(paths) < ISOLATE_BYTES or not sharedmem.available():
        config = config_.load(paths)
        if share:
            sharedmem.share(config)
        return config
    return load_in_child(paths)


def load_in_child(paths: list[str]) -> Config:
    started = time.monotonic()
    ours, theirs = socket.socketpair()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "gtm.isolated", str(theirs.fileno()), *paths],
                                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL)
    finally:
        theirs.close()
    fds: list[int] = []
    try:
        ours.settimeout(TIMEOUT)
        head, fds, _flags, _addr = socket.recv_fds(ours, 8, 64, socket.MSG_CMSG_CLOEXEC)
        if len(head) < 8:
            raise GtmError(f"the loading process ended without an answer (exit status {proc.wait(TIMEOUT)})")
        size = struct.unpack("!Q", head)[0]
        chunks = []
        while size:
            chunk = ours.recv(min(size, 1 << 20))
            if not chunk:
                raise GtmError("the loading process ended in the middle of its answer")
            chunks.append(chunk)
            size -= len(chunk)
        proc.wait(TIMEOUT)
        adopted = [sharedmem.adopt(fd) for fd in fds]  # before unpickling: the config refers to them
        fds = []
        kind, payload = pickle.loads(b"".join(chunks))
        del adopted  # the config holds what it uses
    except (OSError, subprocess.TimeoutExpired) as e:
        proc.kill()
        proc.wait()
        raise GtmError(f"loading the configuration in a separate process failed: {e}") from None
    finally:
        ours.close()
        for fd in fds:
            os.close(fd)
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
        config = config_.load(paths)
        sharedmem.share(config)
        shared = sharedmem.descriptors(config)
        message = ("config", config)
    except ConfigError as e:
        message = ("problems", [(p.file, p.line, p.path, p.message) for p in e.problems])
    except Exception as e:  # anything else is the caller's GtmError, with the same words
        message = ("error", str(e) if isinstance(e, GtmError) else f"{type(e).__name__}: {e}")
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    socket.send_fds(sock, [struct.pack("!Q", len(body))], shared)
    sock.sendall(body)
    sock.close()
    return 0


if __name__ == "__main__":
    os._exit(_child(int(sys.argv[1]), sys.argv[2:]))  # skip freeing a gigabyte object by object
