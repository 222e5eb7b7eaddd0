"""Webhook endpoints a brand subscribes, the events raised for it, and their deliveries.

An event is written in the transaction of whatever caused it (the outbox pattern), with one
delivery per subscribed endpoint; workers send deliveries after the commit and record every
attempt. Nothing is sent for a transaction that rolls back.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, relationship

from connect.core.models import CreatedMixin, IdMixin, TimestampsMixin, column
from connect.core.time import utcnow
from connect.core.types import Sealed, UTCDateTime, enum_type
from connect.extensions import db


class WebhookEndpoint(IdMixin, TimestampsMixin, db.Model):
    __tablename__ = "webhook_endpoints"

    brand_id: Mapped[int] = column(ForeignKey("brands.id", ondelete="CASCADE"), index=True)
    #: https://… (http only where private addresses are allowed, i.e. in tests).
    url: Mapped[str] = column(String(2048))
    description: Mapped[str] = column(String(200), default="")
    #: Event types subscribed, e.g. ["conversion.attributed", "commission.approved"].
    events: Mapped[list[str]] = column(JSON, default=list)
    #: The HMAC key of signatures. Signing needs it back, so it is sealed (encrypted under
    #: DATA_KEYS), not hashed; shown to the brand once, at creation and at each rotation.
    secret: Mapped[str] = column(Sealed())
    #: After a rotation the old secret signs too (a second v1=) until this time, so a receiver
    #: can switch keys without dropping deliveries.
    previous_secret: Mapped[str] = column(Sealed(), default="")
    previous_secret_until: Mapped[datetime | None] = column(UTCDateTime, nullable=True)
    enabled: Mapped[bool] = column(default=True)
    created_by_id: Mapped[int | None] = column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )

    @property
    def secret_hint(self) -> str:
        return self.secret[:10] + "…"


class WebhookEvent(IdMixin, CreatedMixin, db.Model):
    """Something that happened to a brand, as its subscribers receive it."""

    __tablename__ = "webhook_events"

    #: Sent to receivers (`id` in the body, X-Connect-Event-Id) so they can drop repeats.
    uuid: Mapped[uuid.UUID] = column(Uuid, unique=True, default=uuid.uuid4)
    brand_id: Mapped[int] = column(ForeignKey("brands.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = column(String(40))
    #: The event's `data`: ids, and amounts in minor units beside their currency; never a
    #: creator's private data.
    data: Mapped[dict[str, Any]] = column(JSON, default=dict)


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"  # not tried yet
    FAILED = "failed"  # the last attempt failed; another is scheduled at next_attempt_at
    SUCCEEDED = "succeeded"
    GIVEN_UP = "given_up"  # retried for RETRY_FOR without success, or the endpoint is off


class WebhookDelivery(IdMixin, TimestampsMixin, db.Model):
    """One event on its way to one endpoint."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # The delivery job: due rows by time.
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint", "endpoint_id", "id"),
    )

    event_id: Mapped[int] = column(ForeignKey("webhook_events.id", ondelete="CASCADE"), index=True)
    endpoint_id: Mapped[int] = column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    status: Mapped[DeliveryStatus] = column(
        enum_type(DeliveryStatus), default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = column(default=0)
    next_attempt_at: Mapped[datetime] = column(UTCDateTime, default=utcnow)
    first_attempt_at: Mapped[datetime | None] = column(UTCDateTime, nullable=True)
    last_attempt_at: Mapped[datetime | None] = column(UTCDateTime, nullable=True)
    last_status_code: Mapped[int | None] = column(nullable=True)
    last_error: Mapped[str] = column(String(300), default="")
    #: The delivery this one replays (sent again from the portal).
    replay_of_id: Mapped[int | None] = column(
        ForeignKey("webhook_deliveries.id", ondelete="SET NULL"), nullable=True
    )

    event: Mapped[WebhookEvent] = relationship()
    endpoint: Mapped[WebhookEndpoint] = relationship()


class WebhookAttempt(IdMixin, db.Model):
    """One HTTP request of a delivery and what came back."""

    __tablename__ = "webhook_attempts"

    delivery_id: Mapped[int] = column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = column()
    attempted_at: Mapped[datetime] = column(UTCDateTime)
    status_code: Mapped[int | None] = column(nullable=True)
    duration_ms: Mapped[int] = column(BigInteger, default=0)
    error: Mapped[str] = column(String(300), default="")
    #: The start of the response body, for the brand's debugging; never more.
    response_excerpt: Mapped[str] = column(String(500), default="")
