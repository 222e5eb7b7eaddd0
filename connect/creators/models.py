"""Creators: profile (country, languages, payout currency, audience) and social accounts."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, relationship

from connect.core.models import CreatedMixin, IdMixin, TimestampsMixin, column
from connect.core.types import UTCDateTime, enum_type
from connect.extensions import db

if TYPE_CHECKING:
    from connect.accounts.models import User
    from connect.tiers.models import Tier


class CreatorStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    SUSPENDED = "suspended"


class Creator(IdMixin, TimestampsMixin, db.Model):
    __tablename__ = "creators"
    __table_args__ = (
        CheckConstraint("length(country) = 2", name="country_iso"),
        CheckConstraint("length(payout_currency) = 3", name="payout_currency_iso"),
    )

    user_id: Mapped[int] = column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    display_name: Mapped[str] = column(String(80))
    #: Public page address, e.g. /c/<handle>.
    handle: Mapped[str] = column(String(40), unique=True)
    #: ISO 3166-1 alpha-2.
    country: Mapped[str] = column(String(2))
    #: ISO 639-1 codes, e.g. ["es", "en"].
    languages: Mapped[list[str]] = column(JSON, default=list)
    #: ISO 4217; commissions are converted into it.
    payout_currency: Mapped[str] = column(String(3))
    status: Mapped[CreatorStatus] = column(enum_type(CreatorStatus), default=CreatorStatus.PENDING)
    tier_id: Mapped[int | None] = column(ForeignKey("tiers.id"), nullable=True)
    #: Since when the creator's figures are below their tier (demotion waits for a grace).
    tier_below_since: Mapped[datetime | None] = column(UTCDateTime, nullable=True)
    #: Sum of follower counts over social accounts, kept for search and tier floors.
    audience_size: Mapped[int] = column(BigInteger, default=0)
    bio: Mapped[str] = column(String(1000), default="")
    #: Opt-in for the public leaderboard.
    public_leaderboard: Mapped[bool] = column(default=False)
    approved_at: Mapped[datetime | None] = column(UTCDateTime, nullable=True)

    user: Mapped[User] = relationship()
    social_accounts: Mapped[list[SocialAccount]] = relationship(
        back_populates="creator", cascade="all, delete-orphan", order_by="SocialAccount.id"
    )
    tier: Mapped[Tier | None] = relationship()


class SocialPlatform(enum.StrEnum):
    INSTAGRAM = "instagram"
    TIKTOK = "tiktok"
    YOUTUBE = "youtube"
    VK = "vk"
    TELEGRAM = "telegram"
    FACEBOOK = "facebook"
    X = "x"
    TWITCH = "twitch"


class SocialAccount(IdMixin, CreatedMixin, db.Model):
    __tablename__ = "social_accounts"
    __table_args__ = (
        UniqueConstraint("creator_id", "platform", "handle"),
        CheckConstraint("followers >= 0", name="followers_non_negative"),
    )

    creator_id: Mapped[int] = column(ForeignKey("creators.id", ondelete="CASCADE"), index=True)
    platform: Mapped[SocialPlatform] = column(enum_type(SocialPlatform))
    handle: Mapped[str] = column(String(100))
    followers: Mapped[int] = column(BigInteger, default=0)

    creator: Mapped[Creator] = relationship(back_populates="social_accounts")


class CreatorVisitor(IdMixin, CreatedMixin, db.Model):
    """A visitor id (the redirect's cookie) seen on a creator's own signed-in browser: an order
    from it through the creator's link is a self-referral."""

    __tablename__ = "creator_visitors"
    __table_args__ = (UniqueConstraint("visitor_id", "creator_id"),)

    creator_id: Mapped[int] = column(ForeignKey("creators.id", ondelete="CASCADE"), index=True)
    visitor_id: Mapped[str] = column(String(32))
