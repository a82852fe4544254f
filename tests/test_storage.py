"""Storage on real SQLite files: schema, idempotent upserts, FTS in sync, the outbox."""

from __future__ import annotations

import inspect
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import schema_version

from bot.cluster import TermStats, lookup_terms
from bot.errors import SchemaTooNew
from bot.models import Article, Edition, EditionPart, FeedUpdate
from bot.query import parse_query
from bot.storage import Storage
from bot.storage.base import _wrap_errors
from bot.storage.migrations import SCHEMA_VERSION

NOW = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)


def article(key: str, title: str, summary: str = "", feed: str = "vne", **kw: object) -> Article:
    values: dict[str, object] = {
        "feed_id": feed,
        "dedup_key": key,
        "url": f"https://vnexpress.net/{key}.html",
        "title": title,
        "summary": summary,
        "published_at": NOW - timedelta(hours=1),
    }
    values.update(kw)
    return Article(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name",
    sorted(
        name
        for name, _ in inspect.getmembers(Storage, inspect.iscoroutinefunction)
        if not name.startswith("_") and name != "open"  # open wraps its own connect error
    ),
)
def test_every_public_method_wraps_sqlite_errors(name: str) -> None:
    """Part of the locking rule in bot/storage/base.py: callers see StorageError only."""

    async def probe() -> None: ...

    assert getattr(Storage, name).__code__ is _wrap_errors(probe).__code__


@pytest.fixture
async def db(storage: Storage) -> Storage:
    await storage.sync_feeds(
        [("vne", "https://vnexpress.net/rss"), ("tt", "https://tuoitre.vn/rss")]
    )
    return storage


async def test_new_database_has_current_schema_wal_and_foreign_keys(tmp_path: Path) -> None:
    storage = await Storage.open(tmp_path / "sub" / "x.db")  # parent folders are created
    assert schema_version(storage.path) == SCHEMA_VERSION
    await storage.close()
    raw = sqlite3.connect(tmp_path / "sub" / "x.db")
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    raw.close()


async def test_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(SchemaTooNew, match="Upgrade Bản tin"):
        await Storage.open(path)


async def test_reopening_keeps_data_and_does_not_migrate_again(tmp_path: Path) -> None:
    first = await Storage.open(tmp_path / "x.db")
    await first.sync_feeds([("vne", "u")])
    await first.add_articles([article("a", "Hà Nội mưa lớn")], NOW)
    await first.close()
    second = await Storage.open(tmp_path / "x.db")
    assert await second.article_count() == 1
    await second.close()


async def test_repolling_the_same_entries_adds_nothing(db: Storage) -> None:
    items = [article("a", "Một"), article("b", "Hai")]
    assert await db.add_articles(items, NOW) == [1, 2]
    assert await db.add_articles(items, NOW + timedelta(minutes=10)) == [None, None]
    assert await db.article_count() == 2
    # The same key in another feed is another article.
    assert await db.add_articles([article("a", "Một", feed="tt")], NOW) == [3]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("ha noi", {"hn"}),
        ("HÀ NỘI", {"hn"}),
        ("Hà Nội", {"hn"}),
        ("da nang", {"dn"}),
        ("ĐÀ NẴNG", {"dn"}),
        ("thuy dien", {"td"}),
        ("thủy điện", {"td"}),  # the feed wrote "thuỷ"
        ("mưa", {"hn", "dn"}),
        ('"', set()),
        ("NOT", set()),
        ("hà nội NOT", set()),
        ("mua*", {"hn", "dn"}),
        ("(đà nẵng", {"dn"}),
        ("nội OR", set()),
    ],
)
async def test_search_folds_case_diacritics_and_d(
    db: Storage, query: str, expected: set[str]
) -> None:
    await db.add_articles(
        [
            article("hn", "Hà Nội mưa lớn, nhiều tuyến phố ngập"),
            article("dn", "Đà Nẵng mưa to", "Học sinh nghỉ học"),
            article("td", "Thuỷ điện Hoà Bình xả đáy", "Mực nước sông Đà lên nhanh"),
        ],
        NOW,
    )
    hits = await db.search(parse_query(query), limit=5)
    assert {h.url.rsplit("/", 1)[1].removesuffix(".html") for h in hits if h.url} == expected


async def test_search_prefers_title_matches(db: Storage) -> None:
    await db.add_articles(
        [
            article("body", "Giá vàng tăng", "Người dân Đà Nẵng xếp hàng mua vàng"),
            article("title", "Đà Nẵng khởi công cảng Liên Chiểu", "Dự án lớn nhất miền Trung"),
        ],
        NOW,
    )
    hits = await db.search(parse_query("da nang"), limit=5)
    assert hits[0].title == "Đà Nẵng khởi công cảng Liên Chiểu"


async def test_fts_follows_updates_and_deletes(db: Storage, tmp_path: Path) -> None:
    await db.add_articles([article("a", "Bão số 16 đổ bộ")], NOW)
    await db.close()
    raw = sqlite3.connect(tmp_path / "test.db")
    raw.execute("UPDATE articles SET title_fold = 'lu quet' WHERE dedup_key = 'a'")
    raw.commit()
    assert (
        raw.execute("SELECT count(*) FROM articles_fts WHERE articles_fts MATCH 'bao'").fetchone()[
            0
        ]
        == 0
    )
    assert (
        raw.execute("SELECT count(*) FROM articles_fts WHERE articles_fts MATCH 'quet'").fetchone()[
            0
        ]
        == 1
    )
    raw.execute("DELETE FROM articles")
    raw.commit()
    assert (
        raw.execute("SELECT count(*) FROM articles_fts WHERE articles_fts MATCH 'quet'").fetchone()[
            0
        ]
        == 0
    )
    raw.execute("INSERT INTO articles_fts(articles_fts) VALUES ('integrity-check')")
    raw.close()


def sent_parts(db: Storage, destination: str) -> list[tuple[int, int | None, str]]:
    """(seq, message id, text) of every sent part for a destination, in sending order."""
    with closing(sqlite3.connect(db.path)) as raw:
        return raw.execute(
            """
            SELECT p.seq, p.message_id, p.text FROM edition_parts p
            JOIN editions e ON e.id = p.edition_id
            WHERE e.destination = ? AND p.sent_at IS NOT NULL
            ORDER BY p.sent_at, p.edition_id, p.seq
            """,
            (destination,),
        ).fetchall()


def polled(error: str | None = None, **fields: Any) -> FeedUpdate:
    """A poll's update for feed "vne" at NOW, due again an hour later."""
    return FeedUpdate("vne", NOW, NOW + timedelta(hours=1), "interval", error=error, **fields)


async def test_poll_state_is_remembered(db: Storage) -> None:
    await db.apply(polled(etag='"v1"', last_modified="x"))
    await db.apply(polled("HTTP 500"))
    await db.apply(polled("HTTP 502"))
    state = (await db.feed_states())["vne"]
    assert state.etag == '"v1"'  # an error keeps what a good fetch taught us
    assert state.consecutive_failures == 2
    assert state.last_error == "HTTP 502"
    assert state.next_check_at == NOW + timedelta(hours=1)
    await db.apply(polled())
    state = (await db.feed_states())["vne"]
    assert (state.consecutive_failures, state.last_error, state.last_success_at) == (0, None, NOW)


async def test_a_poll_stores_its_new_articles_with_its_record(db: Storage) -> None:
    first = (article("a", "Một"), article("b", "Hai"))
    assert all(await db.apply(polled(articles=first, ttl=30, document=True)))
    again = await db.apply(polled(articles=(*first, article("c", "Ba")), document=True))
    assert [i is None for i in again] == [True, True, False]
    state = (await db.feed_states())["vne"]
    assert (state.article_count, state.ttl) == (3, None)  # a document without <ttl> clears it


async def test_changing_a_feed_url_forgets_its_cache_validators(db: Storage) -> None:
    await db.apply(polled(etag='"v1"'))
    await db.sync_feeds([("vne", "https://vnexpress.net/rss/other.rss")])
    assert (await db.feed_states())["vne"].etag is None


async def test_a_busy_day_is_one_edition_s_candidates(db: Storage) -> None:
    # 50 outlets bring thousands of articles a day; an edition that took only the newest
    # few hundred would leave the rest out for good (its window starts after them next time).
    await db.add_articles([article(f"k{i}", f"Tin thứ {i}") for i in range(1200)], NOW)
    candidates = await db.edition_candidates(
        "@kenh", ["vne"], seen_since=NOW - timedelta(hours=1),
        published_since=NOW - timedelta(days=2),
    )  # fmt: skip
    assert len(candidates) == 1200


async def test_outbox_plans_once_and_tracks_sent_parts(db: Storage) -> None:
    await db.add_articles([article("a", "Một"), article("b", "Hai")], NOW)
    candidates = await db.edition_candidates(
        "@kenh",
        ["vne"],
        seen_since=NOW - timedelta(hours=1),
        published_since=NOW - timedelta(days=2),
    )
    ids = tuple(a.id for a in candidates)
    assert len(ids) == 2
    edition = Edition(
        "@kenh",
        "Bản tin",
        NOW,
        (EditionPart("phần 1", ids[:1]), EditionPart("phần 2", ids[1:])),
    )
    await db.plan_edition(edition)
    assert await db.last_edition_at("@kenh") == NOW
    pending = await db.pending_parts("@kenh")
    assert [p.text for p in pending] == ["phần 1", "phần 2"]
    # Planned articles are no longer candidates for this channel, but are for another.
    again = await db.edition_candidates(
        "@kenh",
        ["vne"],
        seen_since=NOW - timedelta(hours=1),
        published_since=NOW - timedelta(days=2),
    )
    assert again == []
    other = await db.edition_candidates(
        "@khac",
        ["vne"],
        seen_since=NOW - timedelta(hours=1),
        published_since=NOW - timedelta(days=2),
    )
    assert len(other) == 2
    await db.mark_failed(pending[0].id, "Timed out")
    await db.mark_sent(pending[0].id, 77, NOW)
    assert [p.text for p in await db.pending_parts("@kenh")] == ["phần 2"]
    assert sent_parts(db, "@kenh") == [(0, 77, "phần 1")]
    with pytest.raises(Exception, match="UNIQUE"):
        await db.plan_edition(edition)  # the same articles twice for one channel: refused
    assert [p.text for p in await db.pending_parts("@kenh")] == ["phần 2"]  # rolled back


async def test_empty_edition_records_nothing(db: Storage) -> None:
    assert await db.plan_edition(Edition("@kenh", "Bản tin", NOW)) is None
    assert await db.last_edition_at("@kenh") is None


async def test_candidates_respect_the_windows(db: Storage) -> None:
    await db.add_articles([article("old-seen", "Cũ")], NOW - timedelta(hours=13))
    await db.add_articles([article("stale", "Cũ quá", published_at=NOW - timedelta(days=3))], NOW)
    await db.add_articles([article("undated", "Không ngày", published_at=None)], NOW)
    await db.add_articles([article("fresh", "Mới")], NOW)
    found = await db.edition_candidates(
        "@kenh",
        ["vne"],
        seen_since=NOW - timedelta(hours=12),
        published_since=NOW - timedelta(hours=48),
    )
    assert {a.title for a in found} == {"Không ngày", "Mới"}


async def test_latest_orders_by_shown_date_and_never_in_the_future(db: Storage) -> None:
    await db.add_articles(
        [
            article("a", "Sớm", published_at=NOW - timedelta(hours=5)),
            article("b", "Muộn", published_at=NOW - timedelta(hours=1)),
            article("future", "Tương lai", published_at=NOW + timedelta(days=30)),
        ],
        NOW,
    )
    latest = await db.latest(3)
    assert [a.title for a in latest] == ["Tương lai", "Muộn", "Sớm"]
    assert latest[0].shown_at == NOW  # a future date is shown as the time first seen


async def test_prune_drops_old_articles_and_keeps_fts_in_sync(db: Storage, tmp_path: Path) -> None:
    await db.add_articles([article("old", "Bão cũ năm ngoái")], NOW - timedelta(days=400))
    await db.add_articles([article("new", "Bão mới tuần này")], NOW)
    search_id = await db.save_search("bao", NOW - timedelta(days=10), "4242")
    assert await db.prune(NOW - timedelta(days=365), NOW - timedelta(days=7)) == 1
    await db.optimize()
    assert [h.title for h in await db.search(parse_query("bao"), limit=5)] == ["Bão mới tuần này"]
    assert await db.saved_search(search_id, "4242") is None
    await db.close()
    raw = sqlite3.connect(tmp_path / "test.db")
    raw.execute("INSERT INTO articles_fts(articles_fts) VALUES ('integrity-check')")
    raw.close()


async def test_migrating_a_version_1_database_keeps_and_indexes_its_articles(
    tmp_path: Path,
) -> None:
    from bot.storage.migrations import MIGRATIONS

    path = tmp_path / "old.db"
    raw = sqlite3.connect(path, isolation_level=None)
    assert isinstance(MIGRATIONS[0], str)
    raw.executescript(MIGRATIONS[0] + "PRAGMA user_version = 1;")
    raw.execute("INSERT INTO feeds (id, url) VALUES ('vne', 'u')")
    raw.execute(
        """INSERT INTO articles (feed_id, dedup_key, url, title, summary, first_seen_at,
           title_fold, summary_fold) VALUES ('vne', 'k', 'https://x.vn/1', 'Thủy điện Hòa Bình',
           'Xả đáy', '2026-11-26 00:00:00', 'thuy dien hoa binh', 'xa day')"""
    )
    raw.close()
    storage = await Storage.open(path)
    assert schema_version(storage.path) == SCHEMA_VERSION
    hits = await storage.search(parse_query("thuỷ điện hoà bình"), limit=5)
    assert [h.title for h in hits] == ["Thủy điện Hòa Bình"]
    assert hits[0].body == "Xả đáy"  # body "" means the summary is the text
    await storage.close()


async def test_saved_searches_belong_to_their_chat_and_older_ones_expire_on_upgrade(
    tmp_path: Path,
) -> None:
    import aiosqlite

    from bot.storage.migrations import migrate

    path = tmp_path / "v8.db"
    async with aiosqlite.connect(path, isolation_level=None) as raw:
        await migrate(raw, path, target=8)  # before saved searches had a chat
        await raw.execute("INSERT INTO searches (query, created_at) VALUES ('bao', '2026-11-26')")
    storage = await Storage.open(path)
    try:
        assert schema_version(storage.path) == SCHEMA_VERSION
        assert await storage.saved_search(1, "4242") is None  # made before chats were kept
        search_id = await storage.save_search("giá vàng", NOW, "4242")
        assert await storage.saved_search(search_id, "4242") == "giá vàng"
        assert await storage.saved_search(search_id, "5151") is None
        assert await storage.saved_search(search_id, "-1004242") is None
    finally:
        await storage.close()


# --- how common words are, for clustering -------------------------------------------


async def test_term_stats_count_what_clustering_counts(db: Storage) -> None:
    # The store's counts, read from the FTS index, agree with bot.cluster counting the
    # same articles itself: per article, title or summary, with or without diacritics.
    texts = [
        ("Bão Yagi đổ bộ Quảng Ninh", "Bão số 3 mạnh cấp 12, giật cấp 14."),
        ("Siêu bão Yagi vào đất liền", "Bão đổ bộ Hải Phòng, Quảng Ninh lúc 13h."),
        ("Giá xăng giảm", "Giá xăng RON 95 giảm 530 đồng, còn 21.890 đồng mỗi lít."),
        ("Gia vang tang manh", "Vàng tăng, tặng quà và tầng hầm: ba từ khác nhau."),
    ]
    await db.add_articles(
        [article(f"k{i}", t, s) for i, (t, s) in enumerate(texts)], NOW - timedelta(hours=1)
    )
    stored = await db.latest(10)
    terms = lookup_terms(stored)
    assert {"yagi", "bão", "bao", "tăng", "tặng", "tang", "quảng"} <= terms
    assert not {"và", "va", "của"} & terms  # stop words are not looked up, nor numbers
    assert not {"21", "890", "13h", "3"} & terms
    stats = await db.term_stats(terms)
    expected = TermStats.of(stored)
    assert stats.documents == 4
    assert {t: stats.df.get(t, 0) for t in terms} == {t: expected.df[t] for t in terms}
    assert (stats.df["bão"], stats.df["bao"], stats.df["yagi"], stats.df["tặng"]) == (2, 2, 2, 1)
    assert stats.df.get("không có", 0) == 0


async def test_term_stats_of_an_empty_store(db: Storage) -> None:
    stats = await db.term_stats({"bão"})
    assert stats.documents == 0
    assert stats.df == {}


async def test_term_stats_remembered_counts_and_new_words(db: Storage) -> None:
    # Counts are remembered for a while; a word first asked about later is looked up.
    await db.add_articles([article("a", "Bão Yagi", "Bão mạnh")], NOW)
    assert (await db.term_stats({"bão"})).df == {"bão": 1}
    await db.add_articles([article("b", "Bão Trà Mi", "Bão yếu")], NOW)
    stats = await db.term_stats({"bão", "trà"})
    assert stats.df == {"bão": 1, "trà": 1}  # "bão": the remembered count
    assert stats.documents == 2
    assert (await db.term_stats({"không_có"})).df == {}  # unknown to the index: left out


async def test_upgrading_to_readers_counts_existing_articles_as_matched(tmp_path: Path) -> None:
    """The step that adds readers' alerts must not alert anyone about the backlog."""
    import aiosqlite

    from bot.storage.migrations import migrate

    path = tmp_path / "before-readers.db"
    async with aiosqlite.connect(path, isolation_level=None) as db:
        await migrate(db, path, target=10)  # breaking news (editions.kind)
        await db.execute("INSERT INTO feeds (id, url) VALUES ('vne', 'u')")
        await db.execute(
            """INSERT INTO articles (feed_id, dedup_key, url, title, summary, first_seen_at,
               title_fold, summary_fold) VALUES ('vne', 'k', NULL, 'Bão', 'Bão',
               '2026-11-26 00:00:00', 'bao', 'bao')"""
        )
    storage = await Storage.open(path)
    assert schema_version(path) == SCHEMA_VERSION
    articles, through = await storage.unmatched_articles()
    assert articles == [] and through == 1
    await storage.close()
