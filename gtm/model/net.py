"""Addresses as users write them (stdlib only): ``ADDRESS:PORT`` and a client ``IP[/LEN]``, parsed one way
everywhere (command line, config, admin API)."""
from __future__ import annotations

import ipaddress
from typing import Union
from urllib.parse import urlsplit

IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


def parse_host_port(text: str, lowest_port: int = 0, bare_ipv6: bool = False) -> tuple[str, int]:
    """``127.0.0.1:5353`` / ``[::1]:5353`` -> (host, port); ValueError with a reason. ``lowest_port``: 1 where
    port 0 (any free port) makes no sense. ``bare_ipv6``: also ``::1:8053`` (the port after the last colon), as
    configuration files have long been read; the command line wants the brackets."""
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        if not sep:
            raise ValueError(f"expected [ADDRESS]:PORT (got {text!r})")
    else:
        host, sep, port = text.rpartition(":")
        if not sep or (":" in host and not bare_ipv6):
            raise ValueError(f"expected ADDRESS:PORT, IPv6 as [ADDRESS]:PORT (got {text!r})")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"not an IP address: {host!r}") from None
    if not port.isdigit() or not lowest_port <= int(port) <= 65535:
        raise ValueError(f"bad port {port!r}")
    return host, int(port)


def parse_client(text: str) -> IPNetwork:
    """A client as ``IP`` (a host: /32 or /128) or ``IP/LEN`` (a network; host bits are dropped, as a resolver's
    ECS prefix would); ValueError with a reason."""
    text = text.strip()
    if "/" in text:
        return ipaddress.ip_network(text, strict=False)
    address = ipaddress.ip_address(text)
    return ipaddress.ip_network(address)


def admin_name(text: str, default_port: int) -> str | None:
    """``HOST[:PORT]`` (an IPv6 address in brackets) as ``host:port``, lower case; None when it is not one."""
    if not text or any(c.isspace() or c in "/@?#\\" for c in text):
        return None
    try:
        parts = urlsplit("//" + text)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{port or default_port}"
