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
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TextIO

from telegram import Bot, Update
from telegram.error import Conflict, InvalidToken, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.errors import AlreadyRunning, TokenRejected
from bot.fetch import make_http_client
from bot.handlers import COMMANDS, Commands
from bot.metrics import HealthServer, Metrics
from bot.publish import ConsoleSender, Pacer, TelegramSender
from bot.readers import ReaderCommands
from bot.runtime import BotApp
from bot.settings import Settings
from bot.storage import Storage

log = logging.getLogger(__name__)
CONCURRENT_UPDATES = 64  # updates handled at once; more wait in PTB's queue
SEARCH_LIFETIME = timedelta(days=7)  # result-page buttons older than this say "expired"


async def _reload(app: BotApp) -> None:
    """SIGHUP: reload the config; the outcome goes to the log and to the admins."""
    applied, report = await app.reload()
    log.log(logging.INFO if applied else logging.ERROR, "reload: %s", report)
    await app.editions.tell_admins(report)


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


TOKEN_REJECTED = (
    "Telegram từ chối TELEGRAM_BOT_TOKEN (sai hoặc đã bị thu hồi) / "
    "Telegram rejected TELEGRAM_BOT_TOKEN (wrong or revoked): get a new token from @BotFather"
)


@contextmanager
def token_checked() -> Iterator[None]:
    """Turn python-telegram-bot's InvalidToken into TokenRejected, which never holds the token.

    PTB's message is "The token `123:AA…` was rejected by the server." and, uncaught, it
    reaches stderr in a traceback that no log filter sees.
    """
    try:
        yield
    except InvalidToken:
        raise TokenRejected(TOKEN_REJECTED) from None


@asynccontextmanager
async def make_bot(settings: Settings) -> AsyncIterator[Bot]:
    """An initialised Bot for one-off commands; TokenRejected if Telegram refuses the token."""
    assert settings.token is not None
    with token_checked():
        async with Bot(settings.token, base_url=settings.api_base_url) as bot:
            yield bot


def build_application(
    settings: Settings,
    storage: Storage,
    pacer: Pacer | None = None,
    metrics: Metrics | None = None,
) -> tuple[Application, TelegramSender, Commands]:  # type: ignore[type-arg]
    """The Telegram side: one Bot, one pacer, the command handlers; and the sender on it.

    Pacing is ours (publish.Pacer): AIORateLimiter does not space messages to one chat.
    Updates are handled concurrently: one at a time, a user's flood of commands would
    hold every other user's answer behind it. Each user's commands pass a limit first.
    """
    assert settings.token is not None
    application = (
        ApplicationBuilder()
        .token(settings.token)
        .base_url(settings.api_base_url)
        .concurrent_updates(CONCURRENT_UPDATES)
        .build()
    )
    on_429 = metrics.retry_after.inc if metrics else None
    telegram = TelegramSender(application.bot, pacer or Pacer(), on_retry_after=on_429)
    commands = Commands(settings, storage, telegram)
    readers = ReaderCommands(settings, storage, telegram)
    application.bot_data["readers"] = readers
    application.add_handler(TypeHandler(Update, commands.throttle), group=-1)
    for names, callback in (
        (("start",), readers.start),
        (("theodoi", "follow"), readers.follow),
        (("botheodoi", "unfollow"), readers.unfollow),
        (("lich", "schedule"), readers.schedule),
        (("yenlang", "quiet"), readers.quiet),
        (("xoadulieu", "forget"), readers.forget),
        (("help", "trogiup"), commands.help),
        (("search", "tim"), commands.search),
        (("latest", "moi"), commands.latest),
        (("sources", "nguon"), commands.sources),
        (("status", "trangthai"), commands.status),
        (("poll",), commands.poll),
        (("preview", "xemtruoc"), commands.preview),
        (("reload",), commands.reload),
    ):
        application.add_handler(CommandHandler(list(names), callback))
    application.add_handler(CallbackQueryHandler(readers.button, pattern=r"^r:"))
    # Every other button press, not only well-formed ones: forged data gets a polite answer.
    application.add_handler(CallbackQueryHandler(commands.search_page))
    application.add_handler(MessageHandler(filters.COMMAND, commands.unknown))
    application.add_error_handler(commands.error)
    return application, telegram, commands


async def register_commands(bot: Bot) -> None:
    """Show the command list in Telegram's menu; the bot works without it, so do not fail."""
    try:
        await bot.set_my_commands(COMMANDS)
    except TelegramError as exc:
        log.warning("could not register the command list: %s", exc)


async def run(
    settings: Settings, env: Mapping[str, str] | None = None, stdout: TextIO = sys.stdout
) -> None:
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
    reloads: set[asyncio.Task[None]] = set()
    async with AsyncExitStack() as stack:
        stack.enter_context(instance_lock(settings.database))
        storage = await stack.enter_async_context(open_storage(settings))
        client = await stack.enter_async_context(make_http_client())
        if settings.console_mode:
            log.info("no TELEGRAM_BOT_TOKEN: console mode, editions are printed, not posted")
            app = BotApp(settings, storage, client, ConsoleSender(stdout), env=env)
        else:
            metrics = Metrics()
            application, telegram, commands = build_application(settings, storage, metrics=metrics)
            with token_checked():  # the first call to Telegram is in initialize: getMe
                await stack.enter_async_context(application)
            app = BotApp(settings, storage, client, telegram, metrics=metrics, env=env)
            commands.admin = app
            app.on_settings.append(commands.use_settings)
            readers: ReaderCommands = application.bot_data["readers"]
            readers.alerts = app.alerts
            app.on_settings.append(readers.use_settings)
            await register_commands(application.bot)
            await application.start()
            stack.push_async_callback(application.stop)
            assert application.updater is not None
            with token_checked():
                await application.updater.start_polling(
                    drop_pending_updates=False, error_callback=on_poll_error
                )
            stack.push_async_callback(application.updater.stop)
        app.start_scheduler()
        stack.callback(app.scheduler.shutdown, wait=False)
        if settings.http_listen:
            server = HealthServer(settings.http_listen, app.metrics, app.health)
            server.start()
            stack.callback(server.stop)

        def on_sighup() -> None:
            task = loop.create_task(_reload(app))
            reloads.add(task)
            task.add_done_callback(reloads.discard)

        loop.add_signal_handler(signal.SIGHUP, on_sighup)
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
