"""Creator content: videos, posts, reviews and lives that feature products; and the moderation
flags the compliance check raises on content and products."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, relationship

from connect.core.models import CreatedMixin, IdMixin, TimestampsMixin, column
from connect.core.types import UTCDateTime, enum_type
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
    __table_args__ = (
        # The public page: a creator's published pieces, newest first.
        Index("ix_content_public", "creator_id", "status", "published_at"),
    )

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
    #: The type the upload's bytes were detected as (never the client's claim).
    media_type: Mapped[str] = column(String(100), default="")
    media_bytes: Mapped[int] = column(BigInteger, default=0)
    status: Mapped[ContentStatus] = column(enum_type(ContentStatus), default=ContentStatus.DRAFT)
    #: Why it is flagged or rejected, shown to the creator.
    moderation_note: Mapped[str] = column(String(500), default="")
    #: When it last went live; orders the public page.
    published_at: Mapped[datetime | None] = column(UTCDateTime, nullable=True)
    #: When the campaign's brand approved it (invite-only campaigns); reset by an edit.
    brand_approved_at: Mapped[datetime | None] = column(UTCDateTime, nullable=True)

    products: Mapped[list[ContentProduct]] = relationship(
        back_populates="content", cascade="all, delete-orphan", order_by="ContentProduct.id"
    )


class ContentProduct(IdMixin, CreatedMixin, db.Model):
    __tablename__ = "content_products"
    __table_args__ = (UniqueConstraint("content_id", "product_id"),)

    content_id: Mapped[int] = column(ForeignKey("content.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = column(ForeignKey("products.id"), index=True)

    content: Mapped[Content] = relationship(back_populates="products")


class FlagTarget(enum.StrEnum):
    CONTENT = "content"
    PRODUCT = "product"


class FlagStatus(enum.StrEnum):
    OPEN = "open"  # in the admin moderation queue
    CLEARED = "cleared"  # a false positive: the target goes on
    UPHELD = "upheld"  # prohibited: content rejected, product archived, their links disabled


class ModerationFlag(IdMixin, CreatedMixin, db.Model):
    """A compliance finding on a content piece or a product, waiting for (or decided by) an admin.

    At most one open flag per target. A cleared flag remembers the findings' fingerprint, so the
    same findings on the same target are not raised again after an admin cleared them."""

    __tablename__ = "moderation_flags"
    __table_args__ = (
        Index("ix_moderation_flags_target", "target_type", "target_id"),
        Index(
            "uq_moderation_flags_open_target",
            "target_type",
            "target_id",
            unique=True,
            postgresql_where=text("status = 'open'"),
            sqlite_where=text("status = 'open'"),
        ),
    )

    target_type: Mapped[FlagTarget] = column(enum_type(FlagTarget))
    #: Id of the content piece or product (no foreign key: the target is one of two tables).
    target_id: Mapped[int] = column(BigInteger)
    #: Human summary, e.g. "counterfeit (es: réplica)".
    reason: Mapped[str] = column(String(500))
    #: The findings: [{"rule", "language", "keyword", "field"}].
    matches: Mapped[list[dict[str, str]]] = column(JSON, default=list)
    #: SHA-256 of the sorted findings: the same findings are one flag, not many.
    fingerprint: Mapped[str] = column(String(64))
    status: Mapped[FlagStatus] = column(enum_type(FlagStatus), default=FlagStatus.OPEN, index=True)
    decided_at: Mapped[datetime | None] = column(UTCDateTime, nullable=True)
    decided_by_id: Mapped[int | None] = column(ForeignKey("users.id"), nullable=True)
    decision_note: Mapped[str] = column(String(500), default="")
    #: Links the flag switched off, switched back on if the flag is cleared.
    disabled_link_ids: Mapped[list[int]] = column(JSON, default=list)
