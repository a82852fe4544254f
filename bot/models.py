"""The domain types every stage passes along: frozen, plain, free of I/O.

Data flows  FeedEntry (parse) → Article (normalize) → StoredArticle (storage)
            → Edition / EditionPart (digest + format) → sent messages (publish).
What storage remembers between runs: FeedState per feed, ChannelState per destination;
what one poll changes: FeedUpdate (bot.decide makes it, storage applies it).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class FetchResult:
    """What the fetch stage got: a body, or word that the feed has not changed."""

    url: str
    body: bytes | None  # None when the server answered 304 Not Modified
    etag: str | None = None
    last_modified: str | None = None
    content_type: str = "application/xml"  # feedparser uses the charset declared here
    status: int = 200  # of the final response: 200, or 304 when not modified
    # What the server said about when to come back (see bot.politeness):
    cache_max_age: float | None = None  # seconds, Cache-Control max-age less Age; None: no-cache
    expires: datetime | None = None  # Expires, moved onto our clock through the Date header
    retry_after: float | None = None  # seconds, when a successful answer carried Retry-After
    permanent_redirect: str | None = None  # where 301/308 hops from the feed URL led

    @property
    def not_modified(self) -> bool:
        return self.body is None


@dataclass(frozen=True)
class FeedEntry:
    """One feed item as parsed, before cleaning; feedparser's dicts never get past parse."""

    guid: str | None
    link: str | None
    title: str
    title_is_html: bool  # the feed declared markup in the title, so tags are not literal text
    description: str  # HTML: summary, or content when there is no summary
    published: datetime | None  # aware UTC, from feedparser's *_parsed (which are UTC)


@dataclass(frozen=True)
class Article:
    """A cleaned entry, ready to store: NFC text, absolute link, UTC date, dedup key."""

    feed_id: str
    dedup_key: str
    url: str | None  # absolute http(s) link; None when the entry has no usable link
    title: str
    summary: str
    published_at: datetime | None
    body: str = ""  # the cleaned text the summary is made from


@dataclass(frozen=True)
class StoredArticle:
    """An article as the database holds it."""

    id: int
    feed_id: str
    url: str | None
    title: str
    summary: str
    published_at: datetime | None
    first_seen_at: datetime
    body: str = ""

    @property
    def shown_at(self) -> datetime:
        """The date to show: the outlet's, unless it is missing or in the future."""
        if self.published_at is None or self.published_at > self.first_seen_at:
            return self.first_seen_at
        return self.published_at


class PollOutcome(enum.Enum):
    NEW = "new"
    UNCHANGED = "unchanged"
    ERROR = "error"


@dataclass(frozen=True)
class PollResult:
    """How one feed's poll ended; failures are values, so one feed never stops the rest."""

    feed_id: str
    outcome: PollOutcome
    new_articles: int = 0
    entries: int = 0
    error: str | None = None
    dropped: int = 0  # entries past the newest the parser keeps (bot.parse.MAX_ENTRIES)
    skipped: int = 0  # entries with neither a title nor any text
    next_check: datetime | None = None  # when this feed is due again
    next_check_reason: str = ""  # which rule chose it: interval, backoff, Retry-After…


@dataclass(frozen=True)
class FeedUpdate:
    """Everything one poll changes for one feed, decided before anything is stored.

    Made by bot.decide (pure), applied by storage in one transaction: the articles first
    (only keys not seen before are added), then the feed's record. Caching headers, the
    redirect and the <ttl> are set only when a fetch succeeded; `document` says a full
    answer came (not a 304), which is when a missing <ttl> clears the stored one.
    """

    feed_id: str
    polled_at: datetime
    next_check: datetime
    next_check_reason: str
    error: str | None = None  # "FetchError: HTTP 500", …; None when the poll succeeded
    articles: tuple[Article, ...] = ()
    etag: str | None = None
    last_modified: str | None = None
    redirected_to: str | None = None  # where 301/308 hops from the polled URL led
    ttl: int | None = None
    document: bool = False
    entries: int = 0
    dropped: int = 0
    skipped: int = 0

    def result(self, new_articles: int) -> PollResult:
        """How the poll ended, once storage has said how many articles were new."""
        if self.error is not None:
            outcome = PollOutcome.ERROR
        else:
            outcome = PollOutcome.NEW if new_articles else PollOutcome.UNCHANGED
        return PollResult(
            self.feed_id,
            outcome,
            new_articles=new_articles,
            entries=self.entries,
            error=self.error,
            dropped=self.dropped,
            skipped=self.skipped,
            next_check=self.next_check,
            next_check_reason=self.next_check_reason,
        )


@dataclass(frozen=True)
class EditionPart:
    """One Telegram message of an edition and the articles it carries."""

    text: str
    article_ids: tuple[int, ...]
    preview_url: str | None = None  # shown large above the text; None: no link preview


@dataclass(frozen=True)
class Edition:
    """A planned digest for one destination: its header and its message parts, in order."""

    destination: str
    title: str
    planned_at: datetime
    parts: tuple[EditionPart, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class PendingPart:
    """An edition part committed to the outbox and not yet accepted by Telegram."""

    id: int
    edition_id: int
    destination: str
    seq: int
    text: str
    preview_url: str | None = None


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
    article_count: int | None = None  # None when the caller did not ask for counts
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


EDITION, BREAKING = "edition", "breaking"  # what an outbox entry is: a scheduled edition or
# breaking news posted at once (storage: editions.kind)


@dataclass(frozen=True)
class PublishedEdition:
    """An edition as the public site shows it: only the parts Telegram accepted."""

    id: int
    destination: str
    title: str
    planned_at: datetime
    parts: tuple[str, ...] = ()  # Telegram HTML of each sent part, in order


# --- readers: topics they follow, and the alerts those bring -----------------------------

ALERT_PREFIX = "alert:"  # outbox destinations of readers' alerts, kept apart from channels


def alert_destination(chat: str, thread: int | None = None) -> str:
    """The outbox key of a reader's alerts: their chat, and the forum topic if any."""
    return f"{ALERT_PREFIX}{chat}" + (f"/{thread}" if thread is not None else "")


def alert_target(destination: str) -> tuple[str, int | None]:
    """(chat, forum topic id) of an alert destination."""
    chat, _, thread = destination.removeprefix(ALERT_PREFIX).partition("/")
    return chat, int(thread) if thread else None


@dataclass(frozen=True)
class Topic:
    """A topic a reader follows, as typed (search syntax); `thread`: the forum topic it
    was followed from, where its alerts go."""

    id: int
    chat: str
    query: str
    thread: int | None = None


@dataclass(frozen=True)
class Reader:
    """How a reader wants alerts: `times` empty for as they come, else digest times
    ("07:00 19:00"); `quiet` as "22:00-06:30" (empty: none); paused while they block us."""

    chat: str
    times: str = ""
    quiet: str = "22:00-06:30"
    paused: bool = False


@dataclass(frozen=True)
class QueuedAlert:
    """One article of one story, queued for one reader; `story` is the main article's id.

    kind: "now" (an immediate alert), "digest" (waits for the reader's digest time) or
    "capped" (past the daily cap of immediate alerts: waits for the next digest)."""

    chat: str
    article_id: int
    story: int
    thread: int | None
    topic: str
    kind: str
    due_at: datetime


@dataclass(frozen=True)
class DueAlert:
    """A queued alert whose time has come, with its article."""

    chat: str
    thread: int | None
    story: int
    topic: str
    kind: str
    article: StoredArticle
