"""Shared test fixtures: paths, real SQLite storage, a loopback feed server, config files."""

from __future__ import annotations

import os
import socket
import sqlite3
import textwrap
from collections.abc import AsyncIterator, Iterator
from contextlib import closing
from pathlib import Path

import pytest
from feedserver import FeedServer

from bot.settings import Settings, load_settings
from bot.storage import Storage

ROOT = Path(__file__).resolve().parent.parent
FEEDS = ROOT / "tests" / "data" / "feeds"
GOLDEN = ROOT / "tests" / "golden"
# Third-party material (real feeds, pages, evaluation data) lives beside the project, read-only,
# and is never copied in. Checks on it are marked `real_samples` and run only where it exists.
SHARED = ROOT.parent / "shared"
SAMPLES = SHARED / "samples"
SHARED_MISSING = f"{SHARED} not found: checks on the real third-party samples are not run"
UPDATE_GOLDEN = os.environ.get("UPDATE_GOLDEN") == "1"
os.environ.setdefault("PTB_TIMEDELTA", "1")  # as python -m bot does


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "real_samples: checks on the third-party samples in ../shared (run where it is)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip every `real_samples` test, with the one same reason, where ../shared is absent."""
    if SHARED.is_dir():
        return
    skip = pytest.mark.skip(reason=SHARED_MISSING)
    for item in items:
        if item.get_closest_marker("real_samples"):
            item.add_marker(skip)


def check_golden(name: str, actual: str) -> None:
    """Compare with tests/golden/NAME; UPDATE_GOLDEN=1 rewrites it (then review the diff)."""
    path = GOLDEN / name
    if UPDATE_GOLDEN or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        if not UPDATE_GOLDEN:
            pytest.fail(f"golden file {name} was missing and has been written; review it")
    assert actual == path.read_text(encoding="utf-8"), f"differs from golden file {name}"


def write_config(directory: Path, body: str) -> Path:
    path = directory / "bot.toml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def settings_for(directory: Path, body: str, **env: str) -> Settings:
    path = write_config(directory, body)
    return load_settings({"BOT_DATABASE": str(directory / "bantin.db"), **env}, str(path))


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests talk to 127.0.0.1 only: any other host name fails at once, loudly."""
    real = socket.getaddrinfo

    def guarded(host: object, *args: object, **kwargs: object) -> object:
        if host not in (None, "localhost", "::1") and not str(host).startswith("127."):
            raise OSError(f"test tried to reach {host!r}; only loopback is allowed")
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", guarded)


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[Storage]:
    db = await Storage.open(tmp_path / "test.db")
    yield db
    await db.close()


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


def schema_version(path: Path) -> int:
    """The schema version a database file is at, read beside the bot's own connection."""
    with closing(sqlite3.connect(path)) as raw:
        return int(raw.execute("PRAGMA user_version").fetchone()[0])
