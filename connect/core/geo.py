"""ISO 3166 countries, ISO 639-1 languages and ISO 4217 currencies, for forms and validation."""

from __future__ import annotations

from functools import cache

import pycountry

from connect.core.money import currency_codes

# The six markets the portal is built around come first in pickers.
MAIN_COUNTRIES = ("RU", "FR", "ES", "PL", "BR", "US")


@cache
def country_names() -> dict[str, str]:
    return {c.alpha_2: c.name for c in pycountry.countries}


def is_country(code: str) -> bool:
    return code in country_names()


@cache
def language_names() -> dict[str, str]:
    return {lang.alpha_2: lang.name for lang in pycountry.languages if hasattr(lang, "alpha_2")}


def is_language(code: str) -> bool:
    return code in language_names()


# Pickers take {value: label}, in display order: the main markets first, then by name.
def country_choices() -> dict[str, str]:
    names = country_names()
    rest = sorted((c for c in names if c not in MAIN_COUNTRIES), key=names.__getitem__)
    return {"": "—"} | {c: names[c] for c in (*MAIN_COUNTRIES, *rest)}


def language_choices() -> dict[str, str]:
    return dict(sorted(language_names().items(), key=lambda item: item[1]))


def currency_choices() -> dict[str, str]:
    main = ["USD", "EUR", "RUB", "PLN", "BRL", "GBP"]
    rest = sorted(currency_codes() - set(main))
    return {"": "—"} | {c: c for c in main + rest}
