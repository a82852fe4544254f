"""Operations that must not hurt: metrics without user ids, a health server that idle
connections cannot hold, backups that never overwrite by surprise, config writes that keep
the file where and how it was."""

from __future__ import annotations

import asyncio
import io
import os
import socket
import sqlite3
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from conftest import settings_for, write_config

from bot.app import BotParts
from bot.fetch import make_http_client
from bot.metrics import Metrics
from bot.runtime import BotApp
from bot.storage import Storage
from bot.web import Site, WebServer, make_app

ADMIN = 9001
CONFIG = """
[bot]
admins = [9001]

[[feeds]]
id = "blc"
name = "Báo Lai Châu"
url = "{url}"

[[channels]]
chat = "@kenh"
schedule = ["07:00"]
"""
FEED_FILE = Path(__file__).parent / "data" / "feeds" / "baolaichau_nfd.rss"


@pytest.fixture
async def app(tmp_path: Path, storage: Storage) -> AsyncIterator[BotApp]:
    settings = settings_for(tmp_path, CONFIG.format(url=FEED_FILE))
    await storage.sync_feeds((f.id, f.url) for f in settings.feeds)
    async with make_http_client() as client:
        yield BotParts(settings, storage, client, stdout=io.StringIO()).app


async def test_metrics_never_carry_an_admins_user_id(app: BotApp) -> None:
    await app.editions.tell_admins("Đã nạp lại cấu hình")
    rendered = app.metrics.render().decode()
    assert str(ADMIN) not in rendered
    assert 'bantin_messages_sent_total{chat="admin"} 1.0' in rendered


# ---------------------------------------------------------------- the health server


def healthy() -> tuple[bool, dict[str, object]]:
    return True, {}


def healthz(address: tuple[str, int], timeout: float = 5.0) -> int:
    url = "http://{}:{}/healthz".format(*address)
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return int(response.status)


@asynccontextmanager
async def serving(storage: Storage, **options: int) -> AsyncIterator[WebServer]:
    site = Site(lambda: pytest.fail("only /healthz is asked for here"), storage)
    server = WebServer(("127.0.0.1", 0), make_app(site, Metrics(), healthy), **options)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def wait_closed(address: tuple[str, int]) -> float:
    """Connect, say nothing, and return how long the server took to close the connection."""
    with socket.create_connection(address, timeout=10) as idle:
        started = time.monotonic()
        assert idle.recv(1) == b""  # closed by the server, not by our 10 s timeout
        return time.monotonic() - started


async def test_an_idle_connection_is_closed(storage: Storage) -> None:
    async with serving(storage, idle_timeout=1) as server:
        assert await asyncio.to_thread(wait_closed, server.address) < 9


def half_a_request(address: tuple[str, int]) -> float:
    """Send part of a request head, then nothing (a slow client)."""
    with socket.create_connection(address, timeout=10) as slow:
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        assert slow.recv(1) == b""
        return time.monotonic() - started


async def test_a_half_sent_request_is_closed(storage: Storage) -> None:
    async with serving(storage, idle_timeout=1) as server:
        assert await asyncio.to_thread(half_a_request, server.address) < 9


def hold_idle_then_check(address: tuple[str, int], count: int) -> int:
    idle = [socket.create_connection(address, timeout=10) for _ in range(count)]
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                return healthz(address)
            except (OSError, urllib.error.HTTPError):
                # Refused (503) while full: it must come back once the idle ones are dropped.
                assert time.monotonic() < deadline, "/healthz never answered"
                time.sleep(0.1)
    finally:
        for connection in idle:
            connection.close()


async def test_many_idle_connections_do_not_stop_healthz(storage: Storage) -> None:
    # More idle connections than the server will serve at once, each saying nothing.
    async with serving(storage, idle_timeout=1, max_connections=8) as server:
        assert await asyncio.to_thread(hold_idle_then_check, server.address, 40) == 200


async def test_idle_connections_under_the_limit_leave_healthz_answering_at_once(
    storage: Storage,
) -> None:
    async with serving(storage, idle_timeout=30) as server:
        assert await asyncio.to_thread(hold_idle_then_check, server.address, 20) == 200


# ---------------------------------------------------------------- backup


def run_cli(cwd: Path, *args: str, database: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args, "--config", str(cwd / "bot.toml")],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "BOT_DATABASE": str(database)},
    )


def make_live_database(tmp_path: Path) -> Path:
    write_config(tmp_path, CONFIG.format(url=FEED_FILE))
    live = tmp_path / "live.db"
    done = run_cli(tmp_path, "backup", str(tmp_path / "first.db"), database=live)
    assert done.returncode == 0, done.stderr  # opening it creates the live database
    return live


def feeds_in(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT id FROM feeds")]


def test_backup_refuses_to_overwrite_an_existing_file(tmp_path: Path) -> None:
    live = make_live_database(tmp_path)
    target = tmp_path / "precious.db"
    with sqlite3.connect(target) as db:
        db.execute("CREATE TABLE keep (x)")
    done = run_cli(tmp_path, "backup", str(target), database=live)
    assert done.returncode == 2
    assert "--force" in done.stderr and "exists" in done.stderr
    with sqlite3.connect(target) as db:
        assert db.execute("SELECT name FROM sqlite_master").fetchall() == [("keep",)]
    forced = run_cli(tmp_path, "backup", str(target), "--force", database=live)
    assert forced.returncode == 0, forced.stderr
    assert feeds_in(target) == ["blc"]


@pytest.mark.parametrize("how", ["same path", "relative path", "symlink"])
def test_backup_never_writes_over_the_live_database(tmp_path: Path, how: str) -> None:
    live = make_live_database(tmp_path)
    before = live.read_bytes()
    if how == "same path":
        target = str(live)
    elif how == "relative path":
        (tmp_path / "sub").mkdir()
        target = "sub/../live.db"
    else:
        os.symlink(live, tmp_path / "link.db")
        target = "link.db"
    done = run_cli(tmp_path, "backup", target, "--force", database=live)
    assert done.returncode == 2
    assert "live database" in done.stderr
    assert live.read_bytes() == before
    assert feeds_in(live) == ["blc"]


# ---------------------------------------------------------------- config writes


OPML = b"""<?xml version="1.0"?><opml version="2.0"><body>
<outline text="VnExpress" xmlUrl="https://vnexpress.net/rss/tin-moi-nhat.rss"/>
</body></opml>"""


def test_import_opml_writes_through_a_symlinked_config_and_keeps_its_mode(
    tmp_path: Path,
) -> None:
    real_dir = tmp_path / "etc"
    real_dir.mkdir()
    real = real_dir / "bantin.toml"
    real.write_text(CONFIG.format(url=FEED_FILE), encoding="utf-8")
    real.chmod(0o640)
    link = tmp_path / "bot.toml"
    os.symlink(real, link)
    (tmp_path / "feeds.opml").write_bytes(OPML)
    done = run_cli(tmp_path, "import-opml", "feeds.opml", database=tmp_path / "db.sqlite")
    assert done.returncode == 0, done.stderr
    assert link.is_symlink() and link.resolve() == real
    assert "vnexpress.net/rss/tin-moi-nhat.rss" in real.read_text(encoding="utf-8")
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert sorted(p.name for p in real_dir.iterdir()) == ["bantin.toml"]  # no temp file left
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
