"""Paying creators out of their approved balance.

`pay_approved_balance` is the ledger step every payout rail shares: the approved balance of one
creator in one currency leaves the platform (Dr creator_approved, Cr payouts_sent) under the
payout's idempotency key, and the approved commissions it covers are marked paid. A negative
balance (refunds after payout) is carried: nothing is paid until it is positive again.
"""

from __future__ import annotations

import tempfile
from datetime import date, datetime

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from connect.accounts.models import User
from connect.audit.services import record
from connect.conversions.models import Commission, CommissionStatus
from connect.core.money import Money, exponent
from connect.core.progress import Progress, State
from connect.core.storage import Storage
from connect.creators.models import Creator, CreatorStatus
from connect.ledger.models import AccountKind, Journal, LedgerAccount, LedgerEntry
from connect.ledger.services import (
    PLATFORM,
    JournalSpec,
    Leg,
    balance,
    post_many,
    serialize_ledger,
)
from connect.payouts.files import (
    PAYPAL_MAX_ROWS,
    Debtor,
    FilePayment,
    paypal_payouts_csv,
    plain_csv,
    sepa_pain001,
)
from connect.payouts.models import (
    BatchStatus,
    Payout,
    PayoutBatch,
    PayoutFile,
    PayoutMethod,
    PayoutStatus,
    Rail,
)


def pay_approved_balance(session: Session, creator_id: int, currency: str, key: str) -> int:
    """Pay out the creator's whole approved balance in `currency`; returns the amount (minor
    units, 0 when nothing is payable). Running it again with the same key pays nothing."""
    if session.scalar(select(Journal.id).where(Journal.idempotency_key == key)) is not None:
        return 0
    serialize_ledger(session)
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


# --- payout batches ------------------------------------------------------------------------

# The rails Stripe Connect reaches with self-serve cross-border payouts; elsewhere, files.
STRIPE_COUNTRIES = frozenset(
    {
        "US",
        "GB",
        "CA",
        "CH",
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IE",
        "IT",
        "LV",
        "LI",
        "LT",
        "LU",
        "MT",
        "NL",
        "NO",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
        "IS",
    }
)
DEFAULT_MINIMUM_MAJOR = 50


class PayoutError(ValueError):
    """A payout action the rules refuse; the message is safe to show (a lazy string, translated
    when the view turns it into text)."""

    def __init__(self, message: object) -> None:
        super().__init__(message)

    def __str__(self) -> str:
        return str(self.args[0])


def stored_text(message: object) -> str:
    """A message as a stored record keeps it (a batch summary, the audit log): in English,
    whoever's request or job writes it."""
    with force_locale("en"):
        return str(message)


def minimum_minor(currency: str, minimums: dict[str, int] | None = None) -> int:
    """The smallest balance paid out in `currency` (configurable per currency; 50.00 default)."""
    if minimums and currency in minimums:
        return minimums[currency]
    return DEFAULT_MINIMUM_MAJOR * 10 ** exponent(currency)


def start_batch(
    session: Session, *, period_start: date, period_end: date, actor: User
) -> PayoutBatch:
    if period_end < period_start:
        raise PayoutError(_l("The period ends before it starts."))
    batch = PayoutBatch(
        period_start=period_start,
        period_end=period_end,
        status=BatchStatus.BUILDING,
        created_by_id=actor.id,
    )
    session.add(batch)
    session.flush()
    record(
        session,
        actor_id=actor.id,
        action="payout_batch.create",
        target=batch,
        data={"period": [period_start.isoformat(), period_end.isoformat()]},
    )
    return batch


#: Why a creator's own status keeps them from being paid (shown on their payout-method page).
_CREATOR_PROBLEMS = {
    CreatorStatus.PENDING: _l("creator pending"),
    CreatorStatus.SUSPENDED: _l("creator suspended"),
}


def _method_problem(
    creator: Creator, method: PayoutMethod | None, currency: str
) -> str | LazyString:
    """Why the creator cannot be paid in `currency` now, or "" when they can. A lazy string:
    the creator's page shows it translated; a batch summary stores its English text."""
    if creator.status != CreatorStatus.APPROVED:
        return _CREATOR_PROBLEMS.get(
            creator.status, _l("creator %(status)s", status=creator.status.value)
        )
    if method is None:
        return _l("no payout details")
    if method.rail == Rail.STRIPE:
        if not method.stripe_account_id or not method.payouts_enabled:
            return _l("Stripe onboarding not finished")
    elif method.rail == Rail.SEPA:
        if currency != "EUR":
            return _l("SEPA pays EUR only")
        if not method.iban:
            return _l("no IBAN")
    elif method.rail == Rail.PAYPAL and not method.paypal_email:
        return _l("no PayPal e-mail")
    elif method.rail == Rail.CSV and not method.iban:
        return _l("no bank account")
    return ""


def _destination(method: PayoutMethod) -> str:
    return {
        Rail.STRIPE: method.stripe_account_id,
        Rail.SEPA: method.iban,
        Rail.PAYPAL: method.paypal_email,
        Rail.CSV: method.iban,
    }[method.rail]


def build_batch(
    session: Session, batch: PayoutBatch, *, minimums: dict[str, int] | None = None
) -> dict[str, object]:
    """Plan one payout per creator and currency whose approved balance reaches the minimum.

    Each payout's amount is reserved at once (approved -> in flight) and the approved
    commissions it covers are locked to it, so no other batch can pay them. Balances below the
    minimum, negative ones and creators without usable payout details carry over.
    """
    if batch.status != BatchStatus.BUILDING:
        raise PayoutError(_l("A %(status)s batch cannot be built.", status=batch.status.value))
    serialize_ledger(session)
    owed = func.sum(LedgerEntry.amount_minor)
    balances = session.execute(
        select(LedgerAccount.owner_id, LedgerAccount.currency, -owed)
        .join(LedgerEntry, LedgerEntry.account_id == LedgerAccount.id)
        .where(LedgerAccount.kind == AccountKind.CREATOR_APPROVED)
        .group_by(LedgerAccount.owner_id, LedgerAccount.currency)
        .having(-owed > 0)
    ).all()
    due = [(c, cur, int(a)) for c, cur, a in balances if a >= minimum_minor(cur, minimums)]
    creator_ids = {c for c, _, _ in due}
    creators, methods = {}, {}
    for start in range(0, len(creator_ids), 5000):
        chunk = list(creator_ids)[start : start + 5000]
        creators.update(
            (c.id, c) for c in session.scalars(select(Creator).where(Creator.id.in_(chunk)))
        )
        methods.update(
            (m.creator_id, m)
            for m in session.scalars(select(PayoutMethod).where(PayoutMethod.creator_id.in_(chunk)))
        )
    rows, exceptions = [], []
    for creator_id, currency, amount in due:
        method = methods.get(creator_id)
        problem = _method_problem(creators[creator_id], method, currency)
        if problem:
            exceptions.append(
                {
                    "creator_id": creator_id,
                    "currency": currency,
                    "amount": amount,
                    "problem": stored_text(problem),
                }
            )
            continue
        rows.append(
            {
                "batch_id": batch.id,
                "creator_id": creator_id,
                "amount_minor": amount,
                "currency": currency,
                "rail": method.rail,
                "status": PayoutStatus.PLANNED,
                "idempotency_key": f"payout-{batch.id}-{creator_id}-{currency}",
                "destination": _destination(method),
            }
        )
    if rows:
        session.execute(insert(Payout), rows)
    planned = session.execute(
        select(Payout.id, Payout.creator_id, Payout.amount_minor, Payout.currency).where(
            Payout.batch_id == batch.id
        )
    ).all()
    post_many(
        session,
        [
            _payout_journal(pid, creator_id, Money(amount, currency), "reserve")
            for pid, creator_id, amount, currency in planned
        ],
    )
    same_payout = (
        select(Payout.id)
        .where(
            Payout.batch_id == batch.id,
            Payout.creator_id == Commission.creator_id,
            Payout.currency == Commission.currency,
        )
        .scalar_subquery()
    )
    session.execute(
        update(Commission)
        .where(Commission.status == CommissionStatus.APPROVED, Commission.payout_id.is_(None))
        .values(payout_id=same_payout)
        .execution_options(synchronize_session=False)
    )
    totals: dict[str, dict[str, int]] = {}
    for row in rows:
        by_currency = totals.setdefault(row["rail"].value, {})
        by_currency[row["currency"]] = by_currency.get(row["currency"], 0) + row["amount_minor"]
    batch.summary = {
        "payouts": len(rows),
        "totals": totals,
        "exceptions": exceptions[:1000],
        "exception_count": len(exceptions),
    }
    batch.status = BatchStatus.REVIEW
    return batch.summary


BUILD_FAILED = (
    "The batch could not be built because of an internal error; nothing was reserved. "
    "It is built from scratch when its job runs again."
)
EXECUTE_FAILED = (
    "Paying the batch stopped on an internal error. Payouts already sent stay sent; "
    "executing the batch again continues with the others (nobody is paid twice)."
)


def mark_batch_failed(session: Session, batch_id: int, message: str) -> None:
    """Note why the batch's job stopped, for its progress bar (flushes; the caller commits)."""
    batch = session.get(PayoutBatch, batch_id)
    if batch is not None:
        batch.error = message
        session.flush()


def batch_progress(session: Session, batch: PayoutBatch, result_url: str = "") -> Progress:
    """Where the batch's current job stands, read from durable state: while it is built (one
    transaction, so no count to show), and while it is paid (payouts no longer planned or
    sending, out of all its payouts)."""
    if batch.status in (BatchStatus.BUILDING, BatchStatus.EXECUTING):
        if batch.error:
            return Progress(State.FAILED, message=batch.error)
        if batch.status == BatchStatus.BUILDING:
            return Progress(State.RUNNING)
    counts = dict(
        session.execute(
            select(Payout.status, func.count())
            .where(Payout.batch_id == batch.id)
            .group_by(Payout.status)
        ).all()
    )
    total = sum(n for status, n in counts.items() if status != PayoutStatus.CANCELLED)
    if batch.status == BatchStatus.EXECUTING:
        waiting = counts.get(PayoutStatus.PLANNED, 0) + counts.get(PayoutStatus.SENDING, 0)
        return Progress(State.RUNNING, done=total - waiting, total=total)
    return Progress(State.DONE, done=total, total=total, result_url=result_url)


# The journals of a payout's life, keyed by payout id and step: each happens at most once.
_PAYOUT_LEGS = {
    "reserve": (AccountKind.CREATOR_APPROVED, AccountKind.CREATOR_IN_FLIGHT),
    "paid": (AccountKind.CREATOR_IN_FLIGHT, AccountKind.PAYOUTS_SENT),
    "returned": (AccountKind.CREATOR_IN_FLIGHT, AccountKind.CREATOR_APPROVED),
    "reversed": (AccountKind.PAYOUTS_SENT, AccountKind.CREATOR_APPROVED),
}


def _payout_journal(payout_id: int, creator_id: int, money: Money, step: str) -> JournalSpec:
    debit, credit = _PAYOUT_LEGS[step]
    owner = {AccountKind.PAYOUTS_SENT: PLATFORM}
    return JournalSpec(
        key=f"payout:{payout_id}:{step}",
        kind=f"payout_{step}",
        legs=(
            Leg(debit, owner.get(debit, creator_id), money),
            Leg(credit, owner.get(credit, creator_id), -money),
        ),
    )


def approve_batch(session: Session, batch: PayoutBatch, actor: User, now: datetime) -> None:
    """Finance's second pair of eyes: never the person who built the batch."""
    if batch.status != BatchStatus.REVIEW:
        raise PayoutError(_l("A %(status)s batch cannot be approved.", status=batch.status.value))
    if actor.id == batch.created_by_id:
        raise PayoutError(_l("The person who built a batch cannot approve it (four-eyes rule)."))
    batch.status = BatchStatus.APPROVED
    batch.approved_by_id = actor.id
    batch.approved_at = now
    record(
        session,
        actor_id=actor.id,
        action="payout_batch.approve",
        target=batch,
        data={"summary": batch.summary.get("totals", {})},
    )


def cancel_batch(session: Session, batch: PayoutBatch, actor: User) -> None:
    """Drop a batch before execution: every reserved amount returns, commissions unlock."""
    if batch.status not in {BatchStatus.REVIEW, BatchStatus.APPROVED}:
        raise PayoutError(_l("A %(status)s batch cannot be cancelled.", status=batch.status.value))
    serialize_ledger(session)
    payouts = session.scalars(
        select(Payout).where(Payout.batch_id == batch.id, Payout.status == PayoutStatus.PLANNED)
    ).all()
    post_many(
        session,
        [
            _payout_journal(p.id, p.creator_id, Money(p.amount_minor, p.currency), "returned")
            for p in payouts
        ],
    )
    for payout in payouts:
        payout.status = PayoutStatus.CANCELLED
    _unlock_commissions(session, [p.id for p in payouts])
    batch.status = BatchStatus.CANCELLED
    record(session, actor_id=actor.id, action="payout_batch.cancel", target=batch)


def _unlock_commissions(session: Session, payout_ids: list[int]) -> None:
    if payout_ids:
        session.execute(
            update(Commission)
            .where(Commission.payout_id.in_(payout_ids))
            .values(payout_id=None, status=CommissionStatus.APPROVED)
            .execution_options(synchronize_session=False)
        )


def mark_paid(session: Session, payout: Payout, *, provider_ref: str, now: datetime) -> bool:
    """The money left: in flight -> sent, commissions paid. False if it already was."""
    if payout.status == PayoutStatus.PAID:
        return False
    if payout.status not in {PayoutStatus.PLANNED, PayoutStatus.SENDING, PayoutStatus.EXPORTED}:
        raise PayoutError(f"A {payout.status} payout cannot be marked paid.")
    post_many(
        session,
        [
            _payout_journal(
                payout.id, payout.creator_id, Money(payout.amount_minor, payout.currency), "paid"
            )
        ],
    )
    payout.status = PayoutStatus.PAID
    payout.provider_ref = provider_ref or payout.provider_ref
    payout.paid_at = now
    session.execute(
        update(Commission)
        .where(Commission.payout_id == payout.id, Commission.status == CommissionStatus.APPROVED)
        .values(status=CommissionStatus.PAID)
        .execution_options(synchronize_session=False)
    )
    return True


def fail_payout(session: Session, payout: Payout, reason: str) -> bool:
    """The payout did not (or no longer does) reach the creator: its amount returns to their
    approved balance, exactly once, and its commissions can be paid by a later batch."""
    if payout.status == PayoutStatus.FAILED:
        return False
    money = Money(payout.amount_minor, payout.currency)
    step = "reversed" if payout.status == PayoutStatus.PAID else "returned"
    if payout.status not in {
        PayoutStatus.PLANNED,
        PayoutStatus.SENDING,
        PayoutStatus.EXPORTED,
        PayoutStatus.PAID,
    }:
        raise PayoutError(f"A {payout.status} payout cannot fail.")
    post_many(session, [_payout_journal(payout.id, payout.creator_id, money, step)])
    payout.status = PayoutStatus.FAILED
    payout.failure_reason = reason[:255]
    _unlock_commissions(session, [payout.id])
    return True


# --- bank and PayPal files -------------------------------------------------------------------

FILE_FORMATS = {
    Rail.SEPA: ("xml", "application/xml"),
    Rail.PAYPAL: ("csv", "text/csv"),
    Rail.CSV: ("csv", "text/csv"),
}


def debtor_from_config(config: dict[str, object]) -> Debtor:
    return Debtor(
        name=str(config["PAYOUT_DEBTOR_NAME"]),
        iban=str(config["PAYOUT_DEBTOR_IBAN"]),
        bic=str(config["PAYOUT_DEBTOR_BIC"]),
        country=str(config["PAYOUT_DEBTOR_COUNTRY"]),
    )


def export_files(
    session: Session, batch: PayoutBatch, *, store: Storage, debtor: Debtor, now: datetime
) -> list[PayoutFile]:
    """Write one file per file rail and currency of the batch's planned payouts, store it, and
    mark those payouts exported. A (batch, rail, currency) already exported is skipped, so a
    re-run after a crash writes each file once."""
    groups = session.execute(
        select(Payout.rail, Payout.currency)
        .where(
            Payout.batch_id == batch.id,
            Payout.status == PayoutStatus.PLANNED,
            Payout.rail.in_(list(FILE_FORMATS)),
        )
        .group_by(Payout.rail, Payout.currency)
        .order_by(Payout.rail, Payout.currency)
    ).all()
    written = []
    for rail, currency in groups:
        rows = session.execute(
            select(Payout, PayoutMethod, Creator.display_name, Creator.country)
            .join(PayoutMethod, PayoutMethod.creator_id == Payout.creator_id)
            .join(Creator, Creator.id == Payout.creator_id)
            .where(
                Payout.batch_id == batch.id,
                Payout.rail == rail,
                Payout.currency == currency,
                Payout.status == PayoutStatus.PLANNED,
            )
            .order_by(Payout.id)
        ).all()
        payments = [
            FilePayment(
                payout_id=p.id,
                idempotency_key=p.idempotency_key,
                creator_name=m.account_holder or name,
                amount_minor=p.amount_minor,
                currency=p.currency,
                iban=m.iban,
                bic=m.bic,
                paypal_email=m.paypal_email,
                country=country,
                reference=f"Connect payout {batch.period_end:%Y-%m} #{p.id}",
            )
            for p, m, name, country in rows
        ]
        payouts = [p for p, *_ in rows]
        size = PAYPAL_MAX_ROWS if rail == Rail.PAYPAL else max(len(payments), 1)
        parts = [(n, start) for n, start in enumerate(range(0, len(payments), size), start=1)]
        for part, start in parts:
            suffix = f"-part{part}" if len(parts) > 1 else ""
            written.append(
                _write_file(
                    session,
                    batch,
                    rail,
                    currency,
                    part,
                    suffix,
                    payments[start : start + size],
                    payouts[start : start + size],
                    store=store,
                    debtor=debtor,
                    now=now,
                )
            )
    session.flush()
    return written


def _write_file(
    session: Session,
    batch: PayoutBatch,
    rail: Rail,
    currency: str,
    part: int,
    suffix: str,
    payments: list[FilePayment],
    payouts: list[Payout],
    *,
    store: Storage,
    debtor: Debtor,
    now: datetime,
) -> PayoutFile:
    extension, content_type = FILE_FORMATS[rail]
    batch_ref = f"CONNECT-B{batch.id}-{rail.value.upper()}-{currency}{suffix.upper()}"[:35]
    # Spooled: small files stay in memory, big ones go to disk; never the whole batch twice.
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as out:
        if rail == Rail.SEPA:
            summary = sepa_pain001(batch_ref, now, now.date(), debtor, payments, out)
        elif rail == Rail.PAYPAL:
            summary = paypal_payouts_csv(batch_ref, payments, out)
        else:
            summary = plain_csv(batch_ref, payments, out)
        out.seek(0)
        key = f"payout-files/batch-{batch.id}/{rail.value}-{currency}{suffix}.{extension}"
        sha256 = store.put(key, out, content_type)
    if sha256 != summary.sha256:
        raise PayoutError(f"stored file {key} does not match what was written")
    payout_file = PayoutFile(
        batch_id=batch.id,
        rail=rail,
        currency=currency,
        part=part,
        storage_key=key,
        sha256=sha256,
        payments=summary.count,
        total_minor=summary.total_minor,
    )
    session.add(payout_file)
    session.flush()
    for payout in payouts:
        payout.status = PayoutStatus.EXPORTED
        payout.file_id = payout_file.id
    return payout_file


def mark_file_paid(session: Session, payout_file: PayoutFile, actor: User, now: datetime) -> int:
    """Finance confirms the bank or PayPal executed the file: its exported payouts are paid."""
    payouts = session.scalars(
        select(Payout).where(
            Payout.file_id == payout_file.id, Payout.status == PayoutStatus.EXPORTED
        )
    ).all()
    for payout in payouts:
        mark_paid(session, payout, provider_ref=f"file:{payout_file.id}", now=now)
    record(
        session,
        actor_id=actor.id,
        action="payout_file.paid",
        target=payout_file,
        data={"payouts": len(payouts)},
    )
    return len(payouts)


def record_returns(
    session: Session, batch: PayoutBatch, returns: dict[int, str], actor: User
) -> tuple[int, list[LazyString]]:
    """A bank's return list (payout id -> reason): each listed payout of this batch fails and
    its amount goes back to the creator, once. Returns (failed, problems); the problems are
    lazy strings, translated when shown."""
    problems: list[LazyString] = []
    failed = 0
    payouts = {
        p.id: p
        for p in session.scalars(
            select(Payout).where(Payout.batch_id == batch.id, Payout.id.in_(list(returns)))
        )
    }
    for payout_id, reason in returns.items():
        payout = payouts.get(payout_id)
        if payout is None:
            problems.append(_l("payout %(id)s is not in this batch", id=payout_id))
        elif payout.rail == Rail.STRIPE:
            problems.append(_l("payout %(id)s was paid by Stripe, not by file", id=payout_id))
        elif payout.status not in {PayoutStatus.EXPORTED, PayoutStatus.PAID}:
            problems.append(
                _l("payout %(id)s is %(status)s", id=payout_id, status=payout.status.value)
            )
        else:
            failed += fail_payout(session, payout, f"bank return: {reason}"[:255])
    record(
        session,
        actor_id=actor.id,
        action="payout_batch.returns",
        target=batch,
        data={"failed": failed, "problems": [stored_text(p) for p in problems[:50]]},
    )
    return failed, problems
