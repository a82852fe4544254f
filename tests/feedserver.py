"""A tiny loopback HTTP server that serves feeds to tests.

The feed fetcher is tested against a real socket rather than a mocked transport. That way,
conditional GET (ETag / Last-Modified -> 304), status codes, headers and charsets behave the way
they do on the wire.

    with FeedServer() as srv:
        srv.add_file("/feeds/tt.rss", "tests/data/feeds/tuoitre.rss")
        r1 = httpx.get(srv.url("/feeds/tt.rss"))  # 200, ETag: "..."
        r2 = httpx.get(srv.url("/feeds/tt.rss"), headers={"If-None-Match": r1.headers["etag"]})
        assert r2.status_code == 304 and srv.requests[-1].status == 304

``render_feed`` builds an RSS 2.0 document from dicts, so end-to-end tests can serve items
dated relative to "now".

Servers that misbehave are custom handlers, given the request and free to reply as they like:

    srv.add_handler("/hang", never_answer)                  # reads the request, says nothing
    srv.add_handler("/slow", drip(body, interval=1.0))      # one byte a second
    srv.add_handler("/big", streamed(lambda: chunks()))     # chunked, from a generator
"""

from __future__ import annotations

import functools
import hashlib
import struct
import sys
import threading
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NotRequired, TypedDict
from urllib.parse import urlsplit

# A fixed date keeps "auto" Last-Modified deterministic across runs. Every time a path's body
# changes it moves forward by one minute. Otherwise a client that only sends If-Modified-Since
# would get a 304 for a changed feed.
_AUTO_LAST_MODIFIED = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)


class _QuietServer(ThreadingHTTPServer):
    """Clients that hang up mid-body (a fetcher hitting its size cap) are expected here."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@dataclass(frozen=True)
class Request:
    """One request as the server saw it. It is recorded before the reply is written, so it is
    already in ``FeedServer.requests`` by the time the client has the response."""

    method: str
    path: str  # the URL path without the query string (the routes ignore queries)
    headers: dict[str, str]  # keys in lower case
    status: int


class Exchange:
    """One request handed to a custom handler (``FeedServer.add_handler``).

    A handler replies with ``respond`` (bytes, or an iterable sent chunked so nothing large
    is ever built), or ``send_head`` then ``write`` for byte-by-byte tricks, or not at all.
    It should return once ``stopping`` is set, so the server stops promptly.
    """

    def __init__(self, handler: BaseHTTPRequestHandler, server: FeedServer, path: str) -> None:
        self.method = handler.command
        self.path = path
        self.headers = {k.lower(): v for k, v in handler.headers.items()}
        self.stopping = server._stopping
        self._handler = handler
        self._server = server

    def record(self, status: int) -> None:
        """Log the request in ``FeedServer.requests`` (status 0: never answered)."""
        with self._server._lock:
            self._server._requests.append(Request(self.method, self.path, self.headers, status))

    def send_head(self, status: int, headers: dict[str, str]) -> None:
        self.record(status)
        self._handler.send_response(status)
        # The server hangs up after a custom reply; saying so keeps clients from reusing
        # the connection and finding it closed under their next request.
        for name, value in {**headers, "Connection": "close"}.items():
            self._handler.send_header(name, value)
        self._handler.end_headers()
        self._handler.wfile.flush()

    def write(self, data: bytes) -> None:
        self._handler.wfile.write(data)
        self._handler.wfile.flush()

    def respond(
        self,
        status: int,
        headers: dict[str, str] | None = None,
        body: bytes | Iterable[bytes] = b"",
    ) -> None:
        hdrs = dict(headers or {})
        if isinstance(body, bytes):
            hdrs.setdefault("Content-Length", str(len(body)))
            self.send_head(status, hdrs)
            self.write(body)
            return
        hdrs["Transfer-Encoding"] = "chunked"
        self.send_head(status, hdrs)
        for chunk in body:
            if chunk:
                self.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.write(b"0\r\n\r\n")


RouteHandler = Callable[[Exchange], None]


def never_answer(exchange: Exchange) -> None:
    """Accept the request and never reply, until the server stops."""
    exchange.record(0)
    exchange.stopping.wait()


def drip(
    body: bytes, *, interval: float = 1.0, content_type: str = "application/rss+xml"
) -> RouteHandler:
    """Announce the whole body, then send it one byte per ``interval`` seconds."""

    def handle(exchange: Exchange) -> None:
        exchange.send_head(200, {"Content-Type": content_type, "Content-Length": str(len(body))})
        for index in range(len(body)):
            if exchange.stopping.wait(interval):
                return
            exchange.write(body[index : index + 1])

    return handle


def streamed(
    chunks: Callable[[], Iterable[bytes]],
    *,
    content_type: str = "application/rss+xml; charset=utf-8",
    headers: dict[str, str] | None = None,
) -> RouteHandler:
    """Send a fresh ``chunks()`` per request with chunked encoding (no Content-Length)."""

    def handle(exchange: Exchange) -> None:
        exchange.respond(200, {"Content-Type": content_type, **(headers or {})}, chunks())

    return handle


@dataclass
class _Route:
    body: bytes
    status: int
    headers: dict[str, str] = field(default_factory=dict)  # includes ETag / Last-Modified if set


class FeedServer:
    """A threaded HTTP server on 127.0.0.1 with a free port. Use start()/stop() or ``with``.

    ``host`` may be any loopback address (127.0.0.2 …): a second "host" for tests of
    per-host limits.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._host = host
        self._routes: dict[str, _Route] = {}
        self._handlers: dict[str, RouteHandler] = {}
        self._stopping = threading.Event()  # tells long-running custom handlers to return
        self._versions: dict[str, int] = {}  # how many times each path's body has changed
        self._requests: list[Request] = []
        self._lock = threading.Lock()  # handler threads and the test thread share the state
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FeedServer:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        self._httpd = _QuietServer((self._host, 0), _make_handler(self))
        self._httpd.daemon_threads = True  # a client keeping a connection open can't block exit
        # A short poll interval makes stop() (shutdown) return in ~50 ms instead of 0.5 s.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="FeedServer", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("FeedServer is not started")
        return self._httpd.server_address[1]

    def url(self, path: str = "/") -> str:
        return f"http://{self._host}:{self.port}/{path.lstrip('/')}"

    # -- content ---------------------------------------------------------------------------

    def add(
        self,
        path: str,
        body: bytes,
        *,
        content_type: str = "application/rss+xml; charset=utf-8",
        etag: str | None = "auto",
        last_modified: str | None = "auto",
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Serve ``body`` at ``path``. This replaces anything already there.

        etag / last_modified: "auto" derives the value, a string is sent as given, and None
        omits the header, for servers that don't support conditional GET. ``headers`` are
        extra response headers (e.g. Retry-After, Location) and win over the defaults.
        """
        path = _norm(path)
        with self._lock:
            old = self._routes.get(path)
            version = self._versions.get(path, 0)
            if old is not None and old.body != body:
                version += 1
            self._versions[path] = version

            hdrs = {"Content-Type": content_type}
            if etag == "auto":
                etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            if etag is not None:
                hdrs["ETag"] = etag
            if last_modified == "auto":
                when = _AUTO_LAST_MODIFIED + timedelta(minutes=version)
                last_modified = format_datetime(when, usegmt=True)
            if last_modified is not None:
                hdrs["Last-Modified"] = last_modified
            hdrs.update(headers or {})
            self._routes[path] = _Route(body=body, status=status, headers=hdrs)
            self._handlers.pop(path, None)

    def add_handler(self, path: str, handler: RouteHandler) -> None:
        """Let ``handler`` answer every request for ``path`` (see ``Exchange``)."""
        path = _norm(path)
        with self._lock:
            self._handlers[path] = handler
            self._routes.pop(path, None)

    def add_file(self, path: str, file_path: str | Path, **kw: Any) -> None:
        self.add(path, Path(file_path).read_bytes(), **kw)

    # -- inspection ------------------------------------------------------------------------

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)  # a snapshot, so tests can't race the handler threads

    def hits(self, path: str) -> int:
        path = _norm(path)
        return sum(1 for r in self.requests if r.path == path)

    # -- request handling (called from handler threads) ------------------------------------

    def _respond(self, method: str, raw_path: str, req_headers: dict[str, str]) -> _Reply:
        path = _norm(urlsplit(raw_path).path)
        with self._lock:
            route = self._routes.get(path)
        if route is None:
            reply = _Reply(404, {"Content-Type": "text/plain; charset=utf-8"}, b"not found\n")
        elif route.status == 200 and _not_modified(route.headers, req_headers):
            # A 304 repeats the validators but has no body (RFC 9110 §15.4.5).
            keep = {k: v for k, v in route.headers.items() if k in ("ETag", "Last-Modified")}
            reply = _Reply(304, keep, b"")
        else:
            reply = _Reply(route.status, dict(route.headers), route.body)
        with self._lock:
            self._requests.append(Request(method, path, req_headers, reply.status))
        return reply


@dataclass(frozen=True)
class _Reply:
    status: int
    headers: dict[str, str]
    body: bytes


def _norm(path: str) -> str:
    return "/" + path.lstrip("/")


def _not_modified(resp: dict[str, str], req: dict[str, str]) -> bool:
    # RFC 9110 §13.2.2: If-None-Match, when present, decides and If-Modified-Since is ignored.
    # This stops a stale date from hiding a changed ETag.
    inm = req.get("if-none-match")
    if inm is not None:
        etag = resp.get("ETag")
        if etag is None:
            return False
        candidates = [t.strip() for t in inm.split(",")]
        # Weak comparison is what GET uses: W/"x" matches "x".
        return "*" in candidates or _weak(etag) in {_weak(c) for c in candidates}
    ims = req.get("if-modified-since")
    lm = resp.get("Last-Modified")
    # Exact string match, like nginx's default (if_modified_since exact). Clients are
    # expected to echo the Last-Modified value back unchanged.
    return ims is not None and lm is not None and ims.strip() == lm


def _weak(tag: str) -> str:
    return tag.removeprefix("W/")


def _make_handler(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like real feed hosts; needs Content-Length

        def do_GET(self) -> None:
            self._serve(send_body=True)

        def do_HEAD(self) -> None:
            self._serve(send_body=False)

        def _serve(self, *, send_body: bool) -> None:
            path = _norm(urlsplit(self.path).path)
            with server._lock:
                custom = server._handlers.get(path)
            if custom is not None:
                # After a custom reply the connection's state is anyone's guess: close it.
                self.close_connection = True
                custom(Exchange(self, server, path))
                return
            req_headers = {k.lower(): v for k, v in self.headers.items()}
            reply = server._respond(self.command, self.path, req_headers)
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.status != 304:  # a 304 must not carry a body or a body length
                self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if send_body and reply.body:
                self.wfile.write(reply.body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep pytest output clean; tests read server.requests instead

    return Handler


# -- feed rendering ------------------------------------------------------------------------


class FeedItem(TypedDict):
    title: str
    link: str
    description: str
    pub_date: datetime  # naive datetimes are taken as UTC
    guid: NotRequired[str]


def render_feed(
    items: Iterable[FeedItem],
    *,
    title: str = "Bản tin thử nghiệm",
    link: str = "https://example.vn/",
) -> bytes:
    """An RSS 2.0 document (UTF-8). ElementTree does the XML escaping, so ``&`` and ``<`` in
    titles or descriptions arrive as text and never as markup."""
    rss = ET.Element("rss", version="2.0")
    channel = ET.SubElement(rss, "channel")
    ET.SubElement(channel, "title").text = title
    ET.SubElement(channel, "link").text = link
    ET.SubElement(channel, "description").text = title
    ET.SubElement(channel, "language").text = "vi"
    for it in items:
        item = ET.SubElement(channel, "item")
        ET.SubElement(item, "title").text = it["title"]
        ET.SubElement(item, "link").text = it["link"]
        ET.SubElement(item, "description").text = it["description"]
        if it.get("guid"):
            ET.SubElement(item, "guid", isPermaLink="false").text = it["guid"]
        when: datetime = it["pub_date"]
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        ET.SubElement(item, "pubDate").text = format_datetime(when)  # RFC 822, e.g. +0700
    document: bytes = ET.tostring(rss, encoding="utf-8", xml_declaration=True)
    return document


def gzip_bomb(inflated: int = 1 << 30) -> Iterator[bytes]:
    """A gzip stream of ``inflated`` zero bytes (1 GB by default: ~1 MB on the wire), made
    lazily from two cached blocks (see ``_bomb_blocks``): serving it allocates nothing big.
    The whole of it fits in loopback socket buffers, so the end may well be reached."""
    head, again, zeros = _bomb_blocks()
    blocks = max(inflated // len(zeros), 1)
    yield head
    for _ in range(blocks - 1):
        yield again
    crc = 0
    for _ in range(blocks):
        crc = zlib.crc32(zeros, crc)
    # An empty final block, then the CRC-32 and the size, as gzip ends.
    yield b"\x03\x00" + struct.pack("<II", crc, (blocks * len(zeros)) & 0xFFFFFFFF)


@functools.cache
def _bomb_blocks() -> tuple[bytes, bytes, bytes]:
    """The gzip header with the first megabyte of zeros, the next megabyte, and the zeros.
    After a full flush the compressor starts afresh, so every further megabyte compresses to
    the same ~1 KB as the second one."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    zeros = bytes(1 << 20)
    head = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    return head, compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH), zeros
