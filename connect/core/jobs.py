"""Background work: queues named by purpose, jobs enqueued only after the transaction commits.

Jobs get ids, never ORM objects. RQ delivers at least once, so every job must be idempotent.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import Callable, Iterator
from typing import Any

from flask import current_app
from redis import Redis
from rq import Queue
from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

QUEUES = ("default", "clicks", "attribution", "payouts", "periodic", "webhooks")
_PENDING = "connect_pending_jobs"
_CALLBACKS = "connect_after_commit"


def redis_connection() -> Redis:
    """The app's Redis connection, one per app (a pool underneath)."""
    conn = current_app.extensions.get("connect_redis")
    if conn is None:
        url = current_app.config["REDIS_URL"]
        if not url:
            raise RuntimeError("REDIS_URL is not set: background jobs need Redis")
        conn = Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
        current_app.extensions["connect_redis"] = conn
    return conn


def queue(name: str = "default") -> Queue:
    if name not in QUEUES:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=redis_connection(), default_timeout=600)


def enqueue_after_commit(
    session: Session,
    func: Callable[..., Any] | str,
    *args: Any,
    queue_name: str = "default",
    job_id: str | None = None,
) -> None:
    """Enqueue `func(*args)` once `session` commits; dropped if it rolls back."""
    session.info.setdefault(_PENDING, []).append((queue_name, func, args, job_id))


def call_after_commit(session: Session, func: Callable[..., Any], *args: Any) -> None:
    """Call `func(*args)` in this process once `session` commits (dropped on rollback). For
    cheap, best-effort side effects such as dropping cache entries; an error is logged, not
    raised, because the transaction has already committed."""
    session.info.setdefault(_CALLBACKS, []).append((func, args))


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Run one bounded batch of a job with Python's cyclic garbage collector paused.

    A batch builds and drops hundreds of thousands of short-lived rows and dicts, and every few
    thousand allocations the collector walks them, with a full pass over every live object now
    and then: a quarter of an attribution batch went there (bench/attribution). Reference
    counting still frees almost everything at once; the one young-generation pass at the end
    frees the few cycles the batch made, so memory stays bounded by one batch.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.collect(0)
        if enabled:
            gc.enable()


@event.listens_for(Session, "after_commit")
def _flush_pending_jobs(session: Session) -> None:
    # SQLAlchemy fires this for a released SAVEPOINT too; the real commit is still to come.
    if session.in_nested_transaction():
        return
    for func, args in session.info.pop(_CALLBACKS, []):
        try:
            func(*args)
        except Exception:
            log.exception("after-commit call %s failed", getattr(func, "__name__", func))
    seen: set[tuple[Any, ...]] = set()
    for queue_name, func, args, job_id in session.info.pop(_PENDING, []):
        key = (queue_name, func if isinstance(func, str) else id(func), repr(args), job_id)
        if key in seen:  # the same job asked for many times in one transaction runs once
            continue
        seen.add(key)
        queue(queue_name).enqueue(func, *args, job_id=job_id, failure_ttl=7 * 24 * 3600)


@event.listens_for(Session, "after_rollback")
def _drop_pending_jobs(session: Session) -> None:
    # A SAVEPOINT rolled back: the outer transaction's jobs still stand (jobs are idempotent,
    # so one asked for inside the failed savepoint may run; it finds nothing to do).
    if session.in_nested_transaction():
        return
    session.info.pop(_PENDING, None)
    session.info.pop(_CALLBACKS, None)
