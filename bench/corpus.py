"""A synthetic archive of Vietnamese news, recombined from VietNews (../shared/data).

VietNews has 301 real articles. An archive article here is made of them, never copied into
the project: its title is a real title with one to three words swapped for words of
another real title, and its summary is one or two real sentences, the first a sapo or a
lead sentence (where outlets write "Hà Nội", "Việt Nam"), the second any body sentence.
Common words are therefore as common as they are in real news, and the per-word counts in
the summaries follow the real (Zipf-like) distribution. Rows come out in the order a bot
would have stored them: first-seen dates rise with the row id across one year.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from shared_data import VIETNEWS  # bench/ is on sys.path

from bot.models import Article

# Outlets and their share of the archive: the big national sites publish the most.
FEEDS: tuple[tuple[str, int], ...] = (
    ("vnexpress", 18),
    ("tuoitre", 14),
    ("thanhnien", 13),
    ("dantri", 13),
    ("vietnamplus", 10),
    ("zingnews", 9),
    ("laodong", 8),
    ("nld", 7),
    ("vov", 6),
    ("baolaichau", 2),
)
ARCHIVE_END = datetime(2025, 6, 1, tzinfo=UTC)
ARCHIVE_SPAN = timedelta(days=365)
# Sentences shorter than this are debris of the dataset's line split ("Ảnh: …").
MIN_SENTENCE_CHARS = 40
MAX_SENTENCE_CHARS = 400


@dataclass(frozen=True)
class Source:
    """The real text an archive is recombined from."""

    titles: tuple[str, ...]
    leads: tuple[str, ...]  # sapos and the first two body sentences of each article
    sentences: tuple[str, ...]  # every usable body sentence

    @property
    def texts(self) -> tuple[str, ...]:
        return self.titles + self.leads + self.sentences


def load_source(path: Path = VIETNEWS) -> Source:
    titles: list[str] = []
    leads: list[str] = []
    sentences: list[str] = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            row = json.loads(line)
            body = [s for s in row["body_sentences"] if _usable(s)]
            titles.append(row["title"])
            leads.extend([row["abstract"], *body[:2]] if _usable(row["abstract"]) else body[:2])
            sentences.extend(body)
    return Source(tuple(titles), tuple(leads), tuple(sentences))


def _usable(sentence: str) -> bool:
    return MIN_SENTENCE_CHARS <= len(sentence) <= MAX_SENTENCE_CHARS


def feed_urls() -> list[tuple[str, str]]:
    return [(feed_id, f"https://{feed_id}.vn/rss") for feed_id, _ in FEEDS]


def generate(count: int, source: Source, seed: int = 1) -> Iterator[tuple[Article, datetime]]:
    """`count` (article, first seen) pairs, oldest first; the same seed gives the same rows."""
    rng = random.Random(seed)
    feed_ids = [feed_id for feed_id, _ in FEEDS]
    weights = [weight for _, weight in FEEDS]
    # Title words pre-split once: swapping words is the hot loop of a million-row build.
    title_words = [title.split(" ") for title in source.titles]
    start = ARCHIVE_END - ARCHIVE_SPAN
    step = ARCHIVE_SPAN / max(count, 1)
    for index, feed_id in enumerate(rng.choices(feed_ids, weights, k=count)):
        seen = (start + step * index).replace(microsecond=0)
        published = seen - timedelta(seconds=rng.randrange(3 * 3600))
        article = Article(
            feed_id=feed_id,
            dedup_key=f"guid:{index}",
            url=f"https://{feed_id}.vn/a/{index}.html",
            title=_title(rng, title_words),
            summary=_summary(rng, source),
            published_at=published,
        )
        yield article, seen


def _title(rng: random.Random, title_words: list[list[str]]) -> str:
    words = list(rng.choice(title_words))
    donor = rng.choice(title_words)
    for _ in range(rng.randint(1, 3)):
        words[rng.randrange(len(words))] = rng.choice(donor)
    return " ".join(words)


def _summary(rng: random.Random, source: Source) -> str:
    first = rng.choice(source.leads)
    if rng.random() < 0.5:
        return first
    return f"{first} {rng.choice(source.sentences)}"
