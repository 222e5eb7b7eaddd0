"""Admin reads: queues and the audit log."""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from connect.audit.models import AuditEvent
from connect.brands.models import Brand, BrandStatus
from connect.creators.models import Creator, CreatorStatus


def queue_counts(session: Session) -> dict[str, int]:
    pending_creators = session.scalar(
        select(func.count()).where(Creator.status == CreatorStatus.PENDING)
    )
    pending_brands = session.scalar(select(func.count()).where(Brand.status == BrandStatus.PENDING))
    return {"pending_creators": pending_creators or 0, "pending_brands": pending_brands or 0}


def creators_page(
    session: Session, *, status: CreatorStatus | None, page: int, per_page: int = 50
) -> tuple[list[Creator], int]:
    stmt = select(Creator)
    if status is not None:
        stmt = stmt.where(Creator.status == status)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(
        stmt.order_by(Creator.created_at.desc(), Creator.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return list(rows), total


FINANCE_ACTIONS = ("payout_batch.%", "payout_file.%", "ledger.%", "commission.hold_%")


def finance_audit_page(session: Session, *, page: int, per_page: int = 100) -> list[AuditEvent]:
    """The audit trail of money decisions, newest first."""
    return list(
        session.scalars(
            select(AuditEvent)
            .where(or_(*(AuditEvent.action.like(pattern) for pattern in FINANCE_ACTIONS)))
            .order_by(AuditEvent.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    )


def audit_page(session: Session, *, page: int, per_page: int = 100) -> list[AuditEvent]:
    return list(
        session.scalars(
            select(AuditEvent)
            .order_by(AuditEvent.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    )
