"""The ledger's own rules, on PostgreSQL and on the SQLite first-run default."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from connect import create_app
from connect.core.money import Money
from connect.extensions import db
from connect.ledger.models import AccountKind, Journal, LedgerEntry, LedgerError
from connect.ledger.services import PLATFORM, Leg, balance, creator_balances, post


@pytest.fixture
def sqlite_app(tmp_path) -> Iterator[Flask]:
    """A fresh SQLite database built by the migrations, exactly like the first run."""
    from flask_migrate import upgrade

    application = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/first-run.db"})
    with application.app_context():
        upgrade()
        yield application
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(params=["postgresql", "sqlite"])
def any_db(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.param == "postgresql":
        application = request.getfixturevalue("app")
        with application.app_context():
            yield
            db.session.remove()
    else:
        request.getfixturevalue("sqlite_app")
        yield


def accrual(creator_id: int, amount: int, currency: str = "EUR") -> list[Leg]:
    return [
        Leg(AccountKind.BRAND_RECEIVABLE, 1, Money(amount, currency)),
        Leg(AccountKind.CREATOR_PENDING, creator_id, Money(-amount, currency)),
    ]


def entry_count() -> int:
    return db.session.scalar(select(func.count()).select_from(LedgerEntry))


def test_post_is_idempotent_by_key(any_db) -> None:
    journal, created = post(db.session, key="accrue:line:1", kind="accrual", legs=accrual(7, 1234))
    db.session.commit()
    assert created
    again, created_again = post(
        db.session, key="accrue:line:1", kind="accrual", legs=accrual(7, 9999)
    )
    db.session.commit()
    assert not created_again
    assert again.id == journal.id
    assert entry_count() == 2
    assert balance(db.session, AccountKind.CREATOR_PENDING, 7, "EUR") == Money(-1234, "EUR")
    assert creator_balances(db.session, 7) == {"EUR": {"pending": Money(1234, "EUR")}}


def test_unbalanced_or_empty_journal_writes_nothing(any_db) -> None:
    legs = [
        Leg(AccountKind.BRAND_RECEIVABLE, 1, Money(100, "EUR")),
        Leg(AccountKind.CREATOR_PENDING, 7, Money(-99, "EUR")),
    ]
    with pytest.raises(LedgerError, match="does not balance"):
        post(db.session, key="bad", kind="accrual", legs=legs)
    mixed = [
        Leg(AccountKind.BRAND_RECEIVABLE, 1, Money(100, "EUR")),
        Leg(AccountKind.CREATOR_PENDING, 7, Money(-100, "USD")),
    ]
    with pytest.raises(LedgerError, match="does not balance"):
        post(db.session, key="bad2", kind="accrual", legs=mixed)
    with pytest.raises(LedgerError, match="non-zero"):
        post(db.session, key="bad3", kind="accrual", legs=[])
    db.session.commit()
    assert entry_count() == 0
    assert db.session.scalar(select(func.count()).select_from(Journal)) == 0


def test_entries_sum_to_zero_per_currency(any_db) -> None:
    post(db.session, key="a", kind="accrual", legs=accrual(1, 500, "EUR"))
    post(db.session, key="b", kind="accrual", legs=accrual(2, 700, "PLN"))
    post(
        db.session,
        key="c",
        kind="approval",
        legs=[
            Leg(AccountKind.CREATOR_PENDING, 1, Money(500, "EUR")),
            Leg(AccountKind.CREATOR_APPROVED, 1, Money(-500, "EUR")),
        ],
    )
    db.session.commit()
    sums = dict(
        db.session.execute(
            select(LedgerEntry.currency, func.sum(LedgerEntry.amount_minor)).group_by(
                LedgerEntry.currency
            )
        ).all()
    )
    assert sums == {"EUR": 0, "PLN": 0}
    assert creator_balances(db.session, 1) == {
        "EUR": {"pending": Money(0, "EUR"), "approved": Money(500, "EUR")}
    }


def test_orm_refuses_update_and_delete(any_db) -> None:
    post(db.session, key="a", kind="accrual", legs=accrual(1, 500))
    db.session.commit()
    entry = db.session.scalars(select(LedgerEntry)).first()
    entry.amount_minor = 1
    with pytest.raises(LedgerError, match="append-only"):
        db.session.flush()
    db.session.rollback()
    db.session.delete(db.session.scalars(select(LedgerEntry)).first())
    with pytest.raises(LedgerError, match="append-only"):
        db.session.flush()
    db.session.rollback()
    assert entry_count() == 2


def test_postgres_trigger_refuses_raw_update_and_delete(app) -> None:
    with app.app_context():
        post(db.session, key="a", kind="accrual", legs=accrual(1, 500))
        db.session.commit()
        for statement in (
            "UPDATE ledger_entries SET amount_minor = 1",
            "DELETE FROM ledger_entries",
            "UPDATE ledger_journals SET memo = 'x'",
        ):
            with pytest.raises(DBAPIError, match="append-only"):
                db.session.execute(text(statement))
            db.session.rollback()
        assert entry_count() == 2


def test_platform_accounts_are_created_once(any_db) -> None:
    for n in range(3):
        post(
            db.session,
            key=f"fx:{n}",
            kind="fx_rounding",
            legs=[
                Leg(AccountKind.FX_ROUNDING, PLATFORM, Money(1, "EUR")),
                Leg(AccountKind.BRAND_RECEIVABLE, 3, Money(-1, "EUR")),
            ],
        )
    db.session.commit()
    assert balance(db.session, AccountKind.FX_ROUNDING, PLATFORM, "EUR") == Money(3, "EUR")
