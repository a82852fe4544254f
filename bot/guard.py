"""The connection half of fetching: every socket a feed or page fetch opens goes to a
public address, unless the request says its host may be private.

Why here, at connect time: checking a URL's host name before the request, then letting the
HTTP library resolve it again, leaves a gap (DNS rebinding: the second answer may be
127.0.0.1). So the guard resolves the name once, refuses it when any answer is not public
(bot.addresses.refusal), and connects to the checked address itself. TLS then runs over
that socket with the URL's host name for SNI and certificate checks, because httpcore
passes the origin's host to `start_tls`, not the address we connected to.

How: httpcore's connection pool takes a network backend (`AsyncConnectionPool(
network_backend=…)`, public API), but httpx's `AsyncHTTPTransport` does not let one be
passed in; replacing its private `_pool` would break silently on an httpx upgrade. So
`GuardedTransport` is a small httpx transport of our own over two httpcore pools: the
guarded one, and an unguarded one for requests whose host a feed's config allows to be
private. Two pools because a kept-alive connection to an allowed private host must never
carry a request that is not allowed. A custom transport also means httpx reads no
HTTP(S)_PROXY variables: through a proxy, the address checked would be the proxy's.

With FEEDS_PROXY set, the guarded requests go through that proxy instead (a third pool).
The socket then goes to the proxy, so the connect-time check cannot see the final host:
the host is resolved and checked here before each request instead, which leaves the
rebinding gap above open (the proxy resolves the name again). Requests whose host may be
private never use the proxy: an intranet feed is not behind it.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

from bot.addresses import refusal
from bot.errors import NonPublicAddress

ALLOW_PRIVATE = "bantin.allow_private"  # request extension: True lets this host be private

# httpcore's exceptions as the httpx ones callers catch; httpx keeps its own mapping private.
_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextmanager
def _as_httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for core, mapped in _ERRORS:
            if isinstance(exc, core):
                raise mapped(str(exc)) from exc
        raise


class PublicOnlyBackend(httpcore.AsyncNetworkBackend):
    """Resolves the host itself and connects only to addresses that are all public."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await _resolve(host, port, timeout)
        # Every answer is checked, not just the first: a name answering both a public and a
        # private address could be tried on the private one by a retry.
        _refuse_private(host, addresses)
        error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None  # _resolve never returns an empty list
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise NonPublicAddress(path, "a local socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _refuse_private(host: str, addresses: list[str]) -> None:
    for address in addresses:
        reason = refusal(address)
        if reason is not None:
            raise NonPublicAddress(address, reason, host)


async def _resolve(host: str, port: int, timeout: float | None) -> list[str]:  # noqa: ASYNC109
    """The host's addresses, in the resolver's order, without repeats."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except TimeoutError:
        raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
    except OSError as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise httpcore.ConnectError(f"cannot resolve {host}: no addresses")
    return addresses


class _Body(httpx.AsyncByteStream):
    """A response body whose read errors come out as httpx errors."""

    def __init__(self, response: httpcore.Response) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors():
            async for part in self._response.aiter_stream():
                yield part

    async def aclose(self) -> None:
        with _as_httpx_errors():
            await self._response.aclose()


class GuardedTransport(httpx.AsyncBaseTransport):
    """httpx transport over two httpcore pools; see the module docstring for why."""

    def __init__(self, limits: httpx.Limits | None = None, proxy: str | None = None) -> None:
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
        options = {
            "ssl_context": httpx.create_ssl_context(),
            "max_connections": limits.max_connections,
            "max_keepalive_connections": limits.max_keepalive_connections,
            "keepalive_expiry": limits.keepalive_expiry,
        }
        self._public = httpcore.AsyncConnectionPool(
            network_backend=PublicOnlyBackend(),
            **options,  # type: ignore[arg-type]
        )
        self._private = httpcore.AsyncConnectionPool(**options)  # type: ignore[arg-type]
        self._proxied: httpcore.AsyncConnectionPool | None = None
        if proxy:
            self._proxied = _proxy_pool(httpx.Proxy(proxy), options)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        extensions = dict(request.extensions)
        pool = self._private if extensions.pop(ALLOW_PRIVATE, False) else self._public
        if pool is self._public and self._proxied is not None:
            host, port = request.url.host, request.url.port or 443
            timeout = request.extensions.get("timeout", {}).get("connect")
            with _as_httpx_errors():
                _refuse_private(host, await _resolve(host, port, timeout))
            pool = self._proxied
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=extensions,
        )
        with _as_httpx_errors():
            response = await pool.handle_async_request(core_request)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Body(response),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._public.aclose()
        await self._private.aclose()
        if self._proxied is not None:
            await self._proxied.aclose()


def _proxy_pool(proxy: httpx.Proxy, options: dict[str, Any]) -> httpcore.AsyncConnectionPool:
    """httpcore's pool for an http(s) or socks5 proxy, as httpx builds it."""
    url = httpcore.URL(
        scheme=proxy.url.raw_scheme,
        host=proxy.url.raw_host,
        port=proxy.url.port,
        target=proxy.url.raw_path,
    )
    if proxy.url.scheme == "socks5":
        return httpcore.AsyncSOCKSProxy(proxy_url=url, proxy_auth=proxy.raw_auth, **options)
    return httpcore.AsyncHTTPProxy(
        proxy_url=url,
        proxy_auth=proxy.raw_auth,
        proxy_headers=proxy.headers.raw,
        **options,
    )
