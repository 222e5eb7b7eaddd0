"""The scheduled sample work. Each job owns its transaction: a commit per batch, so a killed run
keeps what it finished and the next run carries on from the database's state."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from connect.samples.services import SWEEP_BATCH, SweepResult, erase_addresses, sweep_batch


def sweep(session: Session, now: datetime, *, batch: int = SWEEP_BATCH) -> SweepResult:
    """Fulfil, mark overdue and remind every delivered request, batch by batch."""
    total = SweepResult()
    after = 0
    while True:
        result, last = sweep_batch(session, now, after_id=after, limit=batch)
        session.commit()
        total.fulfilled += result.fulfilled
        total.overdue += result.overdue
        total.reminded += result.reminded
        if last is None:
            return total
        after = last


def erase(session: Session, now: datetime) -> int:
    """Erase the addresses no longer needed (one statement, one commit)."""
    erased = erase_addresses(session, now)
    session.commit()
    return erased
