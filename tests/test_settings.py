"""Config validation: a bad config names the file, the key, the value and the fix."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import ROOT, settings_for, write_config

from bot.errors import ConfigError
from bot.settings import load_settings

VALID = """
[bot]
timezone = "Asia/Ho_Chi_Minh"
database = "data/x.db"
admins = [123456789]

[[feeds]]
id = "vnexpress"
name = "VnExpress"
url = "https://vnexpress.net/rss/tin-moi-nhat.rss"
category = "Thời sự"
interval = "15m"

[[feeds]]
id = "tuoitre"
name = "Tuổi Trẻ"
url = "https://tuoitre.vn/rss/tin-moi-nhat.rss"

[[channels]]
chat = "@bantin_demo"
schedule = ["07:00", "0 19 * * *"]
feeds = ["vnexpress"]
max_items = 8
"""


def test_valid_config_loads_with_defaults(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, VALID)
    assert [f.id for f in settings.feeds] == ["vnexpress", "tuoitre"]
    assert settings.feeds[0].interval == timedelta(minutes=15)
    assert settings.feeds[1].interval == timedelta(minutes=10)  # the default
    assert settings.timezone.key == "Asia/Ho_Chi_Minh"
    assert settings.admins == (123456789,)
    channel = settings.channels[0]
    assert [f.id for f in settings.channel_feeds(channel)] == ["vnexpress"]
    assert settings.console_mode  # no token in the environment
    assert settings.database == tmp_path / "bantin.db"  # BOT_DATABASE wins over [bot]


def test_shipped_config_is_valid() -> None:
    settings = load_settings({}, str(ROOT / "config" / "bot.toml"))
    names = {f.name for f in settings.feeds}
    assert {
        "VnExpress",
        "Tuổi Trẻ",
        "Thanh Niên",
        "Dân trí",
        "VietnamPlus",
        "Báo Lai Châu",
    } <= names
    assert len(settings.channels) == 1


@pytest.mark.parametrize(
    ("change", "key", "hint"),
    [
        (('timezone = "Asia/Ho_Chi_Minh"', 'timezone = "Asia/Hanoi"'), "bot.timezone", "IANA"),
        (("admins = [123456789]", "admins = [123456789]\nadmin = 1"), "bot.admin", "unknown key"),
        (('interval = "15m"', 'interval = "15 phút"'), "feeds[0].interval", "duration"),
        (('interval = "15m"', 'interval = "10s"'), "feeds[0].interval", "between 1m and 24h"),
        (
            ('url = "https://vnexpress.net/rss/tin-moi-nhat.rss"', 'url = "ftp://vnexpress.net"'),
            "feeds[0].url",
            "http(s) URL",
        ),
        (('url = "https://tuoitre.vn/rss/tin-moi-nhat.rss"', "url = 5"), "feeds[1].url", "URL"),
        (('id = "tuoitre"', 'id = "vnexpress"'), "feeds[1].id", "unique"),
        (('id = "tuoitre"', 'id = "Tuổi Trẻ"'), "feeds[1].id", "lowercase letters"),
        (('chat = "@bantin_demo"', 'chat = "bantin demo"'), "channels[0].chat", "@username"),
        (('"07:00", ', '"7h sáng", '), "channels[0].schedule[0]", "HH:MM"),
        (('"0 19 * * *"', '"0 25 * * *"'), "channels[0].schedule[1]", "crontab"),
        (('feeds = ["vnexpress"]', 'feeds = ["vnexpres"]'), "channels[0].feeds[0]", "vnexpress"),
        (("max_items = 8", 'max_items = "8"'), "channels[0].max_items", "whole number"),
        (("max_items = 8", "max_items = 0"), "channels[0].max_items", "greater than or equal"),
        (('name = "Tuổi Trẻ"\n', ""), "feeds[1].name", "required"),
    ],
)
def test_each_mistake_is_reported_with_key_and_fix(
    tmp_path: Path, change: tuple[str, str], key: str, hint: str
) -> None:
    old, new = change
    assert old in VALID
    with pytest.raises(ConfigError) as caught:
        settings_for(tmp_path, VALID.replace(old, new, 1))
    messages = [str(p) for p in caught.value.problems]
    matching = [m for m in messages if f": {key}" in m]
    assert matching, messages
    assert hint in matching[0]
    assert str(tmp_path / "bot.toml") in matching[0]


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    broken = VALID.replace('"Asia/Ho_Chi_Minh"', '"Mars/Base"').replace('"@bantin_demo"', '"x"')
    broken = broken.replace('id = "tuoitre"', 'id = "vnexpress"')
    with pytest.raises(ConfigError) as caught:
        settings_for(tmp_path, broken)
    keys = {p.key for p in caught.value.problems}
    assert {"bot.timezone", "channels[0].chat", "feeds[1].id"} <= keys


def test_bad_token_is_reported_without_echoing_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_for(tmp_path, VALID, TELEGRAM_BOT_TOKEN="oops-secret-value")
    assert "TELEGRAM_BOT_TOKEN" in str(caught.value)
    assert "oops-secret-value" not in str(caught.value)


def test_local_feed_path_must_exist(tmp_path: Path) -> None:
    config = VALID.replace("https://tuoitre.vn/rss/tin-moi-nhat.rss", str(tmp_path / "nope.xml"))
    with pytest.raises(ConfigError, match="existing local feed file"):
        settings_for(tmp_path, config)
    (tmp_path / "nope.xml").write_text("<rss/>")
    assert settings_for(tmp_path, config).feeds[1].url == str(tmp_path / "nope.xml")


def test_cli_exits_2_with_clear_messages_and_no_traceback(tmp_path: Path) -> None:
    path = write_config(tmp_path, VALID.replace('"07:00"', '"25:99"'))
    done = subprocess.run(
        [sys.executable, "-m", "bot", "check-config", "--config", str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 2
    assert "channels[0].schedule[0] = '25:99'" in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_missing_config_file(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "check-config", "--config", str(tmp_path / "none.toml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "does not exist" in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_check_config_summarises(tmp_path: Path) -> None:
    path = write_config(tmp_path, VALID)
    done = subprocess.run(
        [sys.executable, "-m", "bot", "check-config", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "feeds: 2" in done.stdout
    assert "@bantin_demo: 07:00, 0 19 * * *" in done.stdout


def test_summary_and_page_settings(tmp_path: Path) -> None:
    config = VALID.replace(
        "max_items = 8", "max_items = 8\nsummary_sentences = 1\nsummary_chars = 160"
    )
    config = config.replace('interval = "15m"', 'interval = "15m"\nfetch_pages = false')
    settings = settings_for(tmp_path, config)
    assert (settings.channels[0].summary_sentences, settings.channels[0].summary_chars) == (1, 160)
    assert settings.feeds[0].fetch_pages is False and settings.feeds[1].fetch_pages is True
    with pytest.raises(ConfigError, match="summary_chars"):
        settings_for(tmp_path, config.replace("summary_chars = 160", "summary_chars = 20"))


def test_breaking_news_settings(tmp_path: Path) -> None:
    config = VALID.replace(
        "max_items = 8", 'max_items = 8\nbreaking = {outlets = 3, within = "90m"}'
    )
    breaking = settings_for(tmp_path, config).channels[0].breaking
    assert breaking is not None
    assert (breaking.outlets, breaking.within) == (3, timedelta(minutes=90))
    assert (breaking.max_per_day, breaking.min_gap) == (3, timedelta(hours=2))  # defaults
    assert settings_for(tmp_path, VALID).channels[0].breaking is None  # off unless asked
    for bad, key in [
        ('{outlets = 1, within = "90m"}', "outlets"),
        ('{outlets = 3, within = "soon"}', "within"),
        ("{outlets = 3}", "within"),
        ('{outlets = 3, within = "1h", max_per_day = 0}', "max_per_day"),
        ('{outlets = 3, within = "1h", min_gap = "2d"}', "min_gap"),
        ('{outlets = 3, within = "1h", often = true}', "often"),
    ]:
        with pytest.raises(ConfigError, match=key):
            settings_for(tmp_path, config.replace('{outlets = 3, within = "90m"}', bad))
