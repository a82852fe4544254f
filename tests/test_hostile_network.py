"""Safe on the open web: only public addresses are fetched, and the bot token is never shown.

Everything runs on loopback, which is exactly what a feed must not reach unless its config
says `allow_private = true`; so the feed server here plays both the attacker's feed and the
private service it points at.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from botprocess import BotProcess
from conftest import settings_for, write_config
from fakebotapi import FakeBotAPI
from feedserver import FeedServer, drip, render_feed

from bot.editions import EditionRunner
from bot.fetch import fetch_feed, make_http_client
from bot.jobs import POLL_TICK_SECONDS
from bot.pipeline import poll_all
from bot.publish import ConsoleSender
from bot.query import parse_query
from bot.settings import CurrentSettings, Settings
from bot.storage import Storage

TOKEN = "123456789:AAFakeTokenForTestsOnly_abcdefghij"
SECRET_PAGE = """<!doctype html><html><head><title>Quản trị</title></head><body><article>
<h1>Trang quản trị nội bộ</h1>
<p>Mật khẩu quản trị của máy chủ nội bộ là hunter2, chỉ dành cho nhân viên vận hành.</p>
<p>Khoá truy cập đám mây của công ty được lưu ở đây để tiện tra cứu hằng ngày.</p>
</article></body></html>"""


def feed_table(feed_id: str, url: str, extra: str = "") -> str:
    return f'[[feeds]]\nid = "{feed_id}"\nname = "{feed_id}"\nurl = "{url}"\n{extra}\n'


def channel_table() -> str:
    return '[[channels]]\nchat = "@kenh"\nschedule = ["07:00"]\n'


def item(title: str, link: str, description: str = "") -> dict[str, object]:
    return {"title": title, "link": link, "description": description, "pub_date": datetime.now(UTC)}


async def poll(settings: Settings, storage: Storage) -> dict[str, str | None]:
    await storage.sync_feeds((f.id, f.url) for f in settings.feeds)
    async with make_http_client() as client:
        results = await poll_all(settings.feeds, storage, client)
    return {r.feed_id: r.error for r in results}


async def test_a_loopback_feed_is_refused_before_any_request(
    tmp_path: Path, feed_server: FeedServer, storage: Storage
) -> None:
    feed_server.add("/f.rss", render_feed([item("Tin", "https://vnexpress.net/a.html")]))
    feed_server.add("/ok.rss", render_feed([item("Tin khác", "https://vnexpress.net/b.html")]))
    body = feed_table("loop", feed_server.url("/f.rss")) + feed_table(
        "trusted", feed_server.url("/ok.rss"), "allow_private = true"
    )
    errors = await poll(settings_for(tmp_path, body), storage)
    assert errors["loop"] is not None
    assert "non-public address 127.0.0.1 refused" in errors["loop"]
    assert "địa chỉ không công khai" in errors["loop"]
    assert feed_server.hits("/f.rss") == 0  # refused before connecting
    assert errors["trusted"] is None  # one refused feed does not stop the others
    assert feed_server.hits("/ok.rss") == 1


async def test_a_host_name_is_checked_after_resolving_it(
    tmp_path: Path, feed_server: FeedServer, storage: Storage
) -> None:
    feed_server.add("/f.rss", render_feed([item("Tin", "https://vnexpress.net/a.html")]))
    url = feed_server.url("/f.rss").replace("127.0.0.1", "localhost")
    errors = await poll(settings_for(tmp_path, feed_table("named", url)), storage)
    assert errors["named"] is not None
    assert "non-public address" in errors["named"]
    assert "localhost" in errors["named"]
    assert feed_server.requests == []


async def test_a_redirect_to_another_private_host_is_refused_at_that_hop(
    tmp_path: Path, feed_server: FeedServer, storage: Storage
) -> None:
    # allow_private covers the feed's own host only; "localhost" is another host name, and
    # the hop to it is refused even though it resolves to the same loopback address.
    elsewhere = feed_server.url("/inside.rss").replace("127.0.0.1", "localhost")
    feed_server.add("/f.rss", b"", status=302, headers={"Location": elsewhere})
    feed_server.add("/inside.rss", render_feed([item("Tin", "https://vnexpress.net/a.html")]))
    body = feed_table("hop", feed_server.url("/f.rss"), "allow_private = true")
    errors = await poll(settings_for(tmp_path, body), storage)
    assert errors["hop"] is not None
    assert "non-public address 127.0.0.1 refused" in errors["hop"]
    assert feed_server.hits("/f.rss") == 1
    assert feed_server.hits("/inside.rss") == 0


async def test_fetch_feed_refuses_a_private_address_unless_allowed(
    feed_server: FeedServer,
) -> None:
    from bot.errors import NonPublicAddress

    feed_server.add("/f.rss", render_feed([]))
    async with make_http_client() as client:
        with pytest.raises(NonPublicAddress, match=r"127\.0\.0\.1"):
            await fetch_feed(client, feed_server.url("/f.rss"))
        allowed = await fetch_feed(client, feed_server.url("/f.rss"), allow_private=True)
    assert allowed.body
    assert feed_server.hits("/f.rss") == 1


def write_local_feed(tmp_path: Path, link: str) -> Path:
    path = tmp_path / "local.rss"
    path.write_bytes(render_feed([item("Thông báo nội bộ", link, "Xem chi tiết")]))
    return path


async def test_an_entry_link_to_a_private_address_is_never_fetched_published_or_found(
    tmp_path: Path, feed_server: FeedServer, storage: Storage
) -> None:
    """The SSRF as reported: an entry without a sapo links to an internal admin page."""
    feed_server.add("/admin", SECRET_PAGE.encode(), content_type="text/html; charset=utf-8")
    local = write_local_feed(tmp_path, feed_server.url("/admin"))
    settings = settings_for(tmp_path, feed_table("local", str(local)) + channel_table())
    errors = await poll(settings, storage)
    assert errors == {"local": None}
    assert feed_server.hits("/admin") == 0
    assert await storage.search(parse_query("đám mây"), limit=5) == []
    runner = EditionRunner(
        CurrentSettings(settings), storage, ConsoleSender(sys.stdout), lambda: datetime.now(UTC)
    )
    edition = await runner.build(settings.channels[0])
    assert edition.parts  # the entry itself is published, with its own (empty) text
    assert not any("đám mây" in part.text for part in edition.parts)


async def test_a_listed_page_domain_still_has_to_be_public(
    tmp_path: Path, feed_server: FeedServer, storage: Storage
) -> None:
    feed_server.add("/admin", SECRET_PAGE.encode(), content_type="text/html; charset=utf-8")
    local = write_local_feed(tmp_path, feed_server.url("/admin"))
    body = feed_table("local", str(local), 'page_domains = ["127.0.0.1"]')
    assert await poll(settings_for(tmp_path, body), storage) == {"local": None}
    assert feed_server.hits("/admin") == 0
    assert await storage.search(parse_query("đám mây"), limit=5) == []


async def test_pages_are_fetched_from_the_feeds_own_site_only(
    tmp_path: Path, feed_server: FeedServer, storage: Storage
) -> None:
    feed_server.add("/own.html", SECRET_PAGE.encode(), content_type="text/html; charset=utf-8")
    feed_server.add("/other.html", SECRET_PAGE.encode(), content_type="text/html; charset=utf-8")
    other = feed_server.url("/other.html").replace("127.0.0.1", "localhost")
    feed_server.add(
        "/f.rss",
        render_feed(
            [item("Trang của nguồn", feed_server.url("/own.html")), item("Trang lạ", other)]
        ),
    )
    body = feed_table("trusted", feed_server.url("/f.rss"), "allow_private = true")
    assert await poll(settings_for(tmp_path, body), storage) == {"trusted": None}
    assert feed_server.hits("/own.html") == 1  # same host as the feed: fetched
    assert feed_server.hits("/other.html") == 0  # another host: not the feed's site
    [hit] = await storage.search(parse_query("đám mây"), limit=5)
    assert hit.title == "Trang của nguồn"


async def test_a_page_redirecting_to_another_private_host_is_refused(
    tmp_path: Path, feed_server: FeedServer, storage: Storage
) -> None:
    inside = feed_server.url("/admin").replace("127.0.0.1", "localhost")
    feed_server.add("/own.html", b"", status=302, headers={"Location": inside})
    feed_server.add("/admin", SECRET_PAGE.encode(), content_type="text/html; charset=utf-8")
    feed_server.add("/f.rss", render_feed([item("Tin", feed_server.url("/own.html"))]))
    body = feed_table("trusted", feed_server.url("/f.rss"), "allow_private = true")
    assert await poll(settings_for(tmp_path, body), storage) == {"trusted": None}
    assert feed_server.hits("/own.html") == 1
    assert feed_server.hits("/admin") == 0
    assert await storage.search(parse_query("đám mây"), limit=5) == []


# ---------------------------------------------------------------- the token is never shown


def run_with_rejected_token(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m bot ARGS` against a fake Bot API that knows another token: every call 401."""
    local = tmp_path / "f.rss"
    local.write_bytes(render_feed([item("Tin", "https://vnexpress.net/a.html", "Nội dung")]))
    path = write_config(
        tmp_path, feed_table("f", str(local), "fetch_pages = false") + channel_table()
    )
    with FakeBotAPI(token="987654:another-token") as api:
        env = {
            "PATH": "/usr/bin:/bin",
            "BOT_DATABASE": str(tmp_path / "bantin.db"),
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE_URL": api.base_url,
            "PTB_TIMEDELTA": "1",
        }
        done = subprocess.run(
            [sys.executable, "-m", "bot", *args, "--config", str(path)],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=60,
            env=env,
        )
        assert api.calls, "the bot never asked the fake Bot API"
    return done


@pytest.mark.parametrize("args", [("run",), ("digest", "@kenh")], ids=["run", "digest"])
def test_a_rejected_token_is_never_printed(tmp_path: Path, args: tuple[str, ...]) -> None:
    done = run_with_rejected_token(tmp_path, *args)
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert TOKEN not in output
    assert TOKEN.split(":")[1] not in output  # not even the secret half
    assert "Traceback" not in done.stderr
    assert "TELEGRAM_BOT_TOKEN" in done.stderr
    assert "Telegram từ chối" in done.stderr  # Vietnamese, then English, on one line
    assert "rejected" in done.stderr


def test_an_uncaught_exception_is_printed_without_the_token(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bot.logs import redacting_excepthook

    hook = redacting_excepthook([TOKEN])
    try:
        raise RuntimeError(f"POST http://api/bot{TOKEN}/getMe failed")
    except RuntimeError as exc:
        hook(RuntimeError, exc, exc.__traceback__)
    err = capsys.readouterr().err
    assert "Traceback" in err and "/bot***/getMe" in err
    assert TOKEN not in err


# ---------------------------------------------------------------- quiet shutdown


@pytest.mark.slow
def test_sigterm_during_a_scheduled_poll_exits_quietly(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """The poll tick is an APScheduler job; shutdown cancels it mid-fetch. The first poll
    (at start) is still dripping when the tick, 30 s later, asks for the feed again."""
    feed_server.add_handler("/slow.rss", drip(render_feed([]), interval=1.0))
    body = feed_table("slow", feed_server.url("/slow.rss"), "allow_private = true")
    path = write_config(tmp_path, body + channel_table())
    env = {"BOT_DATABASE": str(tmp_path / "bantin.db"), "LOG_LEVEL": "INFO"}
    bot = BotProcess(["run", "--config", str(path)], env, tmp_path)
    deadline = time.monotonic() + POLL_TICK_SECONDS + 30
    while feed_server.hits("/slow.rss") < 2:
        assert time.monotonic() < deadline, f"the poll tick never came:\n{bot.log}"
        assert bot.proc.poll() is None, f"the bot exited:\n{bot.log}"
        time.sleep(0.05)
    code = bot.stop(signal.SIGTERM)
    assert code == 0, bot.log
    assert "Traceback" not in bot.log
    assert "CancelledError" not in bot.log
    assert "level=ERROR" not in bot.log
