"""Response rate limiting on plain values (gtm.dns.rrl): token buckets per client network and kind of response,
drops with every slip-th response truncated, exemptions, refill, and the truncated reply itself."""
from __future__ import annotations

import dns.flags
import dns.message
import dns.rrset

from gtm.dns.rrl import RateLimiter, kind_of, truncated
from gtm.model import RrlSettings

QUERY = dns.message.make_query("www.example.com", "A", id=0x1234)
QUERY.flags &= ~dns.flags.RD
Q = QUERY.to_wire()


def response(rcode: int = 0, answers: int = 1) -> bytes:
    r = dns.message.make_response(QUERY)
    r.set_rcode(rcode)
    if answers:
        r.answer.append(dns.rrset.from_text("www.example.com.", 30, "IN", "A", "192.0.2.1"))
    return r.to_wire()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def limiter(**kw: object) -> tuple[RateLimiter, Clock]:
    clock = Clock()
    return RateLimiter(RrlSettings(**{"exempt": (), "burst": 1.0, **kw}), clock=clock), clock  # type: ignore[arg-type]


def test_kinds() -> None:
    assert kind_of(response()) == "answer"
    assert kind_of(response(answers=0)) == "nodata"
    assert kind_of(response(rcode=3, answers=0)) == "nxdomain"
    assert kind_of(response(rcode=5, answers=0)) == "error"


def test_within_the_rate_everything_passes_beyond_it_drops_and_every_slip_th_is_truncated() -> None:
    rrl, clock = limiter(answers=10, slip=2)
    resp = response()
    out = [rrl.check("192.0.2.9", Q, resp) for _ in range(30)]
    assert out[:10] == [resp] * 10  # the burst: one second's worth
    rest = out[10:]
    assert rest.count(None) == 10 and all(x is None or x != resp for x in rest)
    tc = [x for x in rest if x is not None]
    assert len(tc) == 10 and rrl.stats.limited["answer"] == 10 and rrl.stats.slipped["answer"] == 10
    clock.now += 0.5  # half a second refills five
    assert [rrl.check("192.0.2.9", Q, resp) for _ in range(5)] == [resp] * 5
    assert rrl.check("192.0.2.9", Q, resp) != resp


def test_slip_zero_drops_everything_over_the_rate() -> None:
    rrl, _ = limiter(answers=5, slip=0)
    out = [rrl.check("192.0.2.9", Q, response()) for _ in range(20)]
    assert out.count(None) == 15


def test_networks_and_kinds_have_their_own_buckets() -> None:
    rrl, _ = limiter(answers=3, nxdomains=3, slip=0)
    for _ in range(3):
        assert rrl.check("192.0.2.9", Q, response())
    assert rrl.check("192.0.2.200", Q, response()) is None  # the same /24
    assert rrl.check("192.0.3.1", Q, response())            # another /24
    assert rrl.check("192.0.2.9", Q, response(rcode=3, answers=0))  # another kind
    v6 = [rrl.check("2001:db8:0:ab::1", Q, response()) for _ in range(3)]
    assert all(v6) and rrl.check("2001:db8:0:ff::2", Q, response()) is None  # same /56
    assert rrl.check("2001:db8:0:100::1", Q, response())                    # the next /56


def test_exempt_networks_and_kinds_without_a_rate_are_never_limited() -> None:
    clock = Clock()
    rrl = RateLimiter(RrlSettings(answers=1, errors=0, burst=1.0), clock=clock)  # default exemptions: loopback
    assert all(rrl.check("127.0.0.1", Q, response()) for _ in range(100))
    assert all(rrl.check("::1", Q, response()) for _ in range(100))
    assert all(rrl.check("192.0.2.1", Q, response(rcode=5, answers=0)) for _ in range(100))
    assert rrl.check("192.0.2.1", Q, response()) and rrl.check("192.0.2.1", Q, response()) is None


def test_the_truncated_reply_is_an_empty_tc_answer_to_the_question() -> None:
    tc = dns.message.from_wire(truncated(Q, response()))
    assert tc.id == 0x1234 and tc.flags & dns.flags.TC and tc.flags & dns.flags.QR
    assert [str(q.name) for q in tc.question] == ["www.example.com."] and not tc.answer and not tc.additional


def test_buckets_stay_bounded() -> None:
    import gtm.dns.rrl as rrl_module

    rrl, clock = limiter(answers=10)
    old = rrl_module.MAX_BUCKETS
    rrl_module.MAX_BUCKETS = 100
    try:
        for i in range(1000):
            rrl.check(f"10.{i // 250}.{i % 250}.1", Q, response())
            clock.now += 0.01
        assert len(rrl.buckets) <= 100
    finally:
        rrl_module.MAX_BUCKETS = old


def test_a_tiny_burst_still_allows_one_response_per_refill() -> None:
    """rate 5/s with burst 0.1 s would be half a token: the bucket still holds one, so a client asking once a
    second is answered every time (found by review: it was answered once, ever)."""
    rrl, clock = limiter(answers=5, burst=0.1, slip=0)
    answered = 0
    for _ in range(10):
        answered += rrl.check("192.0.2.9", Q, response()) is not None
        clock.now += 1.0
    assert answered == 10
