"""The audit log: one call, used by every domain for every privileged action."""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from connect.audit.models import AuditEvent


def record(
    session: Session,
    *,
    actor_id: int | None,
    action: str,
    target: Any,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit row for `action` on `target` (a mapped object with an id)."""
    mapper = inspect(type(target))
    event = AuditEvent(
        actor_id=actor_id,
        action=action,
        target_type=mapper.local_table.name,
        target_id=str(target.id),
        data=data or {},
    )
    session.add(event)
    return event
