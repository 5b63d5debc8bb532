"""``gtm dnssec keygen|ds|roll|status``: the keys of signed zones (``signed: true`` in a zone file, the keys in
``dnssec.key_dir``; see docs/dnssec.md).

* ``keygen ZONE``: a combined signing key (ECDSA P-256 unless ``--algorithm ed25519`` or the config's
  ``dnssec.algorithm``), or with ``--split`` a key-signing and a zone-signing key; refuses when the zone has
  active keys already (a second key is a rollover's business).
* ``ds ZONE``: the DS records (SHA-256) of the zone's key-signing keys, for the parent zone.
* ``roll ZONE``: the next step of a key rollover, when its wait is over (gtm.dnssec.roll); exit 3 while waiting.
* ``status``: every signed zone's keys, their states and dates, and the roll under way.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from gtm.cli.loading import config_paths, load
from gtm.dnssec import keys
from gtm.dnssec import roll as rolls
from gtm.dnssec.sign import period_start, window
from gtm.fleet import nodes_of
from gtm.errors import Exit, GtmError
from gtm.model import Config


def _key_dir(config: Config) -> str:
    if config.dnssec.key_dir is None:
        raise GtmError("dnssec.key_dir is not set: add a dnssec: {key_dir: PATH} section to the config")
    return config.dnssec.key_dir


def _zone(config: Config, name: str) -> str:
    origin = name.lower().rstrip(".") + "."
    zone = config.zones.get(origin)
    if zone is None:
        raise GtmError(f"the config has no zone {origin}; zones: {', '.join(config.zones) or 'none'}")
    return origin


def keygen(args: argparse.Namespace) -> int:
    config = load(config_paths(args.config))
    origin, key_dir = _zone(config, args.zone), _key_dir(config)
    present = [k for k in (keys.load(key_dir, origin) if os.path.isdir(key_dir) else []) if k.state != "retired"]
    if present and not args.force:
        raise GtmError(f"zone {origin} has keys already ({', '.join(f'{k.role} {k.tag}' for k in present)}); "
                       "a new key while they sign is a rollover (--force makes one anyway)")
    algorithm = args.algorithm or config.dnssec.algorithm
    now = time.time()
    taken = {k.tag for k in (keys.load(key_dir, origin) if os.path.isdir(key_dir) else [])}
    made = []
    for role in (("ksk", "zsk") if args.split else ("csk",)):
        made.append(keys.generate(origin, algorithm, role, now, avoid=taken))
        taken.add(made[-1].tag)
    for key in made:
        path = keys.write(key_dir, key)
        print(f"{key.role} {key.tag} ({keys.ALGORITHM_NAMES[key.algorithm]}): {path}")
    if not config.zones[origin].signed:
        print(f"note: zone {origin} is not signed yet: add 'signed: true' to its file", file=sys.stderr)
    return Exit.OK


def ds(args: argparse.Namespace) -> int:
    config = load(config_paths(args.config))
    origin = _zone(config, args.zone)
    found = [k for k in keys.load(_key_dir(config), origin) if k.signs_keys and k.state != "retired"]
    if not found:
        raise GtmError(f"zone {origin} has no key-signing key in {_key_dir(config)} (gtm dnssec keygen {origin})")
    for key in found:
        print(key.ds())
    return Exit.OK


def roll(args: argparse.Namespace) -> int:
    config = load(config_paths(args.config))
    origin = _zone(config, args.zone)
    zone = config.zones[origin]
    if not zone.signed:
        raise GtmError(f"zone {origin} is not signed (signed: true in its file)")
    nodes = None
    if not args.no_check:
        nodes = [n.dns for n in nodes_of(config, args.nodes or ())]
    t = rolls.timings(zone, args.propagation, args.parent_ds_ttl)
    out = rolls.advance(_key_dir(config), zone, t, time.time(), args.kind, args.ds_seen, nodes)
    for line in out.lines:
        print(line)
    return Exit.OK if out.changed else Exit.REFUSED


def status(args: argparse.Namespace) -> int:
    config = load(config_paths(args.config))
    signed = [z for z in config.zones.values() if z.signed]
    if not signed:
        print("no signed zone (signed: true in a zone's file)")
        return Exit.OK
    key_dir = _key_dir(config)
    for zone in signed:
        found = keys.load(key_dir, zone.origin) if os.path.isdir(key_dir) else []
        print(f"{zone.origin} signed, {len(found)} key{'s' if len(found) != 1 else ''} in {key_dir}"
              + ("" if found else f": none; gtm dnssec keygen {zone.origin}"))
        for k in found:
            when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(k.created))
            print(f"  {k.role} {k.tag} {keys.ALGORITHM_NAMES[k.algorithm]} {k.state} (created {when} UTC)")
        line = rolls.status_line(key_dir, zone, rolls.timings(zone, 300, 86400), time.time())
        if line is not None:
            print(line + " (with the default --propagation and --parent-ds-ttl)")
        if found:
            period = config.dnssec.signature_period
            _, until = window(time.time(), period)
            print(f"  signatures made now are valid until {_utc(until)}; every one is made afresh from "
                  f"{_utc(period_start(time.time(), period) + period)}")
    return Exit.OK


def _utc(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(t))


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= value <= 30 * 86400:
        raise argparse.ArgumentTypeError(f"must be between 0 and 2592000 seconds (got {text})")
    return value


def add_parser(sub: Any) -> None:
    d = sub.add_parser("dnssec", help="DNSSEC keys of signed zones: keygen, ds, roll, status")
    dsub = d.add_subparsers(dest="dnssec_command", metavar="keygen|ds|roll|status")
    dsub.required = True
    k = dsub.add_parser("keygen", help="make the keys of ZONE in dnssec.key_dir")
    k.add_argument("zone", metavar="ZONE")
    k.add_argument("--algorithm", choices=sorted(keys.ALGORITHMS), help="default: dnssec.algorithm (ecdsap256sha256)")
    k.add_argument("--split", action="store_true", help="a key-signing and a zone-signing key instead of one")
    k.add_argument("--force", action="store_true", help="make keys even when the zone has some")
    k.set_defaults(func=keygen)
    p = dsub.add_parser("ds", help="the DS records of ZONE for its parent")
    p.add_argument("zone", metavar="ZONE")
    p.set_defaults(func=ds)
    r = dsub.add_parser("roll", help="the next step of a key rollover of ZONE (exit 3: not yet, it says until when)")
    r.add_argument("zone", metavar="ZONE")
    r.add_argument("--kind", choices=rolls.KINDS,
                   help="what to roll when none is under way (default: the combined key, else the zone-signing key)")
    r.add_argument("--ds-seen", action="store_true",
                   help="(ksk, csk) the parent publishes the new key's DS now")
    r.add_argument("--propagation", type=_seconds, default=300.0, metavar="SECONDS",
                   help="time every node takes to load a step (default 300)")
    r.add_argument("--parent-ds-ttl", type=_seconds, default=86400.0, metavar="SECONDS",
                   help="the TTL of the DS RRset at the parent (default 86400)")
    r.add_argument("--nodes", action="append", metavar="HOST:PORT",
                   help="the nodes to check before each step (default: drills.nodes of the config); repeatable")
    r.add_argument("--no-check", action="store_true", help="do not ask the nodes which keys they serve")
    r.set_defaults(func=roll)
    s = dsub.add_parser("status", help="the keys of every signed zone")
    s.set_defaults(func=status)
    for q in (k, p, r, s):
        q.add_argument("-c", "--config", action="append", metavar="PATH",
                       help="configuration files or directories (default: zones/); repeatable")


__all__ = ["add_parser"]
