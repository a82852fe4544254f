"""Tests for the loopback feed server used by the fetcher and end-to-end tests."""

from __future__ import annotations

import calendar
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import feedparser
import httpx
import pytest
from feedserver import FeedItem, FeedServer, render_feed

FEEDS = Path(__file__).parent / "data" / "feeds"
VN = timezone(timedelta(hours=7))


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as srv:
        yield srv


def nfc(s: str) -> str:
    return unicodedata.normalize("NFC", s)


def test_serves_fixture_that_feedparser_parses(server: FeedServer) -> None:
    server.add_file("/feeds/tuoitre.rss", FEEDS / "tuoitre.rss")
    url = server.url("/feeds/tuoitre.rss")
    assert url.startswith("http://127.0.0.1:")

    r = httpx.get(url)

    assert r.status_code == 200
    assert r.headers["content-type"] == "application/rss+xml; charset=utf-8"
    assert r.headers["etag"].startswith('"')
    d = feedparser.parse(r.content, response_headers=dict(r.headers))
    assert not d.bozo
    assert len(d.entries) == 6
    assert d.entries[0].title.startswith("Giá vàng hôm nay 25-11: Vàng miếng SJC & vàng nhẫn")
    assert server.hits("/feeds/tuoitre.rss") == 1


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("thanhnien_content_encoded.rss", "application/rss+xml; charset=utf-8"),
        ("dantri_atom.xml", "application/atom+xml; charset=utf-8"),
        ("vietnamplus_cp1258.rss", "application/rss+xml; charset=windows-1258"),
        ("baolaichau_nfd.rss", "application/rss+xml; charset=utf-8"),
        ("html_titles.rss", "application/rss+xml; charset=utf-8"),
    ],
)
def test_every_fixture_round_trips(server: FeedServer, name: str, content_type: str) -> None:
    server.add_file(f"/{name}", FEEDS / name, content_type=content_type)
    r = httpx.get(server.url(name))
    d = feedparser.parse(r.content, response_headers=dict(r.headers))
    assert not d.bozo, d.get("bozo_exception")
    assert 4 <= len(d.entries) <= 8
    titles = [nfc(e.get("title", "")) for e in d.entries]
    assert any("Hà Nội" in t or "Lai Châu" in t for t in titles)


def test_etag_revalidation_gets_304_with_empty_body(server: FeedServer) -> None:
    server.add_file("/feeds/tt.rss", FEEDS / "tuoitre.rss")
    url = server.url("/feeds/tt.rss")
    with httpx.Client() as client:
        first = client.get(url)
        second = client.get(url, headers={"If-None-Match": first.headers["etag"]})

    assert second.status_code == 304
    assert second.content == b""
    assert second.headers["etag"] == first.headers["etag"]
    last = server.requests[-1]
    assert last.headers["if-none-match"] == first.headers["etag"]
    assert last.status == 304
    assert [r.status for r in server.requests] == [200, 304]


def test_if_modified_since_alone_gets_304(server: FeedServer) -> None:
    server.add("/a.rss", b"<rss/>")
    lm = httpx.get(server.url("/a.rss")).headers["last-modified"]
    assert lm.endswith(" GMT")
    r = httpx.get(server.url("/a.rss"), headers={"If-Modified-Since": lm})
    assert r.status_code == 304


def test_changed_body_gets_new_etag_and_200(server: FeedServer) -> None:
    server.add("/a.rss", render_feed([]))
    first = httpx.get(server.url("/a.rss"))

    server.add("/a.rss", render_feed([_item("Tin mới", datetime.now(UTC))]))
    second = httpx.get(
        server.url("/a.rss"),
        headers={
            "If-None-Match": first.headers["etag"],
            "If-Modified-Since": first.headers["last-modified"],
        },
    )

    assert second.status_code == 200
    assert second.headers["etag"] != first.headers["etag"]
    # Last-Modified moves too, so a client that only sends If-Modified-Since also sees the change.
    assert second.headers["last-modified"] != first.headers["last-modified"]
    assert feedparser.parse(second.content).entries[0].title == "Tin mới"


def test_explicit_validators_status_and_headers(server: FeedServer) -> None:
    server.add("/plain.rss", b"<rss/>", etag=None, last_modified=None)
    server.add("/down.rss", b"busy", status=503, headers={"Retry-After": "120"})

    plain = httpx.get(server.url("/plain.rss"), headers={"If-None-Match": '"x"'})
    down = httpx.get(server.url("/down.rss"))

    assert plain.status_code == 200
    assert "etag" not in plain.headers
    assert "last-modified" not in plain.headers
    assert down.status_code == 503
    assert down.headers["retry-after"] == "120"


def test_unknown_path_is_404(server: FeedServer) -> None:
    r = httpx.get(server.url("/nope.rss"))
    assert r.status_code == 404
    assert server.requests[-1].status == 404
    assert server.hits("/nope.rss") == 1


def test_render_feed_escapes_and_dates() -> None:
    now = datetime.now(VN).replace(microsecond=0)
    items = [
        _item("Giá vàng & tỷ giá: SJC <tăng> mạnh", now - timedelta(minutes=5), guid="g-1"),
        _item("Hà Nội mưa rét “đậm”", now - timedelta(hours=2)),
    ]

    body = render_feed(items, title="Tin <thử> & nghiệm")
    d = feedparser.parse(body)

    assert not d.bozo
    assert d.feed.title == "Tin <thử> & nghiệm"
    assert [e.title for e in d.entries] == [i["title"] for i in items]
    assert d.entries[0].id == "g-1"
    for entry, item in zip(d.entries, items, strict=True):
        parsed = datetime.fromtimestamp(calendar.timegm(entry.published_parsed), UTC)
        assert parsed == item["pub_date"]
        assert entry.published.endswith("+0700")


def _item(title: str, when: datetime, guid: str | None = None) -> FeedItem:
    item: FeedItem = {
        "title": title,
        "link": f"https://example.vn/tin/{len(title)}.html",
        "description": f"Tóm tắt: {title}",
        "pub_date": when,
    }
    if guid:
        item["guid"] = guid
    return item
