"""Users and feeds that misbehave, on purpose or not: floods of commands, forged buttons,
input that is not what a command expects, and feed text that could break a reply's markup.

The flood test runs `python -m bot run` as a child process against the fake Bot API, which
enforces Telegram's flood limits; the others call the handlers and formatters directly.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from botprocess import BotProcess
from conftest import write_config
from fakebotapi import FakeBotAPI, FloodLimits, SentMessage
from feedserver import FeedItem, FeedServer, render_feed

from bot.publish import Pacer

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
