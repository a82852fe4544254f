"""The connection every part of storage shares, and the one way to reach it.

SQLite through aiosqlite, the careful way: WAL, foreign keys on, one connection (so one
writer), the schema version in `PRAGMA user_version` with stepwise migrations
(bot.storage.migrations). sqlite3 errors are wrapped in StorageError here, at the
boundary, so callers deal with one exception tree.

The locking rule. The one connection is shared by every coroutine of the bot, and
statements from two of them must not interleave (a read inside someone's open transaction
would see half of it, and a second BEGIN would fail). So every public method of Storage:

- reaches the connection only through these helpers, each of which takes the lock for
  exactly its own work: `_transaction()` for writes (BEGIN IMMEDIATE … COMMIT),
  `_fetchall()` and `_scalar()` for reads, `_locked()` for the few statements that are
  neither (optimize, backup, close);
- never calls a helper from inside another: the lock is not re-entrant, so work that must
  be atomic goes in one `_transaction()`, which hands out the connection to use inside it;
- is decorated with `_wrap_errors`, so a sqlite3 error leaves as StorageError.

Only this module touches `self._db` and `self._lock` directly (tests/test_architecture.py
checks it).
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ParamSpec, Self, TypeVar

import aiosqlite

from bot.errors import SearchTooSlow, StorageError
from bot.models import StoredArticle
from bot.storage.migrations import migrate

P = ParamSpec("P")
T = TypeVar("T")
MMAP_BYTES = 1 << 30

ARTICLE_COLUMNS = (
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


class StorageBase:
    """The connection, its lock and the helpers every store goes through (see above)."""

    def __init__(self, connection: aiosqlite.Connection, path: Path) -> None:
        self._db = connection
        self._lock = asyncio.Lock()
        # term → (rows holding it, or None when none; time.monotonic() when looked up); see
        # SearchStore.term_stats
        self._term_counts: dict[str, tuple[int | None, float]] = {}
        self.path = path

    @classmethod
    async def open(cls, path: Path) -> Self:
        """Open (creating it if needed) and migrate the database; close with `close()`."""
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

    @_wrap_errors
    async def close(self) -> None:
        async with self._locked() as db:
            await db.close()

    @_wrap_errors
    async def _prepare(self) -> None:
        # Before anyone else holds the storage: no other coroutine can interleave yet.
        await self._db.execute("PRAGMA journal_mode = WAL")
        await self._db.execute("PRAGMA foreign_keys = ON")
        await self._db.execute("PRAGMA busy_timeout = 5000")
        await self._db.execute("PRAGMA synchronous = NORMAL")
        # Reading the index through the page cache alone is slow at a million articles;
        # a memory map lets the OS cache serve it (a no-op where mmap is unavailable).
        await self._db.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
        await migrate(self._db, self.path)
        # How many rows hold each indexed term, read from the FTS index itself (see
        # `term_stats`). In the connection's temp schema: nothing is stored, no migration.
        await self._db.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.articles_vocab"
            " USING fts5vocab(main, articles_fts, row)"
        )

    @_wrap_errors
    async def backup(self, target: Path) -> None:
        """A consistent copy with SQLite's online backup API, safe while the bot writes."""
        target.parent.mkdir(parents=True, exist_ok=True)
        async with self._locked() as db, aiosqlite.connect(target) as copy:
            await db.backup(copy)

    # --- the helpers: each takes the lock for its own work, and only for that ----------

    @asynccontextmanager
    async def _locked(self) -> AsyncIterator[aiosqlite.Connection]:
        """The connection, held alone: for statements that are neither a read nor a write."""
        async with self._lock:
            yield self._db

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

    async def _scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        async with self._lock, self._db.execute(sql, params) as cursor:
            row = await cursor.fetchone()
        return row[0] if row else None

    async def _fetchall(
        self, sql: str, params: Sequence[Any] = (), *, deadline: float | None = None
    ) -> list[sqlite3.Row]:
        """All rows of one query; with a `deadline` (time.monotonic()), SearchTooSlow when
        the statement runs past it.

        A query can match nothing only after reading every posting list it names (eight
        quoted phrases of common words: half a second at a million articles), so a user's
        search gets a deadline; SQLite calls the handler every few thousand instructions,
        FTS5's included, and a true answer interrupts the statement.
        """
        async with self._lock:
            if deadline is None:
                async with self._db.execute(sql, params) as cursor:
                    return list(await cursor.fetchall())
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


# --- the article row, shared by the stores that read articles ---------------------------


def feed_filter(feed_ids: Sequence[str] | None) -> tuple[str, tuple[str, ...]]:
    """A WHERE clause keeping articles of these feeds (all feeds for None)."""
    if feed_ids is None:
        return "", ()
    marks = ", ".join("?" for _ in feed_ids) or "NULL"
    return f"WHERE a.feed_id IN ({marks})", tuple(feed_ids)


def article_from_row(row: sqlite3.Row) -> StoredArticle:
    """A StoredArticle from a row selected as ARTICLE_COLUMNS."""
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
