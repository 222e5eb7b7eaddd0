"""Attribution and commissions: who earns, how much, when, and what the ledger says."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from flask import Flask
from rq import SimpleWorker
from rq.job import JobStatus
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import connect.conversions.tasks as tasks_module
from connect.campaigns.models import (
    Campaign,
    CampaignMember,
    CampaignProduct,
    CampaignRate,
    CampaignStatus,
    MemberStatus,
    Visibility,
)
from connect.conversions.attribution import BatchPlan, attribute_batch, plan_batch
from connect.conversions.models import Commission, CommissionStatus, Order, OrderStatus
from connect.conversions.schemas import OrderIn, RefundIn
from connect.conversions.services import (
    ConversionError,
    approve_due,
    record_order,
    record_refund,
    reject_hold,
    release_hold,
)
from connect.conversions.tasks import attribute_orders
from connect.core.jobs import queue, redis_connection
from connect.core.money import Money
from connect.core.time import utcnow
from connect.creators.models import CreatorVisitor
from connect.extensions import db
from connect.fx.models import FxRate
from connect.ledger.models import LedgerEntry
from connect.ledger.services import creator_balances
from connect.tiers.models import Tier, TierHistory
from tests import factories
from tests.conversion_helpers import (
    click_on,
    link_for,
    store_clicks,
)

NOW = utcnow().replace(microsecond=0)


@pytest.fixture
def shop(app: Flask):
    with app.app_context():
        brand = factories.brand("acme")
        brand.default_rate_bps = 500
        other = factories.brand("other")
        creator = factories.creator(handle="alice")
        p1 = factories.product(brand, "SKU-1")
        p2 = factories.product(brand, "SKU-2")
        p2.category = "beauty"
        p3 = factories.product(brand, "SKU-3")
        po = factories.product(other, "O-1")
        db.session.commit()
        yield {
            "brand": brand,
            "other": other,
            "creator": creator,
            "p1": p1,
            "p2": p2,
            "p3": p3,
            "po": po,
        }
        db.session.remove()


def place(shop, ref: str, *, lines=None, at=None, brand=None, **extra) -> Order:
    data = OrderIn.model_validate(
        {
            "order_id": ref,
            "ordered_at": (at or NOW - timedelta(minutes=5)).isoformat(),
            "currency": extra.pop("currency", "EUR"),
            "lines": lines or [{"sku": "SKU-1", "quantity": 2, "unit_price": 2500}],
            **extra,
        }
    )
    order, _ = record_order(db.session, (brand or shop["brand"]).id, data, NOW)
    return order


def attribute() -> None:
    attribute_batch(db.session, NOW)
    db.session.commit()


def commissions() -> list[Commission]:
    return list(db.session.scalars(select(Commission).order_by(Commission.order_line_id)))


def ledger_sums() -> dict[str, int]:
    return dict(
        db.session.execute(
            select(LedgerEntry.currency, func.sum(LedgerEntry.amount_minor)).group_by(
                LedgerEntry.currency
            )
        ).all()
    )


def test_direct_click_earns_brand_default_rate(shop):
    link = link_for(shop["creator"], shop["p1"].id)
    click = click_on(link, at=NOW - timedelta(hours=2))
    order = place(shop, "O-1", click_id=click)
    attribute()
    assert order.status == OrderStatus.ATTRIBUTED
    assert order.attributed_click_id == click and order.creator_id == shop["creator"].id
    (c,) = commissions()
    assert (c.rate_bps, c.base_minor, c.amount_minor, c.status) == (
        500,
        5000,
        250,
        CommissionStatus.PENDING,
    )
    assert c.approve_after == order.ordered_at + timedelta(days=30)
    assert creator_balances(db.session, shop["creator"].id) == {
        "EUR": {"pending": Money(250, "EUR")}
    }
    assert ledger_sums() == {"EUR": 0}
    attribute()  # nothing left to do: running again posts nothing
    assert len(commissions()) == 1 and ledger_sums() == {"EUR": 0}


def test_click_must_be_before_the_order_and_on_the_brands_link(shop):
    link = link_for(shop["creator"], shop["p1"].id)
    later = click_on(link, at=NOW - timedelta(minutes=1))
    foreign = click_on(link_for(shop["creator"], shop["po"].id), at=NOW - timedelta(hours=1))
    place(shop, "O-late", click_id=later, at=NOW - timedelta(minutes=5))
    db.session.commit()
    with pytest.raises(ConversionError, match="another brand"):
        place(shop, "O-foreign", click_id=foreign)
    db.session.rollback()
    a = db.session.scalar(select(Order).where(Order.external_id == "O-late"))
    attribute()
    assert a.status == OrderStatus.UNATTRIBUTED
    assert commissions() == []


def test_visitor_fallback_takes_the_last_human_click_in_the_window(shop):
    visitor = "a" * 32
    old = link_for(shop["creator"], shop["p1"].id)
    bob = factories.creator(handle="bob")
    recent = link_for(bob, shop["p1"].id)
    click_on(old, at=NOW - timedelta(days=3), visitor=visitor)
    winner = click_on(recent, at=NOW - timedelta(days=1), visitor=visitor)
    click_on(old, at=NOW - timedelta(hours=1), visitor=visitor, bot=True)  # bots never win
    order = place(shop, "O-v", visitor_id=visitor)
    outside = place(shop, "O-old", visitor_id="b" * 32)
    click_on(old, at=NOW - timedelta(days=31), visitor="b" * 32)
    attribute()
    assert order.attributed_click_id == winner and order.creator_id == bob.id
    assert outside.status == OrderStatus.UNATTRIBUTED


def test_campaign_window_decides(shop):
    campaign = Campaign(
        brand_id=shop["brand"].id,
        name="Short",
        starts_on=NOW.date(),
        status=CampaignStatus.ACTIVE,
        visibility=Visibility.OPEN,
        default_rate_bps=1000,
        currency="EUR",
        attribution_window_days=7,
    )
    db.session.add(campaign)
    db.session.flush()
    link = link_for(shop["creator"], shop["p1"].id, campaign_id=campaign.id)
    click_on(link, at=NOW - timedelta(days=8), visitor="c" * 32)
    click_on(link, at=NOW - timedelta(days=6), visitor="d" * 32)
    late = place(shop, "O-8", visitor_id="c" * 32)
    ok = place(shop, "O-6", visitor_id="d" * 32)
    attribute()
    assert late.status == OrderStatus.UNATTRIBUTED
    assert ok.status == OrderStatus.ATTRIBUTED


def test_unknown_click_waits_for_the_drain_then_falls_back(shop):
    link = link_for(shop["creator"], shop["p1"].id)
    order = place(shop, "O-wait", click_id="e" * 32)
    attribute()
    assert order.status == OrderStatus.RECEIVED and order.attribute_after > NOW
    # the click arrives from the buffer; the order is retried once it is due

    store_clicks(
        db.session,
        [
            {
                "click_id": "e" * 32,
                "link_id": link.id,
                "clicked_at": NOW - timedelta(hours=1),
                "visitor_id": "f" * 32,
                "ip_hash": "0" * 64,
                "country": "FR",
                "user_agent": "",
                "referrer_host": "",
                "is_bot": False,
                "is_duplicate": False,
            }
        ],
    )
    order.attribute_after = NOW
    db.session.commit()
    attribute()
    assert order.status == OrderStatus.ATTRIBUTED


def test_rates_campaign_product_category_default_and_brand_default(shop):
    tier = Tier(name="Pro", rank=3, bonus_bps=100)
    db.session.add(tier)
    db.session.flush()
    shop["creator"].tier_id = tier.id
    campaign = Campaign(
        brand_id=shop["brand"].id,
        name="C",
        starts_on=NOW.date(),
        status=CampaignStatus.ACTIVE,
        visibility=Visibility.INVITE,
        default_rate_bps=800,
        currency="EUR",
    )
    db.session.add(campaign)
    db.session.flush()
    db.session.add_all(
        [
            CampaignMember(
                campaign_id=campaign.id, creator_id=shop["creator"].id, status=MemberStatus.APPROVED
            ),
            CampaignProduct(campaign_id=campaign.id, product_id=shop["p1"].id),
            CampaignProduct(campaign_id=campaign.id, product_id=shop["p2"].id),
            CampaignRate(campaign_id=campaign.id, product_id=shop["p1"].id, rate_bps=1500),
            CampaignRate(campaign_id=campaign.id, category="beauty", rate_bps=1200),
        ]
    )
    link = link_for(shop["creator"], shop["p1"].id, campaign_id=campaign.id)
    click = click_on(link, at=NOW - timedelta(hours=1))
    place(
        shop,
        "O-r",
        click_id=click,
        lines=[
            {"sku": "SKU-1", "quantity": 1, "unit_price": 10000},  # product rate 15 % + 1 %
            {"sku": "SKU-2", "quantity": 1, "unit_price": 10000},  # category rate 12 % + 1 %
            {"sku": "SKU-3", "quantity": 1, "unit_price": 10000},  # not covered: brand 5 % + 1 %
            {"sku": "UNKNOWN", "quantity": 1, "unit_price": 10000},  # unknown sku: brand 5 % + 1 %
        ],
    )
    attribute()
    got = [
        (c.rate_bps, c.bonus_bps, c.amount_minor, c.campaign_id is not None) for c in commissions()
    ]
    assert got == [
        (1600, 100, 1600, True),
        (1300, 100, 1300, True),
        (600, 100, 600, False),
        (600, 100, 600, False),
    ]
    campaign.tier_bonus = False
    click2 = click_on(link, at=NOW - timedelta(hours=1))
    place(
        shop, "O-r2", click_id=click2, lines=[{"sku": "SKU-1", "quantity": 1, "unit_price": 10000}]
    )
    attribute()
    assert (commissions()[-1].rate_bps, commissions()[-1].bonus_bps) == (1500, 0)


def test_tier_bonus_is_the_one_at_order_time(shop):
    low = Tier(name="Starter", rank=1, bonus_bps=0)
    high = Tier(name="KOL", rank=5, bonus_bps=250)
    db.session.add_all([low, high])
    db.session.flush()
    shop["creator"].tier_id = high.id  # promoted after the order below
    db.session.add_all(
        [
            TierHistory(
                creator_id=shop["creator"].id,
                to_tier_id=low.id,
                changed_at=NOW - timedelta(days=60),
            ),
            TierHistory(
                creator_id=shop["creator"].id,
                from_tier_id=low.id,
                to_tier_id=high.id,
                changed_at=NOW - timedelta(days=1),
            ),
        ]
    )
    link = link_for(shop["creator"], shop["p1"].id)
    click = click_on(link, at=NOW - timedelta(days=3))
    place(shop, "O-t", click_id=click, at=NOW - timedelta(days=2))
    attribute()
    assert commissions()[0].bonus_bps == 0


@pytest.mark.parametrize("signal", ["bot", "fast", "email", "visitor", "suspended"])
def test_fraud_signals_hold_the_commission(shop, signal):
    from connect.creators.models import CreatorStatus

    link = link_for(shop["creator"], shop["p1"].id)
    visitor = "9" * 32
    click = click_on(
        link,
        at=NOW - (timedelta(seconds=3) if signal == "fast" else timedelta(hours=1)),
        visitor=visitor,
        bot=signal == "bot",
    )
    extra = {"click_id": click}
    if signal == "email":
        extra["customer_email"] = shop["creator"].handle.upper() + "@Example.com"
    if signal == "visitor":
        db.session.add(CreatorVisitor(creator_id=shop["creator"].id, visitor_id=visitor))
        extra["visitor_id"] = visitor
    if signal == "suspended":
        shop["creator"].status = CreatorStatus.SUSPENDED
    place(shop, "O-f", at=NOW, **extra)
    attribute()
    (c,) = commissions()
    assert c.status == CommissionStatus.HELD and c.hold_reason
    balances = creator_balances(db.session, shop["creator"].id)["EUR"]
    assert balances["held"] == Money(250, "EUR") and "pending" not in balances
    release_hold(db.session, c) if signal != "bot" else reject_hold(db.session, c, "bot")
    db.session.commit()
    balances = creator_balances(db.session, shop["creator"].id)["EUR"]
    assert balances["held"] == Money(0, "EUR")
    assert balances.get("pending", Money(0, "EUR")) == Money(0 if signal == "bot" else 250, "EUR")
    with pytest.raises(ConversionError):
        release_hold(db.session, c)
    assert ledger_sums() == {"EUR": 0}


def budgeted_orders(shop, *, budget_minor: int, orders: int) -> Campaign:
    """A campaign paying 10% with a budget, and `orders` orders through its link, each earning
    10.00 EUR."""
    campaign = Campaign(
        brand_id=shop["brand"].id,
        name=f"Budget {budget_minor}",
        starts_on=NOW.date(),
        status=CampaignStatus.ACTIVE,
        visibility=Visibility.OPEN,
        default_rate_bps=1000,
        currency="EUR",
        budget_minor=budget_minor,
    )
    db.session.add(campaign)
    db.session.flush()
    link = link_for(shop["creator"], shop["p1"].id, campaign_id=campaign.id)
    for n in range(orders):
        place(
            shop,
            f"O-budget-{n}",
            click_id=click_on(link, at=NOW - timedelta(hours=1)),
            lines=[{"sku": "SKU-1", "quantity": 1, "unit_price": 10000}],
        )
    return campaign


def test_budget_caps_commissions_and_records_the_overflow(shop):
    campaign = budgeted_orders(shop, budget_minor=1500, orders=3)
    attribute()
    got = [(c.amount_minor, c.capped_minor, c.budget_minor) for c in commissions()]
    assert got == [(1000, 0, 1000), (500, 500, 500), (0, 1000, 0)]
    assert campaign.spent_minor == 1500 == sum(c.budget_minor for c in commissions())
    assert creator_balances(db.session, shop["creator"].id)["EUR"]["pending"] == Money(1500, "EUR")


def test_the_job_charges_a_shared_budget_batch_after_batch(shop, monkeypatch):
    # Each batch's order updates take key-share locks on the campaign (foreign key checks)
    # while the previous batch, in the writer thread, locks it to charge the budget. With a
    # lock strong enough to conflict, the two waited for each other for ever; the short lock
    # timeout turns such a hang into a failure here.
    monkeypatch.setattr(tasks_module, "WRITE_LOCK_TIMEOUT", "2s")
    real_apply = BatchPlan.apply

    def late_apply(plan, session):
        time.sleep(0.3)  # the next batch's plan takes its locks first
        return real_apply(plan, session)

    monkeypatch.setattr(BatchPlan, "apply", late_apply)
    campaign = budgeted_orders(shop, budget_minor=2500, orders=4)
    db.session.commit()
    result = attribute_orders(db.session, NOW, batch_size=1)
    assert result.attributed == 4
    got = [(c.amount_minor, c.capped_minor, c.budget_minor) for c in commissions()]
    assert got == [(1000, 0, 1000), (1000, 0, 1000), (500, 500, 500), (0, 1000, 0)]
    db.session.refresh(campaign)
    assert campaign.spent_minor == 2500


def test_fx_conversion_to_the_creators_currency(shop):
    pl = factories.creator(handle="piotr", country="PL", currency="PLN")
    day = (NOW - timedelta(minutes=5)).date()
    db.session.add_all(
        [
            FxRate(day=day - timedelta(days=2), currency="PLN", rate=Decimal("4.2600")),
            FxRate(day=day - timedelta(days=2), currency="USD", rate=Decimal("1.0500")),
        ]
    )
    link = link_for(pl, shop["p1"].id)
    place(
        shop,
        "O-usd",
        currency="USD",
        click_id=click_on(link, at=NOW - timedelta(hours=1)),
        lines=[{"sku": "SKU-1", "quantity": 1, "unit_price": 10000}],
    )  # 100.00 USD
    attribute()
    (c,) = commissions()
    # 5 % of 100 USD = 5 USD = 5 / 1.05 * 4.26 PLN = 20.285714... -> 20.29 PLN
    assert (c.amount_minor, c.currency) == (2029, "PLN")
    assert c.fx_rate == (Decimal("4.2600") / Decimal("1.0500")).quantize(Decimal("1e-20"))
    db.session.expire_all()
    stored = db.session.get(Commission, c.id)
    assert stored.fx_rate == c.fx_rate  # what PostgreSQL kept reproduces the amount
    assert ledger_sums() == {"PLN": 0}


def test_missing_fx_defers_the_order(shop):
    pl = factories.creator(handle="piotr", country="PL", currency="PLN")
    link = link_for(pl, shop["p1"].id)
    order = place(shop, "O-nofx", click_id=click_on(link, at=NOW - timedelta(hours=1)))
    attribute()
    assert order.status == OrderStatus.RECEIVED and order.attribute_after > NOW
    assert commissions() == []


def test_refunds_reverse_proportionally_before_and_after_approval(shop):
    link = link_for(shop["creator"], shop["p1"].id)
    place(
        shop,
        "O-rf",
        click_id=click_on(link, at=NOW - timedelta(hours=1)),
        lines=[{"sku": "SKU-1", "quantity": 3, "unit_price": 3333}],
    )  # 9999 * 5 % = 499.95
    attribute()
    (c,) = commissions()
    assert c.amount_minor == 500

    def refund(key: str, qty: int | None) -> None:
        lines = None if qty is None else [{"line_no": 1, "quantity": qty}]
        record_refund(
            db.session,
            shop["brand"].id,
            "O-rf",
            RefundIn(idempotency_key=key, refunded_at=NOW, lines=lines),
            NOW,
        )
        db.session.commit()

    refund("r1", 1)
    assert c.reversed_minor == 167  # 500 / 3 = 166.67
    approve_due(db.session, NOW + timedelta(days=31))
    db.session.commit()
    assert c.status == CommissionStatus.APPROVED
    assert creator_balances(db.session, shop["creator"].id)["EUR"]["approved"] == Money(333, "EUR")
    refund("r2", 1)
    refund("r2", 1)  # a repeat changes nothing
    assert c.reversed_minor == 333
    refund("r3", None)  # the rest of the order
    assert c.reversed_minor == 500 and c.status == CommissionStatus.REVERSED
    balances = creator_balances(db.session, shop["creator"].id)["EUR"]
    assert balances["approved"] == Money(0, "EUR") and balances["pending"] == Money(0, "EUR")
    assert ledger_sums() == {"EUR": 0}


def test_refund_before_attribution_is_applied_when_attributed(shop):
    link = link_for(shop["creator"], shop["p1"].id)
    place(
        shop,
        "O-early",
        click_id=click_on(link, at=NOW - timedelta(hours=1)),
        lines=[{"sku": "SKU-1", "quantity": 2, "unit_price": 5000}],
    )
    record_refund(
        db.session,
        shop["brand"].id,
        "O-early",
        RefundIn(idempotency_key="k", refunded_at=NOW, lines=[{"line_no": 1, "quantity": 1}]),
        NOW,
    )
    attribute()
    (c,) = commissions()
    assert (c.amount_minor, c.reversed_minor) == (500, 250)
    assert creator_balances(db.session, shop["creator"].id)["EUR"]["pending"] == Money(250, "EUR")


def clicked_orders(shop, count: int) -> None:
    """`count` committed orders, each with the click id of a click an hour earlier."""
    link = link_for(shop["creator"], shop["p1"].id)
    for n in range(count):
        place(shop, f"O-clicked-{n}", click_id=click_on(link, at=NOW - timedelta(hours=1)))
    db.session.commit()


def test_killed_attribution_leaves_nothing_half_done(shop, monkeypatch):
    clicked_orders(shop, 5)

    def crash(*args, **kwargs):
        raise RuntimeError("killed")

    monkeypatch.setattr("connect.conversions.attribution.post_many", crash)
    with pytest.raises(RuntimeError):
        attribute_orders(db.session, NOW)
    db.session.rollback()
    assert commissions() == []
    assert db.session.scalar(select(func.count()).where(Order.status == OrderStatus.RECEIVED)) == 5
    monkeypatch.undo()
    result = attribute_orders(db.session, NOW)
    assert result.attributed == 5 and len(commissions()) == 5
    assert attribute_orders(db.session, NOW).orders == 0


def test_the_job_writes_each_batch_in_a_thread_while_it_plans_the_next(shop, monkeypatch):
    clicked_orders(shop, 7)
    writers, real_apply = [], BatchPlan.apply

    def apply(plan, session):
        writers.append((threading.current_thread().name, [o.id for o in plan.orders]))
        return real_apply(plan, session)

    monkeypatch.setattr(BatchPlan, "apply", apply)
    seen = []
    result = attribute_orders(db.session, NOW, batch_size=2, after_batch=seen.append)
    # Four batches of 2, 2, 2 and 1 orders, then the empty one that ends the job; every write
    # ran on the writer thread, in id order, and each batch was reported once it committed.
    assert [b.orders for b in seen] == [2, 2, 2, 1, 0]
    assert {name for name, _ in writers} == {"attribution-writer_0"}
    written = [i for _, ids in writers for i in ids]
    assert written == sorted(written) and len(set(written)) == 7
    assert (result.orders, result.attributed, result.commissions) == (7, 7, 7)
    assert len(commissions()) == 7 and ledger_sums() == {"EUR": 0}
    assert attribute_orders(db.session, NOW).orders == 0


def test_the_attribution_job_runs_on_a_real_worker(shop):
    # The RQ entry point that order intake queues: its own app context, the writer thread,
    # the commit hooks running in that thread.
    clicked_orders(shop, 3)
    attribution = queue("attribution")
    (job_id,) = attribution.job_ids
    SimpleWorker([attribution], connection=redis_connection()).work(burst=True)
    job = attribution.fetch_job(job_id)
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value()["attributed"] == 3
    db.session.expire_all()
    assert db.session.scalars(select(Order.status)).all() == [OrderStatus.ATTRIBUTED] * 3
    assert len(commissions()) == 3 and ledger_sums() == {"EUR": 0}


def test_a_failed_write_keeps_the_committed_batches_and_frees_the_planned_one(shop, monkeypatch):
    clicked_orders(shop, 6)
    real_apply, writes = BatchPlan.apply, []

    def apply(plan, session):
        writes.append(plan)
        if len(writes) == 2:
            raise RuntimeError("the database went away")
        return real_apply(plan, session)

    monkeypatch.setattr(BatchPlan, "apply", apply)
    with pytest.raises(RuntimeError, match="went away"):
        attribute_orders(db.session, NOW, batch_size=2)
    db.session.rollback()
    statuses = db.session.scalars(select(Order.status).order_by(Order.id)).all()
    assert statuses == [OrderStatus.ATTRIBUTED] * 2 + [OrderStatus.RECEIVED] * 4
    # The third batch had been planned (its orders locked) while the second was written: the
    # job rolled it back, so nothing holds those orders now.
    with db.engine.connect() as other:
        locked = other.execute(
            select(Order.id)
            .where(Order.status == OrderStatus.RECEIVED)
            .with_for_update(nowait=True)
        ).all()
        other.rollback()
    assert len(locked) == 4
    monkeypatch.undo()
    assert attribute_orders(db.session, NOW).attributed == 4
    assert len(commissions()) == 6 and ledger_sums() == {"EUR": 0}


def test_a_budget_is_charged_when_a_batch_is_written_not_when_it_is_planned(shop):
    campaign = budgeted_orders(shop, budget_minor=1500, orders=2)
    db.session.commit()
    # Two workers plan a batch each before either writes: both see the whole budget free.
    first, second = db.session(), Session(bind=db.engine)
    try:
        plan_a = plan_batch(first, NOW, limit=1)
        plan_b = plan_batch(second, NOW, limit=1)  # skips the order the first one holds
        assert [o.id for o in plan_a.orders] != [o.id for o in plan_b.orders]
        plan_b.apply(second)
        second.commit()
        plan_a.apply(first)  # waits for nothing now, and reads what the second one spent
        first.commit()
    finally:
        second.close()
    got = sorted((c.amount_minor, c.capped_minor, c.budget_minor) for c in commissions())
    assert got == [(500, 500, 500), (1000, 0, 1000)]
    db.session.refresh(campaign)
    assert campaign.spent_minor == 1500 == sum(c.budget_minor for c in commissions())
    assert creator_balances(db.session, shop["creator"].id)["EUR"]["pending"] == Money(1500, "EUR")


def test_clicks_after_a_campaign_ended_earn_the_brand_default(shop):
    campaign = Campaign(
        brand_id=shop["brand"].id,
        name="Over",
        starts_on=NOW.date() - timedelta(days=20),
        status=CampaignStatus.ACTIVE,
        visibility=Visibility.OPEN,
        default_rate_bps=2000,
        currency="EUR",
    )
    db.session.add(campaign)
    db.session.flush()
    link = link_for(shop["creator"], shop["p1"].id, campaign_id=campaign.id)
    inside = click_on(link, at=NOW - timedelta(days=5))
    campaign.ends_on = NOW.date() - timedelta(days=3)  # ended after the first click
    after = click_on(link, at=NOW - timedelta(days=1))
    place(shop, "O-in", click_id=inside)
    place(shop, "O-after", click_id=after)
    attribute()
    assert [(c.rate_bps, c.campaign_id is not None) for c in commissions()] == [
        (2000, True),
        (500, False),
    ]


def test_clicks_on_rejected_content_never_earn(shop):
    from connect.content.models import Content, ContentKind, ContentProduct, ContentStatus

    piece = Content(
        creator_id=shop["creator"].id,
        kind=ContentKind.VIDEO,
        title="Review",
        language="fr",
        status=ContentStatus.PUBLISHED,
        products=[ContentProduct(product_id=shop["p1"].id)],
    )
    db.session.add(piece)
    db.session.flush()
    link = link_for(shop["creator"], shop["p1"].id, content_id=piece.id)
    direct = click_on(link, at=NOW - timedelta(hours=2), visitor="7" * 32)
    piece.status = ContentStatus.REJECTED
    by_click = place(shop, "O-rej", click_id=direct)
    by_visitor = place(shop, "O-rej-v", visitor_id="7" * 32)
    attribute()
    assert by_click.status == OrderStatus.UNATTRIBUTED
    assert by_visitor.status == OrderStatus.UNATTRIBUTED
    assert commissions() == []


def test_two_orders_after_one_click_both_match_it(shop):
    link = link_for(shop["creator"], shop["p1"].id)
    bob = factories.creator(handle="bob")
    other_link = link_for(bob, shop["p1"].id)
    visitor = "6" * 32
    click = click_on(link, at=NOW - timedelta(hours=3), visitor=visitor)
    click_on(other_link, at=NOW - timedelta(hours=2), visitor=visitor)  # later, same visitor
    first = place(shop, "O-twice-1", click_id=click, visitor_id=visitor)
    second = place(shop, "O-twice-2", click_id=click, visitor_id=visitor)
    attribute()
    assert first.attributed_click_id == click and second.attributed_click_id == click
    assert {first.creator_id, second.creator_id} == {shop["creator"].id}
