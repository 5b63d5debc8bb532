"""``gtm init DIR --zone NAME``: a working configuration for one's own zone, to edit from there.

It writes DIR/NAME.yaml (the zone, one region with its load balancers, an HTTP monitor, one vantage, one
failover service, the health and admin sections, with comments that point to the docs), the vantage's report
key and an admin token (each mode 0600, made with ``secrets``). ``gtm check DIR`` passes on what it writes;
``gtm serve --admin-listen 127.0.0.1:8053 --probe-as VANTAGE DIR`` serves it with a prober in the same
process. It never writes into a directory that has files in it.
"""
from __future__ import annotations

import argparse
import ipaddress
import os
import secrets
from typing import Any

from gtm.errors import GtmError, UsageError

TEMPLATE = """\
# {zone}: made by `gtm init`. Check it with `gtm check {dir}`; every key is in docs/configuration.md.
zone: {zone}
ttl: 3600

soa:
  mname: ns1.{zone}.
  rname: hostmaster.{zone}.
  serial: 1                    # raise it with every change (secondary servers, if any, compare it)

ns: [ns1]                      # the names the parent zone delegates to: your gtm nodes (docs/deploy.md)

records:
  ns1: {{A: {ns_address}}}          # the address of your first gtm node
  # mail: {{A: 192.0.2.25}}         # ordinary records: any type, see docs/configuration.md

regions:
  {region}:
    location: {{lat: {lat}, lon: {lon}}}   # where its load balancers are (proximity and latency policies)
    endpoints:                          # its load balancers' addresses
{endpoints}

monitors:
  web:                         # how every vantage checks every endpoint (docs/health.md)
    type: http
    port: {monitor_port}
    path: /healthz              # each load balancer answers it with 200 while it can take traffic
    interval: 5
    rise: 2
    fall: 3

vantages:
  {vantage}:                   # a prober's location: run `gtm probe --vantage {vantage} {dir}` there
    location: {{lat: {lat}, lon: {lon}}}

services:
  www:                         # www.{zone} answers with the first healthy region (docs/steering.md)
    regions: [{region}]
    monitor: web
    policy: failover
    ttl: 30

health:
  keys: {{file: report.keys}}   # one line per vantage, VANTAGE:SECRET (each prober gets its own line only)

admin:
  listen: 127.0.0.1:8053       # probers report here; a token is required off loopback (docs/security.md)
  token: {{file: admin-token.txt}}
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("init", help="write a working configuration for your own zone into DIR, to edit from there")
    p.add_argument("dir", metavar="DIR", help="the directory to write (new, or empty)")
    p.add_argument("--zone", required=True, metavar="NAME", help="your zone, e.g. example.org")
    p.add_argument("--region", default="primary", metavar="NAME", help="the first region's name (default primary)")
    p.add_argument("--endpoint", action="append", metavar="ADDRESS",
                   help="a load balancer's address in that region; repeatable (default: 192.0.2.10, a documentation "
                        "address to replace)")
    p.add_argument("--vantage", default="prober1", metavar="NAME", help="the first vantage's name (default prober1)")
    p.add_argument("--location", default="0,0", metavar="LAT,LON",
                   help="where the region and the vantage are, in degrees (default 0,0)")
    p.add_argument("--monitor-port", type=int, default=80, metavar="PORT",
                   help="the port the HTTP monitor checks /healthz on (default 80)")
    p.add_argument("--ns-address", default="192.0.2.53", metavar="ADDRESS",
                   help="your first gtm node's address, for the ns1 record (default 192.0.2.53, to replace)")
    p.set_defaults(func=run)


def _name(text: str, what: str) -> str:
    if not text or not all(c.isalnum() or c in "-_" for c in text):
        raise UsageError(f"--{what}: letters, digits, - and _ only (got {text!r})")
    return text


def run(args: argparse.Namespace) -> int:
    zone = args.zone.strip().rstrip(".").lower()
    labels = zone.split(".")
    if len(labels) < 2 or not all(label and all(c.isalnum() or c == "-" for c in label) for label in labels):
        raise UsageError(f"--zone: a domain name such as example.org (got {args.zone!r})")
    region, vantage = _name(args.region, "region"), _name(args.vantage, "vantage")
    try:
        addresses = [str(ipaddress.ip_address(a)) for a in (args.endpoint or ["192.0.2.10"])]
        ns_address = str(ipaddress.IPv4Address(args.ns_address))
        lat, lon = (float(x) for x in args.location.split(","))
    except ValueError as e:
        raise UsageError(f"init: {e}") from None
    if not 1 <= args.monitor_port <= 65535:
        raise UsageError(f"--monitor-port: 1 to 65535 (got {args.monitor_port})")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise UsageError(f"--location: latitude -90 to 90, longitude -180 to 180 (got {args.location})")
    if os.path.exists(args.dir) and (not os.path.isdir(args.dir) or os.listdir(args.dir)):
        raise GtmError(f"{args.dir} exists and is not an empty directory: gtm init writes only into a new one")
    os.makedirs(args.dir, exist_ok=True)
    endpoints = "\n".join(f'      - {{address: "{a}"}}' for a in addresses)
    config = os.path.join(args.dir, f"{zone}.yaml")
    with open(config, "x", encoding="utf-8") as fh:
        fh.write(TEMPLATE.format(zone=zone, dir=args.dir, region=region, vantage=vantage, endpoints=endpoints,
                                 lat=lat, lon=lon, ns_address=ns_address,
                                 monitor_port=args.monitor_port))
    for name, text in (("report.keys", f"{vantage}:{secrets.token_hex(32)}\n"),
                       ("admin-token.txt", secrets.token_urlsafe(32) + "\n")):
        fd = os.open(os.path.join(args.dir, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
    print(f"wrote {config}, {os.path.join(args.dir, 'report.keys')} and {os.path.join(args.dir, 'admin-token.txt')}")
    print("next:")
    print(f"  gtm check {args.dir}")
    print(f"  gtm serve --listen 127.0.0.1:5353 --probe-as {vantage} {args.dir}   # DNS, admin API and a prober")
    print(f"  dig @127.0.0.1 -p 5353 www.{zone} +short")
    print("then docs/deploy.md for a fleet.")
    return 0
