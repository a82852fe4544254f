"""The one exception tree of Bản tin.

    BantinError                 anything this package raises on purpose
    ├── ConfigError             the config file or environment is wrong (exit code 2)
    ├── FetchError              a feed could not be fetched (per feed, never fatal)
    │   ├── RateLimited         429 / 503, with the Retry-After the server sent
    │   ├── ResponseTooLarge    the body passed the size cap
    │   └── NonPublicAddress    the host is (or resolves to) a loopback/private/… address
    ├── ParseError              fetched bytes are not a usable feed (per feed, never fatal)
    ├── StorageError            SQLite failed; wraps sqlite3 errors at the storage boundary
    │   ├── SchemaTooNew        the database was written by a newer Bản tin
    │   └── SearchTooSlow       a search ran past its deadline and was stopped
    ├── PublishError            a message could not be sent (kept in the outbox)
    │   ├── ChatForbidden       the bot was removed from the chat or lost its rights
    │   ├── ChatMoved           the group became a supergroup with a new chat id
    │   └── MessageRejected     Telegram cannot parse this text (entities, length)
    ├── TokenRejected           Telegram refused TELEGRAM_BOT_TOKEN (wrong or revoked)
    └── AlreadyRunning          another Bản tin holds the database

Expected per-feed failures end as values (see `models.PollResult`), so these are raised
inside one stage and caught by the orchestrator that owns the batch.
"""

from __future__ import annotations

from dataclasses import dataclass


class BantinError(Exception):
    """Base of every error raised on purpose by Bản tin."""


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with the configuration, phrased for the admin who wrote it."""

    source: str  # file path or "environment"
    key: str  # dotted key, e.g. "feeds[2].url"
    value: str  # the offending value, repr'd and shortened
    expected: str  # what would be valid

    def __str__(self) -> str:
        shown = f" = {self.value}" if self.value else ""
        return f"{self.source}: {self.key}{shown}: {self.expected}"


class ConfigError(BantinError):
    """The configuration is invalid; carries every problem found, not just the first."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class FetchError(BantinError):
    """A feed could not be fetched: network error, timeout or an HTTP error status."""


class RateLimited(FetchError):
    """429 Too Many Requests or 503 Service Unavailable; `retry_after` is in seconds."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ResponseTooLarge(FetchError):
    """The response body passed the configured size cap and was abandoned."""


class NonPublicAddress(FetchError):
    """The address about to be connected to is not public, and the feed does not allow it.

    A feed's entries are written by whoever runs the feed; without this, a link to
    http://169.254.169.254/ or http://127.0.0.1:…/admin would be fetched from inside the
    bot's network and its text published.
    """

    def __init__(self, address: str, reason: str, host: str | None = None) -> None:
        named = f" for {host}" if host and host != address else ""
        super().__init__(
            f"non-public address {address} refused{named} ({reason}; địa chỉ không công khai); "
            "set allow_private = true on the feed if it is meant to be private"
        )
        self.address = address


class ParseError(BantinError):
    """The fetched bytes are not a feed with entries."""


class StorageError(BantinError):
    """The database failed; the sqlite3 error is chained as __cause__."""


class SchemaTooNew(StorageError):
    """The database schema is newer than this version of Bản tin understands."""


class SearchTooSlow(StorageError):
    """A search was stopped at its deadline: the query costs more than a reply may."""


class PublishError(BantinError):
    """A message could not be sent now; the outbox keeps it."""


class ChatForbidden(PublishError):
    """The bot may not post there (removed, or no longer an admin of the channel)."""


class ChatMoved(PublishError):
    """Telegram moved the chat (group → supergroup); send to `new_chat` instead."""

    def __init__(self, new_chat: str) -> None:
        super().__init__(f"the chat moved to {new_chat}")
        self.new_chat = new_chat


class MessageRejected(PublishError):
    """Telegram will never accept this exact text (bad entities, too long)."""


class TokenRejected(BantinError):
    """Telegram answered 401 to TELEGRAM_BOT_TOKEN. The message never contains the token."""


class AlreadyRunning(BantinError):
    """Another Bản tin process holds the database."""
