"""Storage: the only package that speaks SQL, one module per thing it stores.

    base.py        the connection, its lock and the one way to reach it (the locking rule)
    migrations.py  the schema, as stepwise migrations under PRAGMA user_version
    feeds.py       feeds, their poll records, and article pages fetched
    articles.py    articles in (once each), their text, the newest, counts, retention
    search.py      the FTS5 keys and query compiler, ranked search, saved searches
    editions.py    the outbox (editions and their parts) and the state of each channel
    polls.py       one poll's update (bot.decide) applied: new articles and the feed's record
    published.py   what channels have shown their readers, for the public site
    readers.py     readers' topics, their alert settings, and the alerts queued for them

Each store is a mixin over StorageBase; `Storage` combines them, so the rest of the bot
holds one object, opened with `await Storage.open(path)` and closed with `await close()`.
"""

from __future__ import annotations

from bot.storage.articles import ArticleStore
from bot.storage.editions import EDITION_CANDIDATES, EditionStore
from bot.storage.feeds import FeedStore
from bot.storage.polls import PollStore
from bot.storage.published import PublishedStore
from bot.storage.readers import ReaderStore
from bot.storage.search import SearchStore

__all__ = ["EDITION_CANDIDATES", "Storage"]


class Storage(
    FeedStore, ArticleStore, SearchStore, EditionStore, PollStore, PublishedStore, ReaderStore
):
    """The database. Open with `await Storage.open(path)`; close with `await close()`."""
