"""Publish: the only module that sends anything to Telegram (or, in console mode, stdout).

Senders turn one message into one Bot API call. They are paced below Telegram's flood
limits, wait out RetryAfter for as long as Telegram asks (a message is never dropped for
it), and retry 5xx answers and timeouts with backoff. Refusals come back as the
PublishError subclasses the outbox acts on. What to send, and recording what was sent, is
the outbox's business (`editions.deliver`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol, TextIO, TypeVar

from aiolimiter import AsyncLimiter
from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter
from telegram import Bot, CallbackQuery, InlineKeyboardMarkup, LinkPreviewOptions, Message
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bot.errors import ChatForbidden, ChatMoved, MessageRejected, PublishError

log = logging.getLogger(__name__)
CONSOLE_PREFIX = "console:"
MAX_ATTEMPTS = 5  # for 5xx and timeouts; RetryAfter is waited out however often it comes
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


class Sender(Protocol):
    async def send(
        self,
        chat: str,
        text: str,
        preview_url: str | None = None,
        *,
        thread: int | None = None,
        alert: bool = False,
    ) -> int | None:
        """Send one HTML message; return its message id. PublishError when it cannot.

        With `preview_url`, that link's preview is shown large above the text; otherwise
        no link preview at all. `thread`: the forum topic of a group to post into.
        `alert`: a reader's alert, which waits behind edition parts (see Pacer)."""

    async def send_plain(
        self, chat: str, text: str, *, thread: int | None = None, alert: bool = False
    ) -> int | None:
        """Send one message as plain text (no parse mode)."""


def destination_for(chat: str, *, console: bool) -> str:
    """Outbox key. Console editions are kept apart so a later real run still posts them."""
    return f"{CONSOLE_PREFIX}{chat}" if console else chat


def chat_of(destination: str) -> str:
    return destination.removeprefix(CONSOLE_PREFIX)


def is_group(chat: str) -> bool:
    """Channels (@name, -100…) and groups (negative ids) have the per-minute limit."""
    return chat.startswith(("@", "-"))


@dataclass(frozen=True)
class Limits:
    """Telegram's flood limits, from the Bot FAQ ("My bot is hitting limits")."""

    per_chat_per_second: int = 1
    per_group_per_minute: int = 20
    # 30 a second in all, spaced evenly; a little under, as requests arrive with jitter.
    overall_per_second: float = 29.0


@dataclass
class _Lane:
    """One chat's queue: its messages go out one at a time, in order."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0  # messages waiting in it or being let through


class Pacer:
    """Waits until one more message to `chat` stays within every limit, fairly.

    Per chat and per group: moving windows (`limits`), since Telegram counts messages in a
    window and a channel may take a few in a row. A message enters them when its call
    ends, not when it is let through: Telegram counts it when it arrives, and a slow
    request followed by a quick one would arrive less than a second apart (a 429).
    Overall: evenly spaced (`aiolimiter` with room for one), since a burst of 30 at once is
    what floods.

    Fairness, so that no one chat can hold back another:
    - Each chat has its own lane (a FIFO lock): only the oldest message of a chat competes
      for the overall rate, and only once its own windows allow it. A user who asks for
      50 replies queues behind themself, not in front of everyone.
    - The lanes' heads take overall slots in turn (round-robin by arrival), replies to
      users ahead of edition parts, but editions keep EDITION_SHARE of the slots while
      they wait: a flood of replies slows an edition down by a fraction, never stops it.
    - Readers' alerts take only the slots no edition part waits for: thousands of alerts
      queued at once never hold an edition back (bench/alert_delivery.py measures it).
    """

    # One slot in three goes to an edition part whenever one waits (~10 a second).
    EDITION_SHARE = 3

    def __init__(self, limits: Limits | None = None) -> None:
        limits = limits or Limits()
        self._per_chat = RateLimitItemPerSecond(limits.per_chat_per_second)
        self._per_group = RateLimitItemPerMinute(limits.per_group_per_minute)
        self._overall = AsyncLimiter(1, 1 / limits.overall_per_second)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._lanes: dict[str, _Lane] = {}
        # Lane heads waiting for an overall slot: replies, edition parts, readers' alerts.
        self._queues: tuple[deque[asyncio.Future[None]], ...] = (deque(), deque(), deque())
        self._replies_in_a_row = 0
        self._granter: asyncio.Task[None] | None = None

    @asynccontextmanager
    async def turn(
        self, chat: str, *, interactive: bool = False, alert: bool = False
    ) -> AsyncIterator[None]:
        """`async with pacer.turn(chat): <send>`: the chat's turn, held until the call ends.

        The chat's next message waits in its lane meanwhile, and its windows count this one
        from the end of the call (answered, refused or timed out: it may have arrived)."""
        items: list[tuple[RateLimitItem, str]] = [(self._per_chat, chat)]
        if is_group(chat):
            items.append((self._per_group, chat))
        lane = self._lanes.setdefault(chat, _Lane())
        lane.users += 1
        try:
            async with lane.lock:
                await self._until_room(items)
                await self._slot(0 if interactive else 2 if alert else 1)
                try:
                    yield
                finally:
                    for item, key in items:
                        await self._limiter.hit(item, key)
        finally:
            lane.users -= 1
            if not lane.users:
                del self._lanes[chat]  # idle chats cost nothing

    async def wait(self, chat: str, *, interactive: bool = False, alert: bool = False) -> None:
        """The chat's turn for a call made right after, counted from now."""
        async with self.turn(chat, interactive=interactive, alert=alert):
            pass

    async def _until_room(self, items: list[tuple[RateLimitItem, str]]) -> None:
        while True:
            delay = await self._blocked_for(items)
            if delay is None:
                return
            await asyncio.sleep(delay)

    async def _blocked_for(self, items: list[tuple[RateLimitItem, str]]) -> float | None:
        """None when every window has room for one more message, else seconds to wait.

        Only the lane's head asks, so nothing else can take the room before it is used."""
        blocked = [(i, k) for i, k in items if not await self._limiter.test(i, k)]
        if not blocked:
            return None
        resets = [(await self._limiter.get_window_stats(i, k)).reset_time for i, k in blocked]
        return max(0.01, max(resets) - time.time())

    async def _slot(self, queue: int) -> None:
        """Wait for this message's turn at the overall rate."""
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queues[queue].append(turn)
        if self._granter is None or self._granter.done():
            self._granter = asyncio.create_task(self._grant())
        try:
            await turn
        except asyncio.CancelledError:
            turn.cancel()  # the granter skips it
            raise

    async def _grant(self) -> None:
        """Hand out overall slots, evenly spaced, while anyone waits for one."""
        while any(self._queues):
            await self._overall.acquire()
            turn = self._next_turn()
            if turn is not None:
                turn.set_result(None)

    def _next_turn(self) -> asyncio.Future[None] | None:
        replies, editions, alerts = (self._live(q) for q in self._queues)
        background = editions or alerts
        edition_due = self._replies_in_a_row >= self.EDITION_SHARE - 1
        if replies and not (background and edition_due):
            self._replies_in_a_row += 1
            return replies.popleft()
        self._replies_in_a_row = 0
        if editions:  # edition parts first whenever both wait
            return editions.popleft()
        return alerts.popleft() if alerts else None

    @staticmethod
    def _live(queue: deque[asyncio.Future[None]]) -> deque[asyncio.Future[None]]:
        while queue and queue[0].done():  # cancelled while waiting
            queue.popleft()
        return queue


class TelegramSender:
    """Sends HTML messages with link previews off, paced, retrying what is worth retrying."""

    def __init__(
        self,
        bot: Bot,
        pacer: Pacer | None = None,
        sleep: Sleep = asyncio.sleep,
        on_retry_after: Callable[[], None] | None = None,
    ) -> None:
        self.bot = bot
        self.pacer = pacer or Pacer()
        self._sleep = sleep
        self._on_retry_after = on_retry_after

    async def send(
        self,
        chat: str,
        text: str,
        preview_url: str | None = None,
        *,
        thread: int | None = None,
        alert: bool = False,
    ) -> int | None:
        preview = NO_PREVIEW
        if preview_url:
            preview = LinkPreviewOptions(
                url=preview_url, prefer_large_media=True, show_above_text=True
            )

        async def call() -> Message:
            async with self.pacer.turn(chat, alert=alert):
                return await self.bot.send_message(
                    chat_id=chat,
                    text=text,
                    parse_mode=ParseMode.HTML,
                    link_preview_options=preview,
                    message_thread_id=thread,
                )

        return (await self._with_retries(chat, call)).message_id

    async def send_plain(
        self, chat: str, text: str, *, thread: int | None = None, alert: bool = False
    ) -> int | None:
        """Plain text, no parse mode: the fallback for a text Telegram cannot parse."""

        async def call() -> Message:
            async with self.pacer.turn(chat, alert=alert):
                return await self.bot.send_message(
                    chat_id=chat,
                    text=text,
                    link_preview_options=NO_PREVIEW,
                    message_thread_id=thread,
                )

        return (await self._with_retries(chat, call)).message_id

    async def _with_retries(self, chat: str, call: Callable[[], Awaitable[T]]) -> T:
        delay = 1.0
        attempt = 0
        while True:
            try:
                return await call()
            except RetryAfter as exc:
                # Telegram says exactly how long to wait; waiting is never a reason to drop.
                wait = exc.retry_after
                seconds = wait if isinstance(wait, int | float) else wait.total_seconds()
                log.warning("send chat=%s retry_after=%ss", chat, seconds)
                if self._on_retry_after:
                    self._on_retry_after()
                await self._sleep(float(seconds))
            except ChatMigrated as exc:
                raise ChatMoved(str(exc.new_chat_id)) from exc
            except Forbidden as exc:
                raise ChatForbidden(f"Telegram refused: {exc.message}") from exc
            except BadRequest as exc:
                message = exc.message.lower()
                if "parse entities" in message or "too long" in message or "empty" in message:
                    raise MessageRejected(f"Telegram refused the text: {exc.message}") from exc
                raise PublishError(f"Telegram refused the message: {exc.message}") from exc
            except InvalidToken as exc:
                raise PublishError("Telegram refused the bot token") from exc
            except (NetworkError, TelegramError) as exc:  # TimedOut and 5xx land here
                attempt += 1
                if attempt >= MAX_ATTEMPTS:
                    raise PublishError(f"Telegram unreachable: {exc}") from exc
                log.warning("send chat=%s attempt=%d error=%s", chat, attempt, exc)
                await self._sleep(delay)
                delay = min(delay * 2, 30.0)

    # --- replies to users: paced ahead of digests, each user in their own lane ------------

    async def reply(
        self, message: Message, text: str, keyboard: InlineKeyboardMarkup | None = None
    ) -> None:
        """Answer a user's command in their chat (HTML, no link previews)."""
        chat = str(message.chat_id)

        async def call() -> Message:
            async with self.pacer.turn(chat, interactive=True):
                return await message.reply_html(
                    text, link_preview_options=NO_PREVIEW, do_quote=False, reply_markup=keyboard
                )

        await self._with_retries(chat, call)

    async def edit(
        self, callback: CallbackQuery, text: str, keyboard: InlineKeyboardMarkup | None = None
    ) -> None:
        """Replace the message a button sits under (a page of results)."""
        if callback.message is not None:
            await self.pacer.wait(str(callback.message.chat.id), interactive=True)
        try:
            await callback.edit_message_text(
                text,
                parse_mode=ParseMode.HTML,
                link_preview_options=NO_PREVIEW,
                reply_markup=keyboard,
            )
        except BadRequest as exc:
            if "not modified" not in exc.message.lower():  # a double tap: nothing to change
                raise

    async def is_admin(self, chat: str, user_id: int) -> bool:
        """Whether the user administers the group (only admins change a group's topics)."""
        try:
            member = await self.bot.get_chat_member(chat, user_id)
        except TelegramError as exc:
            log.warning("getChatMember chat=%s failed: %s", chat, exc)
            return False
        return member.status in ("administrator", "creator")

    async def answer(self, callback: CallbackQuery, text: str | None = None) -> None:
        """Acknowledge a button press (Telegram shows a spinner until then)."""
        await callback.answer(text, show_alert=bool(text))


class ConsoleSender:
    """Console mode: print each message as readable text instead of posting it."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    async def send(
        self,
        chat: str,
        text: str,
        preview_url: str | None = None,
        *,
        thread: int | None = None,
        alert: bool = False,
    ) -> int | None:
        rule = "─" * 60
        where = f"{chat} (topic {thread})" if thread is not None else chat
        self._stream.write(f"{rule}\n→ {where}\n{rule}\n{text}\n\n")
        self._stream.flush()
        return None

    async def send_plain(
        self, chat: str, text: str, *, thread: int | None = None, alert: bool = False
    ) -> int | None:
        return await self.send(chat, text, thread=thread)
