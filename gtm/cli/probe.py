"""``gtm probe``: run the prober of one vantage until SIGINT/SIGTERM.

Reads the config (the same files as ``serve``), the report keys (``health.keys``), and pushes signed reports to
every ``--report-to`` URL (default: ``health.report_to``). Exit codes: 0 after a clean stop, 1 when the config or
the keys cannot be read, 2 for a usage error (unknown vantage, no report URL, unknown key id). One log line per
node reachability change; nothing per probe.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import re
import signal
import sys

from gtm.cli.loading import load
from gtm.errors import Exit
from gtm.health import signing
from gtm.health.prober import Prober

EXIT_OK, EXIT_FAIL, EXIT_USAGE = Exit.OK, Exit.FAIL, Exit.USAGE
log = logging.getLogger(__name__)


def _error(code: int, message: str) -> int:
    prefix = "gtm probe: error" if code == EXIT_USAGE else "gtm: error"
    print(f"{prefix}: {message}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    """Entry point of ``gtm probe`` (``args``: paths, vantage, report_to, key_id, token_file)."""
    config = load(args.paths)  # ConfigError: the CLI prints every problem, exit 1
    if args.vantage not in config.vantages:
        defined = ", ".join(sorted(config.vantages)) or "none are defined"
        return _error(EXIT_USAGE, f"--vantage: unknown vantage {args.vantage!r} (defined: {defined})")
    urls = [u.rstrip("/") for u in (args.report_to or config.health.report_to)]
    if not urls:
        return _error(EXIT_USAGE, "no node to report to: give --report-to URL or set health.report_to")
    bad = [u for u in urls if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", u)]
    if bad:
        return _error(EXIT_USAGE, f"--report-to: not an http:// or https:// URL (got {bad[0]!r})")
    try:
        keys = signing.load_keys(config.health.keys_file, config.health.keys_env)
    except ValueError as e:
        return _error(EXIT_FAIL, str(e))
    want = config.vantages[args.vantage].key_id  # nodes accept this vantage's reports signed with it only
    key_id = args.key_id if args.key_id is not None else want
    if key_id not in keys:
        return _error(EXIT_USAGE, f"no report key {key_id!r} for vantage {args.vantage} in the key file (known: "
                                  f"{', '.join(keys)}); a vantage signs with the key named after it, or the one its "
                                  f"config names (vantages.{args.vantage}.key)")
    if key_id != want:
        log.warning("--key-id %s: nodes accept reports of %s signed with %s only", key_id, args.vantage, want)
    token = None
    if args.token_file:
        try:
            with open(args.token_file, encoding="utf-8") as fh:
                token = fh.read().strip()
        except OSError as e:
            return _error(EXIT_FAIL, f"cannot read token file {args.token_file}: {e.strerror or e}")
        if not token:
            return _error(EXIT_FAIL, f"token file {args.token_file} is empty")

    prober = Prober(config, args.vantage, urls, key_id, keys[key_id], token=token)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, prober.stop)
        n = len(prober.targets)
        log.info("probing %d target%s from vantage %s every %g s, reporting to %s", n, "" if n == 1 else "s",
                 args.vantage, prober.round, ", ".join(urls))
        await prober.run()
        log.info("stopped")

    try:
        import uvloop  # the same loop as serve; probes are IO-bound, so only for uniformity
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
    return EXIT_OK
