"""Users and feeds that misbehave, on purpose or not: floods of commands, forged buttons,
input that is not what a command expects, and feed text that could break a reply's markup.

The flood test runs `python -m bot run` as a child process against the fake Bot API, which
enforces Telegram's flood limits; the others call the handlers and formatters directly.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from botprocess import BotProcess
from conftest import settings_for, write_config
from fakebotapi import FakeBotAPI, FloodLimits, SentMessage, visible_text
from feedserver import FeedItem, FeedServer, render_feed

from bot.app import BotParts
from bot.cluster import Story
from bot.digest import Section
from bot.fetch import make_http_client
from bot.format import render_edition, search_page_message
from bot.models import Article, StoredArticle
from bot.publish import Pacer
from bot.settings import Settings
from bot.storage import Storage

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
TOKEN = "123456789:AAFakeTokenForTestsOnly_abcdefghij"
CHANNEL = "@bantin_test"
FLOODER, OTHER = 5001, 5002


@pytest.fixture
def fake_api() -> Iterator[FakeBotAPI]:
    with FakeBotAPI(token=TOKEN, flood_limits=FloodLimits()) as api:
        yield api


def news(now: datetime) -> list[FeedItem]:
    return [
        {
            "title": f"Hà Nội mở rộng vùng hạn chế xe máy, giai đoạn {i}",
            "link": f"https://tuoitre.vn/ha-noi-han-che-xe-may-{i}.htm",
            "description": "UBND TP Hà Nội dự kiến mở rộng phạm vi từ năm 2028.",
            "pub_date": now - timedelta(minutes=30 + i),
        }
        for i in range(3)
    ]


def sent_to(api: FakeBotAPI, chat: str) -> list[SentMessage]:
    return [m for m in api.sent if m.chat_id == chat]


def wait_until(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.mark.slow
def test_a_flooding_user_holds_back_neither_other_users_nor_an_edition(
    tmp_path: Path, fake_api: FakeBotAPI, feed_server: FeedServer
) -> None:
    feed_server.add("/tuoitre.rss", render_feed(news(datetime.now(UTC)), title="Tuổi Trẻ"))
    due = (datetime.now(HCM) + timedelta(seconds=25)).replace(microsecond=0)
    config = f"""
    [bot]
    timezone = "Asia/Ho_Chi_Minh"

    [[feeds]]
    id = "tuoitre"
    name = "Tuổi Trẻ"
    url = "{feed_server.url("/tuoitre.rss")}"
    allow_private = true

    [[channels]]
    chat = "{CHANNEL}"
    schedule = ["{due:%H:%M:%S}"]
    """
    env = {
        "BOT_DATABASE": str(tmp_path / "bantin.db"),
        "LOG_LEVEL": "INFO",
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": fake_api.base_url,
    }
    bot = BotProcess(["run", "--config", str(write_config(tmp_path, config))], env, tmp_path)
    try:
        bot.wait_for_log("first poll done", timeout=30)
        # The flood starts 3 s before the edition is due, so its replies are still queued
        # when the edition goes out.
        start = due.timestamp() - 3 - time.time()
        assert start > 0, "the bot took too long to start; the edition is already due"
        time.sleep(start)
        for _ in range(50):
            fake_api.queue_message("/help", user_id=FLOODER)
        asked = time.monotonic()
        due_at = asked + (due.timestamp() - time.time())  # the schedule, on the same clock
        fake_api.queue_message("/sources", user_id=OTHER)

        wait_until(lambda: sent_to(fake_api, str(OTHER)), 15, "the other user got no answer")
        [answer] = sent_to(fake_api, str(OTHER))
        assert "Nguồn tin" in answer.text
        assert answer.sent_at - asked < 3.0  # not behind the flood

        wait_until(lambda: sent_to(fake_api, CHANNEL), 30, "no edition")
        edition = sent_to(fake_api, CHANNEL)[0]
        assert edition.sent_at - due_at < 5.0  # on time, flood or not

        # The flooder: ten answers, one request to slow down, then silence.
        wait_until(lambda: len(sent_to(fake_api, str(FLOODER))) >= 11, 30, "flood answers")
        time.sleep(2)
        flood = [m.text for m in sent_to(fake_api, str(FLOODER))]
        assert len(flood) == 11
        assert sum("chậm lại" in text for text in flood) == 1
        assert "Lỗi" not in bot.log and "Traceback" not in bot.log
        assert bot.stop() == 0
    finally:
        if bot.proc.poll() is None:  # a failed assertion above: do not wait on the flood
            bot.proc.kill()


async def test_replies_queued_for_one_user_hold_back_no_edition_part() -> None:
    pacer = Pacer()
    flood = [asyncio.create_task(pacer.wait("5001", interactive=True)) for _ in range(10)]
    await asyncio.sleep(0.05)
    start = time.monotonic()
    for i in range(3):
        await pacer.wait(f"@kenh_{i}")
    other = time.monotonic()
    await pacer.wait("5002", interactive=True)
    done = time.monotonic()
    for task in flood:
        task.cancel()
    await asyncio.gather(*flood, return_exceptions=True)
    assert other - start < 1.0  # the flood waits for its own chat's window, not the channels
    assert done - other < 0.5  # another user is not queued behind the flood either


# --- in process: the real application over HTTP to the fake Bot API ------------------------

NOW = datetime.now(UTC)
FEEDS = """
[[feeds]]
id = "tuoitre"
name = "Tuổi Trẻ"
url = "https://tuoitre.vn/rss/tin-moi-nhat.rss"
"""
STORMS = [
    Article("tuoitre", f"bao{i}", f"https://tuoitre.vn/bao-{i}.htm", f"Bão số {i} vào Biển Đông",
            "Bão mạnh thêm khi vào Biển Đông.", NOW - timedelta(hours=i))
    for i in range(12)
]  # fmt: skip


@pytest.fixture
def api() -> Iterator[FakeBotAPI]:
    with FakeBotAPI(token=TOKEN) as fake:
        yield fake


@pytest.fixture
def settings(tmp_path: Path, api: FakeBotAPI) -> Settings:
    return settings_for(
        tmp_path, FEEDS, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=api.base_url
    )


@pytest.fixture
async def running(settings: Settings, storage: Storage, api: FakeBotAPI) -> AsyncIterator[Storage]:
    await storage.sync_feeds((f.id, f.url) for f in settings.feeds)
    await storage.add_articles(STORMS, NOW)
    async with make_http_client() as client:
        application = BotParts(settings, storage, client).application
        assert application is not None
        async with application:
            await application.start()
            assert application.updater is not None
            await application.updater.start_polling(poll_interval=0, timeout=1)
            yield storage
            await application.updater.stop()
            await application.stop()


async def until(check: object, what: str) -> None:
    for _ in range(200):
        if check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError(what)


async def ask(api: FakeBotAPI, text: str, user_id: int) -> SentMessage:
    before = len(api.sent)
    api.queue_message(text, user_id=user_id)
    await until(lambda: [m for m in api.sent[before:] if m.chat_id == str(user_id)], text)
    return next(m for m in api.sent[before:] if m.chat_id == str(user_id))


async def press(api: FakeBotAPI, data: str, *, chat_id: int, message_id: int) -> str | None:
    """Press a button; returns the text of the callback's answer (None: a silent answer)."""
    before = len(api.calls)
    api.queue_callback_query(data, message_id=message_id, chat_id=chat_id, user_id=chat_id)
    await until(lambda: [c for c in api.calls[before:] if c.method == "answerCallbackQuery"], data)
    answered = [c for c in api.calls[before:] if c.method == "answerCallbackQuery"]
    text = answered[0].params.get("text")
    return None if text is None else str(text)


def edits(api: FakeBotAPI) -> list[object]:
    return [c for c in api.calls if c.method == "editMessageText"]


def next_page_data(message: SentMessage) -> str:
    [[*_, button]] = message.params["reply_markup"]["inline_keyboard"]
    return str(button["callback_data"])


@pytest.mark.usefixtures("running")
async def test_a_result_page_button_works_only_in_the_chat_it_was_made_for(
    api: FakeBotAPI,
) -> None:
    mine = await ask(api, "/search bão", user_id=6001)
    data = next_page_data(mine)
    assert await press(api, data, chat_id=6001, message_id=mine.message_id) is None
    await until(lambda: edits(api), "the owner turns the page")

    theirs = await ask(api, "/help", user_id=6002)
    answer = await press(api, data, chat_id=6002, message_id=theirs.message_id)
    assert answer is not None and "hết hạn" in answer
    await asyncio.sleep(1.5)  # past the chat's pacing, when an edit would have come
    assert len(edits(api)) == 1


@pytest.mark.usefixtures("running")
@pytest.mark.parametrize(
    "data", ["s:1:²", "s:²:1", "s:" + "9" * 20 + ":1", "s:1:" + "9" * 30, "s:-1:0", "s::", "s"]
)
async def test_forged_button_data_gets_a_polite_answer(api: FakeBotAPI, data: str) -> None:
    mine = await ask(api, "/search bão", user_id=6001)
    answer = await press(api, data, chat_id=6001, message_id=mine.message_id)
    assert answer is not None and "hết hạn" in answer
    assert not [m for m in api.sent if "Xin lỗi" in m.text]


@pytest.mark.usefixtures("running")
@pytest.mark.parametrize("argument", ["²", "٣", "1" * 30, "-1", "0"])
async def test_latest_with_a_count_that_is_not_a_plain_number(
    api: FakeBotAPI, argument: str
) -> None:
    reply = await ask(api, f"/latest {argument}", user_id=6003)
    assert "từ 1 đến 10" in reply.text


# --- feed text that must not break a reply's markup ----------------------------------------

BROKEN_LINKS = [
    "https://tuoitre.vn/lu-quet\n-yen-bai.htm",
    " https://tuoitre.vn/lu quet.htm\t",
    "https://tuoitre.vn/lu-quet.htm\r\n<b>",
    'https://tuoitre.vn/"><script>.htm\u2028',
    "javascript:alert(1)",
    "tuoitre.vn/khong-co-giao-thuc",
]


@pytest.mark.usefixtures("running")
async def test_a_line_break_in_a_feed_link_leaves_the_search_reply_intact(
    api: FakeBotAPI, running: Storage
) -> None:
    floods = [
        Article("tuoitre", f"lq{i}", url, f"Lũ quét ở Yên Bái, bản tin {i}", "Mưa lớn gây lũ quét.",
                NOW - timedelta(minutes=i))
        for i, url in enumerate(BROKEN_LINKS)
    ]  # fmt: skip
    await running.add_articles(floods, NOW)
    reply = await ask(api, "/search lũ quét", user_id=6004)
    assert "Lũ quét ở Yên Bái" in reply.text, reply.text  # not the apology
    assert 'href="https://tuoitre.vn/lu%20quet.htm"' in reply.text  # encoded, still a link
    assert "javascript:" not in reply.text


def stored(i: int, url: str | None, summary: str = "Mưa lớn gây lũ quét.") -> StoredArticle:
    return StoredArticle(i, "tuoitre", url, f"Lũ quét số {i}", summary, NOW, NOW)


def test_no_feed_link_breaks_an_edition() -> None:
    stories = tuple(
        Story(stored(i, url), (stored(100 + i, url),)) for i, url in enumerate(BROKEN_LINKS)
    )
    edition = render_edition(
        CHANNEL, "Bản tin sáng", [Section("Thời sự", stories)], {"tuoitre": "Tuổi Trẻ"}, NOW
    )
    for part in edition.parts:
        visible = visible_text(part.text, "HTML")  # raises as Telegram would refuse
        assert "Lũ quét số 0" in visible


def test_a_snippet_full_of_query_words_still_shows_every_result() -> None:
    words = " ".join(["bão"] * 150)
    articles = [stored(i, f"https://tuoitre.vn/{i}.htm", words) for i in range(5)]
    text = search_page_message(
        "Kết quả 1–5 cho «bão»", articles, {"tuoitre": "Tuổi Trẻ"}, HCM, frozenset({"bao"})
    )
    for i in range(5):
        assert f"Lũ quét số {i}" in text
    assert text.count("<") // 2 < 100  # Telegram's entity limit


# --- searches that cost more than a reply may ----------------------------------------------

NO_MATCH = '"nội hà" "nam việt" "vàng giá" "bão mạnh" "đông biển" "số bão" "vào số" "mạnh bão"'


async def common_words(storage: Storage, count: int = 400) -> Storage:
    await storage.sync_feeds([("tuoitre", "https://tuoitre.vn/rss")])
    await storage.add_articles(
        [
            Article("tuoitre", f"hn{i}", f"https://tuoitre.vn/{i}.htm",
                    f"Hà Nội, Việt Nam: tin {i}",
                    "Giá vàng ở Hà Nội hôm nay. Bão mạnh vào Biển Đông.", NOW)
            for i in range(count)
        ],
        NOW,
    )  # fmt: skip
    return storage


async def test_a_search_past_its_deadline_is_stopped(storage: Storage) -> None:
    from bot.errors import SearchTooSlow
    from bot.query import parse_query

    await common_words(storage)
    query = parse_query(NO_MATCH)
    assert await storage.search(query, limit=6) == []  # it does finish, given time
    with pytest.raises(SearchTooSlow):
        await storage.search(query, limit=6, deadline=time.monotonic())
    # The connection is usable afterwards, without the deadline.
    assert await storage.search(parse_query("hà nội"), limit=6)


async def test_a_search_reply_over_budget_says_so_and_skips_the_hints(
    storage: Storage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.handlers

    await common_words(storage)
    settings = settings_for(tmp_path, FEEDS)
    monkeypatch.setattr(bot.handlers, "SEARCH_BUDGET", 0.0)
    searches: list[object] = []
    search = storage.search

    async def counted(*args: object, **kwargs: object) -> object:
        searches.append(args)
        return await search(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(storage, "search", counted)
    reply = await bot.handlers.search_reply(storage, settings, NO_MATCH)
    assert "tốn quá nhiều thời gian" in reply.text
    assert len(searches) == 1  # no hints after the budget is spent


async def test_a_query_with_too_many_terms_says_which_were_used(
    storage: Storage, tmp_path: Path
) -> None:
    from bot.handlers import search_reply

    await common_words(storage, count=10)
    settings = settings_for(tmp_path, FEEDS)
    words = "hà nội việt nam tin giá vàng bão mạnh biển đông"
    reply = await search_reply(storage, settings, words)
    assert "Hà Nội, Việt Nam" in reply.text
    assert "Chỉ tìm theo 8 từ" in reply.text
    reply = await search_reply(storage, settings, "hà nội " + " ".join(f"-x{i}" for i in range(9)))
    assert "Chỉ tìm theo 8 từ" in reply.text
    assert "Chỉ tìm theo" not in (await search_reply(storage, settings, "hà nội")).text
