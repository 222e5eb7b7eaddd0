"""Posting to the ledger and reading balances from it.

`post` is the only way money moves. It is idempotent by key: posting the same cause twice
returns the first journal and writes nothing. Entries are never updated or deleted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import ARRAY, BigInteger, String, and_, bindparam, func, select, text
from sqlalchemy.orm import Session

from connect.core.db import copy_insert, copy_insert_new, dialect_name, upsert_insert
from connect.core.money import Money, MoneyError
from connect.core.time import utcnow
from connect.ledger.models import AccountKind, Journal, LedgerAccount, LedgerEntry, LedgerError

PLATFORM = 0  # owner_id of platform-wide accounts


@dataclass(frozen=True)
class Leg:
    kind: AccountKind
    owner_id: int
    money: Money  # signed: positive debit, negative credit


@dataclass(frozen=True)
class JournalSpec:
    key: str  # idempotency key, derived from the cause (e.g. `accrue:line:42`)
    kind: str
    legs: tuple[Leg, ...]
    memo: str = ""


def _check_balanced(spec: JournalSpec) -> None:
    if not any(leg.money.amount for leg in spec.legs):
        raise LedgerError(f"journal {spec.key} needs at least one non-zero leg")
    totals: dict[str, int] = defaultdict(int)
    for leg in spec.legs:
        totals[leg.money.currency] += leg.money.amount
    unbalanced = {c: t for c, t in totals.items() if t != 0}
    if unbalanced:
        raise LedgerError(f"journal {spec.key} does not balance: {unbalanced}")


AccountKey = tuple[AccountKind, int, str]  # (kind, owner id, currency)


def account_ids(session: Session, needed: Iterable[AccountKey]) -> dict[AccountKey, int]:
    """Ids of the ledger accounts for (kind, owner, currency), creating missing ones race-safely."""
    needed = set(needed)
    if not needed:
        return {}
    found = _lookup_accounts(session, needed)
    missing = needed - found.keys()
    if missing:
        session.execute(
            upsert_insert(session, LedgerAccount).on_conflict_do_nothing(),
            [{"kind": k.value, "owner_id": o, "currency": c} for k, o, c in sorted(missing)],
        )
        found.update(_lookup_accounts(session, missing))
    return found


def _lookup_accounts(session: Session, wanted: set[AccountKey]) -> dict[AccountKey, int]:
    columns = (LedgerAccount.id, LedgerAccount.kind, LedgerAccount.owner_id, LedgerAccount.currency)
    keys = sorted(wanted)
    if dialect_name(session) == "postgresql":
        # One probe of the (kind, owner, currency) key per account: IN lists on the three
        # columns would probe every combination of the kinds, owners and currencies asked for.
        given = (
            func.unnest(
                bindparam(None, [k.value for k, _, _ in keys], type_=ARRAY(String)),
                bindparam(None, [o for _, o, _ in keys], type_=ARRAY(BigInteger)),
                bindparam(None, [c for _, _, c in keys], type_=ARRAY(String)),
            )
            .table_valued("kind", "owner_id", "currency")
            .render_derived()
        )
        statements = [
            select(*columns).join(
                given,
                and_(
                    LedgerAccount.kind == given.c.kind,
                    LedgerAccount.owner_id == given.c.owner_id,
                    LedgerAccount.currency == given.c.currency,
                ),
            )
        ]
    else:
        # The SQLite first run binds one parameter per owner: chunked under its limit.
        owners = sorted({o for _, o, _ in keys})
        statements = [
            select(*columns).where(
                LedgerAccount.kind.in_({k for k, _, _ in keys}),
                LedgerAccount.owner_id.in_(owners[start : start + 10_000]),
                LedgerAccount.currency.in_({c for _, _, c in keys}),
            )
            for start in range(0, len(owners), 10_000)
        ]
    found: dict[AccountKey, int] = {}
    for statement in statements:
        for account_id, kind, owner_id, currency in session.execute(statement):
            key = (AccountKind(kind), owner_id, currency)
            if key in wanted:
                found[key] = account_id
    return found


def post_many(session: Session, specs: Sequence[JournalSpec]) -> dict[str, bool]:
    """Post balanced journals in bulk; a key already posted is skipped. Returns key -> created.

    Set-based (a handful of statements whatever the count), so batch jobs stay fast.
    """
    specs = [
        JournalSpec(s.key, s.kind, tuple(leg for leg in s.legs if leg.money.amount), s.memo)
        for s in specs
    ]
    for spec in specs:
        _check_balanced(spec)
    keys = [s.key for s in specs]
    if len(set(keys)) != len(keys):
        raise LedgerError("the same idempotency key twice in one posting")
    if not specs:
        return {}
    ids = account_ids(
        session,
        ((leg.kind, leg.owner_id, leg.money.currency) for s in specs for leg in s.legs),
    )
    now = utcnow()
    rows = copy_insert_new(
        session,
        Journal,
        [
            {"idempotency_key": s.key, "kind": s.kind, "memo": s.memo[:255], "created_at": now}
            for s in specs
        ],
        unique="idempotency_key",
        returning=("id", "idempotency_key"),
    )
    created = {key: journal_id for journal_id, key in rows}
    entries = [
        {
            "journal_id": created[s.key],
            "account_id": ids[(leg.kind, leg.owner_id, leg.money.currency)],
            "amount_minor": leg.money.amount,
            "currency": leg.money.currency,
        }
        for s in specs
        if s.key in created
        for leg in s.legs
    ]
    copy_insert(session, LedgerEntry, entries)
    return {key: key in created for key in keys}


def post(
    session: Session, *, key: str, kind: str, legs: Iterable[Leg], memo: str = ""
) -> tuple[Journal, bool]:
    """Post one balanced journal under idempotency `key`. Returns (journal, created)."""
    created = post_many(session, [JournalSpec(key, kind, tuple(legs), memo)])[key]
    journal = session.scalars(select(Journal).where(Journal.idempotency_key == key)).one()
    return journal, created


def account(session: Session, kind: AccountKind, owner_id: int, currency: str) -> LedgerAccount:
    """The ledger account for (kind, owner, currency), created on first use."""
    account_id = account_ids(session, [(kind, owner_id, currency)])[(kind, owner_id, currency)]
    return session.get(LedgerAccount, account_id)


def serialize_ledger(session: Session) -> None:
    """Make batch building, approvals and payout bookkeeping take turns (PostgreSQL advisory
    lock, released at commit): a balance read and the commissions it covers stay consistent."""
    if dialect_name(session) == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(727001)"))


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
