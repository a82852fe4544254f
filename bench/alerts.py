"""Matching new articles against readers' topics: the inverted index against the naive loop.

    .venv/bin/python bench/alerts.py [--articles 500] [--topics 50000] [--readers 10000]

Synthetic Vietnamese text: topics of one to three syllables (some with diacritics, some
phrases, some exclusions) drawn from the same vocabulary as the articles' titles and
summaries. Prints the time to match every article with `TopicIndex` and with one check per
topic (`naive_match`), that both find the same pairs, and the pacing floor: Telegram allows
about 30 messages a second in all, and Pacer spaces them at 29 a second.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime

from bot.models import StoredArticle, Topic
from bot.publish import Limits
from bot.query import parse_query
from bot.topics import TopicIndex, naive_match

WORDS = (
    "bão lũ mưa nắng giá vàng xăng dầu điện nước học sinh giáo viên bệnh viện bác sĩ "
    "giao thông tai nạn cao tốc sân bay đường sắt chứng khoán ngân hàng lãi suất bất động "
    "sản thuế quốc hội chính phủ thủ tướng bộ trưởng tỉnh thành phố Hà Nội Đà Nẵng Huế "
    "Cần Thơ Hải Phòng Quảng Ninh Nghệ An bóng đá đội tuyển World Cup SEA Games cầu thủ "
    "huấn luyện viên trận đấu thắng thua hòa công an điều tra khởi tố bắt giữ tòa án xét "
    "xử án tù kinh tế xuất khẩu nhập khẩu gạo cà phê tôm cá nông dân doanh nghiệp công ty "
    "Mỹ Trung Quốc Nhật Bản Hàn Quốc Nga Ukraine châu Âu Liên Hợp Quốc chiến sự hòa bình "
    "khoa học công nghệ trí tuệ nhân tạo điện thoại Internet mạng xã hội lừa đảo tin giả "
    "thời tiết rét đậu nắng nóng hạn mặn sạt lở động đất sóng thần núi lửa dịch bệnh vắc xin"
).split()
# News draws on thousands of syllables, not 150: widen the vocabulary the way Vietnamese
# builds syllables (initial + rhyme + tone), so that matches are as rare as in real news.
_INITIALS = "b c ch d đ g gi h k kh l m n ng nh ph qu r s t th tr v x".split()
_RHYMES = "a ai an ang anh ao at e em en eo i ia in inh o oi on ong u ui un ung uy ưa ương".split()
WORDS = WORDS + [i + r for i in _INITIALS for r in _RHYMES]


def articles(rng: random.Random, count: int) -> list[StoredArticle]:
    now = datetime.now(UTC)
    return [
        StoredArticle(
            i,
            rng.choice(["vnexpress", "tuoitre", "dantri", "thanhnien"]),
            None,
            " ".join(rng.choices(WORDS, k=12)),
            " ".join(rng.choices(WORDS, k=35)),
            now,
            now,
        )
        for i in range(count)
    ]


def topics(rng: random.Random, count: int, readers: int) -> list[Topic]:
    made = []
    for i in range(count):
        words = rng.sample(WORDS, rng.choice([1, 2, 2, 3]))
        if rng.random() < 0.3:
            words = [f'"{" ".join(words[:2])}"', *words[2:]]
        if rng.random() < 0.1:
            words.append("-" + rng.choice(WORDS))
        if rng.random() < 0.05:
            words.append("nguon:vnexpress")
        made.append(Topic(i, str(i % readers), " ".join(words)))
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", type=int, default=500)
    parser.add_argument("--topics", type=int, default=50_000)
    parser.add_argument("--readers", type=int, default=10_000)
    parser.add_argument("--naive", type=int, default=50, help="articles for the naive loop")
    args = parser.parse_args()
    rng = random.Random(14)
    news, followed = articles(rng, args.articles), topics(rng, args.topics, args.readers)

    start = time.perf_counter()
    index = TopicIndex(followed)
    built = time.perf_counter() - start
    start = time.perf_counter()
    matched = {a.id: sorted(t.id for t in index.match(a)) for a in news}
    indexed = time.perf_counter() - start

    pairs = [(t, parse_query(t.query)) for t in followed]
    sample = news[: args.naive]
    start = time.perf_counter()
    naive = {a.id: sorted(t.id for t in naive_match(pairs, a)) for a in sample}
    per_article = (time.perf_counter() - start) / len(sample)
    assert all(naive[a.id] == matched[a.id] for a in sample), "index and loop disagree"

    hits = sum(map(len, matched.values()))
    readers_hit = len({followed[t].chat for ids in matched.values() for t in ids})
    print(f"topics={len(followed)} readers={args.readers} articles={len(news)} pairs={hits}")
    print(f"index build: {built * 1000:.0f} ms (at start, from the database)")
    print(f"index match: {indexed * 1000:.0f} ms for {len(news)} articles")
    print(
        f"naive loop:  {per_article * 1000:.1f} ms an article, "
        f"{per_article * len(news) * 1000:.0f} ms for {len(news)} (measured on {len(sample)})"
    )
    rate = Limits().overall_per_second
    print(
        f"pacing: {args.readers} readers with one alert each take at least "
        f"{args.readers / 30 / 60:.1f} min at Telegram's 30/s; Pacer sends at {rate:g}/s: "
        f"{args.readers / rate / 60:.1f} min ({readers_hit} readers matched this batch)"
    )


if __name__ == "__main__":
    main()
