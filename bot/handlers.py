"""Command handlers: parse the arguments, ask storage, format, reply. Replies in Vietnamese.

The reply builders (`search_reply`, `latest_reply`, `sources_reply`) are shared with the
command line, so `python -m bot search` prints exactly what the bot would answer.
"""

from __future__ import annotations

import logging
from datetime import datetime

from telegram import BotCommand, Update
from telegram.ext import ContextTypes

from bot.format import escape, reply_message
from bot.publish import reply
from bot.settings import Settings
from bot.storage import Storage
from bot.vietnamese import fold, words

log = logging.getLogger(__name__)

SEARCH_RESULTS = 5
MAX_QUERY_TERMS = 8
MAX_TERM_CHARS = 40
LATEST_DEFAULT, LATEST_MAX = 5, 10

COMMANDS = (
    BotCommand("search", "Tìm bài theo từ khoá, ví dụ: /search bão Yagi"),
    BotCommand("latest", "Tin mới nhất (tối đa 10): /latest 5"),
    BotCommand("sources", "Các nguồn tin đang theo dõi"),
    BotCommand("help", "Hướng dẫn sử dụng"),
)
HELP = (
    "<b>Bản tin</b> gom tin từ các báo Việt Nam và gửi bản tin tóm tắt.\n\n"
    "/search &lt;từ khoá&gt; (hoặc /tim): tìm bài, gõ có dấu hay không dấu đều được, "
    "ví dụ <code>/search ha noi</code>\n"
    "/latest [số bài] (hoặc /moi): tin mới nhất\n"
    "/sources (hoặc /nguon): các nguồn tin\n"
    "/help: hướng dẫn này"
)
SEARCH_USAGE = (
    "Hãy gõ từ khoá sau lệnh, ví dụ: <code>/search giá vàng</code> hoặc "
    "<code>/tim da nang</code> (không cần gõ dấu)."
)


def _shown_query(query: str) -> str:
    query = " ".join(query.split())
    return escape(query if len(query) <= 60 else query[:59] + "…")


def search_terms(query: str) -> list[str]:
    """Folded words of a query: what the index holds. Never FTS syntax, however it was typed."""
    return [term[:MAX_TERM_CHARS] for term in words(fold(query))][:MAX_QUERY_TERMS]


async def search_reply(storage: Storage, settings: Settings, query: str) -> str:
    """The reply to `/search query`, as Telegram HTML."""
    if not query.strip():
        return SEARCH_USAGE
    terms = search_terms(query)
    if not terms:
        return "Từ khoá cần có chữ hoặc số. " + SEARCH_USAGE
    hits = await storage.search(terms, limit=SEARCH_RESULTS)
    if not hits:
        return (
            f"Không tìm thấy bài nào cho «{_shown_query(query)}». "
            "Thử bớt một từ hoặc dùng từ khoá khác."
        )
    heading = f"Kết quả cho «{' '.join(query.split())[:60]}»"
    return reply_message(heading, hits, _outlets(settings), settings.timezone)


async def latest_reply(storage: Storage, settings: Settings, argument: str | None) -> str:
    """The reply to `/latest [n]`."""
    count = LATEST_DEFAULT
    if argument:
        if not argument.isdigit() or not 1 <= int(argument) <= LATEST_MAX:
            return f"Số bài phải từ 1 đến {LATEST_MAX}, ví dụ: <code>/latest 5</code>."
        count = int(argument)
    articles = await storage.latest(count)
    if not articles:
        return "Chưa có bài nào. Bản tin đang lấy tin, hãy thử lại sau ít phút."
    return reply_message("Tin mới nhất", articles, _outlets(settings), settings.timezone)


async def sources_reply(storage: Storage, settings: Settings) -> str:
    """The reply to `/sources`: every configured feed with its state."""
    states = await storage.feed_states()
    lines = ["<b>Nguồn tin</b>"]
    for feed in settings.feeds:
        state = states.get(feed.id)
        category = f" · {escape(feed.category)}" if feed.category else ""
        count = state.article_count if state else 0
        status = ""
        if state and state.last_error:
            status = " · ⚠️ đang lỗi"
        elif state and state.last_success_at:
            status = f" · cập nhật {_local(state.last_success_at, settings):%H:%M %d/%m}"
        lines.append(f"• {escape(feed.name)}{category} · {count} bài{status}")
    return "\n".join(lines)


def _local(moment: datetime, settings: Settings) -> datetime:
    return moment.astimezone(settings.timezone)


def _outlets(settings: Settings) -> dict[str, str]:
    return {feed.id: feed.name for feed in settings.feeds}


class Commands:
    """The bot's command handlers, bound to the settings and storage they answer from."""

    def __init__(self, settings: Settings, storage: Storage) -> None:
        self.settings = settings
        self.storage = storage

    async def start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Greet the user and explain the commands."""
        if update.effective_message:
            await reply(update.effective_message, "Xin chào! " + HELP)

    async def help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Explain the commands."""
        if update.effective_message:
            await reply(update.effective_message, HELP)

    async def search(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Search the cached articles."""
        if update.effective_message:
            query = " ".join(context.args or [])
            await reply(
                update.effective_message, await search_reply(self.storage, self.settings, query)
            )

    async def latest(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Show the newest articles."""
        if update.effective_message:
            argument = context.args[0] if context.args else None
            text = await latest_reply(self.storage, self.settings, argument)
            await reply(update.effective_message, text)

    async def sources(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """List the feeds."""
        if update.effective_message:
            await reply(update.effective_message, await sources_reply(self.storage, self.settings))

    async def unknown(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Answer a command the bot does not know."""
        if update.effective_message:
            await reply(update.effective_message, "Lệnh này không có. Gõ /help để xem các lệnh.")

    async def error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log the error first, then tell the user something went wrong."""
        log.error("handler failed", exc_info=context.error)
        if isinstance(update, Update) and update.effective_message:
            text = "Xin lỗi, đã có lỗi khi xử lý yêu cầu. Vui lòng thử lại sau."
            try:
                await reply(update.effective_message, text)
            except Exception:  # the reply is a courtesy; the error is already logged
                log.warning("could not tell the user about the error", exc_info=True)


__all__ = ["COMMANDS", "Commands", "latest_reply", "search_reply", "sources_reply"]
