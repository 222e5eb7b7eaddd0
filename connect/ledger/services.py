"""Posting to the ledger and reading balances from it.

`post` is the only way money moves. It is idempotent by key: posting the same cause twice
returns the first journal and writes nothing. Entries are never updated or deleted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connect.core.db import upsert_insert
from connect.core.money import Money, MoneyError
from connect.ledger.models import AccountKind, Journal, LedgerAccount, LedgerEntry, LedgerError

PLATFORM = 0  # owner_id of platform-wide accounts


@dataclass(frozen=True)
class Leg:
    kind: AccountKind
    owner_id: int
    money: Money  # signed: positive debit, negative credit


def account(session: Session, kind: AccountKind, owner_id: int, currency: str) -> LedgerAccount:
    """The ledger account for (kind, owner, currency), created on first use, race-safe."""
    found = session.scalar(
        select(LedgerAccount).where(
            LedgerAccount.kind == kind,
            LedgerAccount.owner_id == owner_id,
            LedgerAccount.currency == currency,
        )
    )
    if found is not None:
        return found
    session.execute(
        upsert_insert(session, LedgerAccount)
        .values(kind=kind.value, owner_id=owner_id, currency=currency)
        .on_conflict_do_nothing()
    )
    return session.scalars(
        select(LedgerAccount).where(
            LedgerAccount.kind == kind,
            LedgerAccount.owner_id == owner_id,
            LedgerAccount.currency == currency,
        )
    ).one()


def post(
    session: Session, *, key: str, kind: str, legs: Iterable[Leg], memo: str = ""
) -> tuple[Journal, bool]:
    """Post a balanced journal under idempotency `key`. Returns (journal, created)."""
    existing = session.scalar(select(Journal).where(Journal.idempotency_key == key))
    if existing is not None:
        return existing, False
    legs = [leg for leg in legs if leg.money.amount != 0]
    if not legs:
        raise LedgerError("a journal needs at least one non-zero leg")
    totals: dict[str, int] = defaultdict(int)
    for leg in legs:
        totals[leg.money.currency] += leg.money.amount
    unbalanced = {c: t for c, t in totals.items() if t != 0}
    if unbalanced:
        raise LedgerError(f"journal {key} does not balance: {unbalanced}")
    # A savepoint makes a concurrent duplicate (unique key) fail alone, not the whole request.
    with session.begin_nested():
        journal = Journal(idempotency_key=key, kind=kind, memo=memo[:255])
        session.add(journal)
        session.flush()
        session.add_all(
            LedgerEntry(
                journal_id=journal.id,
                account_id=account(session, leg.kind, leg.owner_id, leg.money.currency).id,
                amount_minor=leg.money.amount,
                currency=leg.money.currency,
            )
            for leg in legs
        )
        session.flush()
    return journal, True


def balance(session: Session, kind: AccountKind, owner_id: int, currency: str) -> Money:
    """Sum of entries on one account (debit-positive)."""
    total = session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0))
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(
            LedgerAccount.kind == kind,
            LedgerAccount.owner_id == owner_id,
            LedgerAccount.currency == currency,
        )
    )
    return Money(int(total), currency)


def balances_by_kind(
    session: Session, owner_ids: list[int] | None = None
) -> list[tuple[str, str, int]]:
    """(kind, currency, sum) over all accounts, or over the given owners' accounts."""
    stmt = (
        select(LedgerAccount.kind, LedgerAccount.currency, func.sum(LedgerEntry.amount_minor))
        .join(LedgerEntry, LedgerEntry.account_id == LedgerAccount.id)
        .group_by(LedgerAccount.kind, LedgerAccount.currency)
        .order_by(LedgerAccount.currency, LedgerAccount.kind)
    )
    if owner_ids is not None:
        stmt = stmt.where(LedgerAccount.owner_id.in_(owner_ids))
    return [(str(k), c, int(s)) for k, c, s in session.execute(stmt)]


def creator_balances(session: Session, creator_id: int) -> dict[str, dict[str, Money]]:
    """What the platform owes one creator, by currency and state (positive = owed)."""
    kinds = {
        AccountKind.CREATOR_PENDING: "pending",
        AccountKind.CREATOR_HELD: "held",
        AccountKind.CREATOR_APPROVED: "approved",
        AccountKind.CREATOR_IN_FLIGHT: "in_flight",
    }
    rows = session.execute(
        select(LedgerAccount.kind, LedgerAccount.currency, func.sum(LedgerEntry.amount_minor))
        .join(LedgerEntry, LedgerEntry.account_id == LedgerAccount.id)
        .where(LedgerAccount.owner_id == creator_id, LedgerAccount.kind.in_(list(kinds)))
        .group_by(LedgerAccount.kind, LedgerAccount.currency)
    )
    out: dict[str, dict[str, Money]] = {}
    for kind, currency, total in rows:
        # Creator accounts are credit-normal: what is owed is minus the entry sum.
        out.setdefault(currency, {})[kinds[kind]] = Money(-int(total), currency)
    return out


__all__ = ["PLATFORM", "LedgerError", "Leg", "MoneyError", "account", "balance", "post"]
