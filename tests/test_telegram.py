"""The Telegram side in-process: commands and sending, over real HTTP to the fake Bot API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import settings_for
from fakebotapi import FakeBotAPI, SentMessage
from telegram import Bot

from bot.app import BotParts, register_commands
from bot.errors import PublishError
from bot.fetch import make_http_client
from bot.handlers import search_reply
from bot.models import Article
from bot.publish import TelegramSender
from bot.settings import Settings
from bot.storage import Storage

TOKEN = "123456789:AAFakeTokenForTestsOnly_abcdefghij"
NOW = datetime.now(UTC)
CONFIG = """
[[feeds]]
id = "tuoitre"
name = "Tuổi Trẻ"
url = "https://tuoitre.vn/rss/tin-moi-nhat.rss"

[[feeds]]
id = "dantri"
name = "Dân trí"
url = "https://dantri.com.vn/rss/home.rss"
"""
ARTICLES = [
    Article("tuoitre", "a", "https://tuoitre.vn/a.htm", "Hà Nội mưa lớn, nhiều tuyến phố ngập",
            "Mưa lớn từ chiều qua khiến nhiều tuyến phố ở Hà Nội ngập sâu.",
            NOW - timedelta(hours=1)),
    Article("dantri", "b", "https://dantri.com.vn/b.htm", "Đà Nẵng khởi công cảng Liên Chiểu",
            "Dự án có tổng vốn hơn 3.400 tỷ đồng.", NOW - timedelta(hours=2)),
    Article("dantri", "c", "https://dantri.com.vn/c.htm", "Thuỷ điện Hoà Bình xả đáy",
            "Mực nước <b>sông Đà</b> & sông Hồng lên nhanh.", NOW - timedelta(hours=3)),
]  # fmt: skip


@pytest.fixture
def fake() -> Iterator[FakeBotAPI]:
    with FakeBotAPI(token=TOKEN) as api:
        yield api


@pytest.fixture
def settings(tmp_path: Path, fake: FakeBotAPI) -> Settings:
    return settings_for(
        tmp_path, CONFIG, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=fake.base_url
    )


@pytest.fixture
async def filled(settings: Settings, storage: Storage) -> Storage:
    await storage.sync_feeds((f.id, f.url) for f in settings.feeds)
    await storage.add_articles(ARTICLES, NOW)
    return storage


@pytest.fixture
async def running_bot(
    settings: Settings, filled: Storage, fake: FakeBotAPI
) -> AsyncIterator[FakeBotAPI]:
    async with make_http_client() as client:
        application = BotParts(settings, filled, client).application
        assert application is not None
        async with application:
            await register_commands(application.bot)
            await application.start()
            assert application.updater is not None
            await application.updater.start_polling(poll_interval=0, timeout=1)
            yield fake
            await application.updater.stop()
            await application.stop()


async def ask(fake: FakeBotAPI, text: str, user_id: int = 5151) -> SentMessage:
    before = len(fake.sent)
    fake.queue_message(text, user_id=user_id)
    for _ in range(200):
        replies = [m for m in fake.sent[before:] if m.chat_id == str(user_id)]
        if replies:
            return replies[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no reply to {text!r}")


async def test_commands_are_registered_in_vietnamese(running_bot: FakeBotAPI) -> None:
    commands = {c["command"]: c["description"] for c in running_bot.commands}
    assert set(commands) == {
        "search", "latest", "sources", "help",
        "theodoi", "botheodoi", "lich", "yenlang", "xoadulieu",
    }  # fmt: skip
    assert "Tìm" in commands["search"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("/search ha noi", "Hà Nội mưa lớn"),
        ("/search HÀ NỘI", "Hà Nội mưa lớn"),
        ("/tim da nang", "Đà Nẵng khởi công"),
        ("/search thủy điện hòa bình", "Thuỷ điện Hoà Bình"),
    ],
)
async def test_search_finds_across_case_diacritics_and_tone_styles(
    running_bot: FakeBotAPI, query: str, expected: str
) -> None:
    reply = await ask(running_bot, query)
    assert expected in reply.text
    assert reply.parse_mode == "HTML"
    assert reply.params.get("link_preview_options") == {"is_disabled": True}


async def test_search_reply_escapes_feed_text(running_bot: FakeBotAPI) -> None:
    reply = await ask(running_bot, "/search song da")
    # Feed markup stays text; the matched words are in bold.
    assert "Mực nước &lt;b&gt;<b>sông</b> <b>Đà</b>&lt;/b&gt; &amp; <b>sông</b> Hồng" in reply.text
    assert '<a href="https://dantri.com.vn/c.htm">' in reply.text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/search", "Hãy gõ từ khoá"),
        ('/search "', "cần có chữ hoặc số"),
        ("/search *", "cần có chữ hoặc số"),
        ("/search (", "cần có chữ hoặc số"),
        ("/search 🌧️🌧️", "cần có chữ hoặc số"),
        ("/search NOT", "Không tìm thấy"),
        ("/search NEAR(ha noi", "Thử bỏ từ «near»"),  # plain words: "near" matches nothing
        ("/search ha noi' OR 1=1 --", "Không tìm thấy"),
        ("/search " + "a" * 5000, "Không tìm thấy"),
        ("/search bitcoin", "Không tìm thấy bài nào cho «bitcoin»"),
        ("/latest", "Tin mới nhất"),
        ("/moi 2", "Hà Nội mưa lớn"),
        ("/latest 99", "từ 1 đến 10"),
        ("/latest abc", "từ 1 đến 10"),
        ("/sources", "Dân trí"),
        ("/nguon", "Tuổi Trẻ · 1 bài"),
        ("/start", "Xin chào"),
        ("/help", "/search"),
        ("/lenh_la", "Lệnh này không có"),
    ],
)
async def test_every_input_gets_a_sensible_reply(
    running_bot: FakeBotAPI, text: str, expected: str
) -> None:
    reply = await ask(running_bot, text)
    assert expected in reply.text


async def test_latest_is_newest_first(running_bot: FakeBotAPI) -> None:
    reply = await ask(running_bot, "/latest 3")
    text = reply.text
    assert text.index("Hà Nội mưa") < text.index("Đà Nẵng") < text.index("Thuỷ điện")


async def test_cli_search_reply_matches_bot(filled: Storage, settings: Settings) -> None:
    text = (await search_reply(filled, settings, "da nang")).text
    assert "Đà Nẵng khởi công cảng Liên Chiểu" in text
    assert "Dân trí" in text


# --- sending ------------------------------------------------------------------------------


@pytest.fixture
async def sender(fake: FakeBotAPI) -> AsyncIterator[tuple[TelegramSender, list[float]]]:
    waits: list[float] = []

    async def no_sleep(seconds: float) -> None:
        waits.append(seconds)

    async with Bot(TOKEN, base_url=fake.base_url) as bot:
        yield TelegramSender(bot, sleep=no_sleep), waits


async def test_retry_after_is_waited_out_then_sent(
    fake: FakeBotAPI, sender: tuple[TelegramSender, list[float]]
) -> None:
    send, waits = sender
    fake.fail_next("sendMessage", status=429, retry_after=7)
    message_id = await send.send("@kenh", "<b>Bản tin</b>")
    assert message_id == fake.sent[-1].message_id
    assert waits == [7]
    assert len(fake.sent) == 1


async def test_server_errors_are_retried_with_backoff(
    fake: FakeBotAPI, sender: tuple[TelegramSender, list[float]]
) -> None:
    send, waits = sender
    fake.fail_next("sendMessage", status=500, times=2)
    await send.send("@kenh", "Bản tin")
    assert waits == [1.0, 2.0]
    assert len(fake.sent) == 1


@pytest.mark.parametrize(
    ("status", "extra"),
    [(403, {}), (400, {"description": "Bad Request: can't parse entities"})],
)
async def test_refusals_are_not_retried(
    fake: FakeBotAPI,
    sender: tuple[TelegramSender, list[float]],
    status: int,
    extra: dict[str, str],
) -> None:
    send, waits = sender
    fake.fail_next("sendMessage", status=status, **extra)
    with pytest.raises(PublishError, match="refused"):
        await send.send("@kenh", "Bản tin")
    assert waits == []
    assert fake.sent == []
