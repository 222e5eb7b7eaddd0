"""How creators are paid: payout methods, batches, payouts."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, relationship

from connect.core.models import IdMixin, TimestampsMixin, column
from connect.core.types import UTCDateTime, enum_type
from connect.extensions import db


class Rail(enum.StrEnum):
    STRIPE = "stripe"
    SEPA = "sepa"
    PAYPAL = "paypal"
    CSV = "csv"  # any other bank rail, paid from a plain file


class PayoutMethod(IdMixin, TimestampsMixin, db.Model):
    __tablename__ = "payout_methods"

    creator_id: Mapped[int] = column(ForeignKey("creators.id", ondelete="CASCADE"), unique=True)
    rail: Mapped[Rail] = column(enum_type(Rail))
    stripe_account_id: Mapped[str] = column(String(64), default="")
    #: Set from Stripe's `account.updated` webhook.
    payouts_enabled: Mapped[bool] = column(default=False)
    iban: Mapped[str] = column(String(34), default="")
    bic: Mapped[str] = column(String(11), default="")
    account_holder: Mapped[str] = column(String(140), default="")
    paypal_email: Mapped[str] = column(String(254), default="")


class BatchStatus(enum.StrEnum):
    BUILDING = "building"
    REVIEW = "review"
    APPROVED = "approved"
    EXECUTING = "executing"
    DONE = "done"
    CANCELLED = "cancelled"


class PayoutBatch(IdMixin, TimestampsMixin, db.Model):
    __tablename__ = "payout_batches"
    __table_args__ = (
        CheckConstraint("period_end >= period_start", name="period_ordered"),
        CheckConstraint(
            "approved_by_id IS NULL OR approved_by_id <> created_by_id", name="four_eyes"
        ),
    )

    period_start: Mapped[date] = column(Date)
    period_end: Mapped[date] = column(Date)
    status: Mapped[BatchStatus] = column(enum_type(BatchStatus), default=BatchStatus.BUILDING)
    created_by_id: Mapped[int] = column(ForeignKey("users.id"))
    approved_by_id: Mapped[int | None] = column(ForeignKey("users.id"), nullable=True)
    approved_at: Mapped[datetime | None] = column(UTCDateTime, nullable=True)
    #: Set by the build job: how many payouts, and the totals per currency and rail.
    summary: Mapped[dict[str, object]] = column(JSON, default=dict)
    #: Why the last build or execution job stopped, safe to show; "" while all is well.
    error: Mapped[str] = column(Text, default="")

    payouts: Mapped[list[Payout]] = relationship(back_populates="batch")


class PayoutStatus(enum.StrEnum):
    PLANNED = "planned"  # in a batch; the amount is reserved (creator_in_flight)
    SENDING = "sending"  # a Stripe call may be in flight; retried with the same key
    EXPORTED = "exported"  # in a bank or PayPal file; finance confirms or reports a return
    PAID = "paid"  # money left the platform (payouts_sent)
    FAILED = "failed"  # the amount went back to the creator's approved balance, once
    CANCELLED = "cancelled"  # the batch was cancelled before execution; amount returned


class Payout(IdMixin, TimestampsMixin, db.Model):
    __tablename__ = "payouts"
    __table_args__ = (
        UniqueConstraint("batch_id", "creator_id", "currency"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("length(currency) = 3", name="currency_iso"),
    )

    batch_id: Mapped[int] = column(ForeignKey("payout_batches.id"), index=True)
    creator_id: Mapped[int] = column(ForeignKey("creators.id"), index=True)
    amount_minor: Mapped[int] = column(BigInteger)
    currency: Mapped[str] = column(String(3))
    rail: Mapped[Rail] = column(enum_type(Rail))
    status: Mapped[PayoutStatus] = column(enum_type(PayoutStatus), default=PayoutStatus.PLANNED)
    #: Sent with every provider call for this payout; stored before the first call.
    idempotency_key: Mapped[str] = column(String(64), unique=True)
    provider_ref: Mapped[str] = column(String(64), default="", index=True)
    failure_reason: Mapped[str] = column(String(255), default="")
    #: The bank or PayPal file this payout was exported in.
    file_id: Mapped[int | None] = column(ForeignKey("payout_files.id"), nullable=True, index=True)
    #: Where the money goes, copied from the payout method when the batch is built.
    destination: Mapped[str] = column(String(254), default="")
    paid_at: Mapped[datetime | None] = column(UTCDateTime, nullable=True)

    batch: Mapped[PayoutBatch] = relationship(back_populates="payouts")


class PayoutFile(IdMixin, TimestampsMixin, db.Model):
    """A bank or PayPal file for one batch, rail and currency (in parts where the rail limits
    the rows of a file: PayPal takes 5,000), stored in S3."""

    __tablename__ = "payout_files"
    __table_args__ = (UniqueConstraint("batch_id", "rail", "currency", "part"),)

    batch_id: Mapped[int] = column(ForeignKey("payout_batches.id"), index=True)
    rail: Mapped[Rail] = column(enum_type(Rail))
    currency: Mapped[str] = column(String(3))
    part: Mapped[int] = column(default=1)
    storage_key: Mapped[str] = column(String(512))
    sha256: Mapped[str] = column(String(64))
    payments: Mapped[int] = column()
    total_minor: Mapped[int] = column(BigInteger)


class StripeEvent(IdMixin, db.Model):
    """Every Stripe webhook event handled, by id: a repeat delivery is recognised and ignored."""

    __tablename__ = "stripe_events"

    event_id: Mapped[str] = column(String(255), unique=True)
    type: Mapped[str] = column(String(100))
    received_at: Mapped[datetime] = column(UTCDateTime)
    payload: Mapped[dict[str, object]] = column(JSON)
