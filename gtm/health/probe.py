"""One probe of one endpoint: HTTP, HTTPS or TCP, bounded by the monitor's timeout, never raising for the network.

``probe()`` turns one check into an :class:`~gtm.model.health.Observation`:

* **http / https**: ``GET {scheme}://ADDRESS:PORT/PATH`` (IPv6 in brackets), ``Host: monitor.host`` when set; for
  https the TLS SNI is ``monitor.host`` too and the certificate is verified (against ``monitor.host``, else the
  address) unless ``monitor.tls_verify`` is false. Redirects are not followed (a 301 is judged as a 301). ``ok``
  when the status is in ``monitor.expect`` and, if ``monitor.body`` is set, that regular expression matches the
  first 64 KiB of the body (decoded as UTF-8, bad bytes replaced).
* **tcp**: ``ok`` when the connection is accepted; it is closed at once without sending anything.

RTT (``rtt_ms``, milliseconds, measured with ``time.perf_counter``): from the start of the connect to the end of
the response headers, i.e. connect (+ TLS handshake) + time to first byte; for tcp the connect time alone. It is
``None`` when nothing was measured (timeout, refused, TLS failure). ``detail`` is the HTTP status when ok, else a
short reason: ``"status 503"``, ``"body mismatch"``, ``"timeout"``, ``"refused"``, ``"tls: <reason>"``, ...
"""
from __future__ import annotations

import asyncio
import errno
import ipaddress
import re
import ssl
import time
from contextlib import suppress
from typing import Callable

import aiohttp

from gtm.model.health import Observation
from gtm.model.traffic import Monitor, MonitorType

MAX_BODY = 64 * 1024   # bytes of the body a body regex is matched against; more is never read
MAX_DETAIL = 120       # characters of a detail (a report carries one per observation)

_ERRNO_DETAIL = {errno.ECONNREFUSED: "refused", errno.ECONNRESET: "reset", errno.EHOSTUNREACH: "unreachable",
                 errno.ENETUNREACH: "unreachable", errno.ETIMEDOUT: "timeout", errno.EADDRNOTAVAIL: "unreachable"}


def url_host(address: str) -> str:
    """The host part of a URL for an IP address: IPv6 in brackets (RFC 3986 section 3.2.2), IPv4 as is."""
    try:
        is_v6 = ipaddress.ip_address(address).version == 6
    except ValueError:  # not an IP literal (the model holds addresses, but be lenient): use as given
        is_v6 = ":" in address
    return f"[{address}]" if is_v6 else address


async def probe(session: aiohttp.ClientSession, monitor: Monitor, region: str, address: str,
                ssl_ctx: ssl.SSLContext | None = None, *,
                timer: Callable[[], float] = time.perf_counter, user_agent: str = "gtm-prober",
                host: str | None = None) -> Observation:
    """Check ``address`` as ``monitor`` says, within ``monitor.timeout`` seconds; never raises for network errors.
    ``host``: the Host header and TLS SNI (and the name the certificate is verified for) instead of the
    monitor's own (a hostname endpoint's address is probed as its name).

    ``session`` should not reuse connections (``TCPConnector(force_close=True)``) so that every probe measures a
    fresh connect; it is not used for tcp monitors. ``ssl_ctx`` is the context that verifies https endpoints when
    ``monitor.tls_verify`` is on (None: the system's trust store); with ``tls_verify: false`` nothing is verified.
    ``timer`` is a monotonic clock in seconds (injectable for tests). Cancellation propagates.
    """
    if monitor.type is MonitorType.TCP:
        ok, rtt, detail = await _tcp(monitor, address, timer)
    else:
        ok, rtt, detail = await _http(session, monitor, address, ssl_ctx, timer, user_agent, host or monitor.host)
    return Observation(monitor.name, region, address, ok, None if rtt is None else round(rtt * 1000.0, 3),
                       detail[:MAX_DETAIL])


async def _tcp(monitor: Monitor, address: str, timer: Callable[[], float]) -> tuple[bool, float | None, str]:
    start = timer()
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(monitor.timeout):
            _, writer = await asyncio.open_connection(address, monitor.port)
        rtt = timer() - start
        return True, rtt, "connected"
    except TimeoutError:
        return False, None, "timeout"
    except OSError as e:
        return False, None, describe_os_error(e)
    finally:
        if writer is not None:
            writer.close()
            # A FIN rather than a reset, but never wait long for it: the verdict is already made.
            with suppress(Exception):
                async with asyncio.timeout(min(monitor.timeout, 1.0)):
                    await writer.wait_closed()


async def _http(session: aiohttp.ClientSession, monitor: Monitor, address: str, ssl_ctx: ssl.SSLContext | None,
                timer: Callable[[], float], user_agent: str = "gtm-prober",
                host: str | None = None) -> tuple[bool, float | None, str]:
    https = monitor.type is MonitorType.HTTPS
    url = f"{'https' if https else 'http'}://{url_host(address)}:{monitor.port}{monitor.path}"
    headers = {"User-Agent": user_agent}
    if host:
        headers["Host"] = host
    # ssl=False still does TLS, without verification; server_hostname sets the SNI (and the name verified).
    tls: ssl.SSLContext | bool = (ssl_ctx or True) if monitor.tls_verify else False
    rtt: float | None = None
    start = timer()
    try:
        async with asyncio.timeout(monitor.timeout):
            async with session.get(url, headers=headers, allow_redirects=False,
                                   ssl=tls if https else True,
                                   server_hostname=host if https and host else None,
                                   timeout=aiohttp.ClientTimeout(total=monitor.timeout)) as resp:
                rtt = timer() - start  # headers parsed: connect + handshake + time to first byte
                if resp.status not in monitor.expect:
                    return False, rtt, f"status {resp.status}"
                if monitor.body is not None:
                    body = await _read_at_most(resp, MAX_BODY)
                    try:
                        matched = re.search(monitor.body, body.decode("utf-8", errors="replace")) is not None
                    except re.error:  # the loader validates it; a bad pattern is a failed check, not a crash
                        return False, rtt, "bad body regex"
                    if not matched:
                        return False, rtt, "body mismatch"
                return True, rtt, str(resp.status)
    except TimeoutError:  # asyncio's and aiohttp's (ServerTimeoutError subclasses it)
        return False, rtt, "timeout"
    except aiohttp.ClientConnectorCertificateError as e:
        return False, None, "tls: " + _cert_reason(e.certificate_error)
    except aiohttp.ClientConnectorSSLError as e:
        return False, None, "tls: " + _ssl_reason(e.os_error if isinstance(e.os_error, ssl.SSLError) else e)
    except ssl.SSLError as e:  # e.g. raised while reading a TLS stream
        return False, rtt, "tls: " + _ssl_reason(e)
    except aiohttp.ClientConnectorError as e:
        return False, None, describe_os_error(e.os_error)
    except aiohttp.ServerDisconnectedError:
        return False, rtt, "disconnected"
    except aiohttp.ClientPayloadError:
        return False, rtt, "bad body"
    except aiohttp.ClientResponseError as e:  # not HTTP, bad headers
        return False, rtt, f"bad response: {e.message}" if e.message else "bad response"
    except aiohttp.ClientOSError as e:
        return False, rtt, describe_os_error(e)
    except aiohttp.ClientError as e:
        return False, rtt, f"error: {type(e).__name__}"
    except OSError as e:
        return False, rtt, describe_os_error(e)


async def _read_at_most(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """Up to ``limit`` bytes of the body (a huge or endless body is cut, not buffered)."""
    chunks: list[bytes] = []
    total = 0
    while total < limit:
        chunk = await resp.content.read(limit - total)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def describe_os_error(e: OSError) -> str:
    """A short reason for a socket error: "refused", "reset", "unreachable", "timeout" or "connect: <strerror>"."""
    if e.errno in _ERRNO_DETAIL:
        return _ERRNO_DETAIL[e.errno]
    if isinstance(e, ConnectionRefusedError):
        return "refused"
    return f"connect: {e.strerror or type(e).__name__}".lower()


def _cert_reason(e: Exception) -> str:
    if isinstance(e, ssl.SSLCertVerificationError) and e.verify_message:
        return e.verify_message.lower().rstrip(".")
    return _ssl_reason(e)


def _ssl_reason(e: BaseException) -> str:
    reason = getattr(e, "reason", None)
    if isinstance(reason, str) and reason:
        return reason.lower().replace("_", " ")
    return (str(e) or type(e).__name__).splitlines()[0][:80]
