"""Attribution: which creator an order belongs to, and what each of its lines earns.

Set-based on purpose: a batch of orders costs a fixed number of statements (find clicks, load
rates, insert commissions, post journals, update orders), never a query per order. A batch runs
in two steps (`plan_batch`, then `BatchPlan.apply`, one transaction), so the job can plan the
next batch while the previous one is written (see `tasks.attribute_orders`).

Rules, in order (`orders.attributed_by` records which one won):
0. Disabled promo code: an order carrying a code of this brand that is disabled when the order is
   attributed earns nothing, whatever else it carries (a leaked code must not earn through a
   click either). It is kept as unattributed with the reason in `attribution_note`.
1. Direct click match (`click`): the order's click id, if it is a click on one of this brand's
   links and earlier than the order. A click id we have not stored yet (it may still be in the
   click buffer) defers the order for a minute, for up to CLICK_GRACE.
2. Promo code (`promo_code`): a code of this brand, enabled, valid on the order day, whose
   creator is still an accepted member of its campaign. No click needed; the code's creator and
   campaign earn as a link of that campaign would (no linked product: coverage is the
   campaign's product list). A code of another brand, unknown, expired or not yet valid is
   ignored and the next rule decides.
3. Otherwise (`visitor`) the last non-bot click by the same visitor on this brand's links, inside
   the link's campaign attribution window (30 days without a campaign).
4. Nothing qualifies: the order is kept as unattributed and earns nothing.
Clicks on links of rejected content never qualify (moderation switched those links off).

A commission is held for review (credited to creator_held, not the balance) when the click is
flagged as a bot, the click-to-order time is under FAST_ORDER, the buyer is the creator (e-mail
hash or a visitor id seen on the creator's own browser), or the creator is not approved.

Per line, in basis points: while the link's campaign runs (active, and clicked -- for a code:
ordered -- between its start and end dates), a line the campaign covers earns the campaign's
product rate, else its category rate, else its default rate; any other line earns the brand's
default rate.
The creator's tier bonus is added (unless the campaign turns it off). The amount is converted to
the creator's payout currency at the stored FX rate of the order date, rounded once, half-up.
A campaign budget caps what its lines accrue; the part above the cap is recorded, never paid.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, bindparam, func, or_, select
from sqlalchemy.orm import Session

from connect.accounts.models import User
from connect.brands.models import Brand, Product
from connect.campaigns.models import (
    Campaign,
    CampaignProduct,
    CampaignRate,
    CampaignStatus,
)
from connect.content.models import Content, ContentStatus
from connect.conversions.models import (
    AttributionSource,
    Commission,
    CommissionStatus,
    Order,
    OrderLine,
    OrderStatus,
)
from connect.conversions.services import apply_reversals, email_hash
from connect.core.db import among, bulk_update, copy_insert
from connect.core.money import Money, commission_minor
from connect.core.sqlfunc import days_before
from connect.creators.models import Creator, CreatorStatus, CreatorVisitor
from connect.fx.services import load_fx_table
from connect.ledger.models import AccountKind
from connect.ledger.services import JournalSpec, Leg, post_many
from connect.promos.services import CodeRow
from connect.promos.services import lookup as promo_lookup
from connect.tiers.models import Tier, TierHistory
from connect.tracking.models import Click, Link
from connect.webhooks import events as webhook_events

log = logging.getLogger(__name__)

CLICK_GRACE = timedelta(hours=1)
RETRY_AFTER = timedelta(minutes=1)
FX_RETRY_AFTER = timedelta(hours=1)
FAST_ORDER = timedelta(seconds=10)
DEFAULT_WINDOW_DAYS = 30


@dataclass
class BatchResult:
    orders: int = 0
    attributed: int = 0
    unattributed: int = 0
    deferred: int = 0
    held: int = 0
    commissions: int = 0


@dataclass(frozen=True)
class Match:
    click_id: str | None
    #: For a promo code: the order time (the campaign's dates are checked against it).
    clicked_at: datetime
    is_bot: bool
    link_id: int | None
    creator_id: int
    campaign_id: int | None
    product_id: int | None
    source: AttributionSource = AttributionSource.CLICK


@dataclass
class CampaignTerms:
    campaign: Campaign
    covered: set[int] = field(default_factory=set)
    product_rates: dict[int, int] = field(default_factory=dict)
    category_rates: dict[str, int] = field(default_factory=dict)


@dataclass
class OrderChanges:
    """What a batch does to its orders, written with one statement per kind of change."""

    deferred: dict[int, datetime] = field(default_factory=dict)  # order id -> attribute_after
    unattributed: list[int] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)  # order id -> attribution note
    attributed: list[dict[str, Any]] = field(default_factory=list)

    def write(self, session: Session) -> None:
        bulk_update(
            session, Order, [{"id": i, "attribute_after": t} for i, t in self.deferred.items()]
        )
        bulk_update(
            session,
            Order,
            [{"id": i, "status": OrderStatus.UNATTRIBUTED} for i in self.unattributed],
        )
        bulk_update(
            session,
            Order,
            [
                {"id": i, "status": OrderStatus.UNATTRIBUTED, "attribution_note": note}
                for i, note in self.refused.items()
            ],
        )
        bulk_update(session, Order, self.attributed)


@dataclass
class BudgetCharge:
    """One covered line's claim on its campaign's budget, charged when the batch is written."""

    campaign_id: int
    commission: dict[str, Any]  # the planned commission row, capped in place
    cost: int  # what the line costs the budget, in the campaign's currency


@dataclass
class BatchPlan:
    """A batch in two steps, so that planning the next batch can overlap writing this one.

    `plan_batch` locks the batch's orders, reads, computes, and writes the orders' new state:
    rows only this batch holds. `apply`, in the same transaction, writes the rest: the budget
    charges (taking the budget locks), the commissions whose amounts they cap, ledger journals
    (and accounts other batches may create too), webhooks. The caller then commits.
    """

    result: BatchResult
    changes: OrderChanges = field(default_factory=OrderChanges)
    orders: list[Row] = field(default_factory=list)  # the attributed ones
    lines: dict[int, list[Row]] = field(default_factory=dict)  # order id -> its lines
    commissions: list[dict[str, Any]] = field(default_factory=list)
    charges: list[BudgetCharge] = field(default_factory=list)
    last_id: int = 0  # the highest order id the batch holds

    def apply(self, session: Session) -> BatchResult:
        """Write the rest of the batch: budgets, commissions, ledger journals, webhooks. The
        caller commits; a crash before that leaves every order as it was."""
        _charge_budgets(session, self.charges)
        if self.commissions:
            copy_insert(session, Commission, self.commissions)
            self.result.commissions += len(self.commissions)
            webhook_events.conversions_attributed(
                session, self.orders, self.changes.attributed, self.commissions
            )
            post_many(session, [_accrual(c) for c in self.commissions if c["amount_minor"] > 0])
            _reverse_early_refunds(
                session, self.lines, {c["order_line_id"] for c in self.commissions}
            )
        session.flush()
        return self.result


def attribute_batch(session: Session, now: datetime, limit: int = 2000) -> BatchResult:
    """Attribute up to `limit` received orders that are due. One transaction's worth of work:
    the caller commits, and a crash before that leaves every order as it was."""
    return plan_batch(session, now, limit).apply(session)


def plan_batch(session: Session, now: datetime, limit: int = 2000, after_id: int = 0) -> BatchPlan:
    """Lock up to `limit` received orders that are due, with ids above `after_id` (a job passes
    its previous batch's last id, so each batch reads only its own stretch of the backlog
    index, not the entries earlier batches left behind), skipping those another batch holds;
    work out what attributing them writes, and write the orders' new state (the rest is
    written by `BatchPlan.apply`)."""
    # Plain rows, not ORM objects: the batch only reads them, and writes back in bulk.
    orders = session.execute(
        select(Order.__table__)
        # The status inline, not bound: only then may a prepared (generic) plan use the partial
        # index ix_orders_received.
        .where(
            Order.status == bindparam("received", OrderStatus.RECEIVED, literal_execute=True),
            Order.attribute_after <= now,
            Order.id > after_id,
        )
        .order_by(Order.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    plan = BatchPlan(BatchResult(orders=len(orders)))
    if not orders:
        return plan
    plan.last_id = orders[-1].id
    codes = promo_lookup(session, {(o.brand_id, o.promo_code) for o in orders if o.promo_code})
    disabled = {
        o.id: code.code
        for o in orders
        if (code := codes.get((o.brand_id, o.promo_code))) is not None and code.disabled
    }
    live = [o for o in orders if o.id not in disabled]
    matches, known_clicks = _direct_matches(session, live)
    waiting = {
        o.id
        for o in live
        if o.click_id and o.click_id not in known_clicks and now - o.created_at < CLICK_GRACE
    }
    pending = [o for o in live if o.id not in matches and o.id not in waiting]
    matches.update(_code_matches(pending, codes))
    fallback = [o for o in pending if o.id not in matches and o.visitor_id]
    matches.update(_visitor_matches(session, fallback))

    result, changes = plan.result, plan.changes
    for order in orders:
        if order.id in disabled:
            changes.refused[order.id] = (
                f"promo code {disabled[order.id]} is disabled: no commission"
            )
            result.unattributed += 1
        elif order.id in waiting:
            changes.deferred[order.id] = now + RETRY_AFTER
            result.deferred += 1
        elif order.id not in matches:
            changes.unattributed.append(order.id)
            result.unattributed += 1
    plan.orders = [o for o in orders if o.id in matches]
    if plan.orders:
        _plan_earnings(session, plan, matches, now)
    plan.changes.write(session)
    return plan


def _direct_matches(session: Session, orders: Sequence[Row]) -> tuple[dict[int, Match], set[str]]:
    """Orders whose own click id qualifies, and every click id of the batch that is stored."""
    # A buyer may order twice after one click: every order carrying the click id is matched.
    wanted: dict[str, list[Row]] = defaultdict(list)
    for o in orders:
        if o.click_id:
            wanted[o.click_id].append(o)
    if not wanted:
        return {}, set()
    rows = session.execute(
        select(
            Click.click_id,
            Click.clicked_at,
            Click.is_bot,
            Link.id,
            Link.brand_id,
            Link.creator_id,
            Link.campaign_id,
            Link.product_id,
        )
        .join(Link, Link.id == Click.link_id)
        .outerjoin(Content, Content.id == Link.content_id)
        .where(among(session, Click.click_id, wanted))
        .add_columns(Content.status)
    )
    found, known = {}, set()
    for click_id, at, bot, link_id, brand_id, creator_id, campaign_id, product_id, piece in rows:
        known.add(click_id)
        # Clicks on links of rejected content never earn (moderation switched them off).
        if piece == ContentStatus.REJECTED:
            continue
        for order in wanted[click_id]:
            if brand_id == order.brand_id and at <= order.ordered_at:
                found[order.id] = Match(
                    click_id, at, bot, link_id, creator_id, campaign_id, product_id
                )
    return found, known


def _code_matches(orders: Sequence[Row], codes: dict[tuple[int, str], CodeRow]) -> dict[int, Match]:
    """Orders whose promo code qualifies (codes were read for the whole batch at once)."""
    found = {}
    for order in orders:
        code = codes.get((order.brand_id, order.promo_code)) if order.promo_code else None
        if code is not None and code.usable_on(order.ordered_at.date()):
            found[order.id] = Match(
                click_id=None,
                clicked_at=order.ordered_at,
                is_bot=False,
                link_id=None,
                creator_id=code.creator_id,
                campaign_id=code.campaign_id,
                product_id=None,
                source=AttributionSource.PROMO_CODE,
            )
    return found


def _visitor_matches(session: Session, orders: Sequence[Row]) -> dict[int, Match]:
    if not orders:
        return {}
    window = func.coalesce(Campaign.attribution_window_days, DEFAULT_WINDOW_DAYS)
    # Per order, one backward probe of ix_clicks_visitor_time that stops at the first click
    # passing every rule: cost grows with the batch, not with the orders or clicks stored.
    last_click = (
        select(Click.id)
        .join(Link, Link.id == Click.link_id)
        .outerjoin(Campaign, Campaign.id == Link.campaign_id)
        .outerjoin(Content, Content.id == Link.content_id)
        .where(
            Click.visitor_id == Order.visitor_id,
            Click.clicked_at <= Order.ordered_at,
            Click.is_bot.is_(False),
            Link.brand_id == Order.brand_id,
            Click.clicked_at >= days_before(Order.ordered_at, window),
            or_(Link.content_id.is_(None), Content.status != ContentStatus.REJECTED),
        )
        .order_by(Click.clicked_at.desc(), Click.id.desc())
        .limit(1)
        .correlate(Order)
        .scalar_subquery()
    )
    winners = (
        select(Order.id.label("order_id"), last_click.label("click_pk"))
        .where(among(session, Order.id, [o.id for o in orders]))
        .subquery()
    )
    rows = session.execute(
        select(
            winners.c.order_id,
            Click.click_id,
            Click.clicked_at,
            Click.is_bot,
            Link.id,
            Link.creator_id,
            Link.campaign_id,
            Link.product_id,
        )
        .join_from(winners, Click, Click.id == winners.c.click_pk)
        .join(Link, Link.id == Click.link_id)
    )
    return {order_id: Match(*click, source=AttributionSource.VISITOR) for order_id, *click in rows}


def _plan_earnings(
    session: Session, plan: BatchPlan, matches: dict[int, Match], now: datetime
) -> None:
    orders, result, changes = plan.orders, plan.result, plan.changes
    # The e-mail's keyed hash once per creator, not once per order (an HMAC each).
    creators = {
        c.id: (c, email_hash(email))
        for c, email in session.execute(
            select(Creator, User.email)
            .join(User, User.id == Creator.user_id)
            .where(among(session, Creator.id, {m.creator_id for m in matches.values()}))
        )
    }
    brands = {
        b.id: b
        for b in session.scalars(select(Brand).where(Brand.id.in_({o.brand_id for o in orders})))
    }
    terms = _campaign_terms(session, {m.campaign_id for m in matches.values()} - {None})
    tiers = _tier_bonus(session, orders, matches, creators)
    own_visitors = {
        (creator_id, visitor_id)
        for creator_id, visitor_id in session.execute(
            select(CreatorVisitor.creator_id, CreatorVisitor.visitor_id).where(
                among(session, CreatorVisitor.creator_id, creators)
            )
        )
    }
    lines = plan.lines = defaultdict(list)
    for line in session.execute(
        select(OrderLine.__table__).where(
            among(session, OrderLine.order_id, [o.id for o in orders])
        )
    ):
        lines[line.order_id].append(line)
    categories = dict(
        session.execute(
            select(Product.id, Product.category).where(
                among(
                    session,
                    Product.id,
                    {ln.product_id for ls in lines.values() for ln in ls} - {None},
                )
            )
        ).all()
    )
    currencies = {o.currency for o in orders} | {c.payout_currency for c, _ in creators.values()}
    currencies |= {t.campaign.currency for t in terms.values()}
    days = [o.ordered_at.date() for o in orders]
    fx = load_fx_table(session, currencies, min(days), max(days))

    attributed = []
    for order in orders:
        match = matches[order.id]
        creator, creator_email_hash = creators[match.creator_id]
        brand = brands[order.brand_id]
        to_creator = _stored_precision(
            fx.rate(order.ordered_at.date(), order.currency, creator.payout_currency)
        )
        if to_creator is None:
            log.warning(
                "no FX rate %s->%s for order %s", order.currency, creator.payout_currency, order.id
            )
            changes.deferred[order.id] = now + FX_RETRY_AFTER
            result.deferred += 1
            continue
        campaign = terms.get(match.campaign_id) if match.campaign_id else None
        if campaign and not _earns_campaign_rates(campaign.campaign, match.clicked_at):
            campaign = None
        to_campaign = None
        if campaign and campaign.campaign.budget_minor is not None:
            to_campaign = fx.rate(
                order.ordered_at.date(), order.currency, campaign.campaign.currency
            )
            if to_campaign is None:
                changes.deferred[order.id] = now + FX_RETRY_AFTER
                result.deferred += 1
                continue
        reason = _hold_reason(order, match, creator, creator_email_hash, own_visitors)
        bonus = tiers.get(order.id, 0)
        rows = []
        for line in lines[order.id]:
            base = line.quantity * line.unit_price_minor
            covered = campaign is not None and (
                (match.product_id is not None and line.product_id == match.product_id)
                or not campaign.covered
                or line.product_id in campaign.covered
            )
            if covered:
                category = line.category or categories.get(line.product_id, "")
                rate = campaign.product_rates.get(
                    line.product_id,
                    campaign.category_rates.get(category, campaign.campaign.default_rate_bps),
                )
                line_bonus = bonus if campaign.campaign.tier_bonus else 0
            else:
                rate, line_bonus = brand.default_rate_bps, bonus
            amount = commission_minor(
                base, order.currency, rate + line_bonus, creator.payout_currency, to_creator
            )
            row = {
                "order_line_id": line.id,
                "order_id": order.id,
                "creator_id": creator.id,
                "brand_id": brand.id,
                "campaign_id": campaign.campaign.id if covered else None,
                "rate_bps": rate + line_bonus,
                "bonus_bps": line_bonus,
                "base_minor": base,
                "base_currency": order.currency,
                "fx_rate": to_creator,
                "amount_minor": amount,
                "currency": creator.payout_currency,
                "capped_minor": 0,
                "budget_minor": 0,
                "status": CommissionStatus.HELD if reason else CommissionStatus.PENDING,
                "hold_reason": reason,
                "approve_after": order.ordered_at + timedelta(days=brand.return_window_days),
                "reversed_minor": 0,
            }
            if covered and to_campaign is not None:
                cost = commission_minor(
                    base, order.currency, rate + line_bonus, campaign.campaign.currency, to_campaign
                )
                plan.charges.append(BudgetCharge(campaign.campaign.id, row, cost))
            rows.append(row)
        plan.commissions += rows
        changes.attributed.append(
            {
                "id": order.id,
                "status": OrderStatus.ATTRIBUTED,
                "attributed_click_id": match.click_id,
                "link_id": match.link_id,
                "creator_id": creator.id,
                "campaign_id": match.campaign_id,
                "attributed_by": match.source,
            }
        )
        attributed.append(order)
        result.attributed += 1
        result.held += bool(reason)
    plan.orders = attributed  # without those deferred for a missing FX rate


def _accrual(commission: dict[str, Any]) -> JournalSpec:
    """The journal of one line's commission: the brand owes it, the creator is owed it."""
    money = Money(commission["amount_minor"], commission["currency"])
    creator_account = (
        AccountKind.CREATOR_HELD if commission["hold_reason"] else AccountKind.CREATOR_PENDING
    )
    return JournalSpec(
        key=f"accrue:line:{commission['order_line_id']}",
        kind="accrual",
        legs=(
            Leg(AccountKind.BRAND_RECEIVABLE, commission["brand_id"], money),
            Leg(creator_account, commission["creator_id"], -money),
        ),
    )


def _earns_campaign_rates(campaign: Campaign, clicked_at: datetime) -> bool:
    """A click earns its campaign's rates only while the campaign runs: active, and clicked
    between its start and end dates. Otherwise the line earns the brand's default rate."""
    day = clicked_at.date()
    return (
        campaign.status == CampaignStatus.ACTIVE
        and campaign.starts_on <= day
        and (campaign.ends_on is None or day <= campaign.ends_on)
    )


FX_RATE_PLACES = Decimal("1e-20")


def _stored_precision(rate: Decimal | None) -> Decimal | None:
    """The rate as `commissions.fx_rate` stores it, so the stored rate reproduces the amount."""
    return None if rate is None else rate.quantize(FX_RATE_PLACES)


def _hold_reason(
    order: Row,
    match: Match,
    creator: Creator,
    creator_email_hash: str,
    own_visitors: set[tuple[int, str]],
) -> str:
    reasons = []
    if match.is_bot:
        reasons.append("flagged click")
    if (
        match.source != AttributionSource.PROMO_CODE
        and order.ordered_at - match.clicked_at < FAST_ORDER
    ):
        reasons.append("ordered within seconds of the click")
    if order.customer_email_hash and order.customer_email_hash == creator_email_hash:
        reasons.append("self-referral (buyer e-mail)")
    elif order.visitor_id and (creator.id, order.visitor_id) in own_visitors:
        reasons.append("self-referral (creator's own browser)")
    if creator.status != CreatorStatus.APPROVED:
        reasons.append(f"creator {creator.status}")
    return "; ".join(reasons)[:200]


def _campaign_terms(session: Session, ids: set[int]) -> dict[int, CampaignTerms]:
    if not ids:
        return {}
    terms = {
        c.id: CampaignTerms(c)
        for c in session.scalars(select(Campaign).where(Campaign.id.in_(ids)))
    }
    for campaign_id, product_id in session.execute(
        select(CampaignProduct.campaign_id, CampaignProduct.product_id).where(
            CampaignProduct.campaign_id.in_(ids)
        )
    ):
        terms[campaign_id].covered.add(product_id)
    for rate in session.scalars(select(CampaignRate).where(CampaignRate.campaign_id.in_(ids))):
        if rate.product_id is not None:
            terms[rate.campaign_id].product_rates[rate.product_id] = rate.rate_bps
        elif rate.category is not None:
            terms[rate.campaign_id].category_rates[rate.category] = rate.rate_bps
    return terms


def _charge_budgets(session: Session, charges: Sequence[BudgetCharge]) -> None:
    """Charge each covered line to its campaign's budget, in order; the part of a line above
    what the budget still covers is capped (recorded, never paid).

    The budgeted campaigns are locked (in id order) here, when the batch is written, not when
    it is planned: concurrent batches charge a budget one after the other, and hold the lock
    only from this point to their commit. FOR NO KEY UPDATE, the strength an update of
    spent_minor needs: FOR UPDATE would also wait for the key-share locks that the foreign key
    checks of the next batch's order updates hold on the same campaign, while that batch waits
    for this one to commit.
    """
    if not charges:
        return
    campaigns = {
        c.id: c
        for c in session.scalars(
            select(Campaign)
            .where(Campaign.id.in_({charge.campaign_id for charge in charges}))
            .order_by(Campaign.id)
            .with_for_update(key_share=True)
            .execution_options(populate_existing=True)
        )
    }
    for charge in charges:
        campaign, row = campaigns[charge.campaign_id], charge.commission
        if campaign.budget_minor is None:  # the budget was removed since the batch was planned
            continue
        remaining = max(campaign.budget_minor - campaign.spent_minor, 0)
        if charge.cost <= remaining:
            campaign.spent_minor += charge.cost
            row["budget_minor"] = charge.cost
            continue
        # Pay the share the budget still covers, rounded down so the cap is never exceeded.
        paid = row["amount_minor"] * remaining // charge.cost if charge.cost else 0
        campaign.spent_minor += remaining
        row["budget_minor"] = remaining
        row["capped_minor"] = row["amount_minor"] - paid
        row["amount_minor"] = paid


def _tier_bonus(
    session: Session,
    orders: Sequence[Row],
    matches: dict[int, Match],
    creators: dict[int, tuple[Creator, str]],
) -> dict[int, int]:
    """The tier bonus (bps) of each order's creator at the order's time."""
    bonus_of = dict(session.execute(select(Tier.id, Tier.bonus_bps)).all())
    history = defaultdict(list)
    for creator_id, changed_at, tier_id in session.execute(
        select(TierHistory.creator_id, TierHistory.changed_at, TierHistory.to_tier_id)
        .where(among(session, TierHistory.creator_id, creators))
        .order_by(TierHistory.changed_at)
    ):
        history[creator_id].append((changed_at, tier_id))
    out = {}
    for order in orders:
        creator = creators[matches[order.id].creator_id][0]
        tier_id = creator.tier_id
        changes = history.get(creator.id)
        if changes:
            before = [t for at, t in changes if at <= order.ordered_at]
            tier_id = before[-1] if before else changes[0][1]
        out[order.id] = bonus_of.get(tier_id, 0) if tier_id else 0
    return out


def _reverse_early_refunds(
    session: Session, lines: dict[int, list[Row]], line_ids: set[int]
) -> None:
    """Refunds that arrived before attribution reverse their share at once."""
    refunded = {
        ln.id: ln
        for ls in lines.values()
        for ln in ls
        if ln.refunded_quantity and ln.id in line_ids
    }
    if not refunded:
        return
    commissions = session.scalars(
        select(Commission).where(Commission.order_line_id.in_(refunded))
    ).all()
    apply_reversals(session, [(c, refunded[c.order_line_id]) for c in commissions])
