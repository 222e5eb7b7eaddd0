"""Executing approved payout batches. The job owns its transactions.

Stripe payouts: the payout's idempotency key was stored when the batch was built, long before
any call. Each payout is marked `sending` and committed, then Stripe is called with that key, then
the result is committed. Killed anywhere, the next run calls Stripe again with the same key and
gets the same transfer back: nobody is paid twice.
"""

from __future__ import annotations

import logging
from datetime import datetime

import stripe
from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from connect.core.storage import storage
from connect.payouts.gateway import PERMANENT_ERRORS, StripeNotConfigured, gateway
from connect.payouts.models import BatchStatus, Payout, PayoutBatch, PayoutStatus, Rail
from connect.payouts.services import (
    PayoutError,
    debtor_from_config,
    export_files,
    fail_payout,
    mark_paid,
)

log = logging.getLogger(__name__)


def execute_batch(session: Session, batch_id: int, now: datetime) -> dict[str, int]:
    batch = session.get(PayoutBatch, batch_id)
    if batch is None:
        raise PayoutError(f"no batch {batch_id}")
    if batch.status == BatchStatus.DONE:
        return {"paid": 0, "failed": 0, "retry": 0, "files": 0}
    if batch.status not in {BatchStatus.APPROVED, BatchStatus.EXECUTING}:
        raise PayoutError(f"A {batch.status} batch cannot be executed.")
    batch.status = BatchStatus.EXECUTING
    batch.error = ""  # a new run: the last one's reason no longer holds
    session.commit()
    counts = {"paid": 0, "failed": 0, "retry": 0}
    stripe_payouts = session.scalars(
        select(Payout)
        .where(
            Payout.batch_id == batch_id,
            Payout.rail == Rail.STRIPE,
            Payout.status.in_([PayoutStatus.PLANNED, PayoutStatus.SENDING]),
        )
        .order_by(Payout.id)
    ).all()
    for payout in stripe_payouts:
        counts[pay_with_stripe(session, payout, now)] += 1
    files = export_files(
        session, batch, store=storage(), debtor=debtor_from_config(current_app.config), now=now
    )
    session.commit()
    counts["files"] = len(files)
    if counts["retry"] == 0 and not _unsent(session, batch_id):
        batch.status = BatchStatus.DONE
    session.commit()
    return counts


def _unsent(session: Session, batch_id: int) -> int:
    return len(
        session.scalars(
            select(Payout.id).where(
                Payout.batch_id == batch_id,
                Payout.status.in_([PayoutStatus.PLANNED, PayoutStatus.SENDING]),
            )
        ).all()
    )


def pay_with_stripe(session: Session, payout: Payout, now: datetime) -> str:
    """One Stripe transfer; returns "paid", "failed" or "retry" (nothing known yet)."""
    try:
        stripe_gateway = gateway()
    except StripeNotConfigured:
        log.error("Stripe is not configured; payout %s waits", payout.id)
        return "retry"
    payout.status = PayoutStatus.SENDING
    session.commit()  # from here on, a crash leaves it `sending`: retried with the same key
    try:
        transfer_id = stripe_gateway.transfer(
            amount_minor=payout.amount_minor,
            currency=payout.currency,
            destination=payout.destination,
            idempotency_key=payout.idempotency_key,
            payout_id=payout.id,
        )
    except PERMANENT_ERRORS as exc:
        fail_payout(session, payout, f"Stripe: {exc.user_message or exc}")
        session.commit()
        return "failed"
    except stripe.StripeError as exc:
        # Network trouble, Stripe 5xx, rate limits, an idempotency clash: try again later.
        payout.failure_reason = f"retrying: {type(exc).__name__}"[:255]
        session.commit()
        log.warning("payout %s: %s; will retry with the same key", payout.id, exc)
        return "retry"
    mark_paid(session, payout, provider_ref=transfer_id, now=now)
    payout.failure_reason = ""
    session.commit()
    return "paid"
