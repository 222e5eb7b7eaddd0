"""The figures behind the dashboards: set-based reads, nothing written.

Every table is built from three grouped queries, one per source of figures, whatever the number of
rows: clicks (the clicks table), orders and sales (attributed orders and their lines), commissions
(by status). Each is grouped by the table's dimension (day, link, content piece, country, creator,
campaign) and by currency where it sums money; the rows are merged in Python. Money is never added
across currencies: every money figure is a {currency: minor units} mapping.

Definitions (the dashboards' help text says the same):
- clicks: every recorded click (bots and repeats included, as on the links page);
  unique clicks: neither a bot nor a repeat by the same visitor inside the dedup window.
- orders: attributed orders placed in the range; sales: their lines net of refunded units, in the
  order's currency.
- commissions: of the orders placed in the range, by status, net of reversals, in the creator's
  payout currency; `reversed` is what refunds took back; `earned` is every status but rejected.
- conversion: orders / unique clicks; EPC: earned per 100 clicks (half-up to the minor unit).
- days are UTC days: users have no time zone setting yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Date, and_, case, func, literal_column, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from connect.brands.models import Product
from connect.campaigns.models import Campaign
from connect.content.models import Content
from connect.conversions.models import Commission, CommissionStatus, Order, OrderLine
from connect.creators.models import Creator
from connect.ledger.models import AccountKind, LedgerAccount, LedgerEntry
from connect.ledger.services import balances_by_kind, creator_balances
from connect.payouts.models import PayoutMethod
from connect.payouts.services import minimum_minor
from connect.tiers.models import Tier
from connect.tiers.services import active_ladder, creator_metrics, ladder_settings
from connect.tracking.models import Click, Link

DEFAULT_RANGE_DAYS = 30
#: A range longer than a year is refused: the day chart and the grouped reads stay small.
MAX_RANGE_DAYS = 366
#: Rows a dashboard shows per breakdown table; the CSV export has them all.
TOP_ROWS = 20

DIMENSIONS = ("day", "link", "content", "country", "creator", "campaign")
MONEY_FIGURES = ("sales", "earned", "pending", "held", "approved", "paid", "reversed")


class RangeError(ValueError):
    """A date range the dashboards refuse; the message is safe to show."""


@dataclass(frozen=True)
class DateRange:
    start: date  # first UTC day, inclusive
    end: date  # last UTC day, inclusive

    @property
    def start_at(self) -> datetime:
        return datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC)

    @property
    def end_before(self) -> datetime:
        """The first instant after the range."""
        return self.start_at + timedelta(days=self.length)

    @property
    def length(self) -> int:
        return (self.end - self.start).days + 1

    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range(self.length)]


def default_range(today: date, days: int = DEFAULT_RANGE_DAYS) -> DateRange:
    """The last `days` UTC days, today included."""
    return DateRange(today - timedelta(days=days - 1), today)


def make_range(start: date, end: date, today: date) -> DateRange:
    """A checked range; RangeError says what is wrong with it."""
    if start > today:
        raise RangeError("in_future")
    if end < start:
        raise RangeError("end_before_start")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise RangeError("too_long")
    return DateRange(start, end)


# -- the figures -------------------------------------------------------------------------------


def _half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass
class Figures:
    clicks: int = 0
    unique_clicks: int = 0
    orders: int = 0
    #: Campaign budget used, in the campaign's currency (campaign tables only).
    budget_used: int = 0
    sales: dict[str, int] = field(default_factory=dict)  # order currency
    earned: dict[str, int] = field(default_factory=dict)  # payout currency, from here on
    pending: dict[str, int] = field(default_factory=dict)
    held: dict[str, int] = field(default_factory=dict)
    approved: dict[str, int] = field(default_factory=dict)
    paid: dict[str, int] = field(default_factory=dict)
    reversed: dict[str, int] = field(default_factory=dict)

    @property
    def conversion(self) -> Decimal | None:
        """Orders per unique click (0.05 is 5 %), or None without unique clicks."""
        if not self.unique_clicks:
            return None
        return Decimal(self.orders) / Decimal(self.unique_clicks)

    @property
    def epc(self) -> dict[str, int]:
        """Earnings per 100 clicks, per currency, half-up to the minor unit."""
        if not self.clicks:
            return {}
        return {c: _half_up(Decimal(a) * 100 / self.clicks) for c, a in self.earned.items()}

    def is_empty(self) -> bool:
        return not (self.clicks or self.orders or any(self.earned.values()))


def _add(target: dict[str, int], currency: str, amount: int) -> None:
    if amount:
        target[currency] = target.get(currency, 0) + int(amount)


@dataclass(frozen=True)
class Scope:
    """Whose figures: one creator's, one brand's, or one campaign's of one brand."""

    creator_id: int | None = None
    brand_id: int | None = None
    campaign_id: int | None = None

    def clicks(self) -> list[Any]:
        out = []
        if self.creator_id is not None:
            out.append(Link.creator_id == self.creator_id)
        if self.brand_id is not None:
            out.append(Link.brand_id == self.brand_id)
        if self.campaign_id is not None:
            out.append(Link.campaign_id == self.campaign_id)
        return out

    def orders(self) -> list[Any]:
        out = [Order.creator_id.is_not(None)]
        if self.creator_id is not None:
            out.append(Order.creator_id == self.creator_id)
        if self.brand_id is not None:
            out.append(Order.brand_id == self.brand_id)
        if self.campaign_id is not None:
            out.append(Order.campaign_id == self.campaign_id)
        return out

    def commissions(self) -> list[Any]:
        # The order's campaign, as for orders: a line outside the campaign's products still
        # came through the campaign's link.
        out = []
        if self.creator_id is not None:
            out.append(Commission.creator_id == self.creator_id)
        if self.brand_id is not None:
            out.append(Commission.brand_id == self.brand_id)
        if self.campaign_id is not None:
            out.append(Order.campaign_id == self.campaign_id)
        return out


class utc_day(FunctionElement[date]):
    """The UTC calendar day of a timestamp column."""

    type = Date()
    inherit_cache = True


@compiles(utc_day, "postgresql")
def _pg_utc_day(element: utc_day, compiler: Any, **kw: Any) -> str:
    (ts,) = list(element.clauses)
    return f"CAST(({compiler.process(ts, **kw)}) AT TIME ZONE 'UTC' AS DATE)"


@compiles(utc_day, "sqlite")
def _sqlite_utc_day(element: utc_day, compiler: Any, **kw: Any) -> str:
    (ts,) = list(element.clauses)
    return f"date({compiler.process(ts, **kw)})"


def _keys(dimension: str | None) -> tuple[Any, Any, bool]:
    """(click key, order key, needs the order's link joined) for a dimension; None: totals."""
    if dimension is None:
        return None, None, False
    return {
        "day": (utc_day(Click.clicked_at), utc_day(Order.ordered_at), False),
        "link": (Click.link_id, Order.link_id, False),
        "content": (Link.content_id, Link.content_id, True),
        "country": (Click.country, Order.customer_country, False),
        "creator": (Link.creator_id, Order.creator_id, False),
        "campaign": (Link.campaign_id, Order.campaign_id, False),
    }[dimension]


def _key(value: Any, dimension: str | None) -> Any:
    if dimension == "day" and isinstance(value, str):  # SQLite answers ISO text
        return date.fromisoformat(value)
    return value


def figures_by(
    session: Session, scope: Scope, period: DateRange, dimension: str | None
) -> dict[Any, Figures]:
    """The figures of `scope` in `period`, grouped by `dimension` (None: one total, key None)."""
    click_key, order_key, join_link = _keys(dimension)
    total = literal_column("0")
    out: dict[Any, Figures] = {}

    def row(key: Any) -> Figures:
        key = None if dimension is None else _key(key, dimension)
        return out.setdefault(key, Figures())

    human = and_(Click.is_bot.is_(False), Click.is_duplicate.is_(False))
    ck = click_key if click_key is not None else total
    stmt = (
        select(ck, func.count(), func.coalesce(func.sum(case((human, 1), else_=0)), 0))
        .select_from(Click)
        .join(Link, Link.id == Click.link_id)
        .where(
            Click.clicked_at >= period.start_at,
            Click.clicked_at < period.end_before,
            *scope.clicks(),
        )
    )
    if click_key is not None:
        stmt = stmt.group_by(click_key)
    for key, clicks, unique in session.execute(stmt):
        f = row(key)
        f.clicks, f.unique_clicks = int(clicks), int(unique)

    ok = order_key if order_key is not None else total
    in_period = (Order.ordered_at >= period.start_at, Order.ordered_at < period.end_before)
    net_units = OrderLine.quantity - OrderLine.refunded_quantity
    stmt = (
        select(
            ok,
            Order.currency,
            func.count(func.distinct(Order.id)),
            func.coalesce(func.sum(net_units * OrderLine.unit_price_minor), 0),
        )
        .select_from(Order)
        .join(OrderLine, OrderLine.order_id == Order.id)
        .where(*in_period, *scope.orders())
    )
    if join_link:
        stmt = stmt.outerjoin(Link, Link.id == Order.link_id)
    stmt = stmt.group_by(*([order_key] if order_key is not None else []), Order.currency)
    for key, currency, orders, sales in session.execute(stmt):
        f = row(key)
        f.orders += int(orders)  # an order has one currency: the groups never share one
        _add(f.sales, currency, sales)

    net = Commission.amount_minor - Commission.reversed_minor

    def by_status(*statuses: CommissionStatus) -> Any:
        return func.coalesce(func.sum(case((Commission.status.in_(statuses), net), else_=0)), 0)

    earning = [s for s in CommissionStatus if s != CommissionStatus.REJECTED]
    stmt = (
        select(
            ok,
            Commission.currency,
            by_status(*earning),
            by_status(CommissionStatus.PENDING),
            by_status(CommissionStatus.HELD),
            by_status(CommissionStatus.APPROVED),
            by_status(CommissionStatus.PAID),
            func.coalesce(func.sum(Commission.reversed_minor), 0),
            func.coalesce(func.sum(Commission.budget_minor), 0),
        )
        .select_from(Commission)
        .join(Order, Order.id == Commission.order_id)
        .where(*in_period, *scope.commissions())
    )
    if join_link:
        stmt = stmt.outerjoin(Link, Link.id == Order.link_id)
    stmt = stmt.group_by(*([order_key] if order_key is not None else []), Commission.currency)
    for key, currency, earned, pending, held, approved, paid, rev, budget in session.execute(stmt):
        f = row(key)
        _add(f.earned, currency, earned)
        _add(f.pending, currency, pending)
        _add(f.held, currency, held)
        _add(f.approved, currency, approved)
        _add(f.paid, currency, paid)
        _add(f.reversed, currency, rev)
        f.budget_used += int(budget)  # always the campaign's currency
    return out


def totals(session: Session, scope: Scope, period: DateRange) -> Figures:
    return figures_by(session, scope, period, None).get(None, Figures())


def by_day(session: Session, scope: Scope, period: DateRange) -> list[tuple[date, Figures]]:
    """Every day of the range, in order; a day without data has zero figures."""
    found = figures_by(session, scope, period, "day")
    return [(day, found.get(day, Figures())) for day in period.days()]


def ranked(rows: Mapping[Any, Figures]) -> list[tuple[Any, Figures]]:
    """Best first: orders, then unique clicks, then clicks; ties by key for a stable order."""
    return sorted(
        rows.items(),
        key=lambda kv: (-kv[1].orders, -kv[1].unique_clicks, -kv[1].clicks, str(kv[0])),
    )


def currencies(rows: Iterable[Figures], figure: str) -> list[str]:
    """The currencies a money figure has in any of `rows`, sorted."""
    return sorted({c for f in rows for c in getattr(f, figure)})


# -- labels for the keys (one query per table) -------------------------------------------------


def link_labels(session: Session, ids: Iterable[Any]) -> dict[Any, str]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    rows = session.execute(
        select(Link.id, Link.code, Product.title)
        .join(Product, Product.id == Link.product_id)
        .where(Link.id.in_(wanted))
    )
    return {i: f"{title} ({code})" for i, code, title in rows}


def content_labels(session: Session, ids: Iterable[Any]) -> dict[Any, str]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    return dict(
        session.execute(select(Content.id, Content.title).where(Content.id.in_(wanted))).all()
    )


def creator_labels(session: Session, ids: Iterable[Any]) -> dict[Any, str]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    rows = session.execute(
        select(Creator.id, Creator.display_name, Creator.handle).where(Creator.id.in_(wanted))
    )
    return {i: f"{name} (@{handle})" for i, name, handle in rows}


def campaign_labels(session: Session, ids: Iterable[Any]) -> dict[Any, str]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    return dict(
        session.execute(select(Campaign.id, Campaign.name).where(Campaign.id.in_(wanted))).all()
    )


LABELS = {
    "link": link_labels,
    "content": content_labels,
    "creator": creator_labels,
    "campaign": campaign_labels,
}


def labels_for(session: Session, dimension: str, keys: Iterable[Any]) -> dict[Any, str]:
    """Display names of the keys (product and code, title, creator, campaign); countries and
    days are formatted by the template. A missing key (no content piece) has no label."""
    fn = LABELS.get(dimension)
    return fn(session, keys) if fn else {}


# -- the brand's campaigns ----------------------------------------------------------------------


def brand_campaigns(session: Session, brand_id: int) -> list[Campaign]:
    return list(
        session.scalars(
            select(Campaign)
            .where(Campaign.brand_id == brand_id)
            .order_by(Campaign.starts_on.desc(), Campaign.id)
        )
    )


# -- the creator's tier and next payout ---------------------------------------------------------


@dataclass
class TierProgress:
    current: Tier | None
    next: Tier | None
    reference_currency: str
    #: Trailing 90-day figures in minor units of the reference currency (see connect.tiers).
    sales: int
    earnings: int
    audience: int

    def share(self, value: int, threshold: int) -> int:
        """Percent of a threshold reached, 0-100."""
        if threshold <= 0:
            return 100
        return min(100, value * 100 // threshold)

    @property
    def sales_needed(self) -> int:
        return max(0, self.next.min_sales_minor - self.sales) if self.next else 0

    @property
    def earnings_needed(self) -> int:
        return max(0, self.next.min_earnings_minor - self.earnings) if self.next else 0

    @property
    def audience_needed(self) -> int:
        return max(0, self.next.min_audience - self.audience) if self.next else 0


def tier_progress(session: Session, creator: Creator, now: datetime) -> TierProgress | None:
    """Where the creator stands on the ladder, with the same trailing figures the tier recompute
    uses (`connect.tiers.services.creator_metrics`). None when no ladder is configured."""
    ladder = active_ladder(session)
    if not ladder:
        return None
    reference = ladder_settings(session).reference_currency
    metrics = creator_metrics(session, now, reference)
    row = session.execute(
        select(metrics.c.sales, metrics.c.earnings).where(metrics.c.creator_id == creator.id)
    ).first()
    sales, earnings = (row[0] or 0, row[1] or 0) if row is not None else (0, 0)
    # A retired current tier is still where the creator stands until the next recompute.
    current = session.get(Tier, creator.tier_id) if creator.tier_id else None
    rank = current.rank if current else ladder[0].rank - 1
    upper = [t for t in ladder if t.rank > rank]
    return TierProgress(
        current=current,
        next=upper[0] if upper else None,
        reference_currency=reference,
        sales=_half_up(Decimal(sales)),
        earnings=_half_up(Decimal(earnings)),
        audience=creator.audience_size,
    )


@dataclass
class PayoutEstimate:
    currency: str
    approved: int  # payable now (negative: carried, refunds after payout)
    in_flight: int  # in a batch being paid
    pending: int  # still inside the brands' return windows
    minimum: int
    #: When the earliest pending commission's return window closes (it then becomes approved).
    next_approval: datetime | None

    @property
    def due(self) -> bool:
        return self.approved >= self.minimum

    @property
    def short_by(self) -> int:
        return max(0, self.minimum - self.approved)


def payout_estimates(
    session: Session, creator_id: int, minimums: Mapping[str, int] | None, now: datetime
) -> list[PayoutEstimate]:
    """Per currency: the approved balance against the payout minimum. Batches are built by
    finance per period (no fixed schedule exists), so this says whether the balance would be
    included, not when."""
    balances = creator_balances(session, creator_id)
    upcoming = dict(
        session.execute(
            select(Commission.currency, func.min(Commission.approve_after))
            .where(
                Commission.creator_id == creator_id,
                Commission.status == CommissionStatus.PENDING,
                Commission.amount_minor > Commission.reversed_minor,
            )
            .group_by(Commission.currency)
        ).all()
    )
    out = []
    for currency in sorted(set(balances) | set(upcoming)):
        by_state = balances.get(currency, {})

        def amount(state: str, by_state: Mapping[str, Any] = by_state) -> int:
            money = by_state.get(state)
            return money.amount if money is not None else 0

        when = upcoming.get(currency)
        out.append(
            PayoutEstimate(
                currency=currency,
                approved=amount("approved"),
                in_flight=amount("in_flight"),
                pending=amount("pending"),
                minimum=minimum_minor(currency, dict(minimums or {})),
                next_approval=when if when is None or when > now else now,
            )
        )
    return out


def has_payout_method(session: Session, creator_id: int) -> bool:
    return (
        session.scalar(select(PayoutMethod.id).where(PayoutMethod.creator_id == creator_id))
        is not None
    )


# -- finance -------------------------------------------------------------------------------------

_OWED = {
    AccountKind.CREATOR_PENDING.value: "pending",
    AccountKind.CREATOR_HELD.value: "held",
    AccountKind.CREATOR_APPROVED.value: "approved",
    AccountKind.CREATOR_IN_FLIGHT.value: "in_flight",
}


@dataclass
class Liability:
    currency: str
    pending: int = 0
    held: int = 0
    approved: int = 0  # net: positive balances minus negative ones
    in_flight: int = 0
    #: Creators whose approved balance is negative (refunds after payout), and how much.
    negative_creators: int = 0
    negative: int = 0
    #: What brands owe the platform for the commissions they generated.
    receivable: int = 0

    @property
    def payable(self) -> int:
        """Approved balances above zero: what the next batches may pay (before minimums)."""
        return self.approved - self.negative

    @property
    def total(self) -> int:
        return self.pending + self.held + self.approved + self.in_flight


def liabilities(session: Session) -> list[Liability]:
    """What the platform owes creators, per currency and state, from the ledger."""
    out: dict[str, Liability] = {}
    for kind, currency, total in balances_by_kind(session):
        row = out.setdefault(currency, Liability(currency))
        if kind in _OWED:
            # Creator accounts are credit-normal: owed is minus the entry sum.
            setattr(row, _OWED[kind], -total)
        elif kind == AccountKind.BRAND_RECEIVABLE.value:
            row.receivable = total
    per_creator = (
        select(
            LedgerAccount.currency.label("currency"),
            (-func.sum(LedgerEntry.amount_minor)).label("owed"),
        )
        .join(LedgerEntry, LedgerEntry.account_id == LedgerAccount.id)
        .where(LedgerAccount.kind == AccountKind.CREATOR_APPROVED)
        .group_by(LedgerAccount.owner_id, LedgerAccount.currency)
        .having(func.sum(LedgerEntry.amount_minor) > 0)
        .subquery()
    )
    for currency, creators, owed in session.execute(
        select(per_creator.c.currency, func.count(), func.sum(per_creator.c.owed)).group_by(
            per_creator.c.currency
        )
    ):
        row = out.setdefault(currency, Liability(currency))
        row.negative_creators, row.negative = int(creators), int(owed)
    return [
        row for _currency, row in sorted(out.items()) if row.total or row.negative or row.receivable
    ]


@dataclass(frozen=True)
class HoldGroup:
    reason: str
    currency: str
    commissions: int
    amount: int
    oldest: datetime


def hold_groups(session: Session) -> list[HoldGroup]:
    """The hold queue by reason and currency, largest first."""
    rows = session.execute(
        select(
            Commission.hold_reason,
            Commission.currency,
            func.count(),
            func.sum(Commission.amount_minor - Commission.reversed_minor),
            func.min(Commission.created_at),
        )
        .where(Commission.status == CommissionStatus.HELD)
        .group_by(Commission.hold_reason, Commission.currency)
    )
    groups = [HoldGroup(r, c, int(n), int(a or 0), o) for r, c, n, a, o in rows]
    return sorted(groups, key=lambda g: (-g.commissions, g.currency, g.reason))


def oldest_holds(session: Session, limit: int = 20) -> list[Any]:
    """The commissions waiting longest for review: (commission, order ref, creator handle)."""
    return list(
        session.execute(
            select(Commission, Order.external_id, Creator.handle)
            .join(Order, Order.id == Commission.order_id)
            .join(Creator, Creator.id == Commission.creator_id)
            .where(Commission.status == CommissionStatus.HELD)
            .order_by(Commission.created_at, Commission.id)
            .limit(limit)
        ).all()
    )


def tier_distribution(session: Session) -> list[tuple[Tier | None, int]]:
    """Creators per tier, by rank; creators not placed yet come first (tier None)."""
    counts = dict(
        session.execute(select(Creator.tier_id, func.count()).group_by(Creator.tier_id)).all()
    )
    ladder = list(session.scalars(select(Tier).order_by(Tier.rank)))
    out: list[tuple[Tier | None, int]] = []
    if counts.get(None):
        out.append((None, int(counts[None])))
    out += [(t, int(counts.get(t.id, 0))) for t in ladder]
    return out
