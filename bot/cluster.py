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
"""

from __future__ import annotations

import bisect
import functools
import heapq
import itertools
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import mul
from typing import NamedTuple

from bot.models import StoredArticle
from bot.vietnamese import FUNCTION_WORDS_FOLDED, fold, match_key, nfc, words

WINDOW = timedelta(hours=36)
# Chosen on VMDS (bench/cluster.py, every article in one window) and on the labelled pairs
# (with their real time gaps), precision first: merging two events hides one from the
# edition, a missed merge only shows a story twice.
THRESHOLD = 0.22
THRESHOLD_FAR = 0.6
THRESHOLD_RISE = timedelta(hours=12)
_BAR_RISE, _RISE_SECONDS = THRESHOLD_FAR - THRESHOLD, THRESHOLD_RISE.total_seconds()
_FLOOR = 0.1
MIN_SAMPLE = 100  # fewer documents than this say little about how common a word is
_BLOCK_KEYS, _BLOCK_SHARE, _BLOCK_MIN = 8, 0.02, 50
TITLE_BOOST = 2.0

# Folded syllables that say nothing about which event a text reports: the function words
# (bot.vietnamese), and these news words on top of them.
_TIMES = frozenset("sang chieu trua dem hom luc gio thang tuan".split())  # "sáng 27/11"
_ADMINISTRATIVE = frozenset("tinh huyen quan phuong xa tp thanh pho ubnd".split())  # "UBND tỉnh"
# Degree and approximation ("khoảng", "gần", "nhất"), and the verbs of any report
# ("cho biết", "đưa tin", "xảy ra", "khiến").
_VAGUE = frozenset("ca khoang gan muc nhat vua biet dua xay khien".split())
_STOP = FUNCTION_WORDS_FOLDED | _TIMES | _ADMINISTRATIVE | _VAGUE
# Syllables found in a large share of all Vietnamese news whatever the event: people,
# the state, the economy, the two big cities. They count, but little.
_COMMON = frozenset(
    (
        "nguoi cong dong quoc te hoi nuoc chinh viet phat dan nhan tin cao hang kinh dieu "
        "quan thong di hien ly lon thoi gian bo truong hoc sinh can dai an toan dung tiep "
        "thuc hop tac chuc phai nang dat hoat tang giam nha ty trieu ha noi tphcm gia ban "
        "xe tong thu chu tich so hai bon sau bay tram nghin manh dau tien ket qua"
    ).split()
)
_WEIGHT_STOP, _WEIGHT_COMMON, _WEIGHT_WORD = 0.0, 0.3, 1.0
_WEIGHT_FIGURE, _WEIGHT_SMALL_NUMBER = 2.0, 0.5
# One thing, several spellings (folded syllables → one token). Outputs are single
# tokens so that a stop syllable inside them ("tu" in "tu vong") is not lost.
_ALIASES: dict[tuple[str, ...], str] = {
    ("thanh", "pho", "ho", "chi", "minh"): "tphcm",
    ("tp", "ho", "chi", "minh"): "tphcm",
    ("tp", "hcm"): "tphcm",
    ("hoa", "ky"): "my",
    ("ngan", "hang", "nha", "nuoc"): "nhnn",
    ("trung", "hoc", "pho", "thong"): "thpt",
    ("giao", "thong", "van", "tai"): "gtvt",
    ("giao", "duc", "va", "dao", "tao"): "gddt",
    ("gd", "dt"): "gddt",
    ("o", "to"): "oto",
    ("xe", "hoi"): "oto",
    ("dong", "tho"): "khoicong",
    ("khoi", "cong"): "khoicong",
    ("tu", "vong"): "tuvong",
    ("thiet", "mang"): "tuvong",
    ("chet",): "tuvong",
    ("hoa", "hoan"): "chay",
    # Common abbreviations, spelled out by other outlets.
    ("doanh", "nghiep"): "dn",
    ("viet", "nam"): "vn",
    ("ha", "noi"): "hn",
    ("trung", "quoc"): "tq",
    ("lien", "hop", "quoc"): "lhq",
    ("quoc", "hoi"): "qh",
    ("dai", "bieu", "quoc", "hoi"): "dbqh",
    ("cau", "lac", "bo"): "clb",
    ("doi", "tuyen"): "dt",
    ("huan", "luyen", "vien"): "hlv",
    ("dai", "hoc"): "dh",
    ("cong", "an"): "ca",
    ("canh", "sat", "giao", "thong"): "csgt",
    ("bao", "hiem", "xa", "hoi"): "bhxh",
    ("bao", "hiem", "y", "te"): "bhyt",
    ("bat", "dong", "san"): "bds",
    ("toa", "an", "nhan", "dan"): "tand",
    ("vien", "kiem", "sat"): "vks",
    ("nha", "dau", "tu"): "ndt",
    ("thi", "truong", "chung", "khoan"): "ttck",
    ("ngan", "hang"): "nh",
}


def _index_aliases() -> dict[str, list[tuple[tuple[str, ...], str]]]:
    """Aliases by first syllable, longest spelling first ("tp ho chi minh" before "tp hcm")."""
    index: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    for spelling, alias in sorted(_ALIASES.items(), key=lambda item: -len(item[0])):
        index.setdefault(spelling[0], []).append((spelling, alias))
    return index


_ALIASES_BY_FIRST = _index_aliases()
# Number words as digits (match keys: "sáu" is six, "sau" is after). "Một" and "năm"
# (also "a" and "year") are left alone.
_NUMBER_WORDS = {
    word: str(value)
    for value, word in enumerate("hai ba bốn _ sáu bảy tám chín mười".split(), start=2)
    if word != "_"
}
# Capitalised but not names of anyone or anywhere.
_UNITS = frozenset("usd vnd kwh km kg euro".split())
# Honorifics, offices and roles written before a name (folded); "cựu"/"phó" come before
# an office ("cựu Tổng thống", "Phó Thủ tướng").
_HONORIFICS = frozenset(
    tuple(title.split())
    for title in (
        "ong|ba|anh|chi|em|co|chu|bac|cu|be|ngai|cuu|pho|"
        "tong thong|thu tuong|chu tich|bo truong|ngoai truong|tong bi thu|bi thu|dai su|"
        "thu truong|thong doc|chanh an|giam doc|tong giam doc|chu nhiem|truong ban|"
        "dai tuong|thuong tuong|trung tuong|thieu tuong|dai ta|thuong ta|trung ta|thieu ta|"
        "giao su|tien si|thac si|bac si|luat su|nha bao|nha van|nha tho|"
        "ca si|nhac si|dien vien|dao dien|nguoi mau|hoa hau|a hau|"
        "hlv|huan luyen vien|tien dao|tien ve|hau ve|thu mon|cau thu|danh thu|tay vot|"
        "vua|nu hoang|hoang tu|cong chua|cong nuong|giao hoang|hoang de|"
        "gs|pgs|ts|ths|bs|ls|mr|mrs|ms|dr"
    ).split("|")
)
# A number right after one of these (match keys, so "số" is not "sở") names a thing:
# "bão số 3", "Nghị định 73", "quý III". For "số" the word before says what is numbered.
_LABEL_HEADS = frozenset({("số",), ("quý",), ("nghị", "định"), ("quyết", "định"), ("thông", "tư")})
_ROMAN = {"i": "1", "ii": "2", "iii": "3", "iv": "4"}  # quý I-IV

_THOUSANDS = re.compile(r"(?<=\d)\.(?=\d{3}(?!\d))")  # 1.000.000: Vietnamese separators
_DECIMAL = re.compile(r"(?<=\d),(?=\d)")  # 4,5: the decimal comma, kept inside the token
_LETTER_DIGIT = re.compile(r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])")
# A mark then a space ends a sentence; "TP.HCM" and "4.5" have no space after the dot.
_HAS_DIGIT = re.compile(r"\d")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?:;…])\s+")


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


class _Token(NamedTuple):
    folded: str
    key: str  # match_key form: keeps "tăng" apart from "tầng" and "tặng"
    name: bool  # capitalised as part of a name


@dataclass(frozen=True)
class _Profile:
    """What the comparison needs from one article, computed once."""

    at: float  # shown_at as a timestamp
    # Unit vectors, so that a cosine is a dot product: match-key term → weight (title
    # terms weigh more), and the same by folded term ("tăng" and "tặng" are one).
    vector: Mapping[str, float]
    folded: Mapping[str, float]
    marked: bool  # written with diacritics (some feeds drop them all)
    syllables: frozenset[str]  # every syllable, for name look-ups
    bigrams: frozenset[str]
    title_names: tuple[tuple[str, ...], ...]
    labels: Mapping[str, frozenset[str]]
    direction: int  # +1 up, -1 down, 0 neither or both
    direction_in_title: bool


@dataclass(frozen=True)
class TermStats:
    """In how many of `documents` articles each term occurs (title or summary, once each).

    Learnt from the bot's own article store (or from the candidates themselves): a shared
    rare word says more than a shared "người", and what is rare depends on the news.
    """

    documents: int
    df: Mapping[str, int]

    @classmethod
    def of(cls, articles: Sequence[StoredArticle]) -> TermStats:
        return cls._of([_Text.of(article) for article in articles])

    @classmethod
    def _of(cls, texts: Sequence[_Text]) -> TermStats:
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(text.terms())
        return cls(len(texts), counts)

    def completed(self, sample: TermStats) -> TermStats:
        """These counts, and the sample's scaled up for the terms they lack.

        The store's index knows words; the terms made here ("tphcm" for "Thành phố Hồ Chí
        Minh", "1000" for "1.000") are not among them, and the edition's own candidates are
        the best guess of how common those are.
        """
        scale = self.documents / max(sample.documents, 1)
        extra = {t: max(1, round(n * scale)) for t, n in sample.df.items() if t not in self.df}
        return TermStats(self.documents, {**self.df, **extra})

    def idf(self, term: str) -> float:
        return math.log((self.documents + 1) / (self.df.get(term, 0) + 0.5))


class _Text(NamedTuple):
    """An article's title and summary as tokens: cut once, used for counts and profile."""

    title: list[_Token]
    summary: list[_Token]

    @classmethod
    def of(cls, article: StoredArticle) -> _Text:
        return cls(_tokens(article.title), _tokens(article.summary))

    def terms(self) -> set[str]:
        tokens = self.title + self.summary
        return {t.key for t in tokens} | {t.folded for t in tokens}


def lookup_terms(articles: Iterable[StoredArticle]) -> set[str]:
    """The words to ask the article store about (`Storage.term_stats`), as its index has
    them: the folded and match-key forms of each word of the title and summary. Stop
    words and single letters are left out (they weigh nothing), and so are numbers: the
    index cuts "21.890" and "13h" where `_tokens` does not, and reads "ba" as a word
    where `_tokens` reads 3 (their counts come from the candidates, see `completed`)."""
    terms: set[str] = set()
    for article in articles:
        text = f"{article.title}\n{article.summary}"
        terms.update(words(match_key(text)), words(fold(text)))
    return {t for t in terms if weighs_something(t) and not _HAS_DIGIT.search(t)}


def article_terms(article: StoredArticle) -> frozenset[str]:
    """The terms of an article that `TermStats` counts."""
    return frozenset(_Text.of(article).terms())


def same_story(
    a: StoredArticle,
    b: StoredArticle,
    *,
    window: timedelta = WINDOW,
    stats: TermStats | None = None,
) -> bool:
    """Whether two articles report the same event (see the module docstring)."""
    weigh = _weigher(stats)
    p, q = (_profile(x, _Text.of(x), weigh) for x in (a, b))
    return _related(p, q, window)


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
    `same_story` says so. A group grows by what most of it shares, not by one link: this
    stops chains such as storm → flood in the storm's path → flood in another province,
    and it lets a five-outlet story gather its paraphrases, which one link to one main
    article missed.

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
    texts = [_Text.of(article) for article in ordered]
    if stats is not None and stats.documents >= MIN_SAMPLE:
        stats = stats.completed(TermStats._of(texts))
    elif len(ordered) >= MIN_SAMPLE:
        stats = TermStats._of(texts)
    else:
        stats = None
    weigh = _weigher(stats)
    profiles = [_profile(a, text, weigh) for a, text in zip(ordered, texts, strict=True)]
    span = window.total_seconds()
    edges = {
        (i, j): weight
        for i, j in _candidate_pairs(profiles)
        if (weight := _similarity(profiles[i], profiles[j], span)) > 0
    }
    groups = _average_linkage(edges)
    stories = [_story([ordered[i] for i in group]) for group in groups]
    clustered = {i for group in groups for i in group}
    stories += [Story(a, ()) for i, a in enumerate(ordered) if i not in clustered]
    stories.sort(key=lambda s: (-s.outlets, -s.latest.timestamp(), _main_rank(s.main)))
    return stories


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


def _candidate_pairs(profiles: Sequence[_Profile]) -> Iterator[tuple[int, int]]:
    """Pairs that share one of their heaviest terms (blocking), each once, in order.

    Comparing every pair is quadratic: 5,000 candidates are 12.5 million pairs. Two
    reports of one story share names, figures or rare title words, which are each one's
    heaviest terms (`_BLOCK_KEYS` of them); a term in more than `_BLOCK_SHARE` of the
    candidates says little and would pair almost everything.

    Pairs are made article by article and never gathered into one set: half a million
    pairs would be freed in one go at the end, a pause of tens of milliseconds that holds
    the interpreter (and the event loop waiting for it) however the work is threaded.
    """
    keys = [
        [term for term, _ in heapq.nlargest(_BLOCK_KEYS, p.folded.items(), key=_second)]
        for p in profiles
    ]
    postings: dict[str, list[int]] = {}
    for i, terms in enumerate(keys):
        for term in terms:
            postings.setdefault(term, []).append(i)  # ascending: i only grows
    limit = max(_BLOCK_MIN, int(len(profiles) * _BLOCK_SHARE))
    for i, terms in enumerate(keys):
        later: set[int] = set()
        for term in terms:
            members = postings[term]
            if len(members) <= limit:
                later.update(members[bisect.bisect_right(members, i) :])
        for j in sorted(later):
            yield i, j


def _second(item: tuple[str, float]) -> float:
    return item[1]


def _average_linkage(edges: Mapping[tuple[int, int], float]) -> list[list[int]]:
    """Groups of two or more, merged best mean similarity first (ties: lowest indices).

    Two groups merge only when every pair across them is linked at all (above `_FLOOR`,
    not guarded): a mean alone lets one close pair pull in an unrelated article.
    """
    links: dict[int, dict[int, tuple[float, int]]] = {}  # group → group → (sum, pairs)
    for (i, j), weight in edges.items():
        links.setdefault(i, {})[j] = (weight, 1)
        links.setdefault(j, {})[i] = (weight, 1)
    members = {i: [i] for i in links}
    heap = [(-weight, i, j) for (i, j), weight in edges.items() if weight >= THRESHOLD]
    heapq.heapify(heap)
    while heap:
        negative, a, b = heapq.heappop(heap)
        if a not in members or b not in members:
            continue
        total, _ = links[a][b]
        if not math.isclose(total / (len(members[a]) * len(members[b])), -negative):
            continue  # a stale entry: a or b has grown since
        members[a] += members.pop(b)
        for c, (weight, count) in links.pop(b).items():
            del links[c][b]
            if c != a:
                old_weight, old_count = links[a].get(c, (0.0, 0))
                links[a][c] = links[c][a] = (old_weight + weight, old_count + count)
        for c, (total, count) in links[a].items():
            size = len(members[a]) * len(members[c])
            if count == size and total / size >= THRESHOLD:
                heapq.heappush(heap, (-total / size, min(a, c), max(a, c)))
    return [sorted(group) for group in members.values() if len(group) > 1]


def _main_rank(article: StoredArticle) -> tuple[int, int, datetime, int]:
    """Sort key: best summary first (complete, then cut with "…", then none)."""
    summary = article.summary.strip()
    quality = 2 if not summary else 1 if summary.endswith(("…", "...")) else 0
    return (quality, -len(summary), article.shown_at, article.id)


def _related(p: _Profile, q: _Profile, window: timedelta) -> bool:
    return _similarity(p, q, window.total_seconds()) >= THRESHOLD


def _similarity(p: _Profile, q: _Profile, window: float) -> float:
    """The pair's score less what its time gap costs; 0 when out of the window or guarded.

    Below `THRESHOLD` a pair is not the same story by itself, but its similarity still
    counts toward a group's mean; below `_FLOOR` it is noise and counts 0.

    Outlets report one event within hours of each other; a day later, the same place and
    people are more often in a new event (the next day's exam results, another crash on
    the same pass). So the bar rises with the gap, from `THRESHOLD` to `THRESHOLD_FAR`.

    `window` and the profiles' times are in seconds: this runs for every candidate pair
    (hundreds of thousands in a day's edition), and float arithmetic is much cheaper than
    datetime arithmetic.
    """
    gap = abs(p.at - q.at)
    if gap > window:
        return 0.0
    score = _score(p, q) - _BAR_RISE * min(gap / _RISE_SECONDS, 1.0)
    if score < _FLOOR:
        return 0.0
    if _labels_differ(p, q) or _directions_differ(p, q) or _names_differ(p, q):
        return 0.0
    return score


def _score(p: _Profile, q: _Profile) -> float:
    """Cosine of the two articles' weighted terms, 0..1.

    Terms keep their diacritics ("tăng" is not "tặng") unless one article has none.
    """
    pv, qv = (p.vector, q.vector) if p.marked and q.marked else (p.folded, q.folded)
    shared = pv.keys() & qv.keys()  # a set operation in C: the hot loop of `cluster`
    dot: float = sum(map(mul, map(pv.__getitem__, shared), map(qv.__getitem__, shared)))
    return dot


def _labels_differ(p: _Profile, q: _Profile) -> bool:
    """ "bão số 3" vs "bão số 4": the same label with no number in common."""
    return any(key in q.labels and not values & q.labels[key] for key, values in p.labels.items())


def _directions_differ(p: _Profile, q: _Profile) -> bool:
    """One rises and the other falls, and at least one title says so."""
    return p.direction * q.direction < 0 and (p.direction_in_title or q.direction_in_title)


def _names_differ(p: _Profile, q: _Profile) -> bool:
    """Each title names someone or somewhere that the other article never mentions.

    One-sided absence is normal (one outlet writes "Bình Nhưỡng", the other "Triều
    Tiên"); when both sides do it, the articles are about different instances.
    """
    return _names_missing(p, q) and _names_missing(q, p)


def _names_missing(p: _Profile, q: _Profile) -> bool:
    for name in p.title_names:
        if len(name) == 1:
            if name[0] not in q.syllables:
                return True
        elif not any(f"{x} {y}" in q.bigrams for x, y in itertools.pairwise(name)):
            return True  # no two consecutive syllables of the name appear together
    return False


def _profile(article: StoredArticle, text: _Text, weigh: Callable[[_Token], float]) -> _Profile:
    title, summary = text
    everything = title + summary
    # A term's weight depends on its key alone, so a key weighs its title weight if the
    # title has it and its plain weight otherwise; a folded term, its heaviest key's.
    forms = {t.key: t for t in summary} | {t.key: t for t in title}
    vector = {t.key: weight for t in summary if (weight := weigh(t)) > 0}
    vector |= {t.key: TITLE_BOOST * weight for t in title if (weight := weigh(t)) > 0}
    folded: dict[str, float] = {}
    for key, weight in vector.items():
        term = forms[key].folded
        if weight > folded.get(term, 0.0):
            folded[term] = weight
    title_direction = _direction(title, whole=True)
    in_title = title_direction is not None
    direction = title_direction if in_title else _direction(summary, whole=False)
    return _Profile(
        at=article.shown_at.timestamp(),
        vector=_unit(vector),
        folded=_unit(folded),
        marked=any(t.key != t.folded for t in everything),
        syllables=frozenset(t.folded for t in everything),
        bigrams=frozenset(_bigrams(title) | _bigrams(summary)),
        title_names=tuple(_names(title, _lowercase_words(everything))),
        labels=_labels(title, summary),
        direction=direction or 0,
        direction_in_title=in_title,
    )


def _unit(vector: dict[str, float]) -> dict[str, float]:
    norm = math.sqrt(sum(w * w for w in vector.values()))
    return {t: w / norm for t, w in vector.items()} if norm else {}


def _weigher(stats: TermStats | None) -> Callable[[_Token], float]:
    """A term's weight: learnt from `stats` when given, else the built-in one.

    Remembered by match key (the folded form follows from it) for one clustering run:
    an edition repeats the same few thousand syllables.
    """
    known: dict[str, float] = {}

    def weigh(token: _Token) -> float:
        weight = known.get(token.key)
        if weight is None:
            weight = known[token.key] = (
                _weight(token.folded) if stats is None else _learnt_weight(stats, token)
            )
        return weight

    return weigh


def _learnt_weight(stats: TermStats, token: _Token) -> float:
    return stats.idf(token.key) if weighs_something(token.folded) else 0.0


def weighs_something(term: str) -> bool:
    """Whether a learnt weight can be above 0: no stop word, no single letter."""
    folded = fold(term)
    return folded not in _STOP and (len(folded) > 1 or folded.isdigit())


@functools.lru_cache(maxsize=65536)  # syllables repeat; figures do not, hence the bound
def _weight(term: str) -> float:
    if term[0].isdigit():
        is_year = len(term) == 4 and term.startswith(("19", "20"))
        is_figure = "_" in term or (len(term) >= 3 and not is_year)
        return _WEIGHT_FIGURE if is_figure else _WEIGHT_SMALL_NUMBER
    if term in _STOP or len(term) == 1:
        return _WEIGHT_STOP
    return _WEIGHT_COMMON if term in _COMMON else _WEIGHT_WORD


def _tokens(text: str) -> list[_Token]:
    """Folded syllables of `text`, numbers normalised, aliases merged, names marked."""
    text = nfc(text)
    text = _LETTER_DIGIT.sub(" ", _DECIMAL.sub("_", _THOUSANDS.sub("", text)))
    raw: list[str] = []
    starts: list[bool] = []  # whether each word opens a sentence (or the title)
    for sentence in _SENTENCE_BREAK.split(text):
        sentence_words = words(sentence)
        raw.extend(sentence_words)
        starts.extend(i == 0 for i in range(len(sentence_words)))
    inner = {w for w, start in zip(raw, starts, strict=True) if not start}
    tokens = [_token(word) for word in raw]
    for i, token in enumerate(tokens):
        if token.name and starts[i] and not _name_at_start(raw, starts, i, inner):
            tokens[i] = _token_unnamed(raw[i])
    return _merge_aliases(tokens)


@functools.lru_cache(maxsize=65536)  # news reuses a few thousand syllables: stays warm
def _token(word: str) -> _Token:
    """The word's token, a name when capitalised ("Hà", "Samsung") or camel-cased ("iPhone")."""
    capital = word[0].isupper() or (word[0].isalpha() and not word.islower())
    key = match_key(word)
    if key in _NUMBER_WORDS:  # "Sáu lính dù" / "6 binh lính"
        return _Token(_NUMBER_WORDS[key], _NUMBER_WORDS[key], capital)
    return _Token(fold(word), key, capital)


@functools.lru_cache(maxsize=4096)
def _token_unnamed(word: str) -> _Token:
    """A capitalised word that only opens a sentence."""
    return _token(word)._replace(name=False)


def _name_at_start(raw: list[str], starts: list[bool], i: int, inner: set[str]) -> bool:
    """Whether a capitalised word that opens a sentence is a name.

    A sentence's first word is capitalised anyway, so there it counts only when the next
    word is capitalised too ("Hà Nội mưa lớn") or the same word is a name elsewhere in
    the text (`inner`: "Apple ra mắt… tại sự kiện, Apple giới thiệu").
    """
    following = raw[i + 1] if i + 1 < len(raw) and not starts[i + 1] else ""
    return following[:1].isupper() or raw[i] in inner


def _merge_aliases(tokens: list[_Token]) -> list[_Token]:
    starts = [i for i, t in enumerate(tokens) if t.folded in _ALIASES_BY_FIRST]
    if not starts:
        return tokens
    merged: list[_Token] = []
    done = 0  # tokens before this index are in `merged`
    for i in starts:
        if i < done:
            continue  # inside an alias already merged
        for spelling, alias in _ALIASES_BY_FIRST[tokens[i].folded]:
            span = tokens[i : i + len(spelling)]
            if tuple(t.folded for t in span) == spelling:
                merged += tokens[done:i]
                merged.append(_Token(alias, alias, any(t.name for t in span)))
                done = i + len(spelling)
                break
    return merged + tokens[done:]


def _lowercase_words(tokens: list[_Token]) -> frozenset[tuple[str, ...]]:
    """Syllables and pairs of syllables the text writes in lower case (match keys)."""
    single = {(t.key,) for t in tokens if not t.name}
    pairs = {(x.key, y.key) for x, y in itertools.pairwise(tokens) if not (x.name or y.name)}
    return frozenset(single | pairs)


def _bigrams(tokens: list[_Token]) -> set[str]:
    return {f"{x.folded} {y.folded}" for x, y in itertools.pairwise(tokens)}


def _names(title: list[_Token], lowercase: frozenset[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Runs of consecutive name syllables in a title, leaving out units and initials.

    Headlines capitalise ordinary words ("Lễ Khai mạc", "Kỳ họp Thứ sáu"): a run that the
    article also writes in lower case (`lowercase`: syllables and pairs, match keys) is no
    name.
    Honorifics and titles before a name ("Bà Merkel", "Thủ tướng Abe") are dropped: the
    other outlet may name the person without them.
    """
    runs: list[tuple[str, ...]] = []
    run: list[_Token] = []
    for token in [*title, _Token("", "", False)]:
        if token.name and not token.folded[0].isdigit():
            run.append(token)
            continue
        keys = [t.key for t in run]
        pieces = [(k,) for k in keys] if len(keys) == 1 else itertools.pairwise(keys)
        if not all(piece in lowercase for piece in pieces):
            name = _without_honorifics([t.folded for t in run])
            if any(s not in _STOP and s not in _UNITS and len(s) > 1 for s in name):
                runs.append(tuple(name))
        run = []
    return runs


def _without_honorifics(run: list[str]) -> list[str]:
    stripped = True
    while run and stripped:
        stripped = False
        for size in (3, 2, 1):
            if tuple(run[:size]) in _HONORIFICS:
                run, stripped = run[size:], True
                break
    return run


def _labels(*parts: list[_Token]) -> dict[str, frozenset[str]]:
    """Numbers that name a thing: "bão số 3" → {"bao số": {"3"}}, "quý III" → {"quý": {"3"}}."""
    labels: dict[str, set[str]] = {}
    for tokens in parts:
        for i in range(1, len(tokens)):
            value = tokens[i].folded
            if not (value[0].isdigit() or value in _ROMAN):
                continue  # the cheap test first: few words are numbers
            head = _label_head(tokens, i)
            if head is None:
                continue
            value = _ROMAN.get(value, value) if head == "quý" else value
            if value[0].isdigit():
                labels.setdefault(head, set()).add(value.split("_")[0])
    return {head: frozenset(values) for head, values in labels.items()}


def _label_head(tokens: list[_Token], i: int) -> str | None:
    """The label that the number at `i` would carry, if the words before it make one."""
    one = (tokens[i - 1].key,)
    two = (tokens[i - 2].key, tokens[i - 1].key) if i >= 2 else one
    if two in _LABEL_HEADS:
        return " ".join(two)
    if one not in _LABEL_HEADS:
        return None
    if one == ("số",):  # "bão số 3" and "metro số 1" are different series
        return f"{tokens[i - 2].folded} số" if i >= 2 else "số"
    return one[0]


def _direction(tokens: list[_Token], *, whole: bool) -> int | None:
    """+1 if the text says "tăng", -1 if "giảm", None if neither.

    A title is read whole, and saying both is 0 (no direction). In a summary the first of
    the two words counts: the lead states the news first ("giảm 530 đồng, sau hai kỳ tăng").
    """
    found: list[int] = []
    for i, token in enumerate(tokens):
        following = tokens[i + 1].key if i + 1 < len(tokens) else ""
        if token.key == "tăng" and following != "cường":  # "tăng cường" = to strengthen
            found.append(1)
        elif token.key == "giảm":
            found.append(-1)
    if not found:
        return None
    return found[0] if not whole or len(set(found)) == 1 else 0
