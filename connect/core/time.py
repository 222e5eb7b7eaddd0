from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC. The only clock the code reads."""
    return datetime.now(UTC)
