"""The packet path's fuzzing campaign (a benchmark job, not CI): ``python -m bench.fuzz [--count 1000000]``.

A mutational fuzzer, deterministic for a seed: valid queries (with and without EDNS, DO, ECS; for static,
managed, missing and foreign names) are mutated (bit flips, byte sets, truncation, insertion, deletion,
splicing two queries, length and count fields set to extremes, EDNS option lengths made absurd, ECS source
and scope prefixes made invalid) or replaced by random bytes, and each input goes through the query path
as UDP and as TCP (``Responder.answer``) and through the strict parser. The checks are those of
``tests/unit/dns/test_fuzz.py::survives``: nothing escapes, every reply is a well-formed message echoing the ID
and opcode. An input that fails a check (a crash) or takes over 50 ms (a hang) is saved in
``tests/fixtures/fuzz/`` and replayed by ``tests/unit/dns/test_fuzz_corpus.py`` in CI; so is the first input
seen for each distinct outcome (path taken, RCODE, flags), as coverage for the replay.
"""
from __future__ import annotations

import argparse
import hashlib
import random
import struct
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from gtm.config import load  # noqa: E402
from gtm.dns.server import Responder  # noqa: E402
from gtm.dns.table import Table  # noqa: E402
from bench.fuzzcases import SEEDS, survives  # noqa: E402

CORPUS = ROOT / "tests" / "fixtures" / "fuzz"
HANG = 0.05


def mutate(rng: random.Random, seeds: list[bytes]) -> bytes:
    if rng.random() < 0.05:
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 600)))
    data = bytearray(rng.choice(seeds))
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(10)
        if not data:
            break
        i = rng.randrange(len(data))
        if op == 0:
            data[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            data[i] = rng.getrandbits(8)
        elif op == 2:
            del data[i:]
        elif op == 3:
            data[i:i] = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 8)))
        elif op == 4:
            del data[i: i + rng.randint(1, 4)]
        elif op == 5:  # splice the tail of another query
            other = rng.choice(seeds)
            data[i:] = other[rng.randrange(len(other)):]
        elif op == 6 and len(data) >= 12:  # a count field to an extreme
            field = rng.choice((4, 6, 8, 10))
            data[field: field + 2] = struct.pack("!H", rng.choice((0, 1, 2, 255, 0xFFFF)))
        elif op == 7 and len(data) > 30:  # an EDNS option length to an absurd value (near the end: OPT RDATA)
            at = rng.randrange(max(12, len(data) - 16), len(data) - 1)
            data[at: at + 2] = struct.pack("!H", rng.choice((0, 1, 4, 0x7FFF, 0xFFFF)))
        elif op == 8 and len(data) > 20:  # ECS source/scope prefix bytes to invalid values
            at = rng.randrange(len(data) - 4, len(data) - 1)
            data[at] = rng.choice((0, 25, 33, 64, 129, 255))
        elif len(data) >= 4:  # the flags
            data[2 + rng.randrange(2)] = rng.getrandbits(8)
    return bytes(data)


def outcome(responder: Responder, data: bytes) -> tuple[object, ...]:
    slow = responder.stats.slow_path
    reply = responder.answer(data)
    path = "slow" if responder.stats.slow_path != slow else "fast"
    if reply is None:
        return (path, "dropped")
    return (path, reply[3] & 0xF, reply[2] & 0x02, len(reply) > 512)


def save(data: bytes, kind: str) -> Path:
    path = CORPUS / f"{kind}-{hashlib.sha256(data).hexdigest()[:16]}.bin"
    path.write_bytes(data)
    return path


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    rng = random.Random(a.seed)
    responder = Responder(Table(load([str(ROOT / "zones")])))
    seeds = list(SEEDS)
    seen: set[tuple[object, ...]] = set()
    crashes = hangs = 0
    slowest = 0.0
    started = time.monotonic()
    for n in range(a.count):
        data = mutate(rng, seeds)
        t0 = time.perf_counter()
        try:
            survives(responder, data, tcp=True)
        except Exception as e:  # noqa: BLE001 - a finding, whatever it is
            crashes += 1
            print(f"CRASH #{n}: {type(e).__name__}: {e} -> {save(data, 'crash')}", flush=True)
            continue
        took = time.perf_counter() - t0
        slowest = max(slowest, took)
        if took > HANG:
            hangs += 1
            print(f"HANG #{n}: {took * 1000:.1f} ms -> {save(data, 'hang')}", flush=True)
        key = outcome(responder, data)
        if key not in seen:
            seen.add(key)
            save(data, "outcome")
        if n and n % 100_000 == 0:
            print(f"{n:,} inputs, {time.monotonic() - started:.0f} s, {len(seen)} outcomes, {crashes} crashes, "
                  f"{hangs} hangs", flush=True)
    elapsed = time.monotonic() - started
    print(f"done: {a.count:,} inputs (each as UDP and TCP) in {elapsed:.0f} s, {len(seen)} distinct outcomes, "
          f"{crashes} crashes, {hangs} hangs (> {HANG * 1000:.0f} ms), slowest {slowest * 1000:.2f} ms; "
          f"query-path errors counted: {responder.stats.errors}")
    return 1 if crashes or hangs or responder.stats.errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
