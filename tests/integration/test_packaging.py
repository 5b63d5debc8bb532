"""The package as a user installs it: a wheel built from this tree, installed into a fresh virtual environment,
runs `gtm --version`, `gtm check` on the example it bundles and `gtm demo` from a directory without `zones/`
(before: `zones: cannot read`, no example was packaged).

The wheel is built without build isolation (the running environment's setuptools, no download) and installed
without dependencies; the fresh environment reaches the test environment's dependencies through a path entry,
never its editable install of gtm, so what runs is the wheel's own files."""
from __future__ import annotations

import os
import signal
import site
import subprocess
import sys
import time
from pathlib import Path

import dns.message
import dns.query

ROOT = Path(__file__).resolve().parents[2]


def test_a_wheel_installed_in_a_fresh_venv_runs_the_bundled_example(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(wheels), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    (wheel,) = wheels.glob("gtm-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", purelib,
                              str(wheel)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    # the dependencies, from the test environment (a plain path entry: its .pth files, the editable gtm among
    # them, are not read)
    (Path(purelib) / "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    where = subprocess.run([str(py), "-c", "import gtm, gtm.cli.loading as l; print(gtm.__file__); print(l.EXAMPLE)"],
                           cwd=empty, capture_output=True, text=True, env=env, check=True).stdout.split()
    assert where[0].startswith(purelib), where  # the wheel's gtm, not the clone's
    example = Path(where[1])
    assert (example / "example.com.yaml").is_file() and not example.is_symlink()

    gtm = [str(py), "-m", "gtm"]
    version = subprocess.run([*gtm, "--version"], cwd=empty, capture_output=True, text=True, env=env)
    assert version.returncode == 0 and version.stdout.startswith("gtm "), version
    check = subprocess.run([*gtm, "check", str(example)], cwd=empty, capture_output=True, text=True, env=env)
    assert check.returncode == 0 and "example.com. ok:" in check.stdout, check.stdout + check.stderr

    demo = subprocess.Popen([*gtm, "demo", "--dns-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"],
                            cwd=empty, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**env, "PYTHONUNBUFFERED": "1"})
    try:
        assert demo.stdout is not None
        deadline = time.monotonic() + 60
        port = 0
        while not port and time.monotonic() < deadline:
            line = demo.stdout.readline()
            assert line, demo.stderr.read() if demo.stderr else "the demo exited"
            if line.startswith("dns: "):
                port = int(line.strip().rpartition(":")[2])
        r = dns.query.udp(dns.message.make_query("www.example.com", "A"), "127.0.0.1", port=port, timeout=5)
        assert r.answer, r
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(20)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait()
