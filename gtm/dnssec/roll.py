"""Key rollovers, one guarded step per ``gtm dnssec roll ZONE`` (RFC 6781 section 4.1, RFC 7583's timings).

The roll's state is a file in the key directory beside the keys, ``roll-<zone>.json``, so a roll survives
restarts of the nodes and of whoever runs it; the keys' own states say what the nodes publish and sign with:
``published`` (in the DNSKEY RRset, signing nothing), ``active`` (signing), ``retired`` (gone).

* **Zone-signing key or combined key: pre-publish.** (1) the new key is made ``published``; (2) after the
  DNSKEY TTL (plus the time every node takes to load it, ``propagation``) it becomes ``active`` and the old one
  ``published``: every answer is signed by the new key, and validators already hold it; (3) after the zone's
  longest TTL (the old signatures have left every cache) the old key is ``retired``.
* **Key-signing key: double-DS.** (1) the new key is made ``published``: the DNSKEY RRset, the CDS and the
  CDNSKEY now name both keys, and ``gtm dnssec ds`` prints both DS records for the parent; (2) once the operator
  says the parent publishes the new DS (``--ds-seen``) and the parent's DS TTL has passed, the new key signs the
  DNSKEY RRset; the old one stays published, and in the CDS/CDNSKEY; (3) after the DNSKEY TTL it is ``retired``
  and the old DS may leave the parent.
* **A combined key** needs both: its DS changes too, so step 2 also waits for ``--ds-seen`` and the DS TTL.

Before each step the nodes are asked (DNS, DNSKEY with DO=1) whether they serve the keys of the step before;
a node that does not answer or serves other keys stops the roll with its name (``check=False`` skips this).
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import dns.dnssec
import dns.flags
import dns.message
import dns.query
import dns.rdatatype

from gtm.dnssec import keys as keyfiles
from gtm.errors import GtmError
from gtm.files import write_atomic
from gtm.model import Zone

FORMAT = "gtm-dnssec-roll/1"
KINDS = ("zsk", "ksk", "csk")


@dataclass(frozen=True)
class Roll:
    """A rollover under way: of ``kind``, from the key tagged ``old`` to ``new``, at ``step`` since ``at``."""

    zone: str
    kind: str
    old: int
    new: int
    step: str                      # "published": the new key is in the DNSKEY RRset; "active": it signs
    at: float
    ds_seen: float | None = None   # (ksk, csk) when the operator said the parent publishes the new DS


@dataclass(frozen=True)
class Timings:
    """What the steps wait for, in seconds."""

    dnskey_ttl: int                # the DNSKEY RRset's TTL (the SOA's)
    max_ttl: int                   # the longest TTL of the zone's answers (signatures live as long)
    propagation: float             # for every node to load a change (a reload, or --watch)
    parent_ds_ttl: float           # the TTL of the DS RRset at the parent


@dataclass(frozen=True)
class Outcome:
    """What one ``roll`` did: ``changed`` (a step was taken) or not (waiting: ``ready_at`` says until when)."""

    changed: bool
    lines: tuple[str, ...]
    ready_at: float | None = None
    roll: Roll | None = None


def timings(zone: Zone, propagation: float, parent_ds_ttl: float) -> Timings:
    ttls = [rs.ttl for types in zone.rrsets.values() for rs in types.values()]
    ttls += [svc.ttl for svc in zone.services] + [zone.negative_ttl]
    return Timings(zone.soa.ttl, max(ttls), propagation, parent_ds_ttl)


def path_of(key_dir: str, zone: str) -> Path:
    return Path(key_dir) / f"roll-{zone.rstrip('.') or 'root'}.json"


def read(key_dir: str, zone: str) -> Roll | None:
    path = path_of(key_dir, zone)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        if data.pop("format", None) != FORMAT:
            raise ValueError("not a roll file")
        roll = Roll(**data)
    except (OSError, ValueError, TypeError) as e:
        raise GtmError(f"{path}: cannot read the roll's state ({e}); fix or remove it") from None
    if roll.kind not in KINDS or roll.step not in ("published", "active"):
        raise GtmError(f"{path}: kind {roll.kind!r} / step {roll.step!r} not known")
    return roll


def _write(key_dir: str, roll: Roll | None, zone: str) -> None:
    path = path_of(key_dir, zone)
    if roll is None:
        path.unlink(missing_ok=True)
        return
    write_atomic(str(path), (json.dumps({"format": FORMAT, **asdict(roll)}, indent=1) + "\n").encode(), mode=0o600)


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))


def advance(key_dir: str, zone: Zone, t: Timings, now: float, kind: str | None = None, ds_seen: bool = False,
            nodes: list[tuple[str, int]] | None = None) -> Outcome:
    """Take the roll's next step when its wait is over (see the module docstring); ``nodes``: check them first."""
    origin = zone.origin
    found = {k.tag: k for k in keyfiles.load(key_dir, origin)}
    roll = read(key_dir, origin)
    if roll is None:
        return _start(key_dir, origin, found, now, kind, t, nodes)
    if kind is not None and kind != roll.kind:
        raise GtmError(f"a {roll.kind} roll of {origin} is under way (since {_when(roll.at)}); finish it first")
    old, new = found.get(roll.old), found.get(roll.new)
    if old is None or new is None:
        raise GtmError(f"{path_of(key_dir, origin)}: key {roll.old if old is None else roll.new} is not in {key_dir}")
    if roll.step == "published":
        return _activate(key_dir, roll, old, new, found, now, t, ds_seen, nodes)
    return _finish(key_dir, roll, old, new, found, now, t, nodes)


def _start(key_dir: str, origin: str, found: dict[int, keyfiles.Key], now: float, kind: str | None, t: Timings,
           nodes: list[tuple[str, int]] | None) -> Outcome:
    active = [k for k in found.values() if k.state == "active"]
    if kind is None:
        kind = "csk" if any(k.role == "csk" for k in active) else "zsk"
    if kind not in KINDS:
        raise GtmError(f"unknown roll kind {kind!r}; kinds: {', '.join(KINDS)}")
    olds = [k for k in active if k.role == kind]
    if len(olds) != 1:
        raise GtmError(f"zone {origin} has {len(olds)} active {kind} keys; a roll starts from exactly one")
    if nodes:
        check_nodes(nodes, origin, _published(found))
    old = olds[0]
    new = keyfiles.generate(origin, keyfiles.ALGORITHM_NAMES[old.algorithm], kind, now, avoid=set(found))
    new = replace(new, state="published", activated=None)
    keyfiles.write(key_dir, new)
    roll = Roll(origin, kind, old.tag, new.tag, "published", now)
    _write(key_dir, roll, origin)
    ready = now + t.dnskey_ttl + t.propagation
    lines = [f"{kind} {new.tag} made and published beside {old.tag} (it signs nothing yet)",
             "reload every node now (or let --watch); the DNSKEY RRset then names both keys",
             f"next step (the new key signs) from {_when(ready)}: the DNSKEY TTL ({t.dnskey_ttl} s) and the "
             f"propagation ({t.propagation:g} s)"]
    if kind != "zsk":
        lines.append(f"meanwhile give the parent the new DS (gtm dnssec ds {origin} prints both; the CDS and "
                     f"CDNSKEY at the apex name both), then run: gtm dnssec roll {origin} --ds-seen")
    return Outcome(True, tuple(lines), ready, roll)


def _activate(key_dir: str, roll: Roll, old: keyfiles.Key, new: keyfiles.Key, found: dict[int, keyfiles.Key],
              now: float, t: Timings, ds_seen: bool, nodes: list[tuple[str, int]] | None) -> Outcome:
    ready = roll.at + t.dnskey_ttl + t.propagation
    notes: tuple[str, ...] = ()
    if roll.kind == "zsk" and ds_seen:
        notes = ("(--ds-seen: a zone-signing key has no DS at the parent; ignored)",)
    if roll.kind != "zsk":
        if roll.ds_seen is None:
            if not ds_seen:
                return Outcome(False, (f"waiting for the parent to publish the DS of {new.tag}: once it does, run "
                                       f"gtm dnssec roll {roll.zone} --ds-seen",), None, roll)
            roll = replace(roll, ds_seen=now)
            _write(key_dir, roll, roll.zone)
        ready = max(ready, (roll.ds_seen or now) + t.parent_ds_ttl)
    if now < ready:
        return Outcome(False, notes + (f"the new key {new.tag} may sign from {_when(ready)} "
                                       f"({ready - now:.0f} s from now)",), ready, roll)
    if nodes:
        check_nodes(nodes, roll.zone, _published(found))
    keyfiles.write(key_dir, replace(new, state="active", activated=now))
    # The old key stays published (signing nothing): its signatures, or the DNSKEY RRset it signed, are still
    # in caches; a key-signing key stays in the CDS/CDNSKEY too, so a parent that follows them keeps its DS
    # until that RRset has left every cache (RFC 7583 section 3.3.2).
    keyfiles.write(key_dir, replace(old, state="published"))
    if roll.kind == "ksk":  # double-DS: the new key signs the DNSKEY RRset
        after = now + t.dnskey_ttl + t.propagation
        what = f"{old.tag} stays published (and in the CDS) while the DNSKEY RRset it signed is cached"
    else:  # pre-publish
        after = now + t.max_ttl + t.propagation
        what = f"{old.tag} stays published while its signatures are cached"
    roll = replace(roll, step="active", at=now)
    _write(key_dir, roll, roll.zone)
    return Outcome(True, (f"{roll.kind} {new.tag} signs now; {what}", "reload every node now (or let --watch)",
                          f"last step from {_when(after)}"), after, roll)


def _finish(key_dir: str, roll: Roll, old: keyfiles.Key, new: keyfiles.Key, found: dict[int, keyfiles.Key],
            now: float, t: Timings, nodes: list[tuple[str, int]] | None) -> Outcome:
    wait = t.dnskey_ttl if roll.kind == "ksk" else t.max_ttl
    ready = roll.at + wait + t.propagation
    if now < ready:
        return Outcome(False, (f"the last step may be taken from {_when(ready)} ({ready - now:.0f} s from now)",),
                       ready, roll)
    if nodes:
        check_nodes(nodes, roll.zone, _published(found), signer=new.tag if roll.kind != "ksk" else None,
                    key_signer=new.tag if roll.kind != "zsk" else None)
    keyfiles.write(key_dir, replace(old, state="retired", retired=now))
    lines = [f"{old.tag} retired: the DNSKEY RRset names {new.tag} in its place", "reload every node now (or let --watch)"]
    if roll.kind != "zsk":
        lines.append(f"the parent may drop the DS of {old.tag} now (gtm dnssec ds {roll.zone} prints the one to keep;"
                     f" the CDS and CDNSKEY name it alone)")
    _write(key_dir, None, roll.zone)
    lines.append(f"the {roll.kind} roll of {roll.zone} is complete")
    return Outcome(True, tuple(lines), None, None)


def _published(found: dict[int, keyfiles.Key]) -> set[int]:
    return {tag for tag, k in found.items() if k.state != "retired"}


def check_nodes(nodes: list[tuple[str, int]], zone: str, tags: set[int], signer: int | None = None,
                key_signer: int | None = None, timeout: float = 2.0) -> None:
    """Each node serves a DNSKEY RRset of exactly ``tags`` (with ``key_signer``: signed by that key alone; with
    ``signer``: its SOA signed by that key alone); GtmError naming the nodes that do not."""
    wrong = []
    for host, port in nodes:
        where = f"{host}:{port}"
        try:
            query = dns.message.make_query(zone, "DNSKEY", want_dnssec=True, payload=1232)
            reply = dns.query.udp(query, host, port=port, timeout=timeout)
            if reply.flags & dns.flags.TC:
                reply = dns.query.tcp(query, host, port=port, timeout=timeout)
            served = {dns.dnssec.key_id(rd) for rrset in reply.answer if rrset.rdtype == dns.rdatatype.DNSKEY
                      for rd in rrset}
            if served != tags:
                wrong.append(f"{where} serves keys {sorted(served) or 'none'}, not {sorted(tags)}")
                continue
            by = {rd.key_tag for rrset in reply.answer if rrset.rdtype == dns.rdatatype.RRSIG for rd in rrset}
            if key_signer is not None and by != {key_signer}:
                wrong.append(f"{where} signs its DNSKEY RRset with {sorted(by) or 'nothing'}, not {key_signer}")
                continue
            if signer is not None:
                soa = dns.query.udp(dns.message.make_query(zone, "SOA", want_dnssec=True), host, port=port,
                                    timeout=timeout)
                by = {rd.key_tag for rrset in soa.answer if rrset.rdtype == dns.rdatatype.RRSIG for rd in rrset}
                if by != {signer}:
                    wrong.append(f"{where} signs with {sorted(by) or 'nothing'}, not {signer}")
        except (OSError, dns.exception.DNSException) as e:
            wrong.append(f"{where} did not answer ({type(e).__name__}: {e})")
    if wrong:
        raise GtmError("a node is not where the roll left it; reload it (or check --nodes), then run the step "
                       "again:\n  " + "\n  ".join(wrong))


def status_line(key_dir: str, zone: Zone, t: Timings, now: float) -> str | None:
    """The roll under way in one line (for ``gtm dnssec status``), or None."""
    roll = read(key_dir, zone.origin) if os.path.isdir(key_dir) else None
    if roll is None:
        return None
    if roll.step == "published":
        if roll.kind != "zsk" and roll.ds_seen is None:
            nxt = "waiting for --ds-seen (the new DS at the parent)"
        else:
            ready = roll.at + t.dnskey_ttl + t.propagation
            if roll.ds_seen is not None:
                ready = max(ready, roll.ds_seen + t.parent_ds_ttl)
            nxt = f"the new key signs from {_when(ready)}"
    else:
        ready = roll.at + (t.dnskey_ttl if roll.kind == "ksk" else t.max_ttl) + t.propagation
        nxt = f"the last step from {_when(ready)}"
    return f"  {roll.kind} roll {roll.old} -> {roll.new}: {roll.step} since {_when(roll.at)}; {nxt}"


__all__ = ["KINDS", "Outcome", "Roll", "Timings", "advance", "check_nodes", "read", "status_line", "timings"]
