"""Readers: the topics each follows, how they want alerts, and the alerts queued for them.

Alerts reach Telegram through the outbox (bot.storage.editions): when an alert is due it is
planned as a one-part edition for the destination `alert:<chat>[/<thread>]`, then sent
and marked like any edition part. `alerts` keeps one row per (reader, article) for every
article of a story queued for the reader, so a story reaches a reader once, ever; and
`alert_state.matched_through` is the last article id matched, moved in the transaction
that queues the alerts it brought, so each article is matched exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.models import (
    ALERT_PREFIX,
    DueAlert,
    EditionPart,
    QueuedAlert,
    Reader,
    StoredArticle,
    Topic,
    alert_destination,
)
from bot.storage.base import (
    ARTICLE_COLUMNS,
    StorageBase,
    _wrap_errors,
    article_from_row,
    from_db_time,
    to_db_time,
)

MAX_TOPICS = 20  # per reader: what the issue asks, and what a list of buttons can show
_ALERT_LIKE = ALERT_PREFIX + "%"


class ReaderStore(StorageBase):
    """Readers, their topics and their queued alerts."""

    # --- topics -----------------------------------------------------------------------------

    @_wrap_errors
    async def follow(
        self, chat: str, query: str, at: datetime, thread: int | None = None
    ) -> tuple[Topic | None, bool]:
        """(the topic, whether it is new); (None, False) when the reader has MAX_TOPICS."""
        async with self._transaction() as db:
            await db.execute(
                "INSERT OR IGNORE INTO readers (chat, created_at) VALUES (?, ?)",
                (chat, to_db_time(at)),
            )
            async with db.execute(
                "SELECT id, thread FROM topics WHERE chat = ? AND query = ?", (chat, query)
            ) as cursor:
                row = await cursor.fetchone()
            if row is not None:
                return Topic(row[0], chat, query, row[1]), False
            async with db.execute("SELECT count(*) FROM topics WHERE chat = ?", (chat,)) as c:
                count = (await c.fetchone() or (0,))[0]
            if count >= MAX_TOPICS:
                return None, False
            cursor = await db.execute(
                "INSERT INTO topics (chat, thread, query, created_at) VALUES (?, ?, ?, ?)",
                (chat, thread, query, to_db_time(at)),
            )
            assert cursor.lastrowid is not None
            return Topic(cursor.lastrowid, chat, query, thread), True

    @_wrap_errors
    async def topics_of(self, chat: str) -> list[Topic]:
        rows = await self._fetchall(
            "SELECT id, chat, query, thread FROM topics WHERE chat = ? ORDER BY id", (chat,)
        )
        return [Topic(*row) for row in rows]

    @_wrap_errors
    async def unfollow(self, chat: str, topic_id: int) -> Topic | None:
        """Stop following one of the chat's topics; None when the chat has no such topic."""
        async with self._transaction() as db:
            async with db.execute(
                "SELECT id, chat, query, thread FROM topics WHERE id = ? AND chat = ?",
                (topic_id, chat),
            ) as cursor:
                row = await cursor.fetchone()
            if row is None:
                return None
            await db.execute("DELETE FROM topics WHERE id = ?", (topic_id,))
        return Topic(*row)

    @_wrap_errors
    async def active_topics(self) -> list[Topic]:
        """Every topic of every reader not paused: what new articles are matched against."""
        rows = await self._fetchall(
            """
            SELECT t.id, t.chat, t.query, t.thread FROM topics t
            JOIN readers r ON r.chat = t.chat WHERE r.paused = 0 ORDER BY t.id
            """
        )
        return [Topic(*row) for row in rows]

    # --- readers ----------------------------------------------------------------------------

    @_wrap_errors
    async def readers(self, chats: Sequence[str] | None = None) -> dict[str, Reader]:
        where, params = "", tuple(chats or ())
        if chats is not None:
            where = f"WHERE chat IN ({', '.join('?' for _ in chats) or 'NULL'})"
        rows = await self._fetchall(
            f"SELECT chat, times, quiet, paused FROM readers {where}", params
        )
        return {row[0]: Reader(row[0], row[1], row[2], bool(row[3])) for row in rows}

    @_wrap_errors
    async def set_reader(
        self, chat: str, at: datetime, *, times: str | None = None, quiet: str | None = None
    ) -> Reader:
        async with self._transaction() as db:
            await db.execute(
                "INSERT OR IGNORE INTO readers (chat, created_at) VALUES (?, ?)",
                (chat, to_db_time(at)),
            )
            if times is not None:
                await db.execute("UPDATE readers SET times = ? WHERE chat = ?", (times, chat))
            if quiet is not None:
                await db.execute("UPDATE readers SET quiet = ? WHERE chat = ?", (quiet, chat))
            async with db.execute(
                "SELECT chat, times, quiet, paused FROM readers WHERE chat = ?", (chat,)
            ) as cursor:
                row = await cursor.fetchone()
        assert row is not None
        return Reader(row[0], row[1], row[2], bool(row[3]))

    @_wrap_errors
    async def set_paused(self, chat: str, paused: bool) -> bool:
        """Pause or resume a reader's alerts; whether anything changed.

        Resuming also forgets Telegram's last refusal, so delivery is tried again."""
        async with self._transaction() as db:
            cursor = await db.execute(
                "UPDATE readers SET paused = ? WHERE chat = ? AND paused != ?",
                (int(paused), chat, int(paused)),
            )
            if not paused:
                mine = (alert_destination(chat), alert_destination(chat) + "/%")
                await db.execute(
                    "UPDATE channels SET active = 1, inactive_reason = NULL"
                    " WHERE chat = ? OR chat LIKE ?",
                    mine,
                )
            return cursor.rowcount > 0

    @_wrap_errors
    async def forget(self, chat: str) -> bool:
        """Delete everything stored about a reader: topics, alerts, their outbox, state."""
        async with self._transaction() as db:
            cursor = await db.execute("DELETE FROM readers WHERE chat = ?", (chat,))
            existed = cursor.rowcount > 0
            mine = (alert_destination(chat), alert_destination(chat) + "/%")
            await db.execute(
                "DELETE FROM editions WHERE destination = ? OR destination LIKE ?", mine
            )
            await db.execute("DELETE FROM channels WHERE chat = ? OR chat LIKE ?", mine)
        return existed

    @_wrap_errors
    async def reader_counts(self, since: datetime) -> tuple[int, int, int]:
        """(readers, topics, alerts sent since `since`): numbers only, never who follows what."""
        rows = await self._fetchall(
            """
            SELECT (SELECT count(*) FROM readers), (SELECT count(*) FROM topics),
                   (SELECT count(*) FROM edition_parts p JOIN editions e ON e.id = p.edition_id
                    WHERE e.destination LIKE ? AND p.sent_at >= ?)
            """,
            (_ALERT_LIKE, to_db_time(since)),
        )
        return int(rows[0][0]), int(rows[0][1]), int(rows[0][2])

    # --- matching ---------------------------------------------------------------------------

    @_wrap_errors
    async def unmatched_articles(self, limit: int = 1000) -> tuple[list[StoredArticle], int]:
        """Articles stored since the last match, oldest first; and the last id matched."""
        through = int(
            await self._scalar("SELECT value FROM alert_state WHERE key = 'matched_through'") or 0
        )
        rows = await self._fetchall(
            f"SELECT {ARTICLE_COLUMNS} FROM articles a WHERE a.id > ? ORDER BY a.id LIMIT ?",
            (through, limit),
        )
        return [article_from_row(row) for row in rows], through

    @_wrap_errors
    async def recent_alerts(
        self, since: datetime, limit: int = 500
    ) -> tuple[list[StoredArticle], dict[int, set[str]]]:
        """Articles queued for someone since `since` (newest first), and who got each: a new
        version of a story already told is not told again."""
        rows = await self._fetchall(
            f"""
            WITH recent AS (
                SELECT DISTINCT article_id FROM alerts WHERE queued_at >= ?
                ORDER BY article_id DESC LIMIT ?
            )
            SELECT {ARTICLE_COLUMNS}, (SELECT group_concat(chat, char(31)) FROM alerts x
                                       WHERE x.article_id = a.id)
            FROM articles a JOIN recent r ON r.article_id = a.id
            """,
            (to_db_time(since), limit),
        )
        chats = {int(row[0]): set(str(row[8]).split("\x1f")) for row in rows}
        return [article_from_row(row) for row in rows], chats

    @_wrap_errors
    async def immediate_since(self, since: datetime) -> dict[str, int]:
        """How many stories each chat was alerted of at once since `since` (the daily cap)."""
        rows = await self._fetchall(
            """
            SELECT chat, count(*) FROM alerts
            WHERE kind = 'now' AND article_id = story AND queued_at >= ?
            GROUP BY chat
            """,
            (to_db_time(since),),
        )
        return {row[0]: int(row[1]) for row in rows}

    @_wrap_errors
    async def queue_alerts(
        self, alerts: Sequence[QueuedAlert], matched_through: int, at: datetime
    ) -> int:
        """Queue alerts and record the articles as matched, at once; how many were new."""
        async with self._transaction() as db:
            before = db.total_changes
            await db.executemany(
                """
                INSERT OR IGNORE INTO alerts
                    (chat, article_id, story, thread, topic, kind, queued_at, due_at)
                SELECT ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS
                    (SELECT 1 FROM readers WHERE chat = ?)
                """,
                [
                    (a.chat, a.article_id, a.story, a.thread, a.topic, a.kind,
                     to_db_time(at), to_db_time(a.due_at), a.chat)
                    for a in alerts
                ],
            )  # fmt: skip
            queued = db.total_changes - before
            await db.execute(
                """
                INSERT INTO alert_state (key, value) VALUES ('matched_through', ?)
                ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)
                """,
                (matched_through,),
            )
        return queued

    # --- from the queue to the outbox -------------------------------------------------------

    @_wrap_errors
    async def due_alerts(self, now: datetime) -> list[DueAlert]:
        """Queued alerts whose time has come (every article of their stories), in order."""
        rows = await self._fetchall(
            f"""
            SELECT {ARTICLE_COLUMNS}, q.chat, q.thread, q.story, q.topic, q.kind
            FROM alerts q JOIN articles a ON a.id = q.article_id
            JOIN readers r ON r.chat = q.chat
            WHERE q.planned = 0 AND q.due_at <= ? AND r.paused = 0
            ORDER BY q.chat, q.story, q.article_id != q.story, a.id
            """,
            (to_db_time(now),),
        )
        return [DueAlert(r[8], r[9], r[10], r[11], r[12], article_from_row(r)) for r in rows]

    @_wrap_errors
    async def plan_alert(
        self,
        chat: str,
        thread: int | None,
        title: str,
        parts: Sequence[EditionPart],
        stories: Sequence[int],
        at: datetime,
    ) -> None:
        """Commit an alert message (or a reader's digest) to the outbox, and mark its
        stories planned for the chat, in one transaction."""
        destination = alert_destination(chat, thread)
        async with self._transaction() as db:
            cursor = await db.execute(
                "INSERT INTO editions (destination, title, planned_at) VALUES (?, ?, ?)",
                (destination, title, to_db_time(at)),
            )
            edition_id = cursor.lastrowid
            for seq, part in enumerate(parts):
                await db.execute(
                    "INSERT INTO edition_parts (edition_id, seq, text, preview_url)"
                    " VALUES (?, ?, ?, ?)",
                    (edition_id, seq, part.text, part.preview_url),
                )
            await db.executemany(
                "UPDATE alerts SET planned = 1 WHERE chat = ? AND story = ?",
                [(chat, story) for story in stories],
            )

    @_wrap_errors
    async def alert_destinations(self) -> list[str]:
        """Alert destinations with parts still to send, oldest first."""
        rows = await self._fetchall(
            """
            SELECT e.destination FROM edition_parts p JOIN editions e ON e.id = p.edition_id
            WHERE p.sent_at IS NULL AND e.destination LIKE ?
            GROUP BY e.destination ORDER BY min(p.id)
            """,
            (_ALERT_LIKE,),
        )
        return [row[0] for row in rows]

    @_wrap_errors
    async def next_alert_due(self) -> datetime | None:
        return from_db_time(await self._scalar("SELECT min(due_at) FROM alerts WHERE planned = 0"))
