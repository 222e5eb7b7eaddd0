"""Column helpers every domain's models use, so the tables look alike."""

from __future__ import annotations

import functools
from datetime import datetime

from sqlalchemy import func
from sqlalchemy.orm import Mapped, mapped_column

from connect.core.time import utcnow
from connect.core.types import BigIntPK, UTCDateTime

# NOT NULL unless a column says otherwise.
column = functools.partial(mapped_column, nullable=False)


class IdMixin:
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)


class CreatedMixin:
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, nullable=False, default=utcnow, server_default=func.now()
    )


class TimestampsMixin(CreatedMixin):
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow, server_default=func.now()
    )
