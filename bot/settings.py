"""Settings: the TOML config file and the environment, validated once and frozen.

`load_settings` is called once by the CLI and the result is passed to whatever needs it;
nothing reads the environment at import time. Every problem found is reported, each naming
the file, the key, the bad value and what would be valid (`errors.ConfigProblem`).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from bot.errors import ConfigError, ConfigProblem

DEFAULT_CONFIG = "config/bot.toml"
DEFAULT_API_BASE_URL = "https://api.telegram.org/bot"
_TOKEN = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{20,}$")
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_LOCAL_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$")
_CHAT = re.compile(r"^(@[A-Za-z][A-Za-z0-9_]{3,31}|-?\d{1,20})$")
MIN_INTERVAL = timedelta(minutes=1)
MAX_INTERVAL = timedelta(hours=24)


def parse_duration(text: str) -> timedelta:
    """ "10m", "1h30m", "90s" → timedelta; ValueError with the accepted forms otherwise."""
    match = _DURATION.match(text.strip())
    if not text.strip() or match is None:
        raise ValueError('a duration like "90s", "10m" or "1h30m"')
    hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


def _interval(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError('a duration string like "10m" or "1h"')
    interval = parse_duration(value)
    if not MIN_INTERVAL <= interval <= MAX_INTERVAL:
        raise ValueError("a duration between 1m and 24h")
    return interval


def schedule_trigger(spec: str, timezone: ZoneInfo) -> CronTrigger:
    """A schedule entry as an APScheduler trigger: "07:00", "07:00:30" or 5-field crontab."""
    local = _LOCAL_TIME.match(spec.strip())
    if local:
        hour, minute, second = local.groups()
        return CronTrigger(hour=hour, minute=minute, second=second or 0, timezone=timezone)
    if len(spec.split()) != 5:
        raise ValueError('a local time "HH:MM" or a 5-field crontab like "0 7,19 * * *"')
    try:
        return CronTrigger.from_crontab(spec, timezone=timezone)
    except ValueError as exc:
        raise ValueError(f'a valid 5-field crontab like "0 7,19 * * *" ({exc})') from None


def _schedule_entry(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError('a string: "HH:MM" or a 5-field crontab')
    schedule_trigger(value, ZoneInfo("UTC"))  # the timezone does not change validity
    return value.strip()


def _feed_url(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("an http(s) URL or the path of a local feed file")
    url: str = value.strip()
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        if not parts.netloc:
            raise ValueError("an http(s) URL with a host name")
        return url
    if parts.scheme and len(parts.scheme) > 1:  # "C:" is a drive, not a scheme
        raise ValueError("an http(s) URL or the path of a local feed file")
    if not Path(url).is_file():
        raise ValueError("an http(s) URL, or the path of an existing local feed file")
    return url


_DOMAIN = re.compile(
    r"^(?:\*|[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*)$"
)


def _page_domain(value: Any) -> str:
    text = value.strip().rstrip(".").lower() if isinstance(value, str) else ""
    try:
        text = text.encode("idna").decode("ascii") if text and text != "*" else text
    except UnicodeError:
        text = ""
    if not _DOMAIN.match(text):
        raise ValueError('a domain name like "vnexpress.net" (no scheme or path), or "*"')
    return text


def _timezone(value: Any) -> str:
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError('an IANA time zone name like "Asia/Ho_Chi_Minh"') from None
    return str(value)


def _chat(value: Any) -> str:
    text = str(value).strip() if isinstance(value, str | int) else ""
    if not _CHAT.match(text):
        raise ValueError('a channel "@username" or a numeric chat id like -1001234567890')
    return text


class _Section(BaseModel):
    # Strict scalars: "10" is not silently accepted for 10; lists still become tuples.
    model_config = ConfigDict(extra="forbid", frozen=True)


class BotSection(_Section):
    timezone: Annotated[str, BeforeValidator(_timezone)] = "Asia/Ho_Chi_Minh"
    database: StrictStr = "data/bantin.db"
    admins: tuple[StrictInt, ...] = ()
    retention_days: StrictInt = Field(default=365, ge=1, le=3650)


class FeedConfig(_Section):
    """One configured feed."""

    id: StrictStr = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")
    name: StrictStr = Field(min_length=1, max_length=80)
    url: Annotated[str, BeforeValidator(_feed_url)]
    category: StrictStr = ""
    interval: Annotated[timedelta, BeforeValidator(_interval)] = timedelta(minutes=10)
    # When an entry has no real sapo, fetch its page once to summarise the article itself.
    fetch_pages: StrictBool = True
    # Only public addresses are fetched; this lets the feed's own host be a loopback or
    # private one (an intranet feed). Redirects and pages elsewhere must still be public.
    allow_private: StrictBool = False
    # Pages are fetched only on the feed's own site (registrable domain); these add others
    # (and their subdomains), for feeds served from a feed host; "*" allows any domain.
    page_domains: tuple[Annotated[str, BeforeValidator(_page_domain)], ...] = ()


ScheduleEntry = Annotated[str, BeforeValidator(_schedule_entry)]


class BreakingConfig(_Section):
    """Breaking news: a story posted at once when `outlets` outlets report it `within`."""

    outlets: StrictInt = Field(ge=2, le=20)
    within: Annotated[timedelta, BeforeValidator(_interval)]
    max_per_day: StrictInt = Field(default=3, ge=1, le=24)
    min_gap: Annotated[timedelta, BeforeValidator(_interval)] = timedelta(hours=2)


class EditionConfig(_Section):
    """A named edition: "Bản tin sáng" at "07:00" (or a crontab)."""

    name: StrictStr = Field(min_length=1, max_length=60)
    at: ScheduleEntry


class ChannelConfig(_Section):
    """One channel (or group) that receives editions."""

    chat: Annotated[str, BeforeValidator(_chat)]
    schedule: tuple[ScheduleEntry, ...] = ()
    editions: tuple[EditionConfig, ...] = ()
    feeds: tuple[StrictStr, ...] | None = None
    max_items: StrictInt = Field(default=10, ge=1, le=50)
    max_per_section: StrictInt | None = Field(default=None, ge=1, le=50)
    sections: tuple[StrictStr, ...] = ()
    include: tuple[StrictStr, ...] = ()
    exclude: tuple[StrictStr, ...] = ()
    preview: Literal["off", "top"] = "off"
    summary_sentences: StrictInt = Field(default=2, ge=1, le=5)
    summary_chars: StrictInt = Field(default=280, ge=80, le=1000)
    breaking: BreakingConfig | None = None
    # Publish this channel's sent editions on the public site and its feeds (bot.web).
    web: StrictBool = False
    # A forum topic of a group (its message_thread_id): editions go into that topic.
    thread: StrictInt | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _has_a_time(self) -> ChannelConfig:
        if not self.schedule and not self.editions:
            raise ValueError(
                'a schedule = ["07:00", …] or editions = [{name = "…", at = "07:00"}] '
                "saying when this channel gets its editions"
            )
        return self


def _listen(value: Any) -> str:
    host, _, port = str(value).rpartition(":")
    if not isinstance(value, str) or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError('a "host:port" to listen on, like "127.0.0.1:8080"')
    return value


class HttpSection(_Section):
    """The optional health and metrics endpoint."""

    listen: Annotated[str, BeforeValidator(_listen)] | None = None


class ConfigFile(_Section):
    bot: BotSection = BotSection()
    http: HttpSection = HttpSection()
    feeds: tuple[FeedConfig, ...] = Field(min_length=1)
    channels: tuple[ChannelConfig, ...] = ()


@dataclass(frozen=True)
class Settings:
    """Everything the program needs to know, loaded once and passed in."""

    config_path: Path
    token: str | None  # never logged; None means console mode
    api_base_url: str
    database: Path
    timezone: ZoneInfo
    admins: tuple[int, ...]
    retention_days: int
    http_listen: tuple[str, int] | None  # /healthz, /metrics and the site; None: not served
    feeds: tuple[FeedConfig, ...]
    channels: tuple[ChannelConfig, ...]
    # Proxies (may hold credentials: never logged): every Bot API call, and feed/page fetches.
    telegram_proxy: str | None = None
    feeds_proxy: str | None = None

    @property
    def console_mode(self) -> bool:
        return self.token is None

    @property
    def secrets(self) -> list[str]:
        """What logs must never show: the token and any proxy's user name and password."""
        found = [self.token or ""]
        for proxy in (self.telegram_proxy, self.feeds_proxy):
            parts = urlsplit(proxy or "")
            userinfo = parts.netloc.rpartition("@")[0]  # "user:password", as written
            found += [userinfo, parts.password or "", unquote(parts.password or "")]
        return [s for s in found if s]

    def channel(self, chat: str) -> ChannelConfig | None:
        return next((c for c in self.channels if c.chat == chat), None)

    def channel_feeds(self, channel: ChannelConfig) -> tuple[FeedConfig, ...]:
        if channel.feeds is None:
            return self.feeds
        return tuple(f for f in self.feeds if f.id in channel.feeds)


class CurrentSettings:
    """The settings in force, held in one place for every part of the running bot.

    Settings themselves are frozen; a reload (bot.runtime.BotApp.reload) puts a whole new
    `Settings` in `value`, and each part reads `value` when it acts, so none keeps a copy
    that could go stale.
    """

    def __init__(self, value: Settings) -> None:
        self.value = value


def load_settings(env: Mapping[str, str], config_path: str | None = None) -> Settings:
    """Read and validate the config file named by the argument or `BOT_CONFIG`, plus `env`.

    Raises ConfigError listing every problem found.
    """
    path = Path(config_path or env.get("BOT_CONFIG") or DEFAULT_CONFIG)
    source = str(path)
    raw = _read_toml(path)
    problems = _cross_check(source, raw) + _check_env(env)
    try:
        config = ConfigFile.model_validate(raw)
    except ValidationError as exc:
        problems = _problems(source, exc) + problems
    if problems:
        raise ConfigError(problems)
    token = env.get("TELEGRAM_BOT_TOKEN", "").strip() or None
    return Settings(
        config_path=path,
        token=token,
        api_base_url=env.get("TELEGRAM_API_BASE_URL", "").strip() or DEFAULT_API_BASE_URL,
        database=Path(env.get("BOT_DATABASE", "").strip() or config.bot.database),
        timezone=ZoneInfo(config.bot.timezone),
        admins=config.bot.admins,
        retention_days=config.bot.retention_days,
        http_listen=_host_port(env.get("BOT_HTTP_LISTEN", "").strip() or config.http.listen),
        feeds=config.feeds,
        channels=config.channels,
        telegram_proxy=env.get("TELEGRAM_PROXY", "").strip() or None,
        feeds_proxy=env.get("FEEDS_PROXY", "").strip() or None,
    )


def _host_port(listen: str | None) -> tuple[str, int] | None:
    if not listen:
        return None
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        expected = "the config file does not exist; copy config/bot.toml or set BOT_CONFIG"
        raise ConfigError([ConfigProblem(str(path), "(file)", "", expected)]) from None
    except OSError as exc:
        raise ConfigError([ConfigProblem(str(path), "(file)", "", exc.strerror or "")]) from None
    except tomllib.TOMLDecodeError as exc:
        problem = ConfigProblem(str(path), "(syntax)", "", f"not valid TOML: {exc}")
        raise ConfigError([problem]) from None


_PLAIN_MESSAGES = {
    "int_type": "expected a whole number, written without quotes",
    "string_type": "expected a string in double quotes",
    "tuple_type": "expected a list in square brackets",
    "bool_type": "expected true or false",
    # Only feed ids carry a pattern.
    "string_pattern_mismatch": 'expected a short id of lowercase letters, digits, "-" or "_"',
}


def _problems(source: str, exc: ValidationError) -> list[ConfigProblem]:
    errors = exc.errors()
    failed = {tuple(err["loc"]) for err in errors if err["type"] != "too_short"}
    # A list whose every item failed is also "too short"; the item errors already say why.
    return [
        _problem(source, err)
        for err in errors
        if not (err["type"] == "too_short" and any(_within(loc, err["loc"]) for loc in failed))
    ]


def _within(loc: tuple[Any, ...], parent: tuple[Any, ...]) -> bool:
    return len(loc) > len(parent) and loc[: len(parent)] == tuple(parent)


def _problem(source: str, error: Any) -> ConfigProblem:
    key = _dotted(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        return ConfigProblem(source, key, "", f"unknown key; {_known_keys(error['loc'])}")
    if kind == "missing":
        return ConfigProblem(source, key, "", "required key is missing")
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind == "value_error":
        message = f"expected {message}"
    message = _PLAIN_MESSAGES.get(kind, message)
    return ConfigProblem(source, key, _shown(error.get("input")), message)


def _known_keys(loc: tuple[Any, ...]) -> str:
    models: dict[str, type[BaseModel]] = {
        "bot": BotSection,
        "feeds": FeedConfig,
        "channels": ChannelConfig,
        "http": HttpSection,
    }
    if len(loc) > 3 and loc[0] == "channels" and loc[2] == "editions":
        return "valid keys here: " + ", ".join(EditionConfig.model_fields)
    model = models.get(str(loc[0]), ConfigFile) if len(loc) > 1 else ConfigFile
    return "valid keys here: " + ", ".join(model.model_fields)


def _dotted(loc: tuple[Any, ...]) -> str:
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    return key or "(top level)"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _cross_check(source: str, raw: dict[str, Any]) -> list[ConfigProblem]:
    """Checks across tables; run on the raw data so they are reported with the rest."""
    problems = []
    seen: set[str] = set()
    for index, feed in enumerate(_tables(raw, "feeds")):
        feed_id = feed.get("id")
        if not isinstance(feed_id, str):
            continue
        if feed_id in seen:
            expected = "feed ids must be unique; rename one of them"
            problems.append(ConfigProblem(source, f"feeds[{index}].id", repr(feed_id), expected))
        seen.add(feed_id)
    chats: set[str] = set()
    for index, channel in enumerate(_tables(raw, "channels")):
        chat = str(channel.get("chat", "")).strip()
        if chat and chat in chats:
            expected = "each chat may appear once; merge the two [[channels]] tables"
            key = f"channels[{index}].chat"
            problems.append(ConfigProblem(source, key, repr(chat), expected))
        chats.add(chat)
        feeds = channel.get("feeds")
        for position, feed_id in enumerate(feeds if isinstance(feeds, list) else ()):
            if isinstance(feed_id, str) and feed_id not in seen:
                expected = "one of the configured feed ids: " + ", ".join(sorted(seen))
                key = f"channels[{index}].feeds[{position}]"
                problems.append(ConfigProblem(source, key, repr(feed_id), expected))
    return problems


def _tables(raw: dict[str, Any], name: str) -> list[dict[str, Any]]:
    value = raw.get(name)
    return [t for t in value if isinstance(t, dict)] if isinstance(value, list) else []


def _check_env(env: Mapping[str, str]) -> list[ConfigProblem]:
    problems = []
    token = env.get("TELEGRAM_BOT_TOKEN", "").strip()
    if token and not _TOKEN.match(token):
        # The value is a secret: say what is wrong without echoing it.
        expected = 'a token from @BotFather like "123456789:AA…" (value hidden)'
        problems.append(ConfigProblem("environment", "TELEGRAM_BOT_TOKEN", "", expected))
    listen = env.get("BOT_HTTP_LISTEN", "").strip()
    if listen:
        try:
            _listen(listen)
        except ValueError as exc:
            problems.append(ConfigProblem("environment", "BOT_HTTP_LISTEN", repr(listen), str(exc)))
    base = env.get("TELEGRAM_API_BASE_URL", "").strip()
    if base and (urlsplit(base).scheme not in ("http", "https") or not urlsplit(base).netloc):
        expected = f'an http(s) URL like "{DEFAULT_API_BASE_URL}"'
        problems.append(ConfigProblem("environment", "TELEGRAM_API_BASE_URL", repr(base), expected))
    for name in ("TELEGRAM_PROXY", "FEEDS_PROXY"):
        problems += _check_proxy(name, env.get(name, "").strip())
    return problems


PROXY_SCHEMES = ("http", "https", "socks5")


def _check_proxy(name: str, value: str) -> list[ConfigProblem]:
    if not value:
        return []
    parts = urlsplit(value)
    try:
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        port_ok = False
    if parts.scheme in PROXY_SCHEMES and parts.hostname and port_ok:
        return []
    # The value may hold a password: show it without its credentials.
    shown = repr(redact_url(value))
    expected = 'a proxy URL like "socks5://user:password@host:1080" (http, https or socks5)'
    return [ConfigProblem("environment", name, shown, expected)]


def redact_url(url: str) -> str:
    """The URL with any user name and password replaced by ***."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    if "@" not in authority:
        return url
    return f"{scheme}://***@{authority.rpartition('@')[2]}{slash}{path}"
