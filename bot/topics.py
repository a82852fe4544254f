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

The index is inverted. Readers follow the same words ("giá vàng", "bão"), so each distinct
query is compiled once, into the set of features an article must have: its syllables
(folded, or as typed when typed with marks) and, for a phrase, its adjacent syllable pairs.
The query is filed under one of those features, the rarest in a sample of recent news, so
an article tokenised once only meets the few queries filed under its own features, and
each is checked with set operations. That is exact for words and two-syllable phrases;
longer phrases are then checked like a search would (`vietnamese.Term.found_in`: whole
syllables in a row, typed diacritics respected). `naive_match` checks every topic one by
one; the tests and bench/alerts.py hold the two to the same answers.
"""

from __future__ import annotations

import functools
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from bot.cluster import Story, cluster
from bot.format import Block, escape, heading_block, pack, story_block
from bot.models import DueAlert, EditionPart, QueuedAlert, Reader, StoredArticle, Topic
from bot.query import SearchQuery, parse_query
from bot.vietnamese import Term, fold, match_key, words

MAX_AGE = timedelta(hours=48)  # never alert an article older than this
DAILY_CAP = 30  # immediate alerts a day per reader; the rest wait for the next digest
MORNING = time(7, 0)  # "the next morning" for a reader without quiet hours
DEFAULT_QUIET = "22:00-06:30"
_CLOCK = re.compile(r"([01]?[0-9]|2[0-3])[:h.]([0-5][0-9])")


@dataclass(frozen=True)
class _Rule:
    """One distinct query, compiled to set checks: many readers follow the same words."""

    needs: frozenset[str]  # every feature an article must have
    verify: tuple[Term, ...]  # phrases of 3+ syllables: their pairs are not enough
    excludes: tuple[tuple[frozenset[str], Term | None], ...]  # (features, check if long)
    sources: frozenset[str]

    @classmethod
    def of(cls, query: SearchQuery) -> _Rule:
        needs: set[str] = set()
        for term in query.include:
            needs |= _term_features(term)
        verify = tuple(t for t in query.include if len(t.folded) > 2)
        excludes = tuple(
            (frozenset(_term_features(t)), t if len(t.folded) > 2 else None) for t in query.exclude
        )
        return cls(frozenset(needs), verify, excludes, frozenset(query.sources))

    def matches(self, seen: _Seen) -> bool:
        if self.sources and seen.feed_id not in self.sources:
            return False
        if not self.needs <= seen.features:
            return False
        if self.verify and not all(t.found_in(seen.keys, seen.folded) for t in self.verify):
            return False
        return not any(
            need <= seen.features and (term is None or term.found_in(seen.keys, seen.folded))
            for need, term in self.excludes
        )


@dataclass(frozen=True)
class _Seen:
    """An article tokenised once: its syllables in both forms, and the feature set."""

    feed_id: str
    keys: list[str]
    folded: list[str]
    features: frozenset[str]

    @classmethod
    def of(cls, article: StoredArticle) -> _Seen:
        keys = words(match_key(f"{article.title}\n{article.summary}"))
        folded = [_fold(k) for k in keys]
        return cls(article.feed_id, keys, folded, _features(keys, folded))


# A key feature (the syllable as typed, with its marks) is told from a folded one by a
# prefix that is not a word character, so "=gia" (typed "gia" in "quốc gia") never meets
# the folded "gia" of "giá".
_KEY = "="


def _features(keys: Sequence[str], folded: Sequence[str]) -> frozenset[str]:
    """Syllables and adjacent pairs, folded and as written: what a term can require."""
    found = set(folded)
    found.update([_KEY + k for k in keys])
    found.update([f"{a} {b}" for a, b in pairwise(folded)])
    found.update([f"{_KEY}{a} {b}" for a, b in pairwise(keys)])
    return frozenset(found)


def _term_features(term: Term) -> set[str]:
    """The features an article needs for the term: exactly the term when it has one or two
    syllables (a pair present is the phrase present), a pre-check for longer phrases."""
    tokens, prefix = (term.key, _KEY) if term.accented else (term.folded, "")
    return {prefix + t for t in tokens} | {f"{prefix}{a} {b}" for a, b in pairwise(tokens)}


@functools.lru_cache(maxsize=65536)  # news reuses a few thousand syllables: stays warm
def _fold(token: str) -> str:
    return fold(token)


def feature_counts(sample: Iterable[StoredArticle]) -> Counter[str]:
    """In how many sample articles each feature occurs: what makes an anchor rare."""
    counts: Counter[str] = Counter()
    for article in sample:
        counts.update(_Seen.of(article).features)
    return counts


_Key = tuple[tuple[Term, ...], tuple[Term, ...], frozenset[str]]


class _Filed:
    """A distinct query where it is filed, with the topics that follow it (by id)."""

    __slots__ = ("anchor", "members", "rule")

    def __init__(self, rule: _Rule, anchor: str) -> None:
        self.rule, self.anchor = rule, anchor
        self.members: dict[int, Topic] = {}


class TopicIndex:
    """Every followed topic, its query compiled once and filed under its rarest feature."""

    def __init__(self, topics: Iterable[Topic] = (), sample: Iterable[StoredArticle] = ()) -> None:
        self._counts = feature_counts(sample)
        self._queries: dict[_Key, _Filed] = {}
        # Postings hold the filed queries themselves: the hot loop hashes no query.
        self._postings: defaultdict[str, dict[int, _Filed]] = defaultdict(dict)
        self._key_of: dict[int, _Key] = {}
        self._chats: defaultdict[str, set[int]] = defaultdict(set)
        for topic in topics:
            self.add(topic)

    def __len__(self) -> int:
        return len(self._key_of)

    @property
    def distinct(self) -> int:
        """How many different queries the topics hold (each is checked once an article)."""
        return len(self._queries)

    def add(self, topic: Topic) -> bool:
        """File a topic; False when it has no word to match on (it can match nothing)."""
        query = parse_query(topic.query)
        if not query.include:
            return False
        self.remove(topic.id)
        key: _Key = (query.include, query.exclude, frozenset(query.sources))
        filed = self._queries.get(key)
        if filed is None:
            rule = _Rule.of(query)
            filed = self._queries[key] = _Filed(rule, min(rule.needs, key=self._rarity))
            self._postings[filed.anchor][id(filed)] = filed
        filed.members[topic.id] = topic
        self._key_of[topic.id] = key
        self._chats[topic.chat].add(topic.id)
        return True

    def _rarity(self, feature: str) -> tuple[int, int, int, str]:
        # Fewest sample articles first; with no sample (or a tie), the fewest queries filed
        # there, then the longest (a pair before a syllable).
        filed = len(self._postings.get(feature, ()))
        return self._counts.get(feature, 0), filed, -len(feature), feature

    def remove(self, topic_id: int) -> None:
        key = self._key_of.pop(topic_id, None)
        if key is None:
            return
        filed = self._queries[key]
        topic = filed.members.pop(topic_id)
        self._chats[topic.chat].discard(topic_id)
        if not self._chats[topic.chat]:
            del self._chats[topic.chat]
        if filed.members:
            return
        del self._queries[key]
        posting = self._postings[filed.anchor]
        del posting[id(filed)]
        if not posting:
            del self._postings[filed.anchor]

    def remove_chat(self, chat: str) -> None:
        """A reader paused or forgotten: none of their topics match any more."""
        for topic_id in list(self._chats.get(chat, ())):
            self.remove(topic_id)

    def match(self, article: StoredArticle) -> list[Topic]:
        """The topics the article matches (title and summary, like an edition filter), in
        no particular order."""
        seen = _Seen.of(article)
        found: list[Topic] = []
        postings = self._postings
        for feature in seen.features:
            posting = postings.get(feature)
            if posting is None:
                continue
            for filed in posting.values():
                if filed.rule.matches(seen):
                    found += filed.members.values()
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
        for topic in sorted(hits, key=lambda t: t.id):  # the earliest followed names it
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
