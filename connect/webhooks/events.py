"""What each event tells a brand, built from the rows that caused it.

Amounts are integers in minor units beside their currency (`{"amount": 1250, "currency":
"EUR"}`); people and things are referred to by id. No creator's private data (e-mail, name,
payout details) is ever in a payload. The order is the brand's own order id (`order_id`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connect.campaigns.models import Campaign
from connect.content.models import Content
from connect.conversions.models import Commission, Order
from connect.webhooks.services import (
    COMMISSION_APPROVED,
    COMMISSION_REVERSED,
    CONTENT_SUBMITTED,
    CONVERSION_ATTRIBUTED,
    emit,
    emit_many,
    subscriptions,
)


def money(amount: int, currency: str) -> dict[str, Any]:
    return {"amount": amount, "currency": currency}


def conversions_attributed(
    session: Session,
    orders: Iterable[Any],
    attributed: Sequence[dict[str, Any]],
    commissions: Sequence[dict[str, Any]],
) -> None:
    """One `conversion.attributed` per attributed order of an attribution batch: `orders` are the
    batch's order rows as read, `attributed` the changes written to them (id, creator_id,
    campaign_id, link_id), `commissions` the rows the batch inserted."""
    orders = list(orders)
    subscribed = subscriptions(session, {order.brand_id for order in orders})
    # Most brands subscribe to nothing: build payloads only for those that do.
    orders = [o for o in orders if subscribed.get((o.brand_id, CONVERSION_ATTRIBUTED))]
    if not orders:
        return
    by_order: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in commissions:
        by_order[row["order_id"]].append(row)
    outcome = {change["id"]: change for change in attributed}
    items = []
    for order in orders:
        rows, change = by_order.get(order.id), outcome.get(order.id)
        if not rows or change is None:
            continue
        items.append(
            (
                order.brand_id,
                CONVERSION_ATTRIBUTED,
                {
                    "order_id": order.external_id,
                    "ordered_at": order.ordered_at.isoformat(),
                    "creator_id": change["creator_id"],
                    "campaign_id": change["campaign_id"],
                    "link_id": change["link_id"],
                    "order_total": money(sum(r["base_minor"] for r in rows), order.currency),
                    "commission": money(sum(r["amount_minor"] for r in rows), rows[0]["currency"]),
                    "commission_status": "held"
                    if any(r["hold_reason"] for r in rows)
                    else "pending",
                },
            )
        )
    emit_many(session, items, subscribed)


def commissions_changed(
    session: Session, event: str, changes: Sequence[tuple[Commission, int]]
) -> None:
    """`commission.approved` or `commission.reversed` for (commission, amount) pairs: the amount
    approved, or the amount this reversal took back."""
    subscribed = subscriptions(session, {c.brand_id for c, _ in changes})
    # Most brands subscribe to nothing: no order lookup for them.
    changes = [(c, amount) for c, amount in changes if subscribed.get((c.brand_id, event))]
    if not changes:
        return
    refs = dict(
        session.execute(
            select(Order.id, Order.external_id).where(
                Order.id.in_({c.order_id for c, _ in changes})
            )
        ).all()
    )
    emit_many(
        session,
        [
            (
                c.brand_id,
                event,
                {
                    "commission_id": c.id,
                    "order_id": refs.get(c.order_id),
                    "creator_id": c.creator_id,
                    "campaign_id": c.campaign_id,
                    "status": c.status.value,
                    "amount": money(amount, c.currency),
                    "net": money(c.amount_minor - c.reversed_minor, c.currency),
                },
            )
            for c, amount in changes
        ],
        subscribed,
    )


def commissions_approved(session: Session, commissions: Sequence[Commission]) -> None:
    commissions_changed(
        session,
        COMMISSION_APPROVED,
        [(c, c.amount_minor - c.reversed_minor) for c in commissions],
    )


def commissions_reversed(session: Session, changes: Sequence[tuple[Commission, int]]) -> None:
    commissions_changed(session, COMMISSION_REVERSED, changes)


def content_submitted(session: Session, content: Content, campaign: Campaign) -> None:
    """A creator's piece waits for the brand's review."""
    emit(
        session,
        campaign.brand_id,
        CONTENT_SUBMITTED,
        {
            "content_id": content.id,
            "campaign_id": campaign.id,
            "creator_id": content.creator_id,
            "kind": content.kind.value,
            "title": content.title,
            "language": content.language,
            "product_ids": [p.product_id for p in content.products],
        },
    )
