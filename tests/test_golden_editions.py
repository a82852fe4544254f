"""Golden editions: fixture articles from several outlets, rendered for a few channel
configurations, against HTML files that were read by eye once and are now held.

Regenerate with `UPDATE_GOLDEN=1 make test`, then read the diff before committing it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from conftest import ROOT, check_golden

from bot.digest import plan_sections
from bot.format import MAX_ENTITIES, edition_title, render_edition
from bot.models import StoredArticle

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
PLANNED = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)  # 07:00 in Hà Nội, a Saturday
FEEDS = {  # id: (name, category)
    "vnexpress": ("VnExpress", "Thời sự"),
    "vnexpress-kinhdoanh": ("VnExpress", "Kinh doanh"),
    "tuoitre": ("Tuổi Trẻ", "Thời sự"),
    "thanhnien": ("Thanh Niên", "Thời sự"),
    "dantri": ("Dân trí", "Thời sự"),
    "vietnamplus": ("VietnamPlus", "Thời sự"),
    "baolaichau": ("Báo Lai Châu", "Địa phương"),
}


def articles() -> list[StoredArticle]:
    raw = json.loads((ROOT / "tests" / "data" / "editions" / "articles.json").read_text("utf-8"))
    result = []
    for index, item in enumerate(raw, 1):
        shown = PLANNED - timedelta(minutes=item["minutes_ago"])
        url = f"https://{item['feed']}.example.vn/bai-{index}.html"
        result.append(
            StoredArticle(index, item["feed"], url, item["title"], item["summary"], shown, shown)
        )
    return result


def render(name: str | None, **channel: object) -> str:
    preview = bool(channel.pop("preview", False))
    sections = plan_sections(
        articles(),
        {feed: category for feed, (_, category) in FEEDS.items()},
        max_items=int(channel.pop("max_items", 10)),  # type: ignore[call-overload]
        **channel,  # type: ignore[arg-type]
    )
    title = edition_title(PLANNED.astimezone(HCM), name)
    outlets = {feed: outlet for feed, (outlet, _) in FEEDS.items()}
    edition = render_edition("@kenh", title, sections, outlets, PLANNED, preview=preview)
    for part in edition.parts:
        assert part.text.count("<") // 2 <= 2 * MAX_ENTITIES  # sanity: entities are bounded
    parts = [
        (f"<!-- preview: {part.preview_url} -->\n" if part.preview_url else "") + part.text
        for part in edition.parts
    ]
    return "\n\n<!-- ===== next message ===== -->\n\n".join(parts) + "\n"


CONFIGS: Sequence[tuple[str, str | None, dict[str, object]]] = [
    ("default", None, {}),
    (
        "morning_sections",
        "Bản tin sáng",
        {"section_order": ["Kinh doanh", "Thời sự"], "max_per_section": 3, "max_items": 8},
    ),
    ("storms_only", "Bản tin thiên tai", {"include": ["bão", "lu"], "exclude": ["Quảng Ngãi"]}),
    ("no_ads", None, {"exclude": ["quảng cáo"], "max_items": 5}),
]


@pytest.mark.parametrize(("name", "edition", "channel"), CONFIGS, ids=[c[0] for c in CONFIGS])
def test_golden_edition(name: str, edition: str | None, channel: dict[str, object]) -> None:
    check_golden(f"editions/{name}.html", render(edition, **dict(channel)))


def test_one_story_from_three_outlets_is_one_item() -> None:
    html = render(None)
    assert html.count("Bão số 15") == 1
    assert "+2 nguồn: " in html
    # Ranked first: the story most outlets carry.
    first_story = html.split("\n\n")[2]  # after the header and the first section title
    assert first_story.startswith('<b><a href="https://vnexpress.example.vn/bai-1.html">Bão số 15')


def test_hard_negative_stays_apart() -> None:
    html = render(None)
    assert "Hà Nội khởi công cầu Trần Hưng Đạo" in html
    assert "Hà Nội mưa lớn, nhiều tuyến phố ngập sâu" in html


def test_filters_follow_search_rules() -> None:
    html = render(None, include=["bão", "lu"], exclude=["Quảng Ngãi"])
    assert "Bão số 15" in html and "Lũ quét" in html  # "lu" matches lũ
    assert "Trà Khúc" not in html  # excluded by "Quảng Ngãi"
    assert "Bảo hiểm" not in html  # "bão" with its marks is not "bảo"
    assert "Giá vàng" not in html


def test_sections_follow_the_configured_order_and_cap() -> None:
    html = render("Bản tin sáng", section_order=["Kinh doanh", "Thời sự"], max_per_section=1)
    assert html.startswith("<b>Bản tin sáng · Thứ Bảy, 28/11/2026</b>")
    assert html.index("▍KINH DOANH") < html.index("▍THỜI SỰ") < html.index("▍ĐỊA PHƯƠNG")
    assert html.count("▍") == 3


def test_preview_of_the_top_story() -> None:
    html = render(None, preview=True)
    assert html.startswith("<!-- preview: https://")


def test_entity_limit_splits_a_long_edition() -> None:
    # Numbered ("Tin số 7"), so that each is a story of its own, as 59 real ones would be.
    many = [
        StoredArticle(i, "vnexpress", f"https://x.vn/{i}", f"Tin số {i}", "", PLANNED, PLANNED)
        for i in range(1, 60)
    ]
    sections = plan_sections(many, {}, max_items=50)
    edition = render_edition("@kenh", "Bản tin", sections, {"vnexpress": "VnExpress"}, PLANNED)
    assert len(edition.parts) >= 2  # 50 stories x 3 entities cannot share one message
    for part in edition.parts:
        entities = sum(part.text.count(tag) for tag in ("<b>", "<i>", "<a "))
        assert entities <= MAX_ENTITIES


def test_every_version_of_a_story_is_recorded_with_it() -> None:
    from bot.cluster import Story
    from bot.format import story_block

    main, other, again = articles()[:3]
    same_feed_again = StoredArticle(
        99, main.feed_id, "https://x.vn/99", main.title, "", None, PLANNED
    )
    block = story_block(Story(main, (other,), (same_feed_again,)), {"vnexpress": "VnExpress"})
    assert block.article_ids == (main.id, other.id, 99)  # none of them is posted again later
    assert again.id not in block.article_ids
