"""A signed zone's keys, and what they publish at its apex: DNSKEY, CDS and CDNSKEY (RFC 4034, RFC 7344), from
the key files of ``dnssec.key_dir`` (read here, at each load: a reload that cannot read them fails, and the running
server keeps the keys it has)."""
from __future__ import annotations

import logging
import time
from dataclasses import replace
from types import MappingProxyType

import dns.dnssec
import dns.name

from gtm.dnssec import keys as keyfiles
from gtm.errors import GtmError
from gtm.model import Config, Rdata, RRset, Zone

log = logging.getLogger(__name__)
DNSKEY, CDS, CDNSKEY = 48, 59, 60  # RFC 4034, RFC 7344 (held as RFC 3597 bytes: the model's way for these)


def zone_keys(config: Config) -> dict[str, list[keyfiles.Key]]:
    """The keys of every signed zone (retired ones left out); GtmError naming the file or the zone when a key
    cannot be read or a signed zone has no active key."""
    out: dict[str, list[keyfiles.Key]] = {}
    for zone in config.zones.values():
        if not zone.signed:
            continue
        if config.dnssec.key_dir is None:
            raise GtmError(f"zone {zone.origin} is signed, but dnssec.key_dir is not set")
        found = [k for k in keyfiles.load(config.dnssec.key_dir, zone.origin) if k.state != "retired"]
        if not any(k.state == "active" for k in found):
            raise GtmError(f"zone {zone.origin} is signed, but {config.dnssec.key_dir} has no active key for it "
                           f"(gtm dnssec keygen {zone.origin})")
        ahead = [k for k in found if k.created > time.time() + 3600]
        if ahead:
            log.warning("%s: made %.0f s in this node's future: this clock is behind; the signatures it makes may "
                        "not be valid yet for validators", ahead[0].path, ahead[0].created - time.time())
        out[zone.origin] = found
    return out


def published(config: Config) -> Config:
    """``config`` with each signed zone's keys read (``Zone.keys``: a key that cannot be read is an error here,
    at load); the answer tables publish them at the apex (:func:`apex_rrsets`). A config without signed zones is
    returned as it is."""
    if not any(z.signed for z in config.zones.values()):
        return config
    found = zone_keys(config)
    zones = dict(config.zones)
    for origin, ks in found.items():
        zones[origin] = replace(config.zones[origin], keys=tuple(ks))
    return replace(config, zones=MappingProxyType(zones))


def apex_rrsets(zone: Zone) -> dict[int, RRset]:
    """A signed zone's DNSKEY RRset (every key not retired), and the CDS and CDNSKEY of its key-signing keys not
    retired (a key-signing key being rolled in is named beside the active one: double-DS, gtm.dnssec.roll), with
    the SOA's TTL; nothing for a zone without keys."""
    if not zone.keys:
        return {}
    origin, ttl = zone.origin, zone.soa.ttl
    signing = [k for k in zone.keys if k.signs_keys and k.state != "retired"]
    out = {DNSKEY: RRset(origin, DNSKEY, ttl, tuple(Rdata(DNSKEY, (k.rdata.to_wire(),)) for k in zone.keys))}
    if signing:
        out[CDNSKEY] = RRset(origin, CDNSKEY, ttl, tuple(Rdata(CDNSKEY, (k.rdata.to_wire(),)) for k in signing))
        out[CDS] = RRset(origin, CDS, ttl, tuple(
            Rdata(CDS, (dns.dnssec.make_ds(dns.name.from_text(origin), k.rdata, "SHA256").to_wire(),))
            for k in signing))
    return out
