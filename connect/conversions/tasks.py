"""Background work for conversions: attribute received orders, approve due commissions.

Each function is the job: it commits after every batch, so a kill loses at most the batch in
flight (rolled back, redone by the next run), and a second run finds nothing left to do.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from connect.conversions.attribution import BatchResult, attribute_batch
from connect.conversions.services import approve_due


def attribute_orders(
    session: Session,
    now: datetime,
    *,
    batch_size: int = 2000,
    max_batches: int = 1000,
    after_batch: Callable[[BatchResult], None] | None = None,
) -> BatchResult:
    total = BatchResult()
    for _ in range(max_batches):
        batch = attribute_batch(session, now, limit=batch_size)
        session.commit()
        if after_batch:
            after_batch(batch)
        for name in vars(total):
            setattr(total, name, getattr(total, name) + getattr(batch, name))
        # Deferred orders get a later attribute_after, so every batch makes progress.
        if batch.orders == 0:
            break
    return total


def approve_commissions(session: Session, now: datetime, *, batch_size: int = 5000) -> int:
    approved = 0
    while True:
        count = approve_due(session, now, limit=batch_size)
        session.commit()
        approved += count
        if count < batch_size:
            return approved
