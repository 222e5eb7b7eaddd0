"""Users and their role."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

from flask_login import UserMixin
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, relationship

from connect.core.models import IdMixin, TimestampsMixin, column
from connect.core.types import UTCDateTime, enum_type
from connect.extensions import db

if TYPE_CHECKING:
    from connect.brands.models import BrandMember


class Role(enum.StrEnum):
    CREATOR = "creator"
    BRAND = "brand"  # brand staff; which brands, and with what power, is in brand_members
    FINANCE = "finance"
    ADMIN = "admin"


class User(UserMixin, IdMixin, TimestampsMixin, db.Model):
    __tablename__ = "users"

    #: Lower-cased at the service boundary; unique.
    email: Mapped[str] = column(String(254), unique=True)
    #: argon2id hash (argon2-cffi's encoded form).
    password_hash: Mapped[str] = column(String(255))
    name: Mapped[str] = column(String(120))
    role: Mapped[Role] = column(enum_type(Role))
    #: UI language (BCP 47, e.g. `pt_BR`); empty means follow the browser.
    locale: Mapped[str] = column(String(10), default="")
    is_active_flag: Mapped[bool] = column("is_active", default=True)
    last_login_at: Mapped[datetime | None] = column(UTCDateTime, nullable=True)

    memberships: Mapped[list[BrandMember]] = relationship(back_populates="user")

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.is_active_flag

    def __repr__(self) -> str:
        return f"<User {self.id} {self.role}>"


class ApiToken(IdMixin, TimestampsMixin, db.Model):
    """A personal API token (creators use them for /api/v1/links). Shown once, stored hashed."""

    __tablename__ = "api_tokens"

    user_id: Mapped[int] = column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = column(String(80))
    #: The first characters, shown in the portal so a person can tell tokens apart.
    prefix: Mapped[str] = column(String(12))
    #: SHA-256 of the whole token (the token is 256 random bits, so no slow hash is needed).
    token_sha256: Mapped[str] = column(String(64), unique=True)
    last_used_at: Mapped[datetime | None] = column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = column(UTCDateTime, nullable=True)
