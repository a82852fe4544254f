"""Readers' topics: matching new articles against every topic at once, and when and how
each alert goes out (pure).

    index   = TopicIndex(every topic of every reader not paused)   # rebuilt at start,
                                                                   # kept up on follow/unfollow
    fresh   = new articles published within 48 h
    matched = index.match(article) for each fresh article          # no search per topic
    stories = cluster(matched + articles recently alerted)         # one story, one alert
    for each story with a matched new article, for each reader it matched:
        skip if any version of the story was already queued for the reader
        kind, due = when(reader, now, immediate alerts today)      # quiet hours, digest, cap
        queue every article of the story for the reader (storage remembers them)

The index is inverted: each topic is filed under one folded syllable it must contain (the
one with the fewest topics filed under it so far), so an article only meets the topics
filed under its own syllables, and each of those is checked like a search would
(`vietnamese.Term.found_in`: whole syllables, typed diacritics respected).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.cluster import Story, cluster
from bot.format import Block, escape, heading_block, pack, story_block
from bot.models import DueAlert, EditionPart, QueuedAlert, Reader, StoredArticle, Topic
from bot.query import SearchQuery, parse_query
from bot.vietnamese import fold, match_key, words

MAX_AGE = timedelta(hours=48)  # never alert an article older than this
DAILY_CAP = 30  # immediate alerts a day per reader; the rest wait for the next digest
MORNING = time(7, 0)  # "the next morning" for a reader without quiet hours
DEFAULT_QUIET = "22:00-06:30"
_CLOCK = re.compile(r"([01]?[0-9]|2[0-3])[:h.]([0-5][0-9])")


@dataclass(frozen=True)
class _Compiled:
    topic: Topic
    query: SearchQuery


class TopicIndex:
    """Every followed topic, filed under one syllable it must contain (see above)."""

    def __init__(self, topics: Iterable[Topic] = ()) -> None:
        self._postings: defaultdict[str, set[int]] = defaultdict(set)
        self._topics: dict[int, _Compiled] = {}
        self._anchors: dict[int, str] = {}
        for topic in topics:
            self.add(topic)

    def __len__(self) -> int:
        return len(self._topics)

    def add(self, topic: Topic) -> bool:
        """File a topic; False when it has no word to match on (it can match nothing)."""
        query = parse_query(topic.query)
        syllables = {s for term in query.include for s in term.folded}
        if not syllables:
            return False
        self.remove(topic.id)
        anchor = min(syllables, key=lambda s: (len(self._postings.get(s, ())), -len(s), s))
        self._postings[anchor].add(topic.id)
        self._topics[topic.id] = _Compiled(topic, query)
        self._anchors[topic.id] = anchor
        return True

    def remove(self, topic_id: int) -> None:
        anchor = self._anchors.pop(topic_id, None)
        if anchor is None:
            return
        self._topics.pop(topic_id, None)
        posting = self._postings[anchor]
        posting.discard(topic_id)
        if not posting:
            del self._postings[anchor]

    def remove_chat(self, chat: str) -> None:
        """A reader paused or forgotten: none of their topics match any more."""
        for topic_id in [i for i, c in self._topics.items() if c.topic.chat == chat]:
            self.remove(topic_id)

    def match(self, article: StoredArticle) -> list[Topic]:
        """The topics the article matches (title and summary, like an edition filter)."""
        key_tokens = words(match_key(f"{article.title}\n{article.summary}"))
        folded = [fold(t) for t in key_tokens]
        found: list[Topic] = []
        for syllable in set(folded):
            for topic_id in self._postings.get(syllable, ()):
                compiled = self._topics[topic_id]
                if _matches(compiled.query, article.feed_id, key_tokens, folded):
                    found.append(compiled.topic)
        return found


def _matches(query: SearchQuery, feed_id: str, keys: list[str], folded: list[str]) -> bool:
    if query.sources and feed_id not in query.sources:
        return False
    if not all(term.found_in(keys, folded) for term in query.include):
        return False
    return not any(term.found_in(keys, folded) for term in query.exclude)


def naive_match(topics: Sequence[tuple[Topic, SearchQuery]], article: StoredArticle) -> list[Topic]:
    """Every topic checked against the article, one by one (what the index avoids; the
    benchmark compares the two, and tests that they agree)."""
    key_tokens = words(match_key(f"{article.title}\n{article.summary}"))
    folded = [fold(t) for t in key_tokens]
    return [t for t, q in topics if q.include and _matches(q, article.feed_id, key_tokens, folded)]


# --- when an alert goes out ------------------------------------------------------------------


def parse_clock(text: str) -> time | None:
    """ "7:00", "07:00", "7h00", "19.30" → a time of day; None for anything else."""
    match = _CLOCK.fullmatch(text.strip())
    return time(int(match.group(1)), int(match.group(2))) if match else None


def parse_times(text: str) -> tuple[time, ...] | None:
    """Digest times as "07:00 19:00" (at most 6); None when one of them is not a time."""
    times = [parse_clock(t) for t in text.replace(",", " ").split()]
    if not times or len(times) > 6 or any(t is None for t in times):
        return None
    return tuple(sorted({t for t in times if t is not None}))


def parse_quiet(text: str) -> tuple[time, time] | None:
    """Quiet hours as "22:00-06:30"; None when it is not two times."""
    start, sep, end = text.replace("–", "-").partition("-")
    first, last = parse_clock(start), parse_clock(end)
    if not sep or first is None or last is None or first == last:
        return None
    return first, last


def _next_at(moment: time, now: datetime, tz: ZoneInfo) -> datetime:
    """The next time the local clock shows `moment`, strictly after now."""
    local = now.astimezone(tz)
    candidate = datetime.combine(local.date(), moment, tzinfo=tz)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), moment, tzinfo=tz)
    return candidate


def quiet_until(reader: Reader, now: datetime, tz: ZoneInfo) -> datetime | None:
    """When the reader's quiet hours end, if `now` falls in them."""
    quiet = parse_quiet(reader.quiet) if reader.quiet else None
    if quiet is None:
        return None
    start, end = quiet
    clock = now.astimezone(tz).time()
    inside = start <= clock < end if start < end else clock >= start or clock < end
    return _next_at(end, now, tz) if inside else None


def next_digest(reader: Reader, now: datetime, tz: ZoneInfo) -> datetime:
    """The reader's next digest time; for a reader with none, the next morning."""
    times = parse_times(reader.times) if reader.times else None
    if times:
        return min(_next_at(t, now, tz) for t in times)
    quiet = parse_quiet(reader.quiet) if reader.quiet else None
    return _next_at(quiet[1] if quiet else MORNING, now, tz)


def when(reader: Reader, now: datetime, tz: ZoneInfo, immediate_today: int) -> tuple[str, datetime]:
    """(kind, due) of a new alert for the reader; see QueuedAlert for the kinds."""
    if reader.times:
        return "digest", next_digest(reader, now, tz)
    if immediate_today >= DAILY_CAP:
        return "capped", next_digest(reader, now, tz)
    return "now", quiet_until(reader, now, tz) or now


def local_midnight(now: datetime, tz: ZoneInfo) -> datetime:
    return datetime.combine(now.astimezone(tz).date(), time(0), tzinfo=tz)


# --- planning: new articles → queued alerts --------------------------------------------------


def plan_alerts(
    index: TopicIndex,
    articles: Sequence[StoredArticle],
    recent: Sequence[StoredArticle],
    told: Mapping[int, set[str]],
    readers: Mapping[str, Reader],
    immediate_today: Mapping[str, int],
    now: datetime,
    tz: ZoneInfo,
) -> list[QueuedAlert]:
    """The alerts new `articles` bring (see the module docstring).

    `recent`: articles already queued for someone lately, and `told`: who, by article id,
    so that a new version of a story already told is not told again to the same reader.
    """
    fresh = [a for a in articles if a.shown_at >= now - MAX_AGE]
    matched = {a.id: topics for a in fresh if (topics := index.match(a))}
    if not matched:
        return []
    # Only what matched meets the stories told lately: clustering is quadratic.
    recent_ids = {a.id for a in recent}
    pool = [a for a in fresh if a.id in matched and a.id not in recent_ids] + list(recent)
    counts = dict(immediate_today)
    queued: list[QueuedAlert] = []
    for story in cluster(pool):
        members = (story.main, *story.others, *story.duplicates)
        hits = [t for a in members for t in matched.get(a.id, ())]
        if not hits:
            continue
        already = set().union(*(told.get(a.id, set()) for a in members))
        first: dict[str, Topic] = {}
        for topic in hits:
            first.setdefault(topic.chat, topic)
        for chat, topic in first.items():
            reader = readers.get(chat)
            if chat in already or reader is None or reader.paused:
                continue
            kind, due = when(reader, now, tz, counts.get(chat, 0))
            counts[chat] = counts.get(chat, 0) + (kind == "now")
            queued += [
                QueuedAlert(chat, a.id, story.main.id, topic.thread, topic.query, kind, due)
                for a in members
            ]
    return queued


# --- rendering: due alerts → messages --------------------------------------------------------


@dataclass(frozen=True)
class AlertMessage:
    """What one reader (in one chat and forum topic) gets now: one alert or a digest."""

    chat: str
    thread: int | None
    title: str
    parts: tuple[EditionPart, ...]
    stories: tuple[int, ...]


def render_alerts(due: Sequence[DueAlert], outlets: Mapping[str, str]) -> list[AlertMessage]:
    """One message per (chat, thread): a lone immediate story as an alert, else a digest."""
    grouped: dict[tuple[str, int | None], dict[int, list[DueAlert]]] = {}
    for alert in due:
        grouped.setdefault((alert.chat, alert.thread), {}).setdefault(alert.story, []).append(alert)
    messages = []
    for (chat, thread), stories in grouped.items():
        rebuilt = [(_story(rows), rows[0]) for rows in stories.values()]
        if len(rebuilt) == 1 and rebuilt[0][1].kind == "now":
            story, first = rebuilt[0]
            blocks = [heading_block(f"🔔 {_short(first.topic)}"), story_block(story, outlets)]
            title = "alert"
        else:
            blocks = [heading_block(f"🔔 Tin theo dõi của bạn: {len(rebuilt)} tin")]
            if any(first.kind == "capped" for _, first in rebuilt):
                note = (
                    f"Hôm nay bạn đã nhận {DAILY_CAP} tin gửi ngay; "
                    "các tin sau được gom vào bản tin này."
                )
                blocks.append(Block(f"<i>{escape(note)}</i>", note))
            blocks += [story_block(story, outlets) for story, _ in rebuilt]
            title = "digest"
        messages.append(AlertMessage(chat, thread, title, tuple(pack(blocks)), tuple(stories)))
    return messages


def _story(rows: Sequence[DueAlert]) -> Story:
    """The story as queued: its main article, one version per other outlet, the rest."""
    main = next((r.article for r in rows if r.article.id == r.story), rows[0].article)
    others: list[StoredArticle] = []
    duplicates: list[StoredArticle] = []
    feeds = {main.feed_id}
    for row in rows:
        if row.article.id == main.id:
            continue
        if row.article.feed_id in feeds:
            duplicates.append(row.article)
        else:
            feeds.add(row.article.feed_id)
            others.append(row.article)
    return Story(main, tuple(others), tuple(duplicates))


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:59] + "…"
