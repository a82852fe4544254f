"""Readers' alerts, from newly stored articles to their private chats, through the outbox.

    every ALERT_TICK seconds (and once at start):
        articles = storage.unmatched_articles()              # stored since the last match
        alerts   = topics.plan_alerts(index, articles, …)    # one per story and reader
        storage.queue_alerts(alerts, matched_through)        # one transaction: exactly once
        due      = storage.due_alerts(now)                   # quiet hours and digests wait
        for each reader: storage.plan_alert(render(due))     # into the outbox, then …
        deliver(alert destination)                           # … sent like an edition part

Why the outbox and not a second path: an alert is a message that must arrive exactly once
across a kill -9, paced per chat, and marked sent with Telegram's message id; the outbox
already does all of that for editions (`editions.deliver`), and the pacer puts edition
parts first when both wait. A reader who blocked the bot (Forbidden) is paused, not
deleted: their topics stop matching until they send /start again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from bot.editions import deliver
from bot.models import Reader, Topic, alert_target
from bot.publish import Sender
from bot.settings import CurrentSettings, Settings
from bot.storage import Storage
from bot.topics import TopicIndex, local_midnight, plan_alerts, render_alerts

log = logging.getLogger(__name__)
MATCH_BATCH = 1000  # articles matched per transaction
RECENT = timedelta(hours=24)  # stories told lately, that a new version must not repeat
LEARN_FROM = 2000  # recent articles that tell the index which words are rare


class AlertRunner:
    """Matches new articles against the readers' topics and delivers the alerts."""

    def __init__(
        self,
        settings: CurrentSettings,
        storage: Storage,
        sender: Sender,
        clock: Callable[[], datetime],
    ) -> None:
        self._current = settings
        self._storage = storage
        self._sender = sender
        self._clock = clock
        self.index = TopicIndex()
        self._loaded = False
        self._lock = asyncio.Lock()
        self._delivering: asyncio.Task[int] | None = None

    @property
    def settings(self) -> Settings:
        """The settings in force now: a reload shows at the next tick."""
        return self._current.value

    # --- the index, kept up by the commands -----------------------------------------------

    async def load(self) -> None:
        """Build the index from every topic of every reader not paused."""
        sample = await self._storage.latest(LEARN_FROM)
        self.index = TopicIndex(await self._storage.active_topics(), sample)
        self._loaded = True
        log.info("alerts topics=%d", len(self.index))

    def followed(self, topic: Topic) -> None:
        self.index.add(topic)

    def unfollowed(self, topic_id: int) -> None:
        self.index.remove(topic_id)

    def paused(self, chat: str) -> None:
        self.index.remove_chat(chat)

    async def resumed(self, chat: str) -> None:
        for topic in await self._storage.topics_of(chat):
            self.index.add(topic)

    # --- the tick ----------------------------------------------------------------------------

    async def tick(self) -> None:
        """Match what is new, plan what is due, and make sure delivery is under way."""
        async with self._lock:
            if not self._loaded:
                await self.load()
            await self.match_new()
            await self.plan_due()
        if self._delivering is None or self._delivering.done():
            self._delivering = asyncio.create_task(self.deliver_all())

    async def run_once(self) -> int:
        """tick() and wait for delivery (tests and the command line)."""
        await self.tick()
        assert self._delivering is not None
        return await self._delivering

    async def match_new(self) -> int:
        """Queue the alerts that articles stored since the last match bring."""
        queued = 0
        while True:
            articles, _ = await self._storage.unmatched_articles(MATCH_BATCH)
            if not articles:
                return queued
            now = self._clock()
            tz = self.settings.timezone
            recent, told = await self._storage.recent_alerts(now - RECENT)
            readers = await self._storage.readers()
            today = await self._storage.immediate_since(local_midnight(now, tz))
            alerts = plan_alerts(self.index, articles, recent, told, readers, today, now, tz)
            queued += await self._storage.queue_alerts(alerts, articles[-1].id, now)
            log.info("alerts matched=%d queued=%d", len(articles), queued)

    async def plan_due(self) -> int:
        """Put the alerts whose time has come into the outbox, one message per reader."""
        now = self._clock()
        due = await self._storage.due_alerts(now)
        outlets = {f.id: f.name for f in self.settings.feeds}
        messages = render_alerts(due, outlets)
        for message in messages:
            await self._storage.plan_alert(
                message.chat, message.thread, message.title, message.parts, message.stories, now
            )
        return len(messages)

    async def deliver_all(self) -> int:
        """Send every pending alert, all readers at once: the pacer spaces them."""
        destinations = await self._storage.alert_destinations()
        if not destinations:
            return 0
        readers = await self._storage.readers()
        active = [d for d in destinations if not _paused(readers, d)]
        sent = await asyncio.gather(*(self._deliver(d) for d in active))
        return sum(sent)

    async def _deliver(self, destination: str) -> int:
        try:
            sent = await deliver(self._storage, self._sender, destination, self._clock)
        except Exception:
            log.exception("alert delivery failed")
            return 0
        if not (await self._storage.channel_state(destination)).active:
            chat, _ = alert_target(destination)
            if await self._storage.set_paused(chat, True):
                self.paused(chat)
                log.info("alerts reader paused: the bot may not write to them")
        return sent


def _paused(readers: Mapping[str, Reader], destination: str) -> bool:
    """A reader paused (or forgotten) gets nothing, not even what was already planned."""
    reader = readers.get(alert_target(destination)[0])
    return reader is None or reader.paused
