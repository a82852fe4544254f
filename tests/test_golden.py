"""Golden files for the two edges that matter: feed bytes → articles, articles → Telegram HTML.

Regenerate with `UPDATE_GOLDEN=1 make test`, then read the diff before committing it.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import FEEDS, check_golden

from bot.cluster import Story
from bot.digest import Section
from bot.format import edition_title, render_edition
from bot.models import Article, StoredArticle
from bot.normalize import normalize_feed
from bot.parse import parse_feed_document

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
# (fixture, feed id, the URL it is served from: the base for relative links)
FIXTURES = [
    (FEEDS / "tuoitre.rss", "tuoitre", "https://tuoitre.vn/rss/tin-moi-nhat.rss"),
    (FEEDS / "thanhnien_content_encoded.rss", "thanhnien", "https://thanhnien.vn/rss/home.rss"),
    (FEEDS / "dantri_atom.xml", "dantri", "https://dantri.com.vn/rss/home.rss"),
    (FEEDS / "vietnamplus_cp1258.rss", "vietnamplus", "https://www.vietnamplus.vn/rss/home.rss"),
    (FEEDS / "baolaichau_nfd.rss", "baolaichau", "https://baolaichau.vn/rss/home.rss"),
    (FEEDS / "html_titles.rss", "tinnhanh", "https://tinnhanh24h.example.vn/rss/home.rss"),
]


def articles_of(path: Path, feed_id: str, url: str) -> list[Article]:
    return normalize_feed(
        parse_feed_document(path.read_bytes(), url).entries, feed_id, url
    ).articles


def as_json(articles: list[Article]) -> str:
    rows = [
        {**asdict(a), "published_at": a.published_at.isoformat() if a.published_at else None}
        for a in articles
    ]
    return json.dumps(rows, ensure_ascii=False, indent=2) + "\n"


# The real VnExpress samples live in ../shared and are not copied into the project, not even
# as golden output; test_real_samples.py checks them by property.
@pytest.mark.parametrize(("path", "feed_id", "url"), FIXTURES, ids=lambda v: getattr(v, "name", ""))
def test_feed_to_articles(path: Path, feed_id: str, url: str) -> None:
    check_golden(f"articles/{path.stem}.json", as_json(articles_of(path, feed_id, url)))


def stored(articles: list[Article], first_id: int = 1) -> list[StoredArticle]:
    seen = datetime(2026, 11, 27, 11, 0, tzinfo=UTC)
    return [
        StoredArticle(
            id=first_id + index,
            feed_id=a.feed_id,
            url=a.url,
            title=a.title,
            summary=a.summary,
            published_at=a.published_at,
            first_seen_at=seen,
        )
        for index, a in enumerate(articles)
    ]


OUTLETS = {
    "tuoitre": "Tuổi Trẻ",
    "tinnhanh": "Tin nhanh <24h> & Co",
    "vnexpress": "VnExpress",
    "baolaichau": "Báo Lai Châu",
}


def edition_html(articles: list[StoredArticle]) -> str:
    """Each article as its own story, in one section: the formatting edge alone."""
    planned = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)  # 19:00 in Hà Nội, a Friday
    sections = [Section("", tuple(Story(a, ()) for a in articles))]
    title = edition_title(planned.astimezone(HCM))
    edition = render_edition("@bantin_demo", title, sections, OUTLETS, planned)
    return "\n\n<!-- ===== next message ===== -->\n\n".join(p.text for p in edition.parts) + "\n"


def test_articles_to_edition_html() -> None:
    articles = stored(
        articles_of(*FIXTURES[0])[:3] + articles_of(*FIXTURES[5]) + articles_of(*FIXTURES[4])[:1]
    )
    check_golden("editions/evening.html", edition_html(articles))


def test_long_edition_splits_into_messages() -> None:
    articles = [a for fixture in FIXTURES for a in articles_of(*fixture)]
    check_golden("editions/split.html", edition_html(stored(articles)))


def test_html_titles_are_text_not_markup() -> None:
    by_title = {a.title: a for a in articles_of(*FIXTURES[5])}
    titles = list(by_title)
    # Escaped markup in a title is shown as the outlet meant it, never as raw tags.
    assert any(t.startswith("NÓNG: Hà Nội") for t in titles), titles
    assert any("<script>" in t for t in titles), "a literal <script> in a title is kept as text"
    assert all("&amp;" not in t and "&quot;" not in t for t in titles), titles
    html = edition_html(stored(list(by_title.values())))
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


def test_dates_are_utc_and_missing_or_garbled_dates_are_none() -> None:
    articles = articles_of(*FIXTURES[5])
    dated = [a.published_at for a in articles if a.published_at]
    assert all(d.tzinfo == UTC for d in dated)
    assert sum(a.published_at is None for a in articles) == 2  # one missing, one garbled
