"""The public site over real HTTP: what it shows, what it never shows, escaping as in
Telegram, feeds any reader can follow; and the proxy settings' validation."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import feedparser  # type: ignore[import-untyped]
import httpx
import pytest
from websample import EVIL, RecordingSender, publish_sample

from bot.metrics import Metrics
from bot.storage import Storage
from bot.web import Site, WebServer, make_app


@dataclass
class Served:
    client: httpx.AsyncClient
    sender: RecordingSender
    storage: Storage


@pytest.fixture
async def served(tmp_path: Path, storage: Storage) -> AsyncIterator[Served]:
    settings, sender = await publish_sample(tmp_path, storage)
    app = make_app(Site(lambda: settings, storage), Metrics(), lambda: (True, {}))
    server = WebServer(("127.0.0.1", 0), app)
    await server.start()
    base = "http://{}:{}".format(*server.address)
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            yield Served(client, sender, storage)
    finally:
        await server.stop()


async def edition_ids(storage: Storage, chat: str) -> list[int]:
    return [e.id for e in await storage.published_editions([chat], 100)]


async def test_home_lists_only_the_public_channels_sent_editions(served: Served) -> None:
    response = await served.client.get("/")
    assert response.status_code == 200
    page = response.text
    assert page.count('href="/ban-tin/') == 2  # two sent @tintuc editions; the unsent one is not
    assert "@kenhrieng" not in page
    assert '<meta property="og:title" content="Bản tin">' in page
    assert '<html lang="vi">' in page and 'name="viewport"' in page


async def test_an_edition_shows_what_telegram_showed_escaped_the_same_way(served: Served) -> None:
    first = (await edition_ids(served.storage, "@tintuc"))[-1]
    page = (await served.client.get(f"/ban-tin/{first}")).text
    telegram = next(text for chat, text in served.sender.sent if chat == "@tintuc")
    # Every line of every story, exactly as Telegram got it (links, bold, escaping).
    for block in telegram.split("\n\n")[1:]:
        for line in block.split("\n"):
            assert line in page
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "&lt;b&gt;SJC&lt;/b&gt;" in page  # a feed's own tags are text, as in Telegram
    assert '<a href="https://vnexpress.net/bao.html">Bão số 15 đổ bộ Khánh Hòa</a>' in page
    assert "Thứ Sáu, 27/11/2026 07:00" in page
    assert '<meta property="og:type" content="article">' in page
    assert "Bão số 15 đổ bộ Khánh Hòa" in page.split('property="og:description" content="')[1]


async def test_nothing_private_or_unsent_is_served(served: Served) -> None:
    private = await served.storage.published_editions(["@kenhrieng"], 10)
    assert private  # it was sent, but its channel is not on the web
    assert (await served.client.get(f"/ban-tin/{private[0].id}")).status_code == 404
    assert (await served.client.get("/kenh/@kenhrieng")).status_code == 404
    assert (await served.client.get("/kenh/@kenhrieng/feed.xml")).status_code == 404
    assert (await served.client.get("/ban-tin/999999")).status_code == 404
    latest = max(await edition_ids(served.storage, "@tintuc")) + 1  # planned, never sent
    assert (await served.client.get(f"/ban-tin/{latest}")).status_code == 404
    search = (await served.client.get("/tim", params={"q": "chưa đăng"})).text
    assert "Tin chưa đăng lên kênh" not in search and "Không có tin nào khớp." in search


async def test_channel_page_groups_editions_by_day(served: Served) -> None:
    page = (await served.client.get("/kenh/%40tintuc")).text
    assert "<h2>Thứ Sáu, 27/11/2026</h2>" in page
    assert page.count('href="/ban-tin/') == 2
    assert 'type="application/atom+xml"' in page


async def test_search_finds_published_articles_with_paging(served: Served) -> None:
    page = (await served.client.get("/tim", params={"q": "bao"})).text  # no diacritics typed
    assert "Kết quả 1–1" in page
    assert '<a href="https://vnexpress.net/bao.html">Bão số 15 đổ bộ Khánh Hòa</a>' in page
    page = (await served.client.get("/tim", params={"q": "so tan"})).text
    assert "<b>sơ</b> <b>tán</b>" in page  # the words found, in bold as in /search
    page = (await served.client.get("/tim", params={"q": "giá vàng", "trang": "1"})).text
    assert "&lt;script&gt;" in page and "<script>" not in page
    assert "Sau ›" not in page
    empty = (await served.client.get("/tim", params={"q": "bao", "trang": "2"})).text
    assert "Không có tin nào khớp." in empty


async def test_atom_and_json_feeds_of_a_channel(served: Served) -> None:
    response = await served.client.get("/kenh/@tintuc/feed.xml")
    assert response.headers["content-type"].startswith("application/atom+xml")
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo
    assert [e.title for e in parsed.entries] == [
        "Bản tin 19:00 · Thứ Sáu, 27/11/2026",
        "Bản tin 07:00 · Thứ Sáu, 27/11/2026",
    ]
    assert parsed.entries[1].link.endswith(
        f"/ban-tin/{(await edition_ids(served.storage, '@tintuc'))[-1]}"
    )
    assert EVIL in parsed.entries[1].content[0].value.replace("&lt;", "<").replace(
        "&gt;", ">"
    ).replace("&amp;", "&").replace("&quot;", '"')
    document = json.loads((await served.client.get("/kenh/@tintuc/feed.json")).content)
    assert document["version"] == "https://jsonfeed.org/version/1.1"
    assert [item["title"] for item in document["items"]] == [e.title for e in parsed.entries]
    assert "Metro Bến Thành" in document["items"][0]["content_html"]


async def test_healthz_and_metrics_are_still_served(served: Served) -> None:
    assert (await served.client.get("/healthz")).json() == {"ok": True}
    assert "bantin_polls" in (await served.client.get("/metrics")).text
