"""Delivery you can trust, against the fake Bot API: faults, pacing, one instance."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botprocess import BotProcess
from conftest import settings_for, write_config
from fakebotapi import FakeBotAPI, FloodLimits
from telegram import Bot

from bot.alerts import AlertRunner
from bot.app import instance_lock
from bot.editions import EditionRunner
from bot.errors import AlreadyRunning
from bot.handlers import status_reply
from bot.models import Article
from bot.publish import Limits, Pacer, TelegramSender
from bot.settings import CurrentSettings, Settings
from bot.storage import Storage

TOKEN = "123456789:AAFakeTokenForTestsOnly_abcdefghij"
NOW = datetime.now(UTC)
FAST = Limits(per_chat_per_second=1000, per_group_per_minute=100000, overall_per_second=1000)
CONFIG = """
[bot]
admins = [9001]

[[feeds]]
id = "vne"
name = "VnExpress"
url = "https://vnexpress.net/rss"

[[channels]]
chat = "{chat}"
schedule = ["07:00"]
max_items = 50
"""


@pytest.fixture
def fake() -> Iterator[FakeBotAPI]:
    with FakeBotAPI(token=TOKEN) as api:
        yield api


def make_settings(tmp_path: Path, fake: FakeBotAPI, chat: str = "@kenh") -> Settings:
    return settings_for(
        tmp_path,
        CONFIG.format(chat=chat),
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE_URL=fake.base_url,
    )


async def fill(storage: Storage, count: int, summary_chars: int = 250) -> None:
    await storage.sync_feeds([("vne", "https://vnexpress.net/rss")])
    summary = ("Tin tức thời sự trong ngày về kinh tế, xã hội và thời tiết. " * 10)[:summary_chars]
    articles = [
        Article("vne", f"k{i}", f"https://vnexpress.net/{i}.html", f"Tin số {i}", summary,
                NOW - timedelta(minutes=i))
        for i in range(count)
    ]  # fmt: skip
    await storage.add_articles(articles, NOW)


@pytest.fixture
async def sender(fake: FakeBotAPI) -> AsyncIterator[tuple[TelegramSender, list[float]]]:
    waits: list[float] = []

    async def record_sleep(seconds: float) -> None:
        waits.append(seconds)

    async with Bot(TOKEN, base_url=fake.base_url) as bot:
        yield TelegramSender(bot, Pacer(FAST), sleep=record_sleep), waits


def runner(settings: Settings, storage: Storage, sender: TelegramSender) -> EditionRunner:
    return EditionRunner(CurrentSettings(settings), storage, sender, lambda: datetime.now(UTC))


async def test_429_is_waited_out_and_nothing_is_dropped(
    tmp_path: Path, fake: FakeBotAPI, storage: Storage, sender: tuple[TelegramSender, list[float]]
) -> None:
    settings = make_settings(tmp_path, fake)
    await fill(storage, 30)  # several parts
    fake.fail_next("sendMessage", status=429, retry_after=3, times=3)
    edition = await runner(settings, storage, sender[0]).run(settings.channels[0])
    assert sender[1] == [3.0, 3.0, 3.0]
    assert len(fake.sent) == len(edition.parts) >= 2
    assert [m.text for m in fake.sent] == [p.text for p in edition.parts]  # in order
    assert await storage.pending_parts("@kenh") == []


async def test_server_errors_and_timeouts_are_retried(
    tmp_path: Path, fake: FakeBotAPI, storage: Storage, fake_timeout_bot: Bot
) -> None:
    settings = make_settings(tmp_path, fake)
    await fill(storage, 3)
    fake.fail_next("sendMessage", status=500, times=2)
    fake.delay_next("sendMessage", 1.5)  # longer than the bot's read timeout
    waits: list[float] = []

    async def record_sleep(seconds: float) -> None:
        waits.append(seconds)

    telegram = TelegramSender(fake_timeout_bot, Pacer(FAST), sleep=record_sleep)
    await runner(settings, storage, telegram).run(settings.channels[0])
    assert waits == [1.0, 2.0, 4.0]  # two 500s, one timeout, with backoff
    assert await storage.pending_parts("@kenh") == []
    # The timed-out call may still have been delivered: that is the documented window.
    assert 1 <= len(fake.sent) <= 2


@pytest.fixture
async def fake_timeout_bot(fake: FakeBotAPI) -> AsyncIterator[Bot]:
    from telegram.request import HTTPXRequest

    request = HTTPXRequest(read_timeout=0.5, connect_timeout=2)
    async with Bot(TOKEN, base_url=fake.base_url, request=request) as bot:
        yield bot


async def test_forbidden_marks_the_channel_inactive_keeps_parts_and_tells_admins(
    tmp_path: Path, fake: FakeBotAPI, storage: Storage, sender: tuple[TelegramSender, list[float]]
) -> None:
    settings = make_settings(tmp_path, fake)
    await fill(storage, 30)
    editions = runner(settings, storage, sender[0])
    fake.fail_next("sendMessage", status=403)
    await editions.run(settings.channels[0])
    state = await storage.channel_state("@kenh")
    assert not state.active and "kicked" in (state.inactive_reason or "")
    assert state.pending_parts >= 2  # nothing lost
    [notice] = [m for m in fake.sent if m.chat_id == "9001"]
    assert "@kenh" in notice.text and "quản trị viên" in notice.text
    status = await status_reply(storage, settings, NOW)
    assert "⛔ ngừng đăng" in status and f"chờ gửi {state.pending_parts} phần" in status
    # Still refused at the next edition: no new edition is planned, admins are not spammed.
    fake.fail_next("sendMessage", status=403)
    await editions.run(settings.channels[0])
    assert len([m for m in fake.sent if m.chat_id == "9001"]) == 1
    assert (await storage.channel_state("@kenh")).pending_parts == state.pending_parts
    # The admin fixes the channel: the kept parts go out, in order, and it is active again.
    await editions.run(settings.channels[0])
    assert (await storage.channel_state("@kenh")).active
    assert len([m for m in fake.sent if m.chat_id == "@kenh"]) == state.pending_parts


async def test_a_migrated_group_is_followed_and_remembered(
    tmp_path: Path, fake: FakeBotAPI, storage: Storage, sender: tuple[TelegramSender, list[float]]
) -> None:
    settings = make_settings(tmp_path, fake, chat="-4001234")
    await fill(storage, 2)
    fake.fail_next("sendMessage", status=400, migrate_to_chat_id=-1009876543210)
    await runner(settings, storage, sender[0]).run(settings.channels[0])
    assert [m.chat_id for m in fake.sent] == ["-1009876543210"]
    assert (await storage.channel_state("-4001234")).current_chat == "-1009876543210"
    await fill(storage, 4)  # later news goes straight to the new id
    await runner(settings, storage, sender[0]).run(settings.channels[0])
    assert [m.chat_id for m in fake.sent] == ["-1009876543210"] * 2


async def test_unparsable_text_goes_as_plain_text_and_never_blocks(
    tmp_path: Path, fake: FakeBotAPI, storage: Storage, sender: tuple[TelegramSender, list[float]]
) -> None:
    settings = make_settings(tmp_path, fake)
    await fill(storage, 30)
    fake.fail_next("sendMessage", status=400, description="Bad Request: can't parse entities")
    edition = await runner(settings, storage, sender[0]).run(settings.channels[0])
    assert await storage.pending_parts("@kenh") == []
    plain = [m for m in fake.sent if m.parse_mode is None]
    html = [m for m in fake.sent if m.parse_mode == "HTML"]
    assert fake.sent[: len(plain)] == plain  # the rejected part first, in plain pieces
    text = "\n".join(m.text for m in plain)
    assert "<b>" not in text
    assert "Tin số 0" in text and "https://vnexpress.net/0.html" in text
    assert [m.text for m in html] == [p.text for p in edition.parts[1:]]


async def test_pacing_spaces_messages_to_one_chat_and_replies_go_first(fake: FakeBotAPI) -> None:
    pacer = Pacer()
    start = time.monotonic()
    for _ in range(3):
        await pacer.wait("@kenh")
    assert time.monotonic() - start >= 1.9  # 1 a second to one chat
    # A digest queue for another chat and one reply: the reply does not wait behind it.
    digest = asyncio.gather(*(pacer.wait("@khac") for _ in range(3)))
    await asyncio.sleep(0.05)
    before = time.monotonic()
    await pacer.wait("4242", interactive=True)
    assert time.monotonic() - before < 0.5
    await digest


def test_a_second_instance_on_the_same_database_is_refused(tmp_path: Path) -> None:
    database = tmp_path / "bantin.db"
    with (
        instance_lock(database),
        pytest.raises(AlreadyRunning, match=r"in use by Bản tin \(pid \d+"),
        instance_lock(database),
    ):
        pass
    with instance_lock(database):  # released on exit
        pass


@pytest.mark.slow
def test_second_process_refuses_with_a_clear_message(tmp_path: Path, fake: FakeBotAPI) -> None:
    path = write_config(tmp_path, CONFIG.format(chat="@kenh"))
    env = {"BOT_DATABASE": str(tmp_path / "db.sqlite"), "TELEGRAM_BOT_TOKEN": TOKEN,
           "TELEGRAM_API_BASE_URL": fake.base_url}  # fmt: skip
    first = BotProcess(["run", "--config", str(path)], env, tmp_path)
    try:
        first.wait_for_log("running feeds=")
        second = BotProcess(["run", "--config", str(path)], env, tmp_path)
        assert second.proc.wait(30) == 1
        assert f"in use by Bản tin (pid {first.proc.pid}" in second.log
        assert "Traceback" not in second.log
    finally:
        assert first.stop() == 0


@pytest.mark.slow
def test_telegram_conflict_is_reported_once_and_stops(tmp_path: Path, fake: FakeBotAPI) -> None:
    path = write_config(tmp_path, CONFIG.format(chat="@kenh"))
    env = {"BOT_DATABASE": str(tmp_path / "db.sqlite"), "TELEGRAM_BOT_TOKEN": TOKEN,
           "TELEGRAM_API_BASE_URL": fake.base_url}  # fmt: skip
    bot = BotProcess(["run", "--config", str(path)], env, tmp_path)
    try:
        bot.wait_for_log("running feeds=")
        fake.fail_next(
            "getUpdates",
            status=409,
            description="Conflict: terminated by other "
            "getUpdates request; make sure that only one bot instance is running",
        )
        assert bot.proc.wait(30) == 1
    finally:
        bot.stop()
    assert bot.log.count("another process is polling Telegram with this bot token") == 1


async def test_paced_editions_never_meet_a_flood_limit(tmp_path: Path, storage: Storage) -> None:
    with FakeBotAPI(token=TOKEN, flood_limits=FloodLimits(overall_per_second=10)) as api:
        tables = "".join(
            f'[[channels]]\nchat = "@kenh_{i}"\nschedule = ["07:00"]\nmax_items = 50\n'
            for i in range(8)
        )
        config = '[[feeds]]\nid = "vne"\nname = "VnExpress"\nurl = "https://vnexpress.net/rss"\n'
        settings = settings_for(
            tmp_path, config + tables, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=api.base_url
        )
        await fill(storage, 18)  # two parts per channel
        async with Bot(TOKEN, base_url=api.base_url) as bot:
            limits = Limits(overall_per_second=9)
            editions = runner(settings, storage, TelegramSender(bot, Pacer(limits)))
            await asyncio.gather(*(editions.run(c) for c in settings.channels))
        assert api.flood_refusals == 0
        assert len(api.sent) == 16
        times = sorted(m.sent_at for m in api.sent)
        assert times[-1] - times[0] >= 1.5  # 16 messages at under 10 a second


async def test_a_slow_answer_does_not_bring_the_next_part_too_soon(
    tmp_path: Path, storage: Storage
) -> None:
    # Telegram counts a message when it arrives: after a part whose request was slow on
    # the way, the next one must still arrive a second later, not a second after the
    # slow one was let through.
    with FakeBotAPI(token=TOKEN, flood_limits=FloodLimits()) as api:
        settings = make_settings(tmp_path, api)
        await fill(storage, 30)  # three parts
        api.delay_next("sendMessage", 0.3)  # the first part's request is slow
        async with Bot(TOKEN, base_url=api.base_url) as bot:
            edition = await runner(settings, storage, TelegramSender(bot)).run(settings.channels[0])
        assert api.flood_refusals == 0
        assert [m.text for m in api.sent] == [p.text for p in edition.parts]
        assert len(edition.parts) == 3


async def test_edition_parts_go_ahead_of_readers_alerts_due_with_them(
    tmp_path: Path, storage: Storage
) -> None:
    # Telegram's limits with the overall rate scaled down to 10 a second, so that 30
    # alerts (one per reader) still wait when the edition's last part may go.
    with FakeBotAPI(token=TOKEN, flood_limits=FloodLimits(overall_per_second=10)) as api:
        settings = make_settings(tmp_path, api)
        channel = settings.channels[0]
        await fill(storage, 30)  # three parts
        readers = [str(chat) for chat in range(5001, 5031)]
        for chat in readers:
            await storage.set_reader(chat, NOW, quiet="")  # no quiet hours: due at once
            await storage.follow(chat, "bão", NOW)
        async with Bot(TOKEN, base_url=api.base_url) as bot:
            sender = TelegramSender(bot, Pacer(Limits(overall_per_second=9)))
            current, clock = CurrentSettings(settings), lambda: datetime.now(UTC)
            editions = EditionRunner(current, storage, sender, clock)
            alerts = AlertRunner(current, storage, sender, clock)
            await alerts.load()
            edition = await editions.build(channel)
            await storage.plan_edition(edition)
            storm = Article("vne", "bao", "https://vnexpress.net/bao.html",
                            "Bão số 3 mạnh lên", "Bão vào Biển Đông.", NOW)  # fmt: skip
            await storage.add_articles([storm], NOW)
            await alerts.match_new()
            assert await alerts.plan_due() == len(readers)  # due now, like the edition
            await asyncio.gather(editions.flush(channel), alerts.deliver_all())
        assert api.flood_refusals == 0
        order = [m.chat_id for m in sorted(api.sent, key=lambda m: m.sent_at)]
        assert sorted(order) == sorted(["@kenh"] * len(edition.parts) + readers)
        parts = [i for i, chat in enumerate(order) if chat == "@kenh"]
        assert len(parts) == 3
        assert parts[0] == 0  # the first part before any alert
        # Later parts wait for the channel's 1-a-second rule only, not behind the alerts:
        # the edition is complete while alerts due with it are still going out.
        assert parts[-1] < len(order) - 1
        assert [m.text for m in api.sent if m.chat_id == "@kenh"] == [p.text for p in edition.parts]
