"""Readers' alerts under Telegram's flood limits, and whether they hold editions back.

    .venv/bin/python bench/alert_delivery.py [--readers 1000] [--alerts 100]

The fake Bot API (tests/fakebotapi.py) on 127.0.0.1 enforces Telegram's limits (1 message
a second to a chat, 20 a minute to a group, 30 a second in all) with 429s, as
bench/delivery.py uses it. Everything else is the bot's own: SQLite storage, the
AlertRunner matching a stored article against every reader's topic, the outbox, and one
TelegramSender with its Pacer.

1. Pacing: --readers readers follow "bão"; one article about a storm is stored; the time
   until every reader's alert is accepted, the rate, the 429s, and the extrapolation to
   10,000 readers (the same rate, which the overall limit caps: at least 5.6 min).
2. Editions first: a 3-part edition of a channel and --alerts alerts become due at the
   same moment, delivered by the same sender; when the edition's last part is accepted,
   alone and with the alerts, and where its parts fall among the messages sent.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from telegram import Bot
from telegram.request import HTTPXRequest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fakebotapi import FakeBotAPI, FloodLimits

from bot.alerts import AlertRunner
from bot.editions import EditionRunner
from bot.models import Article
from bot.publish import Pacer, TelegramSender
from bot.settings import CurrentSettings, Settings, load_settings
from bot.storage import Storage

TOKEN = "123456789:AAFakeTokenForBenchmarksOnly_abcdef"
CHANNEL = "@kenh_tin"
CONFIG = f"""
[[feeds]]
id = "vne"
name = "VnExpress"
url = "https://vnexpress.net/rss"

[[channels]]
chat = "{CHANNEL}"
schedule = ["07:00"]
max_items = 30
"""
SAPO = "Sáng nay, UBND thành phố Hà Nội họp bàn phương án ứng phó mưa lớn và triều cường. "


def news(count: int, start: int = 0) -> list[Article]:
    now = datetime.now(UTC)
    return [
        Article(
            "vne",
            f"k{i}",
            f"https://vnexpress.net/tin-{i}.html",
            f"Bão số {i} mạnh lên, tin số {i} trong ngày",
            (SAPO * 4)[:270],
            now - timedelta(minutes=i),
        )
        for i in range(start, start + count)
    ]


def configure(api: FakeBotAPI, folder: Path) -> Settings:
    folder.mkdir()
    (folder / "bot.toml").write_text(CONFIG, encoding="utf-8")
    env = {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": api.base_url,
        "BOT_DATABASE": str(folder / "bantin.db"),
    }
    return load_settings(env, str(folder / "bot.toml"))


async def setup(settings: Settings, readers: int) -> Storage:
    storage = await Storage.open(settings.database)
    await storage.sync_feeds([("vne", "https://vnexpress.net/rss")])
    now = datetime.now(UTC)
    for chat in range(100_000, 100_000 + readers):
        await storage.set_reader(str(chat), now, quiet="")  # no quiet hours: due at once
        await storage.follow(str(chat), "bão", now)
    return storage


async def pacing(api: FakeBotAPI, settings: Settings, readers: int) -> tuple[float, int, int]:
    """(seconds until every alert was accepted, alerts accepted, 429s)."""
    storage = await setup(settings, readers)
    request = HTTPXRequest(connection_pool_size=64)
    async with Bot(TOKEN, base_url=api.base_url, request=request) as bot:
        sender = TelegramSender(bot, Pacer())
        runner = AlertRunner(CurrentSettings(settings), storage, sender, lambda: datetime.now(UTC))
        await runner.load()
        await storage.add_articles(news(1), datetime.now(UTC))
        api.reset()
        refusals = api.flood_refusals
        start = time.monotonic()
        await runner.run_once()
        seconds = time.monotonic() - start
    await storage.close()
    return seconds, len(api.sent), api.flood_refusals - refusals


async def together(
    api: FakeBotAPI, settings: Settings, alerts: int
) -> tuple[float, list[int], int, int]:
    """An edition and `alerts` readers' alerts due at once: (seconds to the edition's last
    part, the positions of its parts among the messages accepted, how many messages, 429s);
    alerts=0 for the edition alone."""
    storage = await setup(settings, alerts)
    request = HTTPXRequest(connection_pool_size=64)
    async with Bot(TOKEN, base_url=api.base_url, request=request) as bot:
        sender = TelegramSender(bot, Pacer())
        current = CurrentSettings(settings)
        clock = lambda: datetime.now(UTC)  # noqa: E731
        editions = EditionRunner(current, storage, sender, clock)
        runner = AlertRunner(current, storage, sender, clock)
        await runner.load()
        await storage.add_articles(news(28), datetime.now(UTC))
        await runner.match_new()
        await runner.plan_due()  # every alert is in the outbox, due now
        api.reset()
        refusals = api.flood_refusals
        start = time.monotonic()
        await asyncio.gather(editions.run(settings.channels[0]), runner.deliver_all())
    await storage.close()
    order = [m.chat_id for m in sorted(api.sent, key=lambda m: m.sent_at)]
    positions = [i for i, chat in enumerate(order) if chat == CHANNEL]
    last = max(m.sent_at for m in api.sent if m.chat_id == CHANNEL)
    return last - start, positions, len(order), api.flood_refusals - refusals


def telegram() -> FakeBotAPI:
    """A Telegram of its own for each run.

    Each run is a bot of its own, with its own Pacer, while Telegram (and the fake, across
    reset()) remembers the messages of the run before: with one fake for all, the mixed
    run's first part came 0.7 s after the last part the alone run sent to the same channel
    and met the 1-a-second rule for a chat, a 429 that one running bot never meets."""
    return FakeBotAPI(TOKEN, flood_limits=FloodLimits())


def main() -> None:
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=1000)
    parser.add_argument("--alerts", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        with telegram() as api:
            seconds, sent, refusals = asyncio.run(
                pacing(api, configure(api, Path(tmp) / "pacing"), args.readers)
            )
        rate = sent / seconds
        print(
            f"pacing: {sent} of {args.readers} readers' alerts accepted in {seconds:.1f} s "
            f"({rate:.1f} msg/s, {refusals} x 429)"
        )
        print(
            f"        10,000 readers at that rate: {10_000 / rate / 60:.1f} min "
            f"(extrapolated; Telegram's 30/s makes it at least {10_000 / 30 / 60:.1f} min)"
        )
        with telegram() as api:
            alone, _, _, _ = asyncio.run(together(api, configure(api, Path(tmp) / "alone"), 0))
        with telegram() as api:
            mixed, positions, total, refusals = asyncio.run(
                together(api, configure(api, Path(tmp) / "mixed"), args.alerts)
            )
        print(
            f"editions first: the edition's last part accepted after {alone:.2f} s alone, "
            f"{mixed:.2f} s with {args.alerts} readers' alerts due at once; its parts were "
            f"messages {', '.join(str(p + 1) for p in positions)} of {total} "
            f"({refusals} x 429)"
        )


if __name__ == "__main__":
    main()
