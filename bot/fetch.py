"""Fetch stage: feed bytes from the web or a local file, politely and within bounds.

    for each hop (at most max_redirects, and never the same URL twice):
        refuse a non-public address: an IP literal here,       # NonPublicAddress
        a host name once resolved, at connect time (bot.guard); only the first URL's host
        may be private, and only when the caller allows it (a feed's allow_private)
        wait for one of the host's slots (2 requests in flight per host)
        GET with If-None-Match / If-Modified-Since      # 304 → FetchResult(body=None)
        3xx with Location → next hop                    # 301/308 remembered for the caller
        429 / 503 → RateLimited(retry_after)            # other errors → FetchError
        stream the body, inflating gzip/deflate ourselves, in steps of 64 KB,
        and abandon it once past max_bytes              # ResponseTooLarge
    the whole exchange, slot wait included, ends after total_timeout # FetchError

We inflate the body ourselves because httpx inflates each network read at once: one 64 KB
read of a gzip bomb becomes 64 MB before any cap can look at it. Here memory stays under
max_bytes plus one step. The policy (timeouts, per-host slots, redirects) travels with the
client that `make_http_client` builds, so callers pass one object and hold no global state.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from bot import USER_AGENT
from bot.addresses import ip_literal, normal_host, refusal
from bot.errors import FetchError, NonPublicAddress, RateLimited, ResponseTooLarge
from bot.guard import ALLOW_PRIVATE, GuardedTransport
from bot.models import FetchResult
from bot.politeness import freshness_from_headers

MAX_BODY_BYTES = 5 * 1024 * 1024
MAX_PAGE_BYTES = 2 * 1024 * 1024
TOTAL_TIMEOUT = 60.0
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 20.0
PER_HOST = 2
MAX_REDIRECTS = 5
INFLATE_STEP = 64 * 1024  # the most one inflate call may produce: the cap's overshoot
DISCARD_BYTES = 64 * 1024  # an unwanted body smaller than this is read to keep the connection
_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
# Only what _Inflater decodes: a server must not pick brotli or zstd for us.
_ACCEPT_ENCODING = "gzip, deflate"
_PERMANENT = (301, 308)
_RATE_LIMITED = (429, 503)


class HostLimiter:
    """At most `per_host` requests in flight to one host; the rest wait their turn.

    One per client, so nothing is shared between event loops or tests.
    """

    def __init__(self, per_host: int = PER_HOST) -> None:
        if per_host < 1:
            raise ValueError(f"per_host must be at least 1, not {per_host}")
        self.per_host = per_host
        self._slots: dict[str, asyncio.Semaphore] = {}

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        """Hold one of the host's slots for the duration of the block."""
        key = host.lower()
        semaphore = self._slots.get(key)
        if semaphore is None:
            semaphore = self._slots[key] = asyncio.Semaphore(self.per_host)
        async with semaphore:
            yield


class FeedClient(httpx.AsyncClient):
    """An httpx client that also carries the fetch policy: total timeout, per-host slots and
    the redirect limit. Build it with `make_http_client`."""

    def __init__(
        self, *, total_timeout: float, per_host: int, max_redirects: int, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.total_timeout = total_timeout
        self.limiter = HostLimiter(per_host)
        self.redirect_limit = max_redirects


def make_http_client(
    *,
    connect_timeout: float = CONNECT_TIMEOUT,
    read_timeout: float = READ_TIMEOUT,
    total_timeout: float = TOTAL_TIMEOUT,
    per_host: int = PER_HOST,
    max_redirects: int = MAX_REDIRECTS,
    proxy: str | None = None,
) -> FeedClient:
    """The one HTTP client for feeds: identifies itself, bounded in time and per host, and
    connects to public addresses only (unless a request allows its host to be private)."""
    return FeedClient(
        transport=GuardedTransport(proxy=proxy),  # FEEDS_PROXY, if set
        total_timeout=total_timeout,
        per_host=per_host,
        max_redirects=max_redirects,
        headers={"User-Agent": USER_AGENT, "Accept": _ACCEPT},
        timeout=httpx.Timeout(
            connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout
        ),
    )


def is_remote(url: str) -> bool:
    return urlsplit(url).scheme in ("http", "https")


async def fetch_feed(
    client: httpx.AsyncClient,
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    max_bytes: int = MAX_BODY_BYTES,
    total_timeout: float | None = None,
    allow_private: bool = False,
) -> FetchResult:
    """Fetch one feed; raises FetchError (ResponseTooLarge, RateLimited, NonPublicAddress).

    total_timeout: None takes the client's (`make_http_client`), else TOTAL_TIMEOUT.
    allow_private: the host of `url` may be a loopback or private address; any other host
    a redirect leads to must still be public.
    """
    if not is_remote(url):
        return await asyncio.to_thread(_read_local, url, max_bytes)
    headers = {"Accept-Encoding": _ACCEPT_ENCODING}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    limit = _total_timeout(client, total_timeout)
    try:
        async with asyncio.timeout(limit):
            request = client.build_request("GET", url, headers=headers)
            private_host = normal_host(request.url.host) if allow_private else None
            return await _follow(client, request, max_bytes, private_host)
    except TimeoutError:
        raise FetchError(f"timed out after {limit:g}s") from None
    except httpx.TimeoutException as exc:
        raise FetchError(f"timed out ({type(exc).__name__})") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"{type(exc).__name__}: {exc}") from None


async def fetch_page(
    client: httpx.AsyncClient,
    url: str,
    *,
    max_bytes: int = MAX_PAGE_BYTES,
    total_timeout: float | None = None,
    allow_private: bool = False,
) -> FetchResult:
    """Fetch an article's web page (one GET, same bounds as feeds); FetchError otherwise."""
    result = await fetch_feed(
        client, url, max_bytes=max_bytes, total_timeout=total_timeout, allow_private=allow_private
    )
    if "html" not in result.content_type.lower():
        raise FetchError(f"not an HTML page ({result.content_type})")
    return result


def etag_of(response: httpx.Response) -> str | None:
    etag: str | None = response.headers.get("ETag")
    return etag


def _total_timeout(client: httpx.AsyncClient, given: float | None) -> float:
    if given is not None:
        return given
    return client.total_timeout if isinstance(client, FeedClient) else TOTAL_TIMEOUT


async def _follow(
    client: httpx.AsyncClient, request: httpx.Request, max_bytes: int, private_host: str | None
) -> FetchResult:
    """Send `request`, following redirects by hand: each hop is checked for a public
    address and takes its own host's slot, a loop is named as one, and the permanent hops
    are remembered. Only `private_host` (if any) may be at a private address."""
    feed_client = client if isinstance(client, FeedClient) else None
    # A client not made by make_http_client brings no policy: defaults, no shared slots.
    limiter = feed_client.limiter if feed_client else HostLimiter()
    max_redirects = feed_client.redirect_limit if feed_client else MAX_REDIRECTS
    hops: list[tuple[int, str]] = []  # (status, target) of each redirect followed
    seen = [str(request.url)]
    while True:
        _guard(request, private_host)
        async with limiter.slot(request.url.host):
            response = await client.send(request, stream=True, follow_redirects=False)
            try:
                if response.next_request is None:
                    return await _result(response, max_bytes, _permanent_target(hops))
                request = response.next_request
                await _discard(response)
            finally:
                await response.aclose()
        target = str(request.url)
        if target in seen:
            raise FetchError("redirect loop: " + " → ".join([*seen[seen.index(target) :], target]))
        if len(hops) >= max_redirects:
            raise FetchError(f"too many redirects (more than {max_redirects})")
        hops.append((response.status_code, target))
        seen.append(target)


def _guard(request: httpx.Request, private_host: str | None) -> None:
    """Mark whether this hop's host may be private; refuse a private IP literal at once.

    A host name is checked when connecting (bot.guard), after it is resolved; a literal
    is refused here too so that no connection is even tried, whatever the client.
    """
    allowed = private_host is not None and normal_host(request.url.host) == private_host
    request.extensions[ALLOW_PRIVATE] = allowed
    address = ip_literal(request.url.host)
    if address is not None and not allowed:
        reason = refusal(str(address))
        if reason is not None:
            raise NonPublicAddress(str(address), reason)


async def _discard(response: httpx.Response) -> None:
    """Read an unwanted body (304, redirect, error) to its end, so the connection can carry
    the next request; past DISCARD_BYTES, aclose() drops the connection instead."""
    size = 0
    async for raw in response.aiter_raw():
        size += len(raw)
        if size > DISCARD_BYTES:
            return


def _permanent_target(hops: list[tuple[int, str]]) -> str | None:
    # Only a run of permanent hops from the feed URL moves the feed: after 302 → 301 the
    # configured URL is still the one to ask, so nothing is remembered.
    target = None
    for status, url in hops:
        if status not in _PERMANENT:
            break
        target = url
    return target


async def _result(
    response: httpx.Response, max_bytes: int, permanent_redirect: str | None
) -> FetchResult:
    status = response.status_code
    if status != 304 and not 200 <= status < 300:
        await _discard(response)
        raise _status_error(response)
    hints = freshness_from_headers(response.headers, datetime.now(UTC))
    if status == 304:
        await _discard(response)
    body = None if status == 304 else await _read_body(response, max_bytes)
    return FetchResult(
        url=str(response.url),
        body=body,
        etag=etag_of(response),
        last_modified=response.headers.get("Last-Modified"),
        content_type=response.headers.get("Content-Type", "application/xml"),
        status=status,
        cache_max_age=hints.cache_max_age,
        expires=hints.expires,
        retry_after=hints.retry_after,
        permanent_redirect=permanent_redirect,
    )


def _status_error(response: httpx.Response) -> FetchError:
    message = f"HTTP {response.status_code} {response.reason_phrase}".strip()
    if response.status_code not in _RATE_LIMITED:
        return FetchError(message)
    retry = freshness_from_headers(response.headers, datetime.now(UTC)).retry_after
    if retry is None and response.status_code == 503:
        return FetchError(message)  # plain downtime: the caller's backoff is enough
    suffix = f" (retry after {retry:g}s)" if retry is not None else ""
    return RateLimited(message + suffix, retry)


async def _read_body(response: httpx.Response, max_bytes: int) -> bytes:
    """The body, inflated, or ResponseTooLarge as soon as it passes `max_bytes`."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise ResponseTooLarge(f"body of {int(declared)} bytes is over the {max_bytes} cap")
    inflater = _Inflater.for_encoding(response.headers.get("Content-Encoding", ""))
    chunks: list[bytes] = []
    size = 0
    async for raw in response.aiter_raw():
        for piece in inflater.feed(raw):
            size += len(piece)
            if size > max_bytes:
                raise ResponseTooLarge(f"body is over the {max_bytes}-byte cap")
            chunks.append(piece)
    return b"".join(chunks)


class _Inflater:
    """gzip / deflate decoding that never produces more than INFLATE_STEP bytes at once."""

    def __init__(self, wbits: int | None) -> None:
        self._wbits = wbits  # None: identity, the bytes pass through
        self._zlib: zlib._Decompress | None = None

    @classmethod
    def for_encoding(cls, header: str) -> _Inflater:
        codings = [c.strip().lower() for c in header.split(",")]
        codings = [c for c in codings if c and c != "identity"]
        if not codings:
            return cls(None)
        if codings in (["gzip"], ["x-gzip"]):
            return cls(zlib.MAX_WBITS | 16)
        if codings == ["deflate"]:
            return cls(zlib.MAX_WBITS)
        raise FetchError(f"unsupported Content-Encoding: {header}")

    def feed(self, data: bytes) -> Iterator[bytes]:
        """The decoded bytes of the next piece of the body, in steps of INFLATE_STEP."""
        if self._wbits is None:
            yield data
            return
        try:
            yield from self._inflate(data)
        except zlib.error as exc:
            raise FetchError(f"cannot decode the compressed body: {exc}") from None

    def _inflate(self, data: bytes) -> Iterator[bytes]:
        if self._zlib is None:
            if not data:
                return
            self._zlib = zlib.decompressobj(self._window(data))
        inflater = self._zlib
        while not inflater.eof:
            out = inflater.decompress(data, INFLATE_STEP)
            if out:
                yield out
            data = inflater.unconsumed_tail
            # A full step may leave output inside zlib with no input left: ask once more.
            if not data and len(out) < INFLATE_STEP:
                return
        # Bytes after the end of the stream (padding, a second gzip member) are ignored,
        # as httpx does.

    def _window(self, first: bytes) -> int:
        # "deflate" should be zlib-wrapped (RFC 9110 §8.4.1.2), but some servers send raw
        # deflate; a zlib header has CM=8 and a checksum that is a multiple of 31.
        assert self._wbits is not None
        zlib_header = (
            len(first) >= 2 and first[0] & 0x0F == 8 and (first[0] << 8 | first[1]) % 31 == 0
        )
        if self._wbits == zlib.MAX_WBITS and not zlib_header:
            return -zlib.MAX_WBITS
        return self._wbits


def _read_local(path: str, max_bytes: int) -> FetchResult:
    file = Path(path)
    try:
        with file.open("rb") as handle:
            body = handle.read(max_bytes + 1)
    except OSError as exc:
        raise FetchError(f"cannot read {path}: {exc.strerror}") from None
    if len(body) > max_bytes:
        raise ResponseTooLarge(f"file is over the {max_bytes}-byte cap")
    return FetchResult(url=file.resolve().as_uri(), body=body)
