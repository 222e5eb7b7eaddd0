"""Money: integer minor units with an ISO 4217 currency beside every amount.

There is no float anywhere on the money path. Rates are basis points (1 bp = 0.01 %), and the one
rounding rule is half-up on the absolute value (`apply_bps`, `convert`), documented in the README.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cache

import pycountry

# ISO 4217 minor-unit exponents that are not 2. Everything else in active use has 2.
_EXPONENTS = {
    "BIF": 0,
    "CLP": 0,
    "DJF": 0,
    "GNF": 0,
    "ISK": 0,
    "JPY": 0,
    "KMF": 0,
    "KRW": 0,
    "PYG": 0,
    "RWF": 0,
    "UGX": 0,
    "UYI": 0,
    "VND": 0,
    "VUV": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
    "BHD": 3,
    "IQD": 3,
    "JOD": 3,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "TND": 3,
    "CLF": 4,
}
# Funds, precious metals and testing codes are ISO 4217 entries nobody is paid in.
_NOT_PAYABLE = {
    "XAG",
    "XAU",
    "XBA",
    "XBB",
    "XBC",
    "XBD",
    "XDR",
    "XPD",
    "XPT",
    "XSU",
    "XTS",
    "XUA",
    "XXX",
    "BOV",
    "CHE",
    "CHW",
    "COU",
    "MXV",
    "USN",
    "UYI",
    "UYW",
    "CLF",
}


class MoneyError(ValueError):
    """An amount or currency is invalid."""


@cache
def currency_codes() -> frozenset[str]:
    return frozenset(c.alpha_3 for c in pycountry.currencies) - _NOT_PAYABLE


def is_currency(code: str) -> bool:
    return code in currency_codes()


def exponent(currency: str) -> int:
    if not is_currency(currency):
        raise MoneyError(f"unknown currency {currency!r}")
    return _EXPONENTS.get(currency, 2)


@dataclass(frozen=True, slots=True)
class Money:
    amount: int  # minor units
    currency: str  # ISO 4217

    def __post_init__(self) -> None:
        if not isinstance(self.amount, int) or isinstance(self.amount, bool):
            raise MoneyError("amount must be an integer number of minor units")
        if not is_currency(self.currency):
            raise MoneyError(f"unknown currency {self.currency!r}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise MoneyError(f"cannot combine {self.currency} with {other.currency}")

    def to_decimal(self) -> Decimal:
        return Decimal(self.amount).scaleb(-exponent(self.currency))

    def format_plain(self) -> str:
        """`12.34 EUR`: locale-free, for logs and files. The portal formats with Babel."""
        return f"{self.to_decimal():.{exponent(self.currency)}f} {self.currency}"


def _round_half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def apply_bps(amount: int, bps: int) -> int:
    """`amount * bps / 10_000`, rounded half-up (away from zero on .5)."""
    if bps < 0:
        raise MoneyError("rate must not be negative")
    return _round_half_up(Decimal(amount) * Decimal(bps) / Decimal(10_000))


def convert(amount: int, from_currency: str, to_currency: str, rate: Decimal) -> int:
    """Convert minor units at `rate` (units of `to_currency` per unit of `from_currency`)."""
    if rate <= 0:
        raise MoneyError("FX rate must be positive")
    major = Decimal(amount).scaleb(-exponent(from_currency)) * rate
    return _round_half_up(major.scaleb(exponent(to_currency)))


def parse_major(text: str, currency: str) -> int:
    """Parse a decimal amount typed by a person (`12.5`) into minor units, refusing extra digits."""
    try:
        value = Decimal(text.strip())
    except Exception as exc:
        raise MoneyError(f"{text!r} is not an amount") from exc
    if not value.is_finite():
        raise MoneyError(f"{text!r} is not an amount")
    scaled = value.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise MoneyError(f"{currency} has {exponent(currency)} decimal places at most")
    return int(scaled)


def commission_minor(
    base_minor: int, base_currency: str, bps: int, to_currency: str, rate: Decimal
) -> int:
    """`bps` of `base_minor`, converted to `to_currency` at `rate`, rounded once (half-up).

    One rounding, at the end: a percentage and a conversion never round twice.
    """
    if bps < 0 or rate <= 0:
        raise MoneyError("rate and FX rate must not be negative")
    major = Decimal(base_minor).scaleb(-exponent(base_currency)) * Decimal(bps) / Decimal(10_000)
    return _round_half_up((major * rate).scaleb(exponent(to_currency)))
