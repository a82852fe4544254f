"""Health and metrics over HTTP (optional `[http] listen`): /healthz and /metrics.

A small stdlib HTTP server in a daemon thread, so a busy event loop never makes the health
check itself time out. Each connection gets a thread, so it must not be held for free: a
connection that sends nothing for IDLE_TIMEOUT seconds is closed, and past MAX_CONNECTIONS
at once a new one is closed straight away (the client retries; the idle ones soon go).
/metrics is Prometheus' text format from prometheus-client on a registry of our own.
/healthz answers 200 while the scheduler runs and the last poll is recent, 503 otherwise,
with a JSON body saying why.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)

log = logging.getLogger(__name__)
IDLE_TIMEOUT = 5.0  # seconds a connection may wait between reads before it is closed
MAX_CONNECTIONS = 32  # handler threads at once; a scrape or a health check needs one


@dataclass
class Metrics:
    """Every metric Bản tin exports, on its own registry."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.polls = Counter(
            "bantin_polls", "Feed polls, by feed and outcome", ["feed", "outcome"], registry=r
        )
        self.poll_errors = Counter(
            "bantin_poll_errors", "Failed feed polls, by feed", ["feed"], registry=r
        )
        self.articles = Counter(
            "bantin_articles_stored", "New articles stored, by feed", ["feed"], registry=r
        )
        self.messages = Counter(
            "bantin_messages_sent", "Edition messages accepted by Telegram", ["chat"], registry=r
        )
        self.retry_after = Counter(
            "bantin_telegram_429", "429 Too Many Requests answers from Telegram", registry=r
        )
        self.edition_lag = Gauge(
            "bantin_edition_lag_seconds",
            "Delay of the last edition behind its schedule",
            ["chat"],
            registry=r,
        )
        self.queue = Gauge(
            "bantin_outbox_pending_parts", "Edition parts waiting to be sent", ["chat"], registry=r
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


Health = Callable[[], tuple[bool, dict[str, Any]]]


class _BoundedServer(ThreadingHTTPServer):
    """A thread per connection, at most `max_connections` of them at once."""

    daemon_threads = True

    def __init__(
        self,
        listen: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        max_connections: int,
    ) -> None:
        super().__init__(listen, handler)
        self._slots = threading.BoundedSemaphore(max_connections)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)  # full: close it rather than grow without bound
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class HealthServer:
    """Serves /healthz and /metrics on `listen` until stopped."""

    def __init__(
        self,
        listen: tuple[str, int],
        metrics: Metrics,
        health: Health,
        *,
        idle_timeout: float = IDLE_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        handler = _handler(metrics, health, idle_timeout)
        self._server = _BoundedServer(listen, handler, max_connections)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="health", daemon=True
        )

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        self._thread.start()
        log.info("http listen=%s:%d paths=/healthz,/metrics", *self.address)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(metrics: Metrics, health: Health, idle_timeout: float) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # The socket's timeout for every read and write: a client that goes quiet this
        # long is dropped (BaseHTTPRequestHandler closes the connection on the timeout).
        timeout = idle_timeout

        def do_GET(self) -> None:
            if self.path.split("?")[0] == "/metrics":
                self._answer(200, CONTENT_TYPE_LATEST, metrics.render())
            elif self.path.split("?")[0] == "/healthz":
                ok, detail = health()
                body = json.dumps({"ok": ok, **detail}, ensure_ascii=False, default=str)
                self._answer(200 if ok else 503, "application/json", body.encode())
            else:
                self._answer(404, "text/plain", b"not found\n")

        def _answer(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return  # one line per scrape (or dropped idle client) would drown the rest

    return Handler
