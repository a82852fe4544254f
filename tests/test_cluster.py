"""Story clustering: same_story on labelled pairs, and how cluster() groups and ranks."""

from __future__ import annotations

import dataclasses
import json
import random
import time
import unicodedata
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.cluster import Story, TermStats, article_terms, cluster, same_story
from bot.models import StoredArticle

PAIRS = Path(__file__).parent / "data" / "cluster_pairs.json"
T0 = datetime(2024, 9, 7, 6, 0, tzinfo=UTC)


def article(
    article_id: int, feed: str, title: str, summary: str, hours: float = 0.0
) -> StoredArticle:
    at = T0 + timedelta(hours=hours)
    return StoredArticle(
        id=article_id, feed_id=feed, url=f"https://{feed}.example/{article_id}", title=title,
        summary=summary, published_at=at, first_seen_at=at + timedelta(minutes=5),
    )  # fmt: skip


def load_pairs() -> list[dict[str, Any]]:
    pairs: list[dict[str, Any]] = json.loads(PAIRS.read_text(encoding="utf-8"))
    return pairs


def pair_articles(pair: dict[str, Any]) -> tuple[StoredArticle, StoredArticle]:
    a, b = pair["a"], pair["b"]
    return (
        article(1, "vnexpress", a["title"], a["summary"], a["hours"]),
        article(2, "tuoitre", b["title"], b["summary"], b["hours"]),
    )


# --- same_story on the labelled pairs ------------------------------------------------


def test_labelled_pairs_are_many_and_hard() -> None:
    pairs = load_pairs()
    kinds = Counter(p["note"].split(":")[0] for p in pairs)
    assert len(pairs) >= 80
    assert sum(p["same"] for p in pairs) >= 40
    assert sum(not p["same"] for p in pairs) >= 40
    assert kinds["hard negative"] >= 25
    for p in pairs:  # the note's kind agrees with the label
        assert p["same"] == (p["note"].startswith("paraphrase"))


def test_same_story_precision_and_recall() -> None:
    pairs = load_pairs()
    tp = fp = fn = 0
    for pair in pairs:
        said = same_story(*pair_articles(pair))
        tp += said and pair["same"]
        fp += said and not pair["same"]
        fn += not said and pair["same"]
        if said != pair["same"]:
            print(f"  {'false positive' if said else 'missed'}: {pair['note']}")
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    print(f"same_story on {len(pairs)} pairs: precision {precision:.3f}, recall {recall:.3f}")
    assert precision >= 0.95
    assert recall >= 0.9


def test_same_story_with_learnt_frequencies() -> None:
    # Document frequencies learnt from every labelled text, as the article store would.
    pairs = load_pairs()
    stats = TermStats.of([a for pair in pairs for a in pair_articles(pair)])
    said = [same_story(*pair_articles(pair), stats=stats) for pair in pairs]
    tp = sum(s and p["same"] for s, p in zip(said, pairs, strict=True))
    assert tp / sum(said) >= 0.95
    assert tp / sum(p["same"] for p in pairs) >= 0.9


def test_same_story_is_symmetric() -> None:
    for pair in load_pairs():
        a, b = pair_articles(pair)
        assert same_story(a, b) == same_story(b, a), pair["note"]


# Titles that differ in one place only, and the guard that must tell them apart.
NEAR_TWINS = [
    ("Bão số 3 giật cấp 12 hướng vào vịnh Bắc Bộ",
     "Bão số 4 giật cấp 12 hướng vào vịnh Bắc Bộ", "labelled numbers differ"),
    ("Giá vàng miếng SJC tăng 1 triệu đồng mỗi lượng",
     "Giá vàng miếng SJC giảm 1 triệu đồng mỗi lượng", "opposite directions"),
    ("Động đất 4,5 độ ở Kon Tum, nhiều nhà rung lắc",
     "Động đất 4,5 độ ở Điện Biên, nhiều nhà rung lắc", "each names a place the other lacks"),
    ("Nghị định 73 tăng lương cơ sở từ 1/7",
     "Nghị định 74 tăng lương cơ sở từ 1/7", "a different decree"),
]  # fmt: skip


@pytest.mark.parametrize(("title_a", "title_b", "why"), NEAR_TWINS)
def test_guards_separate_near_identical_titles(title_a: str, title_b: str, why: str) -> None:
    a = article(1, "vnexpress", title_a, "")
    b = article(2, "dantri", title_b, "")
    assert not same_story(a, b), why
    assert same_story(a, article(3, "dantri", title_a, "")), "the same title is the same story"


def test_same_story_folds_diacritics_and_spellings() -> None:
    a = article(1, "vnexpress", "Cháy nhà trọ ở TP.HCM, 3 người tử vong", "Cháy lúc 2h sáng 15/8.")
    b = article(2, "dantri", "Chay nha tro o Thanh pho Ho Chi Minh, 3 nguoi thiet mang", "")
    assert same_story(a, b)


def test_window_bounds_same_story() -> None:
    title, summary = (
        "Sập cầu Phong Châu ở Phú Thọ",
        "Cầu Phong Châu bắc qua sông Hồng bị sập do lũ.",
    )
    a = article(1, "vnexpress", title, summary, hours=0)
    b = article(2, "tuoitre", title, summary, hours=36)
    c = article(3, "thanhnien", title, summary, hours=37)
    assert same_story(a, b)
    assert not same_story(a, c)
    assert same_story(a, c, window=timedelta(hours=48))


# --- cluster() -----------------------------------------------------------------------

YAGI = [
    ("vnexpress", "Bão Yagi đổ bộ Quảng Ninh - Hải Phòng, giật cấp 14",
     "Trưa 7/9, tâm bão số 3 (Yagi) đi vào đất liền Quảng Ninh - Hải Phòng với sức gió mạnh "
     "cấp 12, giật cấp 14, làm đổ hàng nghìn cây xanh.", 0.0),
    ("tuoitre", "Siêu bão Yagi đã vào đất liền",
     "Bão Yagi đổ bộ vùng ven biển Hải Phòng, Quảng Ninh lúc 13h, gió giật trên cấp 14.", 1.0),
    ("thanhnien", "Bão số 3 vào Quảng Ninh, Hải Phòng: gió giật cấp 14, cây đổ la liệt",
     "Chiều 7/9, bão số 3 Yagi càn quét Hải Phòng và Quảng Ninh, gió giật cấp 14 quật đổ cây "
     "xanh, tốc mái nhiều nhà…", 2.0),
]  # fmt: skip
UNRELATED = [
    ("dantri", "Giá xăng giảm hơn 500 đồng mỗi lít",
     "Từ 15h chiều nay, giá xăng RON 95 giảm 530 đồng, còn 21.890 đồng mỗi lít.", 3.0),
    ("vietnamplus", "Apple ra mắt iPhone 16 với chip A18",
     "Apple giới thiệu bộ tứ iPhone 16 dùng chip A18, hỗ trợ trí tuệ nhân tạo.", 4.0),
]  # fmt: skip
# Same place as the storm, another event.
HARD_NEGATIVE = (
    "dantri", "Hải Phòng khởi công cầu Nguyễn Trãi bắc qua sông Cấm",
    "Sáng 7/9, UBND TP Hải Phòng khởi công xây dựng cầu Nguyễn Trãi nối quận Ngô Quyền với "
    "huyện Thủy Nguyên, vốn hơn 2.000 tỷ đồng.", 5.0,
)  # fmt: skip


def edition() -> list[StoredArticle]:
    rows = [*YAGI, *UNRELATED, HARD_NEGATIVE]
    return [article(i, *row) for i, row in enumerate(rows, start=1)]


def shape(stories: list[Story]) -> list[tuple[int, tuple[int, ...], tuple[int, ...]]]:
    return [(s.main.id, tuple(a.id for a in s.others), tuple(a.id for a in s.duplicates))
            for s in stories]  # fmt: skip


def test_cluster_groups_one_story_across_outlets() -> None:
    stories = cluster(edition())
    assert len(stories) == 4
    storm = stories[0]
    assert storm.outlets == 3
    assert {a.id for a in (storm.main, *storm.others)} == {1, 2, 3}
    assert {s.main.id for s in stories[1:]} == {4, 5, 6}  # the bridge stays on its own
    assert all(s.outlets == 1 for s in stories[1:])


def test_main_has_the_longest_complete_summary() -> None:
    storm = cluster(edition())[0]
    # Thanh Niên's summary is the longest but cut with "…"; VnExpress's is complete and
    # longer than Tuổi Trẻ's. The other versions follow in the same order.
    assert storm.main.feed_id == "vnexpress"
    assert [a.feed_id for a in storm.others] == ["tuoitre", "thanhnien"]


def test_main_tie_goes_to_the_earliest() -> None:
    title, summary = "Sập cầu Phong Châu ở Phú Thọ", "Cầu Phong Châu bắc qua sông Hồng bị sập."
    later = article(1, "vnexpress", title, summary, hours=2)
    earlier = article(2, "tuoitre", title, summary, hours=1)
    (story,) = cluster([later, earlier])
    assert story.main is earlier
    assert story.others == (later,)


def test_one_version_per_feed() -> None:
    articles = edition()
    again = article(10, "tuoitre", YAGI[1][1], YAGI[1][2] + " Nhiều tuyến phố mất điện.", 1.5)
    own_feed = article(11, "vnexpress", YAGI[0][1], YAGI[0][2], 0.5)
    storm = cluster([*articles, again, own_feed])[0]
    feeds = [a.feed_id for a in storm.others]
    assert len(feeds) == len(set(feeds)) == 2
    assert storm.main.feed_id not in feeds
    # The better of Tuổi Trẻ's two versions is shown; the rest are kept as duplicates.
    assert again in storm.others
    assert {a.id for a in storm.duplicates} == {2, 11}


def test_stories_ranked_by_outlets_then_latest() -> None:
    stories = cluster(edition())
    assert [s.outlets for s in stories] == [3, 1, 1, 1]
    # Among single-outlet stories the latest comes first.
    assert [s.main.id for s in stories[1:]] == [6, 5, 4]


def test_window_splits_a_story() -> None:
    title, summary = "Sập cầu Phong Châu ở Phú Thọ", "Cầu Phong Châu bắc qua sông Hồng bị sập."
    first = article(1, "vnexpress", title, summary, hours=0)
    late = article(2, "tuoitre", title, summary, hours=40)
    assert len(cluster([first, late])) == 2
    assert len(cluster([first, late], window=timedelta(hours=48))) == 1


def test_no_chaining_through_a_middle_article() -> None:
    # B is close to both A and C, but A and C are different events. B joins the one it is
    # closest to; the group's mean similarity then keeps the other out.
    a = article(
        1,
        "vnexpress",
        "Bão số 3 đổ bộ Quảng Ninh, giật cấp 14",
        "Trưa 7/9, bão số 3 đổ bộ Quảng Ninh với gió giật cấp 14, hàng nghìn cây xanh "
        "bị quật đổ, nhiều nhà tốc mái, hàng trăm cột điện gãy đổ.",
    )
    b = article(
        2,
        "tuoitre",
        "Bão số 3 đổ bộ Quảng Ninh, phố Hạ Long ngập sâu",
        "Trưa 7/9, bão số 3 đổ bộ Quảng Ninh gây mưa lớn, nhiều tuyến phố ở Hạ Long "
        "ngập sâu, cây xanh bị quật đổ.",
    )
    c = article(
        3,
        "thanhnien",
        "Mưa lớn, nhiều tuyến phố Hạ Long ngập sâu",
        "Mưa lớn sau bão khiến nhiều tuyến phố ở Hạ Long ngập sâu, người dân dắt xe.",
    )
    assert same_story(a, b) and same_story(b, c) and not same_story(a, c)
    stories = shape(cluster([c, b, a]))
    assert len(stories) == 2
    assert all({1, 3} - {main, *others} for main, others, _ in stories)


def test_cluster_is_deterministic() -> None:
    pairs = load_pairs()
    articles = [
        article(100 * i + j, feed, side["title"], side["summary"], side["hours"])
        for i, pair in enumerate(pairs)
        for j, (feed, side) in enumerate((("vnexpress", pair["a"]), ("dantri", pair["b"])))
    ]
    expected = shape(cluster(articles))
    rng = random.Random(7)
    for _ in range(3):
        rng.shuffle(articles)
        assert shape(cluster(articles)) == expected


def test_a_text_read_before_is_read_by_what_it_says() -> None:
    # Read texts are kept between runs; an article whose title was corrected since (same
    # id, new text) is read anew, and an unchanged one is read the same.
    storm = article(1, "vnexpress", "Bão số 3 đổ bộ Quảng Ninh, gió giật cấp 12", "")
    same = article(2, "dantri", "Bão số 3 đổ bộ Quảng Ninh, gió giật cấp 12", "")
    assert [s.outlets for s in cluster([storm, same])] == [2]
    corrected = article(2, "dantri", "Giá vàng miếng SJC tăng 1 triệu đồng mỗi lượng", "")
    assert [s.outlets for s in cluster([storm, corrected])] == [1, 1]
    assert [s.outlets for s in cluster([storm, same])] == [2]


@pytest.mark.parametrize("marks", ["kept", "dropped"])
def test_two_articles_are_one_story_exactly_when_same_story_says_so(marks: str) -> None:
    # cluster() scores a whole edition at once as matrix products, same_story one pair at
    # a time: they must agree, also when one outlet types without diacritics.
    agreed = 0
    for pair in load_pairs():
        a, b = pair_articles(pair)
        if marks == "dropped":
            b = dataclasses.replace(b, title=_unmarked(b.title), summary=_unmarked(b.summary))
        assert (len(cluster([a, b])) == 1) == same_story(a, b), (a.title, b.title)
        agreed += same_story(a, b)
    assert agreed > 40  # the pairs that are one story are many in both cases


def _unmarked(text: str) -> str:
    """The text as typed without diacritics, capitals kept: "Đà Nẵng" → "Da Nang"."""
    stripped = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in stripped if not unicodedata.combining(ch))


def test_a_large_edition_agrees_with_same_story_for_its_stories() -> None:
    # Several hundred candidates, scored in blocks of rows: every pair grouped together
    # either is the same story by itself or joined a group through others.
    sides = [(feed, side) for pair in load_pairs() for feed, side in
             (("vnexpress", pair["a"]), ("dantri", pair["b"]))]  # fmt: skip
    # The same news again four days later: as many stories, never mixed with the first.
    days = [(feed, side, hours) for hours in (0, 96) for feed, side in sides]
    articles = [article(i, f"{feed}{i % 5}", s["title"], s["summary"], s["hours"] + hours)
                for i, (feed, s, hours) in enumerate(days, start=1)]  # fmt: skip
    assert len(articles) > 256
    stories = [s for s in cluster(articles) if s.outlets > 1]
    assert len(stories) > 20
    assert sum(s.main.id > len(sides) for s in stories) * 2 == len(stories)
    for story in stories:
        members = [story.main, *story.others]
        for one in members:
            assert any(same_story(one, other) for other in members if other is not one)


def test_empty_edition() -> None:
    assert cluster([]) == []


def test_five_hundred_articles_well_under_a_second() -> None:
    sides = [side for pair in load_pairs() for side in (pair["a"], pair["b"])]
    feeds = ["vnexpress", "tuoitre", "thanhnien", "dantri", "vietnamplus", "vov", "laodong"]
    articles = [
        article(i, feeds[i % len(feeds)], side["title"], side["summary"], (i * 7) % 24)
        for i, side in enumerate(sides * 3)
    ][:500]
    best = min(_timed(lambda: cluster(articles)) for _ in range(3))
    print(f"cluster() of {len(articles)} articles: {best * 1000:.0f} ms")
    assert best < 1.0
    for story in cluster(articles):
        feeds_seen = [a.feed_id for a in (story.main, *story.others)]
        assert len(feeds_seen) == len(set(feeds_seen))


def _timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def test_store_counts_completed_from_the_candidates() -> None:
    # Terms the index cannot know ("tphcm" stands for a spelling, "1000" for "1.000") are
    # estimated from the candidates, scaled to the store's size.
    store = TermStats(1000, {"bão": 10})
    sample = TermStats(100, {"bão": 5, "tphcm": 20, "1000": 1})
    assert store.completed(sample).df == {"bão": 10, "tphcm": 200, "1000": 10}


def test_store_counts_an_abbreviation_as_often_as_its_spelling() -> None:
    # The index counts "VN" only where it is written so; the term "vn" also stands for
    # every "Việt Nam", so it is at least as common as the rarer of "viet" and "nam".
    store = TermStats(1000, {"viet": 400, "nam": 600, "vn": 3, "bão": 10})
    sample = TermStats(100, {"vn": 2, "bão": 5})
    assert store.completed(sample).df == {"viet": 400, "nam": 600, "vn": 400, "bão": 10}


def test_store_counts_change_what_counts_as_shared() -> None:
    # Two titles sharing only "Yagi" and "đổ bộ": one story when the store says those
    # words are rare, two when it says they are in most of the news.
    a = article(1, "vnexpress", "Yagi đổ bộ, mất điện diện rộng", "")
    b = article(2, "tuoitre", "Yagi đổ bộ, cây xanh gãy la liệt", "")
    words = article_terms(a) | article_terms(b)
    rare = TermStats(10_000, dict.fromkeys(words, 10))
    common = TermStats(10_000, rare.df | dict.fromkeys(["yagi", "bộ", "bo"], 9_000))
    assert len(cluster([a, b], stats=rare)) == 1
    assert len(cluster([a, b], stats=common)) == 2
    # A store too small to say anything is not used.
    assert shape(cluster([a, b], stats=TermStats(5, {"yagi": 5}))) == shape(cluster([a, b]))
