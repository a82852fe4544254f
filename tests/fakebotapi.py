"""A fake Telegram Bot API server for tests, speaking real HTTP on 127.0.0.1.

Point python-telegram-bot (or anything else) at :attr:`FakeBotAPI.base_url` — as
``Bot(token, base_url=...)``, ``ApplicationBuilder().base_url(...)`` or the
``TELEGRAM_API_BASE_URL`` environment variable of a bot running in a subprocess —
and it answers the way ``api.telegram.org`` does for the methods this project uses:

* ``getMe``, ``sendMessage``, ``editMessageText``, ``answerCallbackQuery``, ``getChatMember``
  (admins set with :meth:`FakeBotAPI.set_admins`), messages in forum topics,
  ``setMyCommands``/``getMyCommands``/``deleteMyCommands``, ``setWebhook``/
  ``deleteWebhook``/``getWebhookInfo``, ``getChat``, ``sendChatAction``,
  ``close``/``logOut``;
* ``getUpdates`` as a real long poll fed by :meth:`FakeBotAPI.queue_message`,
  :meth:`FakeBotAPI.queue_callback_query` and :meth:`FakeBotAPI.queue_update`,
  with ``offset``/``limit``/``timeout`` semantics and the 409 "terminated by other
  getUpdates request" answer when a second poller shows up;
* the errors a bot meets in production: HTML that Telegram cannot parse (a link
  whose address holds a line break or other whitespace among them), empty or
  too long texts (counted in UTF-16 code units, after tags are stripped), and,
  on demand, 429 / 403 / 500 / group-migration answers (:meth:`FakeBotAPI.fail_next`)
  and slow answers (:meth:`FakeBotAPI.delay_next`).

Everything the bot sent is recorded: :attr:`FakeBotAPI.sent` holds successful
``sendMessage`` calls and :attr:`FakeBotAPI.calls` every request, failed or not.

Telegram's flood limits (:class:`FloodLimits`) answer ``sendMessage`` with 429s only when
``flood_limits`` is given (benchmarks, pacing tests); like Telegram, the fake remembers
what was sent across :meth:`FakeBotAPI.reset`, so two bots (two pacers) one after the
other in one fake can meet a limit that neither meets alone.

What it does NOT emulate: the short bursts over the per-chat limit that Telegram may
allow, MarkdownV2/Markdown parsing (the text is passed through untouched), message
``entities`` in answers, media/file methods and file downloads, ``allowed_updates``
filtering (accepted and ignored), command scopes and languages (one command list),
webhooks delivery (``setWebhook`` only makes ``getUpdates`` answer 409), and the
24-hour expiry of unconfirmed updates.

The server is a ``ThreadingHTTPServer`` in a daemon thread, so it serves the test
process and child processes alike; all state sits behind one ``threading.Condition``.
Connections are not kept alive (HTTP/1.0), so after :meth:`FakeBotAPI.stop` no
lingering handler thread can keep answering a client.
"""

from __future__ import annotations

import email.policy
import json
import math
import re
import threading
import time
import traceback
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from html.parser import HTMLParser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlsplit

Params = dict[str, Any]

MAX_MESSAGE_LENGTH = 4096  # UTF-16 code units of visible text, as Telegram counts them

# Tags Telegram's HTML parse mode accepts; anything else is a 400.
# fmt: off
SUPPORTED_HTML_TAGS = frozenset({
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
    "a", "code", "pre", "blockquote", "tg-emoji",
})

# Form values are JSON-encoded by PTB unless they are strings. These parameters are
# free text, so "123" or "true" must stay the string the user typed.
FREE_TEXT_PARAMS = frozenset({
    "text", "caption", "parse_mode", "callback_query_id", "inline_message_id", "url",
    "secret_token", "ip_address", "title", "description", "short_description", "name",
    "query", "language_code", "emoji", "question", "business_connection_id",
    "message_effect_id",
})
# fmt: on

_INTEGER = re.compile(r"-?\d+")
_BAD_HREF = re.compile(r"[\s\x00-\x1f\x7f]")  # checked after entities are decoded
_FLOAT = re.compile(r"-?\d+\.\d+(?:[eE][-+]?\d+)?")
_PATH = re.compile(r"^/bot(?P<token>[^/]+)/(?P<method>[^/]+)$")
# A "<" that cannot start a tag ("1 < 2"); Telegram reads it as a tag with an empty name.
_BARE_LT = re.compile(r"<(?![A-Za-z/])")

_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was kicked from the channel chat",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running",
    429: "Too Many Requests: retry after {retry_after}",
    500: "Internal Server Error",
    502: "Bad Gateway",
}
_MIGRATED_DESCRIPTION = "Bad Request: group chat was upgraded to a supergroup chat"
_POLL_CONFLICT = _DEFAULT_DESCRIPTIONS[409]
_WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply "
    "markup are exactly the same as a current content and reply markup of the message"
)


# ChatMemberAdministrator's required fields, as PTB reads them.
_ADMIN_RIGHTS: Params = {
    "can_be_edited": False, "is_anonymous": False, "can_manage_chat": True,
    "can_delete_messages": True, "can_manage_video_chats": True, "can_restrict_members": True,
    "can_promote_members": False, "can_change_info": True, "can_invite_users": True,
    "can_post_stories": False, "can_edit_stories": False, "can_delete_stories": False,
}  # fmt: skip


@dataclass(frozen=True)
class FloodLimits:
    """Telegram's documented limits, as sliding windows over accepted sendMessage calls.

    `grace` forgives that much of a window: requests arrive with jitter, and Telegram's own
    counting is not exact to the millisecond either.
    """

    per_chat_per_second: int = 1
    per_group_per_minute: int = 20
    overall_per_second: int = 30
    grace: float = 0.05


@dataclass(frozen=True)
class SentMessage:
    """One successful ``sendMessage`` call, as the bot made it."""

    method: str
    chat_id: str  # as sent: "@channel" or "-100123"
    text: str  # raw text/markup as sent, before any HTML parsing
    parse_mode: str | None
    message_id: int  # the id the fake answered with
    params: Params = field(hash=False)
    sent_at: float  # time.monotonic() when the fake answered


class Call(NamedTuple):
    """One request the fake received, including failed ones."""

    method: str
    params: Params


class ApiError(Exception):
    """An error answer; raised inside method handlers, turned into JSON by the server."""

    def __init__(self, status: int, description: str, parameters: Params | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def payload(self) -> Params:
        body: Params = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


@dataclass
class _Pending:
    """A queued fault or delay; ``times`` counts down to zero."""

    times: int
    error: ApiError | None = None
    seconds: float = 0.0


class FakeBotAPI:
    """A fake Bot API server. Use as ``with FakeBotAPI() as api:`` or ``start()``/``stop()``."""

    def __init__(
        self,
        token: str = "123456:TEST-token",
        bot_username: str = "bantin_test_bot",
        *,
        flood_limits: FloodLimits | None = None,
    ) -> None:
        bot_id, _, _ = token.partition(":")
        if not bot_id.isdigit():
            raise ValueError(f"a bot token starts with the numeric bot id, got {token!r}")
        self.token = token
        self.bot_username = bot_username
        self.bot_user: Params = {
            "id": int(bot_id),
            "is_bot": True,
            "first_name": "Bản tin",
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self._cond = threading.Condition()
        self._stop_event = threading.Event()
        # Telegram's flood limits, enforced on sendMessage only when asked (benchmarks).
        self.flood_limits = flood_limits
        self.flood_refusals = 0
        self._send_times: deque[tuple[float, str]] = deque()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._methods: dict[str, tuple[str, Callable[[Params], Any]]] = {
            name.lower(): (name, handler)
            for name, handler in {
                "getMe": self._get_me,
                "sendMessage": self._send_message,
                "editMessageText": self._edit_message_text,
                "answerCallbackQuery": self._answer_callback_query,
                "setMyCommands": self._set_my_commands,
                "getMyCommands": self._get_my_commands,
                "deleteMyCommands": self._delete_my_commands,
                "setWebhook": self._set_webhook,
                "deleteWebhook": self._delete_webhook,
                "getWebhookInfo": self._get_webhook_info,
                "getUpdates": self._get_updates,
                "getChat": self._get_chat,
                "getChatMember": self._get_chat_member,
                "sendChatAction": lambda _params: True,
                "close": lambda _params: True,
                "logOut": lambda _params: True,
            }.items()
        }
        # Recorded traffic and injected behaviour (reset() clears these).
        self._calls: list[Call] = []
        self._sent: list[SentMessage] = []
        self._faults: dict[str, deque[_Pending]] = {}
        self._delays: dict[str, deque[_Pending]] = {}
        # Telegram-side state (survives reset()).
        self._updates: list[Params] = []
        self._next_update_id = 1
        self._poll_generation = 0
        self._webhook_url = ""
        self._commands: list[Params] = []
        self._users: dict[int, Params] = {}
        self._channel_names: dict[int, str] = {}
        self._last_message_id: dict[int, int] = {}
        self._messages: dict[tuple[int, int], Params] = {}
        self._fingerprints: dict[tuple[int, int], tuple[Any, ...]] = {}
        self._callback_ids: set[str] = set()
        self._admins: dict[int, set[int]] = {}  # group id → its admins' user ids
        self._forums: set[int] = set()  # supergroups with forum topics
        self._next_callback_id = 4_242_000_000_000_000_001

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeBotAPI:
        if self._server is not None:
            raise RuntimeError("FakeBotAPI is already running")
        self._stop_event.clear()
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        # A short poll interval keeps stop() (server.shutdown) fast.
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"FakeBotAPI:{server.server_address[1]}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        with self._cond:
            # Wakes long polls and delays so no request is held past shutdown.
            self._stop_event.set()
            self._cond.notify_all()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeBotAPI:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeBotAPI is not running; call start() first")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """What PTB's ``base_url`` expects: PTB appends ``<token>/<method>``."""
        return f"http://127.0.0.1:{self.port}/bot"

    # ------------------------------------------------------------------ test-side: updates

    def queue_update(self, update: Params) -> int:
        """Queue a raw update (without ``update_id``); returns the update_id given to it."""
        with self._cond:
            update_id = self._next_update_id
            self._next_update_id += 1
            self._updates.append({"update_id": update_id, **update})
            self._cond.notify_all()
            return update_id

    def queue_message(
        self,
        text: str,
        *,
        user_id: int = 1111,
        chat_id: int | str | None = None,
        first_name: str = "Lan",
        username: str = "lan",
        thread_id: int | None = None,
    ) -> int:
        """Queue a text message from a user (a private chat unless ``chat_id`` says otherwise);
        ``thread_id``: sent in that forum topic of a supergroup (see :meth:`make_forum`)."""
        user = {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name,
            "username": username,
            "language_code": "vi",
        }
        with self._cond:
            self._users[user_id] = user
            chat = self._chat(user_id if chat_id is None else chat_id)
            message: Params = {
                "message_id": self._new_message_id(chat["id"]),
                "from": user,
                "chat": chat,
                "date": int(time.time()),
                "text": text,
            }
            if thread_id is not None:
                message["message_thread_id"] = thread_id
                message["is_topic_message"] = True
            if text.startswith("/"):
                # PTB's CommandHandler only reacts to messages carrying this entity.
                command = text.split(maxsplit=1)[0]
                message["entities"] = [
                    {"type": "bot_command", "offset": 0, "length": utf16_len(command)}
                ]
            self._remember(message, fingerprint=(text,))
            return self.queue_update({"message": message})

    def queue_callback_query(
        self,
        data: str,
        *,
        message_id: int,
        chat_id: int | str,
        user_id: int = 1111,
        first_name: str = "Lan",
        username: str = "lan",
    ) -> int:
        """Queue a press on an inline button with ``data`` under message ``message_id``."""
        user = {"id": user_id, "is_bot": False, "first_name": first_name, "username": username}
        with self._cond:
            self._users.setdefault(user_id, user)
            chat = self._chat(chat_id)
            message = self._messages.get((chat["id"], message_id)) or {
                "message_id": message_id,
                "from": self.bot_user,
                "chat": chat,
                "date": int(time.time()),
            }
            query_id = str(self._next_callback_id)
            self._next_callback_id += 1
            self._callback_ids.add(query_id)
            query = {
                "id": query_id,
                "from": user,
                "message": message,
                "chat_instance": str(zlib.crc32(str(chat["id"]).encode())),
                "data": data,
            }
            return self.queue_update({"callback_query": query})

    def set_admins(self, chat_id: int, user_ids: list[int]) -> None:
        """Who administers a group, for getChatMember (everyone else is a plain member)."""
        with self._cond:
            self._admins[chat_id] = set(user_ids)

    def make_forum(self, chat_id: int) -> None:
        """Make a (negative, non-channel) chat id a supergroup with forum topics."""
        with self._cond:
            self._forums.add(chat_id)

    @property
    def pending_updates(self) -> list[Params]:
        """Updates not yet confirmed by a getUpdates ``offset``."""
        with self._cond:
            return list(self._updates)

    # ------------------------------------------------------------------ test-side: records

    @property
    def sent(self) -> list[SentMessage]:
        with self._cond:
            return list(self._sent)

    @property
    def calls(self) -> list[Call]:
        with self._cond:
            return list(self._calls)

    @property
    def commands(self) -> list[Params]:
        """The list given to the last setMyCommands (empty after deleteMyCommands)."""
        with self._cond:
            return list(self._commands)

    def wait_for_sent(self, count: int, timeout: float = 10.0) -> list[SentMessage]:
        """Block until at least ``count`` messages were sent; return all sent so far."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._sent) >= count, timeout):
                texts = [message.text for message in self._sent]
                raise AssertionError(
                    f"expected {count} sent message(s) within {timeout}s, got {len(texts)}: "
                    f"{texts!r}; calls: {self._call_summary()}"
                )
            return list(self._sent)

    def wait_for_call(self, method: str, timeout: float = 10.0, *, count: int = 1) -> list[Call]:
        """Block until ``method`` was called ``count`` times (failed calls count too)."""

        def matching() -> list[Call]:
            return [call for call in self._calls if call.method.lower() == method.lower()]

        with self._cond:
            if not self._cond.wait_for(lambda: len(matching()) >= count, timeout):
                raise AssertionError(
                    f"expected {count} {method} call(s) within {timeout}s; "
                    f"calls: {self._call_summary()}"
                )
            return matching()

    def reset(self) -> None:
        """Forget recorded calls and sent messages, and drop pending faults and delays."""
        with self._cond:
            self._calls.clear()
            self._sent.clear()
            self._faults.clear()
            self._delays.clear()

    # ------------------------------------------------------------------ test-side: faults

    def fail_next(
        self,
        method: str,
        *,
        status: int,
        description: str | None = None,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with an error like the real API's.

        429 defaults to ``retry_after=1``; ``migrate_to_chat_id`` makes the 400 a
        "group chat was upgraded to a supergroup chat" answer.
        """
        if status < 400 or times < 1:
            raise ValueError("fail_next needs an error status (>= 400) and times >= 1")
        parameters: Params = {}
        if status == 429:
            retry_after = 1 if retry_after is None else retry_after
        if retry_after is not None:
            parameters["retry_after"] = retry_after
        if migrate_to_chat_id is not None:
            parameters["migrate_to_chat_id"] = migrate_to_chat_id
        if description is None:
            if migrate_to_chat_id is not None:
                description = _MIGRATED_DESCRIPTION
            else:
                default = _DEFAULT_DESCRIPTIONS.get(status) or HTTPStatus(status).phrase
                description = default.format(retry_after=retry_after)
        error = ApiError(status, description, parameters or None)
        with self._cond:
            self._faults.setdefault(method.lower(), deque()).append(_Pending(times, error=error))

    def delay_next(self, method: str, seconds: float, times: int = 1) -> None:
        """Hold the next ``times`` calls of ``method`` for ``seconds`` before answering.

        The call is still carried out afterwards, as on the real server: a client that
        timed out may well have sent its message.
        """
        with self._cond:
            self._delays.setdefault(method.lower(), deque()).append(
                _Pending(times, seconds=seconds)
            )

    # ------------------------------------------------------------------ request handling

    def handle(self, path: str, query: str, content_type: str, body: bytes) -> tuple[int, Params]:
        """Answer one request; returns (HTTP status, JSON body). Called by the HTTP handler."""
        match = _PATH.match(path)
        method = match["method"] if match else path
        known = self._methods.get(method.lower())
        params: Params = {}
        try:
            try:
                params = parse_params(query, content_type, body)
            finally:  # record even requests whose parameters cannot be parsed
                with self._cond:
                    self._calls.append(Call(known[0] if known else method, params))
                    self._cond.notify_all()
            if match is None:
                raise ApiError(404, "Not Found")
            if match["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            if known is None:
                raise ApiError(404, "Not Found")
            self._apply_delay(method.lower())
            self._apply_fault(method.lower())
            if known[0] == "sendMessage" and self.flood_limits is not None:
                self._check_flood(str(params.get("chat_id", "")))
            return 200, {"ok": True, "result": known[1](params)}
        except ApiError as error:
            return error.status, error.payload()
        except ValueError as error:  # undecodable JSON or UTF-8 in the request
            return 400, ApiError(400, f"Bad Request: {error}").payload()
        except Exception as exc:  # a bug in the fake: make it loud, not a silent hang
            traceback.print_exc()
            return 500, {"ok": False, "error_code": 500, "description": f"fake bug: {exc!r}"}

    def _check_flood(self, chat: str) -> None:
        """Answer 429 when one more message would break a limit, as Telegram does."""
        limits = self.flood_limits
        assert limits is not None
        now = time.monotonic()
        with self._cond:
            while self._send_times and now - self._send_times[0][0] > 60:
                self._send_times.popleft()
            recent = [(t, c) for t, c in self._send_times if now - t < 1 - limits.grace]
            to_chat = [t for t, c in recent if c == chat]
            per_minute = [
                t for t, c in self._send_times if c == chat and now - t < 60 - limits.grace
            ]
            wait = 0.0
            if len(recent) >= limits.overall_per_second:
                wait = max(wait, 1 - (now - recent[-limits.overall_per_second][0]))
            if len(to_chat) >= limits.per_chat_per_second:
                wait = max(wait, 1 - (now - to_chat[-limits.per_chat_per_second]))
            is_group = chat.startswith(("@", "-"))
            if is_group and len(per_minute) >= limits.per_group_per_minute:
                wait = max(wait, 60 - (now - per_minute[-limits.per_group_per_minute]))
            if wait > 0:
                self.flood_refusals += 1
                seconds = max(1, math.ceil(wait))
                raise ApiError(
                    429, f"Too Many Requests: retry after {seconds}", {"retry_after": seconds}
                )
            self._send_times.append((now, chat))

    def _apply_delay(self, key: str) -> None:
        with self._cond:
            pending = _take(self._delays, key)
        if pending is not None:
            self._stop_event.wait(pending.seconds)  # returns early on stop()

    def _apply_fault(self, key: str) -> None:
        with self._cond:
            pending = _take(self._faults, key)
        if pending is not None and pending.error is not None:
            raise pending.error

    # ------------------------------------------------------------------ Bot API methods

    def _get_me(self, params: Params) -> Params:
        return dict(self.bot_user)

    def _send_message(self, params: Params) -> Params:
        chat_id = _required_chat_id(params)
        raw_text = str(params.get("text", ""))
        visible = visible_text(raw_text, params.get("parse_mode"))
        with self._cond:
            chat = self._chat(chat_id)
            message: Params = {
                "message_id": self._new_message_id(chat["id"]),
                "chat": chat,
                "date": int(time.time()),
                "text": visible,
            }
            # Channel posts are signed by the channel, not by the bot user.
            if chat["type"] == "channel":
                message["sender_chat"] = chat
            else:
                message["from"] = self.bot_user
            markup = _inline_markup(params)
            if markup is not None:
                message["reply_markup"] = markup
            self._remember(message, fingerprint=(raw_text, markup))
            self._sent.append(
                SentMessage(
                    method="sendMessage",
                    chat_id=str(chat_id),
                    text=raw_text,
                    parse_mode=params.get("parse_mode"),
                    message_id=message["message_id"],
                    params=params,
                    sent_at=time.monotonic(),
                )
            )
            self._cond.notify_all()
            return message

    def _edit_message_text(self, params: Params) -> Params | bool:
        raw_text = str(params.get("text", ""))
        visible = visible_text(raw_text, params.get("parse_mode"))
        if params.get("inline_message_id"):
            return True  # inline messages are not tracked; the real API answers True too
        chat_id = _required_chat_id(params)
        with self._cond:
            key = (self._chat(chat_id)["id"], _as_int(params.get("message_id"), 0))
            message = self._messages.get(key)
            if message is None:
                raise ApiError(400, "Bad Request: message to edit not found")
            if message.get("from", self.bot_user)["id"] != self.bot_user["id"]:
                raise ApiError(400, "Bad Request: message can't be edited")
            markup = _inline_markup(params)
            if self._fingerprints[key] == (raw_text, markup):
                raise ApiError(400, _NOT_MODIFIED)
            edited = {**message, "text": visible, "edit_date": int(time.time())}
            edited.pop("reply_markup", None)
            if markup is not None:
                edited["reply_markup"] = markup
            self._remember(edited, fingerprint=(raw_text, markup))
            return edited

    def _answer_callback_query(self, params: Params) -> bool:
        with self._cond:
            if str(params.get("callback_query_id")) not in self._callback_ids:
                raise ApiError(
                    400,
                    "Bad Request: query is too old and response timeout expired "
                    "or query ID is invalid",
                )
        return True

    def _set_my_commands(self, params: Params) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError(400, "Bad Request: can't parse commands JSON object")
        with self._cond:
            self._commands = commands
        return True

    def _get_my_commands(self, params: Params) -> list[Params]:
        return self.commands

    def _delete_my_commands(self, params: Params) -> bool:
        with self._cond:
            self._commands = []
        return True

    def _set_webhook(self, params: Params) -> bool:
        with self._cond:
            self._webhook_url = str(params.get("url", ""))
            if params.get("drop_pending_updates"):
                self._updates.clear()
        return True

    def _delete_webhook(self, params: Params) -> bool:
        with self._cond:
            self._webhook_url = ""
            if params.get("drop_pending_updates"):
                self._updates.clear()
        return True

    def _get_webhook_info(self, params: Params) -> Params:
        with self._cond:
            return {
                "url": self._webhook_url,
                "has_custom_certificate": False,
                "pending_update_count": len(self._updates),
            }

    def _get_chat(self, params: Params) -> Params:
        with self._cond:
            chat = self._chat(_required_chat_id(params))
        # ChatFullInfo fields that PTB requires.
        accepted_gifts = dict.fromkeys(
            (
                "unlimited_gifts",
                "limited_gifts",
                "unique_gifts",
                "premium_subscription",
                "gifts_from_channels",
            ),
            False,
        )
        return {
            **chat,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": accepted_gifts,
        }

    def _get_chat_member(self, params: Params) -> Params:
        with self._cond:
            chat = self._chat(_required_chat_id(params))
            user_id = _as_int(params.get("user_id"), 0)
            user = self._users.get(user_id, {"id": user_id, "is_bot": False, "first_name": "U"})
            if chat["type"] == "private":
                raise ApiError(400, "Bad Request: there are no administrators in the private chat")
            admin = user_id in self._admins.get(chat["id"], set())
        if admin:
            return {"status": "administrator", "user": user, **_ADMIN_RIGHTS}
        return {"status": "member", "user": user}

    def _get_updates(self, params: Params) -> list[Params]:
        offset = _as_int(params.get("offset"), 0)
        limit = min(max(_as_int(params.get("limit"), 100), 1), 100)
        deadline = time.monotonic() + max(float(params.get("timeout") or 0), 0.0)
        with self._cond:
            if self._webhook_url:
                raise ApiError(409, _WEBHOOK_CONFLICT)
            # Like Telegram, a newer poll terminates an older one still waiting.
            self._poll_generation += 1
            generation = self._poll_generation
            self._cond.notify_all()
            self._confirm(offset)
            while True:
                if generation != self._poll_generation:
                    raise ApiError(409, _POLL_CONFLICT)
                if self._stop_event.is_set():
                    return []  # shutting down: let the client go at once
                remaining = deadline - time.monotonic()
                if self._updates or remaining <= 0:
                    return [dict(update) for update in self._updates[:limit]]
                self._cond.wait(remaining)

    # ------------------------------------------------------------------ state helpers (hold _cond)

    def _confirm(self, offset: int) -> None:
        """Drop updates confirmed by ``offset``; negative offsets keep only the newest ones."""
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]

    def _chat(self, chat_id: int | str) -> Params:
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            username = chat_id[1:]
            # crc32 (unlike hash()) is stable across processes: -100 followed by 10 digits.
            numeric_id = -(10**12 + zlib.crc32(username.lower().encode()))
            self._channel_names[numeric_id] = username
            return {"id": numeric_id, "type": "channel", "title": username, "username": username}
        try:
            numeric_id = int(chat_id)
        except ValueError:
            raise ApiError(400, "Bad Request: chat not found") from None
        if numeric_id == 0:
            raise ApiError(400, "Bad Request: chat not found")
        if numeric_id > 0:
            user = self._users.get(numeric_id, {"first_name": "User"})
            chat: Params = {"id": numeric_id, "type": "private", "first_name": user["first_name"]}
            if user.get("username"):
                chat["username"] = user["username"]
            return chat
        if str(numeric_id).startswith("-100"):
            chat = {"id": numeric_id, "type": "channel", "title": f"Channel {numeric_id}"}
            if numeric_id in self._channel_names:
                chat["title"] = chat["username"] = self._channel_names[numeric_id]
            return chat
        if numeric_id in self._forums:
            return {"id": numeric_id, "type": "supergroup", "title": "Forum", "is_forum": True}
        return {"id": numeric_id, "type": "group", "title": f"Group {numeric_id}"}

    def _new_message_id(self, chat_id: int) -> int:
        self._last_message_id[chat_id] = self._last_message_id.get(chat_id, 0) + 1
        return self._last_message_id[chat_id]

    def _remember(self, message: Params, fingerprint: tuple[Any, ...]) -> None:
        key = (message["chat"]["id"], message["message_id"])
        self._messages[key] = message
        self._fingerprints[key] = fingerprint

    def _call_summary(self) -> str:
        return ", ".join(call.method for call in self._calls[-20:]) or "none"


# ---------------------------------------------------------------------- HTML and text rules


class _EntityError(Exception):
    pass


class _TelegramHTML(HTMLParser):
    """Checks markup the way Telegram does and collects the visible text."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self._source = source
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", source)]
        self._open: list[str] = []
        self._chunks: list[str] = []

    def parse(self) -> str:
        bare = _BARE_LT.search(self._source)
        if bare:
            offset = _byte_offset(self._source, bare.start())
            raise _EntityError(f'Unsupported start tag "" at byte offset {offset}')
        self.feed(self._source)
        if self.rawdata.startswith("<"):  # e.g. "<b" at the very end
            offset = _byte_offset(self._source, len(self._source) - len(self.rawdata))
            raise _EntityError(f"Unclosed start tag at byte offset {offset}")
        self.close()
        if self._open:
            raise _EntityError(f'Can\'t find end tag corresponding to start tag "{self._open[-1]}"')
        return "".join(self._chunks)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in SUPPORTED_HTML_TAGS:
            raise _EntityError(f'Unsupported start tag "{tag}" at byte offset {self._offset()}')
        if tag == "span" and dict(attrs).get("class") != "tg-spoiler":
            raise _EntityError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {self._offset()}'
            )
        if tag == "a" and _BAD_HREF.search(dict(attrs).get("href") or " "):
            raise _EntityError(f'Wrong link address in tag "a" at byte offset {self._offset()}')
        self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self._open:
            raise _EntityError(f"Unexpected end tag at byte offset {self._offset()}")
        expected = self._open.pop()
        if tag != expected:
            raise _EntityError(
                f"Unmatched end tag at byte offset {self._offset()}, "
                f'expected "</{expected}>", found "</{tag}>"'
            )

    def handle_data(self, data: str) -> None:
        self._chunks.append(data)

    def _offset(self) -> int:
        line, column = self.getpos()  # start of the tag being handled
        return _byte_offset(self._source, self._line_starts[line - 1] + column)


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))  # Telegram reports UTF-8 byte offsets


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's limits and entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def visible_text(text: str, parse_mode: object) -> str:
    """The text Telegram would show, or ApiError(400) for what it would refuse."""
    visible = text
    if isinstance(parse_mode, str) and parse_mode.lower() == "html":
        try:
            visible = _TelegramHTML(text).parse()
        except _EntityError as error:
            raise ApiError(400, f"Bad Request: can't parse entities: {error}") from None
    visible = visible.strip()  # Telegram trims surrounding whitespace
    if not visible:
        raise ApiError(400, "Bad Request: message text is empty")
    if utf16_len(visible) > MAX_MESSAGE_LENGTH:
        raise ApiError(400, "Bad Request: message is too long")
    return visible


# ---------------------------------------------------------------------- parameter helpers


def decode_form_value(name: str, raw: str) -> Any:
    """Undo PTB's encoding of a form value: non-strings arrive JSON-encoded."""
    if name in FREE_TEXT_PARAMS:
        return raw
    if raw in ("true", "false"):
        return raw == "true"
    if _INTEGER.fullmatch(raw):
        return int(raw)
    if _FLOAT.fullmatch(raw):
        return float(raw)
    if raw[:1] in ("{", "["):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw  # e.g. chat_id "@channelname"


def parse_params(query: str, content_type: str, body: bytes) -> Params:
    """Merge query-string and body parameters (body wins), whatever the encoding."""
    params = {name: decode_form_value(name, value) for name, value in _pairs(query)}
    media_type = content_type.split(";", 1)[0].strip().lower()
    if not body:
        return params
    if media_type == "application/json":
        decoded = json.loads(body.decode("utf-8"))
        if not isinstance(decoded, dict):
            raise ApiError(400, "Bad Request: JSON body must be an object")
        params.update(decoded)
    elif media_type == "application/x-www-form-urlencoded":
        params.update(
            {name: decode_form_value(name, value) for name, value in _pairs(body.decode())}
        )
    elif media_type == "multipart/form-data":
        params.update(_parse_multipart(content_type, body))
    return params


def _pairs(encoded: str) -> Iterator[tuple[str, str]]:
    yield from parse_qsl(encoded, keep_blank_values=True)


def _parse_multipart(content_type: str, body: bytes) -> Params:
    # The email package parses multipart/form-data once given the Content-Type header.
    header = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=email.policy.HTTP).parsebytes(header + body)
    assert isinstance(message, EmailMessage)  # guaranteed by the policy
    params: Params = {}
    for part in message.iter_parts():
        name = str(part.get_param("name", "", header="content-disposition"))
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        if part.get_filename() is not None:
            params[name] = data  # an uploaded file: keep its bytes
        else:
            params[name] = decode_form_value(name, data.decode("utf-8"))
    return params


def _required_chat_id(params: Params) -> int | str:
    chat_id = params.get("chat_id")
    if chat_id is None or chat_id == "":
        raise ApiError(400, "Bad Request: chat_id is empty")
    if not isinstance(chat_id, int | str):
        raise ApiError(400, "Bad Request: chat not found")
    return chat_id


def _inline_markup(params: Params) -> Params | None:
    """Only inline keyboards are echoed back on the Message, as Telegram does."""
    markup = params.get("reply_markup")
    if isinstance(markup, dict) and "inline_keyboard" in markup:
        return markup
    return None


def _as_int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _take(queues: dict[str, deque[_Pending]], key: str) -> _Pending | None:
    """Use up one turn of the oldest pending fault/delay for ``key``."""
    queue = queues.get(key)
    if not queue:
        return None
    pending = queue[0]
    pending.times -= 1
    if pending.times <= 0:
        queue.popleft()
    return pending


# ---------------------------------------------------------------------- HTTP plumbing


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a held long poll must never keep the test process alive
    request_queue_size = 256  # benchmarks open many connections at once
    fake: FakeBotAPI


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        content_type = self.headers.get("Content-Type", "")
        self._reply(*self.server.fake.handle(url.path, url.query, content_type, body))

    def _reply(self, status: int, payload: Params) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout, cancelled poll): nothing to tell it

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean
