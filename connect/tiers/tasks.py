"""The scheduled tier recompute (the job owns the transaction: one commit for the run)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from connect.tiers.services import RecomputeResult, recompute_tiers


def recompute(session: Session, now: datetime) -> RecomputeResult:
    result = recompute_tiers(session, now)
    session.commit()
    return result
