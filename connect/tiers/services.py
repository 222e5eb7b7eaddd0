"""KOL tiers: the ladder (its defaults and the admin's edits) and the recompute that moves
creators along it.

A creator qualifies for a tier when their audience reaches its floor and either their trailing
90-day attributed sales or their trailing 90-day approved earnings (both in the ladder's
reference currency, US dollars by default) reach its threshold. Promotions apply at once;
a creator below their tier keeps it for the demotion grace (30 days unless an admin sets
another) before being moved down, so one slow month does not cost them their bonus. Creators
on a retired tier move to the nearest active tier below it (or to what their figures earn, if
that is higher) at the next recompute.

Sales and earnings are converted at the latest stored FX rate of each currency: tiers compare
orders of magnitude, they do not move money, and one rate per currency keeps the recompute a
single grouped query over all creators.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

from flask_babel import lazy_gettext as _l
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import (
    Executable,
    Integer,
    Numeric,
    String,
    and_,
    case,
    cast,
    column,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    table,
    text,
    update,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.sql.functions import FunctionElement

from connect.audit.services import record
from connect.brands.models import Brand
from connect.campaigns.models import Campaign, CampaignStatus
from connect.conversions.models import (
    Commission,
    CommissionStatus,
    Order,
    OrderLine,
    OrderStatus,
)
from connect.core.db import dialect_name
from connect.core.money import exponent, is_currency
from connect.core.types import UTCDateTime
from connect.creators.models import Creator, CreatorStatus
from connect.fx.models import FxRate
from connect.notifications.models import Notification
from connect.tiers.models import Tier, TierHistory, TierSettings

WINDOW = timedelta(days=90)
DEMOTION_GRACE = timedelta(days=30)
#: Any constant: serialises recomputes on PostgreSQL (two at once would both write history).
_LOCK_KEY = 0x7469657273  # "tiers"

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


def ladder_settings(session: Session) -> TierSettings:
    """The settings row, or the defaults (unsaved) when no admin has changed them yet."""
    found = session.scalar(select(TierSettings).order_by(TierSettings.id).limit(1))
    return found or TierSettings(reference_currency="USD", demotion_grace_days=30)


def active_ladder(session: Session) -> list[Tier]:
    """The tiers creators can be placed on, lowest rank first."""
    return list(session.scalars(select(Tier).where(Tier.retired_at.is_(None)).order_by(Tier.rank)))


# --- the figures ---------------------------------------------------------------------------


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
    if reference not in per_eur:  # no rates yet: only amounts already in the reference count
        return {reference: Decimal(1)}
    return {
        currency: per_eur[reference]
        / rate
        * Decimal(10) ** (exponent(reference) - exponent(currency))
        for currency, rate in per_eur.items()
    }


def _factor(currency_column: Any, factors: dict[str, Decimal]) -> Any:
    return case(
        *((currency_column == c, literal(f)) for c, f in sorted(factors.items())),
        else_=literal(Decimal(0)),
    )


@dataclass
class RecomputeResult:
    creators: int = 0
    promoted: int = 0
    demoted: int = 0
    #: Moved off a retired tier (counted here, not as promoted or demoted).
    moved: int = 0
    grace_started: int = 0
    recovered: int = 0


def creator_metrics(session: Session, now: datetime, reference: str | None = None) -> Any:
    """One grouped query: per creator, trailing sales and approved earnings in the reference
    currency of the ladder (as numbers of its minor units).

    Sums are taken per (creator, currency) first and converted afterwards, so the currency
    CASE runs once per group instead of once per commission."""
    reference = reference or ladder_settings(session).reference_currency
    factors = _to_reference(session, reference, now.date())
    counted = Commission.status.not_in([CommissionStatus.REVERSED, CommissionStatus.REJECTED])
    earned = Commission.status.in_([CommissionStatus.APPROVED, CommissionStatus.PAID])
    per_currency = (
        select(
            Commission.creator_id.label("creator_id"),
            Commission.base_currency.label("base_currency"),
            Commission.currency.label("currency"),
            func.sum(case((counted, Commission.base_minor), else_=0)).label("sales"),
            func.sum(
                case((earned, Commission.amount_minor - Commission.reversed_minor), else_=0)
            ).label("earnings"),
        )
        .join(Order, Order.id == Commission.order_id)
        .where(
            Order.status == OrderStatus.ATTRIBUTED,
            Order.ordered_at > now - WINDOW,
            Order.ordered_at <= now,
        )
        .group_by(Commission.creator_id, Commission.base_currency, Commission.currency)
        .subquery()
    )
    return (
        select(
            per_currency.c.creator_id,
            func.sum(per_currency.c.sales * _factor(per_currency.c.base_currency, factors)).label(
                "sales"
            ),
            func.sum(per_currency.c.earnings * _factor(per_currency.c.currency, factors)).label(
                "earnings"
            ),
        )
        .group_by(per_currency.c.creator_id)
        .subquery()
    )


def qualifying_rank(ladder: list[Tier], sales: Decimal, earnings: Decimal, audience: int) -> int:
    """The highest rank whose floors are met (the ladder is sorted by rank). The Python twin
    of the SQL the recompute runs, for pages that explain a creator's standing."""
    best = ladder[0].rank
    for tier in ladder:
        if audience >= tier.min_audience and (
            sales >= tier.min_sales_minor or earnings >= tier.min_earnings_minor
        ):
            best = tier.rank
    return best


# --- the recompute ---------------------------------------------------------------------------


class _CreateTempTableAs(Executable, ClauseElement):
    """`CREATE TEMPORARY TABLE name AS <select>` (PostgreSQL and SQLite alike)."""

    inherit_cache = False

    def __init__(self, name: str, query: Any) -> None:
        self.name = name
        self.query = query


@compiles(_CreateTempTableAs)
def _compile_create_temp(element: _CreateTempTableAs, compiler: Any, **kw: Any) -> str:
    return f"CREATE TEMPORARY TABLE {element.name} AS {compiler.process(element.query, **kw)}"


class _json_object(FunctionElement[Any]):
    """A JSON object from key/value pairs, built in SQL."""

    inherit_cache = True


@compiles(_json_object, "postgresql")
def _pg_json_object(element: _json_object, compiler: Any, **kw: Any) -> str:
    return f"json_build_object({compiler.process(element.clauses, **kw)})"


@compiles(_json_object, "sqlite")
def _sqlite_json_object(element: _json_object, compiler: Any, **kw: Any) -> str:
    return f"json_object({compiler.process(element.clauses, **kw)})"


_FIGURES = "tier_figures"
_figures = table(
    _FIGURES,
    column("creator_id", Integer),
    column("sales", Numeric()),
    column("earnings", Numeric()),
)
_CALC = "tier_recompute"
_calc = table(
    _CALC,
    column("creator_id", Integer),
    column("user_id", Integer),
    column("from_tier_id", Integer),
    column("to_tier_id", Integer),
    column("below_since", UTCDateTime()),
    column("kind", String),
)
#: kind -> (notification, history reason); kinds without a notification change no tier.
_KINDS = {
    "promoted": ("tier.promoted", "promoted: trailing 90-day figures"),
    "demoted": ("tier.demoted", "demoted: trailing 90-day figures after the grace period"),
    "retired_up": ("tier.promoted", "moved: the previous tier was retired"),
    "retired_down": ("tier.demoted", "moved: the previous tier was retired"),
}


def _plan(ladder: list[Tier], now: datetime, grace: timedelta) -> Any:
    """SELECT of the creators whose tier or grace clock changes, with what changes.

    One pass over creators left-joined to their grouped figures (the `tier_figures` table);
    the ladder (a handful of rows) is inlined as CASE expressions so the database never loops
    per creator."""
    m = _figures
    sales = func.coalesce(m.c.sales, 0)
    earnings = func.coalesce(m.c.earnings, 0)

    def earns(t: Tier) -> Any:
        return and_(
            Creator.audience_size >= t.min_audience,
            or_(sales >= t.min_sales_minor, earnings >= t.min_earnings_minor),
        )

    top_first = list(reversed(ladder[1:]))
    earned_rank = (
        case(*((earns(t), t.rank) for t in top_first), else_=ladder[0].rank)
        if top_first
        else literal(ladder[0].rank)
    )
    current = aliased(Tier)
    current_rank = func.coalesce(current.rank, 0)
    # Nearest active tier at or below a retired tier's rank (the lowest one if none is below).
    fallback_rank = case(
        *((current_rank >= t.rank, t.rank) for t in reversed(ladder)), else_=ladder[0].rank
    )
    fallback_id = case(
        *((current_rank >= t.rank, t.id) for t in reversed(ladder)), else_=ladder[0].id
    )
    inner = (
        select(
            Creator.id.label("creator_id"),
            Creator.user_id.label("user_id"),
            Creator.tier_id.label("tier_id"),
            Creator.tier_below_since.label("below_since"),
            current_rank.label("current_rank"),
            (current.retired_at.is_not(None)).label("retired"),
            earned_rank.label("earned_rank"),
            fallback_rank.label("fallback_rank"),
            fallback_id.label("fallback_id"),
        )
        .outerjoin(current, current.id == Creator.tier_id)
        .outerjoin(m, m.c.creator_id == Creator.id)
        # OFFSET 0 keeps PostgreSQL from inlining the subquery, which would copy the ladder
        # CASE into every expression below that uses it: it is computed once per creator.
        .offset(0)
        .subquery()
    )
    c = inner.c
    earned_id = case(*((c.earned_rank == t.rank, t.id) for t in ladder), else_=ladder[0].id)
    promote = c.earned_rank > c.current_rank
    retired = and_(c.retired, ~promote)
    below = c.earned_rank < c.current_rank
    due = and_(below, c.below_since.is_not(None), c.below_since <= now - grace)
    kind = case(
        (promote, literal("promoted")),
        (and_(retired, c.fallback_rank > c.current_rank), literal("retired_up")),
        (retired, literal("retired_down")),
        (due, literal("demoted")),
        (and_(below, c.below_since.is_(None)), literal("grace")),
        (and_(~below, c.below_since.is_not(None)), literal("recovered")),
        else_=null(),
    )
    to_tier = case(
        (promote, earned_id),
        (retired, c.fallback_id),
        (due, earned_id),
        else_=c.tier_id,
    )
    # A typed bind, not CAST: SQLite's CAST(... AS DATETIME) has NUMERIC affinity and turns
    # '2026-11-25 12:00:00' into 2026.
    typed_now = literal(now, UTCDateTime())
    below_since = case(
        # Moved off a retired tier to one they still do not earn: the grace clock runs on.
        (and_(retired, c.earned_rank < c.fallback_rank), func.coalesce(c.below_since, typed_now)),
        (and_(below, ~due, ~retired), func.coalesce(c.below_since, typed_now)),
        else_=cast(null(), UTCDateTime()),
    )
    planned = select(
        c.creator_id,
        c.user_id,
        c.tier_id.label("from_tier_id"),
        to_tier.label("to_tier_id"),
        below_since.label("below_since"),
        cast(kind, String(20)).label("kind"),
    ).subquery()
    return select(planned).where(planned.c.kind.is_not(None))


def recompute_tiers(
    session: Session, now: datetime, *, grace: timedelta | None = None
) -> RecomputeResult:
    """Move every creator to the tier their trailing figures earn, set-based: one grouped
    pass over the window's commissions (into a temporary table), one pass over the creators
    that plans every change (another), then one INSERT ... SELECT writes the history, one the
    notifications and one UPDATE ... FROM the creators. No query per creator.

    The caller commits: the whole run is one transaction, so a killed run changes nothing.
    Safe to run twice: a second run finds nothing to change. `grace` overrides the admin's
    setting (tests)."""
    pg = dialect_name(session) == "postgresql"
    if pg:
        # Waits for a run in progress; this one then starts from that run's committed result.
        session.execute(select(func.pg_advisory_xact_lock(_LOCK_KEY)))
        # The grouped join of a large window is the whole cost; let it hash in memory. JIT
        # would spend seconds compiling the ladder's CASE trees to save less than that.
        session.execute(text("SET LOCAL work_mem = '256MB'"))
        session.execute(text("SET LOCAL jit = off"))
    ladder = active_ladder(session)
    result = RecomputeResult()
    if not ladder:
        return result
    if grace is None:
        grace = timedelta(days=ladder_settings(session).demotion_grace_days)
    # Two steps, each a temporary table the planner then knows the size of: the figures
    # (one grouped pass over the window's commissions), then the plan (one pass over creators).
    session.execute(text(f"DROP TABLE IF EXISTS {_FIGURES}"))
    session.execute(text(f"DROP TABLE IF EXISTS {_CALC}"))
    session.execute(_CreateTempTableAs(_FIGURES, select(creator_metrics(session, now))))
    if pg:
        session.execute(text(f"ANALYZE {_FIGURES}"))
    session.execute(_CreateTempTableAs(_CALC, _plan(ladder, now, grace)))
    if pg:
        session.execute(text(f"ANALYZE {_CALC}"))

    moves = _calc.c.kind.in_(list(_KINDS))
    reason = case(*((_calc.c.kind == k, r) for k, (_, r) in _KINDS.items()), else_="")
    note = case(*((_calc.c.kind == k, n) for k, (n, _) in _KINDS.items()), else_="")
    session.execute(
        insert(TierHistory).from_select(
            ["creator_id", "from_tier_id", "to_tier_id", "changed_at", "reason", "created_at"],
            select(
                _calc.c.creator_id,
                _calc.c.from_tier_id,
                _calc.c.to_tier_id,
                literal(now, UTCDateTime()),
                reason,
                literal(now, UTCDateTime()),
            ).where(moves),
        )
    )
    session.execute(
        insert(Notification).from_select(
            ["user_id", "kind", "data", "created_at"],
            select(
                _calc.c.user_id,
                note,
                _json_object(literal("tier"), Tier.name),
                literal(now, UTCDateTime()),
            )
            .join(Tier, Tier.id == _calc.c.to_tier_id)
            .where(moves),
        )
    )
    session.execute(
        update(Creator)
        .where(Creator.id == _calc.c.creator_id)
        .values(tier_id=_calc.c.to_tier_id, tier_below_since=_calc.c.below_since)
        .execution_options(synchronize_session=False)
    )
    counts = dict(session.execute(select(_calc.c.kind, func.count()).group_by(_calc.c.kind)).all())
    session.execute(text(f"DROP TABLE {_CALC}"))
    session.execute(text(f"DROP TABLE {_FIGURES}"))
    result.creators = session.scalar(select(func.count(Creator.id))) or 0
    result.promoted = counts.get("promoted", 0)
    result.demoted = counts.get("demoted", 0)
    result.moved = counts.get("retired_up", 0) + counts.get("retired_down", 0)
    result.grace_started = counts.get("grace", 0)
    result.recovered = counts.get("recovered", 0)
    # The ORM's copies of creators are stale after the UPDATE ... FROM.
    session.expire_all()
    return result


# --- the admin's ladder ------------------------------------------------------------------------

#: A tier bonus above 25 % of the line value would pay out more than most campaign rates.
MAX_BONUS_BPS = 2500
MAX_RANK = 1000
MAX_GRACE_DAYS = 365
_MAX_AMOUNT = 10**15


class TierError(ValueError):
    """A ladder change the rules refuse; the message is safe to show, `field` names the form
    field it belongs to (None: the whole form)."""

    def __init__(self, message: Any, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    def __str__(self) -> str:
        # Lazy: translated into the locale of whoever reads it.
        return str(self.args[0])


@dataclass(frozen=True)
class TierInput:
    """A tier as the admin's form sets it; thresholds in minor units of the reference currency."""

    name: str
    rank: int
    min_sales_minor: int
    min_earnings_minor: int
    min_audience: int
    bonus_bps: int
    sample_limit: int


_TIER_FIELDS = (
    "name",
    "rank",
    "min_sales_minor",
    "min_earnings_minor",
    "min_audience",
    "bonus_bps",
    "sample_limit",
)


def _check_ladder(rows: list[TierInput]) -> None:
    """The active ladder after a change: sales and earnings thresholds strictly increasing with
    rank, audience floors never falling, and the lowest tier open to everyone."""
    if not rows:
        raise TierError(_l("The ladder needs at least one active tier."))
    rows = sorted(rows, key=lambda t: t.rank)
    first = rows[0]
    if first.min_sales_minor or first.min_earnings_minor or first.min_audience:
        raise TierError(
            _l(
                "%(name)s is the lowest tier, where every creator starts: "
                "its thresholds and audience must be 0.",
                name=first.name,
            )
        )
    for lower, higher in pairwise(rows):
        if not (
            higher.min_sales_minor > lower.min_sales_minor
            and higher.min_earnings_minor > lower.min_earnings_minor
        ):
            raise TierError(
                _l(
                    "%(name)s must need more sales and more earnings than %(lower)s, "
                    "the tier below it.",
                    name=higher.name,
                    lower=lower.name,
                )
            )
        if higher.min_audience < lower.min_audience:
            raise TierError(
                _l(
                    "%(name)s cannot need a smaller audience than %(lower)s, the tier below it.",
                    name=higher.name,
                    lower=lower.name,
                )
            )


def _as_input(t: Tier) -> TierInput:
    return TierInput(**{name: getattr(t, name) for name in _TIER_FIELDS})


def _validate(session: Session, tier: Tier | None, data: TierInput) -> TierInput:
    name = " ".join(data.name.split())
    if not 1 <= len(name) <= 40:
        raise TierError(_l("Give the tier a name of 1 to 40 characters."), field="name")
    if not 1 <= data.rank <= MAX_RANK:
        raise TierError(
            _l("The rank is a whole number from 1 to %(max)s.", max=MAX_RANK), field="rank"
        )
    for field_name in ("min_sales_minor", "min_earnings_minor", "min_audience"):
        if not 0 <= getattr(data, field_name) < _MAX_AMOUNT:
            raise TierError(_l("Thresholds are zero or more."), field=field_name)
    if not 0 <= data.bonus_bps <= MAX_BONUS_BPS:
        raise TierError(
            _l("The bonus is 0 to %(max)s basis points.", max=MAX_BONUS_BPS),
            field="bonus_bps",
        )
    if not 0 <= data.sample_limit <= 1000:
        raise TierError(_l("The sample limit is 0 to 1,000."), field="sample_limit")
    others = list(session.scalars(select(Tier).where(Tier.id != (tier.id if tier else -1))))
    if any(t.name.lower() == name.lower() for t in others):
        raise TierError(_l("Another tier already has this name."), field="name")
    taken = next((t for t in others if t.rank == data.rank), None)
    if taken is not None:
        raise TierError(
            _l("%(name)s already has rank %(rank)s.", name=taken.name, rank=data.rank),
            field="rank",
        )
    data = TierInput(**(vars(data) | {"name": name}))
    if tier is None or tier.retired_at is None:
        _check_ladder([_as_input(t) for t in others if t.retired_at is None] + [data])
    return data


def save_tier(session: Session, tier: Tier | None, data: TierInput, *, actor_id: int) -> Tier:
    """Create (`tier` None) or edit a tier; audited. Takes effect at the next recompute."""
    data = _validate(session, tier, data)
    settings = ladder_settings(session)
    creating = tier is None
    if tier is None:
        tier = Tier(reference_currency=settings.reference_currency)
        session.add(tier)
    changes = {
        name: [None if creating else getattr(tier, name), getattr(data, name)]
        for name in _TIER_FIELDS
        if creating or getattr(tier, name) != getattr(data, name)
    }
    for name in _TIER_FIELDS:
        setattr(tier, name, getattr(data, name))
    session.flush()
    if changes:
        record(
            session,
            actor_id=actor_id,
            action="tier.create" if creating else "tier.update",
            target=tier,
            data=changes,
        )
    return tier


def retire_tier(session: Session, tier: Tier, *, actor_id: int, now: datetime) -> None:
    """Take a tier off the ladder. Its creators move at the next recompute; campaigns that
    use it as their floor keep its rank as the floor."""
    if tier.retired_at is not None:
        raise TierError(_l("This tier is already retired."))
    remaining = [
        _as_input(t)
        for t in session.scalars(select(Tier).where(Tier.retired_at.is_(None), Tier.id != tier.id))
    ]
    _check_ladder(remaining)
    tier.retired_at = now
    record(session, actor_id=actor_id, action="tier.retire", target=tier, data={})


def restore_tier(session: Session, tier: Tier, *, actor_id: int) -> None:
    if tier.retired_at is None:
        raise TierError(_l("This tier is on the ladder already."))
    active = [_as_input(t) for t in session.scalars(select(Tier).where(Tier.retired_at.is_(None)))]
    _check_ladder([*active, _as_input(tier)])
    tier.retired_at = None
    record(session, actor_id=actor_id, action="tier.restore", target=tier, data={})


def save_settings(
    session: Session, *, reference_currency: str, grace_days: int, actor_id: int
) -> TierSettings:
    """Set the ladder's reference currency and demotion grace; audited.

    Thresholds are stored in minor units, so a new currency keeps the thresholds' amounts
    as typed (5,000 USD becomes 5,000 EUR): the admin reviews them after a currency change."""
    if not is_currency(reference_currency):
        raise TierError(_l("Choose a currency from the list."), field="reference_currency")
    if not 0 <= grace_days <= MAX_GRACE_DAYS:
        raise TierError(
            _l("The grace period is 0 to %(max)s days.", max=MAX_GRACE_DAYS),
            field="demotion_grace_days",
        )
    settings = ladder_settings(session)
    if settings.id is None:
        session.add(settings)
    changes: dict[str, Any] = {}
    if settings.demotion_grace_days != grace_days:
        changes["demotion_grace_days"] = [settings.demotion_grace_days, grace_days]
        settings.demotion_grace_days = grace_days
    old = settings.reference_currency
    if old != reference_currency:
        changes["reference_currency"] = [old, reference_currency]
        shift = Decimal(10) ** (exponent(reference_currency) - exponent(old))
        for t in session.scalars(select(Tier)):
            t.min_sales_minor = int(t.min_sales_minor * shift)
            t.min_earnings_minor = int(t.min_earnings_minor * shift)
            t.reference_currency = reference_currency
        settings.reference_currency = reference_currency
    session.flush()
    if changes:
        record(
            session, actor_id=actor_id, action="tier_settings.update", target=settings, data=changes
        )
    return settings


def request_recompute(session: Session, *, actor_id: int) -> None:
    """Audit the admin's "recompute now"; the view enqueues the job after the commit."""
    settings = ladder_settings(session)
    if settings.id is None:
        session.add(settings)
        session.flush()
    record(session, actor_id=actor_id, action="tier.recompute_requested", target=settings)


@dataclass(frozen=True)
class LadderRow:
    tier: Tier
    creators: int
    #: Campaigns whose tier floor is exactly this tier (every tier above unlocks them too).
    gated_campaigns: int


def ladder_overview(session: Session) -> list[LadderRow]:
    """Every tier (active first, by rank) with its creators and the campaigns it gates."""
    creators = dict(
        session.execute(
            select(Creator.tier_id, func.count())
            .where(Creator.tier_id.is_not(None))
            .group_by(Creator.tier_id)
        ).all()
    )
    gated = dict(
        session.execute(
            select(Campaign.min_tier_id, func.count())
            .where(Campaign.min_tier_id.is_not(None))
            .group_by(Campaign.min_tier_id)
        ).all()
    )
    tiers = session.scalars(select(Tier).order_by(Tier.retired_at.is_not(None), Tier.rank))
    return [LadderRow(t, creators.get(t.id, 0), gated.get(t.id, 0)) for t in tiers]


def unlocked_campaigns(session: Session, tier: Tier) -> list[tuple[int, str, str]]:
    """(id, campaign, brand) of the live or scheduled campaigns whose floor this tier meets
    and that set a floor at all: what reaching it opens (eligibility itself is
    `connect.campaigns.services.audience_problem`, used by joining and linking)."""
    floor = aliased(Tier)
    rows = session.execute(
        select(Campaign.id, Campaign.name, Brand.name)
        .join(Brand, Brand.id == Campaign.brand_id)
        .join(floor, floor.id == Campaign.min_tier_id)
        .where(floor.rank <= tier.rank, Campaign.status == CampaignStatus.ACTIVE)
        .order_by(floor.rank.desc(), Campaign.name)
        .limit(100)
    )
    return [(i, n, b) for i, n, b in rows]


# --- the leaderboard ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LeaderboardRow:
    rank: int
    creator_id: int
    display_name: str
    handle: str
    country: str
    tier: str | None
    #: Trailing 90-day attributed sales, in minor units of `currency`.
    sales_minor: int
    currency: str


def leaderboard(
    session: Session,
    now: datetime,
    *,
    country: str = "",
    category: str = "",
    limit: int = 50,
) -> list[LeaderboardRow]:
    """Top creators by trailing 90-day attributed sales (in the ladder's reference currency),
    optionally of one country and counting only the order lines of one product category.

    Only approved creators who opted in to public display are ever read: an opted-out creator
    is not in the list at all and does not take up a rank. One grouped query over the window
    (orders by their (status, ordered_at) index, commissions by order)."""
    reference = ladder_settings(session).reference_currency
    factors = _to_reference(session, reference, now.date())
    counted = Commission.status.not_in([CommissionStatus.REVERSED, CommissionStatus.REJECTED])
    stmt = (
        select(
            Commission.creator_id.label("creator_id"),
            Commission.base_currency.label("currency"),
            func.sum(Commission.base_minor).label("sales"),
        )
        .join(Order, Order.id == Commission.order_id)
        .join(Creator, Creator.id == Commission.creator_id)
        .where(
            Order.status == OrderStatus.ATTRIBUTED,
            Order.ordered_at > now - WINDOW,
            Order.ordered_at <= now,
            counted,
            Creator.public_leaderboard.is_(True),
            Creator.status == CreatorStatus.APPROVED,
        )
        .group_by(Commission.creator_id, Commission.base_currency)
    )
    if country:
        stmt = stmt.where(Creator.country == country)
    if category:
        stmt = stmt.join(OrderLine, OrderLine.id == Commission.order_line_id).where(
            OrderLine.category == category
        )
    per_currency = stmt.subquery()
    sales = func.sum(per_currency.c.sales * _factor(per_currency.c.currency, factors))
    totals = (
        select(per_currency.c.creator_id, sales.label("sales"))
        .group_by(per_currency.c.creator_id)
        .having(sales > 0)
        .subquery()
    )
    rows = session.execute(
        select(
            Creator.id,
            Creator.display_name,
            Creator.handle,
            Creator.country,
            Tier.name,
            totals.c.sales,
        )
        .join(totals, totals.c.creator_id == Creator.id)
        .outerjoin(Tier, Tier.id == Creator.tier_id)
        .order_by(totals.c.sales.desc(), Creator.id)
        .limit(limit)
    ).all()
    return [
        LeaderboardRow(i, cid, name, handle, ctry, tier, int(total), reference)
        for i, (cid, name, handle, ctry, tier, total) in enumerate(rows, start=1)
    ]


LEADERBOARD_TTL = 600
_BOARD_KEY = "connect:leaderboard:v1:{generation}:{country}:{category}"
#: Bumped when a creator opts in or out: every cached board is then stale at once.
_BOARD_GENERATION = "connect:leaderboard:v1:generation"


def cached_leaderboard(
    session: Session,
    cache: Redis | None,
    now: datetime,
    *,
    country: str = "",
    category: str = "",
) -> list[LeaderboardRow]:
    """`leaderboard`, computed at most once per LEADERBOARD_TTL per filter (the page is public
    and the grouped query reads the whole window), shared through Redis; computed directly
    when Redis is down.

    The cached rows are checked against the creators' current choice on every read, so a
    creator who opts out disappears at once, never after the cache expires."""
    rows: list[LeaderboardRow] | None = None
    key = ""
    if cache is not None:
        try:
            generation = int(cache.get(_BOARD_GENERATION) or 0)
            key = _BOARD_KEY.format(
                generation=generation, country=country or "-", category=category or "-"
            )
            raw = cache.get(key)
        except RedisError:
            cache = None
        else:
            if raw:
                rows = [LeaderboardRow(**r) for r in json.loads(raw)]
    if rows is None:
        rows = leaderboard(session, now, country=country, category=category)
        if cache is not None:
            with contextlib.suppress(RedisError):
                cache.set(key, json.dumps([asdict(r) for r in rows]), ex=LEADERBOARD_TTL)
    shown = set(
        session.scalars(
            select(Creator.id).where(
                Creator.id.in_([r.creator_id for r in rows]),
                Creator.public_leaderboard.is_(True),
                Creator.status == CreatorStatus.APPROVED,
            )
        )
    )
    kept = [r for r in rows if r.creator_id in shown]
    return [replace(r, rank=i) for i, r in enumerate(kept, start=1)]


def set_leaderboard_optin(
    session: Session, creator: Creator, show: bool, cache: Redis | None = None
) -> None:
    """The creator's own choice to appear on the public leaderboard (default: not shown).
    Cached boards are dropped so an opt-in shows at once (an opt-out needs no cache: every
    read filters on the current choice)."""
    creator.public_leaderboard = show
    if cache is not None:
        with contextlib.suppress(RedisError):
            cache.incr(_BOARD_GENERATION)
