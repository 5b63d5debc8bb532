"""The rules that move a hostname's state on (gtm.model.names), on plain values and a clock of our own: TTLs
bounded by min_ttl/max_ttl, the last good addresses kept through failures for stale_for, NXDOMAIN (an answer)
failing the name at once, and which states may be answered under which failure policy."""
from __future__ import annotations

from gtm.model.names import (
    FAILED, OK, STALE, UNRESOLVED, Lookup, NameRecord, ResolverSettings, after_answer, after_failure, expire,
)

S = ResolverSettings(min_ttl=5, max_ttl=60, stale_for=30, retry=2)


def test_an_answer_is_kept_for_its_ttl_within_min_and_max() -> None:
    rec = NameRecord("lb.example.net")
    assert after_answer(rec, ("192.0.2.2", "192.0.2.1"), (), 20, 100.0, S).due == 120.0
    assert after_answer(rec, ("192.0.2.1",), (), 1, 100.0, S).due == 105.0     # min_ttl: never hammered
    assert after_answer(rec, ("192.0.2.1",), (), 86400, 100.0, S).due == 160.0  # max_ttl: changes seen soon
    got = after_answer(rec, ("192.0.2.2", "192.0.2.1"), ("2001:db8::1",), 20, 100.0, S)
    assert got.lookup == Lookup(("192.0.2.1", "192.0.2.2"), ("2001:db8::1",), OK)  # sorted: order is no change
    assert (got.resolved_at, got.failures, got.error) == (100.0, 0, "")


def test_failures_keep_the_last_addresses_for_stale_for_past_their_ttl_then_fail() -> None:
    rec = after_answer(NameRecord("lb.example.net"), ("192.0.2.1",), (), 10, 100.0, S)  # good until 110
    rec = after_failure(rec, "timeout", 115.0, S)
    assert rec.lookup == Lookup(("192.0.2.1",), (), STALE) and rec.due == 117.0  # retried soon
    assert (rec.failing_since, rec.failures, rec.error) == (115.0, 1, "timeout")
    rec = after_failure(rec, "servfail", 139.0, S)
    assert rec.lookup.state == STALE and rec.failing_since == 115.0 and rec.failures == 2
    assert expire(rec, 140.0, S) is rec  # exactly stale_for (30) after the answer expired (110): still stale
    failed = expire(rec, 140.5, S)
    assert failed.lookup == Lookup(("192.0.2.1",), (), FAILED)  # the addresses stay known (for keep, fail_open)
    assert after_failure(rec, "timeout", 141.0, S).lookup.state == FAILED
    back = after_answer(failed, ("192.0.2.9",), (), 10, 150.0, S)
    assert back.lookup == Lookup(("192.0.2.9",), (), OK) and back.failing_since is None and back.failures == 0


def test_a_ttl_as_long_as_stale_for_still_gets_the_whole_grace() -> None:
    """The grace runs from when the answer expired, not from when it came: with the defaults (max_ttl and
    stale_for both 300) one failed refresh of a 300 s answer leaves the name stale, not failed."""
    d = ResolverSettings()
    rec = after_answer(NameRecord("lb.example.net"), ("192.0.2.1",), (), 300, 0.0, d)
    assert after_failure(rec, "timeout", 300.01, d).lookup.state == STALE
    assert after_failure(rec, "timeout", 600.0, d).lookup.state == STALE
    assert after_failure(rec, "timeout", 600.5, d).lookup.state == FAILED


def test_a_name_gone_stays_failed_through_later_timeouts() -> None:
    """NXDOMAIN, then the upstream stops answering: the name does not come back as stale (its old addresses
    may be someone else's by now); only an answer brings it back."""
    rec = after_answer(NameRecord("lb.example.net"), ("192.0.2.1",), (), 60, 0.0, S)
    rec = after_failure(rec, "nxdomain", 61.0, S, gone=True)
    rec = after_failure(rec, "timeout", 68.0, S)
    assert rec.lookup.state == FAILED and not rec.lookup.usable(False)
    assert after_answer(rec, ("192.0.2.2",), (), 60, 70.0, S).lookup.state == OK


def test_nxdomain_is_an_answer_the_name_fails_at_once_and_is_asked_after_the_negative_ttl() -> None:
    rec = after_answer(NameRecord("lb.example.net"), ("192.0.2.1",), (), 10, 100.0, S)
    gone = after_failure(rec, "nxdomain", 101.0, S, gone=True, negative_ttl=30)
    assert gone.lookup.state == FAILED and gone.due == 131.0 and gone.error == "nxdomain"
    assert after_failure(rec, "nxdomain", 101.0, S, gone=True, negative_ttl=3600).due == 161.0  # max_ttl
    assert after_failure(rec, "nxdomain", 101.0, S, gone=True).due == 106.0  # no SOA: min_ttl
    # A timeout at the same moment leaves the name answerable: the two are told apart.
    assert after_failure(rec, "timeout", 101.0, S).lookup.state == STALE


def test_a_name_never_resolved_stays_unresolved_through_timeouts() -> None:
    rec = after_failure(NameRecord("lb.example.net"), "timeout", 100.0, S)
    assert rec.lookup == Lookup((), (), UNRESOLVED) and rec.age(200.0) is None


def test_which_states_are_answered_under_which_policy() -> None:
    for state, down, keep in ((OK, True, True), (STALE, True, True), (FAILED, False, True),
                              (UNRESOLVED, False, False)):
        lookup = Lookup(("192.0.2.1",), (), state)
        assert (lookup.usable(False), lookup.usable(True)) == (down, keep), state


def test_a_name_of_our_own_zones_is_answered_as_the_server_would(tmp_path: object) -> None:
    """own_answer: the most specific of our zones, static CNAMEs, wildcards (and the empty non-terminals that
    stop them); a name below a delegation, or a CNAME out of our zones, goes to the resolvers; a name that is
    not there is NXDOMAIN."""
    from pathlib import Path

    from gtm.config import load
    from gtm.model.names import Answer, own_answer

    d = Path(str(tmp_path))
    (d / "a.yaml").write_text("zone: example.com\nsoa: {}\nns: [ns1]\nrecords:\n  ns1: {A: 192.0.2.53}\n"
                              "  lb: {A: 192.0.2.1}\n  alias: {CNAME: lb}\n  out: {CNAME: lb.example.net.}\n"
                              "  '*.wild': {A: 192.0.2.9}\n  del: {NS: ns.elsewhere.net.}\n"
                              "  a.ent.wild: {A: 192.0.2.10}\n")
    (d / "b.yaml").write_text("zone: sub.example.com\nsoa: {}\nns: [ns1]\nrecords:\n  ns1: {A: 192.0.2.53}\n"
                              "  lb: {AAAA: '2001:db8::1'}\n")
    cfg = load([str(d)])
    assert own_answer(cfg, "alias.example.com") == Answer(("192.0.2.1",), (), 3600.0)
    assert own_answer(cfg, "lb.sub.example.com") == Answer((), ("2001:db8::1",), 3600.0)  # the child zone's data
    assert own_answer(cfg, "a.wild.example.com") == Answer(("192.0.2.9",), (), 3600.0)
    # ent.wild.example.com is an empty non-terminal: it exists (no address), and it is the closest encloser of
    # the names below it, which *.wild does not reach (RFC 4592 section 2.2.2), as the server answers
    ent = own_answer(cfg, "ent.wild.example.com")
    assert isinstance(ent, Answer) and (ent.error, ent.gone) == ("no address", True)
    below = own_answer(cfg, "x.ent.wild.example.com")
    assert isinstance(below, Answer) and below.error == "nxdomain"
    assert own_answer(cfg, "x.del.example.com") is None  # below a delegation: the resolvers answer it
    assert own_answer(cfg, "out.example.com") == "lb.example.net"  # a CNAME out of our zones: ask for its target
    assert own_answer(cfg, "lb.example.org") is None
    got = own_answer(cfg, "nope.example.com")
    assert isinstance(got, Answer) and (got.error, got.gone) == ("nxdomain", True)
