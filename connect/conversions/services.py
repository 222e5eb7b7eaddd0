"""Orders and refunds from brands, and the commission lifecycle on the ledger.

Every function takes the session and explicit arguments, flushes, and never commits. Money moves
only through ledger journals whose idempotency keys come from their cause, so running any of
these twice posts nothing twice.

Ledger legs (creator accounts are credit-normal; a brand's receivable is debit-normal):

    accrue      Dr brand_receivable        Cr creator_pending (or creator_held)
    release     Dr creator_held            Cr creator_pending
    reject      Dr creator_held            Cr brand_receivable
    approve     Dr creator_pending         Cr creator_approved
    reverse     Dr creator_<state>         Cr brand_receivable   (approved may go negative)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from connect.brands.models import Product
from connect.conversions.models import (
    Commission,
    CommissionStatus,
    Order,
    OrderLine,
    Refund,
    RefundLine,
)
from connect.conversions.schemas import OrderIn, RefundIn
from connect.core.jobs import enqueue_after_commit
from connect.core.money import Money
from connect.core.security import keyed_hash
from connect.ledger.models import AccountKind
from connect.ledger.services import JournalSpec, Leg, post_many, serialize_ledger
from connect.tracking.models import Click, Link
from connect.webhooks import events as webhook_events


class ConversionError(ValueError):
    """A request the rules refuse. `status` is the HTTP answer; the message is safe to show.

    Refusals of the conversions API stay English: programs read them, and
    `connect.conversions.openapi` documents them. A refusal the portal shows (a commission's state
    move, in the admin's hold review) is a lazy string, translated when the view turns it into
    text."""

    def __init__(self, message: object, status: int = 422, code: str = "invalid") -> None:
        super().__init__(message)
        self.status = status
        self.code = code

    def __str__(self) -> str:
        return str(self.args[0])


# -- commission state machine -----------------------------------------------------------------

TRANSITIONS: dict[CommissionStatus, set[CommissionStatus]] = {
    CommissionStatus.PENDING: {CommissionStatus.APPROVED, CommissionStatus.REVERSED},
    CommissionStatus.HELD: {
        CommissionStatus.PENDING,
        CommissionStatus.REJECTED,
        CommissionStatus.REVERSED,
    },
    CommissionStatus.APPROVED: {CommissionStatus.PAID, CommissionStatus.REVERSED},
    # A payout that failed or was reversed hands its commissions back to the approved balance.
    CommissionStatus.PAID: {CommissionStatus.APPROVED},
    CommissionStatus.REVERSED: set(),
    CommissionStatus.REJECTED: set(),
}

# Where a commission's money sits in the ledger while it has each status.
HOLDING_ACCOUNT = {
    CommissionStatus.PENDING: AccountKind.CREATOR_PENDING,
    CommissionStatus.HELD: AccountKind.CREATOR_HELD,
    CommissionStatus.APPROVED: AccountKind.CREATOR_APPROVED,
    # Paid money left the platform; a later refund is taken from the approved balance.
    CommissionStatus.PAID: AccountKind.CREATOR_APPROVED,
}


def next_status(current: CommissionStatus, target: CommissionStatus) -> CommissionStatus:
    """`target`, if a commission may move there from `current`; raises otherwise."""
    if target not in TRANSITIONS[current]:
        # Reached from the admin's hold review (the API's reversals never make an illegal move).
        raise ConversionError(
            _l(
                "a %(current)s commission cannot become %(target)s",
                current=current.value,
                target=target.value,
            ),
            409,
            "conflict",
        )
    return target


def net_minor(commission: Commission) -> int:
    return commission.amount_minor - commission.reversed_minor


def _move(
    commission: Commission, key: str, kind: str, debit: AccountKind, credit: AccountKind
) -> JournalSpec:
    """A journal moving the commission's net amount from `debit`'s side to `credit`'s."""
    money = Money(net_minor(commission), commission.currency)
    owner = {AccountKind.BRAND_RECEIVABLE: commission.brand_id}
    return JournalSpec(
        key=key,
        kind=kind,
        legs=(
            Leg(debit, owner.get(debit, commission.creator_id), money),
            Leg(credit, owner.get(credit, commission.creator_id), -money),
        ),
    )


# -- intake -----------------------------------------------------------------------------------


def record_order(
    session: Session, brand_id: int, data: OrderIn, now: datetime
) -> tuple[Order, bool]:
    """Store a brand's order once. The same order again returns the stored one (created=False);
    the same order id with another body raises a 409."""
    fingerprint = data.fingerprint()
    existing = _order_by_ref(session, brand_id, data.order_id)
    if existing is not None:
        if existing.body_sha256 != fingerprint:
            raise ConversionError(
                f"order {data.order_id} was already reported with different content",
                409,
                "conflict",
            )
        return existing, False
    if data.click_id:
        click_brand = session.scalar(
            select(Link.brand_id)
            .join(Click, Click.link_id == Link.id)
            .where(Click.click_id == data.click_id)
        )
        if click_brand is not None and click_brand != brand_id:
            raise ConversionError("click_id belongs to another brand's link", 422, "foreign_click")
    products = dict(
        session.execute(
            select(Product.sku, Product.id).where(
                Product.brand_id == brand_id, Product.sku.in_({line.sku for line in data.lines})
            )
        ).all()
    )
    order = Order(
        brand_id=brand_id,
        external_id=data.order_id,
        body_sha256=fingerprint,
        ordered_at=data.ordered_at,
        currency=data.currency,
        customer_country=data.customer_country,
        customer_email_hash=email_hash(data.customer_email) if data.customer_email else "",
        click_id=data.click_id or "",
        visitor_id=data.visitor_id or "",
        promo_code=data.promo_code or "",
        attribute_after=now,
        lines=[
            OrderLine(
                line_no=n,
                sku=line.sku,
                product_id=products.get(line.sku),
                category=line.category,
                quantity=line.quantity,
                unit_price_minor=line.unit_price,
            )
            for n, line in enumerate(data.lines, start=1)
        ],
    )
    try:
        # A concurrent duplicate of the same order loses on the unique key, alone.
        with session.begin_nested():
            session.add(order)
            session.flush()
    except IntegrityError:
        existing = _order_by_ref(session, brand_id, data.order_id)
        if existing is None:
            raise
        if existing.body_sha256 != fingerprint:
            raise ConversionError(
                f"order {data.order_id} was already reported with different content",
                409,
                "conflict",
            ) from None
        return existing, False
    enqueue_after_commit(
        session,
        "workers.jobs.attribute_orders",
        queue_name="attribution",
        job_id="attribute-orders",
    )
    return order, True


def email_hash(email: str) -> str:
    """The keyed hash under which buyer and creator e-mails are compared (never stored raw)."""
    return keyed_hash(email.strip().lower(), "email")


def _order_by_ref(session: Session, brand_id: int, ref: str) -> Order | None:
    return session.scalar(select(Order).where(Order.brand_id == brand_id, Order.external_id == ref))


def record_refund(
    session: Session, brand_id: int, order_ref: str, data: RefundIn, now: datetime
) -> tuple[Refund, bool]:
    """Record a refund or cancellation once and reverse the commissions it touches."""
    fingerprint = data.fingerprint()
    existing = session.scalar(
        select(Refund).where(
            Refund.brand_id == brand_id, Refund.idempotency_key == data.idempotency_key
        )
    )
    order = session.scalar(
        select(Order)
        .where(Order.brand_id == brand_id, Order.external_id == order_ref)
        .with_for_update()
    )
    if existing is not None:
        if existing.body_sha256 != fingerprint or order is None or existing.order_id != order.id:
            raise ConversionError(
                f"refund {data.idempotency_key} was already sent with different content",
                409,
                "conflict",
            )
        return existing, False
    if order is None:
        raise ConversionError(f"unknown order {order_ref}: send the order first", 404, "not_found")
    lines = {line.line_no: line for line in order.lines}
    wanted: dict[int, int] = {}
    if data.lines is None:
        wanted = {n: line.quantity - line.refunded_quantity for n, line in lines.items()}
        wanted = {n: q for n, q in wanted.items() if q > 0}
        if not wanted:
            raise ConversionError("the order is already fully refunded", 422, "nothing_left")
    else:
        by_sku: dict[str, list[int]] = {}
        for n, line in lines.items():
            by_sku.setdefault(line.sku, []).append(n)
        for item in data.lines:
            if item.sku is not None:
                matches = by_sku.get(item.sku, [])
                if len(matches) != 1:
                    raise ConversionError(
                        f"sku {item.sku} matches {len(matches)} lines; use line_no", 422
                    )
                n = matches[0]
            else:
                n = item.line_no
                if n not in lines:
                    raise ConversionError(f"order has no line {n}", 422)
            wanted[n] = wanted.get(n, 0) + item.quantity
        for n, qty in wanted.items():
            left = lines[n].quantity - lines[n].refunded_quantity
            if qty > left:
                raise ConversionError(
                    f"line {n}: refunding {qty} but only {left} left to refund", 422
                )
    refund = Refund(
        brand_id=brand_id,
        order_id=order.id,
        idempotency_key=data.idempotency_key,
        body_sha256=fingerprint,
        refunded_at=data.refunded_at,
        lines=[
            RefundLine(order_line_id=lines[n].id, quantity=q) for n, q in sorted(wanted.items())
        ],
    )
    session.add(refund)
    for n, qty in wanted.items():
        lines[n].refunded_quantity += qty
    session.flush()
    commissions = session.scalars(
        select(Commission)
        .where(Commission.order_line_id.in_([lines[n].id for n in wanted]))
        .with_for_update()
    ).all()
    refunded = {line.id: line for line in lines.values()}
    apply_reversals(session, [(c, refunded[c.order_line_id]) for c in commissions])
    return refund, True


def reversal_target(amount_minor: int, refunded_qty: int, quantity: int) -> int:
    """How much of a line's commission is reversed once `refunded_qty` of `quantity` units are
    refunded: proportional, rounded half-up. Cumulative, so the parts always add up to the whole."""
    exact = Decimal(amount_minor) * refunded_qty / quantity
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def apply_reversals(session: Session, pairs: Sequence[tuple[Commission, Any]]) -> int:
    """Bring each commission's reversal up to its line's refunded quantity (the line: an OrderLine
    or a row with id, quantity and refunded_quantity). Idempotent."""
    specs, reversed_ = [], []
    for commission, line in pairs:
        target = reversal_target(commission.amount_minor, line.refunded_quantity, line.quantity)
        delta = target - commission.reversed_minor
        if delta <= 0 or commission.status not in HOLDING_ACCOUNT:
            continue
        money = Money(delta, commission.currency)
        specs.append(
            JournalSpec(
                key=f"reverse:line:{line.id}:{line.refunded_quantity}",
                kind="reversal",
                legs=(
                    Leg(HOLDING_ACCOUNT[commission.status], commission.creator_id, money),
                    Leg(AccountKind.BRAND_RECEIVABLE, commission.brand_id, -money),
                ),
            )
        )
        commission.reversed_minor = target
        reversed_.append((commission, delta))
        if target == commission.amount_minor and commission.status != CommissionStatus.PAID:
            commission.status = next_status(commission.status, CommissionStatus.REVERSED)
    post_many(session, specs)
    webhook_events.commissions_reversed(session, reversed_)
    return len(specs)


# -- lifecycle --------------------------------------------------------------------------------


def approve_due(session: Session, now: datetime, limit: int = 5000) -> int:
    """Approve pending commissions whose return window has closed. Returns how many."""
    serialize_ledger(session)
    due = session.scalars(
        select(Commission)
        .where(Commission.status == CommissionStatus.PENDING, Commission.approve_after <= now)
        .order_by(Commission.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    specs = []
    for commission in due:
        commission.status = next_status(commission.status, CommissionStatus.APPROVED)
        if net_minor(commission) > 0:
            specs.append(
                _move(
                    commission,
                    f"approve:commission:{commission.id}",
                    "approval",
                    AccountKind.CREATOR_PENDING,
                    AccountKind.CREATOR_APPROVED,
                )
            )
    post_many(session, specs)
    webhook_events.commissions_approved(session, due)
    return len(due)


def release_hold(session: Session, commission: Commission) -> None:
    """A held commission passed review: it becomes pending like any other."""
    commission.status = next_status(commission.status, CommissionStatus.PENDING)
    if net_minor(commission) > 0:
        post_many(
            session,
            [
                _move(
                    commission,
                    f"release:commission:{commission.id}",
                    "release",
                    AccountKind.CREATOR_HELD,
                    AccountKind.CREATOR_PENDING,
                )
            ],
        )


def reject_hold(session: Session, commission: Commission, reason: str) -> None:
    """A held commission failed review: it is never paid."""
    commission.status = next_status(commission.status, CommissionStatus.REJECTED)
    commission.hold_reason = (commission.hold_reason + "; rejected: " + reason)[:200]
    if net_minor(commission) > 0:
        post_many(
            session,
            [
                _move(
                    commission,
                    f"reject:commission:{commission.id}",
                    "rejection",
                    AccountKind.CREATOR_HELD,
                    AccountKind.BRAND_RECEIVABLE,
                )
            ],
        )


def order_json(session: Session, order: Order) -> dict[str, Any]:
    """What the API answers about an order (the same for the first and every repeated report)."""
    commissions = session.execute(
        select(
            Commission.order_line_id,
            Commission.amount_minor,
            Commission.currency,
            Commission.status,
            Commission.reversed_minor,
        ).where(Commission.order_id == order.id)
    ).all()
    by_line = {row.order_line_id: row for row in commissions}
    return {
        "order_id": order.external_id,
        "status": order.status.value,
        "ordered_at": order.ordered_at.isoformat(),
        "currency": order.currency,
        "total": sum(line.quantity * line.unit_price_minor for line in order.lines),
        "attributed": order.creator_id is not None,
        "attributed_by": order.attributed_by.value if order.attributed_by else None,
        "promo_code": order.promo_code or None,
        "lines": [
            {
                "line_no": line.line_no,
                "sku": line.sku,
                "quantity": line.quantity,
                "unit_price": line.unit_price_minor,
                "refunded_quantity": line.refunded_quantity,
                "commission": (
                    {
                        "amount": by_line[line.id].amount_minor - by_line[line.id].reversed_minor,
                        "currency": by_line[line.id].currency,
                        "status": by_line[line.id].status.value,
                    }
                    if line.id in by_line
                    else None
                ),
            }
            for line in order.lines
        ],
    }


def refund_json(refund: Refund, order: Order) -> dict[str, Any]:
    numbers = {line.id: line.line_no for line in order.lines}
    return {
        "idempotency_key": refund.idempotency_key,
        "order_id": order.external_id,
        "refunded_at": refund.refunded_at.isoformat(),
        "lines": [
            {"line_no": numbers[item.order_line_id], "quantity": item.quantity}
            for item in refund.lines
        ],
    }
