"""Paid content tasks: a brand posts a task in a campaign, creators apply or are assigned, submit
one of their content pieces, and the brand approves it (the fee goes to the ledger) or rejects it
with a reason (one resubmission allowed)."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, relationship

from connect.campaigns.models import Campaign
from connect.core.models import IdMixin, TimestampsMixin, column
from connect.core.types import UTCDateTime, enum_type
from connect.extensions import db

#: A first submission and one resubmission after a rejection.
MAX_SUBMISSIONS = 2


class TaskKind(enum.StrEnum):
    VIDEO = "video"
    POST = "post"
    REVIEW = "review"
    LIVE = "live"
    TRANSLATION = "translation"  # of an existing content piece (`source_content_id`)


class TaskStatus(enum.StrEnum):
    DRAFT = "draft"
    OPEN = "open"  # creators may apply
    CLOSED = "closed"  # no new applications; accepted creators still submit
    CANCELLED = "cancelled"  # nothing more happens; approved fees stay paid


class Task(IdMixin, TimestampsMixin, db.Model):
    __tablename__ = "tasks"
    __table_args__ = (
        CheckConstraint("fee_minor > 0", name="fee_positive"),
        CheckConstraint("length(currency) = 3", name="currency_iso"),
        CheckConstraint("slots BETWEEN 1 AND 10000", name="slots_range"),
        # The slot counter is kept under a row lock; this is the backstop against over-acceptance.
        CheckConstraint("taken_slots BETWEEN 0 AND slots", name="slots_not_exceeded"),
        CheckConstraint(
            "(kind = 'translation') = (source_content_id IS NOT NULL)",
            name="translation_has_source",
        ),
    )

    brand_id: Mapped[int] = column(ForeignKey("brands.id", ondelete="CASCADE"), index=True)
    campaign_id: Mapped[int] = column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    kind: Mapped[TaskKind] = column(enum_type(TaskKind))
    title: Mapped[str] = column(String(120))
    #: Markdown, rendered with escaping (the campaign brief's renderer).
    brief: Mapped[str] = column(Text, default="")
    #: The fixed fee per approved piece, in minor units of `currency`.
    fee_minor: Mapped[int] = column(BigInteger)
    currency: Mapped[str] = column(String(3))
    slots: Mapped[int] = column()
    #: Accepted applications plus assignments; never more than `slots`.
    taken_slots: Mapped[int] = column(default=0)
    #: Last day (UTC) to apply and to submit a first version.
    deadline: Mapped[date] = column(Date)
    #: ISO 3166 codes; empty means every country.
    countries: Mapped[list[str]] = column(JSON, default=list)
    min_tier_id: Mapped[int | None] = column(ForeignKey("tiers.id"), nullable=True)
    #: The piece a translation task translates.
    source_content_id: Mapped[int | None] = column(ForeignKey("content.id"), nullable=True)
    status: Mapped[TaskStatus] = column(enum_type(TaskStatus), default=TaskStatus.DRAFT)
    created_by_id: Mapped[int] = column(ForeignKey("users.id"))

    campaign: Mapped[Campaign] = relationship()


class AssignmentOrigin(enum.StrEnum):
    APPLIED = "applied"  # the creator asked
    ASSIGNED = "assigned"  # the brand picked the creator


class AssignmentStatus(enum.StrEnum):
    APPLIED = "applied"  # waiting for the brand
    ACCEPTED = "accepted"  # holds a slot; the creator makes the piece
    DECLINED = "declined"  # the application was turned down
    SUBMITTED = "submitted"  # waiting for the brand's review
    REJECTED = "rejected"  # may resubmit once (submission_count < MAX_SUBMISSIONS)
    APPROVED = "approved"  # the fee is on the ledger


class TaskAssignment(IdMixin, TimestampsMixin, db.Model):
    """One creator on one task, from application to the fee."""

    __tablename__ = "task_assignments"
    __table_args__ = (
        UniqueConstraint("task_id", "creator_id"),
        CheckConstraint(
            f"submission_count BETWEEN 0 AND {MAX_SUBMISSIONS}", name="submissions_range"
        ),
        Index("ix_task_assignments_creator", "creator_id", "status"),
    )

    task_id: Mapped[int] = column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    creator_id: Mapped[int] = column(ForeignKey("creators.id", ondelete="CASCADE"))
    origin: Mapped[AssignmentOrigin] = column(enum_type(AssignmentOrigin))
    status: Mapped[AssignmentStatus] = column(enum_type(AssignmentStatus))
    #: What the creator wrote when applying (plain text, shown escaped to the brand).
    note: Mapped[str] = column(String(500), default="")
    #: The piece submitted last.
    content_id: Mapped[int | None] = column(ForeignKey("content.id"), nullable=True, index=True)
    submission_count: Mapped[int] = column(default=0)
    submitted_at: Mapped[datetime | None] = column(UTCDateTime, nullable=True)
    decided_at: Mapped[datetime | None] = column(UTCDateTime, nullable=True)
    reviewed_at: Mapped[datetime | None] = column(UTCDateTime, nullable=True)
    reviewed_by_id: Mapped[int | None] = column(ForeignKey("users.id"), nullable=True)
    #: Why the last submission was rejected, shown to the creator.
    rejection_reason: Mapped[str] = column(String(500), default="")

    task: Mapped[Task] = relationship()
