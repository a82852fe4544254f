"""Readers' commands: follow topics, choose how alerts arrive, forget everything. Vietnamese.

A reader is a chat: a person's private chat with the bot, or a group (where only the
group's admins may change its topics; alerts go to the forum topic the command came from).
Buttons carry only "r:<action>[:<topic id>]" and act on the chat they are pressed in,
after the same checks as the command: a forged id from another chat finds nothing.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import UTC, datetime

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import ContextTypes

from bot.alerts import AlertRunner
from bot.errors import SearchTooSlow
from bot.format import escape, search_page_message
from bot.handlers import HELP, latest_reply
from bot.models import Topic
from bot.publish import TelegramSender
from bot.query import parse_query
from bot.settings import CurrentSettings, Settings
from bot.storage import Storage
from bot.topics import DAILY_CAP, DEFAULT_QUIET, parse_quiet, parse_times

log = logging.getLogger(__name__)
MAX_TOPICS = 20
SHOWN_ON_FOLLOW = 3
FOLLOW_USAGE = (
    "Gõ chủ đề sau lệnh, như khi tìm kiếm: <code>/theodoi bão Yagi</code>, "
    '<code>/theodoi "giá vàng" -usd</code>, <code>/theodoi nguon:vnexpress Đà Nẵng</code>.'
)
READER_HELP = (
    "\n\n<b>Theo dõi chủ đề</b>: Bản tin nhắn riêng cho bạn khi có tin mới về chủ đề bạn chọn.\n"
    "/theodoi &lt;từ khoá&gt;: theo dõi (tối đa 20 chủ đề); /theodoi: xem danh sách\n"
    "/botheodoi &lt;số|từ khoá&gt;: thôi theo dõi\n"
    "/lich ngay | 07:00 19:00: nhận tin ngay, hoặc gom lại vào các giờ đã chọn\n"
    "/yenlang 22:00-06:30: giờ yên lặng (tin đến lúc đó chờ tới hết giờ)\n"
    "/xoadulieu: xoá mọi dữ liệu của bạn"
)
ADMINS_ONLY = "Trong nhóm, chỉ quản trị viên của nhóm được đổi chủ đề theo dõi."
_BUTTON = re.compile(r"r:(u|f|follow|latest|search)(?::([0-9]{1,18}))?")
_NUMBER = re.compile(r"[0-9]{1,3}")


def _chat(message: Message) -> str:
    return str(message.chat_id)


def _thread(message: Message) -> int | None:
    """The forum topic the message came from, if any: the group's alerts go back there."""
    return message.message_thread_id if message.is_topic_message else None


def topic_list(topics: list[Topic]) -> tuple[str, InlineKeyboardMarkup | None]:
    """The reader's topics, numbered, each with a button to stop following it."""
    if not topics:
        return "Bạn chưa theo dõi chủ đề nào. " + FOLLOW_USAGE, None
    lines = ["<b>Chủ đề bạn theo dõi</b>"]
    lines += [f"{i}. {escape(t.query)}" for i, t in enumerate(topics, 1)]
    lines.append("\nBấm để thôi theo dõi, hoặc gõ /botheodoi &lt;số&gt;.")
    buttons = [
        [InlineKeyboardButton(f"✖ {i}. {t.query[:40]}", callback_data=f"r:u:{t.id}")]
        for i, t in enumerate(topics, 1)
    ]
    return "\n".join(lines), InlineKeyboardMarkup(buttons)


class ReaderCommands:
    """Handlers for readers' topics; `alerts` keeps the topic index in step with what
    readers follow."""

    def __init__(
        self,
        settings: CurrentSettings,
        storage: Storage,
        telegram: TelegramSender,
        alerts: AlertRunner | None = None,
    ) -> None:
        self._current = settings
        self.storage = storage
        self.telegram = telegram
        self.alerts = alerts

    @property
    def settings(self) -> Settings:
        """The settings in force now: a reloaded config takes effect for the next command."""
        return self._current.value

    async def _allowed(self, message: Message, user_id: int | None) -> bool:
        """Private chats always; in a group, only its admins change what it follows."""
        if message.chat.type == "private":
            return True
        if user_id is not None and await self.telegram.is_admin(_chat(message), user_id):
            return True
        await self.telegram.reply(message, ADMINS_ONLY)
        return False

    async def follow(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Follow a topic (with words), or list the topics followed (without)."""
        message, user = update.effective_message, update.effective_user
        if message is None:
            return
        text = " ".join(context.args or [])
        if not text.strip():
            reply, keyboard = topic_list(await self.storage.topics_of(_chat(message)))
            await self.telegram.reply(message, reply, keyboard)
            return
        if not await self._allowed(message, user.id if user else None):
            return
        query = parse_query(text)
        unknown = [s for s in query.sources if s not in {f.id for f in self.settings.feeds}]
        if unknown:
            known = ", ".join(f.id for f in self.settings.feeds)
            await self.telegram.reply(
                message, f"Không có nguồn «{escape(unknown[0])}». Các nguồn: {escape(known)}."
            )
            return
        if not query.searchable:
            await self.telegram.reply(message, "Chủ đề cần có chữ hoặc số. " + FOLLOW_USAGE)
            return
        shown = " ".join(text.split())[:200]
        topic, new = await self.storage.follow(
            _chat(message), shown, datetime.now(UTC), _thread(message)
        )
        if topic is None:
            await self.telegram.reply(
                message,
                f"Bạn đã theo dõi {MAX_TOPICS} chủ đề, mức tối đa. "
                "Hãy bỏ bớt một chủ đề bằng /botheodoi.",
            )
            return
        if new and self.alerts:
            self.alerts.followed(topic)
        said = "Đã theo dõi" if new else "Bạn đã theo dõi từ trước"
        reply = f"✅ {said} «{escape(shown)}». Bản tin sẽ nhắn khi có tin mới."
        await self.telegram.reply(message, reply + await self._latest_for(text))

    async def _latest_for(self, text: str) -> str:
        """The last few stories the topic catches, so the reader sees what it means."""
        query = parse_query(text)
        try:
            hits = await self.storage.search(
                query, limit=SHOWN_ON_FOLLOW, deadline=time.monotonic() + 0.2
            )
        except SearchTooSlow:
            return ""
        if not hits:
            return "\n\nChưa có bài nào khớp trong những ngày qua."
        outlets = {f.id: f.name for f in self.settings.feeds}
        page = search_page_message(
            "Tin gần đây", hits, outlets, self.settings.timezone, query.highlight_words
        )
        return "\n\n" + page

    async def unfollow(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Stop following a topic, by its number in the list or by its words."""
        message, user = update.effective_message, update.effective_user
        if message is None:
            return
        text = " ".join(" ".join(context.args or []).split())
        topics = await self.storage.topics_of(_chat(message))
        if not text:
            reply, keyboard = topic_list(topics)
            await self.telegram.reply(message, reply, keyboard)
            return
        if not await self._allowed(message, user.id if user else None):
            return
        chosen = None
        if _NUMBER.fullmatch(text) and 1 <= int(text) <= len(topics):
            chosen = topics[int(text) - 1]
        else:
            chosen = next((t for t in topics if t.query.casefold() == text.casefold()), None)
        if chosen is None:
            await self.telegram.reply(
                message, "Không thấy chủ đề này. Gõ /theodoi để xem danh sách."
            )
            return
        await self._drop(message, chosen.id)

    async def _drop(self, message: Message, topic_id: int) -> bool:
        topic = await self.storage.unfollow(_chat(message), topic_id)
        if topic is None:
            return False
        if self.alerts:
            self.alerts.unfollowed(topic.id)
        await self.telegram.reply(message, f"Đã thôi theo dõi «{escape(topic.query)}».")
        return True

    async def schedule(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """How alerts arrive: as they come ("ngay"), or gathered at chosen times."""
        message, user = update.effective_message, update.effective_user
        if message is None:
            return
        text = " ".join(context.args or []).strip()
        chat = _chat(message)
        if not text:
            reader = (await self.storage.readers([chat])).get(chat)
            times = reader.times if reader else ""
            now = "gom lại lúc " + times if times else "gửi ngay khi có tin"
            await self.telegram.reply(
                message,
                f"Hiện tại: {escape(now)}. Đổi bằng <code>/lich ngay</code> hoặc "
                "<code>/lich 07:00 19:00</code>.",
            )
            return
        if not await self._allowed(message, user.id if user else None):
            return
        if text.casefold() in ("ngay", "now"):
            await self.storage.set_reader(chat, datetime.now(UTC), times="")
            await self.telegram.reply(
                message,
                f"Tin sẽ được gửi ngay khi có (tối đa {DAILY_CAP} tin một ngày; "
                "ngoài giờ yên lặng).",
            )
            return
        chosen = parse_times(text)
        if chosen is None:
            await self.telegram.reply(
                message, "Giờ chưa đúng. Ví dụ: <code>/lich 07:00 19:00</code> (tối đa 6 mốc)."
            )
            return
        shown = " ".join(f"{t:%H:%M}" for t in chosen)
        await self.storage.set_reader(chat, datetime.now(UTC), times=shown)
        await self.telegram.reply(message, f"Tin theo dõi sẽ được gom lại gửi lúc {shown}.")

    async def quiet(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Quiet hours: alerts that fall in them wait for their end."""
        message, user = update.effective_message, update.effective_user
        if message is None:
            return
        text = "".join(context.args or []).strip()
        chat = _chat(message)
        if not text:
            reader = (await self.storage.readers([chat])).get(chat)
            hours = reader.quiet if reader else DEFAULT_QUIET
            now = f"yên lặng {hours}" if hours else "không có giờ yên lặng"
            await self.telegram.reply(
                message,
                f"Hiện tại: {escape(now)}. Đổi bằng <code>/yenlang 22:00-06:30</code>, "
                "hoặc <code>/yenlang tat</code> để bỏ.",
            )
            return
        if not await self._allowed(message, user.id if user else None):
            return
        if text.casefold() in ("tat", "tắt", "off"):
            await self.storage.set_reader(chat, datetime.now(UTC), quiet="")
            await self.telegram.reply(message, "Đã bỏ giờ yên lặng.")
            return
        quiet = parse_quiet(text)
        if quiet is None:
            await self.telegram.reply(
                message, "Giờ chưa đúng. Ví dụ: <code>/yenlang 22:00-06:30</code>."
            )
            return
        shown = f"{quiet[0]:%H:%M}-{quiet[1]:%H:%M}"
        await self.storage.set_reader(chat, datetime.now(UTC), quiet=shown)
        await self.telegram.reply(message, f"Giờ yên lặng: {shown}. Tin đến lúc đó sẽ chờ.")

    async def forget(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Offer to delete everything stored about the reader, behind a button."""
        message, user = update.effective_message, update.effective_user
        if message is None or not await self._allowed(message, user.id if user else None):
            return
        keyboard = InlineKeyboardMarkup(
            [[InlineKeyboardButton("Xoá hết dữ liệu của tôi", callback_data="r:f")]]
        )
        await self.telegram.reply(
            message,
            "Xoá mọi chủ đề, cài đặt và tin đang chờ gửi của bạn? Không thể hoàn tác.",
            keyboard,
        )

    async def start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Greet; in a private chat resume paused alerts and offer buttons."""
        message = update.effective_message
        if message is None:
            return
        if message.chat.type != "private":
            await self.telegram.reply(message, "Xin chào! " + HELP + READER_HELP)
            return
        chat = _chat(message)
        resumed = await self.storage.set_paused(chat, False)
        if resumed and self.alerts:
            await self.alerts.resumed(chat)
        keyboard = InlineKeyboardMarkup(
            [
                [InlineKeyboardButton("🔔 Theo dõi một chủ đề", callback_data="r:follow")],
                [
                    InlineKeyboardButton("🗞 Tin mới nhất", callback_data="r:latest"),
                    InlineKeyboardButton("🔎 Tìm kiếm", callback_data="r:search"),
                ],
            ]
        )
        again = "Bản tin sẽ tiếp tục nhắn tin theo dõi cho bạn.\n\n" if resumed else ""
        await self.telegram.reply(message, "Xin chào! " + again + HELP + READER_HELP, keyboard)

    async def button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A reader's button: stop following, confirm forgetting, or one of /start's."""
        callback = update.callback_query
        if callback is None or not callback.data:
            return
        match = _BUTTON.fullmatch(callback.data)
        message = callback.message if isinstance(callback.message, Message) else None
        if match is None or message is None:
            await self.telegram.answer(callback, "Nút này không còn dùng được.")
            return
        action, number = match.group(1), match.group(2)
        await self.telegram.answer(callback)
        if action == "follow":
            await self.telegram.reply(message, FOLLOW_USAGE)
        elif action == "latest":
            await self.telegram.reply(
                message, await latest_reply(self.storage, self.settings, None)
            )
        elif action == "search":
            await self.telegram.reply(message, "Gõ <code>/tim từ khoá</code>, ví dụ /tim giá vàng.")
        elif not await self._allowed(message, callback.from_user.id):
            return
        elif action == "u" and number is not None:
            if not await self._drop(message, int(number)):
                await self.telegram.reply(message, "Chủ đề này đã được bỏ theo dõi.")
        elif action == "f":
            chat = _chat(message)
            await self.storage.forget(chat)
            if self.alerts:
                self.alerts.paused(chat)
            await self.telegram.reply(message, "Đã xoá mọi dữ liệu của bạn. Tạm biệt!")
