"""A database with editions for the site's tests: sent ones in a public channel (`web =
true`), in a private one, and one Telegram never accepted."""

from __future__ import annotations

from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conftest import settings_for

from bot.editions import EditionRunner
from bot.errors import PublishError
from bot.models import Article
from bot.settings import CurrentSettings, Settings
from bot.storage import Storage

T0 = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)  # 07:00 in Hà Nội
TOKEN = "123456:ABCDEFGHIJKLMNOPQRSTUV"
CONFIG = """
[[feeds]]
id = "vne"
name = "VnExpress"
url = "https://vnexpress.net/rss/tin-moi-nhat.rss"

[[channels]]
chat = "@tintuc"
schedule = ["07:00", "19:00"]
web = true

[[channels]]
chat = "@kenhrieng"
schedule = ["07:00"]
"""
EVIL = 'Giá vàng <script>alert("x")</script> & "lãi suất" tăng'


class RecordingSender:
    """Telegram's stand-in: keeps what it was sent; refuses everything while `down`."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.down = False

    async def send(
        self,
        chat: str,
        text: str,
        preview_url: str | None = None,
        *,
        thread: int | None = None,
        alert: bool = False,
    ) -> int | None:
        if self.down:
            raise PublishError("Telegram unreachable: simulated")
        self.sent.append((chat, text))
        return len(self.sent)

    async def send_plain(
        self, chat: str, text: str, *, thread: int | None = None, alert: bool = False
    ) -> int | None:
        return await self.send(chat, text)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def article(key: str, title: str, summary: str, hours_ago: float) -> Article:
    return Article(
        "vne", key, f"https://vnexpress.net/{key}.html", title, summary,
        T0 - timedelta(hours=hours_ago),
    )  # fmt: skip


async def publish_sample(directory: Path, storage: Storage) -> tuple[Settings, RecordingSender]:
    """Two sent editions in @tintuc, one in @kenhrieng, and a third @tintuc one left unsent."""
    settings = settings_for(directory, CONFIG, TELEGRAM_BOT_TOKEN=TOKEN)
    await storage.sync_feeds((f.id, f.url) for f in settings.feeds)
    sender, clock = RecordingSender(), Clock(T0)
    runner = EditionRunner(CurrentSettings(settings), storage, sender, clock)
    tin, rieng = settings.channels
    await storage.add_articles(
        [
            article("bao", "Bão số 15 đổ bộ Khánh Hòa", "Người dân được sơ tán an toàn.", 2),
            article("vang", EVIL, "Giá vàng miếng <b>SJC</b> lên 90 triệu đồng.", 3),
        ],
        T0 - timedelta(hours=1),
    )
    await runner.run(tin)
    await runner.run(rieng)
    clock.now = T0 + timedelta(hours=12)
    await storage.add_articles(
        [article("metro", "Metro Bến Thành – Suối Tiên chở khách", "Tuyến metro số 1 đông.", -11)],
        clock.now - timedelta(minutes=30),
    )
    await runner.run(tin)
    clock.now = T0 + timedelta(hours=24)
    await storage.add_articles(
        [article("chua-dang", "Tin chưa đăng lên kênh", "Telegram chưa nhận.", -23)],
        clock.now - timedelta(minutes=30),
    )
    sender.down = True
    with suppress(PublishError):
        await runner.run(tin)
    sender.down = False
    return settings, sender
