"""Publish: the only module that sends anything to Telegram (or, in console mode, stdout).

Senders turn one message into one Bot API call, waiting out flood limits and retrying
transient failures; what to send, and recording what was sent, is the outbox's business
(`editions.deliver`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol, TextIO

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

from bot.errors import PublishError

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


async def reply(message: Message, text: str, keyboard: InlineKeyboardMarkup | None = None) -> None:
    """Answer a user's command in their chat (HTML, no link previews)."""
    await message.reply_html(
        text, link_preview_options=NO_PREVIEW, do_quote=False, reply_markup=keyboard
    )


async def edit(
    callback: CallbackQuery, text: str, keyboard: InlineKeyboardMarkup | None = None
) -> None:
    """Replace the message a button sits under (a page of results)."""
    try:
        await callback.edit_message_text(
            text, parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW, reply_markup=keyboard
        )
    except BadRequest as exc:
        if "not modified" not in exc.message.lower():  # a double tap: nothing to change
            raise


async def answer(callback: CallbackQuery, text: str | None = None) -> None:
    """Acknowledge a button press (Telegram shows a spinner until then)."""
    await callback.answer(text, show_alert=bool(text))
