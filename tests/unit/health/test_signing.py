"""Report signing: what the prober signs the node accepts once, and every way a request can be wrong is refused
with its own reason (a metric label) and HTTP status. Plain values, no network."""
from __future__ import annotations

from pathlib import Path

import pytest

from gtm.health import signing
from gtm.health.signing import HEADER_AUDIENCE, HEADER_KEY, HEADER_NONCE, HEADER_SIG, HEADER_TS, Rejected, Verifier

SECRET = b"0123456789abcdef-secret"
KEYS = {"frankfurt": SECRET, "virginia": b"another-secret-of-16+"}
BODY = b'{"vantage":"frankfurt","seq":1}'
NOW = 1_764_201_234.5
AUD = "node-a:8053"


def rejected(verifier: Verifier, headers: dict[str, str], body: bytes = BODY, now: float = NOW) -> Rejected:
    with pytest.raises(Rejected) as info:
        verifier.verify(headers, body, now)
    return info.value


def test_round_trip_returns_the_key_id() -> None:
    headers = signing.sign(BODY, "frankfurt", SECRET, NOW, AUD)
    assert set(headers) == {HEADER_KEY, HEADER_TS, HEADER_NONCE, HEADER_AUDIENCE, HEADER_SIG}
    assert headers[HEADER_KEY] == "frankfurt"
    assert len(headers[HEADER_NONCE]) == 32 and int(headers[HEADER_NONCE], 16) >= 0
    assert Verifier(KEYS).verify(headers, BODY, NOW) == "frankfurt"


def test_each_signature_has_its_own_nonce() -> None:
    a, b = signing.sign(BODY, "frankfurt", SECRET, NOW, AUD), signing.sign(BODY, "frankfurt", SECRET, NOW, AUD)
    assert a[HEADER_NONCE] != b[HEADER_NONCE] and a[HEADER_SIG] != b[HEADER_SIG]
    v = Verifier(KEYS)
    assert v.verify(a, BODY, NOW) == v.verify(b, BODY, NOW) == "frankfurt"


def test_unknown_key() -> None:
    headers = signing.sign(BODY, "tokyo", SECRET, NOW, AUD)
    e = rejected(Verifier(KEYS), headers)
    assert (e.reason, e.status) == ("unknown_key", 401)
    assert "tokyo" in str(e)


@pytest.mark.parametrize("tamper", [
    lambda h, b: (h, b + b" "),                                            # body changed after signing
    lambda h, b: ({**h, HEADER_TS: str(float(h[HEADER_TS]) + 1)}, b),      # timestamp changed
    lambda h, b: ({**h, HEADER_NONCE: "0" * 32}, b),                       # nonce changed
    lambda h, b: ({**h, HEADER_KEY: "virginia"}, b),                       # signed with another key's secret
])
def test_bad_signature(tamper) -> None:  # type: ignore[no-untyped-def]
    headers, body = tamper(signing.sign(BODY, "frankfurt", SECRET, NOW, AUD), BODY)
    e = rejected(Verifier(KEYS), headers, body)
    assert (e.reason, e.status) == ("bad_signature", 401)


@pytest.mark.parametrize("offset", [-31.0, +31.0, -3600.0, +3600.0])
def test_stale_timestamp_both_directions(offset: float) -> None:
    headers = signing.sign(BODY, "frankfurt", SECRET, NOW + offset, AUD)
    e = rejected(Verifier(KEYS, skew=30.0), headers)
    assert (e.reason, e.status) == ("stale", 401)
    assert f"{-offset:+.1f}" in str(e)  # says how far off, with the sign


@pytest.mark.parametrize("offset", [-29.9, 0.0, +29.9])
def test_timestamp_within_skew_is_accepted(offset: float) -> None:
    headers = signing.sign(BODY, "frankfurt", SECRET, NOW + offset, AUD)
    assert Verifier(KEYS, skew=30.0).verify(headers, BODY, NOW) == "frankfurt"


def test_non_numeric_timestamp() -> None:
    # Correctly signed (the MAC covers the timestamp text), but not a number: a client bug, 400.
    ts, nonce = "yesterday", "ab" * 16
    headers = {HEADER_KEY: "frankfurt", HEADER_TS: ts, HEADER_NONCE: nonce, HEADER_AUDIENCE: AUD,
               HEADER_SIG: signing._mac(SECRET, "frankfurt", ts, nonce, AUD, BODY)}
    e = rejected(Verifier(KEYS), headers)
    assert (e.reason, e.status) == ("bad_timestamp", 400)


def test_replayed_nonce() -> None:
    v = Verifier(KEYS, skew=30.0)
    headers = signing.sign(BODY, "frankfurt", SECRET, NOW, AUD)
    assert v.verify(headers, BODY, NOW) == "frankfurt"
    e = rejected(v, headers, now=NOW + 1)
    assert (e.reason, e.status) == ("replay", 409)


def test_replay_is_refused_for_the_whole_window_and_nonces_are_forgotten_after() -> None:
    v = Verifier(KEYS, skew=30.0)
    headers = signing.sign(BODY, "frankfurt", SECRET, NOW, AUD)
    v.verify(headers, BODY, NOW)
    # Still inside the skew window: a replay, not merely stale.
    assert rejected(v, headers, now=NOW + 29).reason == "replay"
    # Later the timestamp check refuses it; the next valid request prunes the nonce (bounded memory).
    assert rejected(v, headers, now=NOW + 61).reason == "stale"
    v.verify(signing.sign(BODY, "frankfurt", SECRET, NOW + 61, AUD), BODY, NOW + 61)
    assert headers[HEADER_NONCE] not in v.seen and len(v.seen) == 1


@pytest.mark.parametrize("missing", [HEADER_KEY, HEADER_TS, HEADER_NONCE, HEADER_SIG])
def test_missing_headers(missing: str) -> None:
    headers = signing.sign(BODY, "frankfurt", SECRET, NOW, AUD)
    del headers[missing]
    e = rejected(Verifier(KEYS), headers)
    assert (e.reason, e.status) == ("unsigned", 401)


def test_empty_header_counts_as_missing() -> None:
    headers = {**signing.sign(BODY, "frankfurt", SECRET, NOW, AUD), HEADER_SIG: ""}
    assert rejected(Verifier(KEYS), headers).reason == "unsigned"


def test_no_headers_at_all() -> None:
    e = rejected(Verifier(KEYS), {})
    assert (e.reason, e.status) == ("unsigned", 401)


# --- keys -------------------------------------------------------------------------------------------------------

def test_parse_keys_lines_commas_and_comments() -> None:
    text = "# probers\nfrankfurt: 0123456789abcdef-secret  # the EU one\n\nvirginia:another-secret-of-16+,tokyo:x" \
           "xxxxxxxxxxxxxxxx\n"
    keys = signing.parse_keys(text, "keys.txt")
    assert keys == {"frankfurt": SECRET, "virginia": b"another-secret-of-16+", "tokyo": b"x" * 17}


@pytest.mark.parametrize("text, what", [
    ("", "no keys"),
    ("# only a comment\n", "no keys"),
    ("frankfurt 0123456789abcdef", "entry 1"),       # no colon
    ("frankfurt:short", "entry 1"),                  # secret under 16 characters
    (":0123456789abcdef", "entry 1"),                # no key id
    ("a:0123456789abcdef\nb:tooshort", "entry 2"),   # names the bad entry
])
def test_parse_keys_errors(text: str, what: str) -> None:
    with pytest.raises(ValueError) as info:
        signing.parse_keys(text, "keys.txt")
    assert str(info.value).startswith("keys.txt: ") and what in str(info.value)


def test_load_keys_from_file(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text("frankfurt:0123456789abcdef-secret\n")
    assert signing.load_keys(str(path), None) == {"frankfurt": SECRET}


def test_load_keys_file_wins_over_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "keys"
    path.write_text("frankfurt:0123456789abcdef-secret\n")
    monkeypatch.setenv("GTM_TEST_KEYS", "virginia:another-secret-of-16+")
    assert signing.load_keys(str(path), "GTM_TEST_KEYS") == {"frankfurt": SECRET}


def test_load_keys_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GTM_TEST_KEYS", "frankfurt:0123456789abcdef-secret,virginia:another-secret-of-16+")
    assert signing.load_keys(None, "GTM_TEST_KEYS") == KEYS


def test_load_keys_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"cannot read key file .*nope"):
        signing.load_keys(str(tmp_path / "nope"), None)


def test_load_keys_bad_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text("frankfurt:short\n")
    with pytest.raises(ValueError, match=rf"^{path}: entry 1"):
        signing.load_keys(str(path), None)


def test_load_keys_missing_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GTM_TEST_KEYS", raising=False)
    with pytest.raises(ValueError, match="GTM_TEST_KEYS .* is not set"):
        signing.load_keys(None, "GTM_TEST_KEYS")


def test_load_keys_env_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GTM_TEST_KEYS", "")
    with pytest.raises(ValueError, match=r"^\$GTM_TEST_KEYS: no keys"):
        signing.load_keys(None, "GTM_TEST_KEYS")


def test_load_keys_nothing_configured() -> None:
    with pytest.raises(ValueError, match="no report keys configured"):
        signing.load_keys(None, None)


def test_an_audience_other_than_the_nodes_names_is_refused_after_the_signature() -> None:
    v = Verifier(KEYS, audiences=frozenset({AUD, "localhost:8053"}))
    assert v.verify(signing.sign(BODY, "frankfurt", SECRET, NOW, AUD), BODY, NOW) == "frankfurt"
    e = rejected(v, signing.sign(BODY, "frankfurt", SECRET, NOW, "node-b:8053"))
    assert (e.reason, e.status) == ("wrong_audience", 403)
    # the audience is signed: rewriting the header breaks the signature
    forged = {**signing.sign(BODY, "frankfurt", SECRET, NOW, "node-b:8053"), HEADER_AUDIENCE: AUD}
    assert rejected(v, forged).reason == "bad_signature"


def test_a_report_signed_before_the_node_started_is_refused() -> None:
    v = Verifier(KEYS, not_before=NOW)
    assert rejected(v, signing.sign(BODY, "frankfurt", SECRET, NOW - 1, AUD)).reason == "before_start"
    assert v.verify(signing.sign(BODY, "frankfurt", SECRET, NOW, AUD), BODY, NOW) == "frankfurt"


@pytest.mark.parametrize("url, audience", [("http://Node-A:8053/", "node-a:8053"), ("https://10.0.0.1", "10.0.0.1:443"),
                                           ("http://[::1]:8053", "[::1]:8053"), ("http://gtm", "gtm:80")])
def test_the_audience_of_a_url_is_its_host_and_port(url: str, audience: str) -> None:
    assert signing.audience_of(url) == audience
