"""Daily reference FX rates (ECB format: units of a currency per 1 EUR)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, String, UniqueConstraint
from sqlalchemy.orm import Mapped

from connect.core.models import CreatedMixin, IdMixin, column
from connect.core.types import ExactDecimal
from connect.extensions import db


class FxRate(IdMixin, CreatedMixin, db.Model):
    __tablename__ = "fx_rates"
    __table_args__ = (
        UniqueConstraint("day", "currency"),
        CheckConstraint("rate > 0", name="rate_positive"),
        CheckConstraint("length(currency) = 3", name="currency_iso"),
    )

    day: Mapped[date] = column(Date)
    currency: Mapped[str] = column(String(3))
    #: Units of `currency` per 1 EUR.
    rate: Mapped[Decimal] = column(ExactDecimal)
