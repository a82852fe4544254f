"""Logging set-up: key=value lines (or JSON), library noise down, the bot token never shown.

python-telegram-bot and httpx put the token in request URLs, and exceptions may echo those
URLs, so every record is passed through a filter that replaces the token before output.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import traceback
from collections.abc import Callable
from types import TracebackType

_FORMAT = "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"


class RedactFilter(logging.Filter):
    """Replaces each secret in the formatted message (and traceback) with ***."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        for secret in self._secrets:
            message = message.replace(secret, "***")
            if record.exc_text:
                record.exc_text = record.exc_text.replace(secret, "***")
        record.msg, record.args = message, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message (and the traceback, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_text or record.exc_info:
            entry["traceback"] = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
        return json.dumps(entry, ensure_ascii=False)


def _redacted(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def redacting_excepthook(
    secrets: list[str],
) -> Callable[[type[BaseException], BaseException, TracebackType | None], None]:
    """A sys.excepthook that prints the traceback with the secrets replaced.

    The last line of defence: an exception nobody caught is printed by Python itself,
    past every logging filter, and python-telegram-bot's messages may hold the token.
    """
    kept = [s for s in secrets if s]

    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        text = "".join(traceback.format_exception(kind, value, tb))
        sys.stderr.write(_redacted(text, kept))

    return hook


def setup_logging(
    level: str = "INFO", secrets: list[str] | None = None, log_format: str = "text"
) -> None:
    handler = logging.StreamHandler(sys.stderr)
    formatter = JsonFormatter() if log_format == "json" else logging.Formatter(_FORMAT)
    handler.setFormatter(formatter)
    handler.addFilter(RedactFilter(secrets or []))
    hook = redacting_excepthook(secrets or [])
    sys.excepthook = hook

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            name = args.thread.name if args.thread else "?"
            sys.stderr.write(f"Exception in thread {name}:\n")
            hook(args.exc_type, args.exc_value, args.exc_traceback)

    threading.excepthook = thread_hook
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # One line per request at INFO would print every Bot API URL, token included.
    for noisy in ("httpx", "httpcore", "apscheduler", "telegram.ext.Updater"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
