"""The README tells the truth: its config example loads, every command is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import ROOT

from bot.__main__ import _parser
from bot.handlers import COMMANDS
from bot.settings import (
    BotSection,
    ChannelConfig,
    EditionConfig,
    FeedConfig,
    HttpSection,
    load_settings,
)

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_config_example_is_valid(tmp_path: Path) -> None:
    example = re.search(r"```toml\n(.*?)```", README, re.S)
    assert example is not None
    path = tmp_path / "bot.toml"
    path.write_text(example.group(1), encoding="utf-8")
    settings = load_settings({}, str(path))
    channel = settings.channels[0]
    assert [e.name for e in channel.editions] == ["Bản tin sáng", "Bản tin tối"]
    assert settings.http_listen == ("127.0.0.1", 8080)


@pytest.mark.parametrize(
    "key",
    sorted(
        {
            *BotSection.model_fields,
            *HttpSection.model_fields,
            *FeedConfig.model_fields,
            *ChannelConfig.model_fields,
            *EditionConfig.model_fields,
        }
    ),
)
def test_every_config_key_is_documented(key: str) -> None:
    assert re.search(rf"\b{key}\b", README), f"config key {key} is not in the README"


def test_every_cli_command_is_documented() -> None:
    commands = _parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name in commands:
        assert f"python -m bot {name}" in README, f"`python -m bot {name}` is not in the README"


@pytest.mark.parametrize("command", [c.command for c in COMMANDS] + ["status", "poll", "reload"])
def test_every_bot_command_is_documented(command: str) -> None:
    assert f"/{command}" in README
