"""A creator's request for a sample of a campaign product, from asking to the content it owes.

The shipping address is personal data kept only while the sample needs it: it is erased (set to
NULL, `address_erased_at` stamped) when the request is declined or cancelled, and 30 days after
delivery (see `connect.samples.services.erase_addresses`). The shipping country is kept: it is
not personal on its own and the brand's reports use it.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, false
from sqlalchemy.orm import Mapped, relationship

from connect.brands.models import Product
from connect.core.models import IdMixin, TimestampsMixin, column
from connect.core.types import UTCDateTime, enum_type
from connect.extensions import db


class SampleStatus(enum.StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    DECLINED = "declined"
    SHIPPED = "shipped"
    DELIVERED = "delivered"  # the content is owed by `content_due_at`
    FULFILLED = "fulfilled"
    OVERDUE = "overdue"
    CANCELLED = "cancelled"


#: The address columns, erased together.
ADDRESS_FIELDS = (
    "recipient_name",
    "address_line1",
    "address_line2",
    "city",
    "region",
    "postal_code",
    "phone",
)


class SampleRequest(IdMixin, TimestampsMixin, db.Model):
    __tablename__ = "sample_requests"
    __table_args__ = (
        CheckConstraint("length(shipping_country) = 2", name="country_iso"),
        # Once erased, every address column stays empty.
        CheckConstraint(
            "address_erased_at IS NULL OR (recipient_name IS NULL AND address_line1 IS NULL "
            "AND address_line2 IS NULL AND city IS NULL AND region IS NULL "
            "AND postal_code IS NULL AND phone IS NULL)",
            name="erased_is_empty",
        ),
        CheckConstraint(
            "status NOT IN ('delivered', 'fulfilled', 'overdue') "
            "OR (delivered_at IS NOT NULL AND content_due_at IS NOT NULL)",
            name="delivered_has_deadline",
        ),
        # The creator's open requests (the tier limit) and their list.
        Index("ix_sample_requests_creator_status", "creator_id", "status"),
        # The scheduled jobs: deadlines and erasure.
        Index("ix_sample_requests_status_due", "status", "content_due_at"),
    )

    creator_id: Mapped[int] = column(ForeignKey("creators.id", ondelete="CASCADE"))
    brand_id: Mapped[int] = column(ForeignKey("brands.id", ondelete="CASCADE"), index=True)
    campaign_id: Mapped[int] = column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    status: Mapped[SampleStatus] = column(enum_type(SampleStatus), default=SampleStatus.REQUESTED)
    #: ISO 3166 alpha-2 of the shipping address; kept after the address is erased.
    shipping_country: Mapped[str] = column(String(2))
    #: The address: NULL once erased.
    recipient_name: Mapped[str | None] = column(String(120), nullable=True)
    address_line1: Mapped[str | None] = column(String(200), nullable=True)
    address_line2: Mapped[str | None] = column(String(200), nullable=True)
    city: Mapped[str | None] = column(String(100), nullable=True)
    region: Mapped[str | None] = column(String(100), nullable=True)
    postal_code: Mapped[str | None] = column(String(20), nullable=True)
    phone: Mapped[str | None] = column(String(40), nullable=True)
    address_erased_at: Mapped[datetime | None] = column(UTCDateTime, nullable=True)

    #: When the brand approved or declined.
    decided_at: Mapped[datetime | None] = column(UTCDateTime, nullable=True)
    #: Shown to the creator.
    decline_reason: Mapped[str] = column(String(500), default="", server_default="")
    carrier: Mapped[str] = column(String(80), default="", server_default="")
    tracking_number: Mapped[str] = column(String(100), default="", server_default="")
    shipped_at: Mapped[datetime | None] = column(UTCDateTime, nullable=True)
    delivered_at: Mapped[datetime | None] = column(UTCDateTime, nullable=True)
    #: Content featuring the product is owed by then (delivery + 14 days, + 7 if extended).
    content_due_at: Mapped[datetime | None] = column(UTCDateTime, nullable=True)
    #: The creator used their one extension.
    extended: Mapped[bool] = column(default=False, server_default=false())
    #: When the creator was told the deadline is near (sent once).
    reminded_at: Mapped[datetime | None] = column(UTCDateTime, nullable=True)
    fulfilled_at: Mapped[datetime | None] = column(UTCDateTime, nullable=True)
    #: The published piece that fulfilled the request.
    content_id: Mapped[int | None] = column(
        ForeignKey("content.id", ondelete="SET NULL"), nullable=True
    )
    #: When the deadline passed without content; counts against the creator's limit for a year.
    overdue_at: Mapped[datetime | None] = column(UTCDateTime, nullable=True)
    cancelled_at: Mapped[datetime | None] = column(UTCDateTime, nullable=True)

    product: Mapped[Product] = relationship()

    @property
    def has_address(self) -> bool:
        return self.address_erased_at is None and self.recipient_name is not None
