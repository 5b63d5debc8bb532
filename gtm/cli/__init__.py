"""``gtm``: thin commands over the library. Exit codes: 0 ok, 1 failed (e.g. bad config), 2 usage error.

Success is quiet or one line; errors are one line each (a config error prints one line per problem);
tracebacks only with ``--debug``.
"""
from __future__ import annotations

import argparse
import os
import asyncio
import logging
import sys
from typing import NoReturn

from gtm import __version__
from gtm.errors import LOG_FORMAT_ENV, ConfigError, Exit, GtmError, UsageError, one_line_logs

EXIT_OK, EXIT_FAIL, EXIT_USAGE = Exit.OK, Exit.FAIL, Exit.USAGE


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _cmd_check(args: argparse.Namespace) -> int:
    from gtm.cli.loading import build
    from gtm.dns.table import counted

    config = build(args.paths).config  # compiles the tables and opens the GeoIP databases, as serve does
    for zone in config.zones.values():
        print(f"{zone.origin} ok: {counted(zone.record_count(), 'record')}, {counted(len(zone.services), 'service')} "
              f"({zone.source})")
    if not config.zones:
        print(f"ok: no zones; {counted(len(config.regions), 'region')}, {counted(len(config.monitors), 'monitor')}, "
              f"{counted(len(config.vantages), 'vantage')}")
    return EXIT_OK


def _cmd_serve(args: argparse.Namespace) -> int:
    from gtm.model.net import parse_host_port
    from gtm.control.options import ServeOptions
    from gtm.runtime import Runtime

    listen = []
    for text in args.listen or ["127.0.0.1:5353"]:
        try:
            listen.append(parse_host_port(text))
        except ValueError as e:
            raise _Usage(f"--listen: {e}") from None
    try:
        import uvloop  # a C event loop: several times the datagram throughput of the stdlib loop
    except ImportError:
        uvloop = None  # type: ignore[assignment]
        logging.getLogger(__name__).warning("uvloop is not installed; serving on the slower stdlib event loop")
    admin = None
    if args.admin_listen:
        try:
            admin = parse_host_port(args.admin_listen)
        except ValueError as e:
            raise _Usage(f"--admin-listen: {e}") from None
    try:
        from gtm.dns.server import udp_path

        udp_path(args.udp_io)
    except ValueError as e:
        raise _Usage(f"--udp-io: {e}") from None
    if args.takeover and not args.workers:
        raise _Usage("--takeover needs --workers N (the sockets are handed from worker processes to worker processes)")
    import setproctitle

    setproctitle.setproctitle("gtm: serve" + (f" ({args.workers} workers)" if args.workers else ""))
    runtime = Runtime(ServeOptions(
        tuple(args.paths), tuple(listen), watch=args.watch_interval if args.watch else 0.0, tcp_idle=args.tcp_idle,
        tcp_clients=args.tcp_clients, udp_payload=args.udp_payload, health_file=args.health, admin_listen=admin,
        probe_as=args.probe_as, workers=args.workers, takeover=args.takeover, ready_file=args.ready_file,
        query_log=args.query_log, udp_io=args.udp_io))
    if uvloop is not None:
        uvloop.run(runtime.run())
    else:
        asyncio.run(runtime.run())
    return EXIT_OK


def _cmd_explain(args: argparse.Namespace) -> int:
    from gtm.cli import explain

    args.paths = [args.path]
    return explain.run(args)


def _cmd_probe(args: argparse.Namespace) -> int:
    from gtm.cli import probe

    return probe.run(args)


_Usage = UsageError  # (the name used in this module)


def default_workers(cores: int | None = None) -> int:
    """``gtm serve``'s worker count when none is given: a core for everything else the machine does (the control
    process, the probers, the kernel's network work) and a worker on each of the others; one on one or two
    cores, where two workers were measured slower than one (docs/performance.md)."""
    cores = cores if cores is not None else (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                                             else os.cpu_count() or 1)
    return max(1, cores - 1)


def _positive(kind: type, lo: float, hi: float):  # type: ignore[no-untyped-def]
    """An argparse type: a number of ``kind`` between lo and hi, else a one-line usage error."""
    def parse(text: str):  # type: ignore[no-untyped-def]
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be between {lo:g} and {hi:g} (got {text})")
        return value
    return parse


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="gtm", description="gtm: a global traffic manager (authoritative DNS with steering).",
                epilog="Exit codes: 0 ok; 1 an error while running (a broken config, IO, a failed apply); 2 usage: an "
                       "unknown option or a bad value; drills, failover and restore also 3 refused, 4 verification "
                       "failed, 5 interrupted.")
    p.add_argument("--version", action="version", version=f"gtm {__version__}")
    p.add_argument("--debug", action="store_true", help="debug logging and tracebacks")
    p.add_argument("--log-format", choices=["text", "json"], default="text",
                   help="log lines as text (default) or as JSON objects, one a line (worker processes too)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    c = sub.add_parser("check", help="validate configuration files; one line per zone, exit 1 on problems")
    c.add_argument("paths", nargs="+", metavar="PATH", help="YAML config, master file (*.zone) or a directory")
    c.set_defaults(func=_cmd_check)
    s = sub.add_parser("serve", help="serve the zones over UDP and TCP")
    s.add_argument("paths", nargs="+", metavar="PATH", help="YAML config, master file (*.zone) or a directory")
    s.add_argument("--listen", action="append", metavar="ADDR:PORT",
                   help="address to listen on, repeatable; IPv6 as [::1]:5353 (default 127.0.0.1:5353)")
    s.add_argument("--watch", action="store_true", help="reload when a config file changes (SIGHUP always does)")
    s.add_argument("--watch-interval", type=_positive(float, 0.05, 3600), default=1.0, metavar="SECONDS",
                   help="how often --watch looks at the files (default 1)")
    s.add_argument("--tcp-idle", type=_positive(float, 0.1, 3600), default=10.0, metavar="SECONDS",
                   help="close a TCP connection idle this long (default 10; RFC 7766 section 6.2.3)")
    s.add_argument("--tcp-clients", type=_positive(int, 1, 100000), default=256, metavar="N",
                   help="most TCP connections at once; more are closed at accept (default 256)")
    s.add_argument("--udp-payload", type=_positive(int, 512, 4096), default=1232, metavar="BYTES",
                   help="largest UDP response to EDNS clients (default 1232, 512..4096)")
    s.add_argument("--health", metavar="FILE",
                   help="answer as under this health file (down regions/endpoints, RTTs); reloaded with the config")
    s.add_argument("--admin-listen", metavar="ADDR:PORT",
                   help="serve the admin API (reports, status, metrics, status page) here; default: admin.listen "
                        "when the config has an admin section, else no admin API")
    s.add_argument("--probe-as", metavar="VANTAGE",
                   help="also run a prober for this vantage inside the server (single-node setups)")
    s.add_argument("--workers", type=_positive(int, 0, 256), default=default_workers(), metavar="N",
                   help="answer queries in N worker processes (SO_REUSEPORT; default: one per core but one, at least "
                        "1); 0: in this "
                        "process")
    s.add_argument("--takeover", metavar="PATH",
                   help="zero-downtime restart: take the DNS sockets over from the instance serving the Unix "
                        "socket PATH (it stops once ours serve), and serve PATH for the next one; needs --workers")
    s.add_argument("--query-log", type=_positive(int, 0, 1_000_000), default=0, metavar="N",
                   help="log one UDP query in 64 x N (client network, name, type, regions answered, RCODE) to the "
                        "gtm.querylog logger; 0 (default): none")
    s.add_argument("--udp-io", choices=("auto", "batched", "asyncio"), default="auto",
                   help="how UDP is read and written: batched (recvmmsg/sendmmsg, many datagrams per system call; "
                        "64-bit Linux), asyncio (one per call, any platform), auto (default): batched where it "
                        "can be")
    s.add_argument("--ready-file", metavar="PATH",
                   help="write PATH (JSON: pid, serving, the DNS addresses bound, the admin URL) for a supervisor "
                        "or script, with \"serving\": true once DNS is answered (first with false as soon as the "
                        "admin API is up); port 0 in --listen is resolved there; removed at start and at stop")
    s.set_defaults(func=_cmd_serve)
    from gtm.cli import demo, dnssec, drill, init, override, route53

    demo.add_parser(sub)
    init.add_parser(sub)
    route53.add_parser(sub)
    override.add_parser(sub)
    drill.add_parser(sub)
    dnssec.add_parser(sub)
    e = sub.add_parser("explain", help="why NAME answers what it does for a client: the decision trail")
    e.add_argument("path", metavar="PATH", help="YAML config, master file or a directory (as for serve)")
    e.add_argument("name", metavar="NAME", help="the name asked, e.g. www.example.com")
    e.add_argument("--client", metavar="IP[/LEN]",
                   help="the client: IP/LEN as an ECS prefix, a bare IP as the resolver's source address")
    e.add_argument("--type", default="A", metavar="A|AAAA", help="query type (default A)")
    e.add_argument("--node", metavar="URL", help="the node whose live answer to explain (default: the config's first "
                   "drill node, else its admin.listen; when none answers, the files)")
    e.add_argument("--offline", action="store_true", help="explain from the files, asking no node")
    e.add_argument("--health", metavar="FILE",
                   help="explain from the files under this health file (default: everything up)")
    e.add_argument("--json", action="store_true", help="JSON output; the ranked regions are under 'regions'")
    e.set_defaults(func=_cmd_explain)
    pr = sub.add_parser("probe", help="probe every monitored endpoint from one vantage; push signed reports")
    pr.add_argument("paths", nargs="+", metavar="PATH", help="YAML config, master file (*.zone) or a directory")
    pr.add_argument("--vantage", required=True, metavar="NAME", help="the vantage this prober is (see vantages:)")
    pr.add_argument("--report-to", action="append", metavar="URL",
                    help="a node's admin API URL, repeatable (default: health.report_to)")
    pr.add_argument("--key-id", metavar="ID", help="the report key to sign with (needed when there are several)")
    pr.add_argument("--token-file", metavar="FILE", help="file holding the nodes' admin bearer token")
    pr.set_defaults(func=_cmd_probe)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.log_format == "json":
        os.environ[LOG_FORMAT_ENV] = "json"  # (inherited by worker processes)
    one_line_logs()
    # AWS libraries: their INFO lines ("Found credentials in ...") only with --debug, and never their debug
    # lines, which carry request headers (credentials, session tokens)
    for name in ("botocore", "boto3", "urllib3", "s3transfer", "aiobotocore"):
        logging.getLogger(name).setLevel(logging.INFO if args.debug else logging.WARNING)
    try:
        return int(args.func(args))
    except UsageError as e:  # bad values on the command line: 2, as argparse's own errors
        print(f"gtm {args.command}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as e:
        for problem in e.problems:
            print(problem, file=sys.stderr)
        print(f"gtm: {len(e.problems)} problem{'s' if len(e.problems) != 1 else ''} found", file=sys.stderr)
        return EXIT_FAIL
    except GtmError as e:
        if args.debug:
            raise
        print(f"gtm: error: {e}", file=sys.stderr)
        return EXIT_FAIL
    except OSError as e:  # e.g. the listen address is taken
        if args.debug:
            raise
        print(f"gtm: error: {e}", file=sys.stderr)
        return EXIT_FAIL
    except KeyboardInterrupt:
        return EXIT_OK
    except Exception as e:  # a bug: one line unless --debug, which shows the traceback
        if args.debug:
            raise
        print(f"gtm: internal error: {type(e).__name__}: {e} (run with --debug for the traceback)", file=sys.stderr)
        return EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
