"""APScheduler wiring: a poll tick for due feeds, an edition job per schedule entry, upkeep.

Jobs run in the event loop (AsyncIOScheduler). Each job runs alone (max_instances=1) and a
run missed while the process was busy or asleep is run once, late, rather than piled up.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.settings import ChannelConfig, Settings, schedule_trigger

log = logging.getLogger(__name__)
EDITION_GRACE_SECONDS = 15 * 60
POLL_TICK_SECONDS = 30
MAINTENANCE_AT = "03:30"  # local time: the quietest hour for Vietnamese news


def make_scheduler(settings: Settings) -> AsyncIOScheduler:
    return AsyncIOScheduler(timezone=settings.timezone)


def until_shutdown(job: Callable[..., Awaitable[object]]) -> Callable[..., Awaitable[None]]:
    """The job, ending quietly when shutdown cancels it.

    Shutting the scheduler down cancels the jobs in flight, on purpose; APScheduler would
    log that as a crash ("Job … raised an exception" and a CancelledError traceback).
    """

    @functools.wraps(job)
    async def run(*args: Any) -> None:
        try:
            await job(*args)
        except asyncio.CancelledError:
            log.info("job %s stopped by shutdown", getattr(job, "__name__", "?"))

    return run


def add_poll_job(scheduler: AsyncIOScheduler, poll_due: Callable[[], Awaitable[object]]) -> None:
    """One tick polls whichever feeds are due: each feed's next check is its own (interval,
    server hints, backoff; see bot.politeness), kept in the database across restarts."""
    scheduler.add_job(
        until_shutdown(poll_due),
        IntervalTrigger(seconds=POLL_TICK_SECONDS),
        id="poll",
        name="poll due feeds",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=POLL_TICK_SECONDS,
        replace_existing=True,
    )


def add_edition_jobs(
    scheduler: AsyncIOScheduler,
    settings: Settings,
    edition: Callable[[ChannelConfig, str | None], Awaitable[object]],
) -> None:
    """One job per schedule entry and per named edition of each channel, in local time."""
    for channel in settings.channels:
        times: list[tuple[str, str | None]] = [(spec, None) for spec in channel.schedule]
        times += [(e.at, e.name) for e in channel.editions]
        for index, (spec, name) in enumerate(times):
            scheduler.add_job(
                until_shutdown(edition),
                schedule_trigger(spec, settings.timezone),
                args=[channel, name],
                id=f"edition:{channel.chat}:{index}",
                name=f"edition {channel.chat} {name or spec}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=EDITION_GRACE_SECONDS,
                replace_existing=True,
            )


def add_maintenance_job(
    scheduler: AsyncIOScheduler, settings: Settings, maintain: Callable[[], Awaitable[object]]
) -> None:
    """Daily: prune what is past retention and optimise the database."""
    scheduler.add_job(
        until_shutdown(maintain),
        schedule_trigger(MAINTENANCE_AT, settings.timezone),
        id="maintenance",
        name="daily maintenance",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=6 * 3600,
        replace_existing=True,
    )


ALERT_TICK_SECONDS = 10


def add_alert_job(scheduler: AsyncIOScheduler, tick: Callable[[], Awaitable[object]]) -> None:
    """Readers' alerts: match what polls stored, plan what is due, keep delivery going."""
    scheduler.add_job(
        until_shutdown(tick),
        IntervalTrigger(seconds=ALERT_TICK_SECONDS),
        id="alerts",
        name="readers' alerts",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=ALERT_TICK_SECONDS,
        replace_existing=True,
    )
