"""Tier recompute over a fixture where every creator's expected tier is known."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from flask import Flask
from sqlalchemy import insert, select

from connect.conversions.models import Commission, CommissionStatus, Order, OrderStatus
from connect.core.time import utcnow
from connect.creators.models import Creator
from connect.extensions import db
from connect.fx.models import FxRate
from connect.notifications.models import Notification
from connect.tiers.models import Tier, TierHistory
from connect.tiers.services import DEMOTION_GRACE, default_tiers, qualifying_rank, recompute_tiers
from tests import factories

NOW = utcnow()


def _sale(
    creator: Creator,
    brand_id: int,
    *,
    base: int,
    amount: int,
    currency: str,
    status: CommissionStatus,
    days_ago: int,
    n: list[int],
) -> None:
    n[0] += 1
    order_id = db.session.execute(
        insert(Order).returning(Order.id),
        {
            "brand_id": brand_id,
            "external_id": f"T-{n[0]}",
            "body_sha256": "0" * 64,
            "ordered_at": NOW - timedelta(days=days_ago),
            "currency": currency,
            "status": OrderStatus.ATTRIBUTED,
            "creator_id": creator.id,
        },
    ).scalar_one()
    from connect.conversions.models import OrderLine

    line_id = db.session.execute(
        insert(OrderLine).returning(OrderLine.id),
        {"order_id": order_id, "line_no": 1, "sku": "S", "quantity": 1, "unit_price_minor": base},
    ).scalar_one()
    db.session.execute(
        insert(Commission),
        {
            "order_line_id": line_id,
            "order_id": order_id,
            "creator_id": creator.id,
            "brand_id": brand_id,
            "rate_bps": 1000,
            "base_minor": base,
            "base_currency": currency,
            "fx_rate": Decimal(1),
            "amount_minor": amount,
            "currency": currency,
            "status": status,
            "approve_after": NOW,
        },
    )


@pytest.fixture
def ladder(app: Flask):
    with app.app_context():
        tiers = default_tiers()
        db.session.add_all(tiers)
        db.session.add(
            FxRate(day=NOW.date() - timedelta(days=1), currency="USD", rate=Decimal("1.25"))
        )
        db.session.flush()
        yield {t.name: t for t in tiers}
        db.session.remove()


def test_qualifying_rank_needs_audience_and_sales_or_earnings(ladder):
    tiers = sorted(ladder.values(), key=lambda t: t.rank)
    assert qualifying_rank(tiers, Decimal(0), Decimal(0), 0) == 1
    assert qualifying_rank(tiers, Decimal(5_000_00), Decimal(0), 5_000) == 2  # sales suffice
    assert qualifying_rank(tiers, Decimal(0), Decimal(500_00), 5_000) == 2  # or earnings
    assert qualifying_rank(tiers, Decimal(10**12), Decimal(10**12), 4_999) == 1  # audience floor


def test_recompute_promotes_at_once_and_demotes_after_grace(ladder):
    brand = factories.brand("acme")
    n = [0]
    # starter with nothing; rising by USD sales; pro by EUR earnings; a kol about to slip
    factories.creator(handle="idle")
    riser = factories.creator(handle="riser")
    riser.audience_size = 6_000
    pro = factories.creator(handle="pro")
    pro.audience_size = 30_000
    kol = factories.creator(handle="kol")
    kol.audience_size = 600_000
    kol.tier_id = ladder["KOL"].id
    _sale(
        riser,
        brand.id,
        base=5_000_00,
        amount=0,
        currency="USD",
        status=CommissionStatus.PENDING,
        days_ago=10,
        n=n,
    )
    # 4,000 EUR approved earnings = 5,000 USD at 1.25
    _sale(
        pro,
        brand.id,
        base=40_000_00,
        amount=4_000_00,
        currency="EUR",
        status=CommissionStatus.APPROVED,
        days_ago=20,
        n=n,
    )
    # the KOL's big sale is older than 90 days: it no longer counts
    _sale(
        kol,
        brand.id,
        base=10**10,
        amount=10**9,
        currency="USD",
        status=CommissionStatus.PAID,
        days_ago=91,
        n=n,
    )
    db.session.commit()

    result = recompute_tiers(db.session, NOW)
    db.session.commit()
    tiers = {c.handle: c.tier.name for c in db.session.scalars(select(Creator))}
    assert tiers == {"idle": "Starter", "riser": "Rising", "pro": "Pro", "kol": "KOL"}
    assert (result.promoted, result.demoted, result.grace_started) == (3, 0, 1)
    assert kol.tier_below_since == NOW
    assert db.session.scalars(select(Notification.kind)).all().count("tier.promoted") == 3

    # a second run the same day changes nothing and writes no more history
    again = recompute_tiers(db.session, NOW)
    db.session.commit()
    assert (again.promoted, again.demoted, again.grace_started) == (0, 0, 0)
    assert len(db.session.scalars(select(TierHistory)).all()) == 3

    # still below after the grace period: demoted to what the figures earn (audience 600k,
    # no sales in the window: Starter)
    later = NOW + DEMOTION_GRACE
    demoted = recompute_tiers(db.session, later)
    db.session.commit()
    assert demoted.demoted == 1
    db.session.expire_all()
    kol = db.session.get(Creator, kol.id)
    assert kol.tier.name == "Starter" and kol.tier_below_since is None
    last = db.session.scalars(select(TierHistory).order_by(TierHistory.id.desc())).first()
    assert (last.from_tier_id, last.to_tier_id) == (ladder["KOL"].id, ladder["Starter"].id)


def test_recovering_within_grace_keeps_the_tier(ladder):
    brand = factories.brand("acme")
    star = factories.creator(handle="star")
    star.audience_size = 200_000
    star.tier_id = ladder["Star"].id
    db.session.commit()
    recompute_tiers(db.session, NOW)  # no sales: grace starts
    db.session.commit()
    assert star.tier_below_since == NOW
    _sale(
        star,
        brand.id,
        base=400_000_00,
        amount=0,
        currency="USD",
        status=CommissionStatus.PENDING,
        days_ago=1,
        n=[100],
    )
    recompute_tiers(db.session, NOW + timedelta(days=5))
    db.session.commit()
    assert star.tier.name == "Star" and star.tier_below_since is None
    assert db.session.scalars(select(TierHistory)).all() == []
    assert Tier  # the ladder model is what the fixture filled
