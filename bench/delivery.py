"""Delivery under Telegram's flood limits: 50 channels, a 3-part edition each.

    python bench/delivery.py [--channels 50]

The project's fake Bot API server (tests/fakebotapi.py) runs on 127.0.0.1 and enforces
Telegram's limits: 1 message a second to one chat, 20 a minute to one channel, 30 a second
in all; past a limit it answers 429 with retry_after, as Telegram does. Every channel's
edition is planned in a real SQLite outbox and delivered concurrently by the real
EditionRunner and TelegramSender. The baseline, in the same run, sends the same messages
with python-telegram-bot alone and no pacing, retrying each 429 after retry_after.

Prints the achieved send rate as a fraction of the allowed maximum (30 messages a second)
and the number of 429 answers received. Then the same editions again while one user floods
the bot (--flood replies to that user's chat, all asked for at once as the editions start):
the time until the last edition message is accepted, with and without the flood, shows
whether replies hold back editions.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from telegram import Bot, Chat, Message
from telegram.error import NetworkError, RetryAfter
from telegram.request import HTTPXRequest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fakebotapi import FakeBotAPI, FloodLimits

from bot.editions import EditionRunner
from bot.models import Article
from bot.publish import Pacer, TelegramSender
from bot.settings import CurrentSettings, load_settings
from bot.storage import Storage

TOKEN = "123456789:AAFakeTokenForBenchmarksOnly_abcdef"
ALLOWED_PER_SECOND = 30
PARTS = 3


def config(channels: int) -> str:
    tables = "".join(
        f'[[channels]]\nchat = "@kenh_{i:03d}"\nschedule = ["07:00"]\nmax_items = 50\n'
        for i in range(channels)
    )
    return f'[[feeds]]\nid = "vne"\nname = "VnExpress"\nurl = "https://vnexpress.net/rss"\n{tables}'


def articles(count: int) -> list[Article]:
    now = datetime.now(UTC)
    sapo = "Sáng nay, UBND thành phố Hà Nội họp bàn phương án ứng phó mưa lớn và triều cường. "
    return [
        Article("vne", f"k{i}", f"https://vnexpress.net/tin-{i}.html", f"Tin số {i} trong ngày",
                (sapo * 4)[:270], now - timedelta(minutes=i))
        for i in range(count)
    ]  # fmt: skip


def rate(times: list[float]) -> float:
    """Messages a second between the first and the last accepted message."""
    times = sorted(times)
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0


FLOOD_CHAT = 777001


def user_message(bot: Bot, chat_id: int) -> Message:
    """A command message from a private chat, to answer with TelegramSender.reply."""
    message = Message(1, datetime.now(UTC), Chat(chat_id, Chat.PRIVATE))
    message.set_bot(bot)
    return message


async def bantin(
    api: FakeBotAPI, channels: int, folder: Path, flood: int = 0
) -> tuple[list[float], int, float]:
    """Deliver every channel's edition; returns the send times, the 429s, and the seconds
    until the last edition message was accepted (`flood` replies to one user meanwhile)."""
    path = folder / "bot.toml"
    path.write_text(config(channels), encoding="utf-8")
    settings = load_settings(
        {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": api.base_url,
         "BOT_DATABASE": str(folder / "bantin.db")},
        str(path),
    )  # fmt: skip
    storage = await Storage.open(settings.database)
    await storage.sync_feeds([("vne", "https://vnexpress.net/rss")])
    await storage.add_articles(articles(28), datetime.now(UTC))
    request = HTTPXRequest(connection_pool_size=64)
    async with Bot(TOKEN, base_url=api.base_url, request=request) as bot:
        sender = TelegramSender(bot, Pacer())
        runner = EditionRunner(
            CurrentSettings(settings), storage, sender, lambda: datetime.now(UTC)
        )
        editions = [await runner.build(c) for c in settings.channels]
        assert all(len(e.parts) == PARTS for e in editions), [len(e.parts) for e in editions]
        api.reset()
        refusals = api.flood_refusals
        message = user_message(bot, FLOOD_CHAT)
        start = time.monotonic()
        replies = [sender.reply(message, f"Trả lời {i}") for i in range(flood)]
        await asyncio.gather(*(runner.run(c) for c in settings.channels), *replies)
    await storage.close()
    channel_times = [m.sent_at for m in api.sent if m.chat_id != str(FLOOD_CHAT)]
    return channel_times, api.flood_refusals - refusals, max(channel_times) - start


async def unpaced(api: FakeBotAPI, texts: list[tuple[str, str]]) -> tuple[list[float], int]:
    """The baseline: every message at once, each 429 retried after retry_after."""
    api.reset()
    refusals = api.flood_refusals
    request = HTTPXRequest(connection_pool_size=64)
    async with Bot(TOKEN, base_url=api.base_url, request=request) as bot:

        async def send(chat: str, text: str) -> None:
            while True:
                try:
                    await bot.send_message(chat, text, parse_mode="HTML")
                    return
                except RetryAfter as exc:
                    await asyncio.sleep(exc.retry_after.total_seconds())  # type: ignore[union-attr]
                except NetworkError:
                    await asyncio.sleep(0.1)  # the server was swamped: try again

        async def channel(chat: str, parts: list[str]) -> None:
            for text in parts:  # in order within a channel, as an edition must be
                await send(chat, text)

        by_chat: dict[str, list[str]] = {}
        for chat, text in texts:
            by_chat.setdefault(chat, []).append(text)
        await asyncio.gather(*(channel(c, p) for c, p in by_chat.items()))
    return [m.sent_at for m in api.sent], api.flood_refusals - refusals


def report(name: str, times: list[float], refusals: int) -> float:
    achieved = rate(times)
    span = max(times) - min(times)
    print(
        f"{name:<22} {len(times):>5} msgs  {span:6.2f} s  {achieved:6.2f} msg/s  "
        f"{achieved / ALLOWED_PER_SECOND:6.1%} of allowed  {refusals:>4} x 429"
    )
    return achieved / ALLOWED_PER_SECOND


def telegram() -> FakeBotAPI:
    return FakeBotAPI(TOKEN, flood_limits=FloodLimits())


def main() -> int:
    import os

    os.environ.setdefault("PTB_TIMEDELTA", "1")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=50)
    parser.add_argument("--flood", type=int, default=25, help="replies one user asks for")
    args = parser.parse_args()
    # A fake Telegram of its own for each run: the fake, like Telegram, remembers what the
    # run before sent (the unpaced baseline floods on purpose), which one bot never meets.
    with tempfile.TemporaryDirectory() as tmp:
        print(
            f"{args.channels} channels x {PARTS} parts; limits: 1/s per chat, 20/min per "
            f"channel, {ALLOWED_PER_SECOND}/s overall (enforced by the fake with 429s)"
        )
        start = time.monotonic()
        for run in ("alone", "flooded"):
            (Path(tmp) / run).mkdir()
        with telegram() as api:
            times, refusals, alone = asyncio.run(bantin(api, args.channels, Path(tmp) / "alone"))
            texts = [(m.chat_id, m.text) for m in api.sent]
        print(f"(Bản tin run took {time.monotonic() - start:.1f} s including set-up)")
        fraction = report("Bản tin (paced)", times, refusals)
        with telegram() as api:
            base_times, base_refusals = asyncio.run(unpaced(api, texts))
        report("baseline (unpaced)", base_times, base_refusals)
        with telegram() as api:
            _, flood_refusals, flooded = asyncio.run(
                bantin(api, args.channels, Path(tmp) / "flooded", args.flood)
            )
    met = fraction >= 0.9 and refusals == 0
    print(f"goal >= 90% of the allowed rate with zero 429s: {'yes' if met else 'NO'}")
    print(
        f"editions ({len(times)} msgs) delivered in {alone:.1f} s alone, {flooded:.1f} s while "
        f"one user asks for {args.flood} replies ({flood_refusals} x 429)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
