"""The command line on real files: poll-once, search, digest --dry-run and digest."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conftest import write_config
from feedserver import FeedServer, render_feed


def run_cli(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args, "--config", str(tmp_path / "bot.toml")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "BOT_DATABASE": str(tmp_path / "db.sqlite"), **(env or {})},
    )


def setup(tmp_path: Path, server: FeedServer) -> None:
    now = datetime.now(UTC)
    server.add(
        "/tt.rss",
        render_feed(
            [
                {"title": "Hà Nội rét đậm", "link": "https://tuoitre.vn/ret.htm",
                 "description": "Nhiệt độ thấp nhất ở nội thành Hà Nội xuống 12 độ C.",
                 "pub_date": now - timedelta(hours=1)},
                {"title": "Đà Nẵng đón khách", "link": "https://tuoitre.vn/khach.htm",
                 "description": "Lượng khách quốc tế đến Đà Nẵng tháng này tăng 20% so cùng kỳ.",
                 "pub_date": now - timedelta(hours=2)},
            ]
        ),
    )  # fmt: skip
    write_config(
        tmp_path,
        f"""
        [[feeds]]
        id = "tuoitre"
        name = "Tuổi Trẻ"
        url = "{server.url("/tt.rss")}"
        allow_private = true

        [[feeds]]
        id = "down"
        name = "Báo hỏng"
        url = "{server.url("/missing.rss")}"
        allow_private = true

        [[channels]]
        chat = "@kenh"
        schedule = ["07:00"]
        """,
    )


def test_poll_once_reports_each_feed_and_exits_0(tmp_path: Path, feed_server: FeedServer) -> None:
    setup(tmp_path, feed_server)
    first = run_cli(tmp_path, "poll-once")
    assert first.returncode == 0, first.stderr
    assert "tuoitre  new: 2 new of 2 entries" in first.stdout
    assert "down     error: FetchError: HTTP 404 Not Found" in first.stdout
    second = run_cli(tmp_path, "poll-once")
    assert "tuoitre  unchanged" in second.stdout


def test_search_prints_the_reply(tmp_path: Path, feed_server: FeedServer) -> None:
    setup(tmp_path, feed_server)
    run_cli(tmp_path, "poll-once")
    done = run_cli(tmp_path, "search", "da", "nang")
    assert done.returncode == 0
    assert "Đà Nẵng đón khách\nhttps://tuoitre.vn/khach.htm" in done.stdout
    assert "Hà Nội" not in done.stdout


def test_digest_dry_run_records_nothing_then_console_digest_once(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    setup(tmp_path, feed_server)
    run_cli(tmp_path, "poll-once")
    for _ in range(2):
        dry = run_cli(tmp_path, "digest", "@kenh", "--dry-run")
        assert dry.returncode == 0
        assert "Hà Nội rét đậm" in dry.stdout
    real = run_cli(tmp_path, "digest", "@kenh")  # no token: printed, and recorded as such
    assert "Hà Nội rét đậm" in real.stdout and "Đà Nẵng đón khách" in real.stdout
    again = run_cli(tmp_path, "digest", "@kenh")
    assert "Nothing new for @kenh." in again.stdout
    unknown = run_cli(tmp_path, "digest", "@khong_co")
    assert unknown.returncode == 2
    assert "configured channels: @kenh" in unknown.stderr
