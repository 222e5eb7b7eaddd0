"""The shared database and job helpers the batch jobs lean on, against real PostgreSQL."""

from __future__ import annotations

import gc
import weakref
from datetime import timedelta

from sqlalchemy import select

from connect.accounts.models import Role, User
from connect.core.db import among, bulk_update
from connect.core.jobs import gc_paused
from connect.core.money import Money
from connect.core.time import utcnow
from connect.extensions import db
from connect.ledger.models import AccountKind, Journal, LedgerEntry
from connect.ledger.services import JournalSpec, Leg, post_many
from tests import factories


def test_bulk_update_changes_only_the_given_rows_and_stamps_them(ctx) -> None:
    users = [factories.user(Role.CREATOR) for _ in range(3)]
    db.session.commit()
    before = utcnow() - timedelta(days=1)
    for user in users:
        user.updated_at = before
    db.session.commit()
    bulk_update(
        db.session,
        User,
        [{"id": users[0].id, "locale": "fr"}, {"id": users[2].id, "locale": "ru"}],
    )
    db.session.commit()
    db.session.expire_all()
    got = {u.id: (u.locale, u.updated_at > before) for u in db.session.scalars(select(User))}
    assert got == {
        users[0].id: ("fr", True),
        users[1].id: (users[1].locale, False),
        users[2].id: ("ru", True),
    }


def test_among_is_in_with_one_array_parameter(ctx) -> None:
    users = [factories.user(Role.CREATOR) for _ in range(4)]
    db.session.commit()
    wanted = {users[1].id, users[3].id, 10**9}

    def ids(condition) -> set[int]:
        return set(db.session.scalars(select(User.id).where(condition)))

    assert ids(among(db.session, User.id, wanted)) == ids(User.id.in_(wanted)) == wanted - {10**9}
    assert ids(among(db.session, User.email, [users[0].email])) == {users[0].id}
    assert ids(among(db.session, User.id, [])) == set()
    # One bound parameter whatever the count: the statement text does not grow with it.
    compiled = select(User.id).where(among(db.session, User.id, range(5000)))
    assert len(str(compiled.compile(db.engine))) < 300


def test_a_staging_table_lost_to_a_rollback_is_made_again(ctx) -> None:
    creator_id = factories.creator(handle="stage").id
    db.session.commit()
    db.session.remove()
    db.engine.dispose()  # a new connection: no staging table on it yet
    money = Money(100, "EUR")
    spec = JournalSpec(
        "test:staging",
        "adjustment",
        (
            Leg(AccountKind.BRAND_RECEIVABLE, 1, money),
            Leg(AccountKind.CREATOR_PENDING, creator_id, -money),
        ),
    )
    # The first posting on this connection creates the temporary staging table inside the
    # transaction, and the rollback takes the table with it.
    assert post_many(db.session, [spec]) == {"test:staging": True}
    db.session.rollback()
    assert post_many(db.session, [spec]) == {"test:staging": True}
    db.session.commit()
    assert post_many(db.session, [spec]) == {"test:staging": False}
    db.session.commit()
    assert db.session.scalar(select(Journal.id).where(Journal.idempotency_key == "test:staging"))
    assert len(db.session.scalars(select(LedgerEntry)).all()) == 2


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_gc_paused_pauses_the_collector_and_frees_the_batchs_cycles() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        a, b = _Node(), _Node()
        a.other, b.other = b, a  # a cycle: reference counting alone never frees it
        gone = weakref.ref(a)
        del a, b
        assert gone() is not None
    assert gc.isenabled()
    assert gone() is None
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # a collector the caller had paused stays paused
    finally:
        gc.enable()
