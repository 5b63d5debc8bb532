"""Replays tests/fixtures/fuzz/: inputs kept by the fuzzing campaign (``python -m bench.fuzz``): any that ever
crashed or hung the query path, and the first input of each distinct outcome it saw (path, RCODE, TC, size)."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from gtm.config import load
from gtm.dns.server import Responder
from gtm.dns.table import Table
from tests.unit.dns.test_fuzz import survives

ROOT = Path(__file__).resolve().parents[3]
CORPUS = sorted((ROOT / "tests" / "fixtures" / "fuzz").glob("*.bin"))


@pytest.fixture(scope="module")
def responder() -> Responder:
    return Responder(Table(load([str(ROOT / "zones")])))


def test_the_corpus_is_there() -> None:
    assert len(CORPUS) >= 10, "run python -m bench.fuzz to build it"


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_a_kept_input_still_survives(responder: Responder, path: Path) -> None:
    started = time.perf_counter()
    survives(responder, path.read_bytes(), tcp=True)
    assert time.perf_counter() - started < 0.5, "hangs again"
