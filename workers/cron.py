"""Periodic jobs, enqueued by `connect cron` (RQ's cron scheduler; run one per deployment)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from redis import Redis
from rq.cron import CronScheduler

from workers import jobs

# (job, queue, seconds between runs). Jobs are idempotent, so an extra run is harmless.
PERIODIC: list[tuple[Callable[..., Any], str, int]] = [
    (jobs.drain_clicks, "clicks", 5),
    (jobs.drain_click_spool, "clicks", 60),
    (jobs.purge_clicks, "periodic", 24 * 3600),
    # Intake enqueues attribution right after each order; this catches deferred orders.
    (jobs.attribute_orders, "attribution", 60),
    (jobs.approve_commissions, "periodic", 3600),
    (jobs.recompute_tiers, "periodic", 6 * 3600),
    (jobs.sweep_samples, "periodic", 3600),
    (jobs.erase_sample_addresses, "periodic", 24 * 3600),
    # Emitters enqueue delivery after commit; this sends retries and catches lost enqueues.
    (jobs.deliver_webhooks, "webhooks", 60),
    (jobs.purge_webhook_deliveries, "periodic", 24 * 3600),
]


def build_scheduler(connection: Redis) -> CronScheduler:
    scheduler = CronScheduler(connection=connection)
    for func, queue_name, interval in PERIODIC:
        scheduler.register(func, queue_name, interval=interval, job_timeout=600)
    return scheduler
