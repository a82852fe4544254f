"""Polling over real loopback HTTP: conditional GET, bounded bodies, failures stay per feed."""

from __future__ import annotations

import gzip
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from conftest import FEEDS, settings_for
from feedserver import FeedServer, render_feed
from test_editions import RecordingSender
from test_summarize import PAGE

from bot.app import BotParts
from bot.cluster import cluster
from bot.cluster.terms import _read
from bot.errors import FetchError, ParseError, ResponseTooLarge
from bot.fetch import fetch_feed, make_http_client
from bot.models import PollOutcome, StoredArticle
from bot.parse import parse_feed_document
from bot.pipeline import poll_all
from bot.query import parse_query
from bot.settings import Settings
from bot.storage import Storage


def config(server: FeedServer, paths: dict[str, str]) -> str:
    tables = "".join(
        f'[[feeds]]\nid = "{feed_id}"\nname = "{feed_id.title()}"\nurl = "{server.url(path)}"\n'
        "allow_private = true\n"
        for feed_id, path in paths.items()
    )
    return tables


async def poll(settings: Settings, storage: Storage) -> dict[str, PollOutcome]:
    await storage.sync_feeds((f.id, f.url) for f in settings.feeds)
    async with make_http_client() as client:
        results = await poll_all(settings.feeds, storage, client)
    return {r.feed_id: r.outcome for r in results}


async def test_new_then_not_modified(
    tmp_path: Path, feed_server: FeedServer, storage: Storage
) -> None:
    feed_server.add_file("/tt.rss", FEEDS / "tuoitre.rss")
    settings = settings_for(tmp_path, config(feed_server, {"tuoitre": "/tt.rss"}))
    assert await poll(settings, storage) == {"tuoitre": PollOutcome.NEW}
    assert await storage.article_count() == 6
    assert await poll(settings, storage) == {"tuoitre": PollOutcome.UNCHANGED}
    second = feed_server.requests[-1]
    assert second.headers.get("if-none-match")  # the ETag from the first answer
    assert second.status == 304
    assert "BanTin/" in second.headers["user-agent"]
    assert await storage.article_count() == 6


async def test_a_poll_reads_its_new_articles_for_the_next_edition(
    tmp_path: Path, feed_server: FeedServer, storage: Storage
) -> None:
    # Clustering a day's news reads every text it has not read before; a poll reads its
    # new articles as it stores them, so the edition after it reads nothing anew.
    feed_server.add_file("/tt.rss", FEEDS / "tuoitre.rss")
    settings = settings_for(tmp_path, config(feed_server, {"tuoitre": "/tt.rss"}))
    _read.cache_clear()
    assert await poll(settings, storage) == {"tuoitre": PollOutcome.NEW}
    stored = await storage.latest(100)
    assert len(stored) == 6
    assert read_anew(stored) == 0


async def test_a_restart_reads_what_an_earlier_run_stored(
    tmp_path: Path, feed_server: FeedServer, storage: Storage
) -> None:
    # After a restart nothing is read yet: the start-up work reads the latest articles,
    # so that the first edition finds them read too.
    feed_server.add_file("/tt.rss", FEEDS / "tuoitre.rss")
    settings = settings_for(tmp_path, config(feed_server, {"tuoitre": "/tt.rss"}))
    assert await poll(settings, storage) == {"tuoitre": PollOutcome.NEW}  # the earlier run
    _read.cache_clear()  # the restart
    async with make_http_client() as client:
        await BotParts(settings, storage, client, sender=RecordingSender(), env={}).app.first_poll()
    stored = await storage.latest(100)
    assert len(stored) == 6
    assert read_anew(stored) == 0


def read_anew(articles: list[StoredArticle]) -> int:
    """How many texts clustering the articles had to read (not read before)."""
    misses = _read.cache_info().misses
    cluster(articles)
    return _read.cache_info().misses - misses


async def test_one_bad_feed_never_stops_the_others(
    tmp_path: Path, feed_server: FeedServer, storage: Storage
) -> None:
    feed_server.add_file(
        "/good.rss", FEEDS / "dantri_atom.xml", content_type="application/atom+xml"
    )
    feed_server.add(
        "/html",
        "<!doctype html><html><body><h1>Trang chủ</h1></body></html>".encode(),
        content_type="text/html; charset=utf-8",
    )
    feed_server.add("/broken", b"Internal error", status=500)
    feed_server.add("/empty", b"")
    paths = {
        "bad404": "/missing.rss",
        "html": "/html",
        "e500": "/broken",
        "good": "/good.rss",
        "empty": "/empty",
    }
    settings = settings_for(tmp_path, config(feed_server, paths))
    outcomes = await poll(settings, storage)
    assert outcomes == {
        "bad404": PollOutcome.ERROR,
        "html": PollOutcome.ERROR,
        "e500": PollOutcome.ERROR,
        "good": PollOutcome.NEW,
        "empty": PollOutcome.ERROR,
    }
    states = await storage.feed_states()
    assert states["bad404"].last_error == "FetchError: HTTP 404 Not Found"
    assert "HTTP 500" in (states["e500"].last_error or "")
    assert "not a feed" in (states["html"].last_error or "")
    assert "empty" in (states["empty"].last_error or "")
    assert states["good"].last_error is None and states["good"].article_count == 5


async def test_windows_1258_feed_comes_out_nfc(
    tmp_path: Path, feed_server: FeedServer, storage: Storage
) -> None:
    feed_server.add_file(
        "/vnp.rss",
        FEEDS / "vietnamplus_cp1258.rss",
        content_type="application/rss+xml; charset=windows-1258",
    )
    settings = settings_for(tmp_path, config(feed_server, {"vnp": "/vnp.rss"}))
    await poll(settings, storage)
    titles = [a.title for a in await storage.latest(10)]
    assert any("Thuỷ điện Hoà Bình" in t for t in titles), titles
    hits = await storage.search(parse_query("thuy dien"), limit=5)
    assert hits


async def test_body_over_the_cap_is_abandoned(feed_server: FeedServer) -> None:
    feed_server.add("/big.rss", b"<rss>" + b" " * 200_000 + b"</rss>")
    async with make_http_client() as client:
        with pytest.raises(ResponseTooLarge):
            await fetch_feed(
                client, feed_server.url("/big.rss"), max_bytes=100_000, allow_private=True
            )


async def test_gzip_bomb_stops_at_the_decompressed_cap(feed_server: FeedServer) -> None:
    bomb = gzip.compress(b"\0" * 20_000_000)  # 20 MB inflated from ~20 KB on the wire
    feed_server.add("/bomb.rss", bomb, headers={"Content-Encoding": "gzip"})
    async with make_http_client() as client:
        with pytest.raises(ResponseTooLarge):
            await fetch_feed(
                client, feed_server.url("/bomb.rss"), max_bytes=1_000_000, allow_private=True
            )


async def test_unreachable_host_is_a_fetch_error() -> None:
    async with make_http_client() as client:
        with pytest.raises(Exception, match="ConnectError"):
            await fetch_feed(client, "http://127.0.0.1:9/feed.rss", allow_private=True)


def test_html_page_is_not_a_feed() -> None:
    with pytest.raises(ParseError, match="not a feed"):
        parse_feed_document(
            b"<html><body><p>Xin ch\xc3\xa0o</p></body></html>", "https://x.vn/", "text/html"
        )


async def test_redirect_is_followed(feed_server: FeedServer) -> None:
    feed_server.add_file("/new.rss", FEEDS / "tuoitre.rss")
    feed_server.add(
        "/old.rss",
        b"",
        status=301,
        headers={"Location": feed_server.url("/new.rss")},
        etag=None,
        last_modified=None,
    )
    async with make_http_client() as client:
        result = await fetch_feed(client, feed_server.url("/old.rss"), allow_private=True)
    assert result.url.endswith("/new.rss")
    assert result.body and b"<rss" in result.body


async def test_local_file_feed(tmp_path: Path, storage: Storage) -> None:
    settings = settings_for(
        tmp_path,
        f'[[feeds]]\nid = "blc"\nname = "Báo Lai Châu"\nurl = "{FEEDS / "baolaichau_nfd.rss"}"\n',
    )
    assert await poll(settings, storage) == {"blc": PollOutcome.NEW}
    titles = [a.title for a in await storage.latest(10)]
    assert any("Lai Châu" in t for t in titles)  # NFD in the file, NFC in the database


async def test_server_that_never_answers_times_out() -> None:
    with socket.socket() as silent:  # accepts connections (backlog), never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/feed.rss"
        async with httpx.AsyncClient(timeout=httpx.Timeout(0.5)) as client:
            with pytest.raises(FetchError, match="timed out"):
                await fetch_feed(client, url, allow_private=True)


async def test_missing_sapo_is_summarised_from_the_page_once(
    tmp_path: Path, feed_server: FeedServer, storage: Storage
) -> None:
    now = datetime.now(UTC)
    feed_server.add("/page.html", PAGE.encode(), content_type="text/html; charset=utf-8")
    items = [
        {"title": "Quốc hội thông qua Luật Đường sắt sửa đổi",
         "link": feed_server.url("/page.html"), "description": "Xem chi tiết", "pub_date": now},
        {"title": "Trang hỏng", "link": feed_server.url("/gone.html"), "description": "",
         "pub_date": now},
    ]  # fmt: skip
    feed_server.add("/f.rss", render_feed(items))
    settings = settings_for(tmp_path, config(feed_server, {"f": "/f.rss"}))
    await poll(settings, storage)
    by_title = {a.title: a for a in await storage.latest(5)}
    summary = by_title["Quốc hội thông qua Luật Đường sắt sửa đổi"].summary
    assert summary.startswith("Sáng 27/11, Quốc hội biểu quyết")
    assert by_title["Trang hỏng"].summary == ""
    assert await storage.search(parse_query("92"), limit=5)  # the new summary is searchable
    # A changed feed is parsed again, but no page is fetched twice, failed ones included.
    feed_server.add("/f.rss", render_feed([*items, {**items[1], "title": "Mới", "link": "x"}]))
    await poll(settings, storage)
    assert feed_server.hits("/page.html") == 1
    assert feed_server.hits("/gone.html") == 1


async def test_fetch_pages_can_be_turned_off(
    tmp_path: Path, feed_server: FeedServer, storage: Storage
) -> None:
    item = {"title": "Tin", "link": feed_server.url("/p.html"), "description": "",
            "pub_date": datetime.now(UTC)}  # fmt: skip
    feed_server.add("/f.rss", render_feed([item]))
    settings = settings_for(
        tmp_path, config(feed_server, {"f": "/f.rss"}) + "fetch_pages = false\n"
    )
    await poll(settings, storage)
    assert feed_server.hits("/p.html") == 0


async def test_failing_feed_backs_off_and_recovers(
    tmp_path: Path, feed_server: FeedServer, storage: Storage
) -> None:
    from bot.pipeline import poll_due

    feed_server.add("/f.rss", b"down", status=500)
    settings = settings_for(tmp_path, config(feed_server, {"f": "/f.rss"}))
    await storage.sync_feeds((f.id, f.url) for f in settings.feeds)
    delays = []
    clock = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    async with make_http_client() as client:
        for _ in range(3):
            [result] = await poll_all(settings.feeds, storage, client, lambda: clock)
            assert result.next_check is not None
            delays.append((result.next_check - clock).total_seconds() / 60)
        assert delays == [10, 20, 40]  # exponential backoff from the 10-minute interval
        state = (await storage.feed_states())["f"]
        assert state.consecutive_failures == 3 and state.next_check_at == result.next_check
        # Not due yet: the tick leaves it alone; once due, it is polled and recovers.
        assert await poll_due(settings.feeds, storage, client, lambda: clock) == []
        feed_server.add_file("/f.rss", FEEDS / "tuoitre.rss")
        later = clock + timedelta(minutes=41)
        [recovered] = await poll_due(settings.feeds, storage, client, lambda: later)
    assert recovered.outcome is PollOutcome.NEW
    assert recovered.next_check == later + timedelta(minutes=10)
    assert (await storage.feed_states())["f"].consecutive_failures == 0


async def test_retry_after_and_a_permanent_redirect_are_honoured(
    tmp_path: Path, feed_server: FeedServer, storage: Storage
) -> None:
    feed_server.add("/busy.rss", b"", status=429, headers={"Retry-After": "3600"})
    feed_server.add_file("/new.rss", FEEDS / "tuoitre.rss")
    feed_server.add("/old.rss", b"", status=301, headers={"Location": feed_server.url("/new.rss")},
                    etag=None, last_modified=None)  # fmt: skip
    settings = settings_for(
        tmp_path, config(feed_server, {"busy": "/busy.rss", "moved": "/old.rss"})
    )
    await storage.sync_feeds((f.id, f.url) for f in settings.feeds)
    now = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    async with make_http_client() as client:
        results = {
            r.feed_id: r for r in await poll_all(settings.feeds, storage, client, lambda: now)
        }
        assert results["busy"].next_check == now + timedelta(hours=1)
        assert results["busy"].next_check_reason == "Retry-After"
        assert (await storage.feed_states())["moved"].redirected_to == feed_server.url("/new.rss")
        await poll_all(settings.feeds[1:], storage, client, lambda: now)
    assert feed_server.hits("/old.rss") == 1  # the second poll went straight to the new URL
    assert feed_server.hits("/new.rss") == 2
