"""Job entry points. RQ imports these by dotted path; each is safe to run twice."""

from __future__ import annotations

from sqlalchemy import select

from connect.accounts.models import User
from connect.extensions import db
from workers.context import job_context


def user_exists(user_id: int) -> bool:
    """A read-only probe job: the smoke test of the queue, the worker and the database."""
    with job_context():
        return db.session.scalar(select(User.id).where(User.id == user_id)) is not None
