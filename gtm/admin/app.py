"""The admin API of a DNS node (aiohttp): reports in, status, explain, metrics, health check, status page.

| route | what | auth |
|---|---|---|
| ``POST /v1/reports`` | a prober's signed report (see ``gtm.health.signing``) | token |
| ``GET /v1/status`` | regions, endpoints, each vantage's view, verdicts, transitions, generations | token |
| ``GET /v1/explain?name=&client=&type=`` | the decision trail for a name and client | token |
| ``GET /metrics`` | Prometheus text format, from the node's own registry; scrapes coalesced | token (``admin.public``) |
| ``GET /healthz`` | 200 once the node serves DNS with every worker, else 503 (``starting``, ``degraded: ...``) | public |
| ``GET /`` | the status page (HTML, no external assets) | token (or ``?token=``) |

Authentication is a bearer token (``Authorization: Bearer TOKEN``) read from the file or environment variable
named in ``admin.token``. Without a configured token the API is open, which is only allowed on a loopback
address. Errors are JSON ``{"error": "...", "reason": "..."}`` with a 4xx status.

Reports are refused with a reason that is also the label of ``gtm_reports_rejected_total``: ``unsigned``,
``unknown_key``, ``bad_signature``, ``wrong_audience`` (403: signed for another node), ``bad_timestamp``,
``stale``, ``before_start`` (signed before this node started), ``replay`` (409), ``malformed``,
``unknown_vantage``, ``wrong_key`` (403: not the vantage's own key), ``old_seq`` (409: not after the vantage's
last report), ``oversized`` (413, a body over ``MAX_REPORT_BYTES``) and ``no_keys`` (403).
"""
from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import os
import socket
import ssl
from typing import Any, Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from gtm.admin.page import STATUS_PAGE
from gtm.errors import GtmError
from gtm.health.node import HealthNode
from gtm.health.signing import HEADERS as SIGNATURE_HEADERS
from gtm.model import MAX_REPORT_BYTES, AdminSettings
from gtm.model.net import admin_name, parse_client

log = logging.getLogger(__name__)

NAMES = web.AppKey("names", dict)  # {"names": the names the API is reached at, or None}


class Access:
    """The bearer token and the routes served without it; a reload sets new ones (``update``)."""

    def __init__(self, token: str | None, public: tuple[str, ...]):
        self.token, self.public = token, public

    def update(self, token: str | None, public: tuple[str, ...]) -> None:
        self.token, self.public = token, public
Explain = Callable[[str, "str | None", str], dict[str, Any]]
Status = Callable[[], dict[str, Any]]
Serving = Callable[[], bool]


def read_token(settings: AdminSettings) -> str | None:
    """The bearer token from ``admin.token`` (file or environment variable); GtmError when unreadable."""
    if settings.token_file:
        try:
            with open(settings.token_file, encoding="utf-8") as fh:
                token = fh.read().strip()
        except OSError as e:
            raise GtmError(f"cannot read admin token file {settings.token_file}: {e.strerror or e}") from None
    elif settings.token_env:
        token = os.environ.get(settings.token_env, "").strip()
        if not token:
            raise GtmError(f"environment variable {settings.token_env} (admin token) is not set")
    else:
        return None
    if len(token) < 16:
        raise GtmError("the admin token must be 16 characters or more")
    return token


def is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def same_origin(request: web.Request) -> bool:
    """Whether a request comes from no browser page, or from this API's own origin."""
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    own = f"{'https' if request.secure else 'http'}://{request.headers.get('Host', '')}".lower()
    return origin.lower() == own


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=status, headers=headers, dumps=lambda o: json.dumps(o, default=str))


# The status page carries the token in its URL (``/?token=``): no referrer, no caching, nothing from elsewhere.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                               "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
                               "frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


def _bearer(header: str) -> str:
    """The credentials of an ``Authorization: Bearer ...`` header ('' for any other); the scheme is
    case-insensitive (RFC 7235 section 2.1)."""
    scheme, _, credentials = header.strip().partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else ""


def name_problem(name: str) -> str | None:
    """Why ``name`` is not a domain name a DNS query could carry (None when it is one)."""
    if any(c.isspace() or not c.isprintable() for c in name):
        return "contains whitespace or control characters"
    bare = name[:-1] if name.endswith(".") else name
    if not bare:
        return None  # the root
    if len(bare.encode()) > 253:
        return "longer than 253 characters"
    for label in bare.split("."):
        if not label:
            return "has an empty label"
        if len(label.encode()) > 63:
            return f"has a label longer than 63 characters ({label[:20]}...)"
    return None


def client_problem(client: str) -> str | None:
    """Why ``client`` is neither an IP address nor a network (None when it is one)."""
    try:
        parse_client(client)
    except ValueError as e:
        return str(e)
    return None


class Coalesced:
    """Scrapes that cannot pile up: at most one collection in flight, which every scrape arriving meanwhile
    shares."""

    def __init__(self, collect: Callable[[], Awaitable[bytes]]):
        self.collect = collect
        self.collections = 0
        self._running: asyncio.Future[bytes] | None = None

    async def get(self) -> bytes:
        if self._running is None:
            self._running = asyncio.ensure_future(self._run())
        return await asyncio.shield(self._running)  # a scraper going away does not cancel the others' collection

    async def _run(self) -> bytes:
        try:
            self.collections += 1
            return await self.collect()
        finally:
            self._running = None


def audiences(settings: AdminSettings, bound: tuple[str, int]) -> frozenset[str] | None:
    """The names this admin API is reached at (``host:port``): ``admin.names``, and the address it is bound to
    unless that is a wildcard (with ``localhost`` for loopback). None when it cannot know them: bound to a
    wildcard without ``admin.names``."""
    host, port = bound
    names = set(settings.names)
    ip = ipaddress.ip_address(host.split("%")[0])
    if ip.is_unspecified:
        return frozenset(names) or None
    names.add(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
    if ip.is_loopback:
        names.add(f"localhost:{port}")
    return frozenset(names)


# With TLS, a connection reaches the guard once its handshake is done: until then it is bounded by this.
HANDSHAKE_TIMEOUT = 10.0


class Guard:
    """Admission and deadlines for the admin API's connections, so that no client can hold the node's
    descriptors or memory (slowloris):

    - at most ``cap`` connections, and ``share`` per client address (a new one past either is closed at once);
    - a request's head must arrive within ``head_timeout`` seconds of the connection (or of the previous
      response); a connection idle that long is closed;
    - a body must arrive within ``body_timeout`` (the reports route; bodies are bounded by
      ``MAX_REPORT_BYTES`` before they are buffered).
    """

    def __init__(self, cap: int = 128, share: int = 16, head_timeout: float = 10.0, body_timeout: float = 10.0):
        self.cap, self.share, self.head_timeout, self.body_timeout = cap, share, head_timeout, body_timeout
        self.open: dict[Any, str] = {}           # transport -> client address
        self.per_client: dict[str, int] = {}
        self.timers: dict[Any, asyncio.TimerHandle] = {}
        self.refused = 0                          # connections closed at once (cap or share)
        self.timed_out = 0                        # connections closed for a head or body not in time

    def wrap(self, factory: Callable[[], Any]) -> Callable[[], asyncio.Protocol]:
        """A protocol factory: aiohttp's protocol behind this guard's admission."""
        return lambda: _Admitted(factory(), self)

    def admit(self, transport: Any) -> bool:
        peer = transport.get_extra_info("peername")
        client = str(peer[0]) if peer else "?"
        if len(self.open) >= self.cap or self.per_client.get(client, 0) >= self.share:
            self.refused += 1
            return False
        self.open[transport] = client
        self.per_client[client] = self.per_client.get(client, 0) + 1
        self.arm(transport, self.head_timeout)
        return True

    def forget(self, transport: Any) -> None:
        client = self.open.pop(transport, None)
        if client is not None:
            self.per_client[client] -= 1
            if not self.per_client[client]:
                del self.per_client[client]
        timer = self.timers.pop(transport, None)
        if timer is not None:
            timer.cancel()

    def arm(self, transport: Any, seconds: float) -> None:
        """Close ``transport`` unless :meth:`busy` is called within ``seconds``."""
        old = self.timers.pop(transport, None)
        if old is not None:
            old.cancel()
        if transport in self.open:
            self.timers[transport] = asyncio.get_running_loop().call_later(seconds, self._expire, transport)

    def busy(self, transport: Any) -> None:
        timer = self.timers.pop(transport, None)
        if timer is not None:
            timer.cancel()

    def _expire(self, transport: Any) -> None:
        self.timers.pop(transport, None)
        self.timed_out += 1
        transport.abort()
        self.forget(transport)


GUARD = web.AppKey("guard", Guard)  # the Guard of the app's connections
ACCESS = web.AppKey("access", Access)  # the Access in force (a reload replaces its token and public routes)


class _Admitted(asyncio.Protocol):
    """aiohttp's request handler, behind :class:`Guard`: a connection past the cap is closed before aiohttp sees
    a byte of it."""

    def __init__(self, inner: Any, guard: Guard):
        self.inner, self.guard = inner, guard
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.inner.connection_made(transport)
        if not self.guard.admit(transport):
            transport.abort()

    def connection_lost(self, exc: BaseException | None) -> None:
        self.guard.forget(self.transport)
        self.inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()  # type: ignore[no-any-return]

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


def make_app(node: HealthNode, registry: CollectorRegistry, status: Status, explain: Explain, serving: Serving,
             token: str | None, public: tuple[str, ...] = ("healthz",),
             refresh: Callable[[], Awaitable[None]] | None = None,
             degraded: Callable[[], str | None] | None = None) -> web.Application:
    """The admin application; ``status``/``explain``/``serving`` are the runtime's, ``node`` its health. Once
    bound, :func:`start` sets the names it is reached at (``app[NAMES]``): requests naming another Host are
    refused (DNS rebinding), and reports must be signed for one of them."""
    names: dict[str, frozenset[str] | None] = {"names": None}
    access = Access(token, public)

    @web.middleware
    async def guarded(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                      ) -> web.StreamResponse:
        guard = request.app[GUARD]
        transport = request.transport
        guard.busy(transport)  # the head is in
        try:
            return await handler(request)
        finally:
            if transport is not None and not transport.is_closing():
                guard.arm(transport, guard.head_timeout)  # the next request's head, in time too

    @web.middleware
    async def auth(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                   ) -> web.StreamResponse:
        known = names["names"]
        if known is not None:
            host = admin_name(request.headers.get("Host", ""), 443 if request.secure else 80)
            if host not in known:
                return _json(421, {"error": f"this node is not reached as {request.headers.get('Host', '')[:100]!r}"
                                            f" (known: {', '.join(sorted(known))}; see admin.names)",
                                   "reason": "misdirected"})
        if request.method not in ("GET", "HEAD", "OPTIONS") and not same_origin(request):
            # a browser sends Origin with every POST: one from another site's page (CSRF) is refused, as is a
            # request a browser marks cross-site; probers, curl and gtm's own commands send neither
            return _json(403, {"error": "cross-origin request refused", "reason": "cross_origin"})
        name = request.path.strip("/")
        token = access.token
        if token is not None and name not in access.public:
            given = _bearer(request.headers.get("Authorization", ""))
            if not given and request.path == "/" and request.method == "GET":
                given = request.query.get("token", "")  # the status page, opened from a link
            if not hmac.compare_digest(given.encode(), token.encode()):
                return _json(401, {"error": "missing or wrong bearer token", "reason": "unauthorized"},
                             {"WWW-Authenticate": 'Bearer realm="gtm"'})
        return await handler(request)

    async def reports(request: web.Request) -> web.Response:
        if (request.content_length or 0) > MAX_REPORT_BYTES:  # refused before a byte of it is read
            node.rejected["oversized"] += 1
            return _json(413, {"error": f"report body larger than {MAX_REPORT_BYTES} bytes", "reason": "oversized"})
        try:
            body = await asyncio.wait_for(request.read(), request.app[GUARD].body_timeout)
        except web.HTTPRequestEntityTooLarge:
            node.rejected["oversized"] += 1
            return _json(413, {"error": f"report body larger than {MAX_REPORT_BYTES} bytes", "reason": "oversized"})
        except asyncio.TimeoutError:
            node.rejected["slow_body"] += 1
            return _json(408, {"error": "the body did not arrive in time", "reason": "slow_body"},
                         {"Connection": "close"})
        # Header names are case-insensitive: look the signature up in aiohttp's multidict, pass plain names on.
        headers = {h: request.headers[h] for h in SIGNATURE_HEADERS if h in request.headers}
        code, out = node.receive(headers, body)
        return _json(code, out)

    async def get_status(request: web.Request) -> web.Response:
        return _json(200, status())

    async def get_explain(request: web.Request) -> web.Response:
        def bad(message: str) -> web.Response:
            return _json(400, {"error": message, "reason": "bad_request"})

        name = request.query.get("name", "").strip()
        if not name:
            return bad("query parameter 'name' is required")
        if (problem := name_problem(name)) is not None:
            return bad(f"query parameter 'name' is not a domain name: {problem}")
        client = request.query.get("client", "").strip() or None
        if client is not None and (problem := client_problem(client)) is not None:
            return bad(f"query parameter 'client' must be an IP address or network: {problem}")
        qtype = request.query.get("type", "A").strip()
        if qtype.upper() not in ("A", "AAAA"):
            return bad(f"query parameter 'type' must be A or AAAA (got {qtype[:16]!r})")
        try:
            return _json(200, explain(name, client, qtype))
        except (GtmError, ValueError) as e:
            return bad(str(e))

    async def collect() -> bytes:
        if refresh is not None:  # worker processes: their counts as of now
            await refresh()
        return generate_latest(registry)

    scrapes = Coalesced(collect)

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=await scrapes.get(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(request: web.Request) -> web.Response:
        if not serving():
            return web.Response(text="starting\n", status=503)
        problem = degraded() if degraded is not None else None
        if problem is not None:  # e.g. a worker missing: part of the traffic is not answered as it should be
            return web.Response(text=f"degraded: {problem}\n", status=503)
        return web.Response(text="ok\n")

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=STATUS_PAGE, content_type="text/html", headers=PAGE_HEADERS)

    app = web.Application(middlewares=[guarded, auth], client_max_size=MAX_REPORT_BYTES)
    app[NAMES] = names
    app[GUARD] = Guard()
    app[ACCESS] = access
    app.add_routes([web.post("/v1/reports", reports), web.get("/v1/status", get_status),
                    web.get("/v1/explain", get_explain), web.get("/metrics", metrics), web.get("/healthz", healthz),
                    web.get("/", page)])
    return app


class Running:
    """A started admin API: ``await cleanup()`` stops it (the listening socket, then the connections)."""

    def __init__(self, server: asyncio.AbstractServer, runner: web.AppRunner, tls: ssl.SSLContext | None = None):
        self.server, self.runner, self.tls = server, runner, tls

    def reload_tls(self, settings: AdminSettings) -> None:
        """Load the certificate and key again (a renewed certificate, at a reload): new connections present it.
        GtmError when they cannot be loaded; the ones in use stay. TLS cannot be switched on or off by a reload."""
        if self.tls is None or not (settings.tls_cert and settings.tls_key):
            if bool(self.tls) != bool(settings.tls_cert and settings.tls_key):
                raise GtmError("admin.tls: switching TLS on or off needs a restart")
            return
        try:
            fresh = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            fresh.load_cert_chain(settings.tls_cert, settings.tls_key)  # checked first: a bad pair changes nothing
            self.tls.load_cert_chain(settings.tls_cert, settings.tls_key)
        except (OSError, ssl.SSLError) as e:
            raise GtmError(f"admin TLS: cannot load {settings.tls_cert} / {settings.tls_key}: {e}") from None

    def listening(self) -> socket.socket | None:
        """The listening socket (for the next instance to take over)."""
        sockets = getattr(self.server, "sockets", None) or []
        return socket.socket(fileno=os.dup(sockets[0].fileno())) if sockets else None

    async def cleanup(self) -> None:
        self.server.close()
        await self.runner.cleanup()
        await self.server.wait_closed()


async def start(app: web.Application, settings: AdminSettings, listen: tuple[str, int] | None = None,
                token: str | None = None, node: HealthNode | None = None, sock: socket.socket | None = None
                ) -> tuple["Running", str]:
    """Serve ``app`` on ``listen`` (default ``settings.listen``), with TLS when configured. Refuses to serve
    without a token anywhere but on loopback. Returns the runner (to clean up) and the URL it serves; the names
    it is reached at go to the app (Host check) and to ``node`` (reports' audience). ``sock``: serve this
    listening socket (handed over by the instance this one replaces) instead of binding one."""
    host, port = listen or settings.listen
    if token is None and not ipaddress.ip_address(host).is_loopback:
        raise GtmError(f"admin API on {host}: set admin.token (a bearer token is required off loopback)")
    ctx = None
    if settings.tls_cert and settings.tls_key:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            ctx.load_cert_chain(settings.tls_cert, settings.tls_key)
        except (OSError, ssl.SSLError) as e:
            raise GtmError(f"admin TLS: cannot load {settings.tls_cert} / {settings.tls_key}: {e}") from None
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=30.0)
    await runner.setup()
    assert runner.server is not None
    guard = app.get(GUARD) or Guard()
    app_server = runner.server
    try:
        if sock is not None:  # the listening socket of the instance this one takes over from
            server = await asyncio.get_running_loop().create_server(
                guard.wrap(app_server), sock=sock, ssl=ctx, ssl_handshake_timeout=HANDSHAKE_TIMEOUT if ctx else None)
        else:
            server = await asyncio.get_running_loop().create_server(
                guard.wrap(app_server), host, port, ssl=ctx, reuse_address=True, backlog=128,
                ssl_handshake_timeout=HANDSHAKE_TIMEOUT if ctx else None)
    except OSError:
        await runner.cleanup()
        raise
    running = Running(server, runner, ctx)
    sockets: list[Any] = list(server.sockets or [])
    bound = sockets[0].getsockname()[:2] if sockets else (host, port)
    scheme = "https" if ctx else "http"
    shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    url = f"{scheme}://{shown}:{bound[1]}"
    known = audiences(settings, bound)
    if NAMES in app:  # an app of make_app's
        app[NAMES]["names"] = known
    if node is not None:
        node.set_audiences(known)
    log.info("admin API on %s", url)
    if known is None:
        log.warning("admin API on %s without admin.names: the Host header is not checked and reports are not bound "
                    "to this node (one captured on its way to another node is accepted here)", shown)
    if ctx is None and not ipaddress.ip_address(host.split("%")[0]).is_loopback:
        log.warning("admin API on %s without TLS: the token and reports cross the network in the clear "
                    "(admin.tls)", shown)
    return running, url
