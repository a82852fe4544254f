"""Feeds that misbehave, one way per test, each next to a good feed in the same poll_all batch.

Every case is served over loopback by tests/feedserver.py, bounded in time (short client
timeouts, and a deadline around the batch) and, where a body could be huge, in memory
(tracemalloc). The good feed must come through each batch untouched.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import tracemalloc
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from conftest import FEEDS, settings_for
from feedserver import (
    Exchange,
    FeedItem,
    FeedServer,
    drip,
    gzip_bomb,
    never_answer,
    render_feed,
    streamed,
)

from bot.errors import FetchError, ParseError, ResponseTooLarge
from bot.fetch import FeedClient, RateLimited, fetch_feed, make_http_client
from bot.models import PollOutcome, PollResult
from bot.parse import parse_feed_document, repair_utf8, to_utf8
from bot.pipeline import poll_all
from bot.storage import Storage

DEADLINE = 10.0  # no batch here may take longer, whatever the bad feed does
GOOD = "/good.rss"
NOW = datetime.now(UTC).replace(microsecond=0)
MB = 1024 * 1024


def items(count: int, topic: str = "Hà Nội") -> list[FeedItem]:
    return [
        {"title": f"{topic}: tin số {i} về giao thông và thời tiết",
         "link": f"https://example.vn/{topic.replace(' ', '-')}/{i}.html",
         "description": f"<p>Sáng nay, {topic} đón đợt không khí lạnh thứ {i}.</p>",
         "pub_date": NOW - timedelta(minutes=i)}
        for i in range(count)
    ]  # fmt: skip


def client(*, read_timeout: float = 1.0) -> FeedClient:
    """Short timeouts, so a hanging server costs a test two seconds, not a minute."""
    return make_http_client(connect_timeout=1.0, read_timeout=read_timeout, total_timeout=2.0)


async def poll_batch(
    tmp_path: Path, storage: Storage, server: FeedServer, bad_path: str, read_timeout: float = 1.0
) -> PollResult:
    """Poll the bad feed and the good one together; check the good one, return the bad."""
    server.add(GOOD, render_feed(items(5)))
    feeds = {"bad": bad_path, "good": GOOD}
    tables = "".join(
        f'[[feeds]]\nid = "{i}"\nname = "{i}"\nurl = "{server.url(p)}"\nfetch_pages = false\n'
        "allow_private = true\n"
        for i, p in feeds.items()
    )
    settings = settings_for(tmp_path, tables)
    await storage.sync_feeds((f.id, f.url) for f in settings.feeds)
    async with asyncio.timeout(DEADLINE), client(read_timeout=read_timeout) as http:
        results = {r.feed_id: r for r in await poll_all(settings.feeds, storage, http)}
    good = results["good"]
    assert (good.outcome, good.new_articles, good.entries, good.error) == (
        PollOutcome.NEW,
        5,
        5,
        None,
    )
    assert good.next_check_reason == "interval"  # the good feed keeps its own schedule
    return results["bad"]


async def bad_titles(storage: Storage) -> list[str]:
    return [a.title for a in await storage.latest(50, feed_ids=["bad"])]


# -- the network misbehaves --------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    """A server that fails one way, and the error the bad feed must end with."""

    name: str
    install: Callable[[FeedServer], None]  # serves the bad feed at /bad
    error: str  # a substring of the stored last_error
    read_timeout: float = 1.0


def _redirect(server: FeedServer, path: str, to: str, status: int = 302) -> None:
    server.add(path, b"", status=status, headers={"Location": to}, etag=None, last_modified=None)


def _redirect_loop(server: FeedServer) -> None:
    _redirect(server, "/bad", "/bad2")
    _redirect(server, "/bad2", "/bad")


def _endless_redirects(server: FeedServer) -> None:
    _redirect(server, "/bad", "/bad1")
    for i in range(1, 10):
        _redirect(server, f"/bad{i}", f"/bad{i + 1}")


def _big_body() -> Iterator[bytes]:
    # 50 MB, sent chunked from one shared 64 KB block: the server never holds more.
    head = b'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title>'
    yield head
    yield from itertools.repeat(_BLOCK, 50 * MB // len(_BLOCK))


_GZIP = {"Content-Encoding": "gzip"}
_HTML = "<!doctype html><html><body><p>Trang chủ</p><p>Tin mới".encode()
_BLOCK = b"<!--" + b"x" * (64 * 1024 - 7) + b"-->"
# A gzip header, then a deflate block of the reserved type 3, which no inflater accepts.
_CORRUPT_GZIP = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\x07" + b"garbage" * 10

FAILURES = [
    Failure("never answers", lambda s: s.add_handler("/bad", never_answer), "timed out"),
    # A read timeout longer than the drip interval: only the total timeout can stop it.
    Failure("drips a byte a second", lambda s: s.add_handler("/bad", drip(render_feed(items(3)))),
            "timed out after 2s", read_timeout=5.0),
    Failure("500", lambda s: s.add("/bad", b"oops", status=500),
            "FetchError: HTTP 500 Internal Server Error"),
    Failure("404", lambda s: None, "FetchError: HTTP 404 Not Found"),
    Failure("429 with Retry-After",
            lambda s: s.add("/bad", b"", status=429, headers={"Retry-After": "120"}),
            "RateLimited: HTTP 429 Too Many Requests (retry after 120s)"),
    Failure("503 with Retry-After",
            lambda s: s.add("/bad", b"", status=503, headers={"Retry-After": "30"}),
            "RateLimited: HTTP 503 Service Unavailable (retry after 30s)"),
    Failure("redirect loop", _redirect_loop, "redirect loop: "),
    Failure("redirects to itself", lambda s: _redirect(s, "/bad", "/bad?again", 301),
            "redirect loop: "),
    Failure("endless redirects", _endless_redirects,
            "too many redirects (more than 5)"),
    Failure("50 MB body", lambda s: s.add_handler("/bad", streamed(_big_body)),
            "ResponseTooLarge: body is over the 5242880-byte cap"),
    Failure("1 GB gzip bomb",
            lambda s: s.add_handler("/bad", streamed(gzip_bomb, headers=_GZIP)),
            "ResponseTooLarge: body is over the 5242880-byte cap"),
    Failure("corrupt gzip",
            lambda s: s.add("/bad", _CORRUPT_GZIP, headers={"Content-Encoding": "gzip"}),
            "cannot decode the compressed body"),
    Failure("brotli we did not ask for",
            lambda s: s.add("/bad", b"...", headers={"Content-Encoding": "br"}),
            "unsupported Content-Encoding: br"),
    Failure("HTML page", lambda s: s.add("/bad", _HTML, content_type="text/html; charset=utf-8"),
            "ParseError: not a feed: an HTML page"),
    Failure("home page at the feed URL", lambda s: s.add("/bad", _HTML),
            "ParseError: not a feed: an HTML page (application/rss+xml)"),
    Failure("empty body", lambda s: s.add("/bad", b""), "ParseError: empty response body"),
    Failure("JSON", lambda s: s.add("/bad", b'{"items": []}', content_type="application/json"),
            "ParseError: not a feed"),
    Failure("truncated before any entry", lambda s: s.add("/bad", render_feed(items(3))[:200]),
            "ParseError: truncated or malformed"),
]  # fmt: skip


@pytest.mark.parametrize("case", FAILURES, ids=lambda c: c.name)
async def test_failure_stays_with_its_feed(
    case: Failure, tmp_path: Path, feed_server: FeedServer, storage: Storage
) -> None:
    case.install(feed_server)
    bad = await poll_batch(tmp_path, storage, feed_server, "/bad", case.read_timeout)
    assert bad.outcome is PollOutcome.ERROR
    assert case.error in (bad.error or ""), bad.error
    state = (await storage.feed_states())["bad"]
    assert state.last_error == bad.error and state.consecutive_failures == 1


async def test_retry_after_reaches_the_caller(feed_server: FeedServer) -> None:
    feed_server.add("/s", b"", status=429, headers={"Retry-After": "120"})
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    feed_server.add("/d", b"", status=503, headers={"Retry-After": later, "Date": "bogus"})
    feed_server.add("/plain503", b"", status=503)
    async with client() as http:
        with pytest.raises(RateLimited) as seconds:
            await fetch_feed(http, feed_server.url("/s"), allow_private=True)
        with pytest.raises(RateLimited) as date:
            await fetch_feed(http, feed_server.url("/d"), allow_private=True)
        with pytest.raises(FetchError) as plain:
            await fetch_feed(http, feed_server.url("/plain503"), allow_private=True)
    assert seconds.value.retry_after == 120.0
    assert date.value.retry_after is not None and 85 <= date.value.retry_after <= 91
    assert type(plain.value) is FetchError  # downtime without a hint: ordinary backoff


# -- memory stays bounded ----------------------------------------------------------------------


async def peak_memory_of_fetch(server: FeedServer, path: str, cap: int) -> int:
    """Peak traced memory (this process: client and server) while fetching past `cap`."""
    async with client() as http:
        server.add("/warm", render_feed(items(1)))
        # Warm up the connection pool, imports and caches.
        await fetch_feed(http, server.url("/warm"), allow_private=True)
        tracemalloc.start()
        try:
            with pytest.raises(ResponseTooLarge):
                await fetch_feed(http, server.url(path), max_bytes=cap, allow_private=True)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()


async def test_gzip_bomb_is_never_inflated_past_the_cap(feed_server: FeedServer) -> None:
    feed_server.add_handler("/bomb", streamed(gzip_bomb, headers=_GZIP))
    next(gzip_bomb())  # the server builds its cached blocks now, not while we measure
    cap = 2 * MB
    peak = await peak_memory_of_fetch(feed_server, "/bomb", cap)
    # httpx's own decoder inflates each 64 KB read at once: 64 MB here, a 150 MB peak.
    assert peak < cap + MB, f"peak {peak / MB:.1f} MB"


async def test_huge_body_is_streamed_and_abandoned(feed_server: FeedServer) -> None:
    sent = itertools.count()

    def counted() -> Iterator[bytes]:
        for chunk in _big_body():
            next(sent)
            yield chunk

    feed_server.add_handler("/big", streamed(counted))
    cap = 2 * MB
    peak = await peak_memory_of_fetch(feed_server, "/big", cap)
    assert peak < cap + MB, f"peak {peak / MB:.1f} MB"
    assert next(sent) < 800  # the client hung up: the 50 MB were never all sent


async def test_declared_length_over_the_cap_is_refused_before_reading(
    feed_server: FeedServer,
) -> None:
    feed_server.add("/big", b"x" * 300_000)
    async with client() as http:
        with pytest.raises(ResponseTooLarge, match="body of 300000 bytes"):
            await fetch_feed(http, feed_server.url("/big"), max_bytes=100_000, allow_private=True)


@pytest.mark.parametrize("wbits", [31, 15, -15], ids=["gzip", "zlib deflate", "raw deflate"])
async def test_compressed_feeds_are_inflated(feed_server: FeedServer, wbits: int) -> None:
    import zlib

    body = render_feed(items(40))
    packer = zlib.compressobj(6, zlib.DEFLATED, wbits)
    packed = packer.compress(body) + packer.flush()
    encoding = "gzip" if wbits == 31 else "deflate"
    feed_server.add("/z.rss", packed, headers={"Content-Encoding": encoding})
    async with client() as http:
        fetched = await fetch_feed(http, feed_server.url("/z.rss"), allow_private=True)
    assert fetched.body == body
    assert feed_server.requests[-1].headers["accept-encoding"] == "gzip, deflate"


# -- politeness --------------------------------------------------------------------------------


async def test_at_most_two_requests_per_host(feed_server: FeedServer) -> None:
    lock = threading.Lock()
    active: dict[str, int] = {}
    peaks: dict[str, int] = {}

    def slow(exchange: Exchange) -> None:
        host = exchange.headers["host"].split(":")[0]
        with lock:
            for key in (host, "both"):
                active[key] = active.get(key, 0) + 1
                peaks[key] = max(peaks.get(key, 0), active[key])
        exchange.stopping.wait(0.2)
        with lock:
            for key in (host, "both"):
                active[key] -= 1
        exchange.respond(200, {"Content-Type": "application/rss+xml"}, render_feed(items(1)))

    feed_server.add_handler("/slow.rss", slow)
    with FeedServer(host="127.0.0.2") as other:
        other.add_handler("/slow.rss", slow)
        urls = [feed_server.url("/slow.rss")] * 6 + [other.url("/slow.rss")] * 3
        async with asyncio.timeout(DEADLINE), client() as http:
            await asyncio.gather(*(fetch_feed(http, u, allow_private=True) for u in urls))
    # Six requests to one host ran two at a time, and did not hold up the other host.
    assert peaks == {"127.0.0.1": 2, "127.0.0.2": 2, "both": 4}


async def test_permanent_redirects_are_reported(feed_server: FeedServer) -> None:
    feed_server.add("/feed.rss", render_feed(items(2)))
    _redirect(feed_server, "/old", "/older", 301)
    _redirect(feed_server, "/older", "/feed.rss", 308)
    _redirect(feed_server, "/temp", "/old", 302)
    _redirect(feed_server, "/moved-then-temp", "/temp2", 301)
    _redirect(feed_server, "/temp2", "/feed.rss", 307)
    async with client() as http:
        both = await fetch_feed(http, feed_server.url("/old"), allow_private=True)
        temporary_first = await fetch_feed(http, feed_server.url("/temp"), allow_private=True)
        mixed = await fetch_feed(http, feed_server.url("/moved-then-temp"), allow_private=True)
    assert both.permanent_redirect == feed_server.url("/feed.rss")
    assert both.url == feed_server.url("/feed.rss") and both.body
    assert temporary_first.permanent_redirect is None  # the configured URL is still the one
    assert mixed.permanent_redirect == feed_server.url("/temp2")


async def test_cache_hints_are_passed_on(feed_server: FeedServer) -> None:
    feed_server.add("/a.rss", render_feed(items(1)), headers={"Cache-Control": "max-age=900"})
    expires = format_datetime(NOW + timedelta(hours=1), usegmt=True)
    feed_server.add("/b.rss", render_feed(items(1)), headers={"Expires": expires})
    feed_server.add("/c.rss", render_feed(items(1)), headers={"Cache-Control": "no-cache"})
    async with client() as http:
        a = await fetch_feed(http, feed_server.url("/a.rss"), allow_private=True)
        b = await fetch_feed(http, feed_server.url("/b.rss"), allow_private=True)
        c = await fetch_feed(http, feed_server.url("/c.rss"), allow_private=True)
        unchanged = await fetch_feed(
            http, feed_server.url("/a.rss"), etag=a.etag, allow_private=True
        )
    assert (a.status, a.cache_max_age, a.expires) == (200, 900.0, None)
    assert b.expires is not None and abs((b.expires - NOW).total_seconds() - 3600) < 120
    assert (c.cache_max_age, c.expires) == (None, None)
    assert (unchanged.status, unchanged.not_modified) == (304, True)


# -- the bytes misbehave -----------------------------------------------------------------------

VIETNAMESE = "Thuỷ điện Hoà Bình xả lũ, người dân Đà Nẵng và Hà Nội"


def one_item_feed(title: str, prolog: str = "utf-8") -> str:
    return (
        f'<?xml version="1.0" encoding="{prolog}"?>\n<rss version="2.0"><channel>'
        f"<title>Báo thử</title><ttl>30</ttl><item><title>{title}</title>"
        f"<link>https://example.vn/1.html</link><description>{title}.</description>"
        "</item></channel></rss>\n"
    )


def cp1258(text: str) -> bytes:
    """Text the way windows-1258 stores it: precomposed vowels, separate tone marks."""
    tones = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}
    out = []
    for char in text:
        parts = unicodedata.normalize("NFD", char)
        tone = "".join(p for p in parts if p in tones)
        out.append(unicodedata.normalize("NFC", "".join(p for p in parts if p not in tones)) + tone)
    return "".join(out).encode("cp1258")


ENCODINGS = [
    ("UTF-8", one_item_feed(VIETNAMESE).encode(), "application/rss+xml; charset=utf-8"),
    ("windows-1258, declared", cp1258(one_item_feed(VIETNAMESE, "windows-1258")),
     "application/rss+xml; charset=windows-1258"),
    ("windows-1258, header says utf-8", cp1258(one_item_feed(VIETNAMESE, "windows-1258")),
     "application/rss+xml; charset=utf-8"),
    ("windows-1258, header says latin-1", cp1258(one_item_feed(VIETNAMESE, "windows-1258")),
     "text/xml; charset=iso-8859-1"),
    ("windows-1258, nothing declared", cp1258(one_item_feed(VIETNAMESE).replace(
        ' encoding="utf-8"', "")), "application/xml"),
    ("UTF-8, header says latin-1", one_item_feed(VIETNAMESE).encode(),
     "application/rss+xml; charset=ISO-8859-1"),
    ("UTF-8, prolog says windows-1258", one_item_feed(VIETNAMESE, "windows-1258").encode(),
     "text/xml"),
    ("UTF-8 with a BOM", b"\xef\xbb\xbf" + one_item_feed(VIETNAMESE).encode(), "text/xml"),
    ("UTF-16 with a BOM", one_item_feed(VIETNAMESE, "utf-16").encode("utf-16"),
     "application/xml"),
    ("UTF-8 served as text/html", one_item_feed(VIETNAMESE).encode(), "text/html"),
    ("NFD", unicodedata.normalize("NFD", one_item_feed(VIETNAMESE)).encode(), "text/xml"),
    ("a stray control character", one_item_feed(VIETNAMESE.replace("xả", "x\x0bả")).encode(),
     "application/rss+xml"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "content_type"), [c[1:] for c in ENCODINGS], ids=[c[0] for c in ENCODINGS]
)
async def test_encodings_come_out_as_nfc_text(
    body: bytes, content_type: str, tmp_path: Path, feed_server: FeedServer, storage: Storage
) -> None:
    feed_server.add("/bad", body, content_type=content_type)
    bad = await poll_batch(tmp_path, storage, feed_server, "/bad")
    assert bad.outcome is PollOutcome.NEW, bad.error
    assert await bad_titles(storage) == [VIETNAMESE]


async def test_invalid_utf8_is_mended_not_garbled(
    tmp_path: Path, feed_server: FeedServer, storage: Storage
) -> None:
    # A title cut mid-character by a CMS, a Latin-1 "é" and Word's curly quotes in cp1252.
    title = VIETNAMESE.encode() + b" caf\xe9 \x93m\xf3n ngon\x94 \xe1\xbb"
    body = one_item_feed("TITLE").encode().replace(b"TITLE", title)
    feed_server.add("/bad", body)
    bad = await poll_batch(tmp_path, storage, feed_server, "/bad")
    assert bad.outcome is PollOutcome.NEW, bad.error
    (stored,) = await storage.latest(5, feed_ids=["bad"])
    assert stored.title == f"{VIETNAMESE} café “món ngon”"
    assert "\ufffd" not in stored.title + stored.summary


async def test_truncated_feed_keeps_only_whole_entries(
    tmp_path: Path, feed_server: FeedServer, storage: Storage
) -> None:
    whole = render_feed(items(4))
    cut = whole.index(b"</item>", whole.index(b"</item>") + 1) + len(
        "</item><item><title>Hà".encode()
    )
    feed_server.add("/bad", whole[:cut])
    bad = await poll_batch(tmp_path, storage, feed_server, "/bad")
    assert (bad.outcome, bad.entries) == (PollOutcome.NEW, 2)
    assert sorted(await bad_titles(storage)) == sorted(i["title"] for i in items(4)[:2])


async def test_dates_and_duplicates(
    tmp_path: Path, feed_server: FeedServer, storage: Storage
) -> None:
    future, garbled, missing, repeated = items(4)
    future["pub_date"] = NOW + timedelta(days=400)  # a CMS with its clock a year ahead
    body = render_feed([future, garbled, missing, repeated, {**repeated, "title": "Bản sau"}])
    body = body.replace(  # a date no parser knows, and no date at all
        format_datetime(garbled["pub_date"]).encode(), "Thứ Tư, 25/11/2026 - 08:15".encode()
    ).replace(b"<pubDate>" + format_datetime(missing["pub_date"]).encode() + b"</pubDate>", b"")
    feed_server.add("/bad", body)
    bad = await poll_batch(tmp_path, storage, feed_server, "/bad")
    assert (bad.entries, bad.new_articles) == (5, 4)  # the repeated link: the first one wins
    stored = {a.title: a for a in await storage.latest(10, feed_ids=["bad"])}
    assert "Bản sau" not in stored and repeated["title"] in stored
    kept = stored[future["title"]]
    assert kept.published_at == future["pub_date"]  # kept as the outlet said…
    assert kept.shown_at == kept.first_seen_at  # …but never shown as the future
    assert stored[garbled["title"]].published_at is None
    assert stored[missing["title"]].published_at is None


def test_channel_ttl_and_title() -> None:
    parsed = parse_feed_document(one_item_feed(VIETNAMESE).encode(), "https://example.vn/rss")
    assert (parsed.ttl, parsed.title, parsed.encoding) == (30, "Báo thử", "utf-8")
    sy = (
        b'<rss version="2.0" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"><channel>'
        b"<sy:updatePeriod>hourly</sy:updatePeriod><sy:updateFrequency>4</sy:updateFrequency>"
        b"</channel></rss>"
    )
    assert parse_feed_document(sy, "https://example.vn/rss").ttl == 15
    assert parse_feed_document(sy.replace(b"4<", b"0<"), "https://example.vn/rss").ttl is None


def test_well_formed_feed_without_items_is_empty_not_an_error() -> None:
    body = b'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title></channel></rss>'
    assert parse_feed_document(body, "https://example.vn/rss").entries == []


def test_windows_1258_fixture_reads_whatever_the_header_says() -> None:
    body = (FEEDS / "vietnamplus_cp1258.rss").read_bytes()
    for header in ("application/rss+xml; charset=utf-8", "text/xml", "text/html"):
        parsed = parse_feed_document(body, "https://www.vietnamplus.vn/rss", header)
        assert parsed.encoding == "windows-1258"
        assert any("Thuỷ điện Hoà Bình" in unicodedata.normalize("NFC", e.title)
                   for e in parsed.entries)  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "text"),
    [(b"ok", "ok"), (b"caf\xe9", "café"), (b"\x93q\x94", "“q”"), (b"H\xc3\xa0 N\xe1\xbb", "Hà N"),
     (b"a\x81b", "ab"), (b"\xc0\xafx", "À¯x"), (b"\xff\xfe", "ÿþ")],
)  # fmt: skip
def test_repair_utf8(raw: bytes, text: str) -> None:
    assert repair_utf8(raw) == text


def test_to_utf8_leaves_clean_utf8_alone() -> None:
    body = one_item_feed(VIETNAMESE).encode()
    data, encoding = to_utf8(body, "text/xml; charset=iso-8859-1")
    assert data is body and encoding == "utf-8"


def test_garbage_is_not_a_feed() -> None:
    with pytest.raises(ParseError, match="not a feed"):
        parse_feed_document(b"\x00\x01 binary \xff junk", "https://example.vn/rss")
