"""Readers' own alerts, end to end: the real application over HTTP to the fake Bot API,
real SQLite, and the alert runner on a clock the test moves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import settings_for
from fakebotapi import FakeBotAPI, SentMessage

from bot.alerts import AlertRunner
from bot.app import BotParts
from bot.fetch import make_http_client
from bot.models import Article, StoredArticle, Topic
from bot.query import parse_query
from bot.settings import Settings
from bot.storage import Storage
from bot.topics import TopicIndex, naive_match

TOKEN = "123456789:AAFakeTokenForTestsOnly_abcdefghij"
CONFIG = """
[bot]
timezone = "Asia/Ho_Chi_Minh"

[[feeds]]
id = "tuoitre"
name = "Tuổi Trẻ"
url = "https://tuoitre.vn/rss/tin-moi-nhat.rss"

[[feeds]]
id = "dantri"
name = "Dân trí"
url = "https://dantri.com.vn/rss/home.rss"
"""
READER, OTHER = 7001, 7002
GROUP, ADMIN = -4242, 7003
# 10:00 in Hà Nội: outside the default quiet hours (22:00–06:30).
MORNING = datetime(2025, 3, 10, 3, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def api() -> Iterator[FakeBotAPI]:
    with FakeBotAPI(token=TOKEN) as fake:
        yield fake


@pytest.fixture
def settings(tmp_path: Path, api: FakeBotAPI) -> Settings:
    return settings_for(
        tmp_path, CONFIG, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=api.base_url
    )


@pytest.fixture
def clock() -> Clock:
    return Clock(MORNING)


@pytest.fixture
async def alerts(
    settings: Settings, storage: Storage, api: FakeBotAPI, clock: Clock
) -> AsyncIterator[AlertRunner]:
    await storage.sync_feeds((f.id, f.url) for f in settings.feeds)
    async with make_http_client() as client:
        parts = BotParts(settings, storage, client, clock=clock)
        application = parts.application
        assert application is not None
        async with application:
            await application.start()
            assert application.updater is not None
            await application.updater.start_polling(poll_interval=0, timeout=1)
            yield parts.alerts
            await application.updater.stop()
            await application.stop()


async def until(check: object, what: str) -> None:
    for _ in range(200):
        if check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError(what)


def to(api: FakeBotAPI, chat: int) -> list[SentMessage]:
    return [m for m in api.sent if m.chat_id == str(chat)]


async def ask(api: FakeBotAPI, text: str, user_id: int, **where: int) -> SentMessage:
    chat = where.get("chat_id", user_id)
    before = len(to(api, chat))
    api.queue_message(text, user_id=user_id, **where)  # type: ignore[arg-type]
    await until(lambda: len(to(api, chat)) > before, text)
    return to(api, chat)[-1]


async def store(storage: Storage, clock: Clock, *articles: Article) -> None:
    await storage.add_articles(list(articles), clock.now)


def article(key: str, title: str, feed: str = "tuoitre", summary: str = "") -> Article:
    host = "tuoitre.vn" if feed == "tuoitre" else "dantri.com.vn"
    return Article(
        feed,
        key,
        f"https://{host}/{key}.htm",
        title,
        summary or title,
        MORNING - timedelta(hours=1),
    )


async def test_follow_then_a_matching_article_brings_exactly_one_private_message(
    api: FakeBotAPI, storage: Storage, alerts: AlertRunner, clock: Clock
) -> None:
    await store(storage, clock, article("old", "Bão Yagi đổ bộ Quảng Ninh"))
    await alerts.run_once()  # what was there before the topic is not an alert
    reply = await ask(api, "/theodoi bão Yagi", READER)
    assert "Đã theo dõi «bão Yagi»" in reply.text
    assert "Bão Yagi đổ bộ Quảng Ninh" in reply.text  # the latest the topic catches

    await store(
        storage,
        clock,
        article("a", "Bão Yagi suy yếu thành áp thấp"),
        article("b", "Giá vàng tăng mạnh"),  # matches nobody
    )
    before = len(api.sent)
    assert await alerts.run_once() == 1
    [alert] = api.sent[before:]
    assert alert.chat_id == str(READER)
    assert "Bão Yagi suy yếu" in alert.text and "Giá vàng" not in alert.text
    assert await alerts.run_once() == 0  # never twice


async def test_two_topics_and_two_outlets_make_one_alert(
    api: FakeBotAPI, storage: Storage, alerts: AlertRunner, clock: Clock
) -> None:
    await ask(api, "/theodoi bão", READER)
    await ask(api, "/follow Quảng Ninh", READER)
    summary = "Bão Yagi đổ bộ Quảng Ninh chiều 7/9 với sức gió cấp 12, giật cấp 15."
    await store(
        storage,
        clock,
        article("t", "Bão Yagi đổ bộ Quảng Ninh", "tuoitre", summary),
        article("d", "Bão Yagi đổ bộ vào Quảng Ninh", "dantri", summary),
    )
    before = len(api.sent)
    assert await alerts.run_once() == 1
    [alert] = api.sent[before:]
    assert "+1 nguồn" in alert.text
    # A third version later is the same story: not told again.
    await store(storage, clock, article("t2", "Bão Yagi đổ bộ Quảng Ninh", "tuoitre", summary))
    assert await alerts.run_once() == 0


async def test_quiet_hours_hold_alerts_until_they_end(
    api: FakeBotAPI, storage: Storage, alerts: AlertRunner, clock: Clock
) -> None:
    await ask(api, "/theodoi giá vàng", READER)
    await ask(api, "/yenlang 09:00-11:00", READER)  # 10:00 local now
    await store(storage, clock, article("v", "Giá vàng lập đỉnh mới"))
    assert await alerts.run_once() == 0
    clock.now += timedelta(hours=1, minutes=1)
    assert await alerts.run_once() == 1
    assert "Giá vàng lập đỉnh" in to(api, READER)[-1].text


async def test_past_the_daily_cap_alerts_wait_for_the_next_morning(
    api: FakeBotAPI, storage: Storage, alerts: AlertRunner, clock: Clock
) -> None:
    await ask(api, "/theodoi Hà Nội", READER)
    places = ["Hoàn Kiếm", "Ba Đình", "Cầu Giấy", "Tây Hồ", "Long Biên", "Đống Đa"]
    await store(
        storage,
        clock,
        *(
            article(f"hn{i}", f"Hà Nội: {places[i % 6]} sửa {i} tuyến phố số {i * 7}")
            for i in range(31)
        ),
    )
    await alerts.run_once()  # 30 stories at once: gathered in one message (maybe two parts)
    midnight = clock.now - timedelta(hours=10)
    assert await storage.immediate_since(midnight) == {str(READER): 30}
    assert "đã nhận 30 tin" not in to(api, READER)[-1].text
    clock.now += timedelta(hours=21)  # 07:00 the next day: past the quiet hours
    assert await alerts.run_once() == 1
    assert "đã nhận 30 tin" in to(api, READER)[-1].text


async def test_a_reader_who_blocks_the_bot_is_paused_and_start_resumes(
    api: FakeBotAPI, storage: Storage, alerts: AlertRunner, clock: Clock
) -> None:
    await ask(api, "/theodoi lũ", READER)
    await store(storage, clock, article("l1", "Lũ lên nhanh ở miền Trung"))
    api.fail_next("sendMessage", status=403, description="Forbidden: bot was blocked by the user")
    assert await alerts.run_once() == 0
    assert (await storage.readers([str(READER)]))[str(READER)].paused
    await store(storage, clock, article("l2", "Lũ rút chậm ở Quảng Bình, nhiều xã bị cô lập"))
    assert await alerts.run_once() == 0  # paused: topics kept, nothing sent
    assert [t.query for t in await storage.topics_of(str(READER))] == ["lũ"]

    reply = await ask(api, "/start", READER)
    assert "tiếp tục" in reply.text
    assert await alerts.run_once() >= 1  # what waited goes out now


async def test_forget_deletes_everything_after_a_confirming_button(
    api: FakeBotAPI, storage: Storage, alerts: AlertRunner
) -> None:
    await ask(api, "/theodoi bão", READER)
    offer = await ask(api, "/xoadulieu", READER)
    [[button]] = offer.params["reply_markup"]["inline_keyboard"]
    api.queue_callback_query(
        button["callback_data"], message_id=offer.message_id, chat_id=READER, user_id=READER
    )
    await until(lambda: "Đã xoá" in to(api, READER)[-1].text, "forgotten")
    assert await storage.topics_of(str(READER)) == []
    assert await storage.readers([str(READER)]) == {}
    assert len(alerts.index) == 0


async def test_a_button_for_another_chats_topic_removes_nothing(
    api: FakeBotAPI, storage: Storage, alerts: AlertRunner
) -> None:
    await ask(api, "/theodoi bão", READER)
    [mine] = await storage.topics_of(str(READER))
    listing = await ask(api, "/theodoi", OTHER)
    api.queue_callback_query(
        f"r:u:{mine.id}", message_id=listing.message_id, chat_id=OTHER, user_id=OTHER
    )
    await until(lambda: "đã được bỏ" in to(api, OTHER)[-1].text, "refused")
    assert await storage.topics_of(str(READER)) == [mine]


async def test_only_group_admins_change_its_topics_and_alerts_go_to_the_forum_topic(
    api: FakeBotAPI, storage: Storage, alerts: AlertRunner, clock: Clock
) -> None:
    api.make_forum(GROUP)
    api.set_admins(GROUP, [ADMIN])
    refused = await ask(api, "/theodoi bão", READER, chat_id=GROUP, thread_id=5)
    assert "quản trị viên" in refused.text
    assert await storage.topics_of(str(GROUP)) == []
    await ask(api, "/theodoi bão", ADMIN, chat_id=GROUP, thread_id=5)
    assert [t.thread for t in await storage.topics_of(str(GROUP))] == [5]

    await store(storage, clock, article("g", "Bão số 3 mạnh lên"))
    assert await alerts.run_once() == 1
    alert = to(api, GROUP)[-1]
    assert alert.params["message_thread_id"] == 5


def test_the_index_finds_what_checking_every_topic_finds() -> None:
    queries = ["bão", "Hà Nội", '"giá vàng" -usd', "bao -yagi", "nguon:dantri lũ", "Hoà Bình"]
    queries += ['"quốc gia"', '"ngân hàng nhà nước"', '"ngan hang nha nuoc"', "bão", "vàng"]
    queries += ['vàng -"giá vàng tăng"', '"hà nội" nguon:tuoitre', "Hà Nội"]
    topics = [Topic(i, str(i % 5), q) for i, q in enumerate(queries)]
    sample = [StoredArticle(0, "tuoitre", None, "Giá vàng tăng ở Hà Nội", "", None, MORNING)]
    index = TopicIndex(topics, sample)
    assert (len(index), index.distinct) == (len(queries), len(queries) - 2)
    titles = ["Bão Yagi", "Báo Hà Nội", "Giá vàng và USD", "Giá vàng tăng", "Lũ ở Hòa Bình"]
    titles += ["Quốc giá", "Ngân hàng Nhà nước", "Nhà nước ngân hàng nhà", "Ngân hàng, nhà nước"]
    titles += ["Vàng tăng giá", "Hà Nội mưa", "Hà nội"]

    def agree(index: TopicIndex, topics: list[Topic]) -> None:
        pairs = [(t, parse_query(t.query)) for t in topics]
        for n, title in enumerate(titles):
            for feed in ("tuoitre", "dantri"):
                item = StoredArticle(n, feed, None, title, "hôm nay", None, MORNING)
                assert sorted(t.id for t in index.match(item)) == sorted(
                    t.id for t in naive_match(pairs, item)
                ), (title, feed)

    agree(index, topics)
    index.remove(0)  # the same query stays filed for the other reader
    index.remove_chat("1")
    agree(index, [t for t in topics if t.id != 0 and t.chat != "1"])


async def test_a_personal_digest_gathers_alerts_until_each_lich_time(
    api: FakeBotAPI, storage: Storage, alerts: AlertRunner, clock: Clock
) -> None:
    await ask(api, "/theodoi bão", READER)
    await ask(api, "/lich 12:00 18:00", READER)  # 10:00 local now
    assert (await storage.readers())[str(READER)].times == "12:00 18:00"
    await store(
        storage,
        clock,
        article("s1", "Bão Yagi đổ bộ Quảng Ninh"),
        article("s2", "Bão số 4 hình thành trên Biển Đông", "dantri"),
    )
    assert await alerts.run_once() == 0
    clock.now += timedelta(hours=1, minutes=59)  # 11:59
    assert await alerts.run_once() == 0
    clock.now += timedelta(minutes=1)  # 12:00: both stories in one message
    assert await alerts.run_once() == 1
    digest = to(api, READER)[-1]
    assert "Tin theo dõi của bạn: 2 tin" in digest.text
    assert "Bão Yagi" in digest.text and "Bão số 4" in digest.text

    clock.now += timedelta(hours=1)  # 13:00: the next waits for 18:00
    await store(storage, clock, article("s3", "Bão Trà Mi suy yếu"))
    assert await alerts.run_once() == 0
    clock.now += timedelta(hours=5)
    assert await alerts.run_once() == 1
    assert "Bão Trà Mi" in to(api, READER)[-1].text
    assert await alerts.run_once() == 0  # never twice
