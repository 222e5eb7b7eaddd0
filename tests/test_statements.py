"""Creator statements and finance's ledger export, built from a realistic month of money.

The month under test (M) is two months back; the clock is frozen at each step, so every journal
is posted when the step happens: some before M (the opening balances), most in M, some after.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from babel.numbers import format_currency
from flask import Flask
from sqlalchemy import func, select

from connect import create_app
from connect.accounts.models import Role
from connect.audit.models import AuditEvent
from connect.conversions.attribution import attribute_batch
from connect.conversions.models import Commission, Order
from connect.conversions.schemas import OrderIn, RefundIn
from connect.conversions.services import (
    approve_due,
    record_order,
    record_refund,
    reject_hold,
    release_hold,
)
from connect.core import time as core_time
from connect.core.money import Money
from connect.core.time import utcnow
from connect.extensions import db
from connect.ledger.models import AccountKind, Journal, LedgerEntry
from connect.ledger.services import PLATFORM, Leg, creator_balances, post
from connect.ledger.statements import (
    STATES,
    StatementError,
    creator_statement,
    decimal_string,
    ledger_csv_chunks,
    ledger_entries,
    month_bounds,
    parse_export_params,
    parse_month,
    statement_months,
    text_cell,
)
from connect.payouts.models import Payout, PayoutMethod, Rail
from connect.payouts.services import approve_batch, build_batch, mark_paid, start_batch
from tests import factories
from tests.conftest import login
from tests.conversion_helpers import click_on, link_for

BOM = b"\xef\xbb\xbf"


def month_start(when: datetime, offset: int) -> datetime:
    index = when.year * 12 + when.month - 1 + offset
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


REAL_NOW = utcnow()
P = month_start(REAL_NOW, -3)  # the month before the statement
M = month_start(REAL_NOW, -2)  # the statement month
N = month_start(REAL_NOW, -1)  # the month after
M_KEY = M.strftime("%Y-%m")
N_KEY = N.strftime("%Y-%m")


def day(month: datetime, d: int, hour: int = 12) -> datetime:
    return month.replace(day=d, hour=hour)


# --- a frozen clock and an app with the statements blueprint ------------------------------


class Clock:
    """`connect.core.time.utcnow` (and with it every created_at default) reads `now`;
    None means the real time."""

    now: datetime | None = None


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    clock = Clock()

    class FrozenDatetime(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            if clock.now is None:
                return datetime.now(tz)
            return clock.now.astimezone(tz) if tz else clock.now

    monkeypatch.setattr(core_time, "datetime", FrozenDatetime)
    yield clock
    clock.now = None


@pytest.fixture(scope="session")
def portal(app: Flask) -> Iterator[Flask]:
    """The app with the statements blueprint; until `create_app` registers it, a second app
    on the same database that does."""
    if "statements" in app.blueprints:
        yield app
        return
    from connect.ledger.routes import bp

    fresh = create_app(dict(app.config))
    fresh.register_blueprint(bp)
    yield fresh
    with fresh.app_context():
        db.engine.dispose()


# --- the world -------------------------------------------------------------------------------


@dataclass
class World:
    alice: int
    bob: int
    finance_email: str
    #: creator_balances() of Alice at the start and at the end of M, as minor units by state.
    opening: dict[str, int]
    closing: dict[str, int]
    payout_id: int


def owed(creator_id: int, currency: str = "EUR") -> dict[str, int]:
    by_state = creator_balances(db.session, creator_id).get(currency, {})
    return {s: by_state.get(s, Money(0, currency)).amount for s in STATES}


class Shop:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        clock.now = day(P, 1, 8)
        self.brand = factories.brand("acme")
        self.brand.return_window_days = 7
        self.brand.default_rate_bps = 500
        product = factories.product(self.brand, "SKU-1")
        self.alice = factories.creator(handle="alice")
        self.bob = factories.creator(handle="bob")
        self.links = {
            self.alice.id: link_for(self.alice, product.id),
            self.bob.id: link_for(self.bob, product.id),
        }
        db.session.add(
            PayoutMethod(
                creator_id=self.alice.id,
                rail=Rail.SEPA,
                iban="DE89370400440532013000",
                bic="COBADEFFXXX",
                account_holder="Alice",
            )
        )
        self.builder = factories.user(Role.FINANCE, email="builder@connect.example")
        self.finance = factories.user(Role.FINANCE, email="fin@connect.example")
        db.session.commit()

    def at(self, when: datetime) -> datetime:
        self.clock.now = when
        return when

    def sale(self, creator_id: int, ref: str, when: datetime, qty: int, fast: bool = False) -> None:
        """An order `when`, reported and attributed 30 minutes later: 5 % of qty x 25.00."""
        clicked = when - (timedelta(seconds=5) if fast else timedelta(hours=1))
        click = click_on(self.links[creator_id], at=clicked)
        now = self.at(when + timedelta(minutes=30))
        data = OrderIn.model_validate(
            {
                "order_id": ref,
                "ordered_at": when.isoformat(),
                "currency": "EUR",
                "click_id": click,
                "lines": [{"sku": "SKU-1", "quantity": qty, "unit_price": 2500}],
            }
        )
        record_order(db.session, self.brand.id, data, now)
        db.session.flush()
        attribute_batch(db.session, now)
        db.session.commit()

    def refund(self, ref: str, when: datetime, qty: int) -> None:
        now = self.at(when)
        data = RefundIn.model_validate(
            {
                "idempotency_key": f"refund-{ref}-{qty}",
                "refunded_at": when.isoformat(),
                "lines": [{"line_no": 1, "quantity": qty}],
            }
        )
        record_refund(db.session, self.brand.id, ref, data, now)
        db.session.commit()

    def commission(self, ref: str) -> Commission:
        return db.session.scalars(
            select(Commission)
            .join(Order, Order.id == Commission.order_id)
            .where(Order.external_id == ref)
        ).one()

    def approve(self, when: datetime) -> None:
        approve_due(db.session, self.at(when))
        db.session.commit()

    def payout(self, when: datetime, paid: datetime) -> int:
        self.at(when)
        batch = start_batch(
            db.session, period_start=M.date(), period_end=when.date(), actor=self.builder
        )
        build_batch(db.session, batch, minimums={"EUR": 100})
        approve_batch(db.session, batch, self.finance, when)
        db.session.commit()
        payout = db.session.scalars(select(Payout).where(Payout.batch_id == batch.id)).one()
        mark_paid(db.session, payout, provider_ref="SEPA-1", now=self.at(paid))
        db.session.commit()
        return payout.id


@pytest.fixture
def world(portal: Flask, app: Flask, clock: Clock) -> World:
    with portal.app_context():
        shop = Shop(clock)
        alice, bob = shop.alice.id, shop.bob.id
        # P: approved 5.00, held 2.00 (ordered seconds after the click), pending 2.50.
        shop.sale(alice, "S-0", day(P, 2), qty=4)  # 500
        shop.approve(day(P, 20))
        shop.sale(alice, "S-2", day(P, 25), qty=2, fast=True)  # 250, held
        shop.sale(alice, "S-1", day(P, 28), qty=2)  # 250
        opening = owed(alice)
        assert opening == {"pending": 250, "held": 250, "approved": 500, "in_flight": 0}

        # M: the hold released, two approvals, a new sale partly refunded, a payout, a
        # rejected hold, and a refund of an already paid commission (approved goes negative).
        clock.now = day(M, 3)
        release_hold(db.session, shop.commission("S-2"))
        db.session.commit()
        shop.sale(alice, "-S-3", day(M, 5), qty=4)  # 500; the id starts like a formula
        shop.refund("-S-3", day(M, 7), qty=1)  # -125 from pending
        shop.approve(day(M, 9))  # S-2 and S-1 (return window of 7 days over)
        payout_id = shop.payout(day(M, 10), paid=day(M, 12))  # 500 + 250 + 250
        shop.sale(alice, "S-4", day(M, 14), qty=1, fast=True)  # 125, held
        clock.now = day(M, 15)
        reject_hold(db.session, shop.commission("S-4"), "bought by the creator")
        db.session.commit()
        shop.refund("S-0", day(M, 16), qty=1)  # -125, paid already: from approved
        closing = owed(alice)

        # N: more sales, outside the statement; Bob's first sale.
        shop.sale(alice, "S-5", day(N, 3), qty=2)
        shop.sale(bob, "B-1", day(N, 4), qty=2)
        clock.now = None
        return World(alice, bob, "fin@connect.example", opening, closing, payout_id)


def signed_in(app: Flask, email: str) -> Any:
    client = app.test_client()
    assert login(client, email, factories.PASSWORD).status_code == 302
    return client


# --- the statement service -------------------------------------------------------------------


def test_statement_reconciles_with_the_ledger(portal: Flask, world: World) -> None:
    assert world.closing == {"pending": 375, "held": 0, "approved": -125, "in_flight": 0}
    with portal.app_context():
        statement = creator_statement(db.session, world.alice, *month_bounds(M))
        (eur,) = statement.currencies
        assert eur.currency == "EUR"
        assert eur.opening == world.opening
        assert eur.closing == world.closing
        moved = eur.movement_totals
        for state in STATES:
            assert eur.opening[state] + moved[state] == eur.closing[state]
        assert eur.opening_total + eur.movements_total == eur.closing_total == 250

        lines = [(m.type, m.order_ref, m.payout_id, dict(m.changes)) for m in eur.movements]
        assert lines == [
            ("released", "S-2", None, {"held": -250, "pending": 250}),
            ("earned", "-S-3", None, {"pending": 500}),
            ("reversal", "-S-3", None, {"pending": -125}),
            ("approved", "S-2", None, {"pending": -250, "approved": 250}),
            ("approved", "S-1", None, {"pending": -250, "approved": 250}),
            ("payout_scheduled", None, world.payout_id, {"approved": -1000, "in_flight": 1000}),
            ("payout", None, world.payout_id, {"in_flight": -1000}),
            ("held", "S-4", None, {"held": 125}),
            ("rejected", "S-4", None, {"held": -125}),
            ("reversal", "S-0", None, {"approved": -125}),
        ]
        assert all(M <= m.posted_at < N for m in eur.movements)
        assert all(m.sku == "SKU-1" for m in eur.movements if m.order_ref)
        assert {t: total for t, _, total in eur.by_type()}["payout"] == -1000

        # the month before: nothing owed at its start, its closing is M's opening
        before = creator_statement(db.session, world.alice, *month_bounds(P))
        assert before.currencies[0].opening == dict.fromkeys(STATES, 0)
        assert before.currencies[0].closing == world.opening
        # the month after starts where M ended
        after = creator_statement(db.session, world.alice, *month_bounds(N))
        assert after.currencies[0].opening == world.closing

        assert statement_months(db.session, world.alice) == [
            (N.date(), 1),
            (M.date(), 10),
            (P.date(), 4),
        ]
        assert statement_months(db.session, world.bob) == [(N.date(), 1)]
        bob_in_m = creator_statement(db.session, world.bob, *month_bounds(M))
        assert not bob_in_m.has_history and bob_in_m.currencies == []


# --- the creator's pages ---------------------------------------------------------------------


def _cells(html: str, row_id: str) -> list[str]:
    row = re.search(rf'<tr[^>]*id="{row_id}"[^>]*>(.*?)</tr>', html, re.S)
    assert row, f"no row {row_id}"
    return [
        re.sub(r"<[^>]+>", "", cell).strip()
        for cell in re.findall(r'<td class="num">(.*?)</td>', row.group(1), re.S)
    ]


def _en(amount: str) -> str:
    return format_currency(Decimal(amount), "EUR", locale="en")


def test_html_and_csv_statement_agree(portal: Flask, world: World) -> None:
    alice = signed_in(portal, "alice@example.com")
    listing = alice.get("/creator/statements")
    assert listing.status_code == 200
    page = listing.get_data(as_text=True)
    for key in (M_KEY, N_KEY):
        assert f"/creator/statements/{key}" in page and f"/creator/statements/{key}.csv" in page

    resp = alice.get(f"/creator/statements/{M_KEY}")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert 'media="print"' in html and "/static/print.css" in html
    assert "<script" not in html and "style=" not in html  # the CSP allows neither inline
    for text in ("-S-3 (SKU-1)", "S-2 (SKU-1)", f"Payout {world.payout_id}", "Reversal (refund)"):
        assert text in html
    assert "S-5" not in html  # a sale of the next month

    export = alice.get(f"/creator/statements/{M_KEY}.csv")
    assert export.status_code == 200
    assert export.mimetype == "text/csv"
    assert "attachment" in export.headers["Content-Disposition"]
    body = export.get_data()
    assert body.startswith(BOM)
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline="")))
    assert rows[0]["type"] == "opening" and rows[-1]["type"] == "closing"
    assert len(rows) == 12  # opening, 10 movements, closing
    opening, movements, closing = rows[0], rows[1:-1], rows[-1]
    columns = {
        "pending": "pending",
        "held": "held",
        "approved": "approved",
        "in_flight": "in_payout",
    }
    for state, column in columns.items():
        assert Decimal(opening[column]) == Decimal(world.opening[state]) / 100
        assert Decimal(closing[column]) == Decimal(world.closing[state]) / 100
        assert Decimal(opening[column]) + sum(Decimal(r[column]) for r in movements) == Decimal(
            closing[column]
        )
    # text cells that would start a formula are defused; amounts stay numbers
    earned = next(r for r in movements if r["type"] == "earned")
    assert earned["reference"] == "'-S-3 (SKU-1)"
    assert next(r for r in movements if r["type"] == "reversal")["pending"] == "-1.25"

    # the figures of the page are the CSV's: opening and closing rows, state by state
    for row, row_id in ((opening, "opening-EUR"), (closing, "closing-EUR")):
        expected = [_en(row[c]) for c in (*columns.values(), "total")]
        assert _cells(html, row_id) == expected


def test_creators_see_only_their_own_months(portal: Flask, world: World) -> None:
    bob = signed_in(portal, "bob@example.com")
    # Bob has no ledger history in M: Alice's month is not there for him
    assert bob.get(f"/creator/statements/{M_KEY}").status_code == 404
    assert bob.get(f"/creator/statements/{M_KEY}.csv").status_code == 404
    page = bob.get(f"/creator/statements/{N_KEY}").get_data(as_text=True)
    assert "B-1 (SKU-1)" in page and "S-5" not in page and "Alice" not in page
    listing = bob.get("/creator/statements").get_data(as_text=True)
    assert f"/creator/statements/{M_KEY}" not in listing
    rows = bob.get(f"/creator/statements/{N_KEY}.csv").get_data().decode("utf-8-sig")
    assert "B-1" in rows and "S-5" not in rows

    alice = signed_in(portal, "alice@example.com")
    future = month_start(REAL_NOW, 1).strftime("%Y-%m")
    for bad in ("2025-13", "2025-00", "2025-1", "abcd-ef", "0000-01", future, f"{M_KEY}.pdf"):
        assert alice.get(f"/creator/statements/{bad}").status_code == 404, bad
    assert alice.get(f"/creator/statements/{future}.csv").status_code == 404
    # the current month is a statement in progress
    current = month_start(REAL_NOW, 0).strftime("%Y-%m")
    assert alice.get(f"/creator/statements/{current}").status_code == 200

    anon = portal.test_client()
    assert anon.get(f"/creator/statements/{M_KEY}").status_code == 302
    finance = signed_in(portal, world.finance_email)
    assert finance.get("/creator/statements").status_code == 403
    assert finance.get(f"/creator/statements/{M_KEY}").status_code == 403


# --- finance's ledger export -----------------------------------------------------------------


def _export_rows(resp: Any) -> list[dict[str, str]]:
    body = resp.get_data()
    assert body.startswith(BOM)
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def test_ledger_export(portal: Flask, world: World) -> None:
    finance = signed_in(portal, world.finance_email)
    assert finance.get("/finance/ledger-export").status_code == 200
    last = (N - timedelta(days=1)).date()
    query = f"start={M.date().isoformat()}&end={last.isoformat()}"
    resp = finance.get(f"/finance/ledger-export.csv?{query}")
    assert resp.status_code == 200
    assert resp.is_streamed
    assert resp.mimetype == "text/csv"
    rows = _export_rows(resp)
    with portal.app_context():
        in_month = db.session.scalar(
            select(func.count())
            .select_from(LedgerEntry)
            .join(Journal, Journal.id == LedgerEntry.journal_id)
            .where(Journal.created_at >= M, Journal.created_at < N)
        )
        audits = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "ledger.export")
        ).all()
    assert len(rows) == in_month == 20  # 10 journals of 2 entries
    keys = [(int(r["journal_id"]), int(r["entry_id"])) for r in rows]
    assert keys == sorted(keys)
    debit: dict[str, Decimal] = {}
    credit: dict[str, Decimal] = {}
    for r in rows:
        assert r["posted_at"].endswith("+00:00")
        assert M <= datetime.fromisoformat(r["posted_at"]) < N
        assert (Decimal(r["debit"]) == 0) != (Decimal(r["credit"]) == 0)
        debit[r["currency"]] = debit.get(r["currency"], Decimal(0)) + Decimal(r["debit"])
        credit[r["currency"]] = credit.get(r["currency"], Decimal(0)) + Decimal(r["credit"])
    assert debit == credit and set(debit) == {"EUR"}
    assert {r["account_kind"] for r in rows} >= {"creator_pending", "payouts_sent"}
    paid = [r for r in rows if r["kind"] == "payout_paid"]
    assert [(r["account_kind"], r["debit"], r["credit"]) for r in paid] == [
        ("creator_in_flight", "10.00", "0.00"),
        ("payouts_sent", "0.00", "10.00"),
    ]
    # every export is audited, with the actor as target
    (audit,) = audits
    assert audit.target_type == "users" and audit.actor_id is not None
    assert audit.target_id == str(audit.actor_id)
    assert audit.data == {"start": M.date().isoformat(), "end": last.isoformat(), "currency": None}

    # a currency filter
    assert len(_export_rows(finance.get(f"/finance/ledger-export.csv?{query}&currency=eur"))) == 20
    assert _export_rows(finance.get(f"/finance/ledger-export.csv?{query}&currency=USD")) == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ("", "start date is missing"),
        ("start=2025-01-01", "end date is missing"),
        ("start=2025-02-30&end=2025-03-01", "is not a date"),
        ("start=20250101&end=2025-03-01", "is not a date"),
        ("start=2025-03-02&end=2025-03-01", "before the start"),
        ("start=2024-01-01&end=2025-01-01", "at most 366 days"),
        ("start=2025-01-01&end=2025-01-31&currency=ZZZ", "Unknown currency"),
    ],
)
def test_ledger_export_refuses_bad_params(portal: Flask, app: Flask, params, message) -> None:
    with portal.app_context():
        factories.user(Role.FINANCE, email="fin@connect.example")
        db.session.commit()
    finance = signed_in(portal, "fin@connect.example")
    resp = finance.get(f"/finance/ledger-export.csv?{params}")
    assert resp.status_code == 400
    assert message in resp.get_data(as_text=True)
    with portal.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_ledger_export_is_for_finance_and_admin(portal: Flask, app: Flask) -> None:
    with portal.app_context():
        factories.creator(handle="carol")
        factories.user(Role.ADMIN, email="root@connect.example")
        db.session.commit()
    query = "/finance/ledger-export.csv?start=2025-01-01&end=2025-01-31"
    carol = signed_in(portal, "carol@example.com")
    assert carol.get(query).status_code == 403
    assert carol.get("/finance/ledger-export").status_code == 403
    assert portal.test_client().get(query).status_code == 302
    admin = signed_in(portal, "root@connect.example")
    resp = admin.get(query)
    assert resp.status_code == 200
    assert _export_rows(resp) == []  # an empty period: the header only


# --- small parts, and SQLite -----------------------------------------------------------------


def test_parsing_and_cells() -> None:
    assert parse_month("2025-02") == datetime(2025, 2, 1, tzinfo=UTC)
    for bad in ("2025-13", "2025-2", "25-02", "2025-02-01", "0000-01", ""):
        assert parse_month(bad) is None
    assert month_bounds(datetime(2024, 12, 1, tzinfo=UTC))[1] == datetime(2025, 1, 1, tzinfo=UTC)
    assert decimal_string(-125, "EUR") == "-1.25"
    assert decimal_string(1500, "JPY") == "1500"
    assert decimal_string(5, "KWD") == "0.005"
    for raw, safe in [
        ("=SUM(A1)", "'=SUM(A1)"),
        ("+1", "'+1"),
        ("-2", "'-2"),
        ("@x", "'@x"),
        ("\t=1", "'\t=1".replace("\t", " ")),
        ("ok", "ok"),
        ("a\nb", "a b"),
    ]:
        assert text_cell(raw) == safe
    period = parse_export_params({"start": "2024-01-01", "end": "2024-12-31", "currency": "jpy"})
    assert (period.currency, period.end_before) == ("JPY", datetime(2025, 1, 1, tzinfo=UTC))
    with pytest.raises(StatementError):
        parse_export_params({"start": "2024-01-01", "end": "2025-01-01"})


@pytest.fixture
def sqlite_app(tmp_path) -> Iterator[Flask]:
    from flask_migrate import upgrade

    application = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/first-run.db"})
    with application.app_context():
        upgrade()
        yield application
        db.session.remove()
        db.engine.dispose()


@pytest.mark.sqlite
def test_statement_and_export_on_sqlite(sqlite_app: Flask, clock: Clock) -> None:
    def accrue(key: str, amount: int, when: datetime) -> None:
        clock.now = when
        post(
            db.session,
            key=key,
            kind="accrual",
            legs=[
                Leg(AccountKind.BRAND_RECEIVABLE, 1, Money(amount, "PLN")),
                Leg(AccountKind.CREATOR_PENDING, 7, Money(-amount, "PLN")),
            ],
        )
        db.session.commit()

    accrue("a", 1000, day(P, 5))
    accrue("b", 250, day(M, 1, 0))
    accrue("c", 300, day(M, 28, 23))
    clock.now = day(M, 28, 23)
    post(
        db.session,
        key="payout:1:paid",
        kind="payout",
        legs=[
            Leg(AccountKind.CREATOR_PENDING, 7, Money(100, "PLN")),
            Leg(AccountKind.PAYOUTS_SENT, PLATFORM, Money(-100, "PLN")),
        ],
    )
    db.session.commit()
    clock.now = None
    assert statement_months(db.session, 7) == [(M.date(), 3), (P.date(), 1)]
    (pln,) = creator_statement(db.session, 7, *month_bounds(M)).currencies
    assert pln.opening["pending"] == 1000 and pln.closing["pending"] == 1450
    assert [m.type for m in pln.movements] == ["earned", "earned", "payout"]
    assert pln.movements[-1].payout_id == 1

    period = parse_export_params({"start": M.date().isoformat(), "end": M.date().isoformat()})
    chunks = list(ledger_csv_chunks(ledger_entries(db.session, period, yield_per=1)))
    rows = list(csv.DictReader(io.StringIO(b"".join(chunks).decode("utf-8-sig"), newline="")))
    assert len(rows) == 2 and len(chunks) == 3  # the header, then one chunk per partition
    assert [(r["debit"], r["credit"]) for r in rows] == [("2.50", "0.00"), ("0.00", "2.50")]
