"""The running bot's actions: poll, edition, maintenance, reload, health; and its metrics.

`BotApp` is what the scheduler jobs, the admin commands and the health endpoint call. It
shares the one `CurrentSettings` with the command handlers and the edition runner;
`reload` swaps in a validated new config there and reschedules the jobs without a restart.
Its parts are built and handed in by the composition root (bot.app.BotParts).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import httpx
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.alerts import AlertRunner
from bot.cluster import read_ahead
from bot.editions import EditionRunner
from bot.errors import ConfigError
from bot.jobs import add_alert_job, add_edition_jobs, add_maintenance_job, add_poll_job
from bot.metrics import Metrics
from bot.models import Edition, PollOutcome, PollResult
from bot.pipeline import poll_all, poll_due, utc_now
from bot.publish import Sender
from bot.settings import ChannelConfig, CurrentSettings, FeedConfig, Settings, load_settings
from bot.storage import EDITION_CANDIDATES, Storage

log = logging.getLogger(__name__)
SEARCH_LIFETIME = timedelta(days=7)  # result-page buttons older than this say "expired"
HEALTHY_POLL_AGE = timedelta(minutes=15)  # or three times the shortest interval, if longer


def chat_label(chat: str) -> str:
    """The `chat` label of a message metric: the channel, or "admin" for a private chat.

    A positive numeric chat id is a person (Telegram gives groups and channels negative
    ids); only admins get private messages from editions, and a user id has no place in
    metrics that may be scraped by anyone who can reach /metrics.
    """
    return "admin" if chat.isdigit() else chat


class CountingSender:
    """A sender that counts what Telegram accepted, for /metrics."""

    def __init__(self, sender: Sender, metrics: Metrics) -> None:
        self._sender = sender
        self._metrics = metrics

    async def send(
        self,
        chat: str,
        text: str,
        preview_url: str | None = None,
        *,
        thread: int | None = None,
        alert: bool = False,
    ) -> int | None:
        message_id = await self._sender.send(chat, text, preview_url, thread=thread, alert=alert)
        self._metrics.messages.labels("alerts" if alert else chat_label(chat)).inc()
        return message_id

    async def send_plain(
        self, chat: str, text: str, *, thread: int | None = None, alert: bool = False
    ) -> int | None:
        message_id = await self._sender.send_plain(chat, text, thread=thread, alert=alert)
        self._metrics.messages.labels("alerts" if alert else chat_label(chat)).inc()
        return message_id


class BotApp:
    """Everything that runs: storage, HTTP client, scheduler, and Telegram or the console."""

    def __init__(
        self,
        settings: CurrentSettings,
        storage: Storage,
        client: httpx.AsyncClient,
        editions: EditionRunner,
        scheduler: AsyncIOScheduler,
        metrics: Metrics,
        env: Mapping[str, str] | None = None,
        alerts: AlertRunner | None = None,
    ) -> None:
        self._current = settings
        self.storage = storage
        self.client = client
        self.editions = editions
        self.alerts = alerts
        self.scheduler = scheduler
        self.metrics = metrics
        self.env = dict(env or {})  # what a reload reads the config with
        self.scheduler.add_listener(self._job_done, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        self.started_at = utc_now()
        self.last_poll_at: datetime | None = None
        # Polls started by a reload: the loop keeps only weak references to its tasks.
        self._background: set[asyncio.Task[None]] = set()

    @property
    def settings(self) -> Settings:
        """The settings in force now."""
        return self._current.value

    async def poll_due(self) -> None:
        """The poll tick: poll the feeds whose next check has come."""
        results = await poll_due(self.settings.feeds, self.storage, self.client)
        for result in results:
            self.record(result)
        await self.breaking_news(results)

    async def poll_now(self) -> list[PollResult]:
        """Poll every feed now (the /poll command)."""
        results = await poll_all(self.settings.feeds, self.storage, self.client)
        for result in results:
            self.record(result)
        await self.breaking_news(results)
        return results

    async def breaking_news(self, results: Sequence[PollResult]) -> None:
        """After a poll that stored something: breaking news for the channels asking."""
        if not any(r.new_articles for r in results):
            return
        for channel in self.settings.channels:
            if channel.breaking is None:
                continue
            try:
                await self.editions.breaking(channel)
            except Exception:
                log.exception("breaking chat=%s failed", channel.chat)

    def record(self, result: PollResult) -> None:
        self.last_poll_at = utc_now()
        self.metrics.polls.labels(result.feed_id, result.outcome.value).inc()
        if result.outcome is PollOutcome.ERROR:
            self.metrics.poll_errors.labels(result.feed_id).inc()
        if result.new_articles:
            self.metrics.articles.labels(result.feed_id).inc(result.new_articles)

    async def preview(self, chat: str) -> Edition | None:
        """The next edition of a channel as it would be now; nothing is recorded."""
        channel = self.settings.channel(chat)
        return await self.editions.build(channel) if channel else None

    async def edition(self, channel: ChannelConfig, name: str | None = None) -> None:
        try:
            await self.editions.run(channel, name)
        except Exception:
            log.exception("edition chat=%s failed", channel.chat)
        await self.update_queue_gauge()

    async def update_queue_gauge(self) -> None:
        for chat, state in (await self.storage.channel_states()).items():
            self.metrics.queue.labels(chat).set(state.pending_parts)

    def _job_done(self, event: JobExecutionEvent) -> None:
        if str(event.job_id).startswith("edition:"):
            chat = str(event.job_id).split(":")[1]
            lag = (utc_now() - event.scheduled_run_time).total_seconds()
            self.metrics.edition_lag.labels(chat).set(max(0.0, lag))

    def health(self) -> tuple[bool, dict[str, object]]:
        """Healthy while the scheduler runs and a poll finished recently."""
        shortest = min((f.interval for f in self.settings.feeds), default=HEALTHY_POLL_AGE)
        limit = max(HEALTHY_POLL_AGE, 3 * shortest)
        detail: dict[str, object] = {
            "scheduler": "running" if self.scheduler.running else "stopped",
            "last_poll": self.last_poll_at.isoformat() if self.last_poll_at else None,
        }
        if not self.scheduler.running:
            return False, {**detail, "reason": "the scheduler is not running"}
        if self.last_poll_at is None:
            starting = utc_now() - self.started_at < limit
            reason = "starting: no poll finished yet" if starting else "no poll has finished"
            return starting, {**detail, "reason": reason}
        if utc_now() - self.last_poll_at > limit:
            return False, {**detail, "reason": f"no poll finished in the last {limit}"}
        return True, detail

    async def first_poll(self) -> None:
        """At start: finish sending what was left unsent, poll everything, match readers'
        topics; in console mode show an edition right away."""
        flushed = await asyncio.gather(
            *(self.editions.flush(c) for c in self.settings.channels), return_exceptions=True
        )
        for channel, outcome in zip(self.settings.channels, flushed, strict=True):
            if isinstance(outcome, BaseException):
                log.error("flush chat=%s failed", channel.chat, exc_info=outcome)
            elif outcome:
                log.info("flush chat=%s sent=%d left from before", channel.chat, outcome)
        results = await self.poll_now()
        if self.alerts is not None:  # alerts left unsent, and what the poll brought
            try:
                await self.alerts.tick()
            except Exception:
                log.exception("alerts at start failed")
        # Logged once the start-up work is planned (alerts included): tests and operators
        # read it as "everything due at start is in the outbox".
        failed = sum(1 for r in results if r.error)
        log.info("first poll done feeds=%d failed=%d", len(results), failed)
        # Polls read each new text for clustering as they store it (`read_ahead`); what an
        # earlier run stored is read here, in a thread, before the first edition needs it.
        try:
            recent = await self.storage.latest(EDITION_CANDIDATES)
            await asyncio.to_thread(read_ahead, recent)
        except Exception:
            log.exception("reading the recent articles at start failed")
        if self.settings.console_mode:
            for channel in self.settings.channels:
                await self.edition(channel)

    async def maintain(self) -> None:
        """Drop articles past `retention_days` (the FTS index follows), then optimise."""
        now = utc_now()
        try:
            deleted = await self.storage.prune(
                now - timedelta(days=self.settings.retention_days), now - SEARCH_LIFETIME
            )
            await self.storage.optimize()
        except Exception:
            log.exception("maintenance failed")
            return
        log.info("maintenance pruned=%d retention_days=%d", deleted, self.settings.retention_days)

    def start_scheduler(self) -> None:
        self._schedule()
        self.scheduler.start()

    def _schedule(self) -> None:
        add_poll_job(self.scheduler, self.poll_due)
        add_edition_jobs(self.scheduler, self.settings, self.edition)
        add_maintenance_job(self.scheduler, self.settings, self.maintain)
        if self.alerts is not None:
            add_alert_job(self.scheduler, self.alerts.tick)

    async def reload(self) -> tuple[bool, str]:
        """Validate the config file again; apply it if valid, keep the running one if not.

        Returns (applied, a report for the admin, in Vietnamese).
        """
        try:
            new = load_settings(self.env, str(self.settings.config_path))
        except ConfigError as exc:
            log.error("reload rejected problems=%d\n%s", len(exc.problems), exc)
            lines = "\n".join(f"• {p}" for p in exc.problems)
            return False, f"Cấu hình mới không hợp lệ; vẫn chạy cấu hình cũ.\n{lines}"
        old = self.settings
        restart = [
            name
            for name, changed in (
                ("token", new.token != old.token),
                ("database", new.database != old.database),
                ("[http] listen", new.http_listen != old.http_listen),
                ("timezone", new.timezone != old.timezone),
            )
            if changed
        ]
        old_feeds = {f.id: f for f in old.feeds}
        added = [f for f in new.feeds if f.id not in old_feeds]
        changed = [f for f in new.feeds if f.id in old_feeds and f != old_feeds[f.id]]
        removed = [f for f in old.feeds if f.id not in {n.id for n in new.feeds}]
        await self.storage.sync_feeds((f.id, f.url) for f in new.feeds)
        self.apply(new)
        for job in self.scheduler.get_jobs():
            job.remove()
        self._schedule()
        report = (
            f"Đã nạp lại cấu hình: {len(new.feeds)} nguồn (+{len(added)} mới, "
            f"{len(changed)} đổi, -{len(removed)} bỏ), {len(new.channels)} kênh."
        )
        if restart:
            report += " Cần khởi động lại để áp dụng: " + ", ".join(restart) + "."
        log.info(
            "reload applied feeds=%d added=%d changed=%d removed=%d channels=%d",
            len(new.feeds),
            len(added),
            len(changed),
            len(removed),
            len(new.channels),
        )
        fresh = [f for f in new.feeds if f in added or f in changed]
        if fresh:
            task = asyncio.get_running_loop().create_task(self._poll_fresh(fresh))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return True, report

    async def _poll_fresh(self, feeds: list[FeedConfig]) -> None:
        for result in await poll_all(feeds, self.storage, self.client):
            self.record(result)

    def apply(self, settings: Settings) -> None:
        """Swap in new settings for every part that shares them."""
        self._current.value = settings
