"""Digest stage: which stories go into a channel's edition, and in which sections (pure).

The storage query already applies the window (first seen since the previous edition, or
the last 12 hours for a first edition; published within 48 hours; never planned for this
destination). Here, in order:

    keep articles that pass the channel's include/exclude keywords
    cluster the same event from several outlets into one story (bot.cluster)
    rank: how many outlets carry the story, then recency
    take at most `max_items` stories, at most `max_per_section` from one section
    group them under their feed's category, in the channel's `sections` order, others after

Breaking news (`breaking_story`) is chosen from the articles of the last `within`, after
each poll; a story posted that way is left out of the next edition (`plan_sections`'s
`posted`), later outlets' versions included.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.cluster import Story, TermStats, cluster
from bot.models import StoredArticle
from bot.vietnamese import Term, fold, match_key, words

FIRST_EDITION_LOOKBACK = timedelta(hours=12)
MAX_AGE = timedelta(hours=48)
OTHER_SECTION = ""  # articles whose feed has no category


def window_start(previous_edition: datetime | None, now: datetime) -> datetime:
    """Articles first seen at or after this moment are new for the next edition."""
    return previous_edition if previous_edition is not None else now - FIRST_EDITION_LOOKBACK


def unique(candidates: Sequence[StoredArticle]) -> list[StoredArticle]:
    """Newest first, one per link and per title: two feeds of one outlet share items."""
    kept: list[StoredArticle] = []
    seen: set[str] = set()
    for article in sorted(candidates, key=lambda a: (a.shown_at, a.id), reverse=True):
        keys = {"t:" + match_key(article.title)} | ({"u:" + article.url} if article.url else set())
        if not keys & seen:
            kept.append(article)
        seen |= keys
    return kept


def passes_filters(
    article: StoredArticle, include: Sequence[Term], exclude: Sequence[Term]
) -> bool:
    """Matches one include keyword (when any are set) and no exclude keyword.

    Keywords are matched like search (`vietnamese.Term`): case never matters, nor the
    tone-mark convention; written without diacritics they match any diacritics, written
    with diacritics they match those; always whole syllables.
    """
    if not include and not exclude:
        return True
    text = f"{article.title}\n{article.summary}"
    key_tokens = words(match_key(text))
    # Folded in one call: folding works letter by letter, and never across a line break.
    folded_tokens = fold("\n".join(key_tokens)).split("\n")
    if include and not any(k.found_in(key_tokens, folded_tokens) for k in include):
        return False
    return not any(k.found_in(key_tokens, folded_tokens) for k in exclude)


@dataclass(frozen=True)
class Section:
    name: str  # the feeds' category; OTHER_SECTION for feeds without one
    stories: tuple[Story, ...]


def plan_sections(
    candidates: Sequence[StoredArticle],
    categories: Mapping[str, str],
    *,
    max_items: int,
    max_per_section: int | None = None,
    section_order: Sequence[str] = (),
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    stats: TermStats | None = None,
    posted: Sequence[StoredArticle] = (),
) -> list[Section]:
    """The stories of an edition, grouped into sections; empty when nothing qualifies.

    `stats`: how common words are in the article store, for clustering (see `cluster`).
    `posted`: articles the channel recently got as breaking news. They are clustered with
    the candidates so that a later outlet's version of that story is recognised, and
    every story holding one is left out: the channel was told minutes or hours ago, and
    a story shown again under a new headline would read as news it is not.
    """
    include_terms = [t for t in map(Term.parse, include) if t is not None]
    exclude_terms = [t for t in map(Term.parse, exclude) if t is not None]
    if include and not include_terms:
        return []  # only keywords with no word in them: nothing can match
    kept = [a for a in unique(candidates) if passes_filters(a, include_terms, exclude_terms)]
    told = {a.id for a in posted}
    chosen: list[Story] = []
    per_section: dict[str, int] = {}
    for story in cluster([*kept, *posted], stats=stats):
        if told and told.intersection(a.id for a in _members(story)):
            continue
        section = categories.get(story.main.feed_id, OTHER_SECTION)
        if max_per_section is not None and per_section.get(section, 0) >= max_per_section:
            continue
        per_section[section] = per_section.get(section, 0) + 1
        chosen.append(story)
        if len(chosen) == max_items:
            break
    order = {name: index for index, name in enumerate(section_order)}
    grouped: dict[str, list[Story]] = {}
    for story in chosen:
        grouped.setdefault(categories.get(story.main.feed_id, OTHER_SECTION), []).append(story)
    # Configured sections first, in their order; the others by their best story's rank.
    names = sorted(grouped, key=lambda n: (n not in order, order.get(n, 0)))
    return [Section(name, tuple(grouped[name])) for name in names]


def breaking_story(
    recent: Sequence[StoredArticle],
    planned: Collection[int],
    *,
    outlets: int,
    within: timedelta,
    stats: TermStats | None = None,
) -> Story | None:
    """The story to post as breaking news now, if any.

    `recent`: the channel's articles of the last `within`; `planned`: those of them the
    channel already got (in an edition or as breaking news). A story qualifies when
    `outlets` different feeds reported it within `within` of each other, and none of its
    articles was posted: a story the channel has seen is no breaking news, and one posted
    as breaking news is never posted again when a further outlet joins it. Of several,
    the one most outlets carry, then the latest (the order of `cluster`).
    """
    for story in cluster(unique(recent), stats=stats):
        if story.outlets < outlets:
            break  # stories come most outlets first
        if any(a.id in planned for a in _members(story)):
            continue
        reports = sorted(a.shown_at for a in (story.main, *story.others))
        if any(
            reports[i + outlets - 1] - reports[i] <= within
            for i in range(len(reports) - outlets + 1)
        ):
            return story
    return None


def _members(story: Story) -> tuple[StoredArticle, ...]:
    return (story.main, *story.others, *story.duplicates)
