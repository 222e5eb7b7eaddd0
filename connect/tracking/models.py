"""Tracked links and the clicks on them."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from connect.core.models import IdMixin, TimestampsMixin, column
from connect.core.types import BigIntPK, UTCDateTime, enum_type
from connect.extensions import db


class LinkStatus(enum.StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class Link(IdMixin, TimestampsMixin, db.Model):
    __tablename__ = "links"

    #: Random base62, at least 8 characters; the public part of /r/<code>.
    code: Mapped[str] = column(String(16), unique=True)
    creator_id: Mapped[int] = column(ForeignKey("creators.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = column(ForeignKey("products.id"), index=True)
    brand_id: Mapped[int] = column(ForeignKey("brands.id"), index=True)
    campaign_id: Mapped[int | None] = column(ForeignKey("campaigns.id"), nullable=True, index=True)
    content_id: Mapped[int | None] = column(ForeignKey("content.id"), nullable=True, index=True)
    #: Where the redirect goes; validated against the brand's verified domains when saved
    #: and again when served.
    destination_url: Mapped[str] = column(String(2048))
    status: Mapped[LinkStatus] = column(enum_type(LinkStatus), default=LinkStatus.ACTIVE)


class Click(db.Model):
    """One request to /r/<code>. Written in batches by the click drain, never on the redirect."""

    __tablename__ = "clicks"
    __table_args__ = (
        Index("ix_clicks_visitor_time", "visitor_id", "clicked_at"),
        Index("ix_clicks_link_time", "link_id", "clicked_at"),
    )

    # A surrogate key keeps the table's physical order; `click_id` is the public identity.
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    #: UUID (hex) given to the brand in the destination URL; idempotency key of the drain.
    click_id: Mapped[str] = column(String(32), unique=True)
    link_id: Mapped[int] = column(ForeignKey("links.id", ondelete="CASCADE"))
    clicked_at: Mapped[datetime] = column(UTCDateTime)
    #: First-party cookie value.
    visitor_id: Mapped[str] = column(String(32))
    #: HMAC-SHA256 of the IP under IP_HASH_KEY (hex); the raw IP is never stored.
    ip_hash: Mapped[str] = column(String(64))
    #: ISO 3166 alpha-2, or "ZZ" for unknown.
    country: Mapped[str] = column(String(2), default="ZZ")
    user_agent: Mapped[str] = column(String(512), default="")
    referrer_host: Mapped[str] = column(String(253), default="")
    is_bot: Mapped[bool] = column(default=False)
    #: Same visitor and link inside the dedup window: recorded, not a unique click.
    is_duplicate: Mapped[bool] = column(default=False)
