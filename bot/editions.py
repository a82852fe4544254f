"""One edition for one channel, from the outbox's point of view.

    deliver whatever is still pending for the channel      # older editions go first
    window  = since the previous edition (12 h for the first), published within 48 h
    chosen  = select_articles(storage.edition_candidates(window), max_items)
    edition = render_edition(chosen)                       # HTML parts under 4096 chars
    storage.plan_edition(edition)                          # committed before sending
    deliver(edition)                                       # each part marked sent on success

Nothing new means no edition: nothing is recorded and nothing is posted.

Breaking news, after each poll that stored something, for channels that ask for it:

    deliver whatever is still pending for the channel
    unless max_per_day were posted in the last 24 h, or one less than min_gap ago:
    recent  = the channel's articles first seen within `within`
    story   = breaking_story(recent): `outlets` outlets, none of it posted before
    storage.plan_edition(render_breaking(story), BREAKING), then deliver it

It goes through the same outbox, with the same pacing, as an edition; its articles are
recorded like an edition's, so neither a restart nor a further outlet posts it again, and
the next edition leaves the story out.

A part counts as posted only once Telegram has accepted it and its message id is stored.
The window that cannot be closed: Telegram accepted a message and the process died before
`mark_sent` committed; that part is sent again after a restart. `deliver` keeps the window
to the one UPDATE that follows the send.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.cluster import WINDOW, lookup_terms
from bot.digest import MAX_AGE, breaking_story, plan_sections, window_start
from bot.errors import ChatForbidden, ChatMoved, MessageRejected, PublishError
from bot.format import edition_title, escape, render_breaking, render_edition, split_plain
from bot.models import ALERT_PREFIX, BREAKING, Edition, PendingPart, StoredArticle, alert_target
from bot.publish import CONSOLE_PREFIX, Sender, chat_of, destination_for
from bot.settings import ChannelConfig, CurrentSettings, Settings
from bot.storage import Storage
from bot.summarize import SUMMARY_CHARS, SUMMARY_SENTENCES, summarize
from bot.text import html_to_text_with_links

log = logging.getLogger(__name__)
# Windows overlap a little: an article stored while the previous edition was being planned
# is still caught, and the outbox's (destination, article) key keeps it from repeating.
WINDOW_OVERLAP = timedelta(minutes=10)
BREAKING_DAY = timedelta(hours=24)  # max_per_day counts over the last 24 hours


Notify = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class Delivery:
    """Where in the chat, and at which priority, a destination's parts go."""

    thread: int | None = None
    alert: bool = False


async def deliver(
    storage: Storage,
    sender: Sender,
    destination: str,
    clock: Callable[[], datetime],
    notify: Notify | None = None,
    *,
    thread: int | None = None,
) -> int:
    """Send the destination's pending parts in order; return how many were sent.

    `thread`: the forum topic to post into. A reader's alert destination names its own
    chat and topic (models.alert_destination), and its messages are paced as alerts.

    A part Telegram refuses for now stays pending with its error and holds back the parts
    after it (their order matters). A text Telegram can never parse goes out as plain text
    instead, so it never blocks what follows. When the bot may not post any more, the
    channel is marked inactive (its parts are kept) and admins are told once.
    """
    state = await storage.channel_state(destination)
    chat = state.send_to if not destination.startswith(CONSOLE_PREFIX) else chat_of(destination)
    alert = chat.startswith(ALERT_PREFIX)
    if alert:
        chat, thread = alert_target(chat)
    how = Delivery(thread, alert)
    sent = 0
    for part in await storage.pending_parts(destination):
        try:
            message_id, chat = await _send_part(
                storage, sender, destination, chat, part, clock, how
            )
        except ChatForbidden as exc:
            await storage.mark_failed(part.id, str(exc))
            if state.active:
                await storage.set_channel_active(destination, False, clock(), str(exc))
                log.error("deliver destination=%s inactive reason=%s", destination, exc)
                if notify:
                    await notify(
                        f"⚠️ Bản tin không đăng được vào {destination}: {exc}. "
                        "Hãy thêm bot làm quản trị viên có quyền đăng bài; "
                        "các bản tin chưa gửi vẫn được giữ lại."
                    )
            break
        except PublishError as exc:
            log.error("deliver destination=%s part=%d error=%s", destination, part.id, exc)
            await storage.mark_failed(part.id, str(exc))
            break
        # The window that cannot be closed: Telegram has the message, this row not yet.
        await storage.mark_sent(part.id, message_id, clock())
        sent += 1
        if not state.active:
            state = replace(state, active=True)
            await storage.set_channel_active(destination, True, clock())
            log.info("deliver destination=%s active again", destination)
    return sent


async def _send_part(
    storage: Storage,
    sender: Sender,
    destination: str,
    chat: str,
    part: PendingPart,
    clock: Callable[[], datetime],
    how: Delivery,
) -> tuple[int | None, str]:
    """Send one part to `chat`, following a chat that moved; returns (message id, chat)."""
    for _ in range(3):
        try:
            try:
                message_id = await sender.send(
                    chat, part.text, part.preview_url, thread=how.thread, alert=how.alert
                )
                return message_id, chat
            except MessageRejected as exc:
                log.warning("deliver part=%d rejected (%s); sending as plain text", part.id, exc)
                return await _send_as_plain_text(sender, chat, part.text, how), chat
        except ChatMoved as exc:
            log.warning("deliver destination=%s moved to %s", destination, exc.new_chat)
            await storage.set_current_chat(destination, exc.new_chat, clock())
            chat = exc.new_chat
    raise PublishError(f"{destination} keeps moving")


async def _send_as_plain_text(sender: Sender, chat: str, markup: str, how: Delivery) -> int | None:
    """The part's text without markup, in pieces under the limit; the first piece's id."""
    first: int | None = None
    for piece in split_plain(html_to_text_with_links(markup.replace("\n", "<br>"))):
        message_id = await sender.send_plain(chat, piece, thread=how.thread, alert=how.alert)
        first = first if first is not None else message_id
    return first


def _summarized(article: StoredArticle, channel: ChannelConfig) -> StoredArticle:
    """The article with the channel's summary length, when it asks for other than default."""
    if not article.body or (channel.summary_sentences, channel.summary_chars) == (
        SUMMARY_SENTENCES,
        SUMMARY_CHARS,
    ):
        return article
    summary = summarize(
        article.body,
        title=article.title,
        max_sentences=channel.summary_sentences,
        max_chars=channel.summary_chars,
    )
    return replace(article, summary=summary or article.summary)


class EditionRunner:
    """Plans and delivers editions; one at a time per destination."""

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
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    @property
    def settings(self) -> Settings:
        """The settings in force now: a reload shows at the next edition."""
        return self._current.value

    async def tell_admins(self, text: str) -> None:
        """A plain-text notice to every admin (reload reports and the like)."""
        await self._notify(text)

    async def _notify(self, text: str) -> None:
        """Tell every admin privately; an admin who never started the bot cannot be told."""
        for admin in self.settings.admins:
            try:
                await self._sender.send(str(admin), escape(text))
            except PublishError as exc:
                log.warning("notify admin=%s failed: %s", admin, exc)

    def destination(self, channel: ChannelConfig) -> str:
        return destination_for(channel.chat, console=self.settings.console_mode)

    async def _deliver(self, channel: ChannelConfig) -> int:
        """Send the channel's pending parts, in order, into its forum topic if it has one."""
        return await deliver(
            self._storage,
            self._sender,
            self.destination(channel),
            self._clock,
            self._notify,
            thread=channel.thread,
        )

    async def flush(self, channel: ChannelConfig) -> int:
        """Send what a crash or restart left in the outbox, before anything new."""
        destination = self.destination(channel)
        async with self._locks[destination]:
            return await self._deliver(channel)

    async def build(self, channel: ChannelConfig, name: str | None = None) -> Edition:
        """The edition the channel would get now (`name`: a named edition's); nothing is
        recorded."""
        destination = self.destination(channel)
        now = self._clock()
        previous = await self._storage.last_edition_at(destination)
        since = window_start(previous, now)
        if previous is not None:
            since -= WINDOW_OVERLAP
        feeds = self.settings.channel_feeds(channel)
        candidates = await self._storage.edition_candidates(
            destination,
            [f.id for f in feeds],
            seen_since=since,
            published_since=now - MAX_AGE,
        )
        # Clustering and cutting text into words are pure CPU work: in a worker thread
        # they never hold the event loop that polls and answers commands.
        terms = await asyncio.to_thread(lookup_terms, candidates)
        stats = await self._storage.term_stats(terms)
        posted = await self._storage.breaking_articles(destination, now - WINDOW)
        sections = await asyncio.to_thread(
            plan_sections,
            candidates,
            {f.id: f.category for f in feeds if f.category},
            max_items=channel.max_items,
            max_per_section=channel.max_per_section,
            section_order=channel.sections,
            include=channel.include,
            exclude=channel.exclude,
            stats=stats,
            posted=posted,
        )
        # The channel's summary length applies to what is shown, not to what was chosen.
        shown = [
            replace(section, stories=tuple(
                replace(story, main=_summarized(story.main, channel)) for story in section.stories
            ))
            for section in sections
        ]  # fmt: skip
        return render_edition(
            destination,
            edition_title(now.astimezone(self.settings.timezone), name),
            shown,
            {f.id: f.name for f in feeds},
            now,
            as_text=self.settings.console_mode,
            preview=channel.preview == "top",
        )

    async def run(self, channel: ChannelConfig, name: str | None = None) -> Edition:
        """Deliver what is pending, then plan and deliver a new edition if there is news."""
        destination = self.destination(channel)
        async with self._locks[destination]:
            await self._deliver(channel)
            if not (await self._storage.channel_state(destination)).active:
                log.warning("edition chat=%s skipped: the channel is inactive", channel.chat)
                return Edition(destination, "", self._clock())
            edition = await self.build(channel, name)
            if not edition.parts:
                log.info("edition chat=%s articles=0 (nothing new)", channel.chat)
                return edition
            await self._storage.plan_edition(edition)
            sent = await self._deliver(channel)
            articles = sum(len(p.article_ids) for p in edition.parts)
            log.info(
                "edition chat=%s articles=%d parts=%d sent=%d",
                channel.chat,
                articles,
                len(edition.parts),
                sent,
            )
            return edition

    async def breaking(self, channel: ChannelConfig) -> Edition | None:
        """Post breaking news to the channel if a story qualifies now (see the module
        docstring); the edition posted, or None."""
        rule = channel.breaking
        if rule is None:
            return None
        destination = self.destination(channel)
        async with self._locks[destination]:
            await self._deliver(channel)
            if not (await self._storage.channel_state(destination)).active:
                return None
            now = self._clock()
            history = await self._storage.breaking_history(destination, now - BREAKING_DAY)
            if len(history) >= rule.max_per_day or (history and now - history[-1] < rule.min_gap):
                return None
            feeds = self.settings.channel_feeds(channel)
            seen, planned = await self._storage.recent_articles(
                destination, [f.id for f in feeds], seen_since=now - rule.within
            )
            # Reported within the time too, not only just stored: a first poll, or a feed
            # back after an outage, brings hours-old news that is no breaking news.
            recent = [a for a in seen if a.shown_at >= now - rule.within]
            if len({a.feed_id for a in recent}) < rule.outlets:
                return None  # the usual case after a poll: no clustering needed
            terms = await asyncio.to_thread(lookup_terms, recent)
            stats = await self._storage.term_stats(terms)
            story = await asyncio.to_thread(
                breaking_story, recent, planned, outlets=rule.outlets, within=rule.within,
                stats=stats,
            )  # fmt: skip
            if story is None:
                return None
            edition = render_breaking(
                destination,
                replace(story, main=_summarized(story.main, channel)),
                {f.id: f.name for f in feeds},
                now,
                as_text=self.settings.console_mode,
                preview=channel.preview == "top",
            )
            await self._storage.plan_edition(edition, BREAKING)
            sent = await self._deliver(channel)
            log.info(
                "breaking chat=%s outlets=%d article=%d sent=%d",
                channel.chat, story.outlets, story.main.id, sent,
            )  # fmt: skip
            return edition
