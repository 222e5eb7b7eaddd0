"""Campaigns: a brand's offer to creators, with rates, budget, dates, countries and members."""

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
    false,
)
from sqlalchemy.orm import Mapped, relationship

from connect.brands.models import Brand
from connect.core.models import CreatedMixin, IdMixin, TimestampsMixin, column
from connect.core.types import UTCDateTime, enum_type
from connect.extensions import db


class Visibility(enum.StrEnum):
    OPEN = "open"
    INVITE = "invite"


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"
    ENDED = "ended"


class Campaign(IdMixin, TimestampsMixin, db.Model):
    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint("default_rate_bps BETWEEN 0 AND 10000", name="rate_range"),
        CheckConstraint("budget_minor IS NULL OR budget_minor > 0", name="budget_positive"),
        CheckConstraint(
            "budget_minor IS NULL OR spent_minor <= budget_minor", name="within_budget"
        ),
        CheckConstraint("attribution_window_days BETWEEN 1 AND 365", name="window_range"),
        CheckConstraint("ends_on IS NULL OR ends_on >= starts_on", name="dates_ordered"),
        CheckConstraint("length(currency) = 3", name="currency_iso"),
    )

    brand_id: Mapped[int] = column(ForeignKey("brands.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = column(String(120))
    #: Markdown, rendered with escaping.
    brief: Mapped[str] = column(Text, default="")
    starts_on: Mapped[date] = column(Date)
    ends_on: Mapped[date | None] = column(Date, nullable=True)
    #: ISO 3166 codes; empty means every country.
    countries: Mapped[list[str]] = column(JSON, default=list)
    min_tier_id: Mapped[int | None] = column(ForeignKey("tiers.id"), nullable=True)
    visibility: Mapped[Visibility] = column(enum_type(Visibility), default=Visibility.OPEN)
    #: Open campaigns only: creators apply and the brand approves, instead of joining at once.
    approval_required: Mapped[bool] = column(default=False, server_default=false())
    status: Mapped[CampaignStatus] = column(enum_type(CampaignStatus), default=CampaignStatus.DRAFT)
    default_rate_bps: Mapped[int] = column()
    tier_bonus: Mapped[bool] = column(default=True)
    #: Cap on total commissions, in minor units of `currency`; NULL means uncapped.
    budget_minor: Mapped[int | None] = column(BigInteger, nullable=True)
    currency: Mapped[str] = column(String(3))
    attribution_window_days: Mapped[int] = column(default=30)
    #: Commissions accrued against the budget, in minor units of `currency`. A cache of
    #: SUM(commissions.budget_minor), kept under a row lock by the attribution job.
    spent_minor: Mapped[int] = column(BigInteger, default=0)
    #: When the campaign was ended by hand (status `ended`); NULL otherwise.
    ended_at: Mapped[datetime | None] = column(UTCDateTime, nullable=True)

    brand: Mapped[Brand] = relationship()
    rates: Mapped[list[CampaignRate]] = relationship(
        back_populates="campaign", cascade="all, delete-orphan"
    )


class CampaignRate(IdMixin, db.Model):
    """A rate for one product, or for one category, inside a campaign."""

    __tablename__ = "campaign_rates"
    __table_args__ = (
        UniqueConstraint("campaign_id", "product_id"),
        UniqueConstraint("campaign_id", "category"),
        CheckConstraint("rate_bps BETWEEN 0 AND 10000", name="rate_range"),
        CheckConstraint("(product_id IS NULL) <> (category IS NULL)", name="product_xor_category"),
    )

    campaign_id: Mapped[int] = column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int | None] = column(ForeignKey("products.id"), nullable=True)
    category: Mapped[str | None] = column(String(80), nullable=True)
    rate_bps: Mapped[int] = column()

    campaign: Mapped[Campaign] = relationship(back_populates="rates")


class MemberStatus(enum.StrEnum):
    INVITED = "invited"
    APPLIED = "applied"
    APPROVED = "approved"
    REJECTED = "rejected"
    REMOVED = "removed"


class CampaignMember(IdMixin, TimestampsMixin, db.Model):
    __tablename__ = "campaign_members"
    __table_args__ = (UniqueConstraint("campaign_id", "creator_id"),)

    campaign_id: Mapped[int] = column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    creator_id: Mapped[int] = column(ForeignKey("creators.id", ondelete="CASCADE"), index=True)
    status: Mapped[MemberStatus] = column(enum_type(MemberStatus))
    decided_at: Mapped[datetime | None] = column(UTCDateTime, nullable=True)
    #: What the creator wrote when applying (plain text, shown escaped to the brand).
    note: Mapped[str] = column(String(500), default="", server_default="")


class CampaignProduct(IdMixin, CreatedMixin, db.Model):
    """A product the campaign covers: only these earn the campaign's rates."""

    __tablename__ = "campaign_products"
    __table_args__ = (UniqueConstraint("campaign_id", "product_id"),)

    campaign_id: Mapped[int] = column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
