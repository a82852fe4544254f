"""Feeds: the configured feeds, what each poll left behind, and the article pages fetched.

A feed's row keeps its caching headers (ETag, Last-Modified) only from a successful fetch,
a permanent redirect until the configured URL changes, and when it is due again.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import aiosqlite

from bot.models import FeedState, FeedUpdate
from bot.storage.base import StorageBase, _wrap_errors, from_db_time, to_db_time


class FeedStore(StorageBase):
    """Feeds, their poll records, and the pages fetched for articles."""

    @_wrap_errors
    async def sync_feeds(self, feeds: Iterable[tuple[str, str]]) -> None:
        """Make sure every configured (feed id, url) has a row; a changed URL resets caching."""
        async with self._transaction() as db:
            for feed_id, url in feeds:
                await db.execute(
                    """
                    INSERT INTO feeds (id, url) VALUES (?, ?)
                    ON CONFLICT (id) DO UPDATE SET url = excluded.url,
                        etag = NULL, last_modified = NULL, redirected_to = NULL
                    WHERE feeds.url != excluded.url
                    """,
                    (feed_id, url),
                )

    @_wrap_errors
    async def feed_states(self, *, counts: bool = True) -> dict[str, FeedState]:
        """Every feed's remembered state. Counting articles walks each feed's index range
        (slow at a million articles), so the poll path asks without `counts` (then
        `article_count` is None)."""
        count = "(SELECT count(*) FROM articles a WHERE a.feed_id = f.id)" if counts else "NULL"
        rows = await self._fetchall(
            f"""
            SELECT f.id, f.etag, f.last_modified, f.last_polled_at, f.last_success_at,
                   f.last_error, f.consecutive_failures, {count},
                   f.next_check_at, f.next_check_reason, f.redirected_to, f.ttl
            FROM feeds f
            """
        )
        return {
            row[0]: FeedState(
                feed_id=row[0],
                etag=row[1],
                last_modified=row[2],
                last_polled_at=from_db_time(row[3]),
                last_success_at=from_db_time(row[4]),
                last_error=row[5],
                consecutive_failures=row[6],
                article_count=row[7],
                next_check_at=from_db_time(row[8]),
                next_check_reason=row[9],
                redirected_to=row[10],
                ttl=row[11],
            )
            for row in rows
        }

    @_wrap_errors
    async def page_attempted(self, url: str) -> bool:
        """Whether this page was fetched before, successfully or not: it is tried once."""
        return bool(await self._scalar("SELECT 1 FROM pages WHERE url = ?", (url,)))

    @_wrap_errors
    async def record_page(self, url: str, at: datetime, error: str | None = None) -> None:
        async with self._transaction() as db:
            await db.execute(
                "INSERT OR REPLACE INTO pages (url, fetched_at, error) VALUES (?, ?, ?)",
                (url, to_db_time(at), error),
            )


async def record_poll(db: aiosqlite.Connection, update: FeedUpdate) -> None:
    """Remember how a poll ended and when the feed is due again, inside the caller's
    transaction. Caching headers are kept only from a successful fetch, a permanent redirect
    until the URL changes, and `ttl` replaces the stored one when a full `document` came."""
    at, next_check = to_db_time(update.polled_at), to_db_time(update.next_check)
    if update.error is not None:
        await db.execute(
            """
            UPDATE feeds SET last_polled_at = ?, last_error = ?,
                consecutive_failures = consecutive_failures + 1,
                next_check_at = ?, next_check_reason = ?
            WHERE id = ?
            """,
            (at, update.error, next_check, update.next_check_reason, update.feed_id),
        )
        return
    await db.execute(
        """
        UPDATE feeds SET last_polled_at = ?, last_success_at = ?, last_error = NULL,
            consecutive_failures = 0,
            etag = coalesce(?, etag), last_modified = coalesce(?, last_modified),
            next_check_at = ?, next_check_reason = ?,
            redirected_to = coalesce(?, redirected_to),
            ttl = CASE WHEN ? THEN ? ELSE ttl END
        WHERE id = ?
        """,
        (at, at, update.etag, update.last_modified, next_check, update.next_check_reason,
         update.redirected_to, update.document, update.ttl, update.feed_id),
    )  # fmt: skip
