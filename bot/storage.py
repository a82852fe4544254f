"""Storage: the only module that speaks SQL.

SQLite through aiosqlite, the careful way: WAL, foreign keys on, one connection (so one
writer) guarded by a lock, the schema version in `PRAGMA user_version` with stepwise
migrations, a UNIQUE dedup key so a re-poll is idempotent, and an FTS5 index over folded
text kept in sync by triggers. sqlite3 errors are wrapped in StorageError here, at the
boundary, so callers deal with one exception tree.

The outbox: an edition is committed (edition → parts → the articles each part carries)
before anything is sent; a part is marked sent, with Telegram's message id, once Telegram
has accepted it. `edition_articles` has one row per (destination, article), so an article
can be planned for a destination once only: restarts and re-runs never post it twice.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import aiosqlite

from bot.errors import SearchTooSlow, StorageError
from bot.migrations import migrate
from bot.models import (
    Article,
    Edition,
    PendingPart,
    PollOutcome,
    PollResult,
    PublishedEdition,
    StoredArticle,
)
from bot.query import SearchQuery
from bot.vietnamese import Term, fold, match_key

P = ParamSpec("P")
SEARCH_WINDOW = 1000  # newest matches ranked per query: bounds the cost of common words
RECENCY_DAYS = 14.0
MMAP_BYTES = 1 << 30  # a match this many days old counts half as much as one from today
T = TypeVar("T")


_ARTICLE_COLUMNS = (
    "a.id, a.feed_id, a.url, a.title, a.summary, a.published_at, a.first_seen_at, a.body"
)


def to_db_time(moment: datetime) -> str:
    """UTC in SQLite's own text format: sortable, and readable in the sqlite3 shell."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def from_db_time(text: str | None) -> datetime | None:
    if text is None:
        return None
    # fromisoformat reads "YYYY-MM-DD HH:MM:SS" too, several times faster than strptime.
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _wrap_errors(method: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await method(*args, **kwargs)
        except sqlite3.Error as exc:
            raise StorageError(f"database error in {method.__name__}: {exc}") from exc

    return wrapper


@dataclass(frozen=True)
class FeedState:
    """What the database remembers about one feed between polls."""

    feed_id: str
    etag: str | None
    last_modified: str | None
    last_polled_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    consecutive_failures: int
    article_count: int = 0
    next_check_at: datetime | None = None
    next_check_reason: str | None = None
    redirected_to: str | None = None
    ttl: int | None = None  # minutes, the feed's own <ttl> from its last full answer


@dataclass(frozen=True)
class ChannelState:
    """What Telegram told us about a channel: can we post, and under which chat id."""

    chat: str
    current_chat: str | None = None
    active: bool = True
    inactive_reason: str | None = None
    changed_at: datetime | None = None
    pending_parts: int = 0

    @property
    def send_to(self) -> str:
        return self.current_chat or self.chat


class Storage:
    """The database. Open with `await Storage.open(path)`; close with `await close()`."""

    def __init__(self, connection: aiosqlite.Connection, path: Path) -> None:
        self._db = connection
        self._lock = asyncio.Lock()
        self.path = path

    @classmethod
    async def open(cls, path: Path) -> Storage:
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # isolation_level=None: we open our own transactions, explicitly and briefly.
            connection = await aiosqlite.connect(path, isolation_level=None)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open database {path}: {exc}") from exc
        storage = cls(connection, path)
        try:
            await storage._prepare()
        except BaseException:
            await connection.close()
            raise
        return storage

    async def close(self) -> None:
        async with self._lock:
            await self._db.close()

    @_wrap_errors
    async def _prepare(self) -> None:
        await self._db.execute("PRAGMA journal_mode = WAL")
        await self._db.execute("PRAGMA foreign_keys = ON")
        await self._db.execute("PRAGMA busy_timeout = 5000")
        await self._db.execute("PRAGMA synchronous = NORMAL")
        # Reading the index through the page cache alone is slow at a million articles;
        # a memory map lets the OS cache serve it (a no-op where mmap is unavailable).
        await self._db.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
        await migrate(self._db, self.path)

    @_wrap_errors
    async def backup(self, target: Path) -> None:
        """A consistent copy with SQLite's online backup API, safe while the bot writes."""
        target.parent.mkdir(parents=True, exist_ok=True)
        async with self._lock, aiosqlite.connect(target) as copy:
            await self._db.backup(copy)

    async def schema_version(self) -> int:
        return int(await self._scalar("PRAGMA user_version"))

    async def _scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        async with self._db.execute(sql, params) as cursor:
            row = await cursor.fetchone()
        return row[0] if row else None

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")

    async def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        async with self._lock, self._db.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    # --- feeds -------------------------------------------------------------------------

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
        (slow at a million articles), so the poll path asks without `counts`."""
        count = "(SELECT count(*) FROM articles a WHERE a.feed_id = f.id)" if counts else "0"
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
    async def record_poll(
        self,
        result: PollResult,
        at: datetime,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        redirected_to: str | None = None,
        ttl: int | None = None,
        document: bool = False,
    ) -> None:
        """Remember how a poll ended and when the feed is due again; caching headers are
        kept only from a successful fetch, and a permanent redirect until the URL changes.
        `ttl` replaces the stored one when a full `document` came (not on a 304)."""
        next_check = to_db_time(result.next_check) if result.next_check else None
        async with self._transaction() as db:
            if result.outcome is PollOutcome.ERROR:
                await db.execute(
                    """
                    UPDATE feeds SET last_polled_at = ?, last_error = ?,
                        consecutive_failures = consecutive_failures + 1,
                        next_check_at = ?, next_check_reason = ?
                    WHERE id = ?
                    """,
                    (to_db_time(at), result.error, next_check, result.next_check_reason,
                     result.feed_id),
                )  # fmt: skip
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
                (to_db_time(at), to_db_time(at), etag, last_modified, next_check,
                 result.next_check_reason, redirected_to, document, ttl, result.feed_id),
            )  # fmt: skip

    # --- articles ----------------------------------------------------------------------

    @_wrap_errors
    async def add_articles(
        self, articles: Sequence[Article], seen_at: datetime
    ) -> list[int | None]:
        """Store the articles not seen before.

        Returns one item per input article: the new row's id, or None if it was known (or
        repeated earlier in the same list). Known keys are looked up first, so a re-polled
        feed costs one query and no search-key computation.
        """
        keys = [(a.feed_id, a.dedup_key) for a in articles]
        async with self._transaction() as db:
            known = await _existing_keys(db, keys)
            fresh: dict[tuple[str, str], Article] = {}
            for key, article in zip(keys, articles, strict=True):
                if key not in known and key not in fresh:
                    fresh[key] = article
            await db.executemany(
                _INSERT_ARTICLE, [_article_values(a, seen_at) for a in fresh.values()]
            )
            ids = await _ids_of(db, list(fresh))
        claimed: set[tuple[str, str]] = set()
        result: list[int | None] = []
        for key in keys:
            result.append(ids.get(key) if key in fresh and key not in claimed else None)
            claimed.add(key)
        return result

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
                (
                    _stored_body(body, summary),
                    summary,
                    fold(summary),
                    match_key(summary),
                    article_id,
                ),
            )

    @_wrap_errors
    async def page_fetched(self, url: str) -> bool:
        async with self._lock:
            return bool(await self._scalar("SELECT 1 FROM pages WHERE url = ?", (url,)))

    @_wrap_errors
    async def record_page(self, url: str, at: datetime, error: str | None = None) -> None:
        async with self._transaction() as db:
            await db.execute(
                "INSERT OR REPLACE INTO pages (url, fetched_at, error) VALUES (?, ?, ?)",
                (url, to_db_time(at), error),
            )

    @_wrap_errors
    async def article_count(self) -> int:
        async with self._lock:
            return int(await self._scalar("SELECT count(*) FROM articles"))

    @_wrap_errors
    async def latest(
        self, limit: int, feed_ids: Sequence[str] | None = None
    ) -> list[StoredArticle]:
        """The newest articles by the date shown to readers."""
        where, params = _feed_filter(feed_ids)
        rows = await self._fetchall(
            f"""
            SELECT {_ARTICLE_COLUMNS} FROM articles a {where}
            ORDER BY min(coalesce(a.published_at, a.first_seen_at), a.first_seen_at) DESC,
                     a.id DESC
            LIMIT ?
            """,
            (*params, limit),
        )
        return [_article(row) for row in rows]

    @_wrap_errors
    async def search(
        self,
        query: SearchQuery,
        limit: int,
        offset: int = 0,
        *,
        now: datetime | None = None,
        deadline: float | None = None,
    ) -> list[StoredArticle]:
        """Articles matching a parsed query, best first.

        FTS5 walks the matches newest first and stops after SEARCH_WINDOW of them, so a
        query as common as "Hà Nội" costs about the same at a million articles as at a
        thousand. bm25 is left out on purpose: it reads every matching document's entry
        for each term (20–40 ms for common words at a million articles). The candidates
        are ranked instead by where the words occur (title over summary, the exact
        diacritics the user typed counted again), blended with recency. Every word is
        quoted, so nothing typed is FTS syntax; a source filter is a token in the index.
        With a `deadline` (time.monotonic()), SearchTooSlow when the query runs past it.
        """
        if not query.searchable:
            return []
        relevance, params = _relevance(query)
        rows = await self._fetchall_until(
            deadline,
            f"""
            WITH candidates AS (
                SELECT rowid AS id FROM articles_fts WHERE articles_fts MATCH ?
                ORDER BY rowid DESC LIMIT {SEARCH_WINDOW}
            )
            SELECT {_ARTICLE_COLUMNS} FROM candidates c JOIN articles a ON a.id = c.id
            ORDER BY ({relevance})
                / (1.0 + (julianday(?) - julianday(a.first_seen_at)) / {RECENCY_DAYS}) DESC,
                a.id DESC
            LIMIT ? OFFSET ?
            """,
            (fts_expression(query), *params, to_db_time(now or datetime.now(UTC)), limit, offset),
        )
        return [_article(row) for row in rows]

    async def _fetchall_until(
        self, deadline: float | None, sql: str, params: Sequence[Any] = ()
    ) -> list[sqlite3.Row]:
        """Like _fetchall, but SQLite stops the statement at `deadline` (time.monotonic()).

        A query can match nothing only after reading every posting list it names (eight
        quoted phrases of common words: half a second at a million articles), so a user's
        search gets a deadline; SQLite calls the handler every few thousand instructions,
        FTS5's included, and a true answer interrupts the statement.
        """
        if deadline is None:
            return await self._fetchall(sql, params)
        async with self._lock:
            await self._db.set_progress_handler(lambda: time.monotonic() > deadline, 1000)
            try:
                async with self._db.execute(sql, params) as cursor:
                    return list(await cursor.fetchall())
            except sqlite3.OperationalError as exc:
                if "interrupted" not in str(exc):
                    raise
                raise SearchTooSlow("search stopped at its deadline") from exc
            finally:
                await self._db.set_progress_handler(None, 0)  # type: ignore[arg-type]

    # --- saved searches (for result pages) and retention ------------------------------------

    @_wrap_errors
    async def save_search(self, text: str, at: datetime, chat: str) -> int:
        """Keep a query for its result pages; only `chat` may read it back."""
        async with self._transaction() as db:
            cursor = await db.execute(
                "INSERT INTO searches (query, created_at, chat) VALUES (?, ?, ?)",
                (text, to_db_time(at), chat),
            )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    @_wrap_errors
    async def saved_search(self, search_id: int, chat: str) -> str | None:
        """The query saved under this id for this chat; None for any other chat."""
        rows = await self._fetchall(
            "SELECT query FROM searches WHERE id = ? AND chat = ?", (search_id, chat)
        )
        return str(rows[0][0]) if rows else None

    @_wrap_errors
    async def prune(self, articles_before: datetime, searches_before: datetime) -> int:
        """Delete articles first seen before the cutoff (in small transactions), old pages
        and old saved searches; the FTS index follows by trigger. Returns articles deleted."""
        deleted = 0
        cutoff = to_db_time(articles_before)
        while True:
            async with self._transaction() as db:
                cursor = await db.execute(
                    """
                    DELETE FROM articles WHERE id IN (
                        SELECT id FROM articles WHERE first_seen_at < ? LIMIT 2000)
                    """,
                    (cutoff,),
                )
            deleted += cursor.rowcount
            if cursor.rowcount < 2000:
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
        async with self._lock:
            await self._db.execute("INSERT INTO articles_fts (articles_fts) VALUES ('optimize')")
            await self._db.execute("PRAGMA optimize")

    # --- editions and the outbox ---------------------------------------------------------

    @_wrap_errors
    async def last_edition_at(self, destination: str) -> datetime | None:
        async with self._lock:
            value = await self._scalar(
                "SELECT max(planned_at) FROM editions WHERE destination = ?", (destination,)
            )
        return from_db_time(value)

    @_wrap_errors
    async def edition_candidates(
        self,
        destination: str,
        feed_ids: Sequence[str],
        *,
        seen_since: datetime,
        published_since: datetime,
        limit: int = 500,
    ) -> list[StoredArticle]:
        """Articles first seen since `seen_since`, recent, and never planned for destination."""
        where, params = _feed_filter(feed_ids)
        rows = await self._fetchall(
            f"""
            SELECT {_ARTICLE_COLUMNS} FROM articles a {where}
            {"AND" if where else "WHERE"} a.first_seen_at >= ?
              AND coalesce(a.published_at, a.first_seen_at) >= ?
              AND NOT EXISTS (SELECT 1 FROM edition_articles e
                              WHERE e.destination = ? AND e.article_id = a.id)
            ORDER BY a.first_seen_at DESC, a.id DESC
            LIMIT ?
            """,
            (*params, to_db_time(seen_since), to_db_time(published_since), destination, limit),
        )
        return [_article(row) for row in rows]

    @_wrap_errors
    async def plan_edition(self, edition: Edition) -> int | None:
        """Commit an edition and its parts to the outbox before anything is sent.

        Returns the edition id, or None for an edition with no parts (nothing is recorded).
        """
        if not edition.parts:
            return None
        async with self._transaction() as db:
            cursor = await db.execute(
                "INSERT INTO editions (destination, title, planned_at) VALUES (?, ?, ?)",
                (edition.destination, edition.title, to_db_time(edition.planned_at)),
            )
            edition_id = cursor.lastrowid
            for seq, part in enumerate(edition.parts):
                cursor = await db.execute(
                    "INSERT INTO edition_parts (edition_id, seq, text, preview_url)"
                    " VALUES (?, ?, ?, ?)",
                    (edition_id, seq, part.text, part.preview_url),
                )
                await db.executemany(
                    "INSERT INTO edition_articles (destination, article_id, part_id)"
                    " VALUES (?, ?, ?)",
                    [(edition.destination, aid, cursor.lastrowid) for aid in part.article_ids],
                )
        assert edition_id is not None
        return edition_id

    @_wrap_errors
    async def pending_parts(self, destination: str | None = None) -> list[PendingPart]:
        """Unsent parts, oldest edition first and in order within each edition."""
        where = "AND e.destination = ?" if destination is not None else ""
        rows = await self._fetchall(
            f"""
            SELECT p.id, p.edition_id, e.destination, p.seq, p.text, p.preview_url
            FROM edition_parts p JOIN editions e ON e.id = p.edition_id
            WHERE p.sent_at IS NULL {where}
            ORDER BY p.edition_id, p.seq
            """,
            (destination,) if destination is not None else (),
        )
        return [PendingPart(*row) for row in rows]

    @_wrap_errors
    async def mark_sent(self, part_id: int, message_id: int | None, at: datetime) -> None:
        async with self._transaction() as db:
            await db.execute(
                """
                UPDATE edition_parts SET sent_at = ?, message_id = ?, attempts = attempts + 1,
                    last_error = NULL
                WHERE id = ?
                """,
                (to_db_time(at), message_id, part_id),
            )

    @_wrap_errors
    async def mark_failed(self, part_id: int, error: str) -> None:
        async with self._transaction() as db:
            await db.execute(
                "UPDATE edition_parts SET attempts = attempts + 1, last_error = ? WHERE id = ?",
                (error, part_id),
            )

    @_wrap_errors
    async def channel_states(self) -> dict[str, ChannelState]:
        """Every destination known to the outbox or to Telegram's answers, with pending parts."""
        rows = await self._fetchall(
            """
            WITH pending AS (
                SELECT e.destination AS chat, count(*) AS n FROM edition_parts p
                JOIN editions e ON e.id = p.edition_id WHERE p.sent_at IS NULL
                GROUP BY e.destination
            ), known AS (
                SELECT chat FROM channels UNION SELECT DISTINCT destination FROM editions
            )
            SELECT k.chat, c.current_chat, coalesce(c.active, 1), c.inactive_reason,
                   c.changed_at, coalesce(p.n, 0)
            FROM known k LEFT JOIN channels c ON c.chat = k.chat
            LEFT JOIN pending p ON p.chat = k.chat
            """
        )
        return {
            row[0]: ChannelState(
                row[0], row[1], bool(row[2]), row[3], from_db_time(row[4]), int(row[5])
            )
            for row in rows
        }

    async def channel_state(self, chat: str) -> ChannelState:
        return (await self.channel_states()).get(chat) or ChannelState(chat)

    @_wrap_errors
    async def set_channel_active(
        self, chat: str, active: bool, at: datetime, reason: str | None = None
    ) -> None:
        async with self._transaction() as db:
            await db.execute(
                """
                INSERT INTO channels (chat, active, inactive_reason, changed_at)
                VALUES (?, ?, ?, ?)
                ON CONFLICT (chat) DO UPDATE SET active = excluded.active,
                    inactive_reason = excluded.inactive_reason, changed_at = excluded.changed_at
                """,
                (chat, int(active), None if active else reason, to_db_time(at)),
            )

    @_wrap_errors
    async def set_current_chat(self, chat: str, current_chat: str, at: datetime) -> None:
        """Remember that Telegram moved the chat (group → supergroup) to a new id."""
        async with self._transaction() as db:
            await db.execute(
                """
                INSERT INTO channels (chat, current_chat, changed_at) VALUES (?, ?, ?)
                ON CONFLICT (chat) DO UPDATE SET current_chat = excluded.current_chat,
                    changed_at = excluded.changed_at
                """,
                (chat, current_chat, to_db_time(at)),
            )

    @_wrap_errors
    async def sent_parts(self, destination: str) -> list[tuple[int, int | None, str]]:
        """(seq, message id, text) of every sent part for a destination, in sending order."""
        rows = await self._fetchall(
            """
            SELECT p.seq, p.message_id, p.text FROM edition_parts p
            JOIN editions e ON e.id = p.edition_id
            WHERE e.destination = ? AND p.sent_at IS NOT NULL
            ORDER BY p.sent_at, p.edition_id, p.seq
            """,
            (destination,),
        )
        return [(row[0], row[1], row[2]) for row in rows]

    # --- web: read-only queries for the public site ---------------------------------------
    # Only what a channel has already shown its readers: editions with at least one part
    # Telegram accepted, only those parts, and only articles carried by such a part.

    @_wrap_errors
    async def published_editions(
        self, destinations: Sequence[str], limit: int, *, before: datetime | None = None
    ) -> list[PublishedEdition]:
        """The newest editions (without their parts) posted to any of `destinations`."""
        if not destinations:
            return []
        marks = ", ".join("?" * len(destinations))
        older = "AND e.planned_at < ?" if before else ""
        rows = await self._fetchall(
            f"""
            SELECT e.id, e.destination, e.title, e.planned_at FROM editions e
            WHERE e.destination IN ({marks}) {older}
              AND EXISTS (SELECT 1 FROM edition_parts p
                          WHERE p.edition_id = e.id AND p.sent_at IS NOT NULL)
            ORDER BY e.planned_at DESC, e.id DESC
            LIMIT ?
            """,
            (*destinations, *((to_db_time(before),) if before else ()), limit),
        )
        return [self._published(row) for row in rows]

    @_wrap_errors
    async def published_edition(
        self, edition_id: int, destinations: Sequence[str]
    ) -> PublishedEdition | None:
        """One edition with its sent parts, if it was posted to one of `destinations`."""
        if not destinations:
            return None
        marks = ", ".join("?" * len(destinations))
        rows = await self._fetchall(
            f"""
            SELECT e.id, e.destination, e.title, e.planned_at, p.text FROM editions e
            JOIN edition_parts p ON p.edition_id = e.id AND p.sent_at IS NOT NULL
            WHERE e.id = ? AND e.destination IN ({marks})
            ORDER BY p.seq
            """,
            (edition_id, *destinations),
        )
        if not rows:
            return None
        return replace(self._published(rows[0]), parts=tuple(row[4] for row in rows))

    @_wrap_errors
    async def published_search(
        self,
        query: SearchQuery,
        destinations: Sequence[str],
        limit: int,
        offset: int = 0,
        *,
        now: datetime | None = None,
        deadline: float | None = None,
    ) -> list[StoredArticle]:
        """`search`, kept to articles posted in a sent part to one of `destinations`.

        The same window and ranking as `search`; the filter is a primary-key probe of
        edition_articles per candidate, so it adds little to the cost.
        """
        if not query.searchable or not destinations:
            return []
        relevance, params = _relevance(query)
        marks = ", ".join("?" * len(destinations))
        rows = await self._fetchall_until(
            deadline,
            f"""
            WITH candidates AS (
                SELECT rowid AS id FROM articles_fts WHERE articles_fts MATCH ?
                ORDER BY rowid DESC LIMIT {SEARCH_WINDOW}
            )
            SELECT {_ARTICLE_COLUMNS} FROM candidates c JOIN articles a ON a.id = c.id
            WHERE EXISTS (
                SELECT 1 FROM edition_articles ea
                JOIN edition_parts p ON p.id = ea.part_id AND p.sent_at IS NOT NULL
                WHERE ea.destination IN ({marks}) AND ea.article_id = a.id)
            ORDER BY ({relevance})
                / (1.0 + (julianday(?) - julianday(a.first_seen_at)) / {RECENCY_DAYS}) DESC,
                a.id DESC
            LIMIT ? OFFSET ?
            """,
            (
                fts_expression(query),
                *destinations,
                *params,
                to_db_time(now or datetime.now(UTC)),
                limit,
                offset,
            ),
        )
        return [_article(row) for row in rows]

    @staticmethod
    def _published(row: sqlite3.Row) -> PublishedEdition:
        planned_at = from_db_time(row[3])
        assert planned_at is not None
        return PublishedEdition(row[0], row[1], row[2], planned_at)

    # --- end of web queries ------------------------------------------------------------------


_INSERT_ARTICLE = """
    INSERT INTO articles (feed_id, dedup_key, url, title, summary, published_at, first_seen_at,
        title_fold, summary_fold, title_key, summary_key, body, feed_token)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (feed_id, dedup_key) DO NOTHING
"""


def _article_values(article: Article, seen_at: datetime) -> tuple[object, ...]:
    return (
        article.feed_id,
        article.dedup_key,
        article.url,
        article.title,
        article.summary,
        to_db_time(article.published_at) if article.published_at else None,
        to_db_time(seen_at),
        fold(article.title),
        fold(article.summary),
        match_key(article.title),
        match_key(article.summary),
        _stored_body(article.body, article.summary),
        feed_token(article.feed_id),
    )


def _stored_body(body: str, summary: str) -> str:
    # Most sapos are their own summary: store the text once, "" meaning "same as summary".
    return "" if body == summary else body


def feed_token(feed_id: str) -> str:
    """The feed as one opaque index token, so `nguon:` is an exact match inside FTS5."""
    return "feed" + feed_id.encode().hex()


def _relevance(query: SearchQuery) -> tuple[str, list[str]]:
    """An SQL score for a candidate: each word or phrase in the title counts 4, in the
    summary 1; the same with the typed diacritics counts again (2 and 0.5)."""
    terms: list[str] = []
    params: list[str] = []
    for term in query.include:
        folded = " ".join(term.folded)
        terms.append("4.0 * (instr(a.title_fold, ?) > 0) + (instr(a.summary_fold, ?) > 0)")
        params += [folded, folded]
        if term.accented:
            key = " ".join(term.key)
            terms.append("2.0 * (instr(a.title_key, ?) > 0) + 0.5 * (instr(a.summary_key, ?) > 0)")
            params += [key, key]
    return " + ".join(["0.1", *terms]), params


def fts_expression(query: SearchQuery) -> str:
    """The FTS5 MATCH expression for a parsed query; every word is a quoted string.

    A word matches the folded columns; when the user typed diacritics, the same words in
    the key columns are OR-ed in, matching nothing more but ranking exact forms higher.
    """

    def quoted(tokens: Sequence[str]) -> str:
        return '"' + " ".join(t.replace('"', '""') for t in tokens) + '"'

    def positive(term: Term) -> str:
        folded = f"{{title_fold summary_fold}} : {quoted(term.folded)}"
        if term.accented:
            return f"({folded} OR {{title_key summary_key}} : {quoted(term.key)})"
        return f"({folded})"

    def negative(term: Term) -> str:
        if term.accented:
            return f"{{title_key summary_key}} : {quoted(term.key)}"
        return f"{{title_fold summary_fold}} : {quoted(term.folded)}"

    expression = " AND ".join(positive(t) for t in query.include)
    if query.sources:
        sources = " OR ".join(f'"{feed_token(source)}"' for source in query.sources)
        expression = f"({{feed_token}} : ({sources})) AND {expression}"
    for term in query.exclude:
        expression = f"({expression}) NOT {negative(term)}"
    return expression


_KEY_CHUNK = 400  # (feed, key) pairs per query: well under SQLite's variable limit


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


def _feed_filter(feed_ids: Sequence[str] | None) -> tuple[str, tuple[str, ...]]:
    if feed_ids is None:
        return "", ()
    marks = ", ".join("?" for _ in feed_ids) or "NULL"
    return f"WHERE a.feed_id IN ({marks})", tuple(feed_ids)


def _article(row: sqlite3.Row) -> StoredArticle:
    first_seen = from_db_time(row[6])
    assert first_seen is not None
    return StoredArticle(
        id=row[0],
        feed_id=row[1],
        url=row[2],
        title=row[3],
        summary=row[4],
        published_at=from_db_time(row[5]),
        first_seen_at=first_seen,
        body=row[7] or row[4],
    )
