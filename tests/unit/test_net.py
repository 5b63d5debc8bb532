"""gtm.model.net: ADDRESS:PORT and a client IP[/LEN], parsed one way everywhere."""
from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from gtm.config import load
from gtm.model.net import parse_client, parse_host_port


def test_host_port() -> None:
    assert parse_host_port("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert parse_host_port("[::1]:0") == ("::1", 0)
    for bad, why in (("127.0.0.1", "expected ADDRESS:PORT"), ("::1:53", "IPv6 as \\[ADDRESS\\]:PORT"),
                     ("[::1]53", "expected \\[ADDRESS\\]:PORT"), ("example.com:53", "not an IP address"),
                     ("127.0.0.1:65536", "bad port"), ("127.0.0.1:x", "bad port")):
        with pytest.raises(ValueError, match=why):
            parse_host_port(bad)
    with pytest.raises(ValueError, match="bad port"):
        parse_host_port("127.0.0.1:0", lowest_port=1)
    assert parse_host_port("::1:8053", bare_ipv6=True) == ("::1", 8053)


def test_a_config_written_for_earlier_versions_may_leave_ipv6_unbracketed(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("admin: {listen: '::1:8053'}\n")
    assert load([str(tmp_path)]).admin.listen == ("::1", 8053)


def test_client() -> None:
    assert parse_client("192.0.2.1") == ipaddress.ip_network("192.0.2.1/32")
    assert parse_client(" 192.0.2.77/24 ") == ipaddress.ip_network("192.0.2.0/24")  # host bits dropped
    assert parse_client("2001:db8::1/48") == ipaddress.ip_network("2001:db8::/48")
    for bad in ("192.0.2.1/33", "nope", "192.0.2.0/x"):
        with pytest.raises(ValueError):
            parse_client(bad)
