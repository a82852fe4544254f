"""The metrics Bản tin exports, on a prometheus-client registry of our own.

bot.web serves them at /metrics in Prometheus' text format (CONTENT_TYPE), beside /healthz.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)

CONTENT_TYPE = CONTENT_TYPE_LATEST  # of /metrics


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
