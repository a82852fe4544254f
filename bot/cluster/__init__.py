"""Story clustering: which articles from different outlets tell one story (pure).

Owns two decisions: `same_story` (are two articles about the same event?) and `cluster`
(an edition's candidates → `Story` groups: one main article and the other outlets' versions,
ranked for the edition).

How two articles are compared, on their title and summary only (every feed has those;
bodies are often missing or of very different lengths):

1. Tokens. Text is cut into syllables, kept as match keys ("tăng" is not "tặng") and
   folded (no diacritics, đ → d) for feeds typed without marks. Numbers are normalised
   first ("1.000" → 1000, "4,5" → 4_5, "VN213" → vn 213) and number words become digits
   ("sáu" → 6). Spellings and common abbreviations of one thing are merged ("TP.HCM" =
   "Thành phố Hồ Chí Minh", "DN" = "doanh nghiệp", "thiệt mạng" = "tử vong").
   Capitalised syllables are remembered as names.
2. Score. Cosine of TF-IDF-like vectors: each term weighs its inverse document frequency
   (`TermStats`, learnt from the article store or from the candidates; the built-in
   `_STOP`/`_COMMON`/figure weights when there are too few documents), title terms twice.
   The bar rises with the time gap between the two (`_similarity`).
3. Guards, for the hard negatives a bag of syllables cannot see:
   * the window: articles shown more than `WINDOW` apart are never one story;
   * labelled numbers differ: "bão số 3" / "bão số 4", "Nghị định 73" / "Nghị định 24",
     "quý III" / "quý 2";
   * opposite directions: one says "tăng" and the other "giảm" (gold up in the morning,
     down in the afternoon), when at least one of them says so in its title;
   * each title names someone or somewhere the other article never mentions ("Kon Tum" /
     "Điện Biên", "Luật Đất đai" / "Luật Thủ đô"): same kind of event, another instance.
     Honorifics and titles before a name ("Bà Merkel", "Thủ tướng Abe") and words the
     article also writes in lower case ("Lễ Khai mạc") are not names.

rapidfuzz's token_set/token_sort ratios on titles were tried as a further score and added
nothing on the labelled pairs: token_set_ratio is high exactly when two headlines share
a person and differ in the event, which is the hard case here.

Clustering is average linkage over these similarities, never a chain (see `cluster`).
Measured with bench/cluster.py on VMDS (real clusters from many outlets) and on
tests/data/cluster_pairs.json.

The package, by what each part does (each module imports only those listed above it):

    terms.py    reading a title and summary: tokens, numbers, aliases, names, labels,
                directions (step 1), and the cache of texts read
    weights.py  `TermStats`, the built-in weights, and each article's weighted vectors
    pairs.py    every pair's score (as matrix products), the time-scaled bar, the
                guards (steps 2 and 3), and `same_story`
    __init__    `cluster`: average linkage, the main article, `Story` and its rank
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.cluster.pairs import (
    THRESHOLD,
    THRESHOLD_FAR,
    THRESHOLD_RISE,
    WINDOW,
    _edges,
    same_story,
)
from bot.cluster.terms import _reading
from bot.cluster.weights import (
    MIN_SAMPLE,
    TITLE_BOOST,
    TermStats,
    _profile,
    _Weights,
    article_terms,
    lookup_terms,
    weighs_something,
)
from bot.models import Article, StoredArticle

__all__ = [
    "MIN_SAMPLE",
    "THRESHOLD",
    "THRESHOLD_FAR",
    "THRESHOLD_RISE",
    "TITLE_BOOST",
    "WINDOW",
    "Story",
    "TermStats",
    "article_terms",
    "cluster",
    "lookup_terms",
    "read_ahead",
    "same_story",
    "weighs_something",
]


@dataclass(frozen=True)
class Story:
    """One event: the article to show and the other outlets' versions of it.

    `others` holds at most one article per feed, never from the main article's feed.
    `duplicates` are further versions from feeds already in the story (an outlet that
    published twice); they are not shown, but they belong to the story.
    """

    main: StoredArticle
    others: tuple[StoredArticle, ...]
    duplicates: tuple[StoredArticle, ...] = ()

    @property
    def outlets(self) -> int:
        """How many feeds carry the story."""
        return 1 + len(self.others)

    @property
    def latest(self) -> datetime:
        """When the story was last reported (by shown_at)."""
        return max(a.shown_at for a in (self.main, *self.others))


def cluster(
    articles: Sequence[StoredArticle],
    window: timedelta = WINDOW,
    stats: TermStats | None = None,
) -> list[Story]:
    """Group an edition's candidates into stories, ranked for the edition.

    Average-linkage clustering: two groups merge while the mean similarity over all their
    pairs of articles is at least `THRESHOLD`, best pair first. A pair that a guard keeps
    apart, or that is out of the window, counts as 0, and a pair further apart in time
    counts less (`_similarity`), so two articles end up together exactly when
    `same_story` says so (every pair is scored, to within a ten-millionth). A group grows
    by what most of it shares, not by one link: this stops chains such as storm → flood
    in the storm's path → flood in another province, and it lets a five-outlet story
    gather its paraphrases, which one link to one main article missed.

    `stats`: document frequencies from the article store (`Storage.term_stats` for
    `lookup_terms`), completed from the candidates for the terms made here; from a store
    of fewer than `MIN_SAMPLE` articles, or without them, they are learnt from the
    candidates when there are `MIN_SAMPLE` or more, and the built-in weights (`_STOP`,
    `_COMMON`, figures) serve below that.

    The main article is the one with the best summary, because it is what the edition
    shows: a complete summary before one cut with "…", longer before shorter (more of the
    story told), then the earliest shown (the outlet that had it first), then the lowest
    id, so the result never depends on input order.

    Stories are ranked by how many outlets carry them, then by the latest report.
    """
    ordered = sorted(articles, key=_main_rank)
    readings = [_reading(article) for article in ordered]
    if stats is not None and stats.documents >= MIN_SAMPLE:
        stats = stats.completed(TermStats._of(readings))
    elif len(ordered) >= MIN_SAMPLE:
        stats = TermStats._of(readings)
    else:
        stats = None
    weights = _Weights(stats)
    folded = not all(r.marked for r in readings)
    profiles = [
        _profile(a, r, weights, folded=folded) for a, r in zip(ordered, readings, strict=True)
    ]
    groups = _average_linkage(_edges(profiles, window.total_seconds()))
    stories = [_story([ordered[i] for i in group]) for group in groups]
    clustered = {i for group in groups for i in group}
    stories += [Story(a, ()) for i, a in enumerate(ordered) if i not in clustered]
    stories.sort(key=lambda s: (-s.outlets, -s.latest.timestamp(), _main_rank(s.main)))
    return stories


def read_ahead(articles: Iterable[Article | StoredArticle]) -> None:
    """Read the articles' texts now, the way `cluster` reads them, and keep the readings.

    Reading a text is most of the work of clustering it for the first time: a poll
    reads its new articles as it stores them, a few dozen at a time, so that an edition
    of a day's news (5,000 candidates) finds them read rather than reading them all.
    """
    for article in articles:
        _reading(article)


def _story(members: list[StoredArticle]) -> Story:
    """Members in main order: the first is shown, then the best version from each feed."""
    main, *rest = sorted(members, key=_main_rank)
    feeds = {main.feed_id}
    others: list[StoredArticle] = []
    duplicates: list[StoredArticle] = []
    for article in rest:
        (duplicates if article.feed_id in feeds else others).append(article)
        feeds.add(article.feed_id)
    return Story(main, tuple(others), tuple(duplicates))


def _average_linkage(edges: Mapping[tuple[int, int], float]) -> list[list[int]]:
    """Groups of two or more, merged best mean similarity first (ties: lowest indices).

    Two groups merge only when every pair across them is linked at all (above `_FLOOR`,
    not guarded): a mean alone lets one close pair pull in an unrelated article. A mean
    reaches `THRESHOLD` only if one of its pairs does, so the groups worth a look after a
    merge are those joined to it by such a strong pair.
    """
    strong: dict[int, list[int]] = {}  # article → the articles it has a strong pair with
    for (i, j), weight in edges.items():
        if weight >= THRESHOLD:
            strong.setdefault(i, []).append(j)
            strong.setdefault(j, []).append(i)
    members = {i: [i] for i in strong}  # group (its lowest article) → its articles
    group = {i: i for i in strong}  # article → its group
    heap = [(-weight, i, j) for (i, j), weight in edges.items() if weight >= THRESHOLD]
    heapq.heapify(heap)
    while heap:
        negative, a, b = heapq.heappop(heap)
        if a not in members or b not in members:
            continue  # merged into another group since
        if len(members[a]) + len(members[b]) > 2 and not math.isclose(
            _mean(edges, members[a], members[b]), -negative
        ):
            continue  # a stale entry: a or b has grown since (two articles: their pair)
        for i in members[b]:
            group[i] = a
        members[a] += members.pop(b)
        for c in {group[j] for i in members[a] for j in strong[i]} - {a}:
            mean = _mean(edges, members[a], members[c])
            if mean >= THRESHOLD:
                heapq.heappush(heap, (-mean, min(a, c), max(a, c)))
    return [sorted(group) for group in members.values() if len(group) > 1]


def _mean(edges: Mapping[tuple[int, int], float], one: list[int], other: list[int]) -> float:
    """Mean similarity over every pair across two groups; 0 if one pair is not linked."""
    total = 0.0
    for i in one:
        for j in other:
            weight = edges.get((i, j) if i < j else (j, i))
            if weight is None:
                return 0.0
            total += weight
    return total / (len(one) * len(other))


def _main_rank(article: StoredArticle) -> tuple[int, int, datetime, int]:
    """Sort key: best summary first (complete, then cut with "…", then none)."""
    summary = article.summary.strip()
    quality = 2 if not summary else 1 if summary.endswith(("…", "...")) else 0
    return (quality, -len(summary), article.shown_at, article.id)
