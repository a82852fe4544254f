"""Search as Vietnamese readers expect it: a golden table of queries, ranking, pages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import settings_for
from fakebotapi import FakeBotAPI, SentMessage

from bot.app import BotParts
from bot.fetch import make_http_client
from bot.format import highlight
from bot.models import Article
from bot.query import parse_query
from bot.settings import Settings
from bot.storage import Storage
from bot.storage.search import fts_expression

NOW = datetime.now(UTC)
TOKEN = "123456789:AAFakeTokenForTestsOnly_abcdefghij"

# key: (feed, title, summary, hours ago)
CORPUS = {
    "storm": ("vne", "Bão số 3 đổ bộ Quảng Ninh, gió giật cấp 14", "Bão gây mưa lớn diện rộng.", 5),
    "press": ("tt", "Báo chí cách mạng Việt Nam kỷ niệm 101 năm", "Lễ kỷ niệm ở Hà Nội.", 2),
    "insurance": ("vne", "Bảo hiểm xã hội điều chỉnh mức đóng", "Áp dụng từ tháng 1/2027.", 3),
    "hydro_old": ("tt", "Thủy điện Hòa Bình mở thêm cửa xả đáy", "Mực nước sông Đà lên nhanh.", 4),
    "hydro_new": ("vne", "Thuỷ điện Sơn La hoà lưới tổ máy mới", "Tổ máy công suất 400 MW.", 6),
    "hanoi": ("vne", "Hà Nội rét đậm, nhiệt độ xuống 12 độ C", "Trẻ em được nghỉ học.", 1),
    "hang": ("tt", "Hàng nghìn người xếp hàng mua vàng", "Giá vàng miếng tăng mạnh.", 7),
    "hagiang": ("tt", "Hà Giang đón mùa hoa tam giác mạch", "Du khách đổ về cao nguyên đá.", 8),
    "danang": ("vne", "Đà Nẵng khai trương cầu cảng du lịch", "Tàu khách quốc tế cập cảng.", 9),
    "daklak": ("tt", "Đắk Lắk được mùa cà phê", "Giá cà phê nhân xô đạt đỉnh.", 10),
    "hcm": ("vne", "TP.HCM mở rộng tuyến metro số 2", "Khởi công vào quý II năm sau.", 11),
    "gold": ("tt", "Giá vàng SJC vượt 90 triệu đồng", "Vàng nhẫn cũng tăng theo.", 12),
    "baobab": ("vne", "Cây baobab trăm tuổi ở Madagascar", "Loài cây biểu tượng của đảo.", 13),
}  # fmt: skip

GOLDEN = [
    # (query, expected hits as a set, or None; expected first hit, or None)
    ("bao", {"storm", "press", "insurance"}, None),
    ("bão", {"storm", "press", "insurance"}, "storm"),
    ("báo chí", {"press"}, "press"),
    ("BẢO HIỂM", {"insurance"}, "insurance"),
    ("thủy điện", {"hydro_old", "hydro_new"}, None),
    ("thuỷ điện", {"hydro_old", "hydro_new"}, None),
    ("thuy dien hoa binh", {"hydro_old"}, "hydro_old"),
    ("hoà bình", {"hydro_old"}, "hydro_old"),
    ("ha noi", {"hanoi", "press"}, "hanoi"),
    ("HÀ NỘI", {"hanoi", "press"}, "hanoi"),
    ("hà", {"hanoi", "press", "hagiang"}, None),  # not "hàng", not "Hải"
    ("da nang", {"danang"}, "danang"),
    ("dak lak", {"daklak"}, "daklak"),
    ("tp hcm", {"hcm"}, "hcm"),
    ("TP.HCM", {"hcm"}, "hcm"),
    ('"giá vàng"', {"hang", "gold"}, "gold"),
    ('"vàng giá"', set(), None),
    ("vàng -nhẫn", {"hang"}, "hang"),
    ('bao -"báo chí"', {"storm", "insurance"}, None),
    ("bao -bão", {"press", "insurance"}, None),
    ("nguon:tt bao", {"press"}, "press"),
    ("nguồn:vne bao", {"storm", "insurance"}, None),
    ("baobab", {"baobab"}, "baobab"),
    ("cà phê", {"daklak"}, "daklak"),
    ("NOT", set(), None),
    ("NEAR(ha noi", set(), None),
    ("hà nội' OR 1=1 --", set(), None),
    ("*", set(), None),
]


@pytest.fixture
async def corpus(storage: Storage) -> Storage:
    await storage.sync_feeds(
        [("vne", "https://vnexpress.net/rss"), ("tt", "https://tuoitre.vn/rss")]
    )
    for key, (feed, title, summary, hours) in CORPUS.items():
        article = Article(
            feed, key, f"https://x.vn/{key}", title, summary, NOW - timedelta(hours=hours)
        )
        await storage.add_articles([article], NOW - timedelta(hours=hours))
    return storage


@pytest.mark.parametrize(("query", "expected", "first"), GOLDEN, ids=[g[0] for g in GOLDEN])
async def test_golden_queries(
    corpus: Storage, query: str, expected: set[str], first: str | None
) -> None:
    hits = await corpus.search(parse_query(query), limit=20)
    keys = [h.url.rsplit("/", 1)[1] for h in hits if h.url]
    assert set(keys) == expected
    if first:
        assert keys[0] == first


async def test_recent_articles_rank_higher_among_equals(storage: Storage) -> None:
    await storage.sync_feeds([("vne", "u")])
    for key, days in (("old", 200), ("new", 1), ("mid", 30)):
        article = Article("vne", key, f"https://x.vn/{key}", "Giá xăng giảm", "", None)
        await storage.add_articles([article], NOW - timedelta(days=days))
    hits = await storage.search(parse_query("gia xang"), limit=5)
    assert [h.url for h in hits] == ["https://x.vn/new", "https://x.vn/mid", "https://x.vn/old"]


@pytest.mark.parametrize(
    ("typed", "expression"),
    [
        ("ha noi", '({title_fold summary_fold} : "ha") AND ({title_fold summary_fold} : "noi")'),
        (
            '"hà nội"',
            '({title_fold summary_fold} : "ha noi" OR {title_key summary_key} : "hà nội")',
        ),
        ("a -b", '(({title_fold summary_fold} : "a")) NOT {title_fold summary_fold} : "b"'),
        (
            'x" OR "1',
            '({title_fold summary_fold} : "x") AND ({title_fold summary_fold} : "or")'
            ' AND ({title_fold summary_fold} : "1")',
        ),
    ],
)
def test_fts_expression_quotes_every_word(typed: str, expression: str) -> None:
    assert fts_expression(parse_query(typed)) == expression


def test_query_parsing_is_total() -> None:
    for typed in ['"', '""', "-", "--", "nguon:", "(", ")", "NEAR(", "🌧️", "a" * 5000, "\x00"]:
        parse_query(typed)  # never raises
    long = parse_query(" ".join(f"từ{i}" for i in range(50)))
    assert len(long.include) == 8


def test_highlight_bolds_whole_syllables_only() -> None:
    marked = highlight("Hà Nội và hàng Hải", frozenset({"ha"}))
    assert marked == "<b>Hà</b> Nội và hàng Hải"


# --- pages in Telegram ------------------------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeBotAPI]:
    with FakeBotAPI(token=TOKEN) as api:
        yield api


@pytest.fixture
def settings(tmp_path: Path, fake: FakeBotAPI) -> Settings:
    config = '[[feeds]]\nid = "vne"\nname = "VnExpress"\nurl = "https://vnexpress.net/rss"\n'
    return settings_for(
        tmp_path, config, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=fake.base_url
    )


@pytest.fixture
async def many(settings: Settings, storage: Storage) -> Storage:
    await storage.sync_feeds([("vne", "u")])
    articles = [
        Article("vne", f"k{i}", f"https://x.vn/{i}", f"Giá vàng phiên {i}", "Vàng tăng.", None)
        for i in range(12)
    ]
    for i, article in enumerate(articles):
        await storage.add_articles([article], NOW - timedelta(minutes=i))
    return storage


@asynccontextmanager
async def running(settings: Settings, storage: Storage) -> AsyncIterator[None]:
    async with make_http_client() as client:
        application = BotParts(settings, storage, client).application
        assert application is not None
        async with application:
            await application.start()
            assert application.updater is not None
            await application.updater.start_polling(poll_interval=0, timeout=1)
            try:
                yield
            finally:
                await application.updater.stop()
                await application.stop()


async def wait_for(fake: FakeBotAPI, method: str, count: int) -> list[dict[str, object]]:
    for _ in range(200):
        calls = [c.params for c in fake.calls if c.method == method]
        if len(calls) >= count:
            return calls
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {method} #{count}: {[c.method for c in fake.calls]}")


def buttons(message: SentMessage | dict[str, object]) -> list[tuple[str, str]]:
    params = message.params if isinstance(message, SentMessage) else message
    markup = params.get("reply_markup") or {"inline_keyboard": [[]]}
    assert isinstance(markup, dict)
    return [(b["text"], b["callback_data"]) for b in markup["inline_keyboard"][0]]


async def test_result_pages_turn_and_survive_a_restart(
    settings: Settings, many: Storage, fake: FakeBotAPI
) -> None:
    async with running(settings, many):
        fake.queue_message("/search gia vang", user_id=77)
        [first] = [m for m in await asyncio.to_thread(fake.wait_for_sent, 1) if m.chat_id == "77"]
        assert "Kết quả 1–5" in first.text
        assert first.text.count("<b>Vàng</b>") == 5  # the matched words are in bold
        [(label, data)] = buttons(first)
        assert label == "Sau ›"
        fake.queue_callback_query(data, message_id=first.message_id, chat_id=77, user_id=77)
        [edited] = await wait_for(fake, "editMessageText", 1)
        assert "Kết quả 6–10" in str(edited["text"])
        assert [b[0] for b in buttons(edited)] == ["‹ Trước", "Sau ›"]
        next_page = buttons(edited)[1][1]
    # A new process on the same database: yesterday's buttons still work.
    async with running(settings, many):
        fake.queue_callback_query(next_page, message_id=first.message_id, chat_id=77, user_id=77)
        edits = await wait_for(fake, "editMessageText", 2)
        assert "Kết quả 11–12" in str(edits[1]["text"])
        assert [b[0] for b in buttons(edits[1])] == ["‹ Trước"]
        # A search that was pruned says so instead of failing silently.
        fake.queue_callback_query("s:9999:1", message_id=first.message_id, chat_id=77, user_id=77)
        answers = await wait_for(fake, "answerCallbackQuery", 3)
        assert "hết hạn" in str(answers[-1].get("text"))


async def test_no_results_suggests_the_word_to_drop(
    settings: Settings, many: Storage, fake: FakeBotAPI
) -> None:
    async with running(settings, many):
        fake.queue_message("/search gia vang bitcoin", user_id=78)
        [reply] = [m for m in await asyncio.to_thread(fake.wait_for_sent, 1) if m.chat_id == "78"]
    assert "Không tìm thấy bài nào" in reply.text
    assert "Thử bỏ từ «bitcoin»" in reply.text
