from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from connect.notifications.models import Notification


def notify_many(session: Session, rows: Iterable[tuple[int, str, dict[str, Any]]]) -> int:
    """Add notifications in bulk: (user id, kind, data)."""
    values = [{"user_id": u, "kind": k, "data": d} for u, k, d in rows]
    if values:
        session.execute(insert(Notification), values)
    return len(values)


def unread(session: Session, user_id: int, limit: int = 10) -> list[Notification]:
    return list(
        session.scalars(
            select(Notification)
            .where(Notification.user_id == user_id, Notification.read_at.is_(None))
            .order_by(Notification.id.desc())
            .limit(limit)
        )
    )


def mark_read(session: Session, user_id: int, now: datetime) -> None:
    session.execute(
        update(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=now)
    )
