"""Creator content: videos, posts, reviews and lives that feature products."""

from __future__ import annotations

import enum

from sqlalchemy import JSON, BigInteger, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, relationship

from connect.core.models import CreatedMixin, IdMixin, TimestampsMixin, column
from connect.core.types import enum_type
from connect.extensions import db


class ContentKind(enum.StrEnum):
    VIDEO = "video"
    POST = "post"
    REVIEW = "review"
    LIVE = "live"


class ContentStatus(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"  # waiting for the brand (invite-only campaigns)
    PUBLISHED = "published"
    FLAGGED = "flagged"  # held by the compliance check for an admin
    REJECTED = "rejected"  # its links stop earning


class Content(IdMixin, TimestampsMixin, db.Model):
    __tablename__ = "content"

    creator_id: Mapped[int] = column(ForeignKey("creators.id", ondelete="CASCADE"), index=True)
    campaign_id: Mapped[int | None] = column(ForeignKey("campaigns.id"), nullable=True, index=True)
    kind: Mapped[ContentKind] = column(enum_type(ContentKind))
    title: Mapped[str] = column(String(200))
    body: Mapped[str] = column(Text, default="")
    #: ISO 639-1.
    language: Mapped[str] = column(String(8))
    #: ISO 3166 codes of the buyers it speaks to.
    countries: Mapped[list[str]] = column(JSON, default=list)
    external_url: Mapped[str] = column(String(2048), default="")
    #: Object key of the uploaded media in S3 (or the local store), if any.
    media_key: Mapped[str] = column(String(512), default="")
    media_type: Mapped[str] = column(String(100), default="")
    media_bytes: Mapped[int] = column(BigInteger, default=0)
    status: Mapped[ContentStatus] = column(enum_type(ContentStatus), default=ContentStatus.DRAFT)
    moderation_note: Mapped[str] = column(String(500), default="")

    products: Mapped[list[ContentProduct]] = relationship(
        back_populates="content", cascade="all, delete-orphan"
    )


class ContentProduct(IdMixin, CreatedMixin, db.Model):
    __tablename__ = "content_products"
    __table_args__ = (UniqueConstraint("content_id", "product_id"),)

    content_id: Mapped[int] = column(ForeignKey("content.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = column(ForeignKey("products.id"), index=True)

    content: Mapped[Content] = relationship(back_populates="products")
