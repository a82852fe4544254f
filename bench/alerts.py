"""Matching new articles against readers' topics: the inverted index against the naive loop.

    .venv/bin/python bench/alerts.py [--articles 500] [--topics 50000] [--readers 10000]
                                     [--data ../shared/data/vietnews-dev.jsonl]

Articles are real news when VietNews is at hand (bench/shared_data.py): each article's
title and abstract, then, past the 301 articles, one body sentence as a title and the next
two as a summary; the rest of the body text is the sample the index learns rare words from
(as the bot learns from its latest stored articles). Without the file, generated text
stands in, and the run says so.

Topics are what readers type: one to three words, drawn with a long tail (Zipf): a few
followed by thousands of readers ("giá vàng", "bão"), most by one. The candidates are a
short list of everyday news topics and the names and word pairs of the corpus; some are
typed without marks, some quoted, a few carry an exclusion or a source.

Prints the time to match every article with `TopicIndex` and with one check per topic
(`naive_match`, measured on --naive articles), that both find the same pairs, how dense the
matches are, and the pacing floor: Telegram allows about 30 messages a second in all.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from shared_data import VIETNEWS, require

from bot.models import StoredArticle, Topic
from bot.publish import Limits
from bot.query import parse_query
from bot.topics import TopicIndex, naive_match
from bot.vietnamese import fold, words

FEEDS = ("vnexpress", "tuoitre", "dantri", "thanhnien")
# What readers of Vietnamese news follow most: the head of the long tail.
EVERYDAY = (
    "giá vàng|bão|Hà Nội|TP.HCM|tai nạn giao thông|bóng đá|chứng khoán|lãi suất|giá xăng|"
    "thời tiết|động đất|Ukraine|Trung Quốc|Mỹ|tuyển sinh|học phí|bất động sản|tham nhũng|"
    "khởi tố|cao tốc|sân bay Long Thành|Đà Nẵng|ngân hàng|thuế|World Cup|đội tuyển Việt Nam|"
    "lũ lụt|sạt lở|ô nhiễm|dịch bệnh|vắc xin|giáo dục|y tế|bệnh viện|điện|nắng nóng|"
    "Trump|Nga|Iran|xuất khẩu|gạo|cà phê|Biển Đông|Quốc hội|Thủ tướng|Bộ Công an|ma túy|lừa đảo|"
    "tiền điện tử|trí tuệ nhân tạo|Apple|Samsung|VinFast|Vietnam Airlines|Hải Phòng|Cần Thơ"
).split("|")


def news(path: Path) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(title, summary) of real articles, then of pseudo-articles from body sentences."""
    docs = [json.loads(line) for line in path.open(encoding="utf-8")]
    real = [(d["title"], d["abstract"]) for d in docs]
    sentences = [s for d in docs for s in d["body_sentences"]]
    triples = zip(sentences[::3], sentences[1::3], sentences[2::3], strict=False)
    pseudo = [(a, f"{b} {c}") for a, b, c in triples if len(a) < 200]
    return real, pseudo


def generated(rng: random.Random, count: int) -> list[tuple[str, str]]:
    """Fallback text: everyday topics mixed into filler syllables."""
    filler = "người năm nay cho biết trong khi đó theo các đã được với này khu vực".split()
    pool = filler + [w for t in EVERYDAY for w in t.split()]
    return [
        (" ".join(rng.choices(pool, k=12)), " ".join(rng.choices(pool, k=40))) for _ in range(count)
    ]


def candidates(texts: list[tuple[str, str]]) -> list[str]:
    """Topic candidates, most followed first: everyday topics, then the corpus's names
    (runs of one to three capitalised words, not a text's first), then its word pairs without the
    commonest words (the long tail)."""
    tokens = [words(t) for title, summary in texts for t in (title, summary)]
    counts = Counter(w.lower() for run in tokens for w in run)
    common = {w for w, _ in counts.most_common(150)}
    names: Counter[str] = Counter()
    pairs: Counter[str] = Counter()
    for run in tokens:
        capital = [i > 0 and w[0].isupper() and w.lower() not in common for i, w in enumerate(run)]
        for is_name, group in itertools.groupby(zip(capital, run, strict=True), lambda p: p[0]):
            name = [w for _, w in group]
            # One capitalised syllable is mostly part of a person's name ("Thanh"): keep
            # only acronyms ("UBND") alone.
            if is_name and (1 < len(name) <= 3 or (name[0].isupper() and len(name[0]) > 2)):
                names[" ".join(name)] += 1
        lower = [w.lower() for w in run]
        pairs.update(
            f"{a} {b}"
            for a, b in itertools.pairwise(lower)
            if a not in common and b not in common and not (a + b).isdigit()
        )
    ranked = list(EVERYDAY)
    ranked += [n for n, c in names.most_common() if c > 1]
    ranked += [p for p, c in pairs.most_common() if c > 1]
    return list(dict.fromkeys(ranked))


def topics(rng: random.Random, ranked: list[str], count: int, readers: int) -> list[Topic]:
    weights = [1 / (rank + 1) ** 1.1 for rank in range(len(ranked))]
    made = []
    for i, words_ in enumerate(rng.choices(ranked, weights, k=count)):
        text = words_
        if " " in text and rng.random() < 0.15:
            text = fold(text)  # typed without marks (one syllable alone is too ambiguous)
        if " " in text and rng.random() < 0.2:
            text = f'"{text}"'
        if rng.random() < 0.05:
            text += " -" + rng.choice(ranked[:200]).split()[0]
        if rng.random() < 0.03:
            text += f" nguon:{rng.choice(FEEDS)}"
        made.append(Topic(i, str(rng.randrange(readers)), text))
    return made


def stored(texts: list[tuple[str, str]], rng: random.Random) -> list[StoredArticle]:
    now = datetime.now(UTC)
    return [
        StoredArticle(i, rng.choice(FEEDS), None, t, s, now, now) for i, (t, s) in enumerate(texts)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", type=int, default=500)
    parser.add_argument("--topics", type=int, default=50_000)
    parser.add_argument("--readers", type=int, default=10_000)
    parser.add_argument("--naive", type=int, default=50, help="articles for the naive loop")
    parser.add_argument("--data", type=Path, default=None)
    args = parser.parse_args()
    rng = random.Random(14)
    path = require(args.data) if args.data else VIETNEWS
    if path.is_file():
        real, pseudo = news(path)
        texts = (real + pseudo)[: args.articles]
        sample_texts = (real + pseudo)[args.articles :]
        print(f"text: {path.name} ({len(real)} articles + body sentences)")
    else:
        texts, sample_texts = generated(rng, args.articles), generated(rng, 1000)
        print(f"text: generated ({path} not found)")
    incoming, sample = stored(texts, rng), stored(sample_texts, rng)
    followed = topics(rng, candidates(texts + sample_texts), args.topics, args.readers)

    start = time.perf_counter()
    index = TopicIndex(followed, sample)
    built = time.perf_counter() - start
    start = time.perf_counter()
    matched = {a.id: [t.id for t in index.match(a)] for a in incoming}
    indexed = time.perf_counter() - start

    pairs = [(t, parse_query(t.query)) for t in followed]
    few = incoming[: args.naive]
    start = time.perf_counter()
    naive = {a.id: sorted(t.id for t in naive_match(pairs, a)) for a in few}
    per_article = (time.perf_counter() - start) / len(few)
    assert all(naive[a.id] == sorted(matched[a.id]) for a in few), "index and loop disagree"

    hits = sum(map(len, matched.values()))
    readers_hit = len({followed[t].chat for ids in matched.values() for t in ids})
    print(
        f"topics={len(followed)} distinct={index.distinct} readers={args.readers} "
        f"articles={len(incoming)} sample={len(sample)}"
    )
    print(
        f"matches: {hits} topic-article pairs, {hits / len(incoming):.0f} topics an article; "
        f"{readers_hit} readers matched"
    )
    print(f"index build: {built * 1000:.0f} ms (at start: topics and sample from the database)")
    print(f"index match: {indexed * 1000:.0f} ms for {len(incoming)} articles")
    print(
        f"naive loop:  {per_article * 1000:.1f} ms an article, "
        f"{per_article * len(incoming) * 1000:.0f} ms for {len(incoming)} (measured on {len(few)})"
    )
    rate = Limits().overall_per_second
    print(
        f"pacing: {args.readers} readers with one alert each take at least "
        f"{args.readers / 30 / 60:.1f} min at Telegram's 30/s; Pacer sends at {rate:g}/s: "
        f"{args.readers / rate / 60:.1f} min"
    )


if __name__ == "__main__":
    main()
