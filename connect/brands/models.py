"""Brands (the marketplace's sellers), their staff, verified domains and catalogue."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, relationship

from connect.core.models import CreatedMixin, IdMixin, TimestampsMixin, column
from connect.core.types import UTCDateTime, enum_type
from connect.extensions import db

if TYPE_CHECKING:
    from connect.accounts.models import User


class BrandStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    SUSPENDED = "suspended"


class BrandRole(enum.StrEnum):
    OWNER = "owner"
    MANAGER = "manager"
    VIEWER = "viewer"


class Brand(IdMixin, TimestampsMixin, db.Model):
    __tablename__ = "brands"
    __table_args__ = (
        CheckConstraint("default_rate_bps BETWEEN 0 AND 10000", name="default_rate_range"),
        CheckConstraint("return_window_days BETWEEN 0 AND 365", name="return_window_range"),
        CheckConstraint("length(currency) = 3", name="currency_iso"),
    )

    name: Mapped[str] = column(String(120))
    slug: Mapped[str] = column(String(60), unique=True)
    status: Mapped[BrandStatus] = column(enum_type(BrandStatus), default=BrandStatus.PENDING)
    #: Commission when neither the campaign nor its product rates apply, in basis points.
    default_rate_bps: Mapped[int] = column(default=500)
    #: Query parameter that carries the click id to the brand's site.
    click_param: Mapped[str] = column(String(40), default="cx_click")
    #: Days after an order before its commission is approved (returns window).
    return_window_days: Mapped[int] = column(default=30)
    #: Currency of budgets and reports (ISO 4217).
    currency: Mapped[str] = column(String(3), default="USD")
    website: Mapped[str] = column(String(255), default="")

    members: Mapped[list[BrandMember]] = relationship(back_populates="brand")
    domains: Mapped[list[BrandDomain]] = relationship(
        back_populates="brand", cascade="all, delete-orphan", order_by="BrandDomain.domain"
    )


class BrandMember(IdMixin, CreatedMixin, db.Model):
    __tablename__ = "brand_members"
    __table_args__ = (UniqueConstraint("brand_id", "user_id"),)

    brand_id: Mapped[int] = column(ForeignKey("brands.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[BrandRole] = column(enum_type(BrandRole), default=BrandRole.VIEWER)

    brand: Mapped[Brand] = relationship(back_populates="members")
    user: Mapped[User] = relationship(back_populates="memberships")


def new_verification_token() -> str:
    """128 random bits, hex: the value a brand publishes in a DNS TXT record."""
    return secrets.token_hex(16)


class BrandDomain(IdMixin, CreatedMixin, db.Model):
    """A host the brand's links may redirect to. Only verified domains are redirect targets.

    A brand adds a domain (pending), publishes `connect-verification=<token>` as a DNS TXT record
    on it, and an admin verifies it. One domain belongs to at most one brand.
    """

    __tablename__ = "brand_domains"
    __table_args__ = (UniqueConstraint("domain"),)

    brand_id: Mapped[int] = column(ForeignKey("brands.id", ondelete="CASCADE"), index=True)
    #: Lower-case ASCII (IDNA) host name, no port, e.g. `shop.example.com`.
    domain: Mapped[str] = column(String(253))
    verified_at: Mapped[datetime | None] = column(UTCDateTime, nullable=True)
    #: Proof of control: published as `connect-verification=<token>` in a TXT record.
    #: Empty for domains verified before tokens existed.
    verification_token: Mapped[str] = column(
        String(64), default=new_verification_token, server_default=""
    )

    brand: Mapped[Brand] = relationship(back_populates="domains")

    @property
    def txt_record(self) -> str:
        return f"connect-verification={self.verification_token}"


class ProductStatus(enum.StrEnum):
    ACTIVE = "active"
    ARCHIVED = "archived"


class Product(IdMixin, TimestampsMixin, db.Model):
    __tablename__ = "products"
    __table_args__ = (
        UniqueConstraint("brand_id", "sku"),
        CheckConstraint("price_minor >= 0", name="price_non_negative"),
        CheckConstraint("length(currency) = 3", name="currency_iso"),
        # The catalogue page lists a brand's products by title.
        Index("ix_products_brand_title", "brand_id", "title"),
    )

    brand_id: Mapped[int] = column(ForeignKey("brands.id", ondelete="CASCADE"), index=True)
    sku: Mapped[str] = column(String(64))
    title: Mapped[str] = column(String(255))
    #: Product page on one of the brand's verified domains.
    url: Mapped[str] = column(String(2048))
    price_minor: Mapped[int] = column(BigInteger)
    currency: Mapped[str] = column(String(3))
    category: Mapped[str] = column(String(80), default="", index=True)
    image_url: Mapped[str] = column(String(2048), default="")
    #: ISO 3166 codes where the product sells; empty means everywhere.
    countries: Mapped[list[str]] = column(JSON, default=list)
    status: Mapped[ProductStatus] = column(enum_type(ProductStatus), default=ProductStatus.ACTIVE)

    brand: Mapped[Brand] = relationship()


class BrandApiKey(IdMixin, TimestampsMixin, db.Model):
    """A server-to-server key for the conversions API. Shown once; stored as SHA-256.

    The stored digest is also the HMAC key of request signatures: the raw key never rests here,
    and a request needs both the key (bearer) and a signature over its timestamp and body.
    """

    __tablename__ = "brand_api_keys"

    brand_id: Mapped[int] = column(ForeignKey("brands.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = column(String(80))
    #: The first characters, so staff can tell keys apart.
    prefix: Mapped[str] = column(String(16))
    key_sha256: Mapped[str] = column(String(64), unique=True)
    created_by_id: Mapped[int] = column(ForeignKey("users.id"))
    last_used_at: Mapped[datetime | None] = column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = column(UTCDateTime, nullable=True)


class ProductImportStatus(enum.StrEnum):
    QUEUED = "queued"  # stored, waiting for a worker
    RUNNING = "running"  # a worker is on it (or died on it: the next run resumes)
    DONE = "done"  # every row added, updated or listed in the error report
    FAILED = "failed"  # the file as a whole could not be read; nothing more was written


class ProductImport(IdMixin, CreatedMixin, db.Model):
    """One catalogue CSV upload and what became of its rows.

    An upload is stored and handed to an RQ job (`processed_rows` is its progress and its
    checkpoint: the rows of every committed chunk); the error report (one line per problem) is
    kept in storage so it can be downloaded later.
    """

    __tablename__ = "product_imports"
    __table_args__ = (
        CheckConstraint(
            "total_rows >= 0 AND created_rows >= 0 AND updated_rows >= 0"
            " AND unchanged_rows >= 0 AND failed_rows >= 0 AND duration_ms >= 0",
            name="counts_non_negative",
        ),
        Index("ix_product_imports_brand_created", "brand_id", "created_at"),
    )

    brand_id: Mapped[int] = column(ForeignKey("brands.id", ondelete="CASCADE"))
    created_by_id: Mapped[int] = column(ForeignKey("users.id"))
    #: The name the file had on the uploader's computer (display only).
    filename: Mapped[str] = column(String(200), default="")
    #: Data rows in the file (header and blank lines not counted).
    total_rows: Mapped[int] = column(default=0)
    created_rows: Mapped[int] = column(default=0)
    updated_rows: Mapped[int] = column(default=0)
    #: Rows identical to the product already stored: nothing written.
    unchanged_rows: Mapped[int] = column(default=0)
    failed_rows: Mapped[int] = column(default=0)
    #: Storage key of the error report CSV; "" when every row was good.
    error_report_key: Mapped[str] = column(String(200), default="")
    duration_ms: Mapped[int] = column(default=0)
    #: An import run in-process (`import_products`) is done when its row is written.
    status: Mapped[ProductImportStatus] = column(
        enum_type(ProductImportStatus), default=ProductImportStatus.DONE
    )
    #: Storage key and digest of the uploaded CSV, exactly as received ("" when run in-process).
    source_key: Mapped[str] = column(String(200), default="")
    source_sha256: Mapped[str] = column(String(64), default="")
    #: Rows handled by committed chunks: the progress bar, and where a re-run resumes.
    processed_rows: Mapped[int] = column(default=0)
    #: Why a failed import failed, safe to show to the uploader.
    error: Mapped[str] = column(Text, default="")
    started_at: Mapped[datetime | None] = column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = column(UTCDateTime, nullable=True)

    @property
    def ok_rows(self) -> int:
        return self.created_rows + self.updated_rows + self.unchanged_rows
