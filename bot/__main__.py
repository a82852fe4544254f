"""Command line: python -m bot run | poll-once | digest | search | check-config.

Exit codes: 0 success, 1 runtime failure, 2 invalid configuration or usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import stat
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx
from dotenv import dotenv_values

from bot import __version__
from bot.app import BotParts, make_bot, open_storage, run
from bot.errors import BantinError, ConfigError
from bot.extract import document_text
from bot.fetch import make_http_client
from bot.handlers import search_reply
from bot.logs import setup_logging
from bot.models import PollOutcome
from bot.opml import export_opml, import_opml
from bot.pipeline import poll_all, utc_now
from bot.politeness import NextCheck, describe
from bot.publish import ConsoleSender, Sender, TelegramSender
from bot.settings import ChannelConfig, Settings, load_settings
from bot.storage import Storage
from bot.summarize import SUMMARY_CHARS, SUMMARY_SENTENCES, summarize
from bot.text import html_to_text_with_links


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", metavar="PATH", help="config file (default: $BOT_CONFIG or config/bot.toml)"
    )
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="Bản tin: Vietnamese news digests for Telegram.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"Bản tin {__version__}")
    parser.add_argument(
        "--log-format",
        choices=["text", "json"],
        default=None,
        help="key=value lines (default) or one JSON object a line; or set LOG_FORMAT",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("run", parents=[common], help="run the bot and the scheduler until stopped")
    sub.add_parser("poll-once", parents=[common], help="poll every feed once and report")
    digest = sub.add_parser("digest", parents=[common], help="build a channel's edition now")
    digest.add_argument("channel", help='the channel\'s chat as configured, e.g. "@bantin_demo"')
    digest.add_argument("--dry-run", action="store_true", help="print it; record and send nothing")
    search = sub.add_parser("search", parents=[common], help="print what /search would reply")
    search.add_argument("query", nargs="+")
    sub.add_parser("check-config", parents=[common], help="validate the config and summarise it")
    backup = sub.add_parser(
        "backup", parents=[common], help="copy the live database consistently (SQLite backup)"
    )
    backup.add_argument("path", help="where to write the copy (a new file)")
    backup.add_argument(
        "--force", action="store_true", help="replace PATH if it exists (never the live database)"
    )
    sub.add_parser(
        "healthcheck", parents=[common], help="exit 0 if the running bot's /healthz says OK"
    )
    opml_in = sub.add_parser(
        "import-opml", parents=[common], help="add an OPML file's feeds to the config file"
    )
    opml_in.add_argument("file", help="OPML exported by a feed reader; - for stdin")
    opml_in.add_argument(
        "--category", help="category for every imported feed (default: the OPML's folders)"
    )
    sub.add_parser("export-opml", parents=[common], help="print the configured feeds as OPML 2.0")
    summarize = sub.add_parser(
        "summarize", help="print the summary of a text or HTML document (no config needed)"
    )
    summarize.add_argument("file", nargs="?", default="-", help="the document; - for stdin")
    summarize.add_argument("--title", default="", help="the article's title")
    summarize.add_argument(
        "--jsonl",
        action="store_true",
        help='FILE holds one {"title": …, "text": …} per line; print one {"summary": …} each',
    )
    summarize.add_argument("--sentences", type=int, default=SUMMARY_SENTENCES)
    summarize.add_argument("--chars", type=int, default=SUMMARY_CHARS)
    return parser


def read_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment over `.env` (the environment wins, as with docker and systemd)."""
    values = {k: v for k, v in dotenv_values(".env").items() if v is not None}
    values.update(environ)
    return values


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "summarize":  # a text tool: no config, no database
        return _summarize(args)
    # python-telegram-bot 22 gives RetryAfter.retry_after as a timedelta only on request;
    # we handle both, and opting in silences its deprecation warning.
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    env = read_env(os.environ)
    try:
        settings = load_settings(env, args.config)
    except ConfigError as exc:
        print("Invalid configuration:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    log_format = args.log_format or env.get("LOG_FORMAT", "text")
    setup_logging(env.get("LOG_LEVEL", "INFO").upper(), settings.secrets, log_format)
    try:
        return asyncio.run(_dispatch(args, settings, env))
    except KeyboardInterrupt:
        return 130
    except BantinError as exc:
        logging.getLogger("bot").error("%s", exc)
        return 1


async def _dispatch(args: argparse.Namespace, settings: Settings, env: Mapping[str, str]) -> int:
    if args.command == "run":
        await run(settings, env)
        return 0
    if args.command == "check-config":
        return _check_config(settings)
    if args.command == "healthcheck":
        return _healthcheck(settings)
    if args.command == "import-opml":
        return _import_opml(args, settings, env)
    if args.command == "export-opml":
        sys.stdout.buffer.write(export_opml(settings.feeds).encode("utf-8"))
        return 0
    if args.command == "backup":
        return await _backup(settings, Path(args.path), force=args.force)
    async with open_storage(settings) as storage:
        if args.command == "search":
            result = await search_reply(storage, settings, " ".join(args.query))
            print(_as_text(result.text))
            return 0
        async with make_http_client(proxy=settings.feeds_proxy) as client:
            if args.command == "poll-once":
                return await _poll_once(settings, storage, client)
            return await _digest(settings, storage, client, args.channel, args.dry_run)


async def _backup(settings: Settings, target: Path, *, force: bool) -> int:
    """Copy the live database to `target`: a new file, or with --force any file but the
    live database (and its -wal, -shm and lock files), however the path is spelled."""
    refusal = _backup_refusal(target, settings.database, force=force)
    if refusal:
        print(refusal, file=sys.stderr)
        return 2
    # Written beside the target and renamed: an existing file is replaced only by a whole
    # copy, and --force never writes into a file that is open elsewhere.
    partial = target.with_name(f".{target.name}.partial")
    try:
        async with open_storage(settings) as storage:
            await storage.backup(partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    print(f"Backed up {settings.database} to {target}")
    return 0


def _backup_refusal(target: Path, database: Path, *, force: bool) -> str | None:
    if _is_live_database(target, database):
        return (
            f"refusing to write the backup over the live database {database} ({target}); "
            "choose another path"
        )
    if (target.exists() or target.is_symlink()) and not force:
        return f"{target} exists; pass --force to replace it"
    return None


def _is_live_database(target: Path, database: Path) -> bool:
    live = database.resolve()
    companions = {
        live.with_name(live.name + suffix) for suffix in ("", "-wal", "-shm", "-journal", ".lock")
    }
    if target.resolve() in companions:
        return True
    try:
        return target.exists() and database.exists() and os.path.samefile(target, database)
    except OSError:
        return False


def _write_config(path: Path, text: str, env: Mapping[str, str]) -> None:
    """Replace the config file's contents atomically, and only with a valid config.

    A symlinked config (a mounted secret, a file kept in /etc) stays a symlink: the new
    text goes to its target, through a temporary file in the target's folder (os.replace
    only renames within one file system) that takes the target's permissions.
    """
    real = path.resolve()
    mode = stat.S_IMODE(real.stat().st_mode)
    handle, name = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".import", dir=real.parent)
    temporary = Path(name)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(text.encode("utf-8"))
        os.chmod(temporary, mode)
        load_settings(env, str(temporary))  # never replace a valid config with a bad one
        os.replace(temporary, real)
    finally:
        temporary.unlink(missing_ok=True)


def _import_opml(args: argparse.Namespace, settings: Settings, env: Mapping[str, str]) -> int:
    """Append the OPML's new feeds to the config file, keeping its comments and layout."""
    path = settings.config_path
    try:
        data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as exc:
        print(f"cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    old = path.read_bytes().decode("utf-8")  # bytes, not read_text: keeps CRLF as written
    new, report = import_opml(old, data, category=args.category)
    print(report.summary())
    if new != old:
        _write_config(path, new, env)
    return 0


def _healthcheck(settings: Settings) -> int:
    """For Docker's HEALTHCHECK: ask the running bot's /healthz on the configured address."""
    if settings.http_listen is None:
        print("no [http] listen (or BOT_HTTP_LISTEN) configured: nothing to check", file=sys.stderr)
        return 1
    host, port = settings.http_listen
    host = "127.0.0.1" if host in ("0.0.0.0", "") else host
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=5) as response:
            print(response.read().decode())
            return 0
    except urllib.error.HTTPError as exc:
        print(exc.read().decode(), file=sys.stderr)
    except OSError as exc:
        print(f"cannot reach {host}:{port}: {exc}", file=sys.stderr)
    return 1


def _check_config(settings: Settings) -> int:
    mode = "console (no TELEGRAM_BOT_TOKEN)" if settings.console_mode else "Telegram"
    print(f"{settings.config_path}: OK")
    print(f"  mode: {mode}; database: {settings.database}; timezone: {settings.timezone.key}")
    print(f"  feeds: {len(settings.feeds)}")
    for feed in settings.feeds:
        minutes = int(feed.interval.total_seconds() // 60)
        print(f"    {feed.id:<16} every {minutes:>3} min  {feed.name}  {feed.url}")
    print(f"  channels: {len(settings.channels)}")
    for channel in settings.channels:
        feeds = ", ".join(channel.feeds) if channel.feeds is not None else "all feeds"
        when = ", ".join([*channel.schedule, *(f"{e.name} {e.at}" for e in channel.editions)])
        print(f"    {channel.chat}: {when}; {feeds}; up to {channel.max_items} articles")
    return 0


async def _poll_once(settings: Settings, storage: Storage, client: httpx.AsyncClient) -> int:
    results = await poll_all(settings.feeds, storage, client)
    states = await storage.feed_states()
    width = max(len(f.id) for f in settings.feeds)
    now = utc_now()
    for result in results:
        if result.outcome is PollOutcome.ERROR:
            detail = f"error: {result.error}"
        elif result.outcome is PollOutcome.NEW:
            detail = f"new: {result.new_articles} new of {result.entries} entries"
        else:
            detail = "unchanged"
        state = states.get(result.feed_id)
        if state and state.consecutive_failures:
            detail += f" · {state.consecutive_failures} failures in a row"
        if state and state.last_success_at:
            detail += (
                f" · last success {state.last_success_at.astimezone(settings.timezone):%H:%M %d/%m}"
            )
        if result.next_check:
            plan = NextCheck(result.next_check, result.next_check_reason)
            detail += f" · next check {describe(plan, now)}"
        print(f"{result.feed_id:<{width}}  {detail}")
    return 0


async def _digest(
    settings: Settings,
    storage: Storage,
    client: httpx.AsyncClient,
    chat: str,
    dry_run: bool,
) -> int:
    channel = settings.channel(chat)
    if channel is None:
        known = ", ".join(c.chat for c in settings.channels) or "none configured"
        print(f"Unknown channel {chat!r}; configured channels: {known}", file=sys.stderr)
        return 2
    if dry_run or settings.console_mode:
        sender: Sender = ConsoleSender(sys.stdout)
        return await _digest_with(settings, storage, client, sender, channel, dry_run)
    async with make_bot(settings) as bot:
        sender = TelegramSender(bot)
        return await _digest_with(settings, storage, client, sender, channel, dry_run)


async def _digest_with(
    settings: Settings,
    storage: Storage,
    client: httpx.AsyncClient,
    sender: Sender,
    channel: ChannelConfig,
    dry_run: bool,
) -> int:
    editions = BotParts(settings, storage, client, sender=sender).editions  # no scheduler
    if dry_run:
        edition = await editions.build(channel)
        for part in edition.parts:
            # Console-mode editions are already text; Telegram ones are shown as text.
            text = part.text if settings.console_mode else _as_text(part.text)
            await sender.send(channel.chat, text)
    else:
        edition = await editions.run(channel)
    if not edition.parts:
        print(f"Nothing new for {channel.chat}.")
    return 0


def _summarize(args: argparse.Namespace) -> int:
    def one(title: str, document: str) -> str:
        text = document_text(document)
        return summarize(text, title=title, max_sentences=args.sentences, max_chars=args.chars)

    source = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")  # noqa: SIM115
    with source:
        if not args.jsonl:
            print(one(args.title, source.read()))
            return 0
        for number, line in enumerate(source, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                summary = one(str(item.get("title", "")), str(item.get("text", "")))
            except (json.JSONDecodeError, AttributeError) as exc:
                print(f"line {number}: not a JSON object: {exc}", file=sys.stderr)
                return 2
            print(json.dumps({"summary": summary}, ensure_ascii=False), flush=False)
    return 0


def _as_text(markup: str) -> str:
    return html_to_text_with_links(markup.replace("\n", "<br>"))


if __name__ == "__main__":
    sys.exit(main())
