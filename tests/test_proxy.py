"""Telegram through a proxy (TELEGRAM_PROXY), feeds through their own (FEEDS_PROXY), with a
real proxy on loopback: calls go through it, and with it down nothing is lost."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from conftest import settings_for
from fakebotapi import FakeBotAPI
from feedserver import FeedServer
from loopproxy import LoopProxy

from bot.app import BotParts, reach_telegram
from bot.errors import ConfigError, NonPublicAddress, PublishError
from bot.fetch import make_http_client
from bot.logs import RedactFilter
from bot.publish import TelegramSender
from bot.settings import Settings, load_settings
from bot.storage import Storage

TOKEN = "123456789:AAFakeTokenForTestsOnly_abcdefghij"
CONFIG = """
[[feeds]]
id = "blc"
name = "Báo Lai Châu"
url = "https://baolaichau.vn/rss"

[[channels]]
chat = "@kenhtin"
schedule = ["07:00"]
"""


@pytest.fixture
def fake() -> Iterator[FakeBotAPI]:
    with FakeBotAPI(token=TOKEN) as api:
        yield api


@pytest.fixture
async def proxy() -> AsyncIterator[LoopProxy]:
    proxy = LoopProxy()
    await proxy.start()
    yield proxy
    await proxy.stop()


async def test_every_bot_api_call_goes_through_the_proxy_and_survives_it_going_down(
    tmp_path: Path, fake: FakeBotAPI, proxy: LoopProxy, storage: Storage
) -> None:
    settings = settings_for(
        tmp_path,
        CONFIG,
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE_URL=fake.base_url,
        TELEGRAM_PROXY=proxy.url,
    )
    async with make_http_client() as client:
        parts = BotParts(settings, storage, client, env={})
        application, telegram = parts.application, parts.telegram
    assert application is not None
    async with application:  # getMe
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0.1, timeout=1)
        try:
            await telegram.send("@kenhtin", "<b>Bản tin</b> qua proxy")
            assert [m.text for m in fake.sent] == ["<b>Bản tin</b> qua proxy"]
            methods = {line.rsplit("/", 1)[-1] for line in proxy.seen}
            assert {"getMe", "sendMessage", "getUpdates"} <= methods  # the long poll too
            assert all(line.startswith(f"POST {fake.base_url}") for line in proxy.seen)

            # The proxy goes down: the send fails after its retries, as a PublishError that
            # says Telegram is unreachable (the outbox keeps the part for the next try).
            await proxy.stop()
            quick = TelegramSender(application.bot, sleep=_no_wait)
            with pytest.raises(PublishError, match="Telegram unreachable"):
                await quick.send("@kenhtin", "lần hai")
            assert len(fake.sent) == 1

            await proxy.start()  # back on the same port: sending works again
            await quick.send("@kenhtin", "lần hai")
            assert [m.text for m in fake.sent][-1] == "lần hai"
        finally:
            await application.updater.stop()
            await application.stop()


async def _no_wait(seconds: float) -> None:
    return None


async def test_feeds_go_through_feeds_proxy_only_when_set(proxy: LoopProxy) -> None:
    with FeedServer() as server:
        url = server.url("/feed.xml")
        async with make_http_client(proxy=proxy.url) as client:
            await client.get(url, extensions={"bantin.allow_private": True})
        assert proxy.seen == []  # a private host the config allows is fetched directly
        async with make_http_client(proxy=proxy.url) as client:
            with pytest.raises(NonPublicAddress):
                await client.get(url)  # the target is checked even through the proxy
        assert proxy.seen == []


def test_proxy_settings_are_checked_without_showing_the_password(tmp_path: Path) -> None:
    path = tmp_path / "bot.toml"
    path.write_text(CONFIG, encoding="utf-8")
    env = {"TELEGRAM_PROXY": "ftp://user:s3cret@proxy:21", "FEEDS_PROXY": "socks5://h:1080"}
    with pytest.raises(ConfigError) as caught:
        load_settings(env, str(path))
    assert "TELEGRAM_PROXY" in str(caught.value) and "s3cret" not in str(caught.value)
    assert "FEEDS_PROXY" not in str(caught.value)
    env["TELEGRAM_PROXY"] = "socks5://user:s%40cret@127.0.0.1:1080"
    settings = load_settings(env, str(path))
    record = logging.LogRecord(
        "t", logging.WARNING, "", 0, "polling failed via %s", (settings.telegram_proxy,), None
    )
    RedactFilter(settings.secrets).filter(record)
    assert "s%40cret" not in record.getMessage() and "s@cret" not in record.getMessage()
    assert "127.0.0.1:1080" in record.getMessage()


async def proxy_down() -> LoopProxy:
    """A proxy's address with nothing listening behind it (until `start()` again)."""
    down = LoopProxy()
    await down.start()
    await down.stop()
    return down


def through(tmp_path: Path, fake: FakeBotAPI, proxy: LoopProxy) -> Settings:
    return settings_for(
        tmp_path,
        CONFIG,
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE_URL=fake.base_url,
        TELEGRAM_PROXY=proxy.url,
    )


async def test_start_up_waits_for_telegram_through_a_proxy_that_is_down(
    tmp_path: Path, fake: FakeBotAPI, storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    down = await proxy_down()
    settings = through(tmp_path, fake, down)
    stop = asyncio.Event()
    async with make_http_client() as client:
        application = BotParts(settings, storage, client, env={}).application
        assert application is not None
        with caplog.at_level(logging.WARNING, logger="bot.app"):
            reaching = asyncio.create_task(
                reach_telegram(application, stop, proxied=True, first_delay=0.1)
            )
            for _ in range(200):
                if "cannot reach Telegram through TELEGRAM_PROXY" in caplog.text:
                    break
                await asyncio.sleep(0.05)
            assert "cannot reach Telegram through TELEGRAM_PROXY" in caplog.text
            assert not reaching.done()  # still trying, not exited
            await down.start()  # the proxy comes back on the same port
            try:
                assert await asyncio.wait_for(reaching, 15) is True
                assert any(line.endswith("/getMe") for line in down.seen)
                assert TOKEN not in caplog.text
            finally:
                await application.shutdown()
                await down.stop()


async def test_start_up_gives_up_waiting_when_stopped(
    tmp_path: Path, fake: FakeBotAPI, storage: Storage
) -> None:
    settings = through(tmp_path, fake, await proxy_down())
    stop = asyncio.Event()
    async with make_http_client() as client:
        application = BotParts(settings, storage, client, env={}).application
        assert application is not None
        reaching = asyncio.create_task(reach_telegram(application, stop, first_delay=30))
        await asyncio.sleep(0.5)
        stop.set()  # SIGTERM while waiting: no 30 s wait, no traceback
        assert await asyncio.wait_for(reaching, 5) is False
    assert fake.sent == []
