"""Composition root: builds every part from the settings (BotParts) and runs them until a signal.

open storage, register feeds
console mode (no token): sender prints to stdout
otherwise: python-telegram-bot Application (commands) + a sender on its Bot
scheduler: one poll tick every 30 s over the feeds that are due, edition jobs per channel
  schedule entry, daily maintenance
at start: poll every feed at once; in console mode, then print an edition per channel
on SIGINT/SIGTERM: stop polling Telegram, stop the scheduler, close storage
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import gc
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TextIO

import httpx
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from telegram import Bot, Update
from telegram.error import Conflict, InvalidToken, NetworkError, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.request import HTTPXRequest

from bot.alerts import AlertRunner
from bot.editions import EditionRunner
from bot.errors import AlreadyRunning, TokenRejected
from bot.fetch import make_http_client
from bot.handlers import COMMANDS, Commands
from bot.jobs import make_scheduler
from bot.metrics import Metrics
from bot.pipeline import utc_now
from bot.publish import ConsoleSender, Pacer, Sender, TelegramSender
from bot.readers import ReaderCommands
from bot.runtime import BotApp, CountingSender
from bot.settings import CurrentSettings, Settings
from bot.storage import Storage
from bot.web import Site, WebServer, make_app

log = logging.getLogger(__name__)
CONCURRENT_UPDATES = 64  # updates handled at once; more wait in PTB's queue


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
        request = HTTPXRequest(proxy=settings.telegram_proxy)  # None: a direct connection
        async with Bot(settings.token, base_url=settings.api_base_url, request=request) as bot:
            yield bot


class BotParts:
    """The one place the bot is assembled: every part from one `CurrentSettings`.

    Each part is built on first use, so a caller builds only what it asks for: the CLI's
    `digest` takes `editions` and builds no scheduler and no Telegram application.

        sender      = the given one | ConsoleSender(stdout) without a token | telegram
        editions    = EditionRunner(settings, storage, CountingSender(sender, metrics))
        alerts      = AlertRunner(settings, storage, CountingSender(sender, metrics))
        app         = BotApp(settings, storage, client, editions, scheduler, metrics, alerts)
        application = python-telegram-bot Application + Commands(…, admin=app)
                      + ReaderCommands(…, alerts); None without a token
    """

    def __init__(
        self,
        settings: Settings,
        storage: Storage,
        client: httpx.AsyncClient,
        *,
        sender: Sender | None = None,
        stdout: TextIO | None = None,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.settings = CurrentSettings(settings)  # a reload swaps it for every part
        self._clock = clock  # tests move time for editions and alerts
        self.storage = storage
        self.client = client
        self._sender = sender
        self._stdout = stdout
        self._env = env

    @cached_property
    def metrics(self) -> Metrics:
        return Metrics()

    @cached_property
    def sender(self) -> Sender:
        """Where editions go: the given sender, else the console without a token, else
        Telegram."""
        if self._sender is not None:
            return self._sender
        if self.settings.value.console_mode:
            return ConsoleSender(self._stdout or sys.stdout)
        return self.telegram

    @cached_property
    def editions(self) -> EditionRunner:
        counted = CountingSender(self.sender, self.metrics)
        return EditionRunner(self.settings, self.storage, counted, self._clock)

    @cached_property
    def alerts(self) -> AlertRunner:
        """Readers' alerts: sent like edition parts, behind them in the pacer."""
        counted = CountingSender(self.sender, self.metrics)
        return AlertRunner(self.settings, self.storage, counted, self._clock)

    @cached_property
    def scheduler(self) -> AsyncIOScheduler:
        return make_scheduler(self.settings.value)

    @cached_property
    def app(self) -> BotApp:
        return BotApp(
            self.settings,
            self.storage,
            self.client,
            self.editions,
            self.scheduler,
            self.metrics,
            self._env,
            self.alerts,
        )

    @cached_property
    def telegram(self) -> TelegramSender:
        """The sender on the application's Bot: one pacer for commands and editions.

        Pacing is ours (publish.Pacer): AIORateLimiter does not space messages to one chat.
        """
        on_429 = self.metrics.retry_after.inc
        return TelegramSender(self._ptb.bot, Pacer(), on_retry_after=on_429)

    @cached_property
    def application(self) -> Application | None:  # type: ignore[type-arg]
        """python-telegram-bot's Application with the command handlers; None without a token."""
        if self.settings.value.console_mode:
            return None
        commands = Commands(self.settings, self.storage, self.telegram, self.app)
        readers = ReaderCommands(self.settings, self.storage, self.telegram, self.alerts)
        add_handlers(self._ptb, commands, readers)
        return self._ptb

    @cached_property
    def _ptb(self) -> Application:  # type: ignore[type-arg]
        """The bare Application. Updates are handled concurrently: one at a time, a user's
        flood of commands would hold every other user's answer behind it."""
        settings = self.settings.value
        assert settings.token is not None
        builder = (
            ApplicationBuilder()
            .token(settings.token)
            .base_url(settings.api_base_url)
            .concurrent_updates(CONCURRENT_UPDATES)
        )
        if settings.telegram_proxy:  # every Bot API call, the long poll included
            builder = builder.proxy(settings.telegram_proxy).get_updates_proxy(
                settings.telegram_proxy
            )
        return builder.build()


def add_handlers(
    application: Application,  # type: ignore[type-arg]
    commands: Commands,
    readers: ReaderCommands,
) -> None:
    """Route updates to the commands; each user's commands pass a limit first."""
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
    async with AsyncExitStack() as stack:
        stack.enter_context(instance_lock(settings.database))
        storage = await stack.enter_async_context(open_storage(settings))
        client = await stack.enter_async_context(make_http_client(proxy=settings.feeds_proxy))
        parts = BotParts(settings, storage, client, stdout=stdout, env=env)
        if parts.application is None:
            log.info("no TELEGRAM_BOT_TOKEN: console mode, editions are printed, not posted")
        else:
            proxied = settings.telegram_proxy is not None
            if not await reach_telegram(parts.application, stop, proxied=proxied):
                return  # stopped while Telegram was out of reach
            stack.push_async_callback(parts.application.shutdown)
            await _start_telegram(stack, parts.application, on_poll_error)
        await _start_serving(stack, parts)
        _reload_on_sighup(loop, parts.app)
        # What start-up made (modules, the Telegram and HTTP libraries: some 80,000 objects)
        # lives as long as the process. Out of the collector's sight, a full collection no
        # longer walks it: one took 16 ms of the interpreter, held by whichever thread
        # triggered it, often an edition's clustering in a worker, while the loop waited.
        gc.freeze()
        first = asyncio.create_task(parts.app.first_poll())
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


def _reload_on_sighup(loop: asyncio.AbstractEventLoop, app: BotApp) -> None:
    """SIGHUP reloads the config. The handler holds the set of reloads in flight: the loop
    keeps only weak references to its tasks."""
    reloads: set[asyncio.Task[None]] = set()

    def on_sighup() -> None:
        task = loop.create_task(_reload(app))
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, on_sighup)


async def reach_telegram(
    application: Application,  # type: ignore[type-arg]
    stop: asyncio.Event,
    *,
    proxied: bool = False,
    first_delay: float = 1.0,
) -> bool:
    """Initialise the application (its first call to Telegram: getMe), waiting for Telegram
    to be reachable; False when `stop` is set first.

    Telegram is blocked on some networks, and a proxy (TELEGRAM_PROXY) may be down: the bot
    says so and tries again with backoff, up to a minute apart, instead of exiting; nothing
    is lost meanwhile, as editions are planned into the outbox only once it runs. A rejected
    token is not a network failure: TokenRejected at once.
    """
    delay = first_delay
    while True:
        try:
            with token_checked():
                await application.initialize()
            return True
        except NetworkError as exc:  # TimedOut included
            via = " through TELEGRAM_PROXY" if proxied else ""
            log.warning("cannot reach Telegram%s: %s; trying again in %.0f s", via, exc, delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        if stop.is_set():
            return False
        delay = min(delay * 2, 60.0)


async def _start_telegram(
    stack: AsyncExitStack,
    application: Application,  # type: ignore[type-arg]
    on_poll_error: Callable[[TelegramError], None],
) -> None:
    """Register the menu, start the (initialised) application and its polling; undone by
    `stack`."""
    await register_commands(application.bot)
    await application.start()
    stack.push_async_callback(application.stop)
    assert application.updater is not None
    with token_checked():
        await application.updater.start_polling(
            drop_pending_updates=False, error_callback=on_poll_error
        )
    stack.push_async_callback(application.updater.stop)


async def _start_serving(stack: AsyncExitStack, parts: BotParts) -> None:
    """Start the scheduler and, if configured, the website with /healthz and /metrics;
    undone by `stack`."""
    parts.app.start_scheduler()
    stack.callback(parts.scheduler.shutdown, wait=False)
    listen = parts.settings.value.http_listen
    if listen:
        site = Site(lambda: parts.settings.value, parts.storage)
        server = WebServer(listen, make_app(site, parts.metrics, parts.app.health))
        await server.start()
        stack.push_async_callback(server.stop)
