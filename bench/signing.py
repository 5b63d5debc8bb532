"""What signing costs, in-process (the query path's cost is ``python -m bench --dnssec``'s):

1. the bundled example compiled unsigned and signed (every answer compiled ahead is signed at load);
2. a zone of ``--records`` A records (100,000 by default) compiled unsigned and signed at load; and with one
   record more, which makes it a packed zone, the first query of a name without and with DO=1 (compiled, and
   signed, on first query);
3. a health change: the example's us-east goes down, and the time from the new snapshot to the first signed
   (DO=1) answer of www.example.com for clients on three continents (each a client class compiled and signed
   on its first query), with the signature cache cold (new answers) and warm (answers signed before).

``python -m bench.signing`` prints the medians of ``--reps`` runs and appends one JSON line to
``bench/results.jsonl`` (``--json`` to choose another file). Run it with nothing else running.
"""
from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _signed_copy(text: str, where: Path, zone: str) -> Path:
    from gtm.dnssec import keys

    where.mkdir(parents=True, exist_ok=True)
    text = text.replace(f"zone: {zone}\n", f"zone: {zone}\nsigned: true\ndnssec: {{key_dir: keys}}\n", 1)
    (where / f"{zone}.yaml").write_text(text)
    keys.write(str(where / "keys"), keys.generate(zone))
    return where


def _compile_seconds(paths: list[str], reps: int) -> tuple[float, int, int]:
    """Median seconds to compile the config's table (a fresh process state each time: the signature cache
    emptied), the answers compiled ahead, and the signatures made in one compile."""
    from gtm.dns import signing
    from gtm.config import load
    from gtm.dnssec.zone import published
    from gtm.serving import Snapshot, open_locator

    config = published(load(paths))
    locate = open_locator(config).locate
    took, made, answers = [], 0, 0
    for _ in range(reps):
        signing._CACHE.clear()
        before = signing.STATS.signatures
        gc.collect()
        started = time.perf_counter()
        table = Snapshot.first(config).compile(locate)
        took.append(time.perf_counter() - started)
        made, answers = signing.STATS.signatures - before, len(table.entries)
        del table
    return statistics.median(took), answers, made


def big_zone(where: Path, records: int) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    lines = ["zone: big.test", "ttl: 300", "soa: {}", "ns: [ns1]", "records:", "  ns1: {A: 192.0.2.53}"]
    lines += [f"  r{i}: {{A: 10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}}}" for i in range(records)]
    (where / "big.test.yaml").write_text("\n".join(lines) + "\n")
    return where


def first_queries(paths: list[str], count: int) -> dict[str, float]:
    """A packed signed zone: microseconds per name's first query, without DO and (other names) with DO=1."""
    import dns.message

    from gtm.config import load
    from gtm.dnssec.zone import published
    from gtm.dns.server import Responder
    from gtm.serving import Snapshot, open_locator

    started = time.perf_counter()
    config = published(load(paths))
    responder = Responder(Snapshot.first(config).compile(open_locator(config).locate))
    loaded = time.perf_counter() - started
    out = {"load_s": loaded}
    for label, offset, do in (("do0", 0, False), ("do1", count, True)):
        queries = [dns.message.make_query(f"r{offset + i}.big.test.", "A", want_dnssec=do).to_wire()
                   for i in range(count)]
        gc.collect()
        started = time.perf_counter()
        for q in queries:
            assert responder.answer(q, "127.0.0.1") is not None
        out[label] = (time.perf_counter() - started) / count * 1e6
    return out


def health_change(paths: list[str], reps: int) -> tuple[float, float]:
    """Median milliseconds from a health change (us-east down) to the first signed answer of www for three
    continents' clients: with the signature cache cold, then warm."""
    import dns.edns
    import dns.message

    from gtm.dns import signing
    from gtm.dns.server import Responder
    from gtm.model import HealthSnapshot
    from gtm.config import load
    from gtm.dnssec.zone import published
    from gtm.serving import Snapshot, open_locator

    config = published(load(paths))
    locate = open_locator(config).locate
    first = Snapshot.first(config)
    table = first.compile(locate)
    down = first.with_health(HealthSnapshot(down_regions=frozenset({"us-east"}), generation=1))
    queries = [dns.message.make_query("www.example.com.", "A", want_dnssec=True,
                                      options=[dns.edns.ECSOption(net, 24)]).to_wire()
               for net in ("81.2.69.0", "8.8.8.0", "1.1.1.0")]
    cold, warm = [], []
    for rep in range(reps * 2):
        if rep % 2 == 0:
            signing._CACHE.clear()
        started = time.perf_counter()
        responder = Responder(down.compile(locate, table))
        replies = [responder.answer(q, "127.0.0.1") for q in queries]
        (cold if rep % 2 == 0 else warm).append((time.perf_counter() - started) * 1000)
        assert all(r is not None and len(r) > 100 for r in replies)
    return statistics.median(cold), statistics.median(warm)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.signing", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json", default=str(HERE / "results.jsonl"))
    a = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="gtm-signing-"))
    example_text = (ROOT / "zones" / "example.com.yaml").read_text()
    (work / "plain").mkdir()
    (work / "plain" / "example.com.yaml").write_text(example_text)
    signed = _signed_copy(example_text, work / "signed", "example.com")
    out: dict[str, object] = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S"), "harness": "bench/signing.py"}
    for label, paths in (("example", [str(work / "plain")]), ("example_signed", [str(signed)])):
        s, answers, made = _compile_seconds(paths, a.reps)
        out[label] = {"seconds": s, "answers": answers, "signatures": made}
        print(f"{label:16} {s * 1000:9.1f} ms  {answers} answers compiled ahead, {made} signatures")
    # A zone just under the packing threshold: every answer compiled, and
    # signed, at load.
    big = big_zone(work / "big", a.records - 100)
    big_signed = _signed_copy((big / "big.test.yaml").read_text(), work / "big-signed", "big.test")
    for label, paths in (("big", [str(big)]), ("big_signed", [str(big_signed)])):
        s, answers, made = _compile_seconds(paths, 1)
        out[label] = {"seconds": s, "answers": answers, "signatures": made, "records": a.records}
        print(f"{label:16} {s:9.2f} s   {answers} answers compiled ahead, {made} signatures"
              + (f" ({s / made * 1e6:.1f} us per signature, compiling included)" if made else ""))
    # One record more: packed, compiled (and signed) on first query per name and type.
    packed = _signed_copy(big_zone(work / "packed", a.records).joinpath("big.test.yaml").read_text(),
                          work / "packed-signed", "big.test")
    first = first_queries([str(packed)], min(a.records, 10_000))
    out["packed_first_query_us"] = first
    print(f"packed, {a.records + 1} records: a name's first query {first['do0']:.1f} us (DO=0), "
          f"{first['do1']:.1f} us (DO=1: compiled and signed), load {first['load_s']:.2f} s")
    cold, warm = health_change([str(signed)], a.reps)
    out["health_change_ms"] = {"cold": cold, "warm": warm}
    print(f"health change to signed answers for 3 client classes: {cold:.1f} ms (signature cache cold), "
          f"{warm:.1f} ms (warm)")
    if a.json:
        with open(a.json, "a") as f:
            f.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
