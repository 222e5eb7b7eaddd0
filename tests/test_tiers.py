"""Tier recompute over a fixture where every creator's expected tier is known."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from flask import Flask
from sqlalchemy import func, insert, select

from connect.conversions.models import Commission, CommissionStatus, Order, OrderStatus
from connect.core.time import utcnow
from connect.creators.models import Creator
from connect.extensions import db
from connect.fx.models import FxRate
from connect.notifications.models import Notification
from connect.tiers.models import Tier, TierHistory, TierSettings
from connect.tiers.services import (
    DEMOTION_GRACE,
    RecomputeResult,
    default_tiers,
    qualifying_rank,
    recompute_tiers,
)
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
    category: str = "",
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
        {
            "order_id": order_id,
            "line_no": 1,
            "sku": "S",
            "quantity": 1,
            "unit_price_minor": base,
            "category": category,
        },
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


# --- a ladder where every creator's expected tier is known -------------------------------------

USD = "USD"


def _known(ladder: dict[str, Tier]) -> dict[str, Creator]:
    """Twelve creators, one per rule. Sales in USD cents unless said; every sale within the
    last 30 days, so moving the clock by up to 30 days keeps them in the window."""
    brand = factories.brand("known")
    elite = Tier(
        name="Elite",
        rank=6,
        min_sales_minor=10**12,
        min_earnings_minor=10**11,
        min_audience=10**6,
        bonus_bps=400,
        retired_at=NOW - timedelta(days=1),
    )
    db.session.add(elite)
    db.session.flush()
    ladder["Elite"] = elite
    n = [1000]

    def make(handle: str, audience: int, tier: str | None, below_days: int | None = None):
        c = factories.creator(handle=handle)
        c.audience_size = audience
        c.tier_id = ladder[tier].id if tier else None
        c.tier_below_since = None if below_days is None else NOW - timedelta(days=below_days)
        return c

    def sale(c, base=0, amount=0, currency=USD, status=CommissionStatus.PENDING, days_ago=5):
        _sale(
            c,
            brand.id,
            base=base,
            amount=amount,
            currency=currency,
            status=status,
            days_ago=days_ago,
            n=n,
        )

    out = {
        "newbie": make("newbie", 100, None),
        "riser": make("riser", 6_000, None),
        "pro_eur": make("pro-eur", 30_000, "Rising"),
        "capped": make("capped", 30_000, None),
        "kol": make("kol", 600_000, "KOL"),
        "slipping": make("slipping", 200_000, "Star"),
        "due": make("due", 200_000, "Star", below_days=31),
        "waiting": make("waiting", 200_000, "Star", below_days=10),
        "recovered": make("recovered", 30_000, "Pro", below_days=20),
        "old_sales": make("old-sales", 6_000, "Rising"),
        "reversed": make("reversed", 6_000, None),
        "retired": make("retired", 600_000, "Elite"),
    }
    sale(out["riser"], base=5_000_00)
    sale(
        out["pro_eur"],
        base=40_000_00,
        amount=4_000_00,
        currency="EUR",
        status=CommissionStatus.APPROVED,
    )  # 4,000 EUR at 1.25 = 5,000 USD earnings
    sale(out["capped"], base=10_000_000_00)  # KOL sales, Pro audience
    sale(out["kol"], amount=250_000_00, status=CommissionStatus.PAID, days_ago=20)
    sale(out["slipping"], base=60_000_00)  # Pro figures
    sale(out["waiting"], base=50_000_00)  # Pro figures
    sale(out["recovered"], base=50_000_00)  # back at Pro
    sale(out["old_sales"], base=10**9, days_ago=91)  # outside the window
    sale(out["reversed"], base=5_000_00, status=CommissionStatus.REVERSED)
    sale(out["retired"], amount=300_000_00, status=CommissionStatus.APPROVED)
    db.session.commit()
    return out


def _tiers_of(creators: dict[str, Creator]) -> dict[str, str | None]:
    db.session.expire_all()
    return {
        key: (
            db.session.get(Creator, c.id).tier.name if db.session.get(Creator, c.id).tier else None
        )
        for key, c in creators.items()
    }


EXPECTED = {
    "newbie": "Starter",
    "riser": "Rising",
    "pro_eur": "Pro",
    "capped": "Pro",
    "kol": "KOL",
    "slipping": "Star",
    "due": "Starter",
    "waiting": "Star",
    "recovered": "Pro",
    "old_sales": "Rising",
    "reversed": "Starter",
    "retired": "KOL",
}


def test_known_fixture_every_creator_lands_where_expected(ladder):
    creators = _known(ladder)
    result = recompute_tiers(db.session, NOW)
    db.session.commit()

    assert _tiers_of(creators) == EXPECTED
    assert vars(result) == {
        "creators": 12,
        "promoted": 5,  # newbie, riser, pro_eur, capped, reversed
        "demoted": 1,  # due
        "moved": 1,  # retired
        "grace_started": 2,  # slipping, old_sales
        "recovered": 1,
    }
    below = {k: db.session.get(Creator, c.id).tier_below_since for k, c in creators.items()}
    assert below["slipping"] == NOW and below["old_sales"] == NOW
    assert below["waiting"] == NOW - timedelta(days=10)  # the clock is not restarted
    assert below["recovered"] is None and below["due"] is None and below["riser"] is None

    history = db.session.execute(
        select(Creator.handle, TierHistory.from_tier_id, TierHistory.to_tier_id, TierHistory.reason)
        .join(Creator, Creator.id == TierHistory.creator_id)
        .order_by(Creator.handle)
    ).all()
    by_handle = {h: (f, t, r) for h, f, t, r in history}
    assert set(by_handle) == {"newbie", "riser", "pro-eur", "capped", "reversed", "due", "retired"}
    assert by_handle["due"][:2] == (ladder["Star"].id, ladder["Starter"].id)
    assert by_handle["retired"][:2] == (ladder["Elite"].id, ladder["KOL"].id)
    assert "retired" in by_handle["retired"][2]
    assert by_handle["newbie"][0] is None

    notes = db.session.execute(
        select(Creator.handle, Notification.kind, Notification.data)
        .join(Creator, Creator.user_id == Notification.user_id)
        .order_by(Creator.handle)
    ).all()
    assert [(h, k) for h, k, _ in notes] == [
        ("capped", "tier.promoted"),
        ("due", "tier.demoted"),
        ("newbie", "tier.promoted"),
        ("pro-eur", "tier.promoted"),
        ("retired", "tier.demoted"),
        ("reversed", "tier.promoted"),
        ("riser", "tier.promoted"),
    ]
    assert {h: d for h, _, d in notes}["capped"] == {"tier": "Pro"}

    # A re-run changes nothing: no tier, no clock, no history, no notification.
    again = recompute_tiers(db.session, NOW)
    db.session.commit()
    assert vars(again) | {"creators": 0} == vars(RecomputeResult())
    assert _tiers_of(creators) == EXPECTED
    assert db.session.scalar(select(func.count()).select_from(TierHistory)) == 7
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 7


def test_demotion_waits_for_the_grace_period(ladder):
    creators = _known(ladder)
    recompute_tiers(db.session, NOW)
    db.session.commit()

    # 29 days after the slip: still Star; "waiting" (below for 39 days) has moved down.
    recompute_tiers(db.session, NOW + timedelta(days=29))
    db.session.commit()
    tiers = _tiers_of(creators)
    assert tiers["slipping"] == "Star"
    assert tiers["waiting"] == "Pro"
    # 30 days: the grace is over, demoted to what the figures earn (Pro), clock cleared.
    result = recompute_tiers(db.session, NOW + DEMOTION_GRACE)
    db.session.commit()
    tiers = _tiers_of(creators)
    assert tiers["slipping"] == "Pro" and result.demoted >= 1
    slipping = db.session.get(Creator, creators["slipping"].id)
    assert slipping.tier_below_since is None


def test_grace_comes_from_the_admin_setting(ladder):
    creators = _known(ladder)
    db.session.add(TierSettings(reference_currency="USD", demotion_grace_days=5))
    db.session.commit()
    recompute_tiers(db.session, NOW)
    db.session.commit()
    recompute_tiers(db.session, NOW + timedelta(days=4))
    db.session.commit()
    assert _tiers_of(creators)["slipping"] == "Star"
    recompute_tiers(db.session, NOW + timedelta(days=5))
    db.session.commit()
    assert _tiers_of(creators)["slipping"] == "Pro"


def test_a_killed_run_changes_nothing(ladder):
    """The whole run is one transaction: stopped before the commit, nothing is left behind
    (not even the planning table), and the next run does the whole job."""
    creators = _known(ladder)
    before = _tiers_of(creators)
    recompute_tiers(db.session, NOW)
    db.session.rollback()
    assert _tiers_of(creators) == before
    assert db.session.scalar(select(func.count()).select_from(TierHistory)) == 0
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 0
    recompute_tiers(db.session, NOW)
    db.session.commit()
    assert _tiers_of(creators) == EXPECTED


def test_the_job_recomputes_and_commits(app, ladder):
    riser_id = _known(ladder)["riser"].id
    db.session.remove()
    from workers.jobs import recompute_tiers as job

    outcome = job()
    assert outcome["promoted"] == 5
    assert db.session.get(Creator, riser_id).tier.name == "Rising"
    assert job()["promoted"] == 0


def test_a_tier_floor_unlocks_the_campaign_after_promotion(ladder):
    from connect.campaigns.models import Campaign, CampaignStatus, Visibility
    from connect.campaigns.services import campaign_open_to, linkable_campaigns

    brand = factories.brand("gated")
    riser = factories.creator(handle="climber")
    riser.audience_size = 30_000
    riser.tier_id = ladder["Rising"].id
    campaign = Campaign(
        brand_id=brand.id,
        name="Pro only",
        starts_on=NOW.date() - timedelta(days=1),
        status=CampaignStatus.ACTIVE,
        visibility=Visibility.OPEN,
        approval_required=False,
        default_rate_bps=500,
        currency="EUR",
        min_tier_id=ladder["Pro"].id,
    )
    db.session.add(campaign)
    db.session.flush()
    _sale(
        riser,
        brand.id,
        base=50_000_00,
        amount=0,
        currency=USD,
        status=CommissionStatus.PENDING,
        days_ago=3,
        n=[5000],
    )
    db.session.commit()
    assert campaign_open_to(db.session, campaign, riser, NOW.date()) == (
        "This campaign needs a higher tier."
    )
    assert linkable_campaigns(db.session, riser, NOW.date()) == []

    recompute_tiers(db.session, NOW)
    db.session.commit()
    riser = db.session.get(Creator, riser.id)
    campaign = db.session.get(Campaign, campaign.id)
    assert riser.tier.name == "Pro"
    assert campaign_open_to(db.session, campaign, riser, NOW.date()) == ""
    assert [c[0] for c in linkable_campaigns(db.session, riser, NOW.date())] == [campaign.id]
