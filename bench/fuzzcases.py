"""The fuzzing cases shared by the fuzz test (``tests/unit/dns/test_fuzz.py``), ``bench.fuzz`` and ``bench.soak``:
seed queries to mutate, and the check that a reply to anything is a sane message."""
from __future__ import annotations

import dns.edns
import dns.message

from gtm.dns.codec import Drop, FormErr, parse_query
from gtm.dns.server import Responder


def _seeds() -> list[bytes]:
    out = []
    for name, rdtype in (("www.example.com", "A"), ("ExAmPle.com", "MX"), ("nx.example.com", "AAAA"),
                         ("a.b.lab.example.com", "A"), ("x.preview.example.com", "TXT"), ("example.org", "A")):
        out.append(dns.message.make_query(name, rdtype).to_wire())
        out.append(dns.message.make_query(name, rdtype, use_edns=0, want_dnssec=True).to_wire())
        ecs = dns.edns.ECSOption("85.214.0.0", 24)
        out.append(dns.message.make_query(name, rdtype, use_edns=0, options=[ecs]).to_wire())
    return out


SEEDS = _seeds()


def check_reply(query: bytes, reply: bytes | None) -> None:
    if reply is None:
        return
    assert len(reply) >= 12
    assert reply[:2] == query[:2]  # the ID is echoed
    assert reply[2] & 0x80  # QR
    assert (reply[2] >> 3) & 0xF == (query[2] >> 3) & 0xF  # the opcode is echoed
    if (reply[2] >> 3) & 0xF == 5:
        # dnspython reads UPDATE messages as updates (zone section must be SOA); check the header only.
        # FORMERR or REFUSED; or BADVERS (RCODE 16: low bits 0, the OPT record's extended RCODE 1) when the
        # EDNS version is one we do not speak, which RFC 6891 section 6.1.3 checks first (found by bench.fuzz)
        badvers = reply[3] & 0xF == 0 and reply[10:12] == b"\x00\x01" and reply[-11:-8] == b"\x00\x00\x29" \
            and reply[-6] == 1
        assert int.from_bytes(reply[4:6], "big") <= 1 and (reply[3] & 0xF in (1, 5) or badvers)
        return
    msg = dns.message.from_wire(reply)  # a well-formed message for a real client
    assert msg.id == int.from_bytes(query[:2], "big")


def survives(responder: Responder, data: bytes, tcp: bool = False) -> None:
    """The strict parser raises only its own two errors; the query path raises nothing and replies sanely."""
    try:
        parse_query(data)
    except (Drop, FormErr):
        pass
    before = responder.stats.errors
    check_reply(data, responder.answer(data))
    if tcp:
        check_reply(data, responder.answer(data, tcp=True))
    assert responder.stats.errors == before, "the query path raised"
