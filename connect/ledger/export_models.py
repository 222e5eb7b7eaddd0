"""Finance's ledger exports prepared in the background, and their progress."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped

from connect.core.models import IdMixin, TimestampsMixin, column
from connect.core.types import UTCDateTime, enum_type
from connect.extensions import db


class ExportStatus(enum.StrEnum):
    QUEUED = "queued"  # asked for, waiting for a worker
    RUNNING = "running"  # a worker is writing it (or died doing so: the next run starts over)
    DONE = "done"  # the file is stored
    FAILED = "failed"  # stopped; `error` says why


class LedgerExport(IdMixin, TimestampsMixin, db.Model):
    """One ledger export: the period asked for, how far the job got, and the stored CSV.

    The file is written in full by one run and stored at the end, so a run killed half-way
    leaves no partial file: the next run starts over and stores it once."""

    __tablename__ = "ledger_exports"
    __table_args__ = (
        CheckConstraint("period_end >= period_start", name="period_ordered"),
        CheckConstraint("total_rows >= 0 AND processed_rows >= 0", name="counts_non_negative"),
    )

    created_by_id: Mapped[int] = column(ForeignKey("users.id"), index=True)
    #: UTC days, both included.
    period_start: Mapped[date] = column(Date)
    period_end: Mapped[date] = column(Date)
    #: ISO 4217 code, or "" for every currency.
    currency: Mapped[str] = column(String(3), default="")
    status: Mapped[ExportStatus] = column(enum_type(ExportStatus), default=ExportStatus.QUEUED)
    #: Entries in the period (counted when the run starts) and entries written so far.
    total_rows: Mapped[int] = column(default=0)
    processed_rows: Mapped[int] = column(default=0)
    storage_key: Mapped[str] = column(String(200), default="")
    sha256: Mapped[str] = column(String(64), default="")
    #: Why a failed export failed, safe to show.
    error: Mapped[str] = column(Text, default="")
    started_at: Mapped[datetime | None] = column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = column(UTCDateTime, nullable=True)
