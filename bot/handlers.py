"""Command handlers: parse the arguments, ask storage, format, reply. Replies in Vietnamese.

The reply builders (`search_reply`, `latest_reply`, `sources_reply`) are shared with the
command line, so `python -m bot search` prints exactly what the bot would answer.
"""

from __future__ import annotations

import enum
import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter
from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot.errors import SearchTooSlow
from bot.format import escape, reply_message, search_page_message
from bot.models import Edition, PollOutcome, PollResult
from bot.publish import TelegramSender
from bot.query import MAX_TERMS, SearchQuery, parse_query
from bot.settings import CurrentSettings, Settings
from bot.storage import Storage

log = logging.getLogger(__name__)

SEARCH_RESULTS = 5
SEARCH_BUDGET = 0.08  # seconds of SQLite time per search reply, hints included
TOO_SLOW = "Từ khoá này tốn quá nhiều thời gian để tìm. Hãy thử ít từ hơn hoặc từ khoá cụ thể hơn."
LATEST_DEFAULT, LATEST_MAX = 5, 10

COMMANDS = (
    BotCommand("search", "Tìm bài theo từ khoá, ví dụ: /search bão Yagi"),
    BotCommand("latest", "Tin mới nhất (tối đa 10): /latest 5"),
    BotCommand("sources", "Các nguồn tin đang theo dõi"),
    BotCommand("theodoi", "Theo dõi một chủ đề, nhận tin ngay: /theodoi bão Yagi"),
    BotCommand("botheodoi", "Thôi theo dõi một chủ đề"),
    BotCommand("lich", "Nhận tin theo dõi ngay, hoặc gom vào giờ đã chọn"),
    BotCommand("yenlang", "Giờ yên lặng, ví dụ /yenlang 22:00-06:30"),
    BotCommand("xoadulieu", "Xoá mọi dữ liệu của bạn"),
    BotCommand("help", "Hướng dẫn sử dụng"),
)
HELP = (
    "<b>Bản tin</b> gom tin từ các báo Việt Nam và gửi bản tin tóm tắt.\n\n"
    "/search &lt;từ khoá&gt; (hoặc /tim): tìm bài, gõ có dấu hay không dấu đều được, "
    "ví dụ <code>/search ha noi</code>. Cụm từ trong ngoặc kép: "
    '<code>/search "giá vàng"</code>; bỏ một từ: <code>-bão</code>; '
    "chỉ một nguồn: <code>nguon:vnexpress</code>\n"
    "/latest [số bài] (hoặc /moi): tin mới nhất\n"
    "/sources (hoặc /nguon): các nguồn tin\n"
    "/help: hướng dẫn này"
)
SEARCH_USAGE = (
    "Hãy gõ từ khoá sau lệnh, ví dụ: <code>/search giá vàng</code> hoặc "
    "<code>/tim da nang</code> (không cần gõ dấu)."
)


COMMANDS_PER_MINUTE = 10
SLOW_DOWN = "Bạn gửi nhanh quá, vui lòng chậm lại một chút."


class Verdict(enum.Enum):
    ANSWER = "answer"
    SLOW_DOWN = "slow down"  # the first command over the limit: say so, once
    IGNORE = "ignore"  # the rest, until the window has room again


class CommandLimit:
    """How many commands (and button presses) each user may send: a moving window a minute.

    Past the limit a user is told to slow down once a minute, and otherwise not answered:
    answering every extra command would spend the bot's sending rate on the flood. Kept in
    memory (`limits`): a restart forgets it, which only gives a flooding user a fresh minute.
    """

    def __init__(self, per_minute: int = COMMANDS_PER_MINUTE) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._commands = RateLimitItemPerMinute(per_minute)
        self._warnings = RateLimitItemPerMinute(1)

    async def check(self, user_id: int) -> Verdict:
        if await self._limiter.hit(self._commands, "command", str(user_id)):
            return Verdict.ANSWER
        if await self._limiter.hit(self._warnings, "warning", str(user_id)):
            return Verdict.SLOW_DOWN
        return Verdict.IGNORE


def _asks_for_answer(update: Update) -> bool:
    """A command or a button press: what the bot answers, so what the limit counts."""
    if update.callback_query is not None:
        return True
    message = update.effective_message
    return bool(message and message.text and message.text.startswith("/"))


def _shown_query(query: str) -> str:
    query = " ".join(query.split())
    return escape(query if len(query) <= 60 else query[:59] + "…")


@dataclass(frozen=True)
class SearchPage:
    """One page of a search reply: its HTML and whether there are pages around it."""

    text: str
    page: int = 0
    has_previous: bool = False
    has_next: bool = False


async def search_reply(
    storage: Storage, settings: Settings, text: str, page: int = 0
) -> SearchPage:
    """The reply to `/search text` (page 0) or to a page button, as Telegram HTML."""
    if not text.strip():
        return SearchPage(SEARCH_USAGE)
    query = parse_query(text)
    unknown = [s for s in query.sources if s not in {f.id for f in settings.feeds}]
    if unknown:
        known = ", ".join(f.id for f in settings.feeds)
        return SearchPage(f"Không có nguồn «{escape(unknown[0])}». Các nguồn: {escape(known)}.")
    if not query.searchable:
        return SearchPage("Từ khoá cần có chữ hoặc số. " + SEARCH_USAGE)
    # One budget for the whole reply, the no-results hints included.
    deadline = time.monotonic() + SEARCH_BUDGET
    try:
        hits = await storage.search(
            query, limit=SEARCH_RESULTS + 1, offset=page * SEARCH_RESULTS, deadline=deadline
        )
    except SearchTooSlow:
        log.info("search stopped at its deadline terms=%d", len(query.include))
        return SearchPage(_note(query, TOO_SLOW))
    if not hits:
        return SearchPage(_note(query, await _no_results(storage, query, page, deadline)))
    shown = hits[:SEARCH_RESULTS]
    first = page * SEARCH_RESULTS + 1
    heading = f"Kết quả {first}–{first + len(shown) - 1} cho «{' '.join(text.split())[:60]}»"
    message = search_page_message(
        heading, shown, _outlets(settings), settings.timezone, query.highlight_words
    )
    return SearchPage(_note(query, message), page, page > 0, len(hits) > SEARCH_RESULTS)


def _note(query: SearchQuery, message: str) -> str:
    """Say so when part of the query was left out (too many words, or too long)."""
    if not query.dropped:
        return message
    return f"{message}\n\n<i>Chỉ tìm theo {MAX_TERMS} từ hoặc cụm từ đầu tiên.</i>"


async def _no_results(storage: Storage, query: SearchQuery, page: int, deadline: float) -> str:
    if page > 0:
        return "Không còn kết quả nào nữa."
    message = f"Không tìm thấy bài nào cho «{_shown_query(query.text)}»."
    if len(query.include) > 1:
        # People often have one word wrong: name the word whose removal finds something,
        # as long as the reply's budget lasts.
        try:
            for term in query.include:
                if await storage.search(query.without(term), limit=1, deadline=deadline):
                    word = " ".join(term.key)
                    return f"{message} Thử bỏ từ «{escape(word)}»."
        except SearchTooSlow:
            pass
    return f"{message} Thử bớt một từ hoặc dùng từ khoá khác."


async def latest_reply(storage: Storage, settings: Settings, argument: str | None) -> str:
    """The reply to `/latest [n]`."""
    count = LATEST_DEFAULT
    if argument:
        if not _COUNT.fullmatch(argument) or not 1 <= int(argument) <= LATEST_MAX:
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
        count = (state.article_count or 0) if state else 0
        status = ""
        if state and state.last_error:
            status = " · ⚠️ đang lỗi"
        elif state and state.last_success_at:
            status = f" · cập nhật {_local(state.last_success_at, settings):%H:%M %d/%m}"
        lines.append(f"• {escape(feed.name)}{category} · {count} bài{status}")
    return "\n".join(lines)


async def status_reply(storage: Storage, settings: Settings, started_at: datetime) -> str:
    """The reply to /status (admins only): feeds, channels, the database."""
    now = datetime.now(UTC)
    uptime = now - started_at
    size = storage.path.stat().st_size if storage.path.exists() else 0
    lines = [
        "<b>Trạng thái Bản tin</b>",
        f"Chạy từ {_local(started_at, settings):%H:%M %d/%m/%Y} "
        f"({uptime.days} ngày {uptime.seconds // 3600} giờ) · "
        f"{await storage.article_count()} bài · CSDL {size / 1_048_576:.1f} MB",
        "",
        "<b>Nguồn</b>",
    ]
    states = await storage.feed_states()
    for feed in settings.feeds:
        state = states.get(feed.id)
        if state is None or state.last_polled_at is None:
            lines.append(f"• {escape(feed.id)}: chưa lấy tin")
        elif state.last_error:
            lines.append(
                f"• {escape(feed.id)}: ⚠️ {escape(state.last_error)} "
                f"({state.consecutive_failures} lần liên tiếp)"
            )
        else:
            when = _local(state.last_success_at or state.last_polled_at, settings)
            lines.append(
                f"• {escape(feed.id)}: ✅ {when:%H:%M %d/%m} · {state.article_count or 0} bài"
            )
        if state and state.next_check_at:
            lines[-1] += f" · lần tới {_local(state.next_check_at, settings):%H:%M}"
    midnight = datetime.combine(now.astimezone(settings.timezone).date(), datetime.min.time())
    readers, topics, alerts = await storage.reader_counts(
        midnight.replace(tzinfo=settings.timezone)
    )
    lines += ["", f"<b>Người theo dõi</b>: {readers} · {topics} chủ đề · {alerts} tin hôm nay"]
    lines += ["", "<b>Kênh</b>"]
    channels = await storage.channel_states()
    for channel in settings.channels:
        known = channels.get(channel.chat)
        last = await storage.last_edition_at(channel.chat)
        shown = f"bản tin cuối {_local(last, settings):%H:%M %d/%m}" if last else "chưa có bản tin"
        pending = known.pending_parts if known else 0
        if known and not known.active:
            health = f"⛔ ngừng đăng: {escape(known.inactive_reason or '')}"
        else:
            health = "✅ đang hoạt động"
        moved = f" (nay là {escape(known.current_chat)})" if known and known.current_chat else ""
        lines.append(
            f"• {escape(channel.chat)}{moved}: {health} · {shown} · chờ gửi {pending} phần"
        )
    return "\n".join(lines)


def _local(moment: datetime, settings: Settings) -> datetime:
    return moment.astimezone(settings.timezone)


def _outlets(settings: Settings) -> dict[str, str]:
    return {feed.id: feed.name for feed in settings.feeds}


PAGE_PREFIX = "s"
MAX_PAGE = 200  # 1,000 results: past that, refine the query


def _pager(search_id: int | None, result: SearchPage) -> InlineKeyboardMarkup | None:
    """ "‹ Trước" / "Sau ›" buttons; the saved search's id keeps them working after restarts."""
    if search_id is None or not (result.has_previous or result.has_next):
        return None
    buttons = []
    if result.has_previous:
        data = f"{PAGE_PREFIX}:{search_id}:{result.page - 1}"
        buttons.append(InlineKeyboardButton("‹ Trước", callback_data=data))
    if result.has_next:
        data = f"{PAGE_PREFIX}:{search_id}:{result.page + 1}"
        buttons.append(InlineKeyboardButton("Sau ›", callback_data=data))
    return InlineKeyboardMarkup([buttons])


# ASCII digits only: str.isdigit() also takes "²", which int() refuses; an id longer than
# SQLite's 64-bit integers would fail in the query.
_PAGE_DATA = re.compile(rf"{PAGE_PREFIX}:([0-9]{{1,18}}):([0-9]{{1,4}})")
_COUNT = re.compile(r"[0-9]{1,3}")


def _parse_page(data: str) -> tuple[int | None, int]:
    """(saved search id, page) from a button's data; (None, 0) for anything else."""
    match = _PAGE_DATA.fullmatch(data)
    if match is None:
        return None, 0
    return int(match.group(1)), min(int(match.group(2)), MAX_PAGE)


class AdminActions(Protocol):
    """What admin commands ask of the running bot (bot.runtime.BotApp)."""

    async def poll_now(self) -> list[PollResult]: ...

    async def preview(self, chat: str) -> Edition | None: ...

    async def reload(self) -> tuple[bool, str]: ...


def poll_report(results: list[PollResult]) -> str:
    new = sum(r.new_articles for r in results)
    failed = [r for r in results if r.outcome is PollOutcome.ERROR]
    lines = [f"Đã lấy tin từ {len(results)} nguồn: {new} bài mới, {len(failed)} nguồn lỗi."]
    lines += [f"• {escape(r.feed_id)}: {escape(r.error or '')}" for r in failed]
    return "\n".join(lines)


class Commands:
    """The bot's command handlers, bound to the settings and storage they answer from."""

    def __init__(
        self,
        settings: CurrentSettings,
        storage: Storage,
        telegram: TelegramSender,
        admin: AdminActions,
    ) -> None:
        self._current = settings
        self.storage = storage
        self.telegram = telegram
        self.admin = admin
        self.started_at = datetime.now(UTC)
        self.limit = CommandLimit()

    @property
    def settings(self) -> Settings:
        """The settings in force now: a reloaded config takes effect for the next command."""
        return self._current.value

    async def throttle(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Runs before every handler: a user over the command limit gets no answer."""
        user = update.effective_user
        if user is None or user.id in self.settings.admins or not _asks_for_answer(update):
            return
        verdict = await self.limit.check(user.id)
        if verdict is Verdict.ANSWER:
            return
        if verdict is Verdict.SLOW_DOWN:
            log.info("command limit user=%s", user.id)
            if update.callback_query is not None:
                await self.telegram.answer(update.callback_query, SLOW_DOWN)
            elif update.effective_message is not None:
                await self.telegram.reply(update.effective_message, SLOW_DOWN)
        elif update.callback_query is not None:
            await self.telegram.answer(update.callback_query)  # stop the button's spinner
        raise ApplicationHandlerStop

    async def _admin_message(self, update: Update) -> Message | None:
        """The message, if an admin sent it; others get a polite refusal and nothing else."""
        message, user = update.effective_message, update.effective_user
        if not message:
            return None
        if user is None or user.id not in self.settings.admins:
            await self.telegram.reply(message, "Lệnh này chỉ dành cho quản trị viên của bot.")
            return None
        return message

    async def poll(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Poll every feed now and report (admins only)."""
        message = await self._admin_message(update)
        if message:
            await self.telegram.reply(message, "Đang lấy tin…")
            await self.telegram.reply(message, poll_report(await self.admin.poll_now()))

    async def preview(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Send an admin the next edition of a channel, privately; nothing is recorded."""
        message = await self._admin_message(update)
        if not message:
            return
        chats = ", ".join(c.chat for c in self.settings.channels) or "chưa có kênh nào"
        chat = context.args[0] if context.args else ""
        edition = await self.admin.preview(chat) if chat else None
        if edition is None:
            await self.telegram.reply(
                message, f"Dùng: /preview &lt;kênh&gt;. Các kênh: {escape(chats)}"
            )
        elif not edition.parts:
            await self.telegram.reply(message, f"Chưa có tin mới cho {escape(chat)}.")
        else:
            for part in edition.parts:
                await self.telegram.reply(message, part.text)

    async def reload(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Reload the config file (admins only); an invalid one is reported, not applied."""
        message = await self._admin_message(update)
        if message:
            _, report = await self.admin.reload()
            await self.telegram.reply(message, escape(report))

    async def start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Greet the user and explain the commands."""
        if update.effective_message:
            await self.telegram.reply(update.effective_message, "Xin chào! " + HELP)

    async def help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Explain the commands."""
        if update.effective_message:
            await self.telegram.reply(update.effective_message, HELP)

    async def search(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Search the cached articles; results come a page at a time."""
        message = update.effective_message
        if not message:
            return
        text = " ".join(context.args or [])
        result = await search_reply(self.storage, self.settings, text)
        search_id = None
        if result.has_next:
            chat = str(message.chat_id)
            search_id = await self.storage.save_search(text, datetime.now(UTC), chat)
        await self.telegram.reply(message, result.text, _pager(search_id, result))

    async def search_page(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Turn a page of search results (a "‹ Trước" / "Sau ›" button)."""
        callback = update.callback_query
        if callback is None or not callback.data:
            return
        search_id, page = _parse_page(callback.data)
        # The saved search must belong to the chat the button was pressed in.
        chat = str(callback.message.chat.id) if callback.message else None
        text = None
        if search_id is not None and chat is not None:
            text = await self.storage.saved_search(search_id, chat)
        if text is None:
            await self.telegram.answer(callback, "Tìm kiếm này đã hết hạn. Hãy gõ /search lại nhé.")
            return
        result = await search_reply(self.storage, self.settings, text, page)
        await self.telegram.answer(callback)
        await self.telegram.edit(callback, result.text, _pager(search_id, result))

    async def latest(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Show the newest articles."""
        if update.effective_message:
            argument = context.args[0] if context.args else None
            text = await latest_reply(self.storage, self.settings, argument)
            await self.telegram.reply(update.effective_message, text)

    async def sources(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """List the feeds."""
        if update.effective_message:
            await self.telegram.reply(
                update.effective_message, await sources_reply(self.storage, self.settings)
            )

    async def status(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Show feeds, channels and the database (admins only)."""
        message = await self._admin_message(update)
        if not message:
            return
        text = await status_reply(self.storage, self.settings, self.started_at)
        await self.telegram.reply(message, text)

    async def unknown(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Answer a command the bot does not know."""
        if update.effective_message:
            await self.telegram.reply(
                update.effective_message, "Lệnh này không có. Gõ /help để xem các lệnh."
            )

    async def error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log the error first, then tell the user something went wrong."""
        log.error("handler failed", exc_info=context.error)
        if isinstance(update, Update) and update.effective_message:
            text = "Xin lỗi, đã có lỗi khi xử lý yêu cầu. Vui lòng thử lại sau."
            try:
                await self.telegram.reply(update.effective_message, text)
            except Exception:  # the reply is a courtesy; the error is already logged
                log.warning("could not tell the user about the error", exc_info=True)


__all__ = ["COMMANDS", "Commands", "latest_reply", "search_reply", "sources_reply"]
