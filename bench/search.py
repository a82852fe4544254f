"""Search speed at archive scale: /search's query on N recombined VietNews articles.

    python bench/search.py [--articles N] [--db PATH] [--rebuild] [--queries N]

    python bench/search.py --articles 20000       # quick run, a few seconds
    python bench/search.py                        # 1,000,000 articles: a ~2 GB database,
                                                  # built in about 3.5 minutes on 2 cores

Builds the archive through Storage (the real schema, triggers and search keys; see
bench/corpus.py for how the articles are made) in /tmp/bantin-bench-search-N.sqlite3, or
reuses the database at --db when it already holds N articles. Then times Storage.search,
as /search calls it, on queries of six kinds in equal shares, made from the corpus so that
most have results: rare words, very common words, quoted phrases, words typed without
diacritics, exclusions and one source. Latency is wall time per query after a warm-up,
page cache warm. Baseline, in the same run: a LIKE scan over the same rows on a sample of
the queries. The goal: p95 ≤ 30 ms at 1,000,000 articles, common words included.

The corpus recombines 301 articles, so it has no long tail: at N articles the rarest title
words still match about N / 200 of them. "Rare" here means a few thousand matches at a
million, against a hundred thousand for "Việt Nam".
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import re
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from statistics import median, quantiles

from corpus import FEEDS, Source, feed_urls, generate, load_source  # bench/ is on sys.path
from shared_data import VIETNEWS, require  # bench/ is on sys.path

from bot.migrations import SCHEMA_VERSION
from bot.models import Article
from bot.query import parse_query
from bot.storage import Storage, fts_expression
from bot.vietnamese import fold, words

BATCH = 20_000  # articles per import_articles call, so one transaction each
PAGE = 6  # what /search asks for: 5 results and one more to know if there is a next page
GOAL_ARTICLES = 1_000_000
GOAL_P95_MS = 30.0
KINDS = ("rare", "common", "phrase", "no marks", "exclude", "source")
COMMON = ("Hà Nội", "Việt Nam", "ha noi", "viet nam", "TP.HCM", "giá vàng")
PHRASES = ('"giá vàng"', '"Hà Nội"')
UNMARKED = ("thu tuong", "bao lu", "da nang")
EXCLUSIONS = ("hà nội -mưa", 'bão -"Đà Nẵng"')
SOURCED = ("nguồn:vnexpress giá vàng",)
ABSENT = "xylophon"  # in no article: the LIKE scan's worst case
# Not in any timed query: they only bring the index's top pages into the caches.
WARMUP = ("thời tiết", "bóng đá", "xe máy", "học sinh", "giao thông", "bệnh viện", "tai nạn")


@dataclass(frozen=True)
class Timing:
    kind: str
    query: str
    ms: float
    found: bool


# --- the archive -------------------------------------------------------------------------


def stored_count(path: Path) -> int | None:
    """Articles in an existing benchmark database that Storage can open, else None.

    An older schema is fine: Storage.open migrates it, as it would the bot's own database.
    """
    if not path.exists():
        return None
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            if db.execute("PRAGMA user_version").fetchone()[0] > SCHEMA_VERSION:
                return None
            return int(db.execute("SELECT count(*) FROM articles").fetchone()[0])
    except sqlite3.Error:
        return None


def is_benchmark_database(path: Path) -> bool:
    """Whether the file is missing or was made by this script, so that it may be replaced."""
    if not path.exists():
        return True
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            feeds = set(db.execute("SELECT id, url FROM feeds").fetchall())
    except sqlite3.Error:
        return False
    return feeds == set(feed_urls())


def remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def batches(items: Iterable[tuple[Article, datetime]]) -> Iterator[list[tuple[Article, datetime]]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, BATCH)):
        yield batch


async def build(path: Path, count: int, source: Source) -> None:
    """Insert `count` articles through Storage, then optimize, printing the time of each."""
    storage = await Storage.open(path)
    try:
        await storage.sync_feeds(feed_urls())
        start = time.perf_counter()
        done = 0
        for batch in batches(generate(count, source)):
            await storage.import_articles(batch)
            done += len(batch)
            if done % 100_000 == 0:  # a long build shows it is alive, and its rate
                rate = done / (time.perf_counter() - start)
                print(f"  … {done:,} articles, {rate:,.0f}/s", flush=True)
        inserted = time.perf_counter() - start
        print(f"inserted {count:,} articles in {inserted:.1f} s ({count / inserted:,.0f}/s)")
        start = time.perf_counter()
        await storage.optimize()
        optimized = time.perf_counter() - start
        print(f"optimize {optimized:.1f} s; build total {inserted + optimized:.1f} s")
    finally:
        await storage.close()


def checkpoint(path: Path) -> None:
    """Fold the WAL into the database file, so the size printed is what the archive takes."""
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def database_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


# --- the queries ---------------------------------------------------------------------------


def make_queries(source: Source, total: int, seed: int) -> list[tuple[str, str]]:
    """`total` (kind, query) pairs, the kinds in equal shares, shuffled together."""
    rng = random.Random(seed)
    shares = [total // len(KINDS) + (i < total % len(KINDS)) for i in range(len(KINDS))]
    share = max(shares)
    names = [n for n, _ in Counter(_names(source)).most_common(2 * share) if n not in COMMON]
    feeds = [feed_id for feed_id, _ in FEEDS]
    pools = {
        "rare": rare_words(source, share, rng),
        "common": [*COMMON, *names],
        "phrase": [*PHRASES, *(f'"{name}"' for name in names)],
        "no marks": [*UNMARKED, *(fold(pair) for pair in title_pairs(source, share, rng))],
        "exclude": [*EXCLUSIONS, *_exclusions(source, names, share, rng)],
        "source": [*SOURCED, *(f"nguồn:{rng.choice(feeds)} {name}" for name in names)],
    }
    pools = {kind: list(dict.fromkeys(pool)) for kind, pool in pools.items()}
    queries = [(k, query) for k, n in zip(KINDS, shares, strict=True) for query in pools[k][:n]]
    rng.shuffle(queries)  # so no kind gets the caches warmed by its own kind
    return queries


def _names(source: Source) -> Iterator[str]:
    """Runs of two or three capitalised words, not opening a sentence: "Tây Ban Nha"."""
    for text in source.texts:
        run: list[str] = []
        for token in [*text.split()[1:], "."]:
            if token.isalpha() and token[0].isupper():
                run.append(token)
                continue
            if 2 <= len(run) <= 3:
                yield " ".join(run)
            run = []


def rare_words(source: Source, count: int, rng: random.Random) -> list[str]:
    """Title words found least often in the whole dataset (once, mostly), as typed."""
    seen = Counter(fold(word) for text in source.texts for word in words(text))
    candidates = sorted(
        {w for t in source.titles for w in words(t.lower()) if w.isalpha() and len(w) >= 4}
    )
    rng.shuffle(candidates)
    return sorted(candidates, key=lambda w: seen[fold(w)])[:count]


def title_pairs(source: Source, count: int, rng: random.Random) -> list[str]:
    """Two neighbouring words of real titles: what people type to find a story they saw."""
    pairs: list[str] = []
    for title in rng.sample(source.titles, len(source.titles)):
        found = [w for w in words(title.lower()) if w.isalpha() and len(w) >= 2]
        if len(found) >= 2:
            at = rng.randrange(len(found) - 1)
            pairs.append(" ".join(found[at : at + 2]))
    return list(dict.fromkeys(pairs))[:count]


def _exclusions(source: Source, names: list[str], count: int, rng: random.Random) -> list[str]:
    # A common name less a rare word: the NOT is checked against every candidate match.
    minus = [w for w in rare_words(source, 10 * count, rng) if len(w) >= 3]
    return [f"{rng.choice(names)} -{rng.choice(minus)}" for _ in range(count)]


# --- timing ---------------------------------------------------------------------------------


async def time_fts(path: Path, queries: Sequence[tuple[str, str]]) -> list[Timing]:
    """Each query as /search runs it, after a few untimed ones."""
    storage = await Storage.open(path)
    try:
        for query in WARMUP:
            await storage.search(parse_query(query), limit=PAGE)
        timings = []
        for kind, query in queries:
            start = time.perf_counter()
            hits = await storage.search(parse_query(query), limit=PAGE)
            elapsed = (time.perf_counter() - start) * 1000
            timings.append(Timing(kind, query, elapsed, bool(hits)))
        return timings
    finally:
        await storage.close()


def naive_sample(timings: Sequence[Timing], size: int) -> list[Timing]:
    """Queries a LIKE scan can answer too (marks typed, no operators): common and rare.

    The scan walks newest first and stops at the first page of matches, so it reads about
    N / matches × 6 rows: common words are its best case, rare words cost it more.
    """
    sample = [t for t in timings if t.query in (*COMMON[:2], *PHRASES)]
    sample += [t for t in timings if t.kind == "rare"][: size - len(sample)]
    return sample[:size]


@dataclass(frozen=True)
class Scan:
    query: str
    ms: float
    matches: int  # articles the query matches (by FTS), which sets how far the scan reads


def time_naive(path: Path, queries: Sequence[str]) -> list[Scan]:
    """The scan search would be without FTS: LIKE on every word, newest first."""
    scans = []
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        for query in queries:
            terms = [t.strip('"').lower() for t in re.findall(r'"[^"]+"|\S+', query)]
            where = " AND ".join("(lower(title) LIKE ? OR lower(summary) LIKE ?)" for _ in terms)
            params = [f"%{term}%" for term in terms for _ in range(2)]
            sql = f"SELECT id FROM articles WHERE {where} ORDER BY first_seen_at DESC LIMIT {PAGE}"
            start = time.perf_counter()
            db.execute(sql, params).fetchall()
            elapsed = (time.perf_counter() - start) * 1000
            count = "SELECT count(*) FROM articles_fts WHERE articles_fts MATCH ?"
            matches = db.execute(count, (fts_expression(parse_query(query)),)).fetchone()[0]
            scans.append(Scan(query, elapsed, matches))
    return scans


# --- report ---------------------------------------------------------------------------------


def percentiles(values: Sequence[float]) -> tuple[float, float, float, float]:
    """p50, p95, p99 and max; `quantiles` interpolates between the samples."""
    if len(values) < 2:
        return values[0], values[0], values[0], values[0]
    cuts = quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[94], cuts[98], max(values)


def print_latency(timings: Sequence[Timing]) -> float:
    """The latency table, overall and per kind; returns the overall p95."""
    print(f"{'kind':<10} {'queries':>7} {'found':>6} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7}")
    groups = [(kind, [t for t in timings if t.kind == kind]) for kind in KINDS]
    for kind, group in [*groups, ("all", list(timings))]:
        if not group:
            continue
        p50, p95, p99, top = percentiles([t.ms for t in group])
        found = sum(t.found for t in group)
        print(
            f"{kind:<10} {len(group):>7} {found:>6} {p50:>7.1f} {p95:>7.1f} {p99:>7.1f} {top:>7.1f}"
        )
    return percentiles([t.ms for t in timings])[1]


def print_naive(sample: Sequence[Timing], scans: Sequence[Scan], absent: Scan) -> None:
    print(f"\nLIKE scan on {len(sample)} of the queries (ms):")
    print(f"{'query':<20} {'kind':<7} {'matches':>8} {'FTS':>6} {'LIKE':>8}")
    for timing, scan in zip(sample, scans, strict=True):
        print(
            f"{timing.query:<20} {timing.kind:<7} {scan.matches:>8,} {timing.ms:>6.1f} "
            f"{scan.ms:>8.1f}"
        )
    fts_p50, naive_p50 = median(t.ms for t in sample), median(s.ms for s in scans)
    print(
        f"p50: FTS {fts_p50:.1f} ms, LIKE {naive_p50:.1f} ms; "
        f"LIKE/FTS {naive_p50 / fts_p50:.1f}x on the same queries"
    )
    # The corpus repeats 301 articles, so no timed query is rare enough for the scan's worst
    # case, a word in no article at all: it reads every row.
    print(f"LIKE scan for a word in no article ({absent.query!r}): {absent.ms:.1f} ms")


def print_goal(articles: int, p95: float) -> None:
    goal = f"goal: p95 ≤ {GOAL_P95_MS:.0f} ms at {GOAL_ARTICLES:,} articles, common words included"
    if articles != GOAL_ARTICLES:
        print(f"{goal}: not measured (this run has {articles:,} articles; p95 {p95:.1f} ms)")
        return
    print(f"{goal}: {'yes' if p95 <= GOAL_P95_MS else 'NO'} (p95 {p95:.1f} ms)")


def default_db(articles: int) -> Path:
    return Path(f"/tmp/bantin-bench-search-{articles}.sqlite3")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=GOAL_ARTICLES)
    parser.add_argument("--db", type=Path, help="default: /tmp/bantin-bench-search-N.sqlite3")
    parser.add_argument("--rebuild", action="store_true", help="build even if --db is complete")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--naive", type=int, default=10, help="queries timed as a LIKE scan")
    parser.add_argument("--data", type=Path, default=VIETNEWS)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    require(args.data)
    path: Path = args.db or default_db(args.articles)
    source = load_source(args.data)

    if not args.rebuild and stored_count(path) == args.articles:
        print(f"reusing {path} ({args.articles:,} articles); --rebuild to time the build")
    elif not is_benchmark_database(path):
        print(f"{path} is not a benchmark database; not replacing it", file=sys.stderr)
        return 2
    else:
        remove_database(path)
        print(f"building {path}: {args.articles:,} articles from {len(source.titles)} real ones")
        asyncio.run(build(path, args.articles, source))
    checkpoint(path)
    print(f"database: {database_bytes(path) / 2**20:,.0f} MiB (WAL checkpointed)")

    queries = make_queries(source, args.queries, args.seed)
    timings = asyncio.run(time_fts(path, queries))
    print(f"\nStorage.search, limit {PAGE}, {len(timings)} queries (ms):")
    p95 = print_latency(timings)
    sample = naive_sample(timings, args.naive)
    *scans, absent = time_naive(path, [*(t.query for t in sample), ABSENT])
    print_naive(sample, scans, absent)
    print()
    print_goal(args.articles, p95)
    return 0


if __name__ == "__main__":
    sys.exit(main())
