"""Client-side pacing of Route53 calls (gtm.route53.aws.Pacer) on a fake clock: the buckets' bursts and rates
are Route53's (account: 50, then 10/s; CreateHealthCheck: 50, then 0.5/s; DeleteHealthCheck: 15, then 3/s)."""
from __future__ import annotations

import pytest

from gtm.route53.aws import Pacer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_creating_health_checks_after_the_burst_waits_two_seconds_each() -> None:
    clock = Clock()
    pacer = Pacer(clock, clock.sleep)
    for _ in range(50):
        pacer.wait("create_health_check")
    assert clock.sleeps == []  # the burst
    for _ in range(10):
        pacer.wait("create_health_check")
    assert clock.sleeps == pytest.approx([2.0] * 10)
    assert pacer.waited == pytest.approx(20.0)


def test_tokens_refill_while_nothing_is_called() -> None:
    clock = Clock()
    pacer = Pacer(clock, clock.sleep)
    for _ in range(50):
        pacer.wait("create_health_check")
    clock.now += 10  # five tokens back
    for _ in range(5):
        assert pacer.wait("create_health_check") == 0
    assert pacer.wait("create_health_check") == pytest.approx(2.0)


def test_other_calls_share_the_account_rate_only() -> None:
    clock = Clock()
    pacer = Pacer(clock, clock.sleep)
    for _ in range(150):
        pacer.wait("list_resource_record_sets")
    assert pacer.waited == pytest.approx(100 / 10)  # 50 at once, then 10/s
    assert max(clock.sleeps) == pytest.approx(0.1)


def test_deleting_checks_after_its_burst_waits_a_third_of_a_second_each() -> None:
    clock = Clock()
    pacer = Pacer(clock, clock.sleep)
    for _ in range(15):
        pacer.wait("delete_health_check")
    assert pacer.waited == 0
    pacer.wait("delete_health_check")
    assert clock.sleeps == pytest.approx([1 / 3])
