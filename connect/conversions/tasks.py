"""Background work for conversions: attribute received orders, approve due commissions.

Each function is the job: it commits after every batch, so a kill loses at most the batches in
flight (rolled back, redone by the next run), and a second run finds nothing left to do.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import text
from sqlalchemy.orm import Session, scoped_session

from connect.conversions.attribution import BatchPlan, BatchResult, plan_batch
from connect.conversions.services import approve_due
from connect.core.db import dialect_name
from connect.core.jobs import gc_paused

# Orders per batch (per transaction). Larger batches spread each statement's fixed cost over
# more orders (bench/attribution: 6,955 orders/s at 2,000, 7,435 at 5,000); a batch holds its
# orders locked for about two batch times (well under a second), which is what a refund or a
# replayed postback of one of them may wait.
BATCH_SIZE = 5000
WRITE_LOCK_TIMEOUT = "60s"


def attribute_orders(
    session: Session | scoped_session[Session],
    now: datetime,
    *,
    batch_size: int = BATCH_SIZE,
    max_batches: int = 1000,
    after_batch: Callable[[BatchResult], None] | None = None,
) -> BatchResult:
    """Attribute every received order that is due, one committed transaction per batch.

    On PostgreSQL, planning a batch (its reads, the commission arithmetic and its own orders'
    update) overlaps writing the previous one (budgets, commissions, ledger postings) on a
    second session in a writer thread: Python works while the database writes. A batch's plan
    locks its orders with SKIP LOCKED, so the next plan takes the orders after them. Batches
    commit in order, and a failed write stops the job after rolling back the plan that was
    waiting. SQLite (the first run) cannot skip locked rows: there the batches run one after
    the other.
    """
    total = BatchResult()

    def done(batch: BatchResult) -> None:
        if after_batch:
            after_batch(batch)
        for name in vars(total):
            setattr(total, name, getattr(total, name) + getattr(batch, name))

    last_id = 0
    if dialect_name(session) != "postgresql":
        for _ in range(max_batches):
            with gc_paused():
                plan = plan_batch(session, now, batch_size, last_id)
                last_id = plan.last_id
                batch = _write(session, plan)
            done(batch)
            # Deferred orders get a later attribute_after, so every batch makes progress.
            if batch.orders == 0:
                break
        return total

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    # Two sessions take turns: while the writer thread writes and commits one, the other plans
    # the next batch; a session is only ever used by one thread at a time. The real Session
    # objects, not the scoped proxy, which would give the writer thread a session of its own.
    first = session() if isinstance(session, scoped_session) else session
    sessions = [first, Session(bind=first.get_bind())]
    writing: Future[BatchResult] | None = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="attribution-writer") as writer:
        try:
            for number in range(max_batches):
                current = sessions[number % 2]
                with gc_paused():
                    plan = plan_batch(current, now, batch_size, last_id)
                    last_id = plan.last_id
                    if writing is not None:
                        done(writing.result())
                        writing = None
                if plan.result.orders == 0:
                    current.rollback()
                    done(plan.result)
                    break
                writing = writer.submit(_write_in, app, current, plan)
            if writing is not None:
                done(writing.result())
                writing = None
        finally:
            if writing is not None:
                # Leaving early (an error, a kill): let the write finish or fail before the
                # sessions are rolled back under it.
                writing.exception()
            for s in sessions:
                s.rollback()
            sessions[1].close()
    return total


def _write(session: Session, plan: BatchPlan) -> BatchResult:
    result = plan.apply(session)
    session.commit()
    return result


def _write_in(app: Any, session: Session, plan: BatchPlan) -> BatchResult:
    # Commit hooks enqueue jobs and read the app's configuration: they need the app context.
    # (The planning thread pauses the garbage collector for both.)
    with app.app_context():
        # The planning thread keeps the next batch's transaction open until this write ends.
        # Should this write ever wait for a lock that transaction holds, PostgreSQL cannot see
        # the cycle (one side of it waits in Python): a failed job is retried, a hung one not.
        session.execute(text(f"SET LOCAL lock_timeout = '{WRITE_LOCK_TIMEOUT}'"))
        return _write(session, plan)


def approve_commissions(session: Session, now: datetime, *, batch_size: int = 5000) -> int:
    approved = 0
    while True:
        count = approve_due(session, now, limit=batch_size)
        session.commit()
        approved += count
        if count < batch_size:
            return approved
