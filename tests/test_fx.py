"""FX reference rates: the ECB file parser, the idempotent import, cross rates, and fx-import."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal, localcontext
from pathlib import Path

import pytest
from flask import Flask
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import event, func, select

from connect import create_app
from connect.extensions import db
from connect.fx import services as fx_services
from connect.fx.cli import register
from connect.fx.models import FxRate
from connect.fx.services import (
    FxError,
    FxQuote,
    FxTable,
    ImportResult,
    import_rates,
    load_fx_table,
    parse_ecb_xml,
    rate_on,
)

DATA = Path(__file__).parent / "data"
HIST = DATA / "eurofxref-hist-sample.xml"
DAILY = DATA / "eurofxref-daily-sample.xml"
# Business days only: no weekends, no Christmas Day (a TARGET holiday), as the ECB publishes.
HIST_DAYS = [date(2026, 12, d) for d in (17, 18, 21, 22, 23, 24, 28, 29, 30, 31)]
CURRENCIES = 29  # the ECB list of late 2026: no RUB (suspended 2022), no BGN (euro since 2026)

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" '
    'xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">'
    "<gesmes:subject>Reference rates</gesmes:subject>"
    "<gesmes:Sender><gesmes:name>European Central Bank</gesmes:name></gesmes:Sender>"
)


def ecb(*days: tuple[str, list[tuple[str, str]]]) -> bytes:
    """A file in the ECB format with the given (time, [(currency, rate)]) days."""
    cubes = "".join(
        f"<Cube time='{time}'>"
        + "".join(f"<Cube currency='{c}' rate='{r}'/>" for c, r in rates)
        + "</Cube>"
        for time, rates in days
    )
    return f"{HEAD}<Cube>{cubes}</Cube></gesmes:Envelope>".encode()


def hist_quotes() -> list[FxQuote]:
    return parse_ecb_xml(HIST.read_bytes())


def stored(currency: str, day: date) -> Decimal:
    return db.session.scalar(
        select(FxRate.rate).where(FxRate.currency == currency, FxRate.day == day)
    )


def row_count() -> int:
    return db.session.scalar(select(func.count()).select_from(FxRate))


@pytest.fixture
def sqlite_app(tmp_path: Path) -> Iterator[Flask]:
    """A fresh SQLite database built by the migrations, exactly like the first run."""
    from flask_migrate import upgrade

    application = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/fx.db"})
    with application.app_context():
        upgrade()
        yield application
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def loaded(ctx: None) -> None:
    """The sample history imported and committed on PostgreSQL."""
    import_rates(db.session, hist_quotes())
    db.session.commit()


# --- parsing -----------------------------------------------------------------------------------


def test_parse_hist_sample() -> None:
    quotes = hist_quotes()
    assert len(quotes) == len(HIST_DAYS) * CURRENCIES
    assert sorted({q.day for q in quotes}) == HIST_DAYS
    currencies = {q.currency for q in quotes}
    assert len(currencies) == CURRENCIES
    assert {"USD", "JPY", "GBP", "PLN", "BRL", "CHF", "SEK", "CZK", "TRY", "INR"} <= currencies
    assert not currencies & {"EUR", "RUB"}
    assert FxQuote(date(2026, 12, 31), "USD", Decimal("1.1690")) in quotes
    jpy = next(q for q in quotes if q.day == date(2026, 12, 18) and q.currency == "JPY")
    assert isinstance(jpy.rate, Decimal) and str(jpy.rate) == "182.51"


def test_parse_daily_sample_is_the_last_day_of_the_history() -> None:
    daily = parse_ecb_xml(DAILY.read_bytes())
    assert len(daily) == CURRENCIES
    assert {q.day for q in daily} == {date(2026, 12, 31)}
    assert set(daily) <= set(hist_quotes())


def test_a_repeated_identical_quote_is_accepted_once() -> None:
    quotes = parse_ecb_xml(
        ecb(("2026-12-18", [("USD", "1.17")]), ("2026-12-18", [("USD", "1.1700")]))
    )
    assert quotes == [FxQuote(date(2026, 12, 18), "USD", Decimal("1.17"))]


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01"
 xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
 <gesmes:subject>&lol9;</gesmes:subject>
 <Cube><Cube time="2026-12-18"><Cube currency="USD" rate="1.17"/></Cube></Cube>
</gesmes:Envelope>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01"
 xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
 <gesmes:subject>&x;</gesmes:subject>
 <Cube><Cube time="2026-12-18"><Cube currency="USD" rate="1.17"/></Cube></Cube>
</gesmes:Envelope>"""

GOOD_DAY = ("2026-12-18", [("USD", "1.1712"), ("JPY", "182.69")])

REFUSED = {
    "empty": (b"", "not an XML file"),
    "not xml": (b"USD;1.17\nJPY;182.69\n", "not an XML file"),
    "truncated": (ecb(GOOD_DAY)[:-30], "not an XML file"),
    "billion laughs": (BILLION_LAUGHS, "DTD or entities"),
    "external entity": (XXE, "DTD or entities"),
    "wrong root": (
        b'<Envelope xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref"><Cube/></Envelope>',
        "not an ECB reference-rates file",
    ),
    "html": (b"<html><body>Service unavailable</body></html>", "root element 'html'"),
    "wrong namespace": (
        ecb(GOOD_DAY).replace(b"2002-08-01/eurofxref", b"2002-08-01/other"),
        "expected one Cube",
    ),
    "no rates": (ecb(), "no rates"),
    "no time": (ecb(GOOD_DAY).replace(b"time=", b"tag="), "without a time"),
    "impossible date": (ecb(("2026-02-30", [("USD", "1.17")])), "not a valid date"),
    "not iso date": (ecb(("18/12/2026", [("USD", "1.17")])), "not a YYYY-MM-DD date"),
    "unknown currency": (ecb(("2026-12-18", [("USD", "1.17"), ("XYZ", "2")])), "unknown"),
    "lower-case currency": (ecb(("2026-12-18", [("usd", "1.17")])), "unknown currency"),
    "EUR as a currency": (ecb(("2026-12-18", [("EUR", "1")])), "EUR is the base"),
    "negative rate": (ecb(("2026-12-18", [("USD", "-1.17")])), "must be positive"),
    "zero rate": (ecb(("2026-12-18", [("USD", "0")])), "must be positive"),
    "abc rate": (ecb(("2026-12-18", [("USD", "abc")])), "'abc' is not a number"),
    "NaN rate": (ecb(("2026-12-18", [("USD", "NaN")])), "not a number"),
    "exponent rate": (ecb(("2026-12-18", [("USD", "1e3")])), "not a number"),
    "too precise rate": (ecb(("2026-12-18", [("USD", "1.12345678901")])), "stored exactly"),
    "no rate attribute": (ecb(GOOD_DAY).replace(b"rate=", b"value="), "without currency"),
    "conflicting duplicate": (
        ecb(GOOD_DAY, ("2026-12-18", [("USD", "1.1713")])),
        "USD: listed twice, with rates 1.1712 and 1.1713",
    ),
    "conflicting duplicate in one day": (
        ecb(("2026-12-18", [("USD", "1.1712"), ("USD", "1.17")])),
        "listed twice",
    ),
}


@pytest.mark.parametrize(("payload", "message"), REFUSED.values(), ids=REFUSED.keys())
def test_bad_files_are_refused_and_write_nothing(ctx: None, payload: bytes, message: str) -> None:
    with pytest.raises(FxError, match=message):
        import_rates(db.session, parse_ecb_xml(payload))
    db.session.commit()
    assert row_count() == 0


def test_quotes_are_checked_even_when_not_parsed() -> None:
    with pytest.raises(FxError, match="EUR is the base"):
        FxQuote(date(2026, 12, 18), "EUR", Decimal(1))
    with pytest.raises(FxError, match="not a number"):
        FxQuote(date(2026, 12, 18), "USD", 1.17)  # type: ignore[arg-type]
    with pytest.raises(FxError, match="not a date"):
        FxQuote("2026-12-18", "USD", Decimal("1.17"))  # type: ignore[arg-type]


# --- import ------------------------------------------------------------------------------------


def test_import_is_idempotent(ctx: None) -> None:
    total = len(HIST_DAYS) * CURRENCIES
    first = import_rates(db.session, hist_quotes())
    db.session.commit()
    assert first == ImportResult(total, 0, 0, HIST_DAYS[0], HIST_DAYS[-1])
    assert stored("USD", date(2026, 12, 31)) == Decimal("1.1690")

    again = import_rates(db.session, hist_quotes())
    db.session.commit()
    assert again == ImportResult(0, 0, total, HIST_DAYS[0], HIST_DAYS[-1])
    assert row_count() == total

    daily = import_rates(db.session, parse_ecb_xml(DAILY.read_bytes()))
    db.session.commit()
    assert (daily.inserted, daily.updated, daily.unchanged) == (0, 0, CURRENCIES)
    assert row_count() == total


def test_import_updates_a_corrected_rate(ctx: None) -> None:
    import_rates(db.session, hist_quotes())
    db.session.commit()
    corrected = HIST.read_bytes().replace(b"rate='1.1690'", b"rate='1.1695'")
    assert corrected != HIST.read_bytes()

    result = import_rates(db.session, parse_ecb_xml(corrected))
    db.session.commit()
    total = len(HIST_DAYS) * CURRENCIES
    assert (result.inserted, result.updated, result.unchanged) == (0, 1, total - 1)
    assert stored("USD", date(2026, 12, 31)) == Decimal("1.1695")
    assert stored("USD", date(2026, 12, 30)) == Decimal("1.1737")
    assert row_count() == total


def test_import_counts_rows_a_concurrent_import_wrote_first(
    ctx: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows inserted by someone else between our read and our insert are compared, not lost."""
    import_rates(db.session, hist_quotes())
    db.session.commit()
    real = fx_services._stored_rates
    calls: list[int] = []

    def blind_first_read(session, quotes):  # the other import commits right after this read
        calls.append(len(quotes))
        return {} if len(calls) == 1 else real(session, quotes)

    monkeypatch.setattr(fx_services, "_stored_rates", blind_first_read)
    corrected = HIST.read_bytes().replace(b"rate='1.1690'", b"rate='1.1695'")
    result = import_rates(db.session, parse_ecb_xml(corrected))
    db.session.commit()
    total = len(HIST_DAYS) * CURRENCIES
    assert (result.inserted, result.updated, result.unchanged) == (0, 1, total - 1)
    assert calls == [total, total]
    assert stored("USD", date(2026, 12, 31)) == Decimal("1.1695")
    assert row_count() == total


def test_import_refuses_conflicting_quotes_given_directly(ctx: None) -> None:
    day = date(2026, 12, 18)
    quotes = [FxQuote(day, "USD", Decimal("1.17")), FxQuote(day, "USD", Decimal("1.18"))]
    with pytest.raises(FxError, match="listed twice"):
        import_rates(db.session, quotes)
    db.session.commit()
    assert row_count() == 0
    assert import_rates(db.session, []) == ImportResult(0, 0, 0)


@pytest.mark.sqlite
def test_import_and_lookup_on_sqlite(sqlite_app: Flask) -> None:
    total = len(HIST_DAYS) * CURRENCIES
    assert import_rates(db.session, hist_quotes()).inserted == total
    db.session.commit()
    assert import_rates(db.session, hist_quotes()).unchanged == total
    corrected = HIST.read_bytes().replace(b"rate='1.1690'", b"rate='1.16950'")
    assert import_rates(db.session, parse_ecb_xml(corrected)).updated == 1
    db.session.commit()
    # Stored as text on SQLite: the trailing zero is kept, and the value is still exact.
    assert stored("USD", date(2026, 12, 31)) == Decimal("1.1695")
    assert row_count() == total

    sunday = date(2026, 12, 27)
    assert rate_on(db.session, sunday, "EUR", "PLN") == Decimal("4.2029")  # Thursday 24th
    with localcontext(prec=28):
        expected = Decimal("181.35") / Decimal("1.1728")
    assert rate_on(db.session, sunday, "USD", "JPY") == expected


# --- lookups -----------------------------------------------------------------------------------


def december(**kwargs: int) -> FxTable:
    currencies = {"EUR", "USD", "JPY", "GBP", "PLN", "BRL", "RUB"}
    return load_fx_table(db.session, currencies, date(2026, 12, 17), date(2027, 1, 15), **kwargs)


@pytest.mark.usefixtures("loaded")
def test_table_direct_inverse_cross_and_identity() -> None:
    table = december()
    friday = date(2026, 12, 18)
    usd, jpy = stored("USD", friday), stored("JPY", friday)
    assert table.rate(friday, "EUR", "USD") == usd == Decimal("1.1741")
    assert table.rate(friday, "USD", "USD") == Decimal(1)
    assert table.rate(friday, "EUR", "EUR") == Decimal(1)
    with localcontext(prec=28):
        assert table.rate(friday, "USD", "EUR") == Decimal(1) / usd
        assert table.rate(friday, "USD", "JPY") == jpy / usd
        assert table.rate(friday, "JPY", "USD") == usd / jpy
    # Not rounded to a handful of places: 28 significant digits.
    assert len(table.rate(friday, "USD", "JPY").as_tuple().digits) == 28


@pytest.mark.usefixtures("loaded")
def test_table_falls_back_over_weekends_and_holidays() -> None:
    table = december()
    friday, thursday = date(2026, 12, 18), date(2026, 12, 24)
    for saturday_or_sunday in (date(2026, 12, 19), date(2026, 12, 20)):
        assert table.rate(saturday_or_sunday, "EUR", "GBP") == table.rate(friday, "EUR", "GBP")
    for holiday_or_weekend in (date(2026, 12, 25), date(2026, 12, 26), date(2026, 12, 27)):
        assert table.rate(holiday_or_weekend, "BRL", "PLN") == table.rate(thursday, "BRL", "PLN")
    assert table.rate(date(2026, 12, 28), "EUR", "USD") == Decimal("1.1709")


@pytest.mark.usefixtures("loaded")
def test_table_too_old_or_missing_is_none() -> None:
    table = december()
    assert table.rate(date(2027, 1, 7), "EUR", "USD") == Decimal("1.1690")  # 7 days: still fine
    assert table.rate(date(2027, 1, 8), "EUR", "USD") is None  # 8 days: the feed stopped
    assert table.rate(date(2027, 1, 8), "EUR", "EUR") == Decimal(1)
    strict = december(max_age_days=2)
    assert strict.rate(date(2026, 12, 26), "EUR", "USD") == Decimal("1.1728")  # 2 days
    assert strict.rate(date(2026, 12, 27), "EUR", "USD") is None  # 3 days
    assert strict.rate(date(2026, 12, 27), "USD", "GBP") is None
    # RUB is a currency, but the ECB publishes no rate for it.
    assert table.rate(date(2026, 12, 18), "EUR", "RUB") is None
    assert table.rate(date(2026, 12, 18), "RUB", "USD") is None
    assert table.rate(date(2026, 12, 18), "RUB", "RUB") == Decimal(1)
    # Before the first rate published.
    assert december().rate(date(2026, 12, 17), "EUR", "USD") is not None
    early = load_fx_table(db.session, {"USD"}, date(2026, 12, 1), date(2026, 12, 31))
    assert early.rate(date(2026, 12, 16), "EUR", "USD") is None


@pytest.mark.usefixtures("loaded")
def test_table_refuses_what_it_was_not_loaded_for() -> None:
    table = december()
    with pytest.raises(FxError, match="not loaded for 'CHF'"):
        table.rate(date(2026, 12, 18), "USD", "CHF")
    with pytest.raises(FxError, match="outside the table's range"):
        table.rate(date(2026, 12, 16), "EUR", "USD")
    with pytest.raises(FxError, match="unknown currencies"):
        load_fx_table(db.session, {"USD", "XYZ"}, date(2026, 12, 17), date(2026, 12, 31))


@pytest.mark.usefixtures("loaded")
def test_table_is_one_query_and_looks_back_before_start() -> None:
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        # Starts on Saturday 26th: the first days need Thursday 24th, before the range.
        table = load_fx_table(
            db.session, ["USD", "GBP", "EUR", "USD"], date(2026, 12, 26), date(2026, 12, 31)
        )
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert len(statements) == 1
    assert table.rate(date(2026, 12, 26), "EUR", "USD") == Decimal("1.1728")
    assert table.rate(date(2026, 12, 31), "GBP", "USD") is not None


@pytest.mark.usefixtures("loaded")
def test_rate_on() -> None:
    assert rate_on(db.session, date(2026, 12, 31), "EUR", "USD") == Decimal("1.1690")
    assert rate_on(db.session, date(2026, 12, 31), "INR", "INR") == Decimal(1)
    assert rate_on(db.session, date(2026, 12, 31), "EUR", "RUB") is None
    assert rate_on(db.session, date(2027, 1, 20), "EUR", "USD") is None
    with localcontext(prec=28):
        expected = Decimal("103.4695") / Decimal("6.2367")
    assert rate_on(db.session, date(2027, 1, 2), "BRL", "INR") == expected


RATES = st.decimals(
    min_value=Decimal("0.0001"),
    max_value=Decimal("99999999"),
    places=4,
    allow_nan=False,
    allow_infinity=False,
)


@given(a=RATES, b=RATES, pair=st.sampled_from([("USD", "JPY"), ("JPY", "USD"), ("EUR", "USD")]))
def test_cross_rates_are_inverse(a: Decimal, b: Decimal, pair: tuple[str, str]) -> None:
    day = date(2026, 12, 18)
    quotes = [FxQuote(day, "USD", a), FxQuote(day, "JPY", b)]
    table = FxTable(quotes, {"EUR", "USD", "JPY"}, day, date(2026, 12, 21))
    x, y = pair
    there, back = table.rate(date(2026, 12, 21), x, y), table.rate(date(2026, 12, 21), y, x)
    assert there is not None and back is not None
    assert abs(there * back - 1) <= Decimal("1e-20")


# --- command -----------------------------------------------------------------------------------


def test_fx_import_command(app: Flask) -> None:
    register(app)
    register(app)  # harmless twice: the app fixture is shared by the whole session
    runner = app.test_cli_runner()

    result = runner.invoke(args=["fx-import", str(HIST)])
    assert result.exit_code == 0, result.output
    assert result.output == "290 inserted, 0 updated, 0 unchanged (days 2026-12-17..2026-12-31)\n"

    result = runner.invoke(args=["fx-import", "-"], input=DAILY.read_bytes())
    assert result.exit_code == 0, result.output
    assert result.output == "0 inserted, 0 updated, 29 unchanged (days 2026-12-31..2026-12-31)\n"

    corrected = DAILY.read_bytes().replace(b"rate='181.12'", b"rate='181.20'")
    result = runner.invoke(args=["fx-import", "-"], input=corrected)
    assert result.output == "0 inserted, 1 updated, 28 unchanged (days 2026-12-31..2026-12-31)\n"
    with app.app_context():
        assert stored("JPY", date(2026, 12, 31)) == Decimal("181.20")
        assert row_count() == 290
        db.session.remove()


def test_fx_import_command_refuses_a_bad_file(app: Flask, tmp_path: Path) -> None:
    register(app)
    bad = tmp_path / "rates.xml"
    bad.write_bytes(ecb(GOOD_DAY, ("2026-12-21", [("USD", "abc")])))
    result = app.test_cli_runner().invoke(args=["fx-import", str(bad)])
    assert result.exit_code == 1
    assert "Error: 2026-12-21 USD: rate 'abc' is not a number" in result.output
    missing = app.test_cli_runner().invoke(args=["fx-import", str(tmp_path / "nope.xml")])
    assert missing.exit_code == 2
    with app.app_context():
        assert row_count() == 0
        db.session.remove()
