"""Money arithmetic: integer minor units, one rounding rule, no floats."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connect.core.money import Money, MoneyError, apply_bps, convert, exponent, parse_major

amounts = st.integers(min_value=0, max_value=10**15)
bps = st.integers(min_value=0, max_value=10_000)


@given(amounts, bps)
def test_apply_bps_is_exact_half_up(amount: int, rate: int) -> None:
    result = apply_bps(amount, rate)
    exact = amount * rate  # in units of 1/10_000 minor unit
    # half-up: the result is the nearest integer, .5 going up
    assert result * 10_000 - 5_000 <= exact < result * 10_000 + 5_000


@given(amounts, bps, bps)
def test_apply_bps_is_monotonic(amount: int, a: int, b: int) -> None:
    low, high = sorted((a, b))
    assert apply_bps(amount, low) <= apply_bps(amount, high) <= amount


@given(st.lists(st.integers(min_value=-(10**12), max_value=10**12), max_size=50))
def test_money_sum_is_integer_sum(values: list[int]) -> None:
    total = Money(0, "EUR")
    for v in values:
        total = total + Money(v, "EUR")
    assert total == Money(sum(values), "EUR")


@given(st.integers(min_value=0, max_value=10**12))
def test_convert_round_trip_loses_at_most_rounding(amount: int) -> None:
    there = convert(amount, "EUR", "PLN", Decimal("4.2675"))
    back = convert(there, "PLN", "EUR", Decimal(1) / Decimal("4.2675"))
    assert abs(back - amount) <= 1


def test_convert_uses_each_currency_exponent() -> None:
    assert convert(1000, "EUR", "JPY", Decimal("161.215")) == 1612  # 10.00 EUR -> 1,612 JPY
    assert convert(1612, "JPY", "EUR", Decimal("0.0062")) == 999  # 9.9944 -> 9.99
    assert convert(1000, "EUR", "KWD", Decimal("0.3321")) == 3321  # 3 decimals
    assert exponent("KWD") == 3 and exponent("JPY") == 0 and exponent("EUR") == 2


def test_rounding_rule_half_up() -> None:
    assert apply_bps(1, 5_000) == 1  # 0.5 -> 1
    assert apply_bps(3, 5_000) == 2  # 1.5 -> 2
    assert apply_bps(1005, 250) == 25  # 25.125 -> 25
    assert apply_bps(1010, 250) == 25  # 25.25 -> 25
    assert apply_bps(1020, 250) == 26  # 25.5 -> 26


@pytest.mark.parametrize("bad", ["XXX", "EURO", "eur", "", "ZZZ"])
def test_unknown_currency_is_refused(bad: str) -> None:
    with pytest.raises(MoneyError):
        Money(100, bad)


def test_money_refuses_floats_and_mixed_currencies() -> None:
    with pytest.raises(MoneyError):
        Money(1.5, "EUR")  # type: ignore[arg-type]
    with pytest.raises(MoneyError):
        Money(1, "EUR") + Money(1, "USD")


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [("12.5", "EUR", 1250), ("0.01", "EUR", 1), ("100", "JPY", 100), ("1.234", "KWD", 1234)],
)
def test_parse_major(text: str, currency: str, minor: int) -> None:
    assert parse_major(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "currency"),
    [("1.001", "EUR"), ("1.5", "JPY"), ("abc", "EUR"), ("NaN", "EUR"), ("Infinity", "EUR")],
)
def test_parse_major_refuses_bad_input(text: str, currency: str) -> None:
    with pytest.raises(MoneyError):
        parse_major(text, currency)
