"""Story clustering on real news from several outlets (VMDS) and on the labelled pairs.

    python bench/cluster.py [--data PATH] [--pairs PATH]

VMDS (Vietnamese multi-document summarisation corpus, collected through Báo Mới in
2012-2013) groups 316 articles into 100 hand-made clusters, each one story told by 2-5
outlets. It is research data without a licence: read from ../shared/data/vmds-dev.jsonl
for evaluation only, never copied into the project. Input per article: `title`, and the
`sapo` as the summary. Scores are pairwise over articles from different outlets (a pair
is the same story when both are in one VMDS cluster):

* `same_story`, real times: each pair judged with the articles' own dates (36 h window);
* `cluster()`, one window: every article at once, all dated alike, so nothing but the text
  keeps apart stories from a year apart (the hard case); a pair is predicted the same when
  both articles land in one Story;
* `cluster()`, one window, counts from a store: the same, with how common each word is
  read from an article store (`Storage.term_stats`, as editions do) holding the VMDS
  articles and 20,000 recombined VietNews ones (bench/corpus.py), built in a temporary
  folder;
* TF-IDF baseline: cosine of TF-IDF vectors on folded syllables of title + sapo (IDF from
  the file itself), at the threshold that gives the best F1 on this very file (an upper
  bound for that method, not a tuned system).

Outlets: 65 rows have no `outlet`; their Báo Mới link carries the outlet's number
("/76/12310996"), used instead. Notes on the labels, not tuned to: clusters 51/57 (the 2013
budget) and 55/69 (the constitution amendment) are two stories each in VMDS but overlap in
what they report, so a few of their cross pairs count as false positives.

Speed: cluster() on 1,000 and 5,000 candidates, 50 outlets over one day, one core, on two
sets: "stories" (`edition_of`: stories told by 1-5 outlets, distinct texts cut from
VietNews, VMDS mixed in) and "recombined" (the earlier set: VietNews titles and sentences
recombined over and over, bench/corpus.py). Each is timed the first time (no text read
yet) and again (best of three: texts are read once and kept, as an edition finds them:
polls read each new article's text as they store it, `read_ahead`), and the reading
alone is timed too. Then the longest the event loop waits while the 5,000 are
clustered in a worker thread, as editions do (asyncio.to_thread), first and second time:
a 1 ms ticker on the loop records its worst delay. What the bench set up beforehand is
frozen out of the garbage collector's sight, as bot.app.run does after start-up.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import math
import random
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from corpus import generate, load_source  # bench/ is on sys.path when this script runs
from shared_data import VIETNEWS, VMDS, require

from bot.cluster import TermStats, cluster, lookup_terms, read_ahead, same_story
from bot.cluster.terms import _read as read_text
from bot.models import Article, StoredArticle
from bot.storage import Storage
from bot.vietnamese import fold, words

ROOT = Path(__file__).resolve().parents[1]
PAIRS = ROOT / "tests" / "data" / "cluster_pairs.json"
OVERLAPPING = ((51, 57), (55, 69))
VN = timedelta(hours=7)  # VMDS times are Vietnam local time
_OUTLET_IN_LINK = re.compile(r"/(\d+)/\d+(?:\.epi)?$")

Pair = tuple[int, int]


def load_vmds(path: Path) -> tuple[list[StoredArticle], list[int]]:
    """Articles (feed id = outlet) and each one's VMDS cluster, in file order."""
    articles: list[StoredArticle] = []
    labels: list[int] = []
    with path.open(encoding="utf-8") as handle:
        for index, line in enumerate(row for row in handle if row.strip()):
            row = json.loads(line)
            at = datetime.fromisoformat(row["time"]).replace(tzinfo=UTC) - VN
            articles.append(
                StoredArticle(
                    id=index + 1,
                    feed_id=_outlet(row),
                    url=row["link"],
                    title=row["title"],
                    summary=row["sapo"],
                    published_at=at,
                    first_seen_at=at,
                )
            )
            labels.append(int(row["cluster"]))
    return articles, labels


def _outlet(row: dict[str, str]) -> str:
    if row["outlet"]:
        return row["outlet"].removeprefix("www.")
    found = _OUTLET_IN_LINK.search(row["link"])
    return f"baomoi/{found.group(1)}" if found else row["link"]


def cross_pairs(articles: Sequence[StoredArticle]) -> list[Pair]:
    return [
        (i, j)
        for i, j in itertools.combinations(range(len(articles)), 2)
        if articles[i].feed_id != articles[j].feed_id
    ]


def scores(said: set[Pair], truth: set[Pair]) -> tuple[float, float, float]:
    tp = len(said & truth)
    precision = tp / len(said) if said else 1.0
    recall = tp / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    return precision, recall, f1


def clustered_pairs(
    articles: Sequence[StoredArticle], pairs: list[Pair], stats: TermStats | None = None
) -> set[Pair]:
    at = articles[0].shown_at
    same_time = [
        StoredArticle(a.id, a.feed_id, a.url, a.title, a.summary, at, at) for a in articles
    ]
    story_of: dict[int, int] = {}
    for number, story in enumerate(cluster(same_time, stats=stats)):
        for member in (story.main, *story.others, *story.duplicates):
            story_of[member.id] = number
    return {(i, j) for i, j in pairs if story_of[articles[i].id] == story_of[articles[j].id]}


STORE_ARTICLES = 20_000


async def store_stats(vmds: Sequence[StoredArticle]) -> tuple[TermStats, float]:
    """Counts for VMDS's words from a store of VMDS and VietNews; and how long they took."""
    with tempfile.TemporaryDirectory() as folder:
        storage = await Storage.open(Path(folder) / "store.sqlite3")
        try:
            made = list(generate(STORE_ARTICLES, load_source(require(VIETNEWS)), seed=7))
            feeds = {a.feed_id for a in vmds} | {a.feed_id for a, _ in made}
            await storage.sync_feeds([(f, f"https://{f}.example/rss") for f in sorted(feeds)])
            own = [
                (Article(a.feed_id, f"vmds{a.id}", a.url, a.title, a.summary, None), a.shown_at)
                for a in vmds
            ]
            await storage.import_articles([*made, *own])
            began = time.perf_counter()
            stats = await storage.term_stats(lookup_terms(vmds))
            return stats, time.perf_counter() - began
        finally:
            await storage.close()


def tfidf_best(texts: Sequence[str], pairs: list[Pair], truth: set[Pair]) -> tuple[float, ...]:
    """Cosine of TF-IDF on folded syllables; the best F1 over all thresholds."""
    bags = [Counter(words(fold(text))) for text in texts]
    df = Counter(term for bag in bags for term in bag)
    idf = {term: math.log(len(bags) / count) for term, count in df.items()}
    vectors = []
    for bag in bags:
        vector = {t: (1 + math.log(n)) * idf[t] for t, n in bag.items()}
        norm = math.sqrt(sum(w * w for w in vector.values())) or 1.0
        vectors.append({t: w / norm for t, w in vector.items()})
    ranked = sorted(
        (
            (sum(w * vectors[j].get(t, 0.0) for t, w in vectors[i].items()), (i, j))
            for i, j in pairs
        ),
        reverse=True,
    )
    best = (0.0, 0.0, 0.0, 0.0)
    tp = 0
    for said, (similarity, pair) in enumerate(ranked, start=1):
        tp += pair in truth
        precision, recall = tp / said, tp / len(truth)
        f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
        if f1 > best[2]:
            best = (precision, recall, f1, similarity)
    return best


def labelled_pairs(path: Path) -> tuple[float, float, float]:
    said: set[Pair] = set()
    truth: set[Pair] = set()
    for index, pair in enumerate(json.loads(path.read_text(encoding="utf-8"))):
        sides = []
        for n, (feed, side) in enumerate((("vnexpress", pair["a"]), ("tuoitre", pair["b"]))):
            at = datetime(2024, 9, 7, 6, tzinfo=UTC) + timedelta(hours=side["hours"])
            sides.append(StoredArticle(n + 1, feed, None, side["title"], side["summary"], at, at))
        if same_story(*sides):
            said.add((index, 0))
        if pair["same"]:
            truth.add((index, 0))
    return scores(said, truth)


def edition_of(size: int, vmds: Sequence[StoredArticle]) -> list[StoredArticle]:
    """`size` candidates from 50 outlets over one day, as a day of real news would give.

    Stories, not recombined sentences: each story is told by 1-5 outlets within three hours
    of its first report, and no two stories share a lead. A story is a VietNews article
    (real title and sapo) or one body sentence of one (a headline cut from it); stories cut
    from one article are about one event from different angles, so they share names and
    rare words like a big day's follow-ups do. Each outlet's version drops a few words of
    the title and lead, and half of them add a background sentence of their own. The VMDS
    clusters (real multi-outlet stories) are mixed in.
    """
    rng = random.Random(size)
    start = datetime(2025, 6, 1, tzinfo=UTC)
    real = list(vmds)[: size // 10]
    stories = _stories(load_source_rows(require(VIETNEWS)), rng)
    articles: list[StoredArticle] = []
    for story, (title, lead, context) in enumerate(stories):
        if len(articles) >= size - len(real):
            break
        count = rng.choices((1, 2, 3, 4, 5), (40, 25, 15, 10, 10))[0]
        first = rng.uniform(0, 86400 - 3 * 3600)
        for outlet in rng.sample(range(50), count)[: size - len(real) - len(articles)]:
            summary = _drop_words(rng, lead, 3)
            if context and rng.random() < 0.5:
                summary += " " + rng.choice(context)
            at = start + timedelta(seconds=first + rng.uniform(0, 3 * 3600))
            articles.append(
                StoredArticle(
                    len(articles) + 1, f"outlet{outlet}", f"https://outlet{outlet}.example/{story}",
                    _drop_words(rng, title, 2),
                    summary, None, at,
                )
            )  # fmt: skip
    if len(articles) < size - len(real):
        raise SystemExit(f"VietNews has too few stories for {size:,} candidates")
    for n, a in enumerate(real, start=1):
        at = start + timedelta(seconds=(n * 7919) % 86400)
        articles.append(
            StoredArticle(len(articles) + 1, f"outlet{(n * 7) % 50}", a.url, a.title, a.summary,
                          None, at)
        )  # fmt: skip
    return articles


def load_source_rows(path: Path) -> list[tuple[str, str, list[str]]]:
    """VietNews as (title, sapo, usable body sentences)."""
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                body = [s for s in row["body_sentences"] if 40 <= len(s) <= 400]
                rows.append((row["title"], row["abstract"], body))
    return rows


def _stories(
    rows: list[tuple[str, str, list[str]]], rng: random.Random
) -> list[tuple[str, str, list[str]]]:
    """(title, lead, background sentences) per story, every lead used once, shuffled."""
    stories = []
    for title, abstract, body in rows:
        sentences = list(body)
        rng.shuffle(sentences)
        angles, background = (
            sentences[: len(sentences) * 2 // 3],
            sentences[len(sentences) * 2 // 3 :],
        )
        stories.append((title, abstract, background))
        for sentence in angles:
            headline = " ".join(sentence.rstrip(".").split()[: rng.randint(8, 14)])
            stories.append((headline, sentence, background))
    rng.shuffle(stories)
    return stories


def _drop_words(rng: random.Random, text: str, most: int) -> str:
    """`text` with up to `most` words left out: another outlet's wording of it."""
    kept = text.split()
    for _ in range(rng.randint(0, most)):
        if len(kept) > 4:
            del kept[rng.randrange(len(kept))]
    return " ".join(kept)


def recombined_edition(size: int, vmds: Sequence[StoredArticle]) -> list[StoredArticle]:
    """The earlier speed set: VietNews titles and sentences recombined over and over (each
    title reused about 16 times in 5,000), so unrelated candidates share rare words far
    more than real news does; kept to compare with earlier figures."""
    start = datetime(2025, 6, 1, tzinfo=UTC)
    real = list(vmds)[: size // 10]
    made = generate(size - len(real), load_source(require(VIETNEWS)), seed=size)
    articles = [
        StoredArticle(i, f"outlet{i % 50}", None, a.title, a.summary, None, start)
        for i, (a, _) in enumerate(made, start=1)
    ]
    articles += [
        StoredArticle(
            len(articles) + n, f"outlet{(n * 7) % 50}", None, a.title, a.summary, None, start
        )
        for n, a in enumerate(real, start=1)
    ]
    return [
        StoredArticle(
            a.id, a.feed_id, a.url, a.title, a.summary, None,
            start + timedelta(seconds=(a.id * 7919) % 86400),
        )
        for a in articles
    ]  # fmt: skip


def forget_texts() -> None:
    """Empty the cache of read texts, so that the next run reads every text again."""
    read_text.cache_clear()


def timed(run: Callable[[], object], repeat: int = 3) -> float:
    best = math.inf
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - began)
    return best


async def loop_stall(run: Callable[[], object]) -> float:
    """The longest gap between ticks of a 1 ms timer on the loop while `run` is in a thread."""
    worst = 0.0
    done = False

    async def tick() -> None:
        nonlocal worst
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            worst = max(worst, now - last - 0.001)
            last = now

    ticker = asyncio.create_task(tick())
    await asyncio.to_thread(run)
    done = True
    await ticker
    return worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=VMDS)
    parser.add_argument("--pairs", type=Path, default=PAIRS)
    args = parser.parse_args()
    articles, labels = load_vmds(require(args.data))
    pairs = cross_pairs(articles)
    truth = {(i, j) for i, j in pairs if labels[i] == labels[j]}
    print(
        f"{len(articles)} articles in {len(set(labels))} clusters from {args.data.name}, "
        f"{len({a.feed_id for a in articles})} outlets; {len(pairs)} cross-outlet pairs, "
        f"{len(truth)} of them the same story"
    )
    overlap = ", ".join(f"{a}/{b}" for a, b in OVERLAPPING)
    print(f"overlapping clusters, counted as labelled (not tuned to): {overlap}")
    rows: list[tuple[str, tuple[float, ...]]] = []
    said = {(i, j) for i, j in pairs if same_story(articles[i], articles[j])}
    rows.append(("same_story, real times (36 h window)", scores(said, truth)))
    rows.append(
        ("cluster(), everything in one window", scores(clustered_pairs(articles, pairs), truth))
    )
    stats, lookup = asyncio.run(store_stats(articles))
    rows.append(
        (
            "cluster(), one window, counts from a store",
            scores(clustered_pairs(articles, pairs, stats), truth),
        )
    )
    texts = [f"{a.title}\n{a.summary}" for a in articles]
    *tfidf, threshold = tfidf_best(texts, pairs, truth)
    rows.append((f"TF-IDF cosine, best threshold ({threshold:.2f})", tuple(tfidf)))
    rows.append(("same_story on the labelled pairs", labelled_pairs(args.pairs)))
    print(f"| {'system':<44} | precision | recall | F1   |")
    print(f"|{'-' * 46}|-----------|--------|------|")
    for name, (precision, recall, f1) in rows:
        print(f"| {name:<44} | {precision:9.3f} | {recall:6.3f} | {f1:.3f} |")

    print(
        f"Storage.term_stats for the {len(articles)} VMDS articles' words, from "
        f"{stats.documents:,} stored: {lookup * 1000:.0f} ms"
    )
    gc.freeze()  # as bot.app.run does after start-up
    for name, make in (("stories", edition_of), ("recombined", recombined_edition)):
        for size in (1000, 5000):
            candidates = make(size, articles)
            forget_texts()
            cold = timed(lambda c=candidates: cluster(c), repeat=1)  # type: ignore[misc]
            warm = timed(lambda c=candidates: cluster(c))  # type: ignore[misc]
            forget_texts()
            reading = timed(lambda c=candidates: read_ahead(c), repeat=1)  # type: ignore[misc]
            print(
                f"cluster() of {size:,} candidates ({name}): {cold * 1000:.0f} ms the first "
                f"time, {warm * 1000:.0f} ms again (texts read: reading them takes "
                f"{reading * 1000:.0f} ms, which polls do as they store articles)"
            )
        stalls = []
        forget_texts()
        for _ in range(2):  # texts not yet read, then read
            stall = asyncio.run(loop_stall(lambda c=candidates: cluster(c)))  # type: ignore[misc]
            stalls.append(f"{stall * 1000:.0f} ms")
        forget_texts()
        print(
            f"longest event-loop stall while clustering them in a thread: {' then '.join(stalls)}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
