"""The Route53 side as plain values: record sets and health checks as gtm wants them (pure, stdlib only).

Names are absolute and lower-case with the trailing dot. Health checks are referred to by a stable ``key``
(``ep:<monitor>:<region>:<address>``, ``switch:<region>``, ``region:<monitor>:<region>``) that the apply step maps to
Route53's ids, as it maps a CIDR collection's name to its id; record sets are identified by (name, type, set_id)
as in Route53.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CHECKER_REGIONS = ("us-east-1", "us-west-1", "us-west-2", "eu-west-1", "ap-southeast-1", "ap-southeast-2",
                   "ap-northeast-1", "sa-east-1")


@dataclass(frozen=True)
class HealthCheckSpec:
    key: str
    type: str                              # HTTP | HTTPS | HTTP_STR_MATCH | HTTPS_STR_MATCH | TCP | CALCULATED
    ip: str | None = None
    port: int | None = None
    fqdn: str | None = None                # Host header and SNI
    path: str | None = None
    search: str | None = None              # *_STR_MATCH: text that must appear in the first 5,120 bytes
    request_interval: int = 30             # 10 or 30; cannot change after creation
    failure_threshold: int = 3             # 1..10
    regions: tuple[str, ...] = ()          # checker regions (>= 3 when given; empty = Route53's default)
    children: tuple[str, ...] = ()         # CALCULATED: keys of the child checks
    health_threshold: int = 0              # CALCULATED: children that must be healthy
    inverted: bool = False
    disabled: bool = False
    enable_sni: bool = False
    region: str = ""                       # gtm region it belongs to (a tag)

    @property
    def calculated(self) -> bool:
        return self.type == "CALCULATED"


@dataclass(frozen=True)
class RecordSpec:
    name: str
    type: str                              # A | AAAA | CNAME | TXT
    set_id: str | None = None
    ttl: int | None = None                 # None for aliases (they take the target's TTL)
    values: tuple[str, ...] = ()
    alias: str | None = None               # target name: in the same zone, or in ``alias_zone``
    evaluate_target_health: bool = False
    alias_zone: str | None = None          # the hosted zone id of an alias target elsewhere (a load balancer's)
    health_check: str | None = None        # key of a HealthCheckSpec
    failover: str | None = None            # PRIMARY | SECONDARY
    weight: int | None = None              # 0..255
    geo: tuple[str, ...] | None = None     # ("continent", "EU") | ("country", "DE") | ("subdivision", "US", "CA")
                                           # | ("default",)
    region: str | None = None              # latency: an AWS region code
    multivalue: bool = False
    cidr: tuple[str, str] | None = None    # IP-based: (CIDR collection name, location; "*" the default)
    # The rrset exactly as Route53 returned it (read records only): a DELETE sends it back unchanged, so that
    # fields gtm does not model (another zone's alias target, CIDR routing, ...) still match.
    raw: Any = field(default=None, compare=False, hash=False, repr=False)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.name, self.type, self.set_id or "")


@dataclass(frozen=True)
class Desired:
    """Everything gtm wants in one hosted zone, and what the config asks that Route53 cannot express."""

    zone: str
    records: tuple[RecordSpec, ...]
    health_checks: tuple[HealthCheckSpec, ...]
    warnings: tuple[str, ...] = ()
    # The CIDR collection the IP-based records use (named for owner and zone; "" when none does) and its
    # locations: (location, CIDR blocks), one block per location (see gtm.route53.desired).
    cidr_collection: str = ""
    cidr: tuple[tuple[str, tuple[str, ...]], ...] = ()
    forms: tuple[str, ...] = ()  # how each region with hostname endpoints is answered (alias, CNAME)
