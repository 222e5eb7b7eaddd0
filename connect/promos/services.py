"""Promo codes: issuing, editing, disabling, the attribution lookup and the usage figures.

Rules (one place each):
- `codes.check`: what a code may look like (alphabet without look-alikes, 4-20 characters).
- `member_problem`: a code belongs to an approved (accepted) member of the campaign; the same
  rule decides at attribution time whether the code still earns (`CodeRow.usable_on`).
- one active (not disabled) code per creator per campaign; codes are unique per brand,
  case-insensitively, for ever (a disabled code keeps its text, so its history stays its own).

Services take explicit arguments (never the logged-in user), flush and never commit. Every change
is audited. Tenant rule: brand reads and writes take the brand id; a code of another brand is as
good as missing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from sqlalchemy import and_, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from connect.audit.services import record
from connect.campaigns.models import Campaign, CampaignMember, MemberStatus
from connect.campaigns.services import Phase, member_status, phase
from connect.conversions.models import AttributionSource, Commission, Order, OrderLine
from connect.core.money import Money
from connect.creators.models import Creator
from connect.promos import codes
from connect.promos.models import CodeOrigin, PromoCode, PromoSettings

GENERATE_ATTEMPTS = 20
MAX_REASON = 200


class PromoError(ValueError):
    """A request the promo-code rules refuse. The message is safe to show; `field` names the
    form field it belongs to (None: the whole form); `status` is the HTTP code."""

    def __init__(self, message: object, *, field: str | None = None, status: int = 422) -> None:
        super().__init__(message)
        self.field = field
        self.status = status

    def __str__(self) -> str:
        return str(self.args[0])  # a lazy string, translated when shown


# --- rules -----------------------------------------------------------------------------------


def member_problem(
    session: Session, campaign: Campaign, creator_id: int, today: date
) -> str | LazyString:
    """Why `creator_id` may not hold a code for `campaign` now (a lazy string), or "" when they
    may."""
    if phase(campaign, today) == Phase.ENDED:
        return _l("This campaign has ended.")
    if member_status(session, campaign.id, creator_id) != MemberStatus.APPROVED:
        return _l("Codes are only for accepted members of the campaign.")
    return ""


def _check_terms(discount_bps: int, valid_from: date, valid_until: date | None) -> None:
    if not 1 <= discount_bps <= 10_000:
        raise PromoError(_l("The discount is between 0.01 and 100 percent."), field="discount")
    if valid_until is not None and valid_until < valid_from:
        raise PromoError(_l("The code cannot end before it starts."), field="valid_until")


def settings_for(session: Session, campaign_id: int) -> PromoSettings:
    """The campaign's settings; an unsaved row with the defaults when it has none."""
    found = session.scalar(select(PromoSettings).where(PromoSettings.campaign_id == campaign_id))
    return found or PromoSettings(campaign_id=campaign_id, creator_codes=False, discount_bps=1000)


def update_settings(
    session: Session, campaign: Campaign, *, creator_codes: bool, discount_bps: int, actor_id: int
) -> PromoSettings:
    if not 1 <= discount_bps <= 10_000:
        raise PromoError(_l("The discount is between 0.01 and 100 percent."), field="discount")
    settings = settings_for(session, campaign.id)
    settings.creator_codes, settings.discount_bps = creator_codes, discount_bps
    session.add(settings)
    session.flush()
    record(
        session,
        actor_id=actor_id,
        action="promo_settings.update",
        target=campaign,
        data={"creator_codes": creator_codes, "discount_bps": discount_bps},
    )
    return settings


# --- writes ----------------------------------------------------------------------------------


def _active_code(session: Session, campaign_id: int, creator_id: int) -> PromoCode | None:
    return session.scalar(
        select(PromoCode).where(
            PromoCode.campaign_id == campaign_id,
            PromoCode.creator_id == creator_id,
            PromoCode.disabled_at.is_(None),
        )
    )


def _taken(session: Session, brand_id: int, code: str) -> bool:
    return (
        session.scalar(
            select(PromoCode.id).where(PromoCode.brand_id == brand_id, PromoCode.code == code)
        )
        is not None
    )


def _free_code(session: Session, brand_id: int, wanted: str | None) -> str:
    if wanted is not None and wanted.strip():
        try:
            code = codes.check(wanted)
        except codes.CodeError as exc:
            raise PromoError(exc.args[0], field="code") from None
        if _taken(session, brand_id, code):
            raise PromoError(
                _l("The code %(code)s is already taken; choose another.", code=code), field="code"
            )
        return code
    for _attempt in range(GENERATE_ATTEMPTS):
        code = codes.generate()
        if not _taken(session, brand_id, code):
            return code
    raise PromoError(_l("Could not find a free code; try again."), status=503)  # pragma: no cover


def issue_code(
    session: Session,
    campaign: Campaign,
    creator_id: int,
    *,
    code: str | None,
    discount_bps: int,
    valid_from: date,
    valid_until: date | None,
    origin: CodeOrigin,
    actor_id: int,
    today: date,
) -> PromoCode:
    """A new code for a member of `campaign`: `code` as given (checked), or generated when empty.
    Raises PromoError (nothing written) when a rule refuses it."""
    creator = session.get(Creator, creator_id)
    if creator is None:
        raise PromoError(_l("No such creator."), status=404)
    problem = member_problem(session, campaign, creator_id, today)
    if problem:
        raise PromoError(problem, field="creator_id")
    _check_terms(discount_bps, valid_from, valid_until)
    if _active_code(session, campaign.id, creator_id) is not None:
        raise PromoError(
            _l("This creator already has an active code for this campaign; disable it first."),
            field="creator_id",
            status=409,
        )
    text = _free_code(session, campaign.brand_id, code)
    promo = PromoCode(
        brand_id=campaign.brand_id,
        campaign_id=campaign.id,
        creator_id=creator_id,
        code=text,
        origin=origin if code and code.strip() else CodeOrigin.GENERATED,
        discount_bps=discount_bps,
        valid_from=valid_from,
        valid_until=valid_until,
        created_by_id=actor_id,
    )
    try:
        # Two requests racing for one code (or one member) lose on the unique indexes, alone.
        with session.begin_nested():
            session.add(promo)
            session.flush()
    except IntegrityError:
        raise PromoError(
            _l("That code or this creator's code was just taken; try again."), status=409
        ) from None
    record(
        session,
        actor_id=actor_id,
        action="promo_code.issue",
        target=promo,
        data={"code": text, "campaign_id": campaign.id, "creator_id": creator_id},
    )
    return promo


def choose_code(
    session: Session,
    campaign: Campaign,
    creator: Creator,
    code: str | None,
    *,
    actor_id: int,
    today: date,
) -> PromoCode:
    """The creator takes a code (their choice, or generated) where the campaign allows it, with
    the campaign's discount, valid from today to the campaign's end."""
    if not settings_for(session, campaign.id).creator_codes:
        raise PromoError(_l("This campaign's codes are issued by the brand."), status=403)
    return issue_code(
        session,
        campaign,
        creator.id,
        code=code,
        discount_bps=settings_for(session, campaign.id).discount_bps,
        valid_from=today,
        valid_until=campaign.ends_on if campaign.ends_on and campaign.ends_on >= today else None,
        origin=CodeOrigin.CREATOR,
        actor_id=actor_id,
        today=today,
    )


def update_code(
    session: Session,
    promo: PromoCode,
    *,
    discount_bps: int,
    valid_from: date,
    valid_until: date | None,
    actor_id: int,
) -> dict[str, Any]:
    """Change a code's discount and validity (never its text). Returns what changed."""
    _check_terms(discount_bps, valid_from, valid_until)
    wanted = {"discount_bps": discount_bps, "valid_from": valid_from, "valid_until": valid_until}
    changes = {
        name: [_plain(getattr(promo, name)), _plain(value)]
        for name, value in wanted.items()
        if getattr(promo, name) != value
    }
    for name, value in wanted.items():
        setattr(promo, name, value)
    session.flush()
    if changes:
        record(
            session,
            actor_id=actor_id,
            action="promo_code.update",
            target=promo,
            data={"changes": changes},
        )
    return changes


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def disable_code(
    session: Session, promo: PromoCode, *, reason: str, actor_id: int, now: datetime
) -> None:
    """Orders carrying the code from now on earn nothing (even with a click)."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise PromoError(
            _l("Say why the code is disabled (e.g. found on a coupon site)."), field="reason"
        )
    if promo.disabled_at is not None:
        raise PromoError(_l("The code is already disabled."), status=409)
    promo.disabled_at, promo.disabled_by_id = now, actor_id
    promo.disabled_reason = reason[:MAX_REASON]
    session.flush()
    record(
        session,
        actor_id=actor_id,
        action="promo_code.disable",
        target=promo,
        data={"code": promo.code, "reason": promo.disabled_reason},
    )


def enable_code(session: Session, promo: PromoCode, *, actor_id: int) -> None:
    """The code earns again from now on; orders attributed while it was disabled stay as they
    are. Refused while the creator holds another active code for the campaign."""
    if promo.disabled_at is None:
        raise PromoError(_l("The code is already active."), status=409)
    if _active_code(session, promo.campaign_id, promo.creator_id) is not None:
        raise PromoError(
            _l("The creator has another active code for this campaign; disable that one first."),
            status=409,
        )
    previous = promo.disabled_reason
    promo.disabled_at, promo.disabled_by_id, promo.disabled_reason = None, None, ""
    session.flush()
    record(
        session,
        actor_id=actor_id,
        action="promo_code.enable",
        target=promo,
        data={"code": promo.code, "was_disabled_for": previous},
    )


# --- attribution lookup ----------------------------------------------------------------------


@dataclass(frozen=True)
class CodeRow:
    """What attribution needs to know about one code, read in one statement for a batch."""

    id: int
    brand_id: int
    code: str
    campaign_id: int
    creator_id: int
    valid_from: date
    valid_until: date | None
    disabled: bool
    member: MemberStatus | None

    def usable_on(self, day: date) -> bool:
        """Enabled, valid on the order day, and its creator still an accepted member."""
        return (
            not self.disabled
            and self.valid_from <= day
            and (self.valid_until is None or day <= self.valid_until)
            and self.member == MemberStatus.APPROVED
        )


def lookup(session: Session, keys: set[tuple[int, str]]) -> dict[tuple[int, str], CodeRow]:
    """(brand id, normalised code) -> the brand's code, for every key that is one. One query."""
    if not keys:
        return {}
    rows = session.execute(
        select(
            PromoCode.id,
            PromoCode.brand_id,
            PromoCode.code,
            PromoCode.campaign_id,
            PromoCode.creator_id,
            PromoCode.valid_from,
            PromoCode.valid_until,
            PromoCode.disabled_at.is_not(None),
            CampaignMember.status,
        )
        .outerjoin(
            CampaignMember,
            and_(
                CampaignMember.campaign_id == PromoCode.campaign_id,
                CampaignMember.creator_id == PromoCode.creator_id,
            ),
        )
        .where(
            PromoCode.brand_id.in_({b for b, _ in keys}),
            PromoCode.code.in_({c for _, c in keys}),
        )
    )
    found = {(r[1], r[2]): CodeRow(*r) for r in rows}
    return {k: v for k, v in found.items() if k in keys}


# --- reads -----------------------------------------------------------------------------------


def brand_code(session: Session, brand_id: int, code_id: int) -> PromoCode | None:
    """The brand's own code, or None (another brand's is as good as missing)."""
    return session.scalar(
        select(PromoCode).where(PromoCode.id == code_id, PromoCode.brand_id == brand_id)
    )


@dataclass
class Usage:
    """What orders carrying a code did. `orders` counts every order that reported the code
    (a leak shows here even where a click won); commission is what the code itself earned."""

    orders: int = 0
    attributed: int = 0
    sales: list[Money] = field(default_factory=list)
    commission: list[Money] = field(default_factory=list)


@dataclass(frozen=True)
class CodeLine:
    promo: PromoCode
    creator: str
    campaign: str
    usage: Usage


def _line_totals() -> Any:
    return (
        select(
            OrderLine.order_id,
            func.sum(OrderLine.quantity * OrderLine.unit_price_minor).label("total"),
        )
        .group_by(OrderLine.order_id)
        .subquery()
    )


def _carrying() -> Any:
    """Orders that reported the code (same brand, same normal form)."""
    return and_(Order.brand_id == PromoCode.brand_id, Order.promo_code == PromoCode.code)


def usage(session: Session, code_ids: list[int]) -> dict[int, Usage]:
    """Usage per code, three grouped queries for any number of codes."""
    out: dict[int, Usage] = {i: Usage() for i in code_ids}
    if not code_ids:
        return out
    totals = _line_totals()
    sales: dict[int, dict[str, int]] = defaultdict(dict)
    for code_id, currency, orders, attributed, amount in session.execute(
        select(
            PromoCode.id,
            Order.currency,
            func.count(Order.id),
            func.count(Order.id).filter(Order.attributed_by == AttributionSource.PROMO_CODE),
            func.coalesce(func.sum(totals.c.total), 0),
        )
        .join(Order, _carrying())
        .outerjoin(totals, totals.c.order_id == Order.id)
        .where(PromoCode.id.in_(code_ids))
        .group_by(PromoCode.id, Order.currency)
    ):
        out[code_id].orders += orders
        out[code_id].attributed += attributed
        sales[code_id][currency] = int(amount)
    earned: dict[int, dict[str, int]] = defaultdict(dict)
    for code_id, currency, amount in session.execute(
        select(
            PromoCode.id,
            Commission.currency,
            func.sum(Commission.amount_minor - Commission.reversed_minor),
        )
        .join(Order, and_(_carrying(), Order.attributed_by == AttributionSource.PROMO_CODE))
        .join(Commission, Commission.order_id == Order.id)
        .where(PromoCode.id.in_(code_ids))
        .group_by(PromoCode.id, Commission.currency)
    ):
        earned[code_id][currency] = int(amount)
    for code_id, row in out.items():
        row.sales = [Money(v, c) for c, v in sorted(sales[code_id].items())]
        row.commission = [Money(v, c) for c, v in sorted(earned[code_id].items())]
    return out


@dataclass(frozen=True)
class CountryUsage:
    country: str
    orders: int
    attributed: int
    sales: list[Money]


def usage_by_country(session: Session, promo: PromoCode) -> list[CountryUsage]:
    """Orders carrying the code per buyer country, most orders first: a code used far outside
    the creator's audience has usually leaked to a coupon site."""
    totals = _line_totals()
    rows = session.execute(
        select(
            Order.customer_country,
            Order.currency,
            func.count(Order.id),
            func.count(Order.id).filter(Order.attributed_by == AttributionSource.PROMO_CODE),
            func.coalesce(func.sum(totals.c.total), 0),
        )
        .outerjoin(totals, totals.c.order_id == Order.id)
        .where(Order.brand_id == promo.brand_id, Order.promo_code == promo.code)
        .group_by(Order.customer_country, Order.currency)
    ).all()
    by_country: dict[str, list[Any]] = {}
    for country, currency, orders, attributed, amount in rows:
        entry = by_country.setdefault(country, [0, 0, []])
        entry[0] += orders
        entry[1] += attributed
        entry[2].append(Money(int(amount), currency))
    return sorted(
        (
            CountryUsage(country, n, a, sorted(s, key=lambda m: m.currency))
            for country, (n, a, s) in by_country.items()
        ),
        key=lambda u: (-u.orders, u.country),
    )


def _lines(session: Session, query: Any) -> list[CodeLine]:
    rows = session.execute(query).all()
    figures = usage(session, [p.id for p, _, _ in rows])
    return [CodeLine(p, creator, campaign, figures[p.id]) for p, creator, campaign in rows]


def _code_select() -> Any:
    return (
        select(PromoCode, Creator.display_name, Campaign.name)
        .join(Creator, Creator.id == PromoCode.creator_id)
        .join(Campaign, Campaign.id == PromoCode.campaign_id)
    )


def campaign_codes(
    session: Session, campaign: Campaign, *, page: int, per_page: int = 50
) -> tuple[list[CodeLine], int]:
    """A page of the campaign's codes (active first, newest first) with their usage."""
    where = PromoCode.campaign_id == campaign.id
    total = session.scalar(select(func.count()).where(where)) or 0
    query = (
        _code_select()
        .where(where)
        .order_by(PromoCode.disabled_at.is_not(None), PromoCode.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return _lines(session, query), total


def brand_campaigns_with_codes(session: Session, brand_id: int) -> list[tuple[Campaign, int, int]]:
    """(campaign, active codes, all codes) for every campaign of the brand, newest first."""
    counts = (
        select(
            PromoCode.campaign_id,
            func.count(PromoCode.id).filter(PromoCode.disabled_at.is_(None)).label("active"),
            func.count(PromoCode.id).label("all"),
        )
        .group_by(PromoCode.campaign_id)
        .subquery()
    )
    rows = session.execute(
        select(Campaign, counts.c.active, counts.c.all)
        .outerjoin(counts, counts.c.campaign_id == Campaign.id)
        .where(Campaign.brand_id == brand_id)
        .order_by(Campaign.created_at.desc(), Campaign.id.desc())
    ).all()
    return [(c, active or 0, n or 0) for c, active, n in rows]


def approved_members(session: Session, campaign_id: int) -> list[tuple[int, str]]:
    """(creator id, name) of the campaign's accepted members without an active code."""
    has_code = select(PromoCode.creator_id).where(
        PromoCode.campaign_id == campaign_id, PromoCode.disabled_at.is_(None)
    )
    return [
        (i, name)
        for i, name in session.execute(
            select(Creator.id, Creator.display_name)
            .join(CampaignMember, CampaignMember.creator_id == Creator.id)
            .where(
                CampaignMember.campaign_id == campaign_id,
                CampaignMember.status == MemberStatus.APPROVED,
                Creator.id.not_in(has_code),
            )
            .order_by(Creator.display_name, Creator.id)
        )
    ]


def creator_codes(session: Session, creator: Creator) -> list[CodeLine]:
    """Every code the creator holds, with usage (their own rows only)."""
    return _lines(
        session,
        _code_select()
        .where(PromoCode.creator_id == creator.id)
        .order_by(PromoCode.disabled_at.is_not(None), PromoCode.id.desc()),
    )


def choosable_campaigns(session: Session, creator: Creator, today: date) -> list[Campaign]:
    """Campaigns where the creator may take a code now: accepted member, creator codes allowed,
    not ended, and no active code yet."""
    has_code = select(PromoCode.campaign_id).where(
        PromoCode.creator_id == creator.id, PromoCode.disabled_at.is_(None)
    )
    campaigns = session.scalars(
        select(Campaign)
        .join(CampaignMember, CampaignMember.campaign_id == Campaign.id)
        .join(PromoSettings, PromoSettings.campaign_id == Campaign.id)
        .where(
            CampaignMember.creator_id == creator.id,
            CampaignMember.status == MemberStatus.APPROVED,
            PromoSettings.creator_codes.is_(True),
            Campaign.id.not_in(has_code),
        )
        .order_by(Campaign.name, Campaign.id)
    ).all()
    return [c for c in campaigns if phase(c, today) != Phase.ENDED]
