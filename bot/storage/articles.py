"""Articles: storing them once each, their text, the newest ones, and retention.

A UNIQUE (feed, dedup key) makes a re-poll idempotent; the search keys are computed only
for articles not seen before, and the FTS index follows every change by trigger.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import aiosqlite

from bot.models import Article, StoredArticle
from bot.storage.base import (
    ARTICLE_COLUMNS,
    StorageBase,
    _wrap_errors,
    article_from_row,
    feed_filter,
    to_db_time,
)
from bot.storage.search import feed_token, search_keys

_PRUNE_BATCH = 2000  # articles deleted per transaction, so writers are not held up long
_KEY_CHUNK = 400  # (feed, key) pairs per query: well under SQLite's variable limit

_INSERT_ARTICLE = """
    INSERT INTO articles (feed_id, dedup_key, url, title, summary, published_at, first_seen_at,
        title_fold, title_key, summary_fold, summary_key, body, feed_token)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (feed_id, dedup_key) DO NOTHING
"""


class ArticleStore(StorageBase):
    """Articles in and out, their count, and what retention removes."""

    @_wrap_errors
    async def add_articles(
        self, articles: Sequence[Article], seen_at: datetime
    ) -> list[int | None]:
        """Store the articles not seen before.

        Returns one item per input article: the new row's id, or None if it was known (or
        repeated earlier in the same list). Known keys are looked up first, so a re-polled
        feed costs one query and no search-key computation.
        """
        async with self._transaction() as db:
            return await insert_new_articles(db, articles, seen_at)

    @_wrap_errors
    async def import_articles(self, articles: Iterable[tuple[Article, datetime]]) -> None:
        """Bulk insert (article, first seen) pairs in one transaction, skipping known ones."""
        async with self._transaction() as db:
            await db.executemany(
                _INSERT_ARTICLE, (_article_values(a, seen) for a, seen in articles)
            )

    @_wrap_errors
    async def set_article_text(self, article_id: int, body: str, summary: str) -> None:
        """Replace an article's source text and summary (the FTS index follows by trigger)."""
        async with self._transaction() as db:
            await db.execute(
                """
                UPDATE articles SET body = ?, summary = ?, summary_fold = ?, summary_key = ?
                WHERE id = ?
                """,
                (_stored_body(body, summary), summary, *search_keys(summary), article_id),
            )

    @_wrap_errors
    async def article_count(self) -> int:
        return int(await self._scalar("SELECT count(*) FROM articles"))

    @_wrap_errors
    async def latest(
        self, limit: int, feed_ids: Sequence[str] | None = None
    ) -> list[StoredArticle]:
        """The newest articles by the date shown to readers."""
        where, params = feed_filter(feed_ids)
        rows = await self._fetchall(
            f"""
            SELECT {ARTICLE_COLUMNS} FROM articles a {where}
            ORDER BY min(coalesce(a.published_at, a.first_seen_at), a.first_seen_at) DESC,
                     a.id DESC
            LIMIT ?
            """,
            (*params, limit),
        )
        return [article_from_row(row) for row in rows]

    @_wrap_errors
    async def prune(self, articles_before: datetime, searches_before: datetime) -> int:
        """Delete articles first seen before the cutoff (in small transactions), old pages
        and old saved searches; the FTS index follows by trigger. Returns articles deleted."""
        deleted = 0
        cutoff = to_db_time(articles_before)
        while True:
            async with self._transaction() as db:
                cursor = await db.execute(
                    f"""
                    DELETE FROM articles WHERE id IN (
                        SELECT id FROM articles WHERE first_seen_at < ? LIMIT {_PRUNE_BATCH})
                    """,
                    (cutoff,),
                )
            deleted += cursor.rowcount
            if cursor.rowcount < _PRUNE_BATCH:
                break
        async with self._transaction() as db:
            await db.execute("DELETE FROM pages WHERE fetched_at < ?", (cutoff,))
            await db.execute(
                "DELETE FROM searches WHERE created_at < ?", (to_db_time(searches_before),)
            )
        return deleted

    @_wrap_errors
    async def optimize(self) -> None:
        """Merge the FTS index's segments and refresh the query planner's statistics."""
        async with self._locked() as db:
            await db.execute("INSERT INTO articles_fts (articles_fts) VALUES ('optimize')")
            await db.execute("PRAGMA optimize")


def _article_values(article: Article, seen_at: datetime) -> tuple[object, ...]:
    return (
        article.feed_id,
        article.dedup_key,
        article.url,
        article.title,
        article.summary,
        to_db_time(article.published_at) if article.published_at else None,
        to_db_time(seen_at),
        *search_keys(article.title),
        *search_keys(article.summary),
        _stored_body(article.body, article.summary),
        feed_token(article.feed_id),
    )


async def insert_new_articles(
    db: aiosqlite.Connection, articles: Sequence[Article], seen_at: datetime
) -> list[int | None]:
    """`ArticleStore.add_articles` inside a transaction the caller holds."""
    keys = [(a.feed_id, a.dedup_key) for a in articles]
    known = await _existing_keys(db, keys)
    fresh: dict[tuple[str, str], Article] = {}
    for key, article in zip(keys, articles, strict=True):
        if key not in known and key not in fresh:
            fresh[key] = article
    await db.executemany(_INSERT_ARTICLE, [_article_values(a, seen_at) for a in fresh.values()])
    ids = await _ids_of(db, list(fresh))
    claimed: set[tuple[str, str]] = set()
    result: list[int | None] = []
    for key in keys:
        result.append(ids.get(key) if key in fresh and key not in claimed else None)
        claimed.add(key)
    return result


def _stored_body(body: str, summary: str) -> str:
    # Most sapos are their own summary: store the text once, "" meaning "same as summary".
    return "" if body == summary else body


async def _existing_keys(
    db: aiosqlite.Connection, keys: Sequence[tuple[str, str]]
) -> set[tuple[str, str]]:
    return set((await _ids_of(db, keys)).keys())


async def _ids_of(
    db: aiosqlite.Connection, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """Row ids of the articles with these (feed id, dedup key) pairs, where they exist.

    One query per feed with `dedup_key IN (…)`: SQLite seeks the UNIQUE index for that
    form, where a row-value `IN (VALUES …)` would scan the whole index.
    """
    by_feed: dict[str, list[str]] = {}
    for feed_id, dedup_key in dict.fromkeys(keys):
        by_feed.setdefault(feed_id, []).append(dedup_key)
    found: dict[tuple[str, str], int] = {}
    for feed_id, dedup_keys in by_feed.items():
        for start in range(0, len(dedup_keys), _KEY_CHUNK):
            chunk = dedup_keys[start : start + _KEY_CHUNK]
            marks = ", ".join("?" for _ in chunk)
            async with db.execute(
                f"SELECT dedup_key, id FROM articles WHERE feed_id = ? AND dedup_key IN ({marks})",
                [feed_id, *chunk],
            ) as cursor:
                for dedup_key, row_id in await cursor.fetchall():
                    found[(feed_id, dedup_key)] = row_id
    return found
