"""Breaking news: a story that several outlets carry within a short time, posted at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiosqlite
import pytest
from conftest import schema_version, settings_for
from feedserver import FeedServer, render_feed
from test_editions import Clock, RecordingSender

from bot.app import BotParts
from bot.editions import EditionRunner
from bot.fetch import make_http_client
from bot.models import Article
from bot.settings import CurrentSettings, Settings
from bot.storage import Storage
from bot.storage.migrations import SCHEMA_VERSION, migrate

T0 = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)  # 10:00 in Hà Nội
FEEDS = {"vne": "VnExpress", "tt": "Tuổi Trẻ", "tn": "Thanh Niên", "dt": "Dân Trí"}
CONFIG = (
    "".join(
        f'[[feeds]]\nid = "{feed}"\nname = "{name}"\nurl = "https://{feed}.example/rss"\n'
        "allow_private = true\n\n"
        for feed, name in FEEDS.items()
    )
    + """
[[channels]]
chat = "@sang"
schedule = ["07:00"]
breaking = {outlets = 3, within = "90m"}
"""
)
# One event told by four outlets, and two other events told by three.
FLOOD = [
    ("vne", "Lũ quét ở Lào Cai, 12 người mất tích",
     "Rạng sáng 27/11, lũ quét tràn qua bản Làng Nủ, huyện Bảo Yên, Lào Cai; 12 người mất tích, "
     "37 ngôi nhà bị cuốn trôi."),
    ("tt", "Lào Cai: lũ quét cuốn trôi 37 nhà ở Làng Nủ, 12 người mất tích",
     "Lũ quét bất ngờ tràn qua bản Làng Nủ (Bảo Yên, Lào Cai) rạng sáng nay khiến 12 người "
     "mất tích, 37 ngôi nhà bị cuốn trôi."),
    ("tn", "Lũ quét Làng Nủ: 12 người mất tích, 37 nhà bị cuốn trôi",
     "Trận lũ quét ở bản Làng Nủ, Bảo Yên, Lào Cai rạng sáng 27/11 làm 12 người mất tích."),
    ("dt", "Lào Cai tìm kiếm 12 người mất tích sau lũ quét ở Làng Nủ",
     "Hàng trăm người đang tìm kiếm 12 người mất tích sau trận lũ quét ở bản Làng Nủ, Lào Cai."),
]  # fmt: skip
BRIDGE = [
    ("vne", "Thông xe cầu Rạch Miễu 2 nối Tiền Giang và Bến Tre",
     "Cầu Rạch Miễu 2 dài 17 km, vốn 6.800 tỷ đồng, thông xe sáng 27/11."),
    ("tt", "Cầu Rạch Miễu 2 thông xe sau 4 năm thi công",
     "Sáng 27/11, cầu Rạch Miễu 2 nối Tiền Giang với Bến Tre chính thức thông xe."),
    ("tn", "Thông xe cầu Rạch Miễu 2 vốn 6.800 tỷ đồng",
     "Cầu Rạch Miễu 2 nối Tiền Giang và Bến Tre thông xe sáng nay, rút ngắn đường về miền Tây."),
]  # fmt: skip
GOLD = [
    ("vne", "Giá vàng SJC vượt 90 triệu đồng mỗi lượng",
     "Sáng 27/11, vàng miếng SJC lên 90,2 triệu đồng mỗi lượng, cao nhất lịch sử."),
    ("tt", "Vàng miếng SJC lập đỉnh 90,2 triệu đồng",
     "Giá vàng miếng SJC sáng nay vượt 90 triệu đồng mỗi lượng, mức cao nhất từ trước đến nay."),
    ("dt", "Giá vàng SJC lên 90,2 triệu đồng mỗi lượng",
     "Vàng miếng SJC tăng lên 90,2 triệu đồng mỗi lượng sáng 27/11, cao nhất lịch sử."),
]  # fmt: skip


def article(key: str, feed: str, title: str, summary: str, published: datetime) -> Article:
    return Article(feed, key, f"https://{feed}.example/{key}", title, summary, published)


async def store(
    storage: Storage, event: list[tuple[str, str, str]], name: str, at: datetime, step: int = 20
) -> None:
    """The event's reports, one outlet every `step` minutes from `at`, each stored as seen."""
    for n, (feed, title, summary) in enumerate(event):
        when = at + timedelta(minutes=step * n)
        await storage.add_articles([article(f"{name}{n}", feed, title, summary, when)], when)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return settings_for(tmp_path, CONFIG, TELEGRAM_BOT_TOKEN="123456:ABCDEFGHIJKLMNOPQRSTUV")


@pytest.fixture
async def runner(
    settings: Settings, storage: Storage
) -> tuple[EditionRunner, RecordingSender, Clock]:
    await storage.sync_feeds((f.id, f.url) for f in settings.feeds)
    sender, clock = RecordingSender(), Clock(T0)
    return EditionRunner(CurrentSettings(settings), storage, sender, clock), sender, clock


def config_with(breaking: str) -> str:
    return CONFIG.replace('breaking = {outlets = 3, within = "90m"}', f"breaking = {breaking}")


async def test_three_outlets_within_the_window_post_one_message(
    runner: tuple[EditionRunner, RecordingSender, Clock], storage: Storage, settings: Settings
) -> None:
    editions, sender, clock = runner
    channel = settings.channels[0]
    await store(storage, FLOOD[:2], "flood", T0)
    clock.now = T0 + timedelta(minutes=25)
    assert await editions.breaking(channel) is None  # two outlets are not enough
    await store(storage, FLOOD[2:3], "flood3", T0 + timedelta(minutes=40))
    clock.now = T0 + timedelta(minutes=45)
    assert await editions.breaking(channel) is not None
    assert len(sender.sent) == 1
    chat, text = sender.sent[0]
    assert chat == "@sang"
    assert text.startswith("<b>🔴 Tin nóng</b>\n\n")
    assert "Lũ quét" in text and "+2 nguồn:" in text
    for name in ("VnExpress", "Tuổi Trẻ", "Thanh Niên"):
        assert name in text
    # Nothing more: not on the next check, not when a fourth outlet joins, not after a restart.
    clock.now += timedelta(minutes=5)
    assert await editions.breaking(channel) is None
    await store(storage, FLOOD[3:], "flood4", clock.now)
    restarted = EditionRunner(CurrentSettings(settings), storage, sender, clock)
    assert await restarted.breaking(channel) is None
    assert len(sender.sent) == 1


async def test_outlets_too_far_apart_are_not_breaking(
    runner: tuple[EditionRunner, RecordingSender, Clock], storage: Storage, settings: Settings
) -> None:
    editions, sender, clock = runner
    await store(storage, FLOOD[:3], "flood", T0, step=50)  # 100 minutes from first to third
    clock.now = T0 + timedelta(minutes=101)
    assert await editions.breaking(settings.channels[0]) is None
    assert sender.sent == []


async def test_old_news_first_seen_now_is_not_breaking(
    runner: tuple[EditionRunner, RecordingSender, Clock], storage: Storage, settings: Settings
) -> None:
    # A first poll (or a feed back after an outage) stores hours-old reports all at once.
    editions, sender, clock = runner
    for n, (feed, title, summary) in enumerate(FLOOD[:3]):
        old = article(f"old{n}", feed, title, summary, T0 - timedelta(hours=5, minutes=-n))
        await storage.add_articles([old], T0)
    clock.now = T0 + timedelta(minutes=1)
    assert await editions.breaking(settings.channels[0]) is None
    assert sender.sent == []


async def test_channels_without_breaking_get_none(tmp_path: Path, storage: Storage) -> None:
    settings = settings_for(tmp_path, config_with("{outlets = 3, within = \"90m\"}").replace(
        'breaking = {outlets = 3, within = "90m"}\n', ""))  # fmt: skip
    await storage.sync_feeds((f.id, f.url) for f in settings.feeds)
    sender = RecordingSender()
    editions = EditionRunner(
        CurrentSettings(settings), storage, sender, Clock(T0 + timedelta(minutes=45))
    )
    await store(storage, FLOOD[:3], "flood", T0)
    assert await editions.breaking(settings.channels[0]) is None
    assert sender.sent == []


async def test_min_gap_and_max_per_day(tmp_path: Path, storage: Storage) -> None:
    settings = settings_for(
        tmp_path,
        config_with('{outlets = 3, within = "90m", max_per_day = 2, min_gap = "2h"}'),
        TELEGRAM_BOT_TOKEN="123456:ABCDEFGHIJKLMNOPQRSTUV",
    )
    channel = settings.channels[0]
    await storage.sync_feeds((f.id, f.url) for f in settings.feeds)
    sender, clock = RecordingSender(), Clock(T0)
    editions = EditionRunner(CurrentSettings(settings), storage, sender, clock)

    await store(storage, FLOOD[:3], "flood", T0)
    clock.now = T0 + timedelta(minutes=45)
    assert await editions.breaking(channel) is not None
    # Another story converges 70 minutes later: too soon after the first.
    await store(storage, BRIDGE, "bridge", T0 + timedelta(minutes=100), step=5)
    clock.now = T0 + timedelta(minutes=115)
    assert await editions.breaking(channel) is None
    # Two hours after the first it may go out (its reports are still within 90 minutes).
    clock.now = T0 + timedelta(minutes=45 + 120)
    assert await editions.breaking(channel) is not None
    # A third story the same day: the day's two are used up.
    await store(storage, GOLD, "gold", clock.now + timedelta(hours=3), step=5)
    clock.now += timedelta(hours=3, minutes=15)
    assert await editions.breaking(channel) is None
    assert len(sender.sent) == 2
    assert "Làng Nủ" in sender.sent[0][1] and "Rạch Miễu" in sender.sent[1][1]
    assert len(await storage.breaking_history("@sang", T0)) == 2


async def test_next_edition_leaves_the_story_out(
    runner: tuple[EditionRunner, RecordingSender, Clock], storage: Storage, settings: Settings
) -> None:
    editions, sender, clock = runner
    channel = settings.channels[0]
    await store(storage, FLOOD[:3], "flood", T0)
    clock.now = T0 + timedelta(minutes=45)
    assert await editions.breaking(channel) is not None
    # Later: a fourth outlet's version of the story, and other news.
    await store(storage, FLOOD[3:], "flood4", T0 + timedelta(hours=2))
    await store(storage, BRIDGE[:1], "bridge", T0 + timedelta(hours=2))
    clock.now = T0 + timedelta(hours=3)
    await editions.run(channel)
    assert len(sender.sent) == 2
    edition = sender.sent[1][1]
    assert "Rạch Miễu" in edition
    assert "Làng Nủ" not in edition and "Lào Cai" not in edition
    # The breaking post is not the channel's last edition: the window still starts 12 h back.
    assert await storage.last_edition_at("@sang") == clock.now


async def test_after_a_poll_of_loopback_feeds(tmp_path: Path, storage: Storage) -> None:
    # Three outlets' feeds on a loopback server carry the same event: one poll stores
    # them and posts one breaking message; polling again posts nothing.
    now = datetime.now(UTC)
    with FeedServer() as server:
        for n, (feed, title, summary) in enumerate(FLOOD[:3]):
            item = {
                "title": title, "link": f"https://{feed}.example/flood", "description": summary,
                "pub_date": now - timedelta(minutes=30 - 10 * n),
            }  # fmt: skip
            server.add(f"/{feed}.rss", render_feed([item]))
        body = CONFIG
        for feed in FEEDS:
            body = body.replace(f"https://{feed}.example/rss", server.url(f"/{feed}.rss"))
        server.add("/dt.rss", render_feed([]))
        settings = settings_for(tmp_path, body, TELEGRAM_BOT_TOKEN="123456:ABCDEFGHIJKLMNOPQRSTUV")
        await storage.sync_feeds((f.id, f.url) for f in settings.feeds)
        sender = RecordingSender()
        async with make_http_client() as client:
            app = BotParts(settings, storage, client, sender=sender, env={}).app
            await app.poll_now()
            assert [text.split("\n")[0] for _, text in sender.sent] == ["<b>🔴 Tin nóng</b>"]
            await app.poll_now()
            assert len(sender.sent) == 1


async def test_upgrade_keeps_earlier_editions_as_editions(tmp_path: Path) -> None:
    # Editions planned before breaking news existed stay the destination's editions: the
    # next edition's window starts at the last of them, and none counts as breaking news.
    path = tmp_path / "old.db"
    async with aiosqlite.connect(path, isolation_level=None) as db:
        await migrate(db, path, target=9)  # before editions had a kind
        await db.execute(
            "INSERT INTO editions (destination, title, planned_at)"
            " VALUES ('@sang', 'T', '2026-11-27 00:00:00')"
        )
    storage = await Storage.open(path)
    try:
        assert schema_version(storage.path) == SCHEMA_VERSION
        assert await storage.last_edition_at("@sang") == datetime(2026, 11, 27, tzinfo=UTC)
        assert await storage.breaking_history("@sang", datetime(2026, 1, 1, tzinfo=UTC)) == []
    finally:
        await storage.close()
