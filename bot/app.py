"""Composition root: builds every part from the settings and runs them until a signal.

open storage, register feeds
console mode (no token): sender prints to stdout
otherwise: python-telegram-bot Application (commands) + a sender on its Bot
scheduler: poll jobs per feed, edition jobs per channel schedule entry
at start: poll every feed at once; in console mode, then print an edition per channel
on SIGINT/SIGTERM: stop polling Telegram, stop the scheduler, close storage
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TextIO

import httpx
from telegram import Bot
from telegram.error import Conflict, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot.editions import EditionRunner
from bot.errors import AlreadyRunning
from bot.fetch import make_http_client
from bot.handlers import COMMANDS, PAGE_PREFIX, Commands
from bot.jobs import add_edition_jobs, add_maintenance_job, add_poll_jobs, make_scheduler
from bot.pipeline import poll_all, poll_feed, utc_now
from bot.publish import ConsoleSender, Pacer, Sender, TelegramSender
from bot.settings import ChannelConfig, FeedConfig, Settings
from bot.storage import Storage

log = logging.getLogger(__name__)
SEARCH_LIFETIME = timedelta(days=7)  # result-page buttons older than this say "expired"


@contextmanager
def instance_lock(database: Path) -> Iterator[None]:
    """Hold an exclusive lock beside the database while running; refuse a second instance.

    flock is released by the kernel when the process dies, so a crash never leaves a
    stale lock behind.
    """
    path = database.with_name(database.name + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise AlreadyRunning(
            f"{database} is in use by Bản tin ({holder}); stop that one first, "
            "or give this one another database with BOT_DATABASE"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
    handle.flush()
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


@asynccontextmanager
async def open_storage(settings: Settings) -> AsyncIterator[Storage]:
    storage = await Storage.open(settings.database)
    try:
        await storage.sync_feeds((f.id, f.url) for f in settings.feeds)
        yield storage
    finally:
        await storage.close()


def make_bot(settings: Settings) -> Bot:
    assert settings.token is not None
    return Bot(settings.token, base_url=settings.api_base_url)


def build_application(
    settings: Settings, storage: Storage, pacer: Pacer | None = None
) -> tuple[Application, TelegramSender]:  # type: ignore[type-arg]
    """The Telegram side: one Bot, one pacer, the command handlers; and the sender on it.

    Pacing is ours (publish.Pacer): AIORateLimiter does not space messages to one chat.
    """
    assert settings.token is not None
    application = ApplicationBuilder().token(settings.token).base_url(settings.api_base_url).build()
    telegram = TelegramSender(application.bot, pacer or Pacer())
    commands = Commands(settings, storage, telegram)
    for names, callback in (
        (("start",), commands.start),
        (("help", "trogiup"), commands.help),
        (("search", "tim"), commands.search),
        (("latest", "moi"), commands.latest),
        (("sources", "nguon"), commands.sources),
        (("status", "trangthai"), commands.status),
    ):
        application.add_handler(CommandHandler(list(names), callback))
    pattern = f"^{PAGE_PREFIX}:"
    application.add_handler(CallbackQueryHandler(commands.search_page, pattern=pattern))
    application.add_handler(MessageHandler(filters.COMMAND, commands.unknown))
    application.add_error_handler(commands.error)
    return application, telegram


async def register_commands(bot: Bot) -> None:
    """Show the command list in Telegram's menu; the bot works without it, so do not fail."""
    try:
        await bot.set_my_commands(COMMANDS)
    except TelegramError as exc:
        log.warning("could not register the command list: %s", exc)


class BotApp:
    """Everything that runs: storage, HTTP client, scheduler, and Telegram or the console."""

    def __init__(
        self, settings: Settings, storage: Storage, client: httpx.AsyncClient, sender: Sender
    ) -> None:
        self.settings = settings
        self.storage = storage
        self.client = client
        self.editions = EditionRunner(settings, storage, sender, utc_now)
        self.scheduler = make_scheduler(settings)

    async def poll(self, feed: FeedConfig) -> None:
        await poll_feed(feed, self.storage, self.client)

    async def edition(self, channel: ChannelConfig) -> None:
        try:
            await self.editions.run(channel)
        except Exception:
            log.exception("edition chat=%s failed", channel.chat)

    async def first_poll(self) -> None:
        """At start: finish sending what was left unsent, poll everything; in console mode
        show an edition right away."""
        flushed = await asyncio.gather(
            *(self.editions.flush(c) for c in self.settings.channels), return_exceptions=True
        )
        for channel, outcome in zip(self.settings.channels, flushed, strict=True):
            if isinstance(outcome, BaseException):
                log.error("flush chat=%s failed", channel.chat, exc_info=outcome)
            elif outcome:
                log.info("flush chat=%s sent=%d left from before", channel.chat, outcome)
        results = await poll_all(self.settings.feeds, self.storage, self.client)
        failed = sum(1 for r in results if r.error)
        log.info("first poll done feeds=%d failed=%d", len(results), failed)
        if self.settings.console_mode:
            for channel in self.settings.channels:
                await self.edition(channel)

    async def maintain(self) -> None:
        """Drop articles past `retention_days` (the FTS index follows), then optimise."""
        now = utc_now()
        try:
            deleted = await self.storage.prune(
                now - timedelta(days=self.settings.retention_days), now - SEARCH_LIFETIME
            )
            await self.storage.optimize()
        except Exception:
            log.exception("maintenance failed")
            return
        log.info("maintenance pruned=%d retention_days=%d", deleted, self.settings.retention_days)

    def start_scheduler(self) -> None:
        add_poll_jobs(self.scheduler, self.settings, self.poll, utc_now())
        add_edition_jobs(self.scheduler, self.settings, self.edition)
        add_maintenance_job(self.scheduler, self.settings, self.maintain)
        self.scheduler.start()


async def run(settings: Settings, stdout: TextIO = sys.stdout) -> None:
    """Run until SIGINT or SIGTERM, then shut down cleanly.

    AlreadyRunning when another instance holds the database or polls with the same token.
    """
    stop = asyncio.Event()
    conflict: list[str] = []

    def on_poll_error(error: TelegramError) -> None:
        if isinstance(error, Conflict):
            # Another process is polling with this token: say so once and stop, not loop.
            conflict.append(str(error))
            stop.set()
        else:
            log.warning("polling Telegram failed: %s", error)

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with AsyncExitStack() as stack:
        stack.enter_context(instance_lock(settings.database))
        storage = await stack.enter_async_context(open_storage(settings))
        client = await stack.enter_async_context(make_http_client())
        if settings.console_mode:
            log.info("no TELEGRAM_BOT_TOKEN: console mode, editions are printed, not posted")
            app = BotApp(settings, storage, client, ConsoleSender(stdout))
        else:
            application, telegram = build_application(settings, storage)
            await stack.enter_async_context(application)
            app = BotApp(settings, storage, client, telegram)
            await register_commands(application.bot)
            await application.start()
            stack.push_async_callback(application.stop)
            assert application.updater is not None
            await application.updater.start_polling(
                drop_pending_updates=False, error_callback=on_poll_error
            )
            stack.push_async_callback(application.updater.stop)
        app.start_scheduler()
        stack.callback(app.scheduler.shutdown, wait=False)
        first = asyncio.create_task(app.first_poll())
        log.info(
            "running feeds=%d channels=%d database=%s",
            len(settings.feeds),
            len(settings.channels),
            settings.database,
        )
        await stop.wait()
        log.info("stopping")
        first.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await first
    if conflict:
        raise AlreadyRunning(
            "another process is polling Telegram with this bot token "
            f"({conflict[0]}); run one Bản tin per bot"
        )
