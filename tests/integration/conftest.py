"""Module-scoped server fixtures for the DNS protocol tests: one `gtm serve` per test module."""
from __future__ import annotations

from typing import Iterator

import pytest

from tests.conftest import GtmProcess
from tests.support.dns_server import serve


@pytest.fixture(scope="module")
def srv() -> Iterator[GtmProcess]:
    yield from serve()


@pytest.fixture(scope="module")
def port(srv: GtmProcess) -> int:
    return srv.port
