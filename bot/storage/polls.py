"""Polls: one poll's update applied at once, its new articles with the feed's record.

One transaction, so a crash between the two can never leave articles stored under a poll
the feed does not remember (or the reverse).
"""

from __future__ import annotations

from bot.models import FeedUpdate
from bot.storage.articles import insert_new_articles
from bot.storage.base import StorageBase, _wrap_errors
from bot.storage.feeds import record_poll


class PollStore(StorageBase):
    """Applies what bot.decide decided for a feed."""

    @_wrap_errors
    async def apply(self, update: FeedUpdate) -> list[int | None]:
        """Store the update's articles not seen before and record the poll.

        Returns one item per article of the update: the new row's id, or None if it was
        known (see `ArticleStore.add_articles`).
        """
        async with self._transaction() as db:
            ids = await insert_new_articles(db, update.articles, update.polled_at)
            await record_poll(db, update)
        return ids
