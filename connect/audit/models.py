"""Who did what, when: every privileged action (approvals, finance, admin) leaves a row."""

from __future__ import annotations

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped

from connect.core.models import CreatedMixin, IdMixin, column
from connect.extensions import db


class AuditEvent(IdMixin, CreatedMixin, db.Model):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_target", "target_type", "target_id"),)

    actor_id: Mapped[int | None] = column(ForeignKey("users.id"), nullable=True, index=True)
    #: Dotted verb, e.g. `creator.approve`, `payout_batch.approve`.
    action: Mapped[str] = column(String(80), index=True)
    target_type: Mapped[str] = column(String(40))
    target_id: Mapped[str] = column(String(40))
    data: Mapped[dict[str, object]] = column(JSON, default=dict)
