"""Crash test: SIGKILL the real app at random moments; every planned part arrives once.

The app runs as a child process posting editions of several parts to several channels,
and readers' alerts to their private chats, through the fake Bot API, and is killed and
restarted again and again. At the end every
part planned in the outbox has reached its chat, none more than once, except where the
kill fell in the one window that cannot be closed (Telegram accepted the message, the
process died before recording it): such a repeat must follow its first copy closely.

BANTIN_CRASH_RUNS sets the number of kills (default 20); BANTIN_CRASH_SEED the seed.
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from botprocess import BotProcess
from conftest import write_config
from fakebotapi import FakeBotAPI
from feedserver import FeedItem, FeedServer, render_feed

from bot.models import ALERT_PREFIX, alert_target
from bot.storage import Storage

TOKEN = "123456789:AAFakeTokenForTestsOnly_abcdefghij"
CHANNELS = ["@kenh_a", "@kenh_b", "-1001234567890"]
# Each run adds three readers following a topic every run's news matches: the news is one
# story, told once to each reader, so new readers are what brings new alerts each run.
READERS_A_RUN = 3
HCM = ZoneInfo("Asia/Ho_Chi_Minh")
# How soon after the process starts a kill may have hit the "accepted, not yet recorded"
# window: the first copy must have been accepted at most this long before the kill.
WINDOW = 0.5


@pytest.fixture
def fake() -> Iterator[FakeBotAPI]:
    with FakeBotAPI(token=TOKEN) as api:
        yield api


def config(server: FeedServer, seconds_from_now: float) -> str:
    at = (datetime.now(HCM) + timedelta(seconds=seconds_from_now)).strftime("%H:%M:%S")
    channels = "".join(
        f'[[channels]]\nchat = "{chat}"\nschedule = ["{at}"]\nmax_items = 50\n' for chat in CHANNELS
    )
    return (
        f'[[feeds]]\nid = "vne"\nname = "VnExpress"\nurl = "{server.url("/vne.rss")}"\n'
        f"allow_private = true\nfetch_pages = false\n{channels}"
    )


def news(run: int, count: int) -> list[FeedItem]:
    now = datetime.now(UTC)
    sapo = "Chiều nay, lãnh đạo thành phố họp bàn các giải pháp ứng phó mưa lớn và triều cường. "
    return [
        {
            "title": f"Lượt {run}: tin thứ {i} về thời tiết và giao thông Hà Nội",
            "link": f"https://vnexpress.net/luot-{run}-tin-{i}.html",
            "description": sapo * 3,
            "pub_date": now - timedelta(seconds=i),
        }
        for i in range(count)
    ]


async def add_readers(database: Path, run: int) -> None:
    storage = await Storage.open(database)
    now = datetime.now(UTC)
    for chat in readers(run):
        await storage.set_reader(chat, now, quiet="")  # no quiet hours: alerts go at once
        await storage.follow(chat, "Hà Nội", now)
    await storage.close()


def readers(run: int) -> list[str]:
    return [str(7000 + run * READERS_A_RUN + i) for i in range(READERS_A_RUN)]


def pending_parts(database: Path) -> int:
    with sqlite3.connect(database) as db:
        return int(
            db.execute("SELECT count(*) FROM edition_parts WHERE sent_at IS NULL").fetchone()[0]
        )


@pytest.mark.slow
def test_sigkill_at_random_moments_delivers_every_part_once(
    tmp_path: Path, fake: FakeBotAPI, feed_server: FeedServer
) -> None:
    runs = int(os.environ.get("BANTIN_CRASH_RUNS", "20"))
    seed = int(os.environ.get("BANTIN_CRASH_SEED", str(random.randrange(1 << 30))))
    rng = random.Random(seed)
    database = tmp_path / "bantin.db"
    env = {"BOT_DATABASE": str(database), "TELEGRAM_BOT_TOKEN": TOKEN,
           "TELEGRAM_API_BASE_URL": fake.base_url, "LOG_LEVEL": "WARNING"}  # fmt: skip
    kills: list[float] = []
    items: list[FeedItem] = []
    for run in range(runs):
        asyncio.run(add_readers(database, run))
        items = news(run, 12) + items[:24]  # fresh news each run, some old items stay listed
        feed_server.add("/vne.rss", render_feed(items))
        path = write_config(tmp_path, config(feed_server, 2.5))
        bot = BotProcess(["run", "--config", str(path)], env, tmp_path)
        time.sleep(rng.uniform(1.0, 5.0))
        kills.append(time.monotonic())
        bot.proc.kill()
        bot.proc.wait(10)
        assert "Traceback" not in bot.log, f"seed {seed}, run {run}:\n{bot.log}"

    # A last, undisturbed run sends whatever is left.
    path = write_config(tmp_path, config(feed_server, 3600))
    bot = BotProcess(["run", "--config", str(path)], env | {"LOG_LEVEL": "INFO"}, tmp_path)
    try:
        bot.wait_for_log("first poll done", timeout=60)
        deadline = time.monotonic() + 60
        while pending_parts(database) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        assert bot.stop() == 0

    with sqlite3.connect(database) as db:
        planned = db.execute(
            """SELECT e.destination, p.text, p.sent_at FROM edition_parts p
               JOIN editions e ON e.id = p.edition_id"""
        ).fetchall()
    # An alert's outbox destination names the reader's chat, where Telegram shows it.
    planned = [
        (alert_target(d)[0] if d.startswith(ALERT_PREFIX) else d, t, s) for d, t, s in planned
    ]
    assert len(planned) >= 2 * len(CHANNELS), f"seed {seed}: too few parts were planned"
    everyone = {chat for run in range(runs) for chat in readers(run)}
    alerted = {d for d, _, _ in planned if d in everyone}
    assert alerted == everyone, f"seed {seed}: readers without an alert: {everyone - alerted}"
    assert all(sent_at for _, _, sent_at in planned), f"seed {seed}: parts left unsent"
    received = Counter((m.chat_id, m.text) for m in fake.sent)
    expected = {(destination, text) for destination, text, _ in planned}
    missing = expected - set(received)
    assert not missing, f"seed {seed}: {len(missing)} parts never arrived"
    assert set(received) <= expected, f"seed {seed}: messages nobody planned"
    for key, copies in received.items():
        if copies == 1:
            continue
        first = min(m.sent_at for m in fake.sent if (m.chat_id, m.text) == key)
        explained = any(0 <= kill - first <= WINDOW for kill in kills)
        assert copies == 2 and explained, f"seed {seed}: {key[0]} got a part {copies} times"
    repeats = sum(n - 1 for n in received.values())
    alerts = sum(1 for d, _, _ in planned if d in everyone)
    print(
        f"crash test: seed {seed}, {runs} kills, {len(planned)} parts ({alerts} alerts), "
        f"{repeats} repeats"
    )
