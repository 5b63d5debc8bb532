"""`gtm init DIR --zone NAME`: a configuration for one's own zone that `gtm check` passes and `gtm serve
--probe-as` serves, probing the load balancer given (a real HTTP backend on loopback here), with the key and
token files private."""
from __future__ import annotations

import json
import socket
import stat
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dns.message
import dns.query

from tests.conftest import run_gtm


def test_init_writes_a_config_that_checks_and_serves_with_its_prober(tmp_path: Path, gtm_server) -> None:  # type: ignore[no-untyped-def]
    class Healthy(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
            self.send_response(200 if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    backend = ThreadingHTTPServer(("127.0.0.1", 0), Healthy)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    try:
        d = tmp_path / "conf"
        made = run_gtm("init", d, "--zone", "Example.ORG", "--endpoint", "127.0.0.1", "--vantage", "home",
                       "--location", "50.1,8.7", "--monitor-port", str(backend.server_port))
        assert made.returncode == 0, made.stderr
        assert f"gtm check {d}" in made.stdout
        assert sorted(p.name for p in d.iterdir()) == ["admin-token.txt", "example.org.yaml", "report.keys"]
        for secret in ("admin-token.txt", "report.keys"):
            assert stat.S_IMODE((d / secret).stat().st_mode) == 0o600
        assert (d / "report.keys").read_text().startswith("home:")
        checked = run_gtm("check", d)
        assert checked.returncode == 0 and "example.org. ok: 3 records, 1 service (" in checked.stdout, checked
        # the monitor probes the backend's port (--monitor-port), faster than the template's interval
        cfg = d / "example.org.yaml"
        assert f"    port: {backend.server_port}\n" in cfg.read_text()
        cfg.write_text(cfg.read_text().replace("interval: 5", "interval: 0.5").replace("rise: 2", "rise: 1"))
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            admin_port = probe.getsockname()[1]
        cfg.write_text(cfg.read_text().replace("listen: 127.0.0.1:8053", f"listen: 127.0.0.1:{admin_port}"))
        srv = gtm_server("--probe-as", "home", d)
        r = dns.query.udp(dns.message.make_query("www.example.org", "A"), "127.0.0.1", port=srv.port, timeout=3)
        assert [rd.address for rrset in r.answer for rd in rrset] == ["127.0.0.1"]
        token = (d / "admin-token.txt").read_text().strip()
        deadline = time.monotonic() + 10
        while True:
            req = urllib.request.Request(f"http://127.0.0.1:{admin_port}/v1/status",
                                         headers={"Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(req, timeout=5) as resp:
                health = json.load(resp)["health"]
            if [e["up"] for e in health["endpoints"]] == [True]:
                break
            assert time.monotonic() < deadline, health
            time.sleep(0.1)
        assert health["reports"]["rejected"] == {}
        # never into a directory with files in it
        again = run_gtm("init", d, "--zone", "example.org")
        assert again.returncode == 1 and "is not an empty directory" in again.stderr
    finally:
        backend.shutdown()
