"""Fetch stage: feed bytes from the web or a local file, politely and within bounds.

Conditional GET (ETag / Last-Modified) so unchanged feeds cost the publisher a 304; connect,
read and total timeouts; a cap on the body, counted after decompression so a gzip bomb is
abandoned at the cap rather than inflated into memory.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from bot import USER_AGENT
from bot.errors import FetchError, ResponseTooLarge
from bot.models import FetchResult

MAX_BODY_BYTES = 5 * 1024 * 1024
MAX_PAGE_BYTES = 2 * 1024 * 1024
TOTAL_TIMEOUT = 60.0
_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)


def make_http_client() -> httpx.AsyncClient:
    """The one HTTP client for feeds: identifies itself, follows a few redirects."""
    return httpx.AsyncClient(
        headers={"User-Agent": USER_AGENT, "Accept": _ACCEPT},
        timeout=httpx.Timeout(connect=10.0, read=20.0, write=10.0, pool=10.0),
        follow_redirects=True,
        max_redirects=5,
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
) -> FetchResult:
    """Fetch one feed; raises FetchError (or ResponseTooLarge) with a reason for humans."""
    if not is_remote(url):
        return await asyncio.to_thread(_read_local, url, max_bytes)
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        async with asyncio.timeout(TOTAL_TIMEOUT):
            return await _get(client, url, headers, max_bytes)
    except TimeoutError:
        raise FetchError(f"timed out after {TOTAL_TIMEOUT:.0f}s") from None
    except httpx.TimeoutException as exc:
        raise FetchError(f"timed out ({type(exc).__name__})") from None
    except httpx.TooManyRedirects:
        raise FetchError("too many redirects") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"{type(exc).__name__}: {exc}") from None


async def _get(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], max_bytes: int
) -> FetchResult:
    async with client.stream("GET", url, headers=headers) as response:
        if response.status_code == 304:
            return FetchResult(url=str(response.url), body=None, etag=etag_of(response))
        if response.status_code >= 400:
            raise FetchError(f"HTTP {response.status_code} {response.reason_phrase}".strip())
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise ResponseTooLarge(f"body of {int(declared)} bytes is over the {max_bytes} cap")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():  # decoded: the cap counts inflated bytes
            size += len(chunk)
            if size > max_bytes:
                raise ResponseTooLarge(f"body is over the {max_bytes}-byte cap")
            chunks.append(chunk)
        return FetchResult(
            url=str(response.url),
            body=b"".join(chunks),
            etag=etag_of(response),
            last_modified=response.headers.get("Last-Modified"),
            content_type=response.headers.get("Content-Type", "application/xml"),
        )


async def fetch_page(
    client: httpx.AsyncClient, url: str, *, max_bytes: int = MAX_PAGE_BYTES
) -> FetchResult:
    """Fetch an article's web page (one GET, same bounds as feeds); FetchError otherwise."""
    result = await fetch_feed(client, url, max_bytes=max_bytes)
    if "html" not in result.content_type.lower():
        raise FetchError(f"not an HTML page ({result.content_type})")
    return result


def etag_of(response: httpx.Response) -> str | None:
    etag: str | None = response.headers.get("ETag")
    return etag


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
