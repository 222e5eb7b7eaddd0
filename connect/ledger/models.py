"""The append-only double-entry ledger. Every movement of money is a journal of entries that
sums to zero per currency; balances are derived from entries, never stored as truth.

There is no UPDATE or DELETE path: the ORM refuses both (see `services.py`), and on PostgreSQL a
trigger from the migrations refuses them as well. Mistakes are corrected by reversing journals.
"""

from __future__ import annotations

import enum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, relationship

from connect.core.models import CreatedMixin, IdMixin, column
from connect.core.types import enum_type
from connect.extensions import db


class LedgerError(RuntimeError):
    """A posting breaks the ledger's rules; nothing was written."""


class AccountKind(enum.StrEnum):
    # Owed to a creator, by state. Credit-normal: a creator's balance is minus the entry sum.
    CREATOR_PENDING = "creator_pending"
    CREATOR_HELD = "creator_held"
    CREATOR_APPROVED = "creator_approved"
    CREATOR_IN_FLIGHT = "creator_in_flight"  # in a payout being executed
    # What a brand owes the platform for the commissions it generated. Debit-normal.
    BRAND_RECEIVABLE = "brand_receivable"
    # Money that left the platform to creators (Stripe transfers, bank and PayPal files).
    PAYOUTS_SENT = "payouts_sent"
    # Commissions above a campaign budget are recorded here and never paid.
    BUDGET_OVERFLOW = "budget_overflow"
    # Rounding differences from currency conversion land here, visibly.
    FX_ROUNDING = "fx_rounding"


class LedgerAccount(IdMixin, CreatedMixin, db.Model):
    __tablename__ = "ledger_accounts"
    __table_args__ = (
        UniqueConstraint("kind", "owner_id", "currency"),
        CheckConstraint("length(currency) = 3", name="currency_iso"),
    )

    kind: Mapped[AccountKind] = column(enum_type(AccountKind))
    #: creators.id for creator accounts, brands.id for brand accounts, 0 for platform accounts.
    owner_id: Mapped[int] = column(BigInteger, default=0)
    currency: Mapped[str] = column(String(3))


class Journal(IdMixin, CreatedMixin, db.Model):
    """One posting: the entries that move money for one cause."""

    __tablename__ = "ledger_journals"
    # Statements and the accounting export select journals by posting time.
    __table_args__ = (Index("ix_ledger_journals_created_at", "created_at"),)

    #: Derived from the cause (e.g. `accrue:line:42`), so posting twice is impossible.
    idempotency_key: Mapped[str] = column(String(120), unique=True)
    kind: Mapped[str] = column(String(40))
    memo: Mapped[str] = column(String(255), default="")

    entries: Mapped[list[LedgerEntry]] = relationship(back_populates="journal")


class LedgerEntry(IdMixin, db.Model):
    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("amount_minor <> 0", name="amount_non_zero"),
        CheckConstraint("length(currency) = 3", name="currency_iso"),
        Index("ix_ledger_entries_account", "account_id", "id"),
    )

    journal_id: Mapped[int] = column(ForeignKey("ledger_journals.id"), index=True)
    account_id: Mapped[int] = column(ForeignKey("ledger_accounts.id"))
    #: Signed: positive is a debit, negative a credit.
    #: The entries of a journal sum to zero per currency.
    amount_minor: Mapped[int] = column(BigInteger)
    currency: Mapped[str] = column(String(3))

    journal: Mapped[Journal] = relationship(back_populates="entries")
    account: Mapped[LedgerAccount] = relationship()


@event.listens_for(LedgerEntry, "before_update")
@event.listens_for(Journal, "before_update")
def _refuse_update(mapper: object, connection: object, target: object) -> None:
    raise LedgerError("ledger rows are append-only: post a reversing journal instead")


@event.listens_for(LedgerEntry, "before_delete")
@event.listens_for(Journal, "before_delete")
def _refuse_delete(mapper: object, connection: object, target: object) -> None:
    raise LedgerError("ledger rows are append-only: post a reversing journal instead")
