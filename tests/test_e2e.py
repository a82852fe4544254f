"""The real app, end to end: feeds over loopback → SQLite → a channel on a fake Bot API.

The bot runs as `python -m bot run` in a child process, talking real HTTP to the feed
server and to the fake Telegram server, both on 127.0.0.1 in this test process.
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from botprocess import BotProcess
from conftest import write_config
from fakebotapi import FakeBotAPI, SentMessage
from feedserver import FeedItem, FeedServer, render_feed

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
TOKEN = "123456789:AAFakeTokenForTestsOnly_abcdefghij"
CHANNEL = "@bantin_test"


def items(now: datetime) -> list[FeedItem]:
    return [
        {
            "title": "Hà Nội mở rộng vùng hạn chế xe máy ra vành đai 2",
            "link": "https://tuoitre.vn/ha-noi-han-che-xe-may-20261127.htm",
            "description": "<p>UBND TP <b>Hà Nội</b> dự kiến mở rộng phạm vi từ năm 2028.</p>",
            "pub_date": now - timedelta(minutes=30),
        },
        {
            "title": "Giá vàng SJC & vàng nhẫn <tăng> mạnh",
            "link": "https://tuoitre.vn/gia-vang-20261127.htm?a=1&b=2",
            "description": "Sáng 27-11, giá vàng miếng SJC tăng thêm 1,2 triệu đồng/lượng.",
            "pub_date": now - timedelta(minutes=20),
        },
    ]


def later_item(now: datetime) -> FeedItem:
    return {
        "title": "Đà Nẵng khởi công khu thương mại tự do",
        "link": "https://dantri.com.vn/da-nang-khoi-cong-20261127.htm",
        "description": "Khu thương mại tự do Đà Nẵng có diện tích gần 1.900 ha.",
        "pub_date": now - timedelta(minutes=1),
    }


def at_seconds_from_now(seconds: float) -> str:
    return (datetime.now(HCM) + timedelta(seconds=seconds)).strftime("%H:%M:%S")


def config(server: FeedServer, schedule: str) -> str:
    return f"""
    [bot]
    timezone = "Asia/Ho_Chi_Minh"

    [[feeds]]
    id = "tuoitre"
    name = "Tuổi Trẻ"
    url = "{server.url("/tuoitre.rss")}"
    allow_private = true

    [[feeds]]
    id = "dantri"
    name = "Dân trí"
    url = "{server.url("/dantri.rss")}"
    allow_private = true

    [[channels]]
    chat = "{CHANNEL}"
    schedule = ["{schedule}"]
    """


@pytest.fixture
def fake_api() -> Iterator[FakeBotAPI]:
    with FakeBotAPI(token=TOKEN) as api:
        yield api


def start_bot(
    tmp_path: Path, fake_api: FakeBotAPI | None, server: FeedServer, seconds: float
) -> BotProcess:
    path = write_config(tmp_path, config(server, at_seconds_from_now(seconds)))
    env = {"BOT_DATABASE": str(tmp_path / "bantin.db"), "LOG_LEVEL": "INFO"}
    if fake_api is not None:
        env |= {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": fake_api.base_url}
    return BotProcess(["run", "--config", str(path)], env, tmp_path)


def to_channel(api: FakeBotAPI) -> list[SentMessage]:
    return [m for m in api.sent if m.chat_id == CHANNEL]


def wait_for_channel(api: FakeBotAPI, count: int, timeout: float = 30.0) -> list[SentMessage]:
    deadline = time.monotonic() + timeout
    while len(to_channel(api)) < count:
        assert time.monotonic() < deadline, f"channel got {len(to_channel(api))} messages"
        time.sleep(0.1)
    return to_channel(api)


@pytest.mark.slow
def test_digest_search_and_restart_without_repeats(
    tmp_path: Path, fake_api: FakeBotAPI, feed_server: FeedServer
) -> None:
    now = datetime.now(UTC)
    feed_server.add("/tuoitre.rss", render_feed(items(now), title="Tuổi Trẻ"))
    feed_server.add("/dantri.rss", render_feed([], title="Dân trí"))

    bot = start_bot(tmp_path, fake_api, feed_server, seconds=15)  # start-up under load
    try:
        fake_api.wait_for_call("setMyCommands", timeout=30)
        assert {c["command"] for c in fake_api.commands} >= {"search", "latest", "sources", "help"}
        bot.wait_for_log("first poll done", timeout=30)

        [digest] = wait_for_channel(fake_api, 1)
        assert digest.parse_mode == "HTML"
        assert digest.params["link_preview_options"] == {"is_disabled": True}
        assert "<b>Bản tin " in digest.text
        assert (
            '<a href="https://tuoitre.vn/gia-vang-20261127.htm?a=1&amp;b=2">'
            "Giá vàng SJC &amp; vàng nhẫn &lt;tăng&gt; mạnh</a>"
        ) in digest.text
        assert "Hà Nội mở rộng vùng hạn chế xe máy ra vành đai 2" in digest.text
        assert "<i>Tuổi Trẻ</i>" in digest.text

        fake_api.queue_message("/search ha noi", user_id=4242)
        reply = next(m for m in fake_api.wait_for_sent(2, timeout=20) if m.chat_id == "4242")
        assert "Hà Nội mở rộng vùng hạn chế xe máy" in reply.text
        assert "Tuổi Trẻ" in reply.text
        assert bot.stop() == 0
    finally:
        bot.stop()
    assert TOKEN not in bot.log and TOKEN.split(":")[1] not in bot.log

    # Restart on the same database: the old articles are not posted again, a new one is.
    feed_server.add("/dantri.rss", render_feed([later_item(datetime.now(UTC))], title="Dân trí"))
    sent_before = len(to_channel(fake_api))
    bot = start_bot(tmp_path, fake_api, feed_server, seconds=12)
    try:
        bot.wait_for_log("edition chat=@bantin_test", timeout=40)
        channel = wait_for_channel(fake_api, sent_before + 1)
        assert len(channel) == sent_before + 1
        second = channel[-1].text
        assert "Đà Nẵng khởi công khu thương mại tự do" in second
        assert "Hà Nội mở rộng" not in second and "Giá vàng" not in second
        assert bot.stop() == 0
    finally:
        bot.stop()
    # Every article went to the channel exactly once.
    texts = "".join(m.text for m in to_channel(fake_api))
    for title in ("Hà Nội mở rộng vùng hạn chế", "Giá vàng SJC", "Đà Nẵng khởi công"):
        assert texts.count(html.escape(title, quote=True)) == 1


@pytest.mark.slow
def test_console_mode_prints_an_edition_after_the_first_poll(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    feed_server.add("/tuoitre.rss", render_feed(items(datetime.now(UTC)), title="Tuổi Trẻ"))
    feed_server.add("/dantri.rss", render_feed([later_item(datetime.now(UTC))], title="Dân trí"))
    bot = start_bot(tmp_path, None, feed_server, seconds=3600)
    try:
        bot.wait_for_output("Đà Nẵng khởi công khu thương mại tự do", timeout=30)
    finally:
        assert bot.stop() == 0
    out = bot.output
    assert "→ @bantin_test" in out
    assert "Giá vàng SJC & vàng nhẫn <tăng> mạnh" in out  # plain text, not HTML, in a terminal
    assert "https://tuoitre.vn/gia-vang-20261127.htm?a=1&b=2" in out
    assert "console mode" in bot.log
