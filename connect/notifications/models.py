from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped

from connect.core.models import CreatedMixin, IdMixin, column
from connect.core.types import UTCDateTime
from connect.extensions import db


class Notification(IdMixin, CreatedMixin, db.Model):
    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_unread", "user_id", "read_at"),)

    user_id: Mapped[int] = column(ForeignKey("users.id", ondelete="CASCADE"))
    #: A dotted kind (`tier.promoted`, `campaign.ended`); the text is rendered from it.
    kind: Mapped[str] = column(String(40))
    data: Mapped[dict[str, object]] = column(JSON, default=dict)
    read_at: Mapped[datetime | None] = column(UTCDateTime, nullable=True)
