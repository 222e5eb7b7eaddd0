"""KOL tiers: the ladder, its settings and each creator's history on it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped

from connect.core.models import CreatedMixin, IdMixin, TimestampsMixin, column
from connect.core.types import UTCDateTime
from connect.extensions import db


class Tier(IdMixin, CreatedMixin, db.Model):
    __tablename__ = "tiers"
    __table_args__ = (
        CheckConstraint("bonus_bps BETWEEN 0 AND 5000", name="bonus_range"),
        CheckConstraint("min_sales_minor >= 0 AND min_earnings_minor >= 0", name="thresholds"),
        CheckConstraint("length(reference_currency) = 3", name="currency_iso"),
    )

    name: Mapped[str] = column(String(40), unique=True)
    #: Position on the ladder; higher is better. Unique (retired tiers keep theirs) so the
    #: ladder is a total order and history stays readable.
    rank: Mapped[int] = column(unique=True)
    #: Trailing 90-day attributed sales needed, in minor units of `reference_currency`.
    min_sales_minor: Mapped[int] = column(BigInteger, default=0)
    #: Trailing 90-day approved earnings needed, in minor units of `reference_currency`.
    min_earnings_minor: Mapped[int] = column(BigInteger, default=0)
    #: Kept equal to `TierSettings.reference_currency` by the admin services.
    reference_currency: Mapped[str] = column(String(3), default="USD")
    min_audience: Mapped[int] = column(BigInteger, default=0)
    #: Added to the commission rate of every order line, in basis points.
    bonus_bps: Mapped[int] = column(default=0)
    #: How many product samples a creator of this tier may have open at once.
    sample_limit: Mapped[int] = column(default=5)
    #: Retired tiers leave the ladder: the next recompute moves their creators off them.
    retired_at: Mapped[datetime | None] = column(UTCDateTime, nullable=True)


class TierSettings(IdMixin, TimestampsMixin, db.Model):
    """The ladder-wide settings: one row (absent until an admin first saves them)."""

    __tablename__ = "tier_settings"
    __table_args__ = (
        CheckConstraint("demotion_grace_days BETWEEN 0 AND 365", name="grace_range"),
        CheckConstraint("length(reference_currency) = 3", name="currency_iso"),
    )

    #: The currency every threshold is expressed in (sales and earnings are converted to it).
    reference_currency: Mapped[str] = column(String(3), default="USD")
    #: How long a creator below their tier keeps it before being moved down.
    demotion_grace_days: Mapped[int] = column(default=30)


class TierHistory(IdMixin, CreatedMixin, db.Model):
    __tablename__ = "tier_history"

    creator_id: Mapped[int] = column(ForeignKey("creators.id", ondelete="CASCADE"), index=True)
    from_tier_id: Mapped[int | None] = column(ForeignKey("tiers.id"), nullable=True)
    to_tier_id: Mapped[int] = column(ForeignKey("tiers.id"))
    changed_at: Mapped[datetime] = column(UTCDateTime)
    reason: Mapped[str] = column(String(200), default="")
