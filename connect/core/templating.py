"""Template filters and globals shared by every page."""

from __future__ import annotations

from flask import Flask
from flask_babel import format_currency, get_locale

from connect.core.money import Money


def money(value: Money | None) -> str:
    """A Money, formatted for the reader's locale (`1 234,50 €`)."""
    if value is None:
        return "—"
    return format_currency(value.to_decimal(), value.currency)


def money_minor(amount: int | None, currency: str) -> str:
    return money(None if amount is None else Money(int(amount), currency))


def register_template_helpers(app: Flask) -> None:
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["money_minor"] = money_minor
    app.jinja_env.globals["get_locale"] = get_locale
