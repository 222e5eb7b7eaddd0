"""Reference FX rates: parsing the ECB file, storing it, and reading rates for conversions.

Rates are stored the ECB way, units of a currency per 1 EUR, one row per (day, currency); EUR has
no row because it is 1 by definition. Every other pair is a cross rate through EUR. Rates stay
`Decimal` from the file's text to the conversion: a float would change the payout by a cent now and
then, and the ledger could not be reproduced.

The file may come from an upload, so it is parsed with defusedxml (no DTD, no entities, no external
references) and refused whole on the first bad value: a half-imported day would convert some orders
at the new rate and some at a stale one.
"""

from __future__ import annotations

import bisect
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)
from itertools import islice
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from connect.core.db import upsert_insert
from connect.core.money import is_currency
from connect.fx.models import FxRate

log = logging.getLogger(__name__)

GESMES_NS = "http://www.gesmes.org/xml/2002-08-01"
ECB_NS = "http://www.ecb.int/vocabulary/2002-08-01/eurofxref"
_ENVELOPE = f"{{{GESMES_NS}}}Envelope"
_CUBE = f"{{{ECB_NS}}}Cube"

BASE = "EUR"
_DAY_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_RATE_RE = re.compile(r"[+-]?\d+(\.\d+)?")
# fx_rates.rate is NUMERIC(24, 10): a rate that does not fit would be rounded by the database, and
# the next import of the same file would see a "correction" that is not one.
_MAX_PLACES = 10
_RATE_LIMIT = Decimal(10) ** (24 - _MAX_PLACES)
_PLACES = Decimal(1).scaleb(-_MAX_PLACES)
# Cross rates: 28 significant digits, never rounded to a "nice" number of places; the rounding to
# minor units happens once, in money.convert.
_CROSS = Context(
    prec=28, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow]
)
Key = tuple[date, str]  # (day, currency)
# Quotes per database round trip on import (the full ECB history is ~200,000 quotes).
_BATCH = 2_000


class FxError(ValueError):
    """A rate file or a rate request the rules refuse; the message is safe to show."""


@dataclass(frozen=True, slots=True)
class FxQuote:
    """One published reference rate: `rate` units of `currency` per 1 EUR on `day`."""

    day: date
    currency: str
    rate: Decimal

    def __post_init__(self) -> None:
        # Checked here, not only in the parser, so import_rates can trust any quote it is given.
        if type(self.day) is not date:
            raise FxError(f"{self.day!r} is not a date")
        where = f"{self.day.isoformat()} {self.currency}"
        if self.currency == BASE:
            raise FxError(f"{where}: EUR is the base currency and has no rate")
        if not isinstance(self.currency, str) or not is_currency(self.currency):
            raise FxError(f"{self.day.isoformat()}: unknown currency {self.currency!r}")
        if not isinstance(self.rate, Decimal) or not self.rate.is_finite():
            raise FxError(f"{where}: rate {self.rate!r} is not a number")
        if self.rate <= 0:
            raise FxError(f"{where}: rate {self.rate} must be positive")
        if self.rate >= _RATE_LIMIT or self.rate != self.rate.quantize(_PLACES):
            raise FxError(f"{where}: rate {self.rate} cannot be stored exactly")


@dataclass(frozen=True, slots=True)
class ImportResult:
    inserted: int
    updated: int
    unchanged: int
    first_day: date | None = None
    last_day: date | None = None

    @property
    def total(self) -> int:
        return self.inserted + self.updated + self.unchanged


# --- parsing -----------------------------------------------------------------------------------


def parse_ecb_xml(data: bytes) -> list[FxQuote]:
    """The quotes of an ECB reference-rates file (eurofxref-daily.xml or eurofxref-hist.xml).

    Raises FxError on anything that is not exactly that format, so a wrong or tampered file is
    refused before a single row is written.
    """
    days = _day_cubes(_ecb_root(data))
    quotes: dict[Key, FxQuote] = {}
    for day_cube in days:
        day = _parse_day(day_cube.get("time"))
        for rate_cube in day_cube:
            quote = _parse_quote(day, rate_cube)
            _keep_unique(quotes, quote)
    if not quotes:
        raise FxError("the file has no rates")
    return list(quotes.values())


def _ecb_root(data: bytes) -> Element:
    try:
        root = SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise FxError("the file declares a DTD or entities, which an ECB file never does") from exc
    except (ParseError, ValueError, TypeError) as exc:
        raise FxError(f"not an XML file ({exc})") from exc
    if root.tag != _ENVELOPE:
        raise FxError(f"not an ECB reference-rates file (root element {root.tag!r})")
    return root


def _day_cubes(root: Element) -> list[Element]:
    outer = root.findall(_CUBE)
    if len(outer) != 1:
        raise FxError(f"expected one Cube element under the envelope, found {len(outer)}")
    days = list(outer[0])
    for element in days:
        if element.tag != _CUBE:
            raise FxError(f"unexpected element {element.tag!r} among the days")
    return days


def _parse_day(text: str | None) -> date:
    if text is None:
        raise FxError("a day without a time attribute")
    if not _DAY_RE.fullmatch(text):
        raise FxError(f"day {text!r} is not a YYYY-MM-DD date")
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise FxError(f"day {text!r} is not a valid date") from exc


def _parse_quote(day: date, element: Element) -> FxQuote:
    currency, text = element.get("currency"), element.get("rate")
    if element.tag != _CUBE or currency is None or text is None:
        raise FxError(f"{day.isoformat()}: an entry without currency and rate")
    if not _RATE_RE.fullmatch(text):
        raise FxError(f"{day.isoformat()} {currency}: rate {text!r} is not a number")
    return FxQuote(day, currency, Decimal(text))


def _keep_unique(quotes: dict[Key, FxQuote], quote: FxQuote) -> None:
    """Add `quote`; a repeat with the same rate is harmless, one with another rate is not."""
    key = (quote.day, quote.currency)
    seen = quotes.get(key)
    if seen is None:
        quotes[key] = quote
    elif seen.rate != quote.rate:
        raise FxError(
            f"{quote.day.isoformat()} {quote.currency}: listed twice, "
            f"with rates {seen.rate} and {quote.rate}"
        )


# --- storing -----------------------------------------------------------------------------------


def import_rates(session: Session, quotes: Iterable[FxQuote]) -> ImportResult:
    """Upsert quotes by (day, currency). Idempotent: the same file twice changes nothing.

    A stored rate that differs from the file's is replaced: the ECB does publish corrections, and
    conversions already made keep the rate they stored, so only later conversions see the new one.
    Flushes only; the caller commits.
    """
    unique: dict[Key, FxQuote] = {}
    for quote in quotes:
        _keep_unique(unique, quote)
    if not unique:
        return ImportResult(0, 0, 0)
    inserted = updated = unchanged = 0
    for batch in _batches(sorted(unique.values(), key=lambda q: (q.day, q.currency)), _BATCH):
        stored = _stored_rates(session, batch)
        new = [q for q in batch if (q.day, q.currency) not in stored]
        fresh = _insert_new(session, new)
        late = [q for q in new if (q.day, q.currency) not in fresh]
        if late:  # inserted by a concurrent import since we read: compare with theirs
            stored.update(_stored_rates(session, late))
        changed = [q for q in batch if stored.get((q.day, q.currency), q.rate) != q.rate]
        _update_rates(session, changed, stored)
        inserted += len(fresh)
        updated += len(changed)
        unchanged += len(batch) - len(fresh) - len(changed)
    days = [day for day, _ in unique]
    session.flush()
    return ImportResult(inserted, updated, unchanged, min(days), max(days))


def _batches(items: Sequence[FxQuote], size: int) -> Iterator[list[FxQuote]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


def _stored_rates(session: Session, quotes: Sequence[FxQuote]) -> dict[Key, Decimal]:
    """The stored rates for the quotes' keys, in one query over their day range."""
    wanted = {(q.day, q.currency) for q in quotes}
    rows = session.execute(
        select(FxRate.day, FxRate.currency, FxRate.rate).where(
            FxRate.day.between(min(d for d, _ in wanted), max(d for d, _ in wanted)),
            FxRate.currency.in_(sorted({c for _, c in wanted})),
        )
    )
    return {(d, c): r for d, c, r in rows if (d, c) in wanted}


def _insert_new(session: Session, quotes: Sequence[FxQuote]) -> set[Key]:
    """Insert quotes not yet stored; returns the keys this call really inserted."""
    if not quotes:
        return set()
    table = FxRate.__table__
    stmt = (
        upsert_insert(session, table)
        .on_conflict_do_nothing(index_elements=["day", "currency"])
        .returning(table.c.day, table.c.currency)
    )
    rows = [{"day": q.day, "currency": q.currency, "rate": q.rate} for q in quotes]
    return {(d, c) for d, c in session.execute(stmt, rows)}


def _update_rates(session: Session, quotes: Sequence[FxQuote], stored: dict[Key, Decimal]) -> None:
    if not quotes:
        return
    table = FxRate.__table__
    stmt = (
        update(table)
        .where(table.c.day == bindparam("k_day"), table.c.currency == bindparam("k_currency"))
        .values(rate=bindparam("k_rate", type_=table.c.rate.type))
    )
    session.execute(
        stmt, [{"k_day": q.day, "k_currency": q.currency, "k_rate": q.rate} for q in quotes]
    )
    for q in quotes:
        log.warning(
            "fx rate corrected: %s %s %s -> %s",
            q.day.isoformat(),
            q.currency,
            stored[(q.day, q.currency)],
            q.rate,
        )


# --- reading -----------------------------------------------------------------------------------


class FxTable:
    """Rates for a set of currencies over [start, end], held in memory for many lookups.

    A lookup uses the latest rate published on or before the day (there are none on weekends and
    TARGET holidays) if it is at most `max_age_days` old; an older one means the feed stopped, and
    converting at it silently would be worse than holding the money until rates arrive.
    """

    def __init__(
        self,
        quotes: Iterable[FxQuote],
        currencies: Iterable[str],
        start: date,
        end: date,
        max_age_days: int = 7,
    ) -> None:
        self.currencies = _checked_currencies(currencies) | {BASE}  # EUR needs no row
        if start > end:
            raise FxError(f"start {start} is after end {end}")
        if max_age_days < 0:
            raise FxError("max_age_days must not be negative")
        self.start, self.end, self.max_age_days = start, end, max_age_days
        series: dict[str, dict[date, Decimal]] = {c: {} for c in self.currencies - {BASE}}
        for q in quotes:
            if q.currency in series:
                series[q.currency][q.day] = q.rate
        self._days = {c: sorted(s) for c, s in series.items()}
        self._rates = {c: [series[c][d] for d in self._days[c]] for c in series}

    def rate(self, day: date, from_currency: str, to_currency: str) -> Decimal | None:
        """Units of `to_currency` per 1 `from_currency` on `day`; None when a rate is missing.

        Raises FxError for a day or a currency the table was not loaded for: that is a bug in the
        caller, not a missing rate, and answering None would quietly hold someone's money.
        """
        if not self.start <= day <= self.end:
            raise FxError(f"{day} is outside the table's range {self.start}..{self.end}")
        for currency in (from_currency, to_currency):
            if currency not in self.currencies:
                raise FxError(f"the table was not loaded for {currency!r}")
        if from_currency == to_currency:
            return Decimal(1)
        from_eur, to_eur = self.eur_rate(day, from_currency), self.eur_rate(day, to_currency)
        if from_eur is None or to_eur is None:
            return None
        with localcontext(_CROSS):
            return to_eur / from_eur

    def eur_rate(self, day: date, currency: str) -> Decimal | None:
        """Units of `currency` per 1 EUR on `day` (fallback and age rules as in `rate`)."""
        if currency == BASE:
            return Decimal(1)
        days = self._days[currency]
        i = bisect.bisect_right(days, day) - 1
        if i < 0 or (day - days[i]).days > self.max_age_days:
            return None
        return self._rates[currency][i]


def _checked_currencies(currencies: Iterable[str]) -> frozenset[str]:
    codes = frozenset(currencies)
    unknown = sorted(c for c in codes if not isinstance(c, str) or not is_currency(c))
    if unknown:
        raise FxError(f"unknown currencies {unknown}")
    return codes


def load_fx_table(
    session: Session, currencies: Iterable[str], start: date, end: date, max_age_days: int = 7
) -> FxTable:
    """An FxTable for `currencies` over [start, end], read in one query.

    Rates are read from `start - max_age_days`, so the first days of the range (a Monday, a day
    after a holiday) can fall back to the last rate published before it.
    """
    codes = _checked_currencies(currencies)
    if max_age_days < 0:
        raise FxError("max_age_days must not be negative")
    quoted = sorted(codes - {BASE})
    quotes: list[FxQuote] = []
    if quoted and start <= end:
        rows = session.execute(
            select(FxRate.day, FxRate.currency, FxRate.rate).where(
                FxRate.currency.in_(quoted),
                FxRate.day.between(start - timedelta(days=max_age_days), end),
            )
        )
        quotes = [FxQuote(d, c, r) for d, c, r in rows]
    return FxTable(quotes, codes, start, end, max_age_days)


def rate_on(
    session: Session, day: date, from_currency: str, to_currency: str, max_age_days: int = 7
) -> Decimal | None:
    """Units of `to_currency` per 1 `from_currency` on `day`, or None (see FxTable.rate)."""
    table = load_fx_table(session, {from_currency, to_currency}, day, day, max_age_days)
    return table.rate(day, from_currency, to_currency)


__all__ = [
    "FxError",
    "FxQuote",
    "FxTable",
    "ImportResult",
    "import_rates",
    "load_fx_table",
    "parse_ecb_xml",
    "rate_on",
]
