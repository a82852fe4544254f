"""Editions end to end inside the process: window, outbox, retries, nothing twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import settings_for

from bot.digest import unique
from bot.editions import EditionRunner
from bot.errors import PublishError
from bot.models import Article, StoredArticle
from bot.settings import CurrentSettings, Settings
from bot.storage import Storage

T0 = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)  # 07:00 in Hà Nội

CONFIG = """
[[feeds]]
id = "vne"
name = "VnExpress"
url = "https://vnexpress.net/rss/tin-moi-nhat.rss"

[[feeds]]
id = "tt"
name = "Tuổi Trẻ"
url = "https://tuoitre.vn/rss/tin-moi-nhat.rss"

[[channels]]
chat = "@sang"
schedule = ["07:00"]
feeds = ["vne"]
max_items = 3
"""


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class RecordingSender:
    """A stand-in for Telegram that keeps what it was sent and can refuse on demand."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.refuse = 0

    async def send(
        self,
        chat: str,
        text: str,
        preview_url: str | None = None,
        *,
        thread: int | None = None,
        alert: bool = False,
    ) -> int | None:
        if self.refuse:
            self.refuse -= 1
            raise PublishError("Telegram unreachable: simulated")
        self.sent.append((chat, text))
        return len(self.sent)

    async def send_plain(
        self, chat: str, text: str, *, thread: int | None = None, alert: bool = False
    ) -> int | None:
        return await self.send(chat, text)


def article(key: str, title: str, feed: str = "vne", published: datetime | None = None) -> Article:
    return Article(
        feed,
        key,
        f"https://vnexpress.net/{key}",
        title,
        f"Tóm tắt {title}.",
        published or T0 - timedelta(hours=1),
    )


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


async def test_first_edition_takes_the_last_12_hours_newest_first(
    runner: tuple[EditionRunner, RecordingSender, Clock], storage: Storage, settings: Settings
) -> None:
    editions, sender, _ = runner
    await storage.add_articles([article("old", "Tin hôm qua")], T0 - timedelta(hours=13))
    await storage.add_articles([article("a", "Tin A", published=T0 - timedelta(hours=3))], T0)
    await storage.add_articles([article("b", "Tin B", published=T0 - timedelta(hours=2))], T0)
    await storage.add_articles([article("other", "Tin kênh khác", feed="tt")], T0)
    await editions.run(settings.channels[0])
    assert len(sender.sent) == 1
    chat, text = sender.sent[0]
    assert chat == "@sang"
    assert text.startswith("<b>Bản tin 07:00 · Thứ Sáu, 27/11/2026</b>")
    assert text.index("Tin B") < text.index("Tin A")
    assert "Tin hôm qua" not in text and "Tin kênh khác" not in text


async def test_next_edition_has_only_what_is_new_and_nothing_means_silence(
    runner: tuple[EditionRunner, RecordingSender, Clock], storage: Storage, settings: Settings
) -> None:
    editions, sender, clock = runner
    await storage.add_articles([article("a", "Tin A")], T0)
    await editions.run(settings.channel("@sang"))  # type: ignore[arg-type]
    clock.now = T0 + timedelta(hours=5)
    await editions.run(settings.channels[0])
    assert len(sender.sent) == 1  # nothing new: nothing posted
    await storage.add_articles([article("b", "Tin B")], clock.now)
    clock.now += timedelta(hours=5)
    await editions.run(settings.channels[0])
    assert len(sender.sent) == 2
    assert "Tin B" in sender.sent[1][1] and "Tin A" not in sender.sent[1][1]


async def test_failed_send_is_kept_and_delivered_once_later(
    runner: tuple[EditionRunner, RecordingSender, Clock], storage: Storage, settings: Settings
) -> None:
    editions, sender, clock = runner
    await storage.add_articles([article("a", "Tin A")], T0)
    sender.refuse = 1
    await editions.run(settings.channels[0])
    assert sender.sent == []
    assert len(await storage.pending_parts("@sang")) == 1
    clock.now += timedelta(hours=1)
    await editions.run(settings.channels[0])  # delivers the pending part, plans nothing new
    assert len(sender.sent) == 1 and "Tin A" in sender.sent[0][1]
    await editions.run(settings.channels[0])
    assert len(sender.sent) == 1


async def test_max_items_and_duplicate_links_across_feeds(
    runner: tuple[EditionRunner, RecordingSender, Clock], storage: Storage, settings: Settings
) -> None:
    editions, sender, _ = runner
    items = [article(f"k{i}", f"Tin số {i}", published=T0 - timedelta(minutes=i)) for i in range(6)]
    await storage.add_articles(items, T0)
    await editions.run(settings.channels[0])
    text = sender.sent[0][1]
    assert [n for n in range(6) if f"Tin số {n}<" in text] == [0, 1, 2]


def test_unique_keeps_one_per_link_and_title() -> None:
    def stored(i: int, url: str, title: str) -> StoredArticle:
        return StoredArticle(i, "vne", url, title, "", T0 - timedelta(minutes=i), T0)

    chosen = unique(
        [stored(1, "u1", "Hoà bình"), stored(2, "u1", "Khác"), stored(3, "u3", "Hòa Bình")]
    )
    assert [a.id for a in chosen] == [1]


async def test_dry_run_build_records_nothing(
    runner: tuple[EditionRunner, RecordingSender, Clock], storage: Storage, settings: Settings
) -> None:
    editions, sender, _ = runner
    await storage.add_articles([article("a", "Tin A")], T0)
    edition = await editions.build(settings.channels[0])
    assert edition.parts and sender.sent == []
    assert await storage.pending_parts() == []
    await editions.run(settings.channels[0])
    assert len(sender.sent) == 1


async def test_channel_summary_settings_shorten_the_summary(
    tmp_path: Path, storage: Storage
) -> None:
    config = CONFIG.replace(
        "max_items = 3", "max_items = 3\nsummary_sentences = 1\nsummary_chars = 90"
    )
    settings = settings_for(tmp_path, config)
    await storage.sync_feeds((f.id, f.url) for f in settings.feeds)
    body = (
        "Sáng 27/11, Quốc hội biểu quyết thông qua Luật Đường sắt sửa đổi với 92% đại biểu "
        "tán thành. Luật có hiệu lực từ ngày 1/1/2027."
    )
    long = Article("vne", "law", "https://vnexpress.net/law", "Luật Đường sắt", body, T0, body)
    await storage.add_articles([long], T0)
    sender = RecordingSender()
    await EditionRunner(CurrentSettings(settings), storage, sender, Clock(T0)).run(
        settings.channels[0]
    )
    text = sender.sent[0][1]
    assert "Sáng 27/11, Quốc hội biểu quyết" in text
    assert "Luật có hiệu lực" not in text
    assert "…" in text  # the one sentence is longer than 90 characters
