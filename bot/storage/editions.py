"""Editions and channels: the outbox, and what Telegram told us about each destination.

The outbox: an edition is committed (edition → parts → the articles each part carries)
before anything is sent; a part is marked sent, with Telegram's message id, once Telegram
has accepted it. `edition_articles` has one row per (destination, article), so an article
can be planned for a destination once only: restarts and re-runs never post it twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.models import BREAKING, EDITION, ChannelState, Edition, PendingPart, StoredArticle
from bot.storage.base import (
    ARTICLE_COLUMNS,
    StorageBase,
    _wrap_errors,
    article_from_row,
    feed_filter,
    from_db_time,
    to_db_time,
)

# The newest this many articles are an edition's candidates: a day of 50 outlets. Every
# older one would be left out of the edition for good, and clustering 5,000 takes under
# a second (bench/cluster.py).
EDITION_CANDIDATES = 5000


class EditionStore(StorageBase):
    """The outbox of editions and their parts, and the state of each channel."""

    # --- editions and the outbox ---------------------------------------------------------

    @_wrap_errors
    async def last_edition_at(self, destination: str) -> datetime | None:
        value = await self._scalar(
            "SELECT max(planned_at) FROM editions WHERE destination = ? AND kind = ?",
            (destination, EDITION),
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
        limit: int = EDITION_CANDIDATES,
    ) -> list[StoredArticle]:
        """Articles first seen since `seen_since`, recent, and never planned for destination."""
        where, params = feed_filter(feed_ids)
        rows = await self._fetchall(
            f"""
            SELECT {ARTICLE_COLUMNS} FROM articles a {where}
            {"AND" if where else "WHERE"} a.first_seen_at >= ?
              AND coalesce(a.published_at, a.first_seen_at) >= ?
              AND NOT EXISTS (SELECT 1 FROM edition_articles e
                              WHERE e.destination = ? AND e.article_id = a.id)
            ORDER BY a.first_seen_at DESC, a.id DESC
            LIMIT ?
            """,
            (*params, to_db_time(seen_since), to_db_time(published_since), destination, limit),
        )
        return [article_from_row(row) for row in rows]

    @_wrap_errors
    async def plan_edition(self, edition: Edition, kind: str = EDITION) -> int | None:
        """Commit an edition and its parts to the outbox before anything is sent.

        `kind`: EDITION, or BREAKING for breaking news (see `breaking_history`).
        Returns the edition id, or None for an edition with no parts (nothing is recorded).
        """
        if not edition.parts:
            return None
        async with self._transaction() as db:
            cursor = await db.execute(
                "INSERT INTO editions (destination, title, planned_at, kind) VALUES (?, ?, ?, ?)",
                (edition.destination, edition.title, to_db_time(edition.planned_at), kind),
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
    async def breaking_history(self, destination: str, since: datetime) -> list[datetime]:
        """When breaking news was planned for the destination since `since`, oldest first."""
        rows = await self._fetchall(
            "SELECT planned_at FROM editions"
            " WHERE destination = ? AND kind = ? AND planned_at >= ? ORDER BY planned_at",
            (destination, BREAKING, to_db_time(since)),
        )
        return [moment for (text,) in rows if (moment := from_db_time(text)) is not None]

    @_wrap_errors
    async def recent_articles(
        self, destination: str, feed_ids: Sequence[str], *, seen_since: datetime
    ) -> tuple[list[StoredArticle], set[int]]:
        """Articles first seen since `seen_since`, and which of them are already planned
        for the destination (by an edition or as breaking news)."""
        where, params = feed_filter(feed_ids)
        rows = await self._fetchall(
            f"""
            SELECT {ARTICLE_COLUMNS},
                   EXISTS (SELECT 1 FROM edition_articles e
                           WHERE e.destination = ? AND e.article_id = a.id) AS planned
            FROM articles a {where} {"AND" if where else "WHERE"} a.first_seen_at >= ?
            ORDER BY a.id
            """,
            (destination, *params, to_db_time(seen_since)),
        )
        return [article_from_row(row) for row in rows], {row[0] for row in rows if row[-1]}

    @_wrap_errors
    async def breaking_articles(self, destination: str, since: datetime) -> list[StoredArticle]:
        """The articles posted to the destination as breaking news planned since `since`."""
        rows = await self._fetchall(
            f"""
            SELECT {ARTICLE_COLUMNS} FROM editions d
            JOIN edition_parts p ON p.edition_id = d.id
            JOIN edition_articles e ON e.part_id = p.id
            JOIN articles a ON a.id = e.article_id
            WHERE d.destination = ? AND d.kind = ? AND d.planned_at >= ?
            ORDER BY a.id
            """,
            (destination, BREAKING, to_db_time(since)),
        )
        return [article_from_row(row) for row in rows]

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

    # --- channels --------------------------------------------------------------------------

    @_wrap_errors
    async def channel_states(self) -> dict[str, ChannelState]:
        """Every destination known to the outbox or to Telegram's answers, with pending parts.

        Readers' alert destinations are left out: they are people, not channels, and this
        list feeds /status and the metrics."""
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
            WHERE k.chat NOT LIKE 'alert:%'
            """
        )
        return {
            row[0]: ChannelState(
                row[0], row[1], bool(row[2]), row[3], from_db_time(row[4]), int(row[5])
            )
            for row in rows
        }

    @_wrap_errors
    async def channel_state(self, chat: str) -> ChannelState:
        """One destination's state; by its own query, since alerts make destinations many."""
        rows = await self._fetchall(
            """
            SELECT c.current_chat, coalesce(c.active, 1), c.inactive_reason, c.changed_at,
                   (SELECT count(*) FROM edition_parts p JOIN editions e ON e.id = p.edition_id
                    WHERE p.sent_at IS NULL AND e.destination = ?)
            FROM (SELECT 1) LEFT JOIN channels c ON c.chat = ?
            """,
            (chat, chat),
        )
        row = rows[0]
        return ChannelState(chat, row[0], bool(row[1]), row[2], from_db_time(row[3]), int(row[4]))

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
