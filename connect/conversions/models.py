"""Orders reported by brands, their lines and refunds, and the commissions they earn."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, relationship

from connect.core.models import CreatedMixin, IdMixin, TimestampsMixin, column
from connect.core.time import utcnow
from connect.core.types import ExactDecimal, UTCDateTime, enum_type
from connect.extensions import db


class OrderStatus(enum.StrEnum):
    RECEIVED = "received"  # waiting for the attribution job
    ATTRIBUTED = "attributed"
    UNATTRIBUTED = "unattributed"  # no qualifying click: no commission, kept for reporting


class AttributionSource(enum.StrEnum):
    """What attributed an order; the precedence is in `connect.conversions.attribution`."""

    CLICK = "click"  # the order's own click id
    PROMO_CODE = "promo_code"  # a promo code of the brand, no click needed
    VISITOR = "visitor"  # the visitor's last human click inside the window


class Order(IdMixin, TimestampsMixin, db.Model):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("brand_id", "external_id"),
        CheckConstraint("length(currency) = 3", name="currency_iso"),
        Index("ix_orders_status_time", "status", "ordered_at"),
        # Per-code usage and the attribution lookup.
        Index("ix_orders_brand_promo_code", "brand_id", "promo_code"),
        # The attribution batch reads received orders in id order: a small index of the backlog
        # instead of walking every processed order in the primary key.
        Index(
            "ix_orders_received",
            "id",
            postgresql_where=text("status = 'received'"),
            sqlite_where=text("status = 'received'"),
        ),
    )

    # No index of its own: (brand_id, external_id) serves every lookup by brand, and each index
    # costs the attribution batch an entry per order it updates.
    brand_id: Mapped[int] = column(ForeignKey("brands.id"))
    #: The brand's own order id; (brand, external_id) is the idempotency key of intake.
    external_id: Mapped[str] = column(String(100))
    #: SHA-256 of the canonical request body: the same id with another body is a conflict.
    body_sha256: Mapped[str] = column(String(64))
    ordered_at: Mapped[datetime] = column(UTCDateTime)
    currency: Mapped[str] = column(String(3))
    customer_country: Mapped[str] = column(String(2), default="ZZ")
    #: Keyed hash of the buyer's e-mail, for self-referral checks.
    customer_email_hash: Mapped[str] = column(String(64), default="")
    click_id: Mapped[str] = column(String(32), default="")
    visitor_id: Mapped[str] = column(String(32), default="")
    #: As reported, normalised (upper case, no spaces or hyphens); "" when none.
    promo_code: Mapped[str] = column(String(40), default="")
    status: Mapped[OrderStatus] = column(enum_type(OrderStatus), default=OrderStatus.RECEIVED)
    #: The attribution job skips the order until then (its click may still be in the buffer).
    attribute_after: Mapped[datetime] = column(UTCDateTime, default=utcnow)
    #: The click that won attribution, and whose it is.
    attributed_click_id: Mapped[str | None] = column(String(32), nullable=True, index=True)
    link_id: Mapped[int | None] = column(ForeignKey("links.id"), nullable=True)
    creator_id: Mapped[int | None] = column(ForeignKey("creators.id"), nullable=True, index=True)
    campaign_id: Mapped[int | None] = column(ForeignKey("campaigns.id"), nullable=True, index=True)
    #: Which rule attributed the order (NULL while not attributed).
    attributed_by: Mapped[AttributionSource | None] = column(
        enum_type(AttributionSource), nullable=True
    )
    #: Why an order earns nothing when the reason is not simply "no click" (a disabled code).
    attribution_note: Mapped[str] = column(String(200), default="", server_default="")

    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderLine.line_no"
    )


class OrderLine(IdMixin, db.Model):
    __tablename__ = "order_lines"
    __table_args__ = (
        UniqueConstraint("order_id", "line_no"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price_minor >= 0", name="price_non_negative"),
        CheckConstraint(
            "refunded_quantity >= 0 AND refunded_quantity <= quantity", name="refund_bounds"
        ),
    )

    order_id: Mapped[int] = column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    line_no: Mapped[int] = column()
    sku: Mapped[str] = column(String(64))
    product_id: Mapped[int | None] = column(ForeignKey("products.id"), nullable=True)
    category: Mapped[str] = column(String(80), default="")
    quantity: Mapped[int] = column()
    #: In the order's currency.
    unit_price_minor: Mapped[int] = column(BigInteger)
    refunded_quantity: Mapped[int] = column(default=0)

    order: Mapped[Order] = relationship(back_populates="lines")


class Refund(IdMixin, CreatedMixin, db.Model):
    """One refund or cancellation request; idempotent on (brand, idempotency_key)."""

    __tablename__ = "refunds"
    __table_args__ = (UniqueConstraint("brand_id", "idempotency_key"),)

    brand_id: Mapped[int] = column(ForeignKey("brands.id"), index=True)
    order_id: Mapped[int] = column(ForeignKey("orders.id"), index=True)
    idempotency_key: Mapped[str] = column(String(100))
    #: SHA-256 of the canonical request: the same key with another body is a conflict.
    body_sha256: Mapped[str] = column(String(64))
    refunded_at: Mapped[datetime] = column(UTCDateTime)

    lines: Mapped[list[RefundLine]] = relationship(cascade="all, delete-orphan")


class RefundLine(IdMixin, db.Model):
    __tablename__ = "refund_lines"
    __table_args__ = (
        UniqueConstraint("refund_id", "order_line_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    refund_id: Mapped[int] = column(ForeignKey("refunds.id", ondelete="CASCADE"), index=True)
    order_line_id: Mapped[int] = column(ForeignKey("order_lines.id"), index=True)
    quantity: Mapped[int] = column()


class CommissionStatus(enum.StrEnum):
    PENDING = "pending"  # inside the return window
    HELD = "held"  # fraud or self-referral review
    APPROVED = "approved"  # payable
    PAID = "paid"
    REVERSED = "reversed"
    REJECTED = "rejected"  # a hold that review turned down


class Commission(IdMixin, TimestampsMixin, db.Model):
    """What one order line earns one creator. Amounts are derived; the ledger is the record."""

    __tablename__ = "commissions"
    __table_args__ = (
        UniqueConstraint("order_line_id"),
        CheckConstraint("rate_bps >= 0", name="rate_non_negative"),
        CheckConstraint(
            "amount_minor >= 0 AND capped_minor >= 0 AND budget_minor >= 0",
            name="amounts_non_negative",
        ),
        CheckConstraint("reversed_minor BETWEEN 0 AND amount_minor", name="reversal_bounds"),
        CheckConstraint("length(currency) = 3 AND length(base_currency) = 3", name="currency_iso"),
        # Only paid-out commissions are looked up by payout: new commissions (payout_id NULL)
        # add no entry, which the attribution batch would otherwise write for every line.
        Index(
            "ix_commissions_payout_id",
            "payout_id",
            postgresql_where=text("payout_id IS NOT NULL"),
            sqlite_where=text("payout_id IS NOT NULL"),
        ),
    )

    order_line_id: Mapped[int] = column(ForeignKey("order_lines.id"))
    order_id: Mapped[int] = column(ForeignKey("orders.id"), index=True)
    creator_id: Mapped[int] = column(ForeignKey("creators.id"), index=True)
    brand_id: Mapped[int] = column(ForeignKey("brands.id"), index=True)
    campaign_id: Mapped[int | None] = column(ForeignKey("campaigns.id"), nullable=True, index=True)
    #: Campaign or brand rate plus tier bonus, in basis points.
    rate_bps: Mapped[int] = column()
    #: The tier bonus part of `rate_bps`.
    bonus_bps: Mapped[int] = column(default=0)
    #: Line value the rate applies to, in the order's currency.
    base_minor: Mapped[int] = column(BigInteger)
    base_currency: Mapped[str] = column(String(3))
    #: Units of `currency` per unit of `base_currency` on the order date, exactly the rate the
    #: amount was computed with (cross rates are cut to FX_RATE_PLACES decimals first).
    fx_rate: Mapped[Decimal] = column(ExactDecimal(38, 20))
    #: Earned, in the creator's payout currency.
    amount_minor: Mapped[int] = column(BigInteger)
    currency: Mapped[str] = column(String(3))
    #: The part the campaign budget could not cover (payout currency): recorded, never paid.
    capped_minor: Mapped[int] = column(BigInteger, default=0)
    #: What this commission took from the campaign budget, in the campaign's currency.
    budget_minor: Mapped[int] = column(BigInteger, default=0)
    #: Reversed by refunds so far (payout currency); the ledger holds the matching journals.
    reversed_minor: Mapped[int] = column(BigInteger, default=0)
    status: Mapped[CommissionStatus] = column(enum_type(CommissionStatus))
    hold_reason: Mapped[str] = column(String(200), default="")
    approve_after: Mapped[datetime] = column(UTCDateTime, index=True)
    payout_id: Mapped[int | None] = column(ForeignKey("payouts.id"), nullable=True)
