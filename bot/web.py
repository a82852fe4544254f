"""The HTTP side (`[http] listen`): /healthz, /metrics and the public site, in Vietnamese.

    /                     the newest editions of every channel with `web = true`
    /kenh/<chat>          a channel's editions, by day
    /ban-tin/<id>         one edition: headlines, summaries, sources, local date
    /tim?q=…&trang=N      the /search command's search, a page at a time
    /kenh/<chat>/feed.xml and feed.json: the channel's editions as Atom and JSON Feed

Only what a channel has already shown is served: editions of `web = true` channels, only
their parts Telegram accepted, and search over the articles those parts carried. Nothing
about admins or readers is stored in those tables, so nothing of theirs can be shown.

Starlette (routing, responses) with Jinja2 templates (autoescaped), served by uvicorn as a
task of the bot's own event loop: no thread, no second loop, and uvicorn's connection
handling (keep-alive timeout, a concurrency limit that answers 503) instead of our own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any

import h11
import uvicorn
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route
from uvicorn.protocols.http.h11_impl import H11Protocol

from bot.errors import SearchTooSlow
from bot.format import search_result_block
from bot.metrics import CONTENT_TYPE, Metrics
from bot.models import PublishedEdition
from bot.query import parse_query
from bot.settings import Settings
from bot.site import (
    ChannelFeed,
    atom_feed,
    channel_title,
    edition_sections,
    edition_summary,
    json_feed,
    local_date,
    safe_markup,
)
from bot.storage import Storage

log = logging.getLogger(__name__)
IDLE_TIMEOUT = 5  # seconds a connection may stay silent (before or between requests)
MAX_CONNECTIONS = 200  # past this many at once, uvicorn answers 503 at once
HOME_EDITIONS = 20
CHANNEL_EDITIONS = 60
FEED_EDITIONS = 20
SEARCH_PER_PAGE = 10
SEARCH_BUDGET = 0.08  # seconds of SQLite time per search page, as for /search
MAX_PAGE = 100
TEMPLATES = Path(__file__).parent / "templates"

Health = Callable[[], tuple[bool, dict[str, Any]]]


@dataclass(frozen=True)
class Site:
    """What the site reads: the current settings (they change on reload) and the storage."""

    settings: Callable[[], Settings]
    storage: Storage

    def public_chats(self) -> list[str]:
        return [c.chat for c in self.settings().channels if c.web]


def make_app(site: Site, metrics: Metrics, health: Health) -> Starlette:
    """The ASGI application: health, metrics and the site's pages."""
    templates = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )

    def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        body = templates.get_template(name).render(url=str(request.url), **context)
        return HTMLResponse(body, status_code=status)

    def not_found(request: Request, what: str) -> HTMLResponse:
        return page(request, "not_found.html", 404, title="Không tìm thấy", what=what)

    async def healthz(request: Request) -> Response:
        ok, detail = health()
        body = json.dumps({"ok": ok, **detail}, ensure_ascii=False, default=str)
        return Response(body, 200 if ok else 503, media_type="application/json")

    async def metrics_page(request: Request) -> Response:
        return Response(metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    async def home(request: Request) -> Response:
        chats = site.public_chats()
        editions = await site.storage.published_editions(chats, HOME_EDITIONS)
        return page(
            request,
            "home.html",
            title="Bản tin",
            description="Tin tức Việt Nam tóm tắt, theo từng bản tin.",
            channels=chats,
            editions=[_listed(e, site.settings()) for e in editions],
        )

    async def channel(request: Request) -> Response:
        chat = request.path_params["chat"]
        if chat not in site.public_chats():
            return not_found(request, f"kênh {chat}")
        editions = await site.storage.published_editions([chat], CHANNEL_EDITIONS)
        listed = [_listed(e, site.settings()) for e in editions]
        days = [(day, list(items)) for day, items in groupby(listed, key=lambda e: e["day"])]
        return page(
            request,
            "channel.html",
            title=channel_title(chat),
            description=f"Các bản tin đã đăng trên {chat}.",
            chat=chat,
            days=days,
        )

    async def edition(request: Request) -> Response:
        edition_id = request.path_params["id"]
        found = await site.storage.published_edition(edition_id, site.public_chats())
        if found is None:
            return not_found(request, f"bản tin số {edition_id}")
        tz = site.settings().timezone
        return page(
            request,
            "edition.html",
            title=found.title,
            description=edition_summary(found),
            chat=found.destination,
            date=local_date(found.planned_at, tz),
            iso=found.planned_at.isoformat(),
            sections=edition_sections(found.parts),
            og_type="article",
        )

    async def search(request: Request) -> Response:
        text = " ".join(request.query_params.get("q", "").split())[:200]
        page_no = _page_number(request.query_params.get("trang", "1"))
        results, note, has_next = await _search(site, text, page_no)
        return page(
            request,
            "search.html",
            title=f"Tìm «{text}»" if text else "Tìm kiếm",
            description="Tìm trong các tin đã đăng.",
            q=text,
            results=results,
            note=note,
            page_no=page_no,
            has_next=has_next,
            first=(page_no - 1) * SEARCH_PER_PAGE + 1,
        )

    async def feed(request: Request) -> Response:
        chat, kind = request.path_params["chat"], request.path_params["kind"]
        if chat not in site.public_chats() or kind not in ("xml", "json"):
            return PlainTextResponse("không tìm thấy\n", status_code=404)
        editions = await site.storage.published_editions([chat], FEED_EDITIONS)
        full = [await site.storage.published_edition(e.id, [chat]) for e in editions]
        base = str(request.base_url).rstrip("/")
        channel_feed = ChannelFeed(
            chat=chat,
            title=channel_title(chat),
            page_url=f"{base}/kenh/{chat}",
            feed_url=str(request.url),
            edition_url=base + "/ban-tin/{id}",
            editions=[e for e in full if e is not None],
        )
        if kind == "xml":
            return Response(atom_feed(channel_feed), media_type="application/atom+xml")
        return Response(json_feed(channel_feed), media_type="application/feed+json")

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/metrics", metrics_page),
            Route("/", home),
            Route("/kenh/{chat}", channel),
            Route("/kenh/{chat}/feed.{kind}", feed),
            Route("/ban-tin/{id:int}", edition),
            Route("/tim", search),
        ]
    )


def _listed(edition: PublishedEdition, settings: Settings) -> dict[str, str | int]:
    local = edition.planned_at.astimezone(settings.timezone)
    return {
        "id": edition.id,
        "title": edition.title,
        "chat": edition.destination,
        "day": local_date(edition.planned_at, settings.timezone).rsplit(" ", 1)[0],
        "time": f"{local:%H:%M}",
    }


def _page_number(value: str) -> int:
    return min(int(value), MAX_PAGE) if value.isdigit() and int(value) > 0 else 1


async def _search(site: Site, text: str, page_no: int) -> tuple[list[str], str, bool]:
    """(results as safe HTML, a note for the reader, whether a next page exists)."""
    if not text:
        return [], "", False
    query = parse_query(text)
    if not query.searchable:
        return [], "Từ khoá cần có chữ hoặc số.", False
    settings = site.settings()
    try:
        hits = await site.storage.published_search(
            query,
            site.public_chats(),
            SEARCH_PER_PAGE + 1,
            (page_no - 1) * SEARCH_PER_PAGE,
            deadline=time.monotonic() + SEARCH_BUDGET,
        )
    except SearchTooSlow:
        return [], "Từ khoá này tốn quá nhiều thời gian để tìm. Hãy thử ít từ hơn.", False
    outlets = {feed.id: feed.name for feed in settings.feeds}
    results = [
        safe_markup(
            search_result_block(
                hit, outlets.get(hit.feed_id, hit.feed_id), settings.timezone, query.highlight_words
            ).markup
        )
        for hit in hits[:SEARCH_PER_PAGE]
    ]
    note = "" if hits else "Không có tin nào khớp."
    return results, note, len(hits) > SEARCH_PER_PAGE


class _IdleClosingH11(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, with its keep-alive timeout also armed on a new
    connection and while a request's head is still arriving: uvicorn's own only starts
    after a first response, so a client that connects and says nothing would be kept."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self._arm()  # still no whole request head: keep counting

    def _arm(self) -> None:
        if self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )


class _QuietServer(uvicorn.Server):
    """The bot owns SIGINT/SIGTERM (loop.add_signal_handler); uvicorn must not take them."""

    def capture_signals(self) -> Any:
        return nullcontext()


class WebServer:
    """Serves the app on `listen` as a task of the running loop, until stopped."""

    def __init__(
        self,
        listen: tuple[str, int],
        app: Starlette,
        *,
        idle_timeout: int = IDLE_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        config = uvicorn.Config(
            app,
            host=listen[0],
            port=listen[1],
            http=_IdleClosingH11,
            lifespan="off",
            log_level="warning",
            access_log=False,  # one line per request would drown the bot's own
            timeout_keep_alive=idle_timeout,
            limit_concurrency=max_connections,
            timeout_graceful_shutdown=5,
            # Behind a reverse proxy on the same host, take its X-Forwarded-Proto/For.
            proxy_headers=True,
            forwarded_allow_ips="127.0.0.1,::1",
            server_header=False,
        )
        self._server = _QuietServer(config)
        self._task: asyncio.Task[None] | None = None

    @property
    def address(self) -> tuple[str, int]:
        sockets: Sequence[Any] = self._server.servers[0].sockets
        host, port = sockets[0].getsockname()[:2]
        return str(host), int(port)

    async def start(self) -> None:
        """Listen, or raise OSError (the port is taken) before returning."""
        self._task = asyncio.create_task(self._serve(), name="web")
        while not self._server.started:
            if self._task.done():
                self._task.result()  # uvicorn logs and exits on a bind error
                raise OSError("the web server stopped while starting")
            await asyncio.sleep(0.01)
        log.info("http listen=%s:%d paths=/,/healthz,/metrics", *self.address)

    async def _serve(self) -> None:
        try:
            await self._server.serve()
        except SystemExit:
            # uvicorn exits the process when it cannot bind; inside a task that would end
            # the bot's loop, so it becomes an error the caller sees.
            config = self._server.config
            raise OSError(f"cannot listen on {config.host}:{config.port}") from None

    async def stop(self) -> None:
        if self._task is None:
            return
        self._server.should_exit = True
        await self._task
