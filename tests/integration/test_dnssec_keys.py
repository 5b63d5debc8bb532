"""The keys of a signed zone, end to end: ``gtm dnssec keygen`` makes them, ``gtm dnssec ds`` prints the DS, the
server publishes DNSKEY, CDS and CDNSKEY at the apex (what the key files and the DS say, read with dnspython),
``gtm check`` names a missing key directory and a broken key file, and a reload that cannot read the keys
keeps serving the ones it has."""
from __future__ import annotations

import signal
import time
from pathlib import Path

import dns.dnssec
import dns.message
import dns.name
import dns.query
import dns.rdatatype

from tests.conftest import GtmProcess, run_gtm

ZONE = """\
zone: s.test
soa: {}
ns: [ns1]
signed: true
dnssec: {key_dir: keys}
records:
  ns1: {A: 192.0.2.53}
  www: {A: 192.0.2.80}
"""


def ask(port: int, name: str, rtype: str) -> dns.message.Message:
    return dns.query.udp(dns.message.make_query(name, rtype, want_dnssec=True), "127.0.0.1", port=port, timeout=2)


def test_keys_are_made_published_and_kept_through_a_bad_reload(tmp_path: Path) -> None:
    (tmp_path / "zones").mkdir()
    (tmp_path / "zones" / "s.test.yaml").write_text(ZONE)
    missing = run_gtm("check", "zones", cwd=tmp_path)
    assert missing.returncode == 1
    assert "zones/keys: no such key directory (dnssec.key_dir; gtm dnssec keygen s.test. makes it)" in missing.stderr
    made = run_gtm("dnssec", "keygen", "s.test", "-c", "zones", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    tag = int(made.stdout.split()[1])
    ds = run_gtm("dnssec", "ds", "s.test", "-c", "zones", cwd=tmp_path).stdout.strip()
    assert ds.startswith(f"s.test. IN DS {tag} 13 2 ")
    assert run_gtm("check", "zones", cwd=tmp_path).returncode == 0

    server = GtmProcess([str(tmp_path / "zones")], tmp_path)
    try:
        r = ask(server.port, "s.test", "DNSKEY")
        (keys,) = [rr for rr in r.answer if rr.rdtype == dns.rdatatype.DNSKEY]
        assert [dns.dnssec.key_id(k) for k in keys] == [tag] and keys[0].flags == 257 and keys[0].algorithm == 13
        (cds,) = [rr for rr in ask(server.port, "s.test", "CDS").answer if rr.rdtype == dns.rdatatype.CDS]
        assert ds.endswith(cds[0].to_text().split(" ", 3)[3])  # the digest gtm dnssec ds prints
        assert dns.dnssec.make_ds(dns.name.from_text("s.test."), keys[0], "SHA256").to_text() == ds.split("DS ", 1)[1]
        (cdnskey,) = [rr for rr in ask(server.port, "s.test", "CDNSKEY").answer
                      if rr.rdtype == dns.rdatatype.CDNSKEY]
        assert cdnskey[0].key == keys[0].key

        # The key file breaks: check names it, and a reload keeps serving the keys in use.
        (key_file,) = (tmp_path / "zones" / "keys").glob("Ks.test+013+*.json")
        key_file.write_text("{broken")
        bad = run_gtm("check", "zones", cwd=tmp_path)
        assert bad.returncode == 1 and f"{key_file.name}: not a key file (bad JSON" in bad.stderr
        start = len(server.lines)
        server.signal(signal.SIGHUP)
        server.wait_for_log("reload failed; still serving the previous config", start=start)
        time.sleep(0.1)
        (again,) = [rr for rr in ask(server.port, "s.test", "DNSKEY").answer if rr.rdtype == dns.rdatatype.DNSKEY]
        assert [dns.dnssec.key_id(k) for k in again] == [tag]
    finally:
        server.stop()
