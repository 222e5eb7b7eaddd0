"""CSV imports of orders and refunds uploaded by brand staff, and their progress."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped

from connect.core.models import IdMixin, TimestampsMixin, column
from connect.core.types import UTCDateTime, enum_type
from connect.extensions import db


class ImportKind(enum.StrEnum):
    ORDERS = "orders"
    REFUNDS = "refunds"


class ImportStatus(enum.StrEnum):
    QUEUED = "queued"  # stored, waiting for a worker
    RUNNING = "running"  # a worker is on it (or died on it: the job is re-run from the start)
    DONE = "done"  # every row stored or reported in the error report
    FAILED = "failed"  # the file as a whole could not be read; nothing was imported


class ImportJob(IdMixin, TimestampsMixin, db.Model):
    """One uploaded file. Its rows go through the same services as the API, so running the job
    again stores nothing twice."""

    __tablename__ = "import_jobs"
    __table_args__ = (
        UniqueConstraint("source_key"),
        CheckConstraint(
            "total_rows >= 0 AND processed_rows >= 0 AND ok_rows >= 0 AND failed_rows >= 0",
            name="counts_non_negative",
        ),
        Index("ix_import_jobs_brand_created", "brand_id", "created_at"),
    )

    brand_id: Mapped[int] = column(ForeignKey("brands.id"))
    created_by_id: Mapped[int] = column(ForeignKey("users.id"))
    kind: Mapped[ImportKind] = column(enum_type(ImportKind))
    status: Mapped[ImportStatus] = column(enum_type(ImportStatus), default=ImportStatus.QUEUED)
    #: Storage key of the uploaded CSV, exactly as received.
    source_key: Mapped[str] = column(String(200))
    source_sha256: Mapped[str] = column(String(64))
    #: The name the file had on the uploader's computer (display only).
    filename: Mapped[str] = column(String(200), default="")
    #: Data rows in the file (the header and blank lines not counted).
    total_rows: Mapped[int] = column(default=0)
    #: Rows handled so far by the current run (the progress bar).
    processed_rows: Mapped[int] = column(default=0)
    ok_rows: Mapped[int] = column(default=0)
    failed_rows: Mapped[int] = column(default=0)
    #: Storage key of the error report CSV; "" when every row was imported.
    error_report_key: Mapped[str] = column(String(200), default="")
    #: Why a failed import failed, safe to show to the uploader.
    error: Mapped[str] = column(Text, default="")
    started_at: Mapped[datetime | None] = column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = column(UTCDateTime, nullable=True)
