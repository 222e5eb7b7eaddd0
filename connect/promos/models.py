"""Promo codes a brand issues to a creator for a campaign, and the per-campaign code settings."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped

from connect.core.models import IdMixin, TimestampsMixin, column
from connect.core.types import UTCDateTime, enum_type
from connect.extensions import db


class CodeOrigin(enum.StrEnum):
    GENERATED = "generated"  # random, from the code alphabet
    BRAND = "brand"  # typed by the brand's staff
    CREATOR = "creator"  # chosen by the creator, within the campaign's settings


class PromoCode(IdMixin, TimestampsMixin, db.Model):
    """A buyer types the code at the brand's checkout; the order reports it and the sale is the
    creator's even without a click (see `connect.conversions.attribution` for the precedence)."""

    __tablename__ = "promo_codes"
    __table_args__ = (
        # Case-insensitive per brand: codes are stored upper case (`codes.normalize`).
        UniqueConstraint("brand_id", "code"),
        # One active code per creator per campaign; disabled ones stay for the usage history.
        Index(
            "uq_promo_codes_active_member",
            "campaign_id",
            "creator_id",
            unique=True,
            postgresql_where=text("disabled_at IS NULL"),
            sqlite_where=text("disabled_at IS NULL"),
        ),
        CheckConstraint("discount_bps BETWEEN 1 AND 10000", name="discount_range"),
        CheckConstraint("valid_until IS NULL OR valid_until >= valid_from", name="dates_ordered"),
        CheckConstraint("length(code) BETWEEN 4 AND 20", name="code_length"),
    )

    brand_id: Mapped[int] = column(ForeignKey("brands.id", ondelete="CASCADE"), index=True)
    campaign_id: Mapped[int] = column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    creator_id: Mapped[int] = column(ForeignKey("creators.id", ondelete="CASCADE"), index=True)
    #: Upper case, from the look-alike-free alphabet (`connect.promos.codes`). Never changes.
    code: Mapped[str] = column(String(20))
    origin: Mapped[CodeOrigin] = column(enum_type(CodeOrigin))
    #: The buyer's discount, in basis points of the order value (1000 = 10 % off). The brand's
    #: checkout applies it; Connect shows it to the creator and the brand.
    discount_bps: Mapped[int] = column()
    #: Order days (UTC), both inclusive; no end date means until disabled.
    valid_from: Mapped[date] = column(Date)
    valid_until: Mapped[date | None] = column(Date, nullable=True)
    created_by_id: Mapped[int] = column(ForeignKey("users.id"))
    #: A disabled code earns nothing, even on orders that also carry a click (leaked codes).
    disabled_at: Mapped[datetime | None] = column(UTCDateTime, nullable=True)
    disabled_by_id: Mapped[int | None] = column(ForeignKey("users.id"), nullable=True)
    disabled_reason: Mapped[str] = column(String(200), default="")


class PromoSettings(IdMixin, TimestampsMixin, db.Model):
    """A campaign's promo-code settings; a campaign without a row uses the defaults below."""

    __tablename__ = "promo_settings"
    __table_args__ = (
        UniqueConstraint("campaign_id"),
        CheckConstraint("discount_bps BETWEEN 1 AND 10000", name="discount_range"),
    )

    campaign_id: Mapped[int] = column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    #: Members may choose their own code (or take a generated one) without asking the brand.
    creator_codes: Mapped[bool] = column(default=False)
    #: The discount a creator-chosen code grants.
    discount_bps: Mapped[int] = column(default=1000)
