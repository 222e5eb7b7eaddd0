"""KOL tiers: the default ladder and the recompute that moves creators along it.

A creator qualifies for a tier when their audience reaches its floor and either their trailing
90-day attributed sales or their trailing 90-day approved earnings (both in the ladder's
reference currency, US dollars by default) reach its threshold. Promotions apply at once;
a creator below their tier keeps it for DEMOTION_GRACE before being moved down, so one slow
month does not cost them their bonus.

Sales and earnings are converted at the latest stored FX rate of each currency: tiers compare
orders of magnitude, they do not move money, and one rate per currency keeps the recompute a
single grouped query over all creators.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, literal, select, update
from sqlalchemy.orm import Session

from connect.conversions.models import Commission, CommissionStatus, Order
from connect.core.money import exponent
from connect.creators.models import Creator
from connect.fx.models import FxRate
from connect.notifications.services import notify_many
from connect.tiers.models import Tier, TierHistory

WINDOW = timedelta(days=90)
DEMOTION_GRACE = timedelta(days=30)

# name, rank, trailing-90-day sales (USD), trailing-90-day approved earnings (USD), audience,
# bonus (bps), open samples. KOL: ~US$250k earnings per quarter is on track for US$1M a year.
_TIER_LADDER: tuple[tuple[str, int, int, int, int, int, int], ...] = (
    ("Starter", 1, 0, 0, 0, 0, 5),
    ("Rising", 2, 5_000, 500, 5_000, 50, 10),
    ("Pro", 3, 50_000, 5_000, 25_000, 100, 20),
    ("Star", 4, 400_000, 40_000, 100_000, 150, 35),
    ("KOL", 5, 2_500_000, 250_000, 500_000, 250, 50),
)


def default_tiers() -> list[Tier]:
    """The default ladder, as new (unsaved) Tier objects; thresholds in US cents."""
    return [
        Tier(
            name=name,
            rank=rank,
            min_sales_minor=sales * 100,
            min_earnings_minor=earnings * 100,
            reference_currency="USD",
            min_audience=audience,
            bonus_bps=bonus,
            sample_limit=samples,
        )
        for name, rank, sales, earnings, audience, bonus, samples in _TIER_LADDER
    ]


def _to_reference(session: Session, reference: str, today: Any) -> dict[str, Decimal]:
    """Per currency: reference-currency minor units per minor unit, at the latest stored rate."""
    latest = (
        select(FxRate.currency, func.max(FxRate.day).label("day"))
        .where(FxRate.day <= today)
        .group_by(FxRate.currency)
        .subquery()
    )
    per_eur = {"EUR": Decimal(1)} | dict(
        session.execute(
            select(FxRate.currency, FxRate.rate).join(
                latest, (latest.c.currency == FxRate.currency) & (latest.c.day == FxRate.day)
            )
        ).all()
    )
    if reference not in per_eur:
        return {}
    return {
        currency: per_eur[reference]
        / rate
        * Decimal(10) ** (exponent(reference) - exponent(currency))
        for currency, rate in per_eur.items()
    }


def _converted(amount: Any, currency_column: Any, factors: dict[str, Decimal]) -> Any:
    if not factors:
        return literal(0)
    return amount * case(
        *((currency_column == c, literal(f)) for c, f in factors.items()), else_=literal(0)
    )


@dataclass
class RecomputeResult:
    creators: int = 0
    promoted: int = 0
    demoted: int = 0
    grace_started: int = 0


def creator_metrics(session: Session, now: datetime) -> Any:
    """One grouped query: per creator, trailing sales and approved earnings in the reference
    currency of the ladder (as numbers of its minor units)."""
    reference = session.scalar(select(Tier.reference_currency).order_by(Tier.rank).limit(1))
    factors = _to_reference(session, reference or "USD", now.date())
    counted = Commission.status.not_in([CommissionStatus.REVERSED, CommissionStatus.REJECTED])
    earned = Commission.status.in_([CommissionStatus.APPROVED, CommissionStatus.PAID])
    return (
        select(
            Commission.creator_id.label("creator_id"),
            func.sum(
                case(
                    (counted, _converted(Commission.base_minor, Commission.base_currency, factors)),
                    else_=0,
                )
            ).label("sales"),
            func.sum(
                case(
                    (
                        earned,
                        _converted(
                            Commission.amount_minor - Commission.reversed_minor,
                            Commission.currency,
                            factors,
                        ),
                    ),
                    else_=0,
                )
            ).label("earnings"),
        )
        .join(Order, Order.id == Commission.order_id)
        .where(Order.ordered_at >= now - WINDOW, Order.ordered_at <= now)
        .group_by(Commission.creator_id)
        .subquery()
    )


def qualifying_rank(ladder: list[Tier], sales: Decimal, earnings: Decimal, audience: int) -> int:
    """The highest rank whose floors are met (the ladder is sorted by rank)."""
    best = ladder[0].rank
    for tier in ladder:
        if audience >= tier.min_audience and (
            sales >= tier.min_sales_minor or earnings >= tier.min_earnings_minor
        ):
            best = tier.rank
    return best


def recompute_tiers(
    session: Session, now: datetime, *, grace: timedelta = DEMOTION_GRACE, chunk: int = 20_000
) -> RecomputeResult:
    """Move every creator to the tier their trailing figures earn (one pass, set-based reads,
    bulk writes). Safe to run twice: a second run finds nothing to change."""
    ladder = list(session.scalars(select(Tier).order_by(Tier.rank)))
    result = RecomputeResult()
    if not ladder:
        return result
    by_rank = {t.rank: t for t in ladder}
    rank_of = {t.id: t.rank for t in ladder}
    metrics = creator_metrics(session, now)
    rows = session.execute(
        select(
            Creator.id,
            Creator.user_id,
            Creator.tier_id,
            Creator.tier_below_since,
            Creator.audience_size,
            func.coalesce(metrics.c.sales, 0),
            func.coalesce(metrics.c.earnings, 0),
        )
        .outerjoin(metrics, metrics.c.creator_id == Creator.id)
        .execution_options(yield_per=chunk)
    )
    updates: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    notes: list[tuple[int, str, dict[str, Any]]] = []
    for creator_id, user_id, tier_id, below_since, audience, sales, earnings in rows:
        result.creators += 1
        current = rank_of.get(tier_id, 0)
        earned = qualifying_rank(ladder, Decimal(sales), Decimal(earnings), audience)
        if earned > current:
            target, kind = by_rank[earned], "promoted"
        elif earned < current and below_since is not None and now - below_since >= grace:
            target, kind = by_rank[earned], "demoted"
        elif earned < current:
            if below_since is None:
                updates.append({"id": creator_id, "tier_id": tier_id, "tier_below_since": now})
                result.grace_started += 1
            continue
        else:
            if below_since is not None:
                updates.append({"id": creator_id, "tier_id": tier_id, "tier_below_since": None})
            continue
        updates.append({"id": creator_id, "tier_id": target.id, "tier_below_since": None})
        history.append(
            {
                "creator_id": creator_id,
                "from_tier_id": tier_id,
                "to_tier_id": target.id,
                "changed_at": now,
                "reason": f"{kind}: trailing 90-day figures",
            }
        )
        notes.append((user_id, f"tier.{kind}", {"tier": target.name}))
        setattr(result, kind, getattr(result, kind) + 1)
    for batch in _chunks(updates, chunk):
        session.execute(update(Creator), batch)
    for batch in _chunks(history, chunk):
        session.execute(TierHistory.__table__.insert(), batch)
    notify_many(session, notes)
    return result


def _chunks(items: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
