"""Stripe webhooks: verified in the view, recorded by event id, dispatched by type.

A repeated delivery of an event finds its id already recorded and does nothing. Handlers look the
object up by Stripe's id, so they are harmless to run twice anyway.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import stripe
from sqlalchemy import select
from sqlalchemy.orm import Session

from connect.core.db import upsert_insert
from connect.payouts.models import Payout, PayoutMethod, PayoutStatus, StripeEvent
from connect.payouts.services import fail_payout

log = logging.getLogger(__name__)
TOLERANCE_SECONDS = 300


class WebhookRejected(ValueError):
    """The delivery is not a fresh, authentic Stripe event."""


def verify(payload: bytes, signature_header: str, secret: str, now: float | None = None) -> dict:
    """The event, if Stripe signed this payload within the last five minutes (and not later)."""
    now = time.time() if now is None else now
    stamps = [p[2:] for p in signature_header.split(",") if p.startswith("t=")]
    if not stamps or not stamps[0].isdigit():
        raise WebhookRejected("no timestamp in the Stripe-Signature header")
    # construct_event refuses old timestamps; one from the future is refused here.
    if int(stamps[0]) > now + TOLERANCE_SECONDS:
        raise WebhookRejected("the event timestamp is in the future")
    try:
        event = stripe.Webhook.construct_event(
            payload, signature_header, secret, tolerance=TOLERANCE_SECONDS
        )
    except stripe.SignatureVerificationError as exc:
        raise WebhookRejected(str(exc)) from exc
    except ValueError as exc:
        raise WebhookRejected("the payload is not JSON") from exc
    return event.to_dict()


def handle_event(session: Session, event: dict[str, Any], now: datetime) -> str:
    """Record the event by id and apply it once. Returns what happened, for the log."""
    event_id = str(event.get("id", ""))
    if not event_id:
        raise WebhookRejected("the event has no id")
    inserted = session.execute(
        upsert_insert(session, StripeEvent)
        .values(event_id=event_id, type=str(event.get("type", "")), received_at=now, payload=event)
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(StripeEvent.id)
    ).first()
    if inserted is None:
        return "duplicate"
    handler = HANDLERS.get(str(event.get("type")))
    if handler is None:
        return "ignored"
    return handler(session, event["data"]["object"])


def _account_updated(session: Session, account: dict[str, Any]) -> str:
    method = session.scalar(
        select(PayoutMethod).where(PayoutMethod.stripe_account_id == account.get("id"))
    )
    if method is None:
        return "unknown account"
    method.payouts_enabled = bool(account.get("payouts_enabled"))
    return f"payouts_enabled={method.payouts_enabled}"


def _transfer_reversed(session: Session, transfer: dict[str, Any]) -> str:
    payout = session.scalar(select(Payout).where(Payout.provider_ref == transfer.get("id")))
    if payout is None:
        return "unknown transfer"
    if payout.status == PayoutStatus.FAILED:
        return "already returned"
    reversed_amount = int(transfer.get("amount_reversed") or 0)
    if reversed_amount < payout.amount_minor:
        # A partial reversal is not something Connect issues; leave it to finance.
        log.error("partial reversal of payout %s (%s)", payout.id, reversed_amount)
        return "partial reversal: needs finance"
    fail_payout(session, payout, "Stripe transfer reversed")
    return "returned"


HANDLERS: dict[str, Callable[[Session, dict[str, Any]], str]] = {
    "account.updated": _account_updated,
    "transfer.reversed": _transfer_reversed,
}
