"""Campaigns: the rules, the brand's writes and the reads behind the brand and creator pages.

The rules live here and nowhere else:
- `next_status` / `next_member_status`: the explicit transition tables; an illegal move raises.
- `phase`: what a campaign is today (draft, scheduled, live, paused, exhausted, ended).
- `audience_problem`: whether a creator fits a campaign's countries and tier floor.
- `campaign_open_to`: whether a creator may link through a campaign today (tracking's rule).
- `join_problem`: whether a creator may join, apply to or accept a campaign now.
- `invite_problem`: whether a brand may invite a creator.

Services take explicit arguments (never the logged-in user), flush, and leave the commit to the
request. Every change is audited. Tenant rule: brand reads take the brand id, creator reads take
the creator, and a campaign a creator may not see is as good as missing.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, String, and_, case, cast, delete, exists, func, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from connect.audit.models import AuditEvent
from connect.audit.services import record
from connect.brands.models import Brand, BrandStatus, Product, ProductStatus
from connect.campaigns.markdown import MAX_BRIEF
from connect.campaigns.models import (
    Campaign,
    CampaignMember,
    CampaignProduct,
    CampaignRate,
    CampaignStatus,
    MemberStatus,
    Visibility,
)
from connect.core.geo import is_country
from connect.core.money import is_currency
from connect.creators.models import Creator, CreatorStatus
from connect.tiers.models import Tier

# --- errors ----------------------------------------------------------------------------------


class CampaignError(ValueError):
    """A request the campaign rules refuse. The message is safe to show; `field` names the form
    field it belongs to (None: the whole form); `status` is the HTTP code."""

    def __init__(self, message: object, *, field: str | None = None, status: int = 422) -> None:
        super().__init__(message)
        self.field = field
        self.status = status

    def __str__(self) -> str:
        return str(self.args[0])  # a lazy string, translated when shown


class IllegalTransition(CampaignError):
    """A status move the transition table does not allow."""

    def __init__(self, message: object) -> None:
        super().__init__(message, status=409)


# --- transition tables -----------------------------------------------------------------------

#: Campaign status moves. A draft goes live once; live and paused swap; ended is final.
TRANSITIONS: dict[CampaignStatus, frozenset[CampaignStatus]] = {
    CampaignStatus.DRAFT: frozenset({CampaignStatus.ACTIVE}),
    CampaignStatus.ACTIVE: frozenset({CampaignStatus.PAUSED, CampaignStatus.ENDED}),
    CampaignStatus.PAUSED: frozenset({CampaignStatus.ACTIVE, CampaignStatus.ENDED}),
    CampaignStatus.ENDED: frozenset(),
}

#: Membership moves. Invited -> approved is the creator accepting; the rest are the brand's.
MEMBER_TRANSITIONS: dict[MemberStatus, frozenset[MemberStatus]] = {
    MemberStatus.INVITED: frozenset({MemberStatus.APPROVED, MemberStatus.REMOVED}),
    MemberStatus.APPLIED: frozenset({MemberStatus.APPROVED, MemberStatus.REJECTED}),
    MemberStatus.APPROVED: frozenset({MemberStatus.REMOVED}),
    MemberStatus.REJECTED: frozenset({MemberStatus.INVITED}),
    MemberStatus.REMOVED: frozenset({MemberStatus.INVITED}),
}


def next_status(current: CampaignStatus, wanted: CampaignStatus) -> CampaignStatus:
    """`wanted` if the table allows the move from `current`; raises IllegalTransition otherwise."""
    if wanted not in TRANSITIONS[current]:
        raise IllegalTransition(
            _l("A %(a)s campaign cannot become %(b)s.", a=current.value, b=wanted.value)
        )
    return wanted


def next_member_status(current: MemberStatus, wanted: MemberStatus) -> MemberStatus:
    if wanted not in MEMBER_TRANSITIONS[current]:
        raise IllegalTransition(
            _l("An %(a)s member cannot become %(b)s.", a=current.value, b=wanted.value)
        )
    return wanted


# --- phase: what a campaign is today ---------------------------------------------------------


class Phase(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"  # active, not started yet
    LIVE = "live"
    PAUSED = "paused"
    EXHAUSTED = "exhausted"  # spent >= budget
    ENDED = "ended"  # ended by hand, or past its end date


#: Phases in which creators may still join (links need `live`).
JOINABLE = frozenset({Phase.SCHEDULED, Phase.LIVE})
NOTICE_DAYS = 30


def is_exhausted(campaign: Campaign) -> bool:
    return campaign.budget_minor is not None and campaign.spent_minor >= campaign.budget_minor


def phase(campaign: Campaign, today: date) -> Phase:
    if campaign.status == CampaignStatus.DRAFT:
        return Phase.DRAFT
    if campaign.status == CampaignStatus.ENDED or (
        campaign.ends_on is not None and campaign.ends_on < today
    ):
        return Phase.ENDED
    if campaign.status == CampaignStatus.PAUSED:
        return Phase.PAUSED
    if is_exhausted(campaign):
        return Phase.EXHAUSTED
    if campaign.starts_on > today:
        return Phase.SCHEDULED
    return Phase.LIVE


def ended_on(campaign: Campaign, today: date) -> date | None:
    """The day the campaign ended, or None while it has not."""
    if campaign.status == CampaignStatus.ENDED:
        if campaign.ended_at is not None:
            return campaign.ended_at.date()
        return campaign.ends_on or campaign.updated_at.date()
    if campaign.ends_on is not None and campaign.ends_on < today:
        return campaign.ends_on
    return None


#: Why a campaign in this phase takes no one (lazy: translated when the problem is returned).
_PHASE_PROBLEMS = {
    Phase.DRAFT: _l("This campaign is not running."),
    Phase.PAUSED: _l("This campaign is paused."),
    Phase.EXHAUSTED: _l("This campaign has used up its budget."),
    Phase.ENDED: _l("This campaign has ended."),
}


def _phase_problem(p: Phase) -> str:
    return str(_PHASE_PROBLEMS.get(p, ""))


# --- eligibility: one rule, used by discovery, joining, inviting and tracked links -------------


def tier_ranks(session: Session) -> dict[int, int]:
    """Tier id -> rank. The ladder is a handful of rows; one query answers every check."""
    return dict(session.execute(select(Tier.id, Tier.rank)).all())


def _rank(ranks: dict[int, int], tier_id: int | None) -> int:
    return 0 if tier_id is None else ranks.get(tier_id, 0)


def audience_problem(campaign: Campaign, creator: Creator, ranks: dict[int, int]) -> str:
    """Why `creator` is outside the campaign's countries or below its tier floor, or ""."""
    if campaign.countries and creator.country not in campaign.countries:
        return str(_l("This campaign is not open to your country."))
    if _rank(ranks, campaign.min_tier_id) > _rank(ranks, creator.tier_id):
        return str(_l("This campaign needs a higher tier."))
    return ""


def member_status(session: Session, campaign_id: int, creator_id: int) -> MemberStatus | None:
    return session.scalar(
        select(CampaignMember.status).where(
            CampaignMember.campaign_id == campaign_id, CampaignMember.creator_id == creator_id
        )
    )


def campaign_open_to(session: Session, campaign: Campaign, creator: Creator, today: date) -> str:
    """Why `creator` may not link through `campaign` today, or "" when they may.

    Running (active, started, not past its end, budget left); then an approved member may;
    otherwise the campaign must be open, not need approval, not have turned the creator down,
    and the creator must fit its countries and tier floor.
    """
    p = phase(campaign, today)
    if p in {Phase.DRAFT, Phase.SCHEDULED}:
        return str(_l("This campaign is not running."))
    if p != Phase.LIVE:
        return _phase_problem(p)
    member = member_status(session, campaign.id, creator.id)
    if member == MemberStatus.APPROVED:
        return ""
    if campaign.visibility == Visibility.INVITE or member in {
        MemberStatus.REJECTED,
        MemberStatus.REMOVED,
    }:
        return str(_l("You are not a member of this campaign."))
    if campaign.approval_required:
        if member == MemberStatus.APPLIED:
            return str(_l("Your application is waiting for the brand's answer."))
        return str(_l("Apply to this campaign first: the brand approves its creators."))
    return audience_problem(campaign, creator, tier_ranks(session))


def join_problem(
    campaign: Campaign,
    creator: Creator,
    member: MemberStatus | None,
    ranks: dict[int, int],
    today: date,
) -> str:
    """Why `creator` may not join, apply to or accept `campaign` now, or "" when they may.
    What the join does is `join_outcome`."""
    if creator.status != CreatorStatus.APPROVED:
        return str(_l("Your account must be approved before you join campaigns."))
    p = phase(campaign, today)
    if p not in JOINABLE:
        return _phase_problem(p) or str(_l("This campaign is not running."))
    if member == MemberStatus.APPROVED:
        return str(_l("You are already in this campaign."))
    if member == MemberStatus.APPLIED:
        return str(_l("Your application is waiting for the brand's answer."))
    if member in {MemberStatus.REJECTED, MemberStatus.REMOVED}:
        return str(_l("This campaign is not open to you."))
    if member is None and campaign.visibility == Visibility.INVITE:
        return str(_l("This campaign is by invitation only."))
    return audience_problem(campaign, creator, ranks)


def join_outcome(campaign: Campaign, member: MemberStatus | None) -> MemberStatus:
    """The membership a successful join gives: accepted invitations and instant-join campaigns
    approve at once; campaigns that review applications record an application."""
    if member == MemberStatus.INVITED or not campaign.approval_required:
        return MemberStatus.APPROVED
    return MemberStatus.APPLIED


def invite_problem(
    campaign: Campaign,
    creator: Creator,
    member: MemberStatus | None,
    ranks: dict[int, int],
    today: date,
) -> str:
    """Why the brand may not invite `creator` to `campaign`, or "". Drafts may invite ahead of
    launch (creators see the invitation once the campaign goes live)."""
    if creator.status != CreatorStatus.APPROVED:
        return str(_l("Only approved creators can be invited."))
    p = phase(campaign, today)
    if p in {Phase.ENDED, Phase.EXHAUSTED}:
        return _phase_problem(p)
    if member == MemberStatus.APPLIED:
        return str(_l("This creator has applied: approve the application instead."))
    if member in {MemberStatus.INVITED, MemberStatus.APPROVED}:
        return str(_l("This creator is already invited or in the campaign."))
    problem = audience_problem(campaign, creator, ranks)
    if problem:
        return str(_l("This creator is outside the campaign's countries or tier floor."))
    return ""


# --- SQL helpers: JSON lists of codes, on PostgreSQL and SQLite ---------------------------------


class json_list_has(FunctionElement[bool]):
    """`value` is an element of the JSON array in `column` (a list of ISO codes)."""

    type = Boolean()
    inherit_cache = True


@compiles(json_list_has, "postgresql")
def _pg_json_list_has(element: json_list_has, compiler: Any, **kw: Any) -> str:
    col, value = list(element.clauses)
    return (
        f"(CAST({compiler.process(col, **kw)} AS JSONB) @> "
        f"jsonb_build_array(CAST({compiler.process(value, **kw)} AS TEXT)))"
    )


@compiles(json_list_has, "sqlite")
def _sqlite_json_list_has(element: json_list_has, compiler: Any, **kw: Any) -> str:
    col, value = list(element.clauses)
    # Compiled SQL fragments (a column and a bound parameter), not user text.
    return (
        f"EXISTS (SELECT 1 FROM json_each({compiler.process(col, **kw)}) AS j "  # noqa: S608
        f"WHERE j.value = {compiler.process(value, **kw)})"
    )


def _everywhere_or_has(col: Any, code: str) -> ColumnElement[bool]:
    """An empty list means every country."""
    return or_(func.json_array_length(col) == 0, json_list_has(col, code))


def _floor_rank() -> Any:
    return func.coalesce(
        select(Tier.rank).where(Tier.id == Campaign.min_tier_id).scalar_subquery(), 0
    )


def _fits_sql(creator: Creator, ranks: dict[int, int]) -> ColumnElement[bool]:
    """SQL twin of `audience_problem(...) == ""` for discovery lists."""
    return and_(
        _everywhere_or_has(Campaign.countries, creator.country),
        _floor_rank() <= _rank(ranks, creator.tier_id),
    )


def _joinable_sql(today: date) -> ColumnElement[bool]:
    """SQL twin of `phase(...) in JOINABLE`."""
    return and_(
        Campaign.status == CampaignStatus.ACTIVE,
        or_(Campaign.ends_on.is_(None), Campaign.ends_on >= today),
        or_(Campaign.budget_minor.is_(None), Campaign.spent_minor < Campaign.budget_minor),
    )


# --- brand input: parsing and validation --------------------------------------------------------


def parse_percent(text: str) -> int:
    """A percentage typed by a person (`12.5`, `12,5 %`) -> basis points (1250). Decimal only:
    at most two decimals (a whole basis point), between 0 and 100."""
    raw = (text or "").strip().removesuffix("%").strip().replace(",", ".")
    try:
        value = Decimal(raw)
    except InvalidOperation as exc:
        raise CampaignError(_l("Enter a percentage such as 8 or 12.5.")) from exc
    if not value.is_finite():
        raise CampaignError(_l("Enter a percentage such as 8 or 12.5."))
    bps = value * 100
    if bps != bps.to_integral_value():
        raise CampaignError(_l("Use at most two decimals (12.25 %)."))
    if not 0 <= bps <= 10_000:
        raise CampaignError(_l("A rate is between 0 and 100 %."))
    return int(bps)


def percent(bps: int) -> str:
    """1250 -> '12.5' (for form fields)."""
    return format((Decimal(bps) / 100).normalize(), "f")


@dataclass(frozen=True)
class CampaignInput:
    """Everything the brand's campaign form sets, already parsed (rates in basis points,
    budget in minor units of `currency`)."""

    name: str
    brief: str
    starts_on: date
    ends_on: date | None
    countries: list[str]
    min_tier_id: int | None
    visibility: Visibility
    approval_required: bool
    default_rate_bps: int
    tier_bonus: bool
    budget_minor: int | None
    currency: str
    attribution_window_days: int
    #: SKU -> basis points; SKUs of the campaign's brand only.
    product_rates: dict[str, int] = field(default_factory=dict)
    #: category -> basis points.
    category_rates: dict[str, int] = field(default_factory=dict)
    #: Covered products: these SKUs plus every active product in these categories.
    #: Both empty: the whole catalogue.
    covered_skus: list[str] = field(default_factory=list)
    covered_categories: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Resolved:
    product_rates: dict[int, int]
    category_rates: dict[str, int]
    covered: set[int]


def brand_categories(session: Session, brand_id: int) -> list[str]:
    return list(
        session.scalars(
            select(Product.category)
            .where(Product.brand_id == brand_id, Product.category != "")
            .distinct()
            .order_by(Product.category)
        )
    )


def _validate(
    session: Session, brand: Brand, data: CampaignInput, campaign: Campaign | None
) -> _Resolved:
    def refuse(message: object, name: str | None = None) -> CampaignError:
        return CampaignError(message, field=name)

    if not 1 <= len(data.name.strip()) <= 120:
        raise refuse(_l("Give the campaign a name of 1 to 120 characters."), "name")
    if len(data.brief) > MAX_BRIEF:
        raise refuse(_l("The brief is limited to %(n)s characters.", n=f"{MAX_BRIEF:,}"), "brief")
    if data.ends_on is not None and data.ends_on < data.starts_on:
        raise refuse(_l("The end date must be on or after the start date."), "ends_on")
    if len(data.countries) > 250 or not all(is_country(c) for c in data.countries):
        raise refuse(_l("Choose countries from the list."), "countries")
    if data.min_tier_id is not None and session.get(Tier, data.min_tier_id) is None:
        raise refuse(_l("Choose a tier from the list."), "min_tier_id")
    if not 0 <= data.default_rate_bps <= 10_000:
        raise refuse(_l("A rate is between 0 and 100 %."), "default_rate")
    if not 1 <= data.attribution_window_days <= 365:
        raise refuse(_l("The attribution window is 1 to 365 days."), "attribution_window_days")
    if not is_currency(data.currency):
        raise refuse(_l("Choose a currency from the list."), "currency")
    if data.budget_minor is not None and not 0 < data.budget_minor < 10**15:
        raise refuse(_l("The budget must be more than zero."), "budget")
    if campaign is not None and campaign.spent_minor > 0:
        if data.currency != campaign.currency:
            raise refuse(
                _l("The currency cannot change once the budget has been spent."), "currency"
            )
        if data.budget_minor is not None and data.budget_minor < campaign.spent_minor:
            raise refuse(_l("The budget cannot be below what is already spent."), "budget")
    for bps in (*data.product_rates.values(), *data.category_rates.values()):
        if not 0 <= bps <= 10_000:
            raise refuse(_l("A rate is between 0 and 100 %."))

    skus = set(data.product_rates) | set(data.covered_skus)
    by_sku = dict(
        session.execute(
            select(Product.sku, Product.id).where(
                Product.brand_id == brand.id, Product.sku.in_(sorted(skus))
            )
        ).all()
    )
    unknown_rate = sorted(set(data.product_rates) - set(by_sku))
    if unknown_rate:
        raise refuse(
            _l("Not in your catalogue: %(skus)s.", skus=", ".join(unknown_rate[:5])),
            "product_rates",
        )
    unknown_cover = sorted(set(data.covered_skus) - set(by_sku))
    if unknown_cover:
        raise refuse(
            _l("Not in your catalogue: %(skus)s.", skus=", ".join(unknown_cover[:5])),
            "covered_skus",
        )
    categories = set(brand_categories(session, brand.id))
    for name, wanted in (
        ("category_rates", set(data.category_rates)),
        ("covered_categories", set(data.covered_categories)),
    ):
        missing = sorted(wanted - categories)
        if missing:
            raise refuse(
                _l("No product of yours is in: %(categories)s.", categories=", ".join(missing[:5])),
                name,
            )

    covered = {by_sku[s] for s in data.covered_skus}
    if data.covered_categories:
        covered |= set(
            session.scalars(
                select(Product.id).where(
                    Product.brand_id == brand.id,
                    Product.status == ProductStatus.ACTIVE,
                    Product.category.in_(sorted(data.covered_categories)),
                )
            )
        )
    if (data.covered_skus or data.covered_categories) and not covered:
        raise refuse(_l("No active product matches the covered products."), "covered_skus")
    product_rates = {by_sku[s]: bps for s, bps in data.product_rates.items()}
    outside = sorted(s for s in data.product_rates if covered and by_sku[s] not in covered)
    if outside:
        raise refuse(
            _l("These have a rate but are not covered: %(skus)s.", skus=", ".join(outside[:5])),
            "product_rates",
        )
    return _Resolved(product_rates, dict(data.category_rates), covered)


_SCALARS = (
    "name",
    "brief",
    "starts_on",
    "ends_on",
    "countries",
    "min_tier_id",
    "visibility",
    "approval_required",
    "default_rate_bps",
    "tier_bonus",
    "budget_minor",
    "currency",
    "attribution_window_days",
)


def _plain(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _apply(
    session: Session, campaign: Campaign, data: CampaignInput, resolved: _Resolved
) -> dict[str, Any]:
    """Write `data` onto `campaign` (flushed, with an id); returns what changed, for the audit."""
    values = {name: getattr(data, name) for name in _SCALARS}
    values["name"] = data.name.strip()
    values["countries"] = sorted(set(data.countries))
    if data.visibility == Visibility.INVITE:
        values["approval_required"] = False  # invitations are the approval
    changes: dict[str, Any] = {}
    for name, new in values.items():
        old = getattr(campaign, name)
        if old != new:
            changes[name] = [_plain(old), _plain(new)] if name != "brief" else "changed"
            setattr(campaign, name, new)
    session.flush()

    # Rates and coverage are diffed, never deleted and re-inserted: the unique constraints
    # would see the new row before the old one is gone.
    existing = {
        (r.product_id, r.category): r
        for r in session.scalars(
            select(CampaignRate).where(CampaignRate.campaign_id == campaign.id)
        )
    }
    wanted = {(pid, None): bps for pid, bps in resolved.product_rates.items()} | {
        (None, cat): bps for cat, bps in resolved.category_rates.items()
    }
    rate_changes = 0
    for key, row in existing.items():
        if key not in wanted:
            session.delete(row)
            rate_changes += 1
        elif row.rate_bps != wanted[key]:
            row.rate_bps = wanted[key]
            rate_changes += 1
    for (pid, cat), bps in wanted.items():
        if (pid, cat) not in existing:
            session.add(
                CampaignRate(campaign_id=campaign.id, product_id=pid, category=cat, rate_bps=bps)
            )
            rate_changes += 1
    if rate_changes:
        changes["rates"] = {
            "products": len(resolved.product_rates),
            "categories": len(resolved.category_rates),
        }

    current = set(
        session.scalars(
            select(CampaignProduct.product_id).where(CampaignProduct.campaign_id == campaign.id)
        )
    )
    gone, new_ids = current - resolved.covered, resolved.covered - current
    if gone:
        session.execute(
            delete(CampaignProduct).where(
                CampaignProduct.campaign_id == campaign.id,
                CampaignProduct.product_id.in_(sorted(gone)),
            )
        )
    session.add_all(
        CampaignProduct(campaign_id=campaign.id, product_id=pid) for pid in sorted(new_ids)
    )
    if gone or new_ids:
        changes["covered"] = {"added": len(new_ids), "removed": len(gone)}
    session.flush()
    return changes


def create_campaign(
    session: Session, brand: Brand, data: CampaignInput, *, actor_id: int
) -> Campaign:
    """A new draft. Raises CampaignError (nothing written) when the input is refused."""
    resolved = _validate(session, brand, data, None)
    campaign = Campaign(
        brand_id=brand.id,
        name=data.name.strip(),
        starts_on=data.starts_on,
        default_rate_bps=data.default_rate_bps,
        currency=data.currency,
        status=CampaignStatus.DRAFT,
    )
    session.add(campaign)
    session.flush()
    _apply(session, campaign, data, resolved)
    record(
        session,
        actor_id=actor_id,
        action="campaign.create",
        target=campaign,
        data={"brand_id": brand.id, "name": campaign.name},
    )
    return campaign


def update_campaign(
    session: Session, brand: Brand, campaign: Campaign, data: CampaignInput, *, actor_id: int
) -> dict[str, Any]:
    """Edit a campaign that has not ended. Raises CampaignError (nothing written) if refused."""
    if campaign.brand_id != brand.id:
        raise CampaignError(_l("No such campaign."), status=404)
    if campaign.status == CampaignStatus.ENDED:
        raise CampaignError(_l("An ended campaign cannot be edited."), status=409)
    resolved = _validate(session, brand, data, campaign)
    changes = _apply(session, campaign, data, resolved)
    if changes:
        record(
            session,
            actor_id=actor_id,
            action="campaign.update",
            target=campaign,
            data={"brand_id": brand.id, "changes": changes},
        )
    return changes


def set_status(
    session: Session,
    brand: Brand,
    campaign: Campaign,
    wanted: CampaignStatus,
    *,
    actor_id: int,
    now: datetime,
) -> None:
    """Move the campaign along the transition table; raises IllegalTransition, or CampaignError
    when going live is not possible yet."""
    previous = campaign.status
    next_status(previous, wanted)
    if wanted == CampaignStatus.ACTIVE:
        if brand.status != BrandStatus.APPROVED:
            raise CampaignError(_l("Your brand must be approved before a campaign goes live."))
        if campaign.ends_on is not None and campaign.ends_on < now.date():
            raise CampaignError(_l("The end date has passed: move it before going live."))
        if is_exhausted(campaign):
            raise CampaignError(_l("The budget is used up: raise it before going live."))
    campaign.status = wanted
    if wanted == CampaignStatus.ENDED:
        campaign.ended_at = now
    session.flush()
    record(
        session,
        actor_id=actor_id,
        action=f"campaign.{wanted.value}",
        target=campaign,
        data={"brand_id": brand.id, "from": previous.value, "to": wanted.value},
    )


# --- members: invite, join/apply/accept, decide -------------------------------------------------


def _member_row(session: Session, campaign_id: int, creator_id: int) -> CampaignMember | None:
    return session.scalar(
        select(CampaignMember).where(
            CampaignMember.campaign_id == campaign_id, CampaignMember.creator_id == creator_id
        )
    )


def _audit_member(
    session: Session, member: CampaignMember, action: str, actor_id: int, previous: Any
) -> None:
    record(
        session,
        actor_id=actor_id,
        action=f"campaign_member.{action}",
        target=member,
        data={
            "campaign_id": member.campaign_id,
            "creator_id": member.creator_id,
            "from": previous.value if previous else None,
            "to": member.status.value,
        },
    )


def invite(
    session: Session, campaign: Campaign, creator_id: int, *, actor_id: int, now: datetime
) -> CampaignMember:
    creator = session.get(Creator, creator_id)
    if creator is None:
        raise CampaignError(_l("No such creator."), status=404)
    member = _member_row(session, campaign.id, creator.id)
    previous = member.status if member else None
    problem = invite_problem(campaign, creator, previous, tier_ranks(session), now.date())
    if problem:
        raise CampaignError(problem)
    if member is None:
        member = CampaignMember(
            campaign_id=campaign.id, creator_id=creator.id, status=MemberStatus.INVITED
        )
        session.add(member)
    else:
        member.status = next_member_status(member.status, MemberStatus.INVITED)
        member.decided_at = None
    session.flush()
    _audit_member(session, member, "invite", actor_id, previous)
    return member


def join(
    session: Session,
    campaign: Campaign,
    creator: Creator,
    *,
    note: str = "",
    actor_id: int,
    now: datetime,
) -> CampaignMember:
    """The creator joins an open campaign, applies to one that reviews applications, or
    accepts an invitation. Raises CampaignError with the reason otherwise."""
    member = _member_row(session, campaign.id, creator.id)
    previous = member.status if member else None
    problem = join_problem(campaign, creator, previous, tier_ranks(session), now.date())
    if problem:
        raise CampaignError(problem)
    outcome = join_outcome(campaign, previous)
    if member is None:
        member = CampaignMember(campaign_id=campaign.id, creator_id=creator.id, status=outcome)
        session.add(member)
    else:
        member.status = next_member_status(member.status, outcome)
    if outcome == MemberStatus.APPROVED:
        member.decided_at = now
    if outcome == MemberStatus.APPLIED:
        member.note = note.strip()[:500]
    session.flush()
    action = {
        MemberStatus.INVITED: "accept",
        None: "join" if outcome == MemberStatus.APPROVED else "apply",
    }[previous]
    _audit_member(session, member, action, actor_id, previous)
    return member


def decline(session: Session, campaign: Campaign, creator: Creator, *, actor_id: int) -> None:
    """The creator turns an invitation down: the invitation is withdrawn (the brand may invite
    again later)."""
    member = _member_row(session, campaign.id, creator.id)
    if member is None or member.status != MemberStatus.INVITED:
        raise CampaignError(_l("There is no invitation to decline."), status=409)
    record(
        session,
        actor_id=actor_id,
        action="campaign_member.decline",
        target=member,
        data={"campaign_id": campaign.id, "creator_id": creator.id},
    )
    session.delete(member)
    session.flush()


_DECISIONS = {
    "approve": MemberStatus.APPROVED,
    "reject": MemberStatus.REJECTED,
    "remove": MemberStatus.REMOVED,
}


def decide(
    session: Session,
    campaign: Campaign,
    member_id: int,
    decision: str,
    *,
    actor_id: int,
    now: datetime,
) -> CampaignMember:
    """The brand approves or rejects an application, removes a member, or withdraws an
    invitation (`remove` on an invited member). Only the brand's own members are reachable."""
    member = session.scalar(
        select(CampaignMember).where(
            CampaignMember.id == member_id, CampaignMember.campaign_id == campaign.id
        )
    )
    if member is None:
        raise CampaignError(_l("No such member."), status=404)
    if decision not in _DECISIONS:
        raise CampaignError(_l("Unknown decision."), status=400)
    wanted = _DECISIONS[decision]
    if member.status == MemberStatus.INVITED and wanted == MemberStatus.APPROVED:
        raise IllegalTransition(_l("Only the creator can accept an invitation."))
    if wanted == MemberStatus.APPROVED and phase(campaign, now.date()) in {
        Phase.ENDED,
        Phase.EXHAUSTED,
    }:
        raise CampaignError(_phase_problem(phase(campaign, now.date())))
    previous = member.status
    member.status = next_member_status(previous, wanted)
    member.decided_at = now
    session.flush()
    action = "withdraw" if previous == MemberStatus.INVITED else decision
    _audit_member(session, member, action, actor_id, previous)
    return member


# --- brand reads ------------------------------------------------------------------------------


def brand_campaign(session: Session, brand_id: int, campaign_id: int) -> Campaign | None:
    """The brand's own campaign, or None (another brand's is as good as missing)."""
    return session.scalar(
        select(Campaign).where(Campaign.id == campaign_id, Campaign.brand_id == brand_id)
    )


def member_counts(
    session: Session, campaign_ids: Iterable[int]
) -> dict[int, dict[MemberStatus, int]]:
    ids = sorted(set(campaign_ids))
    out: dict[int, dict[MemberStatus, int]] = defaultdict(dict)
    if not ids:
        return out
    rows = session.execute(
        select(CampaignMember.campaign_id, CampaignMember.status, func.count())
        .where(CampaignMember.campaign_id.in_(ids))
        .group_by(CampaignMember.campaign_id, CampaignMember.status)
    )
    for campaign_id, status, n in rows:
        out[campaign_id][status] = n
    return out


@dataclass(frozen=True)
class BrandCampaignRow:
    campaign: Campaign
    phase: Phase
    members: dict[MemberStatus, int]


def brand_campaigns(
    session: Session, brand_id: int, today: date, *, status: str = ""
) -> list[BrandCampaignRow]:
    stmt = select(Campaign).where(Campaign.brand_id == brand_id)
    if status in {s.value for s in CampaignStatus}:
        stmt = stmt.where(Campaign.status == CampaignStatus(status))
    order = case(
        (Campaign.status == CampaignStatus.ACTIVE, 0),
        (Campaign.status == CampaignStatus.PAUSED, 1),
        (Campaign.status == CampaignStatus.DRAFT, 2),
        else_=3,
    )
    campaigns = list(session.scalars(stmt.order_by(order, Campaign.starts_on.desc(), Campaign.id)))
    counts = member_counts(session, (c.id for c in campaigns))
    return [BrandCampaignRow(c, phase(c, today), counts.get(c.id, {})) for c in campaigns]


@dataclass(frozen=True)
class RateSheet:
    default_bps: int
    #: (product id, sku, title, basis points), by SKU.
    products: list[tuple[int, str, str, int]]
    #: category -> basis points, by category.
    categories: dict[str, int]

    def for_product(self, product_id: int, category: str) -> int:
        for pid, _, _, bps in self.products:
            if pid == product_id:
                return bps
        return self.categories.get(category, self.default_bps)

    @property
    def best_bps(self) -> int:
        return max([self.default_bps, *(p[3] for p in self.products), *self.categories.values()])

    @property
    def lowest_bps(self) -> int:
        return min([self.default_bps, *(p[3] for p in self.products), *self.categories.values()])


def rate_sheet(session: Session, campaign: Campaign) -> RateSheet:
    products = [
        (pid, sku, title, bps)
        for pid, sku, title, bps in session.execute(
            select(Product.id, Product.sku, Product.title, CampaignRate.rate_bps)
            .join(Product, Product.id == CampaignRate.product_id)
            .where(CampaignRate.campaign_id == campaign.id)
            .order_by(Product.sku)
        ).all()
    ]
    categories = dict(
        session.execute(
            select(CampaignRate.category, CampaignRate.rate_bps)
            .where(CampaignRate.campaign_id == campaign.id, CampaignRate.category.is_not(None))
            .order_by(CampaignRate.category)
        ).all()
    )
    return RateSheet(campaign.default_rate_bps, products, categories)


def coverage_count(session: Session, campaign_id: int) -> int:
    return (
        session.scalar(select(func.count()).where(CampaignProduct.campaign_id == campaign_id)) or 0
    )


def coverage_for_form(session: Session, campaign: Campaign) -> tuple[list[str], list[str]]:
    """(categories whose every active product is covered, the other covered SKUs): the
    shortest way to show the coverage back in the form."""
    covered = set(
        session.scalars(
            select(CampaignProduct.product_id).where(CampaignProduct.campaign_id == campaign.id)
        )
    )
    if not covered:
        return [], []
    by_category: dict[str, list[tuple[int, str, bool]]] = defaultdict(list)
    for pid, sku, category, status in session.execute(
        select(Product.id, Product.sku, Product.category, Product.status).where(
            Product.brand_id == campaign.brand_id
        )
    ):
        by_category[category].append((pid, sku, status == ProductStatus.ACTIVE))
    whole, skus = [], []
    for category, products in sorted(by_category.items()):
        active = [p for p in products if p[2]]
        if category and active and all(pid in covered for pid, _, _ in active):
            whole.append(category)
            skus += [sku for pid, sku, is_active in products if pid in covered and not is_active]
        else:
            skus += [sku for pid, sku, _ in products if pid in covered]
    return whole, sorted(skus)


def campaign_history(session: Session, campaign: Campaign, limit: int = 50) -> list[AuditEvent]:
    member_ids = select(cast(CampaignMember.id, String)).where(
        CampaignMember.campaign_id == campaign.id
    )
    return list(
        session.scalars(
            select(AuditEvent)
            .where(
                or_(
                    and_(
                        AuditEvent.target_type == "campaigns",
                        AuditEvent.target_id == str(campaign.id),
                    ),
                    and_(
                        AuditEvent.target_type == "campaign_members",
                        AuditEvent.target_id.in_(member_ids),
                    ),
                )
            )
            .order_by(AuditEvent.id.desc())
            .limit(limit)
        )
    )


def members_page(
    session: Session, campaign_id: int, status: MemberStatus, *, page: int, per_page: int = 50
) -> tuple[list[tuple[CampaignMember, Creator, str | None]], int]:
    where = (CampaignMember.campaign_id == campaign_id, CampaignMember.status == status)
    total = session.scalar(select(func.count()).where(*where)) or 0
    rows = session.execute(
        select(CampaignMember, Creator, Tier.name)
        .join(Creator, Creator.id == CampaignMember.creator_id)
        .outerjoin(Tier, Tier.id == Creator.tier_id)
        .where(*where)
        .order_by(CampaignMember.updated_at.desc(), CampaignMember.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return list(rows), total


@dataclass(frozen=True)
class CreatorSearch:
    q: str = ""
    country: str = ""
    language: str = ""
    min_audience: int = 0
    min_tier_id: int | None = None


def find_creators(
    session: Session,
    campaign: Campaign,
    search: CreatorSearch,
    *,
    page: int,
    per_page: int = 25,
) -> tuple[list[tuple[Creator, str | None, MemberStatus | None]], int]:
    """Approved creators who fit the campaign (its countries and tier floor), narrowed by the
    brand's search, largest audience first, with their membership if any."""
    ranks = tier_ranks(session)
    creator_rank = func.coalesce(Tier.rank, 0)
    stmt = (
        select(Creator, Tier.name, CampaignMember.status)
        .outerjoin(Tier, Tier.id == Creator.tier_id)
        .outerjoin(
            CampaignMember,
            and_(
                CampaignMember.campaign_id == campaign.id,
                CampaignMember.creator_id == Creator.id,
            ),
        )
        .where(Creator.status == CreatorStatus.APPROVED)
    )
    if campaign.countries:
        stmt = stmt.where(Creator.country.in_(campaign.countries))
    floor = _rank(ranks, campaign.min_tier_id)
    if floor:
        stmt = stmt.where(creator_rank >= floor)
    if search.q:
        like = f"%{search.q.lower()}%"
        stmt = stmt.where(
            or_(func.lower(Creator.display_name).like(like), func.lower(Creator.handle).like(like))
        )
    if search.country:
        stmt = stmt.where(Creator.country == search.country)
    if search.language:
        stmt = stmt.where(json_list_has(Creator.languages, search.language))
    if search.min_audience:
        stmt = stmt.where(Creator.audience_size >= search.min_audience)
    if search.min_tier_id is not None:
        stmt = stmt.where(creator_rank >= _rank(ranks, search.min_tier_id))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.execute(
        stmt.order_by(Creator.audience_size.desc(), Creator.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return list(rows), total


# --- creator reads ----------------------------------------------------------------------------


_SHOWN_MEMBERSHIPS = (MemberStatus.INVITED, MemberStatus.APPLIED, MemberStatus.APPROVED)


def _visible_sql(creator: Creator, ranks: dict[int, int]) -> ColumnElement[bool]:
    """What a creator may see: never a draft, never a brand that is not approved; a campaign
    they have a membership row in; or an open campaign whose countries and tier they fit."""
    return and_(
        Campaign.status != CampaignStatus.DRAFT,
        Brand.status == BrandStatus.APPROVED,
        or_(
            CampaignMember.id.is_not(None),
            and_(Campaign.visibility == Visibility.OPEN, _fits_sql(creator, ranks)),
        ),
    )


def _creator_select(creator: Creator, *columns: Any) -> Any:
    return (
        select(Campaign, Brand.name, CampaignMember.status, *columns)
        .join(Brand, Brand.id == Campaign.brand_id)
        .outerjoin(
            CampaignMember,
            and_(
                CampaignMember.campaign_id == Campaign.id,
                CampaignMember.creator_id == creator.id,
            ),
        )
    )


def creator_campaign(
    session: Session, creator: Creator, campaign_id: int
) -> tuple[Campaign, str, MemberStatus | None] | None:
    """(campaign, brand name, membership) if the creator may see the campaign, else None."""
    row = session.execute(
        _creator_select(creator).where(
            Campaign.id == campaign_id, _visible_sql(creator, tier_ranks(session))
        )
    ).first()
    return None if row is None else (row[0], row[1], row[2])


@dataclass(frozen=True)
class DiscoverFilters:
    q: str = ""
    category: str = ""
    min_rate_bps: int | None = None
    #: Also list paused, ended and exhausted campaigns (labelled as such).
    include_closed: bool = False


@dataclass(frozen=True)
class CampaignCard:
    campaign: Campaign
    brand_name: str
    phase: Phase
    member: MemberStatus | None
    best_bps: int


def _best_rates(session: Session, campaigns: Sequence[Campaign]) -> dict[int, int]:
    best = {c.id: c.default_rate_bps for c in campaigns}
    if best:
        for campaign_id, top in session.execute(
            select(CampaignRate.campaign_id, func.max(CampaignRate.rate_bps))
            .where(CampaignRate.campaign_id.in_(sorted(best)))
            .group_by(CampaignRate.campaign_id)
        ):
            best[campaign_id] = max(best[campaign_id], top)
    return best


def discover(
    session: Session,
    creator: Creator,
    filters: DiscoverFilters,
    today: date,
    *,
    page: int,
    per_page: int = 20,
) -> tuple[list[CampaignCard], int]:
    """Campaigns for the creator to browse: open ones they fit and the ones they were invited
    to (or applied to, or are in); never drafts; never a campaign that turned them down."""
    ranks = tier_ranks(session)
    stmt = _creator_select(creator).where(
        _visible_sql(creator, ranks),
        or_(CampaignMember.id.is_(None), CampaignMember.status.in_(_SHOWN_MEMBERSHIPS)),
    )
    if not filters.include_closed:
        stmt = stmt.where(_joinable_sql(today))
    if filters.q:
        like = f"%{filters.q.lower()}%"
        stmt = stmt.where(
            or_(func.lower(Campaign.name).like(like), func.lower(Brand.name).like(like))
        )
    if filters.category:
        specific = exists().where(
            CampaignProduct.campaign_id == Campaign.id,
            Product.id == CampaignProduct.product_id,
            Product.category == filters.category,
        )
        whole_catalogue = and_(
            ~exists().where(CampaignProduct.campaign_id == Campaign.id),
            exists().where(
                Product.brand_id == Campaign.brand_id,
                Product.status == ProductStatus.ACTIVE,
                Product.category == filters.category,
            ),
        )
        stmt = stmt.where(or_(specific, whole_catalogue))
    if filters.min_rate_bps is not None:
        stmt = stmt.where(
            or_(
                Campaign.default_rate_bps >= filters.min_rate_bps,
                exists().where(
                    CampaignRate.campaign_id == Campaign.id,
                    CampaignRate.rate_bps >= filters.min_rate_bps,
                ),
            )
        )
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    order = case((_joinable_sql(today), 0), else_=1)
    rows = session.execute(
        stmt.order_by(order, Campaign.starts_on.desc(), Campaign.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    best = _best_rates(session, [r[0] for r in rows])
    cards = [
        CampaignCard(c, brand_name, phase(c, today), member, best[c.id])
        for c, brand_name, member in rows
    ]
    return cards, total


def linkable_campaigns(
    session: Session, creator: Creator, today: date
) -> list[tuple[int, str, str]]:
    """(id, campaign name, brand name) of every campaign `creator` may link through today: the
    SQL twin of `campaign_open_to(...) == ""`, for the link form's campaign picker."""
    ranks = tier_ranks(session)
    rows = session.execute(
        _creator_select(creator)
        .where(
            Brand.status == BrandStatus.APPROVED,
            _joinable_sql(today),
            Campaign.starts_on <= today,
            or_(
                CampaignMember.status == MemberStatus.APPROVED,
                and_(
                    Campaign.visibility == Visibility.OPEN,
                    Campaign.approval_required.is_(False),
                    CampaignMember.id.is_(None)
                    | CampaignMember.status.not_in([MemberStatus.REJECTED, MemberStatus.REMOVED]),
                    _fits_sql(creator, ranks),
                ),
            ),
        )
        .order_by(Brand.name, Campaign.name)
    ).all()
    return [(c.id, c.name, brand_name) for c, brand_name, _ in rows]


def discover_categories(session: Session) -> list[str]:
    """Categories creators may filter by: those of active products of approved brands."""
    return list(
        session.scalars(
            select(Product.category)
            .join(Brand, Brand.id == Product.brand_id)
            .where(
                Product.category != "",
                Product.status == ProductStatus.ACTIVE,
                Brand.status == BrandStatus.APPROVED,
            )
            .distinct()
            .order_by(Product.category)
            .limit(500)
        )
    )


def my_campaigns(session: Session, creator: Creator, today: date) -> list[CampaignCard]:
    """Every campaign the creator has a membership in (drafts stay hidden until they launch)."""
    rows = session.execute(
        _creator_select(creator)
        .where(
            CampaignMember.id.is_not(None),
            Campaign.status != CampaignStatus.DRAFT,
            Brand.status == BrandStatus.APPROVED,
        )
        .order_by(CampaignMember.updated_at.desc(), Campaign.id.desc())
    ).all()
    best = _best_rates(session, [r[0] for r in rows])
    return [
        CampaignCard(c, brand_name, phase(c, today), member, best[c.id])
        for c, brand_name, member in rows
    ]


def notices(cards: Iterable[CampaignCard], today: date) -> list[CampaignCard]:
    """Campaigns the creator is in that ran out of budget, or ended in the last NOTICE_DAYS:
    their links no longer earn the campaign's rates."""
    out = []
    for card in cards:
        if card.member != MemberStatus.APPROVED:
            continue
        if card.phase == Phase.EXHAUSTED:
            out.append(card)
        elif card.phase == Phase.ENDED:
            ended = ended_on(card.campaign, today)
            if ended is not None and ended >= today - timedelta(days=NOTICE_DAYS):
                out.append(card)
    return out


def creator_products(
    session: Session,
    campaign: Campaign,
    creator: Creator,
    *,
    q: str = "",
    page: int,
    per_page: int = 24,
) -> tuple[list[Product], int]:
    """The campaign's covered products (its brand's whole active catalogue when it lists none)
    that sell in the creator's country."""
    stmt = select(Product).where(
        Product.brand_id == campaign.brand_id,
        Product.status == ProductStatus.ACTIVE,
        _everywhere_or_has(Product.countries, creator.country),
    )
    if session.scalar(select(exists().where(CampaignProduct.campaign_id == campaign.id))):
        stmt = stmt.where(
            Product.id.in_(
                select(CampaignProduct.product_id).where(CampaignProduct.campaign_id == campaign.id)
            )
        )
    if q:
        like = f"%{q.lower()}%"
        stmt = stmt.where(
            or_(func.lower(Product.title).like(like), func.lower(Product.sku).like(like))
        )
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(
        stmt.order_by(Product.title, Product.id).limit(per_page).offset((page - 1) * per_page)
    )
    return list(rows), total
