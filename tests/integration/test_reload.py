"""Hot reload: SIGHUP and --watch swap in a good config, keep the last good one on a broken config, and no
query fails while it happens."""
from __future__ import annotations

import shutil
import signal
import threading
import time
from pathlib import Path

import dns.message
import dns.query
import dns.rcode

ZONE = """\
zone: reload.test
ttl: 60
soa: {{mname: ns1.reload.test., rname: hostmaster.reload.test., serial: {serial}}}
ns: [ns1]
records:
  ns1: {{A: 192.0.2.53}}
  web: {{A: {address}}}
{extra}
"""


def write(path: Path, serial: int, address: str, extra: str = "") -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(ZONE.format(serial=serial, address=address, extra=extra))
    tmp.replace(path)  # atomic, as an editor or config management would do


def ask(port: int, name: str = "web.reload.test", rdtype: str = "A", timeout: float = 1.0) -> dns.message.Message:
    return dns.query.udp(dns.message.make_query(name, rdtype), "127.0.0.1", port=port, timeout=timeout)


def addresses(resp: dns.message.Message) -> set[str]:
    return {rd.address for rrset in resp.answer for rd in rrset}


def test_sighup_reload_under_load_and_broken_config_keeps_last_good(tmp_path, gtm_server):
    cfg = tmp_path / "zones"
    cfg.mkdir()
    zone = cfg / "reload.test.yaml"
    write(zone, 1, "192.0.2.1")
    srv = gtm_server(cfg)
    assert addresses(ask(srv.port)) == {"192.0.2.1"}

    seen: list[str] = []
    failures: list[str] = []
    stop = threading.Event()

    def load() -> None:
        deadline = time.monotonic() + 30  # bounded in time and count
        sent = 0
        while not stop.is_set() and time.monotonic() < deadline and sent < 200_000:
            sent += 1
            try:
                resp = ask(srv.port, timeout=2.0)
            except Exception as e:  # a timeout here is a query lost during reload
                failures.append(repr(e))
                continue
            if resp.rcode() != dns.rcode.NOERROR:
                failures.append(dns.rcode.to_text(resp.rcode()))
            seen.extend(sorted(addresses(resp)))

    workers = [threading.Thread(target=load) for _ in range(2)]
    for w in workers:
        w.start()
    try:
        time.sleep(0.3)
        # A good change, with enough records that compiling takes a noticeable moment.
        many = "\n".join(f"  host{i}: {{A: 198.51.100.{i % 250 + 1}}}" for i in range(3000))
        write(zone, 2, "192.0.2.2", many)
        mark = len(srv.lines)
        srv.signal(signal.SIGHUP)
        srv.wait_for_log(r"reloaded in", start=mark)
        time.sleep(0.3)
        # A broken change: the server logs every problem and keeps answering from the last good config.
        zone.write_text(ZONE.format(serial=3, address="192.0.2.300", extra="") + "bogus_key: 1\n")
        mark = len(srv.lines)
        srv.signal(signal.SIGHUP)
        srv.wait_for_log(r"reload failed; still serving the previous config", start=mark)
        problems = "\n".join(srv.lines[mark:])
        assert "reload.test.yaml:7: records.web.A: bad IPv4 address (got '192.0.2.300')" in problems
        assert "reload.test.yaml:9: bogus_key: unknown key" in problems
        time.sleep(0.3)
        assert addresses(ask(srv.port)) == {"192.0.2.2"}
        assert ask(srv.port, "host7.reload.test").answer[0][0].address == "198.51.100.8"
    finally:
        stop.set()
        for w in workers:
            w.join()
    assert failures == []
    assert set(seen) == {"192.0.2.1", "192.0.2.2"}  # old or new, never anything else
    assert len(seen) > 100


def test_watch_reloads_on_file_change(tmp_path, gtm_server):
    cfg = tmp_path / "zones"
    cfg.mkdir()
    zone = cfg / "reload.test.yaml"
    write(zone, 1, "192.0.2.1")
    srv = gtm_server(cfg, "--watch", "--watch-interval", "0.2")
    assert addresses(ask(srv.port)) == {"192.0.2.1"}
    time.sleep(0.05)
    write(zone, 2, "192.0.2.7")
    deadline = time.monotonic() + 10
    while addresses(ask(srv.port)) != {"192.0.2.7"}:
        assert time.monotonic() < deadline, srv.log
        time.sleep(0.1)
    # A new file in the watched directory is picked up too.
    shutil.copy(zone, cfg / "other.yaml")
    (cfg / "other.yaml").write_text(ZONE.replace("reload.test", "other.test").format(
        serial=1, address="192.0.2.9", extra=""))
    deadline = time.monotonic() + 10
    while ask(srv.port, "web.other.test").rcode() != dns.rcode.NOERROR:
        assert time.monotonic() < deadline, srv.log
        time.sleep(0.1)
    assert addresses(ask(srv.port, "web.other.test")) == {"192.0.2.9"}


def test_serve_refuses_to_start_on_a_broken_config(tmp_path):
    import subprocess
    import sys

    bad = tmp_path / "bad.yaml"
    bad.write_text("zone: bad.test\nsoa: {serial: x}\n")
    out = subprocess.run([sys.executable, "-m", "gtm.cli", "serve", "--listen", "127.0.0.1:0", str(bad)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    assert f"{bad}:2: soa.serial: must be an integer (got 'x')" in out.stderr


def test_listen_address_in_use_is_one_line_error(tmp_path, gtm_server):
    import subprocess
    import sys

    srv = gtm_server(Path(__file__).resolve().parents[2] / "zones")
    out = subprocess.run([sys.executable, "-m", "gtm.cli", "serve", "--listen", f"127.0.0.1:{srv.port}", "zones"],
                         capture_output=True, text=True, timeout=30, cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 1
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith(f"gtm: error: 127.0.0.1 port {srv.port} (UDP) is in use by another process"), last
    assert " stopped" not in out.stderr  # it never started
    assert addresses(ask(srv.port, "ns1.example.com")) == {"192.0.2.53"}
