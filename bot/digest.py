"""Digest stage: which articles go into a channel's edition (pure).

The storage query already applies the window (first seen since the previous edition, or
the last 12 hours for a first edition; published within 48 hours; never planned for this
destination). Here: one item per story link or title, newest first, at most `max_items`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.models import StoredArticle
from bot.vietnamese import match_key

FIRST_EDITION_LOOKBACK = timedelta(hours=12)
MAX_AGE = timedelta(hours=48)


def window_start(previous_edition: datetime | None, now: datetime) -> datetime:
    """Articles first seen at or after this moment are new for the next edition."""
    return previous_edition if previous_edition is not None else now - FIRST_EDITION_LOOKBACK


def select_articles(candidates: Sequence[StoredArticle], max_items: int) -> list[StoredArticle]:
    """Newest first, one per link and per title (two feeds of one outlet often share items)."""
    chosen: list[StoredArticle] = []
    seen: set[str] = set()
    for article in sorted(candidates, key=lambda a: (a.shown_at, a.id), reverse=True):
        keys = {"t:" + match_key(article.title)} | ({"u:" + article.url} if article.url else set())
        if keys & seen:
            continue
        seen |= keys
        chosen.append(article)
        if len(chosen) == max_items:
            break
    return chosen
