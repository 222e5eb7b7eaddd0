"""Property: whatever mix of batches, bank returns and refunds after payout, each creator's
money is all accounted for: paid + in flight + carried (approved balance) = approved earnings.

The reference side sums commission rows and payout rows; the other side reads the ledger."""

from __future__ import annotations

import os
from datetime import timedelta

from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis import Redis
from sqlalchemy import func, select, text

from connect.accounts.models import Role
from connect.conversions.models import Commission, CommissionStatus
from connect.conversions.schemas import OrderIn, RefundIn
from connect.conversions.services import record_order, record_refund
from connect.conversions.tasks import approve_commissions, attribute_orders
from connect.core.time import utcnow
from connect.extensions import db
from connect.ledger.models import AccountKind, LedgerEntry
from connect.ledger.services import PLATFORM, balance
from connect.payouts.models import Payout, PayoutFile, PayoutMethod, PayoutStatus, Rail
from connect.payouts.services import (
    approve_batch,
    build_batch,
    mark_file_paid,
    record_returns,
    start_batch,
)
from connect.payouts.tasks import execute_batch
from tests import factories
from tests.conversion_helpers import click_on, link_for

NOW = utcnow()
EXAMPLES = int(os.environ.get("PAYOUT_PROPERTY_EXAMPLES", "15"))

operation = st.one_of(
    st.tuples(st.just("batch"), st.booleans()),  # build + approve + export; pay the file?
    st.tuples(st.just("return"), st.integers(0, 50)),  # a bank returns the n-th paid payout
    st.tuples(st.just("refund"), st.integers(0, 50)),  # a refund of the n-th order, any time
)
scenario = st.fixed_dictionaries(
    {
        "orders": st.lists(
            st.tuples(st.integers(0, 2), st.integers(1, 3), st.integers(100, 200_000)),
            min_size=1,
            max_size=8,
        ),
        "operations": st.lists(operation, min_size=1, max_size=8),
    }
)


def _reset(app: Flask) -> None:
    db.session.remove()
    tables = ", ".join(t.name for t in db.metadata.sorted_tables)
    with db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    Redis.from_url(app.config["REDIS_URL"]).flushdb()


def _check(creators: list[int]) -> None:
    sums = dict(
        db.session.execute(
            select(LedgerEntry.currency, func.sum(LedgerEntry.amount_minor)).group_by(
                LedgerEntry.currency
            )
        ).all()
    )
    assert all(v == 0 for v in sums.values()), sums
    total_paid = 0
    for creator_id in creators:
        earned = db.session.scalar(
            select(
                func.coalesce(func.sum(Commission.amount_minor - Commission.reversed_minor), 0)
            ).where(
                Commission.creator_id == creator_id,
                Commission.status.in_(
                    [CommissionStatus.APPROVED, CommissionStatus.PAID, CommissionStatus.REVERSED]
                ),
                Commission.currency == "EUR",
            )
        )

        def payouts(*statuses: PayoutStatus, creator: int = creator_id) -> int:
            return db.session.scalar(
                select(func.coalesce(func.sum(Payout.amount_minor), 0)).where(
                    Payout.creator_id == creator, Payout.status.in_(statuses)
                )
            )

        paid = payouts(PayoutStatus.PAID)
        in_flight = payouts(PayoutStatus.PLANNED, PayoutStatus.SENDING, PayoutStatus.EXPORTED)
        carried = -balance(db.session, AccountKind.CREATOR_APPROVED, creator_id, "EUR").amount
        flight = -balance(db.session, AccountKind.CREATOR_IN_FLIGHT, creator_id, "EUR").amount
        assert flight == in_flight
        assert paid + in_flight + carried == earned, (creator_id, paid, in_flight, carried, earned)
        total_paid += paid
    assert -balance(db.session, AccountKind.PAYOUTS_SENT, PLATFORM, "EUR").amount == total_paid


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=scenario)
def test_paid_plus_in_flight_plus_carried_equals_earnings(app: Flask, data) -> None:
    with app.app_context():
        _reset(app)
        brand = factories.brand("acme")
        product = factories.product(brand, "SKU-1")
        builder = factories.user(Role.FINANCE)
        approver = factories.user(Role.FINANCE)
        creators = []
        for n in range(3):
            creator = factories.creator(handle=f"c{n}")
            db.session.add(
                PayoutMethod(
                    creator_id=creator.id,
                    rail=Rail.SEPA,
                    iban="DE89370400440532013000",
                    bic="COBADEFFXXX",
                    account_holder=f"Creator {n}",
                )
            )
            creators.append(creator)
        links = [link_for(c, product.id) for c in creators]
        refs = []
        for n, (who, qty, price) in enumerate(data["orders"]):
            ref = f"O-{n}"
            record_order(
                db.session,
                brand.id,
                OrderIn.model_validate(
                    {
                        "order_id": ref,
                        "ordered_at": (NOW - timedelta(days=40)).isoformat(),
                        "currency": "EUR",
                        "click_id": click_on(links[who], at=NOW - timedelta(days=41)),
                        "lines": [{"sku": "SKU-1", "quantity": qty, "unit_price": price}],
                    }
                ),
                NOW,
            )
            refs.append(ref)
        db.session.commit()
        attribute_orders(db.session, NOW)
        approve_commissions(db.session, NOW)
        ids = [c.id for c in creators]
        _check(ids)
        refunded: set[str] = set()
        for step, (kind, arg) in enumerate(data["operations"]):
            if kind == "batch":
                batch = start_batch(
                    db.session, period_start=NOW.date(), period_end=NOW.date(), actor=builder
                )
                build_batch(db.session, batch, minimums={"EUR": 1})
                approve_batch(db.session, batch, approver, NOW)
                db.session.commit()
                execute_batch(db.session, batch.id, NOW)
                if arg:
                    for payout_file in db.session.scalars(
                        select(PayoutFile).where(PayoutFile.batch_id == batch.id)
                    ):
                        mark_file_paid(db.session, payout_file, approver, NOW)
                db.session.commit()
            elif kind == "return":
                paid = db.session.scalars(
                    select(Payout)
                    .where(Payout.status.in_([PayoutStatus.PAID, PayoutStatus.EXPORTED]))
                    .order_by(Payout.id)
                ).all()
                if paid:
                    payout = paid[arg % len(paid)]
                    record_returns(db.session, payout.batch, {payout.id: "closed"}, approver)
                    db.session.commit()
            else:
                ref = refs[arg % len(refs)]
                if ref not in refunded:
                    record_refund(
                        db.session,
                        brand.id,
                        ref,
                        RefundIn.model_validate(
                            {"idempotency_key": f"R-{step}", "refunded_at": NOW.isoformat()}
                        ),
                        NOW,
                    )
                    refunded.add(ref)
                    db.session.commit()
            _check(ids)
        db.session.remove()
