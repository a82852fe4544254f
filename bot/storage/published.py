"""What a channel has already shown its readers, for the public site (bot.web).

Only editions with at least one part Telegram accepted, only those parts, and only articles
carried by such a part: nothing planned but unsent, nothing about admins or readers.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from bot.models import PublishedEdition, StoredArticle
from bot.query import SearchQuery
from bot.storage.base import (
    StorageBase,
    _wrap_errors,
    article_from_row,
    from_db_time,
    to_db_time,
)
from bot.storage.search import ranked_query


class PublishedStore(StorageBase):
    """Read-only queries over what was posted, for the public site."""

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
        marks = ", ".join("?" * len(destinations))
        only = f"""EXISTS (
            SELECT 1 FROM edition_articles ea
            JOIN edition_parts p ON p.id = ea.part_id AND p.sent_at IS NOT NULL
            WHERE ea.destination IN ({marks}) AND ea.article_id = a.id)"""
        sql, params = ranked_query(query, limit, offset, now, only, destinations)
        rows = await self._fetchall(sql, params, deadline=deadline)
        return [article_from_row(row) for row in rows]

    @staticmethod
    def _published(row: sqlite3.Row) -> PublishedEdition:
        planned_at = from_db_time(row[3])
        assert planned_at is not None
        return PublishedEdition(row[0], row[1], row[2], planned_at)
