"""A config with one very large region, for the Route53 mirror's limits (100 rrsets per name and type, 255
children per CALCULATED check, 1,000 records per change batch)."""
from __future__ import annotations

from pathlib import Path


def big_address(i: int) -> str:
    """The i-th address of the big region: public (Route53 checks only those), never contacted by any test."""
    return f"11.{i // 250}.{i % 250}.{1 + i // 62500}"


def write_big_config(directory: Path, n: int, *, drop: int | None = None, region_min_up: int = 1) -> Path:
    """Zone big.test: service www over region big (``n`` endpoints, minus endpoint ``drop``) then small (one),
    failover, HTTP monitor."""
    endpoints = ", ".join(big_address(i) for i in range(n) if i != drop)
    (directory / "big.test.yaml").write_text(
        "zone: big.test\nsoa: {}\nns: [ns1]\nrecords: {ns1: {A: 192.0.2.53}}\n"
        f"health: {{region_min_up: {region_min_up}}}\n"
        "monitors: {web: {type: http, port: 80, path: /health, interval: 10, fall: 3, rise: 3}}\n"
        f"regions:\n  big: {{location: {{lat: 50, lon: 8}}, aws_region: eu-central-1, endpoints: [{endpoints}]}}\n"
        "  small: {location: {lat: 39, lon: -77}, aws_region: us-east-1, endpoints: [12.0.0.1]}\n"
        "services: {www: {regions: [big, small], monitor: web, policy: failover}}\n"
        "vantages: {v: {location: {lat: 0, lon: 0}}}\n")
    return directory


# The bundled example's documentation addresses (which Route53 refuses to check) as public ones, for the mirror's
# tests: never contacted by any test (moto stands for AWS), and one-to-one, so that every check key reads alike.
PUBLIC = {"192.0.2.": "13.0.2.", "198.51.100.": "13.51.100.", "203.0.113.": "13.0.113.", "2001:db8:": "2600:1f00:"}


def public(text: str) -> str:
    for documentation, routable in PUBLIC.items():
        text = text.replace(documentation, routable)
    return text


def public_example(directory: Path) -> Path:
    """``directory`` with the bundled example in it, its addresses public (see :data:`PUBLIC`)."""
    root = Path(__file__).resolve().parents[2]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "example.com.yaml").write_text(public((root / "zones" / "example.com.yaml").read_text()))
    return directory
