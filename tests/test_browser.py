"""The site in a real browser: Debian's headless Chromium, driven by Playwright, opens the
home page, an edition and a search, and reads what a reader would see. Screenshots are kept
in tests/artifacts/. Without /usr/bin/chromium (a local run) these skip with one line;
.ci/run installs it, so in CI they run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from websample import publish_sample

from bot.metrics import Metrics
from bot.storage import Storage
from bot.web import Site, WebServer, make_app

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"{CHROMIUM} not found: browser tests need Debian's chromium (.ci/run installs it)",
)


@pytest.fixture
async def site(tmp_path: Path, storage: Storage) -> AsyncIterator[str]:
    settings, _ = await publish_sample(tmp_path, storage)
    app = make_app(Site(lambda: settings, storage), Metrics(), lambda: (True, {}))
    server = WebServer(("127.0.0.1", 0), app)
    await server.start()
    try:
        yield "http://{}:{}".format(*server.address)
    finally:
        await server.stop()


@pytest.fixture
async def page(site: str) -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        # A phone-sized window: the site must read well there without JavaScript.
        context = await browser.new_context(
            viewport={"width": 390, "height": 844}, java_script_enabled=False
        )
        yield await context.new_page()
        await browser.close()


async def test_a_reader_opens_the_home_page_an_edition_and_a_search(
    site: str, page: object
) -> None:
    from playwright.async_api import Page

    assert isinstance(page, Page)
    await page.goto(site + "/")
    assert await page.locator("h1").inner_text() == "Bản tin mới nhất"
    links = page.get_by_role("link", name="Bản tin 07:00 · Thứ Sáu, 27/11/2026")
    assert await links.count() == 1
    await page.screenshot(path=ARTIFACTS / "home.png", full_page=True)

    await links.click()
    await page.wait_for_url("**/ban-tin/*")
    assert await page.locator("h1").inner_text() == "Bản tin 07:00 · Thứ Sáu, 27/11/2026"
    headings = await page.locator("h3").all_inner_texts()
    assert "Bão số 15 đổ bộ Khánh Hòa" in headings
    assert 'Giá vàng <script>alert("x")</script> & "lãi suất" tăng' in headings  # as text
    body = await page.locator("main").inner_text()
    assert "Người dân được sơ tán an toàn." in body and "VnExpress" in body
    assert "&lt;" not in body and "&amp;" not in body  # no raw markup shown
    story = page.get_by_role("link", name="Bão số 15 đổ bộ Khánh Hòa")
    assert await story.get_attribute("href") == "https://vnexpress.net/bao.html"
    await page.screenshot(path=ARTIFACTS / "edition.png", full_page=True)

    await page.get_by_label("Từ khoá").fill("bao")
    await page.get_by_role("button", name="Tìm").click()
    await page.wait_for_url("**/tim?q=bao")
    assert await page.locator("h1").inner_text() == "Tìm «bao»"
    assert await page.get_by_role("link", name="Bão số 15 đổ bộ Khánh Hòa").count() == 1
    await page.screenshot(path=ARTIFACTS / "search.png", full_page=True)
