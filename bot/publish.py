"""Publish: the only module that sends anything to Telegram (or, in console mode, stdout).

Outbox delivery: parts are sent in order per destination; a part counts as posted only once
Telegram has accepted it and its message id is stored. The window that cannot be closed:
Telegram accepted a message and the process died before `mark_sent` committed; the part is
then sent again on restart. `deliver` keeps that window to one awaited UPDATE.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol, TextIO

from telegram import Bot, LinkPreviewOptions, Message
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

from bot.errors import PublishError
from bot.storage import Storage

log = logging.getLogger(__name__)
CONSOLE_PREFIX = "console:"
MAX_ATTEMPTS = 4
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


class Sender(Protocol):
    async def send(self, chat: str, text: str) -> int | None:
        """Send one message; return its message id. PublishError when it cannot be sent."""


def destination_for(chat: str, *, console: bool) -> str:
    """Outbox key. Console editions are kept apart so a later real run still posts them."""
    return f"{CONSOLE_PREFIX}{chat}" if console else chat


def chat_of(destination: str) -> str:
    return destination.removeprefix(CONSOLE_PREFIX)


class TelegramSender:
    """Sends HTML messages with link previews off; waits out RetryAfter, retries 5xx/timeouts."""

    def __init__(self, bot: Bot, sleep: Callable[[float], object] = asyncio.sleep) -> None:
        self._bot = bot
        self._sleep = sleep

    async def send(self, chat: str, text: str) -> int | None:
        delay = 1.0
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                message = await self._bot.send_message(
                    chat_id=chat,
                    text=text,
                    parse_mode=ParseMode.HTML,
                    link_preview_options=NO_PREVIEW,
                )
                return message.message_id
            except RetryAfter as exc:
                # Telegram says exactly how long to wait; waiting is never a reason to drop.
                wait = exc.retry_after
                seconds = wait if isinstance(wait, int | float) else wait.total_seconds()
                log.warning("send chat=%s retry_after=%ss", chat, seconds)
                await _maybe_await(self._sleep(seconds))
            except (Forbidden, BadRequest, ChatMigrated, InvalidToken) as exc:
                raise PublishError(f"Telegram refused the message: {exc.message}") from exc
            except (NetworkError, TelegramError) as exc:  # TimedOut and 5xx land here
                if attempt == MAX_ATTEMPTS:
                    raise PublishError(f"Telegram unreachable: {exc}") from exc
                log.warning("send chat=%s attempt=%d error=%s", chat, attempt, exc)
                await _maybe_await(self._sleep(delay))
                delay *= 2
        raise PublishError("Telegram kept asking to retry later")


async def _maybe_await(value: object) -> None:
    if asyncio.iscoroutine(value):
        await value


class ConsoleSender:
    """Console mode: print each message as readable text instead of posting it."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    async def send(self, chat: str, text: str) -> int | None:
        rule = "─" * 60
        self._stream.write(f"{rule}\n→ {chat}\n{rule}\n{text}\n\n")
        self._stream.flush()
        return None


async def deliver(
    storage: Storage,
    sender: Sender,
    destinations: Sequence[str],
    clock: Callable[[], datetime],
) -> int:
    """Send every pending part for these destinations, in order; return how many were sent.

    A part Telegram refuses stays pending with its error, and holds back the parts after it
    for that destination only (their order matters); other destinations go on.
    """
    sent = 0
    for destination in destinations:
        for part in await storage.pending_parts(destination):
            try:
                message_id = await sender.send(chat_of(destination), part.text)
            except PublishError as exc:
                log.error("deliver destination=%s part=%d error=%s", destination, part.id, exc)
                await storage.mark_failed(part.id, str(exc))
                break
            await storage.mark_sent(part.id, message_id, clock())
            sent += 1
    return sent


async def reply(message: Message, text: str) -> None:
    """Answer a user's command in their chat (HTML, no link previews)."""
    await message.reply_html(text, link_preview_options=NO_PREVIEW, do_quote=False)
