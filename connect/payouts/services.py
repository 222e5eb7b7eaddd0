"""Paying creators out of their approved balance.

`pay_approved_balance` is the ledger step every payout rail shares: the approved balance of one
creator in one currency leaves the platform (Dr creator_approved, Cr payouts_sent) under the
payout's idempotency key, and the approved commissions it covers are marked paid. A negative
balance (refunds after payout) is carried: nothing is paid until it is positive again.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from connect.conversions.models import Commission, CommissionStatus
from connect.core.money import Money
from connect.ledger.models import AccountKind, Journal
from connect.ledger.services import PLATFORM, JournalSpec, Leg, balance, post_many


def pay_approved_balance(session: Session, creator_id: int, currency: str, key: str) -> int:
    """Pay out the creator's whole approved balance in `currency`; returns the amount (minor
    units, 0 when nothing is payable). Running it again with the same key pays nothing."""
    if session.scalar(select(Journal.id).where(Journal.idempotency_key == key)) is not None:
        return 0
    # Lock the approved commissions first and mark exactly those paid: one approved by a
    # concurrent job after this point stays approved for the next payout.
    covered = session.scalars(
        select(Commission.id)
        .where(
            Commission.creator_id == creator_id,
            Commission.currency == currency,
            Commission.status == CommissionStatus.APPROVED,
        )
        .with_for_update()
    ).all()
    owed = -balance(session, AccountKind.CREATOR_APPROVED, creator_id, currency).amount
    if owed <= 0:
        return 0
    money = Money(owed, currency)
    post_many(
        session,
        [
            JournalSpec(
                key=key,
                kind="payout",
                legs=(
                    Leg(AccountKind.CREATOR_APPROVED, creator_id, money),
                    Leg(AccountKind.PAYOUTS_SENT, PLATFORM, -money),
                ),
            )
        ],
    )
    session.execute(
        update(Commission).where(Commission.id.in_(covered)).values(status=CommissionStatus.PAID)
    )
    return owed
