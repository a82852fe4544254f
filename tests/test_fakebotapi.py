"""The fake Bot API behaves like Telegram for python-telegram-bot, over real HTTP."""

from __future__ import annotations

import asyncio
import datetime as dtm
import os
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fakebotapi import FakeBotAPI
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import ApplicationBuilder, CallbackQueryHandler, CommandHandler, ContextTypes
from telegram.request import HTTPXRequest

TOKEN = "123456:TEST-token"
CHANNEL = "@bantin_kenh"


@pytest.fixture
def fake() -> Iterator[FakeBotAPI]:
    with FakeBotAPI(TOKEN) as api:
        yield api


@pytest.fixture
async def bot(fake: FakeBotAPI) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=fake.base_url) as tg_bot:
        yield tg_bot


def raw_url(fake: FakeBotAPI, method: str, token: str = TOKEN) -> str:
    return f"{fake.base_url}{token}/{method}"


# --------------------------------------------------------------------------- basics


async def test_get_me_through_ptb(bot: Bot) -> None:
    me = await bot.get_me()

    assert me.id == 123456
    assert me.is_bot
    assert me.first_name == "Bản tin"
    assert me.username == "bantin_test_bot"


def test_wrong_token_is_401_and_unknown_method_is_404(fake: FakeBotAPI) -> None:
    wrong = httpx.post(raw_url(fake, "getMe", token="999:nope"))
    unknown = httpx.post(raw_url(fake, "sendTelepathy"))

    assert wrong.status_code == 401
    assert wrong.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    assert unknown.status_code == 404
    assert unknown.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
    assert [call.method for call in fake.calls] == ["getMe", "sendTelepathy"]


def test_unparsable_body_is_400_and_still_recorded(fake: FakeBotAPI) -> None:
    response = httpx.post(
        raw_url(fake, "sendMessage"), content=b"{", headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert response.json()["description"].startswith("Bad Request: ")
    assert fake.calls == [("sendMessage", {})]


async def test_wrong_token_raises_invalid_token_in_ptb(fake: FakeBotAPI) -> None:
    with pytest.raises(InvalidToken):
        async with Bot("999:nope", base_url=fake.base_url):
            pass


def test_method_names_are_case_insensitive_and_json_bodies_work(fake: FakeBotAPI) -> None:
    response = httpx.post(raw_url(fake, "SENDMESSAGE"), json={"chat_id": 42, "text": "Chào"})

    assert response.json()["ok"] is True
    assert response.json()["result"]["chat"] == {"id": 42, "type": "private", "first_name": "User"}
    assert fake.sent[0].method == "sendMessage"
    assert fake.sent[0].chat_id == "42"


def test_query_string_and_multipart_parameters(fake: FakeBotAPI) -> None:
    httpx.get(raw_url(fake, "sendMessage"), params={"chat_id": "-100123", "text": "123"})
    httpx.post(
        raw_url(fake, "sendMessage"),
        data={"chat_id": CHANNEL, "text": "true", "disable_notification": "true"},
        files={"document": ("a.txt", b"raw bytes")},
    )

    first, second = fake.sent
    assert first.params == {"chat_id": -100123, "text": "123"}  # text stays a string
    assert second.params["chat_id"] == CHANNEL
    assert second.params["text"] == "true"
    assert second.params["disable_notification"] is True
    assert second.params["document"] == b"raw bytes"


def test_serves_a_bot_in_a_subprocess(fake: FakeBotAPI) -> None:
    # How the project's bot process finds the fake: TELEGRAM_API_BASE_URL + token.
    child = (
        "import os, urllib.request\n"
        "url = os.environ['TELEGRAM_API_BASE_URL'] + os.environ['TOKEN'] + '/sendMessage'\n"
        "data = 'chat_id=%40bantin_kenh&text=T%E1%BB%AB%20ti%E1%BA%BFn%20tr%C3%ACnh'.encode()\n"
        "print(urllib.request.urlopen(url, data=data, timeout=5).read().decode())\n"
    )
    env = {**os.environ, "TELEGRAM_API_BASE_URL": fake.base_url, "TOKEN": TOKEN}

    done = subprocess.run(
        [sys.executable, "-c", child], env=env, capture_output=True, text=True, timeout=10
    )

    assert done.returncode == 0, done.stderr
    assert '"ok": true' in done.stdout
    assert [(m.chat_id, m.text) for m in fake.sent] == [(CHANNEL, "Từ tiến trình")]


# --------------------------------------------------------------------------- sendMessage


async def test_send_message_records_exact_markup_and_returns_message(
    fake: FakeBotAPI, bot: Bot
) -> None:
    text = '<b>Tin nóng</b> &amp; <a href="https://vnexpress.net/a.html">Đọc thêm</a>'

    message = await bot.send_message(
        CHANNEL,
        text,
        parse_mode=ParseMode.HTML,
        link_preview_options=LinkPreviewOptions(is_disabled=True),
    )
    second = await bot.send_message(CHANNEL, "Tin thứ hai")

    assert message.message_id == 1
    assert second.message_id == 2
    assert message.text == "Tin nóng & Đọc thêm"  # what readers see
    assert message.chat.type == "channel"
    assert message.chat.username == "bantin_kenh"
    assert str(message.chat.id).startswith("-100")
    assert second.chat.id == message.chat.id  # stable per channel
    sent = fake.sent[0]
    assert sent.text == text
    assert sent.chat_id == CHANNEL
    assert sent.parse_mode == "HTML"
    assert sent.message_id == 1
    assert sent.params["link_preview_options"] == {"is_disabled": True}


@pytest.mark.parametrize(
    ("markup", "reason"),
    [
        ("<b>chưa đóng", 'Can\'t find end tag corresponding to start tag "b"'),
        (
            "<b><i>lệch</b></i>",
            'Unmatched end tag at byte offset 12, expected "</i>", found "</b>"',
        ),
        ("<div>khối</div>", 'Unsupported start tag "div" at byte offset 0'),
        ("Giá vàng < 80 triệu", 'Unsupported start tag "" at byte offset 11'),
        ('<span class="x">?</span>', 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("thừa</b>", "Unexpected end tag at byte offset 6"),
        ("Tin <b", "Unclosed start tag at byte offset 4"),
    ],
)
def test_malformed_html_is_refused_like_telegram(
    fake: FakeBotAPI, markup: str, reason: str
) -> None:
    response = httpx.post(
        raw_url(fake, "sendMessage"), data={"chat_id": 1, "text": markup, "parse_mode": "HTML"}
    )

    assert response.status_code == 400
    assert response.json()["description"] == f"Bad Request: can't parse entities: {reason}"
    assert fake.sent == []


async def test_malformed_html_raises_bad_request_in_ptb(fake: FakeBotAPI, bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(1111, "<b>chưa đóng", parse_mode=ParseMode.HTML)

    assert fake.calls[-1].method == "sendMessage"  # failed calls are recorded
    assert fake.sent == []


async def test_supported_tags_and_entities_are_accepted(bot: Bot) -> None:
    markup = (
        "<strong>a</strong><em>b</em><ins>c</ins><del>d</del><tg-spoiler>e</tg-spoiler>"
        '<span class="tg-spoiler">f</span><pre><code class="language-py">g</code></pre>'
        "<blockquote>h</blockquote> &lt;i&gt; &#128512;"
    )

    message = await bot.send_message(1111, markup, parse_mode=ParseMode.HTML)

    assert message.text == "abcdefgh <i> 😀"


async def test_length_limit_counts_visible_utf16_units(fake: FakeBotAPI, bot: Bot) -> None:
    # Tags do not count, so 4096 visible characters inside <b> fit.
    await bot.send_message(1111, "<b>" + "a" * 4096 + "</b>", parse_mode=ParseMode.HTML)
    # 2049 emoji are 2049 Python characters but 4098 UTF-16 units.
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(1111, "😀" * 2049)
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(1111, "a" * 4097)

    assert len(fake.sent) == 1


async def test_empty_visible_text_is_bad_request(bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
        await bot.send_message(1111, "<b>  </b>", parse_mode=ParseMode.HTML)


# --------------------------------------------------------------------------- injected faults


async def test_429_raises_retry_after_once(
    fake: FakeBotAPI, bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # PTB's future behaviour, no deprecation warning
    fake.fail_next("sendMessage", status=429, retry_after=1)

    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(CHANNEL, "Tin")
    await bot.send_message(CHANNEL, "Tin")  # the fault was used up

    assert caught.value.retry_after == dtm.timedelta(seconds=1)
    assert [call.method for call in fake.calls[-2:]] == ["sendMessage", "sendMessage"]
    assert len(fake.sent) == 1


def test_429_body_matches_the_real_api(fake: FakeBotAPI) -> None:
    fake.fail_next("sendMessage", status=429, retry_after=7)

    response = httpx.post(raw_url(fake, "sendMessage"), data={"chat_id": 1, "text": "x"})

    assert response.status_code == 429
    assert response.json() == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7},
    }


async def test_403_raises_forbidden(fake: FakeBotAPI, bot: Bot) -> None:
    fake.fail_next("sendMessage", status=403, times=2)

    for _ in range(2):
        with pytest.raises(Forbidden, match=r"kicked"):
            await bot.send_message(CHANNEL, "Tin")
    await bot.send_message(CHANNEL, "Tin")


async def test_migration_raises_chat_migrated_with_new_id(fake: FakeBotAPI, bot: Bot) -> None:
    fake.fail_next("sendMessage", status=400, migrate_to_chat_id=-1001234567890)

    with pytest.raises(ChatMigrated) as caught:
        await bot.send_message(-4567, "Tin")

    assert caught.value.new_chat_id == -1001234567890


async def test_500_is_a_network_error(fake: FakeBotAPI, bot: Bot) -> None:
    fake.fail_next("sendMessage", status=500)

    with pytest.raises(NetworkError, match=r"Internal Server Error"):
        await bot.send_message(CHANNEL, "Tin")


async def test_reset_drops_pending_faults_and_records(fake: FakeBotAPI, bot: Bot) -> None:
    await bot.send_message(CHANNEL, "Tin")
    fake.fail_next("sendMessage", status=403)

    fake.reset()
    await bot.send_message(CHANNEL, "Tin")

    assert [call.method for call in fake.calls] == ["sendMessage"]
    assert len(fake.sent) == 1


async def test_slow_answer_times_out_but_the_message_still_arrives(fake: FakeBotAPI) -> None:
    fake.delay_next("sendMessage", 0.6)
    request = HTTPXRequest(read_timeout=0.2)

    async with Bot(TOKEN, base_url=fake.base_url, request=request) as slow_bot:
        with pytest.raises(TimedOut):
            await slow_bot.send_message(CHANNEL, "Tin")

    # Like Telegram, the fake finishes the call: a blind retry would post twice.
    assert [m.text for m in await asyncio.to_thread(fake.wait_for_sent, 1, 3.0)] == ["Tin"]


def test_wait_for_sent_reports_what_arrived(fake: FakeBotAPI) -> None:
    httpx.post(raw_url(fake, "sendMessage"), data={"chat_id": 1, "text": "một"})

    with pytest.raises(AssertionError, match=r"expected 2 sent message.*'một'"):
        fake.wait_for_sent(2, timeout=0.1)


# --------------------------------------------------------------------------- getUpdates


async def test_get_updates_long_polls_until_timeout(bot: Bot) -> None:
    started = time.monotonic()
    updates = await bot.get_updates(timeout=2)
    elapsed = time.monotonic() - started

    assert updates == ()
    assert 1.8 <= elapsed < 3.0


async def test_get_updates_wakes_when_a_message_is_queued(fake: FakeBotAPI, bot: Bot) -> None:
    timer = threading.Timer(0.3, fake.queue_message, args=("xin chào",))
    timer.start()
    started = time.monotonic()
    updates = await bot.get_updates(timeout=5)
    elapsed = time.monotonic() - started
    timer.join()

    assert elapsed < 1.5
    assert len(updates) == 1
    message = updates[0].message
    assert message is not None
    assert message.text == "xin chào"
    assert message.chat.type == "private"
    assert message.from_user is not None
    assert message.from_user.first_name == "Lan"


async def test_offset_confirms_and_drops_old_updates(fake: FakeBotAPI, bot: Bot) -> None:
    ids = [fake.queue_message(f"tin {n}") for n in range(3)]

    assert [u.update_id for u in await bot.get_updates(limit=2)] == ids[:2]
    assert [u.update_id for u in await bot.get_updates()] == ids  # nothing confirmed yet
    assert [u.update_id for u in await bot.get_updates(offset=ids[0] + 1)] == ids[1:]
    assert [u.update_id for u in await bot.get_updates()] == ids[1:]  # ids[0] is gone
    assert await bot.get_updates(offset=ids[2] + 1) == ()
    assert fake.pending_updates == []


async def test_a_second_poller_terminates_the_first(fake: FakeBotAPI) -> None:
    async with (
        Bot(TOKEN, base_url=fake.base_url) as first,
        Bot(TOKEN, base_url=fake.base_url) as second,
    ):
        first_poll = asyncio.create_task(first.get_updates(timeout=5))
        await asyncio.to_thread(fake.wait_for_call, "getUpdates")
        await asyncio.sleep(0.1)  # let the first poll settle into its wait
        started = time.monotonic()
        assert await second.get_updates(timeout=0) == ()

        with pytest.raises(Conflict, match=r"(?i)terminated by other getUpdates"):
            await first_poll
        assert time.monotonic() - started < 1.0


def test_stop_releases_a_held_long_poll_at_once() -> None:
    api = FakeBotAPI(TOKEN).start()
    result: list[httpx.Response] = []
    poller = threading.Thread(
        target=lambda: result.append(
            httpx.post(raw_url(api, "getUpdates"), data={"timeout": 30}, timeout=35)
        )
    )
    poller.start()
    api.wait_for_call("getUpdates")

    started = time.monotonic()
    api.stop()
    poller.join(timeout=5)

    assert time.monotonic() - started < 1.0
    assert result[0].json() == {"ok": True, "result": []}


# --------------------------------------------------------------------------- other methods


async def test_commands_round_trip(fake: FakeBotAPI, bot: Bot) -> None:
    await bot.set_my_commands([("start", "Bắt đầu"), ("tim", "Tìm tin")])

    commands = await bot.get_my_commands()

    assert [(c.command, c.description) for c in commands] == [
        ("start", "Bắt đầu"),
        ("tim", "Tìm tin"),
    ]
    assert fake.commands[0] == {"command": "start", "description": "Bắt đầu"}
    await bot.delete_my_commands()
    assert await bot.get_my_commands() == ()


async def test_edit_message_text_and_not_modified(bot: Bot) -> None:
    message = await bot.send_message(CHANNEL, "Bản nháp")

    edited = await bot.edit_message_text(
        "<i>Bản cuối</i>", CHANNEL, message.message_id, parse_mode="HTML"
    )

    assert isinstance(edited, type(message))
    assert edited.text == "Bản cuối"
    assert edited.edit_date is not None
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text(
            "<i>Bản cuối</i>", CHANNEL, message.message_id, parse_mode="HTML"
        )
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("?", CHANNEL, 999)


async def test_get_chat_webhook_and_small_methods(fake: FakeBotAPI, bot: Bot) -> None:
    chat = await bot.get_chat(CHANNEL)
    group = await bot.get_chat(-4567)

    assert chat.type == "channel"
    assert chat.username == "bantin_kenh"
    assert group.type == "group"
    assert await bot.send_chat_action(CHANNEL, "typing") is True

    await bot.set_webhook("https://example.invalid/hook")
    assert (await bot.get_webhook_info()).url == "https://example.invalid/hook"
    with pytest.raises(Conflict, match=r"(?i)webhook is active"):
        await bot.get_updates()
    fake.queue_message("/start")
    await bot.delete_webhook(drop_pending_updates=True)
    assert await bot.get_updates() == ()


# --------------------------------------------------------------------------- end to end


async def test_application_answers_start_and_button_presses(fake: FakeBotAPI) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Tin mới", callback_data="moi")]])
        await update.effective_message.reply_text(
            "<b>Chào Lan!</b>", parse_mode=ParseMode.HTML, reply_markup=keyboard
        )

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer()
        await query.edit_message_text(f"Bạn chọn: {query.data}")

    app = ApplicationBuilder().token(TOKEN).base_url(fake.base_url).build()
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(pressed))

    async with app:
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        await app.start()
        try:
            fake.queue_message("/start")
            [reply] = await asyncio.to_thread(fake.wait_for_sent, 1, 5.0)
            fake.queue_callback_query("moi", message_id=reply.message_id, chat_id=1111)
            [edit] = await asyncio.to_thread(fake.wait_for_call, "editMessageText", 5.0)
        finally:
            await app.updater.stop()
            await app.stop()

    assert reply.chat_id == "1111"
    assert reply.text == "<b>Chào Lan!</b>"
    assert reply.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "moi"
    assert edit.params["text"] == "Bạn chọn: moi"
    assert edit.params["message_id"] == reply.message_id
    methods = [call.method for call in fake.calls]
    assert methods[:3] == ["getMe", "deleteWebhook", "getUpdates"]
    assert "answerCallbackQuery" in methods
    assert fake.pending_updates == []  # PTB confirmed everything it handled on shutdown
