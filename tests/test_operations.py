"""Running it for months: health and metrics, reload, admin commands, backups, migrations."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import signal
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import aiosqlite
import pytest
from conftest import schema_version, settings_for, write_config
from fakebotapi import FakeBotAPI
from telegram.ext import Application

import bot.normalize
import bot.pipeline
from bot.app import BotParts
from bot.fetch import make_http_client
from bot.models import Article, FeedEntry
from bot.normalize import NormalizedFeed
from bot.query import parse_query
from bot.runtime import BotApp
from bot.storage import Storage
from bot.storage.migrations import SCHEMA_VERSION, migrate
from bot.web import Site, WebServer, make_app

TOKEN = "123456789:AAFakeTokenForTestsOnly_abcdefghij"
ADMIN, STRANGER = 9001, 4242
FEED = """
[bot]
admins = [9001]

[[feeds]]
id = "{id}"
name = "Báo Lai Châu"
url = "{url}"

[[channels]]
chat = "@kenh"
schedule = ["07:00"]
"""


def config(tmp_path: Path, feed_id: str = "blc") -> str:
    return FEED.format(id=feed_id, url=fresh_feed(tmp_path))


def fresh_feed(tmp_path: Path) -> Path:
    """The Lai Châu fixture with its dates moved to the last hours, so editions (which take
    articles of the last 48 hours) find them whatever day the suite runs."""
    fixture = Path(__file__).parent / "data" / "feeds" / "baolaichau_nfd.rss"
    hours = iter(range(100))
    text = re.sub(
        r"<pubDate>[^<]*</pubDate>",
        lambda _: (
            f"<pubDate>{format_datetime(datetime.now(UTC) - timedelta(hours=next(hours)))}"
            "</pubDate>"
        ),
        fixture.read_text(encoding="utf-8"),
    )
    copy = tmp_path / fixture.name
    copy.write_text(text, encoding="utf-8")
    return copy


@pytest.fixture
async def app(tmp_path: Path, storage: Storage) -> AsyncIterator[BotApp]:
    settings = settings_for(tmp_path, config(tmp_path))
    await storage.sync_feeds((f.id, f.url) for f in settings.feeds)
    env = {"BOT_DATABASE": str(tmp_path / "bantin.db")}
    async with make_http_client() as client:
        bot_app = BotParts(settings, storage, client, stdout=io.StringIO(), env=env).app
        yield bot_app
        if bot_app.scheduler.running:
            bot_app.scheduler.shutdown(wait=False)


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


async def test_healthz_and_metrics(app: BotApp) -> None:
    site = Site(lambda: app.settings, app.storage)
    server = WebServer(("127.0.0.1", 0), make_app(site, app.metrics, app.health))
    await server.start()
    base = "http://{}:{}".format(*server.address)
    try:
        status, body = await asyncio.to_thread(get, base + "/healthz")
        assert status == 503 and "scheduler is not running" in json.loads(body)["reason"]
        app.start_scheduler()
        await app.poll_now()
        status, body = await asyncio.to_thread(get, base + "/healthz")
        assert status == 200 and json.loads(body)["ok"] is True
        app.last_poll_at = datetime.now(UTC) - timedelta(hours=2)  # polling got stuck
        status, body = await asyncio.to_thread(get, base + "/healthz")
        assert status == 503 and "no poll finished" in json.loads(body)["reason"]
        status, body = await asyncio.to_thread(get, base + "/metrics")
        text = body.decode()
        assert status == 200
        assert 'bantin_polls_total{feed="blc",outcome="new"} 1.0' in text
        assert 'bantin_articles_stored_total{feed="blc"} 5.0' in text
        assert "bantin_telegram_429_total 0.0" in text
    finally:
        await server.stop()


async def test_a_crashing_feed_leaves_the_tick_to_the_healthy_ones(
    tmp_path: Path,
    storage: Storage,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A bug in one feed's processing must not cost the healthy feeds of the same tick
    their metrics, nor the bot its last_poll_at (which /healthz judges it by)."""
    tuoitre = Path(__file__).parent / "data" / "feeds" / "tuoitre.rss"
    settings = settings_for(
        tmp_path,
        config(tmp_path) + f'\n[[feeds]]\nid = "buggy"\nname = "Lỗi"\nurl = "{tuoitre}"\n',
    )
    await storage.sync_feeds((f.id, f.url) for f in settings.feeds)
    real = bot.normalize.normalize_feed

    def normalize_with_a_bug(entries: list[FeedEntry], feed_id: str, url: str) -> NormalizedFeed:
        if feed_id == "buggy":  # no real input reaches a bug on purpose: one is planted
            raise RuntimeError("a planted bug")
        return real(entries, feed_id, url)

    monkeypatch.setattr(bot.pipeline, "normalize_feed", normalize_with_a_bug)
    async with make_http_client() as client:
        app = BotParts(settings, storage, client, stdout=io.StringIO(), env={}).app
        with caplog.at_level(logging.INFO, logger="bot.pipeline"):
            await app.poll_due()
    assert app.last_poll_at is not None
    metrics = app.metrics.render().decode()
    assert 'bantin_polls_total{feed="blc",outcome="new"} 1.0' in metrics
    assert 'bantin_articles_stored_total{feed="blc"} 5.0' in metrics
    assert 'bantin_polls_total{feed="buggy",outcome="error"} 1.0' in metrics
    [crash] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "feed=buggy crashed" in crash.getMessage()
    assert crash.exc_info and "a planted bug" in str(crash.exc_info[1])
    states = await storage.feed_states()
    assert states["blc"].last_error is None and states["blc"].article_count == 5
    buggy = states["buggy"]
    assert buggy.last_error == "internal error: RuntimeError('a planted bug')"
    assert buggy.consecutive_failures == 1 and buggy.article_count == 0


async def test_reload_applies_a_valid_config_and_keeps_the_old_one_otherwise(
    tmp_path: Path, app: BotApp
) -> None:
    app.start_scheduler()
    path = app.settings.config_path
    tuoitre = Path(__file__).parent / "data" / "feeds" / "tuoitre.rss"
    write_config(tmp_path, config(tmp_path) + f'\n[[feeds]]\nid = "vne"\nname = "Tuổi Trẻ"\n'
                 f'url = "{tuoitre}"\nfetch_pages = false\n')  # fmt: skip
    applied, report = await app.reload()
    assert applied and "+1 mới" in report
    assert {f.id for f in app.settings.feeds} == {"blc", "vne"}
    assert app.scheduler.get_job("poll") is not None
    assert app.editions.settings is app.settings
    for _ in range(100):  # a new feed is polled at once, not at the next tick
        if (state := (await app.storage.feed_states()).get("vne")) and state.last_polled_at:
            break
        await asyncio.sleep(0.05)
    assert (await app.storage.feed_states())["vne"].article_count == 6
    path.write_text(config(tmp_path).replace('"07:00"', '"7h"'), encoding="utf-8")
    applied, report = await app.reload()
    assert not applied
    assert "channels[0].schedule[0]" in report and "vẫn chạy cấu hình cũ" in report
    assert {f.id for f in app.settings.feeds} == {"blc", "vne"}  # unchanged
    assert app.scheduler.get_job("poll") is not None


# --- admin commands over the fake Bot API ---------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeBotAPI]:
    with FakeBotAPI(token=TOKEN) as api:
        yield api


async def ask(fake: FakeBotAPI, text: str, user: int, replies: int = 1) -> list[str]:
    before = len(fake.sent)
    fake.queue_message(text, user_id=user)
    for _ in range(300):
        got = [m.text for m in fake.sent[before:] if m.chat_id == str(user)]
        if len(got) >= replies:
            await asyncio.sleep(0.2)  # let any further replies land
            return [m.text for m in fake.sent[before:] if m.chat_id == str(user)]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no reply to {text!r}")


async def test_admin_commands(tmp_path: Path, fake: FakeBotAPI, storage: Storage) -> None:
    settings = settings_for(
        tmp_path, config(tmp_path), TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=fake.base_url
    )
    await storage.sync_feeds((f.id, f.url) for f in settings.feeds)
    async with make_http_client() as client:
        application = BotParts(settings, storage, client, env={}).application
        assert application is not None
        async with application:
            await _admin_commands(tmp_path, fake, storage, application)


async def _admin_commands(
    tmp_path: Path,
    fake: FakeBotAPI,
    storage: Storage,
    application: Application,  # type: ignore[type-arg]
) -> None:
    await application.start()
    assert application.updater is not None
    await application.updater.start_polling(poll_interval=0, timeout=1)
    try:
        for command in ("/status", "/poll", "/preview @kenh", "/reload"):
            [refusal] = await ask(fake, command, STRANGER)
            assert "chỉ dành cho quản trị viên" in refusal
        [status] = await ask(fake, "/status", ADMIN)
        assert "Trạng thái Bản tin" in status and "blc: chưa lấy tin" in status
        replies = await ask(fake, "/poll", ADMIN, replies=2)
        assert "5 bài mới, 0 nguồn lỗi" in replies[-1]
        preview = await ask(fake, "/preview @kenh", ADMIN)
        assert "Lai Châu" in preview[0]
        assert await storage.last_edition_at("@kenh") is None  # nothing recorded
        assert not [m for m in fake.sent if m.chat_id == "@kenh"]  # nothing posted
        [usage] = await ask(fake, "/preview", ADMIN)
        assert "Các kênh: @kenh" in usage
        [reloaded] = await ask(fake, "/reload", ADMIN)
        assert "Đã nạp lại cấu hình" in reloaded
        write_config(tmp_path, config(tmp_path) + '[[channels]]\nchat = "@kenh2"\n'
                     'schedule = ["08:00"]\n')  # fmt: skip
        [reloaded] = await ask(fake, "/reload", ADMIN)
        assert "2 kênh" in reloaded
        [usage] = await ask(fake, "/preview", ADMIN)
        assert "Các kênh: @kenh, @kenh2" in usage  # the commands answer from the new config
    finally:
        await application.updater.stop()
        await application.stop()


# --- data safety -------------------------------------------------------------------------------


def article(i: int) -> Article:
    return Article("blc", f"k{i}", f"https://baolaichau.vn/{i}", f"Tin Lai Châu số {i}",
                   "Hội nghị tổng kết công tác dân vận.", datetime.now(UTC))  # fmt: skip


async def test_backup_of_a_live_database_is_consistent(tmp_path: Path, storage: Storage) -> None:
    settings = settings_for(tmp_path, config(tmp_path))
    await storage.sync_feeds([("blc", "u")])
    await storage.add_articles([article(i) for i in range(200)], datetime.now(UTC))
    # The "bot" keeps writing while another process takes the backup.
    writer = asyncio.create_task(
        storage.add_articles([article(i) for i in range(200, 2200)], datetime.now(UTC))
    )
    target = tmp_path / "backups" / "copy.db"
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot", "backup", str(target), "--config", str(settings.config_path)],
        capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "BOT_DATABASE": str(tmp_path / "test.db")},
    )  # fmt: skip
    await writer
    assert done.returncode == 0, done.stderr
    copy = sqlite3.connect(target)
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    count = copy.execute("SELECT count(*) FROM articles").fetchone()[0]
    assert count in (200, 2200)  # before or after the writer's transaction, never half
    assert copy.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    copy.close()


@pytest.mark.parametrize("version", range(1, SCHEMA_VERSION))
async def test_migrations_from_every_earlier_version_keep_the_data(
    tmp_path: Path, version: int
) -> None:
    path = tmp_path / f"v{version}.db"
    async with aiosqlite.connect(path, isolation_level=None) as db:
        await migrate(db, path, target=version)
        await db.execute("INSERT INTO feeds (id, url) VALUES ('blc', 'u')")
        await db.execute(
            """INSERT INTO articles (feed_id, dedup_key, url, title, summary, first_seen_at,
               title_fold, summary_fold) VALUES ('blc', 'k', 'https://x.vn/1',
               'Thủy điện Hòa Bình xả đáy', 'Mực nước sông Đà lên', ?, 'thuy dien hoa binh xa day',
               'muc nuoc song da len')""",
            (datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),),
        )
        await db.execute(
            "INSERT INTO editions (destination, title, planned_at)"
            " VALUES ('@kenh', 'T', '2026-11-27 00:00:00')"
        )
        await db.execute("INSERT INTO edition_parts (edition_id, seq, text) VALUES (1, 0, 'phần')")
    storage = await Storage.open(path)
    try:
        assert schema_version(storage.path) == SCHEMA_VERSION
        hits = await storage.search(parse_query("thuỷ điện hoà bình"), limit=5)
        assert [h.title for h in hits] == ["Thủy điện Hòa Bình xả đáy"]
        assert [p.text for p in await storage.pending_parts("@kenh")] == ["phần"]
        assert (await storage.channel_state("@kenh")).pending_parts == 1
    finally:
        await storage.close()


def test_token_never_appears_in_json_logs(tmp_path: Path) -> None:
    path = write_config(tmp_path, config(tmp_path))
    done = subprocess.run(
        [sys.executable, "-m", "bot", "--log-format", "json", "poll-once", "--config", str(path)],
        capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "BOT_DATABASE": str(tmp_path / "db.sqlite"),
             "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": "http://127.0.0.1:9/bot"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert any("poll feed=blc outcome=new" in line["message"] for line in lines)
    assert TOKEN not in done.stderr and TOKEN not in done.stdout


@pytest.mark.slow
def test_sighup_reloads_and_a_bad_config_is_kept_out(tmp_path: Path) -> None:
    from botprocess import BotProcess

    path = write_config(tmp_path, config(tmp_path))
    env = {"BOT_DATABASE": str(tmp_path / "db.sqlite"), "LOG_LEVEL": "INFO"}
    bot = BotProcess(["run", "--config", str(path)], env, tmp_path)
    try:
        bot.wait_for_log("first poll done")
        path.write_text(config(tmp_path).replace('"07:00"', '"7h sáng"'), encoding="utf-8")
        bot.proc.send_signal(signal.SIGHUP)
        bot.wait_for_log("reload rejected problems=1")
        path.write_text(config(tmp_path).replace('"07:00"', '"08:00"'), encoding="utf-8")
        bot.proc.send_signal(signal.SIGHUP)
        bot.wait_for_log("reload applied feeds=1")
    finally:
        assert bot.stop() == 0
    assert "Traceback" not in bot.log


def test_cli_imports_and_exports_opml(tmp_path: Path) -> None:
    path = write_config(tmp_path, "# my feeds\n" + config(tmp_path))
    original = path.read_text(encoding="utf-8")
    opml = Path(__file__).parent / "data" / "opml" / "inoreader.opml"
    run = [sys.executable, "-m", "bot"]
    env = {"PATH": "/usr/bin:/bin", "BOT_DATABASE": str(tmp_path / "db.sqlite")}
    done = subprocess.run(
        [*run, "import-opml", str(opml), "--config", str(path)],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Added" in done.stdout
    updated = path.read_text(encoding="utf-8")
    assert updated.startswith(original)  # the admin's comments and layout are untouched
    exported = subprocess.run(
        [*run, "export-opml", "--config", str(path)], capture_output=True, timeout=60, env=env
    )
    assert exported.returncode == 0
    text = exported.stdout.decode("utf-8")
    assert text.startswith("<?xml") and 'version="2.0"' in text
    assert "vnexpress.net" in text and "Tuổi Trẻ" in text
