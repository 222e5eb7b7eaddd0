"""The public conversions API's request bodies, validated with pydantic.

The same models validate CSV rows, so the API and the portal upload share one code path. Their
JSON schemas feed the OpenAPI document.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    field_validator,
    model_validator,
)

from connect.core.geo import is_country
from connect.core.money import is_currency
from connect.core.time import utcnow
from connect.promos.codes import normalize as normalize_code

MAX_CLOCK_SKEW = timedelta(minutes=5)
MAX_ORDER_AGE = timedelta(days=400)
MAX_LINE_TOTAL = 10**11  # minor units: a billion of a 2-decimal currency per line
MAX_ORDER_TOTAL = 10**12
REF_PATTERN = r"^[A-Za-z0-9._:\-]{1,100}$"
HEX32 = r"^[0-9a-f]{32}$"
PROMO_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 _\-]{0,39}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class LineIn(_Strict):
    sku: str = Field(min_length=1, max_length=64, description="The brand's SKU.")
    quantity: StrictInt = Field(gt=0, le=10_000)
    unit_price: StrictInt = Field(
        ge=0, le=10**10, description="Price of one unit in minor units of the order currency."
    )
    category: str = Field(default="", max_length=80)

    @model_validator(mode="after")
    def _line_total(self) -> LineIn:
        if self.quantity * self.unit_price > MAX_LINE_TOTAL:
            raise ValueError("line total is implausibly large")
        return self


class OrderIn(_Strict):
    order_id: str = Field(pattern=REF_PATTERN, description="The brand's own order id.")
    ordered_at: AwareDatetime = Field(description="When the order was placed (ISO 8601, zoned).")
    currency: str = Field(min_length=3, max_length=3, description="ISO 4217 code.")
    customer_country: str = Field(default="ZZ", min_length=2, max_length=2)
    customer_email: str | None = Field(
        default=None, max_length=254, description="Used only as a keyed hash (self-referral)."
    )
    click_id: str | None = Field(default=None, pattern=HEX32)
    visitor_id: str | None = Field(default=None, pattern=HEX32)
    promo_code: str | None = Field(
        default=None,
        max_length=40,
        pattern=PROMO_PATTERN,
        description=(
            "The creator promo code the buyer used, if any. Compared case-insensitively, spaces "
            "and hyphens ignored. Precedence: a disabled code of this brand means no commission "
            "at all; otherwise a valid click_id (a click on this brand's links before the order) "
            "wins; else an enabled code of this brand, valid on the order day, attributes the "
            "order to its creator without any click; else the visitor's last click in the "
            "window."
        ),
    )
    lines: list[LineIn] = Field(min_length=1, max_length=500)

    @field_validator("ordered_at")
    @classmethod
    def _ordered_utc(cls, value: datetime) -> datetime:
        # The same instant written with another offset is the same order (fingerprint).
        return value.astimezone(UTC)

    @field_validator("promo_code")
    @classmethod
    def _promo_code(cls, value: str | None) -> str | None:
        # Stored and fingerprinted in its normal form: `summer-10` and `SUMMER10` are one code.
        if value is None:
            return None
        return normalize_code(value) or None

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if not is_currency(value):
            raise ValueError(f"unknown currency {value!r} (ISO 4217, upper case)")
        return value

    @field_validator("customer_country")
    @classmethod
    def _country(cls, value: str) -> str:
        if value != "ZZ" and not is_country(value):
            raise ValueError(f"unknown country {value!r} (ISO 3166 alpha-2, upper case)")
        return value

    @model_validator(mode="after")
    def _checks(self) -> OrderIn:
        now = utcnow()
        if self.ordered_at > now + MAX_CLOCK_SKEW:
            raise ValueError("ordered_at is in the future")
        if self.ordered_at < now - MAX_ORDER_AGE:
            raise ValueError("ordered_at is more than 400 days ago")
        if sum(line.quantity * line.unit_price for line in self.lines) > MAX_ORDER_TOTAL:
            raise ValueError("order total is implausibly large")
        return self

    def fingerprint(self) -> str:
        """SHA-256 of the canonical form: key order and spacing of the request do not matter."""
        canonical = self.model_dump_json(exclude_none=True)
        return hashlib.sha256(canonical.encode()).hexdigest()


class RefundLineIn(_Strict):
    line_no: StrictInt | None = Field(default=None, gt=0, description="1-based line number.")
    sku: str | None = Field(default=None, min_length=1, max_length=64)
    quantity: StrictInt = Field(gt=0, le=10_000)

    @model_validator(mode="after")
    def _one_reference(self) -> RefundLineIn:
        if (self.line_no is None) == (self.sku is None):
            raise ValueError("give exactly one of line_no or sku")
        return self


class RefundIn(_Strict):
    idempotency_key: str = Field(pattern=REF_PATTERN)
    refunded_at: AwareDatetime
    lines: list[RefundLineIn] | None = Field(
        default=None, max_length=500, description="Omit to refund or cancel the whole order."
    )

    @field_validator("refunded_at")
    @classmethod
    def _refunded_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _checks(self) -> RefundIn:
        if self.refunded_at > utcnow() + MAX_CLOCK_SKEW:
            raise ValueError("refunded_at is in the future")
        if self.lines is not None and not self.lines:
            raise ValueError("lines must not be empty; omit it to refund the whole order")
        return self

    def fingerprint(self) -> str:
        return hashlib.sha256(self.model_dump_json(exclude_none=True).encode()).hexdigest()
