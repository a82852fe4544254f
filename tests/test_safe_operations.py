"""Operations that must not hurt: metrics without user ids, a health server that idle
connections cannot hold, backups that never overwrite by surprise, config writes that keep
the file where and how it was."""

from __future__ import annotations

import io
import os
import socket
import sqlite3
import stat
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import settings_for, write_config

from bot.app import BotParts
from bot.fetch import make_http_client
from bot.metrics import HealthServer, Metrics
from bot.runtime import BotApp
from bot.storage import Storage

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


def test_an_idle_connection_is_closed() -> None:
    server = HealthServer(("127.0.0.1", 0), Metrics(), healthy, idle_timeout=0.5)
    server.start()
    try:
        with socket.create_connection(server.address, timeout=10) as idle:
            started = time.monotonic()
            assert idle.recv(1) == b""  # closed by the server, not by our 10 s timeout
            assert time.monotonic() - started < 9
    finally:
        server.stop()


def test_many_idle_connections_do_not_stop_healthz() -> None:
    # More idle connections than the server will serve at once, each saying nothing.
    server = HealthServer(("127.0.0.1", 0), Metrics(), healthy, idle_timeout=0.5, max_connections=8)
    server.start()
    idle = [socket.create_connection(server.address, timeout=10) for _ in range(40)]
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                assert healthz(server.address) == 200
                break
            except OSError:
                # Refused while full: it must come back once the idle ones are dropped.
                assert time.monotonic() < deadline, "/healthz never answered"
                time.sleep(0.1)
    finally:
        for connection in idle:
            connection.close()
        server.stop()


def test_idle_connections_under_the_limit_leave_healthz_answering_at_once() -> None:
    server = HealthServer(("127.0.0.1", 0), Metrics(), healthy, idle_timeout=30)
    server.start()
    idle = [socket.create_connection(server.address, timeout=10) for _ in range(20)]
    try:
        assert healthz(server.address, timeout=5) == 200
    finally:
        for connection in idle:
            connection.close()
        server.stop()


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
