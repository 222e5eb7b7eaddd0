"""Campaign pages: the brand's campaign workspace and the creator's discovery and membership.

Views parse input, check permission (the decorators), call a service and render. A refused
action re-renders its page with the reason and a 4xx status, so nothing is committed.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from connect.brands.models import Brand, BrandMember, BrandRole
from connect.campaigns.forms import (
    CampaignForm,
    CreatorSearchForm,
    DiscoverForm,
    JoinForm,
)
from connect.campaigns.markdown import render_brief
from connect.campaigns.models import Campaign, CampaignStatus, MemberStatus
from connect.campaigns.services import (
    JOINABLE,
    TRANSITIONS,
    CampaignError,
    CreatorSearch,
    DiscoverFilters,
    brand_campaign,
    brand_campaigns,
    brand_categories,
    campaign_history,
    campaign_open_to,
    coverage_count,
    coverage_for_form,
    create_campaign,
    creator_campaign,
    creator_products,
    decide,
    decline,
    discover,
    discover_categories,
    ended_on,
    find_creators,
    invite,
    join,
    join_problem,
    member_counts,
    members_page,
    my_campaigns,
    notices,
    percent,
    phase,
    rate_sheet,
    set_status,
    tier_ranks,
    update_campaign,
)
from connect.core.geo import country_names, language_names
from connect.core.money import Money
from connect.core.pagination import page_arg
from connect.core.policy import brand_member_required, creator_required
from connect.core.time import utcnow
from connect.creators.models import Creator
from connect.extensions import db
from connect.tiers.models import Tier

bp = Blueprint("campaigns", __name__)

_EDITORS = {BrandRole.OWNER, BrandRole.MANAGER}
BLANK_RATE_ROWS = 3


@bp.context_processor
def campaign_helpers() -> dict[str, Any]:
    return {
        "pct": rate_label,
        "render_brief": render_brief,
        "country_names": country_names(),
        "language_names": language_names(),
    }


def rate_label(bps: int) -> str:
    """1250 -> `12.5 %` in the reader's locale; Decimal all the way, never a float."""
    return f"{format_decimal(Decimal(bps) / 100, format='#,##0.##')}\u00a0%"


def _today() -> date:
    return utcnow().date()


def _tiers() -> list[Tier]:
    return list(db.session.scalars(select(Tier).order_by(Tier.rank)))


def _tier_choices(empty: str) -> dict[str, str]:
    return {"": empty} | {str(t.id): t.name for t in _tiers()}


# --- brand: campaign list, editor, status --------------------------------------------------


def _own_campaign(brand: Brand, campaign_id: int) -> Campaign:
    campaign = brand_campaign(db.session, brand.id, campaign_id)
    if campaign is None:
        abort(404)
    return campaign


@bp.get("/brand/<brand_slug>/campaigns")
@brand_member_required()
def brand_list(brand: Brand, membership: BrandMember) -> Any:
    status = request.args.get("status", "")
    rows = brand_campaigns(db.session, brand.id, _today(), status=status)
    return render_template(
        "campaigns/brand_list.html",
        brand=brand,
        rows=rows,
        status=status,
        statuses=[s.value for s in CampaignStatus],
        can_edit=membership.role in _EDITORS,
    )


def _prepare_form(form: CampaignForm, brand: Brand) -> None:
    form.min_tier_id.choices = _tier_choices(_("Any tier"))
    categories = brand_categories(db.session, brand.id)
    form.covered_categories.choices = {c: c for c in categories}
    form.category_names = categories  # type: ignore[attr-defined] - the datalist of rate rows


def _blank_rows(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return rows + [{}] * BLANK_RATE_ROWS


def _form_data(campaign: Campaign) -> dict[str, Any]:
    sheet = rate_sheet(db.session, campaign)
    categories, skus = coverage_for_form(db.session, campaign)
    budget = (
        str(Money(campaign.budget_minor, campaign.currency).to_decimal())
        if campaign.budget_minor is not None
        else ""
    )
    return {
        "name": campaign.name,
        "brief": campaign.brief,
        "starts_on": campaign.starts_on,
        "ends_on": campaign.ends_on,
        "countries": list(campaign.countries),
        "min_tier_id": campaign.min_tier_id,
        "visibility": campaign.visibility.value,
        "approval_required": campaign.approval_required,
        "default_rate": percent(campaign.default_rate_bps),
        "tier_bonus": campaign.tier_bonus,
        "currency": campaign.currency,
        "budget": budget,
        "attribution_window_days": campaign.attribution_window_days,
        "product_rates": _blank_rows(
            [{"sku": sku, "rate": percent(bps)} for _, sku, _, bps in sheet.products]
        ),
        "category_rates": _blank_rows(
            [{"category": c, "rate": percent(bps)} for c, bps in sheet.categories.items()]
        ),
        "covered_categories": categories,
        "covered_skus": "\n".join(skus),
    }


def _render_form(form: CampaignForm, brand: Brand, campaign: Campaign | None) -> Any:
    status = 422 if form.errors else 200
    return render_template(
        "campaigns/brand_form.html", form=form, brand=brand, campaign=campaign
    ), status


@bp.route("/brand/<brand_slug>/campaigns/new", methods=["GET", "POST"])
@brand_member_required(BrandRole.MANAGER)
def brand_new(brand: Brand, membership: BrandMember) -> Any:
    if request.method == "GET":
        form = CampaignForm(
            data={
                "currency": brand.currency,
                "default_rate": percent(brand.default_rate_bps),
                "starts_on": _today(),
                "tier_bonus": True,
                "attribution_window_days": 30,
            }
        )
    else:
        form = CampaignForm()
    _prepare_form(form, brand)
    if form.validate_on_submit():
        try:
            campaign = create_campaign(db.session, brand, form.to_input(), actor_id=current_user.id)
        except CampaignError as exc:
            form.add_service_error(exc.field, str(exc))
        else:
            flash(_("The campaign is saved as a draft. Launch it when you are ready."), "success")
            return redirect(
                url_for("campaigns.brand_detail", brand_slug=brand.slug, campaign_id=campaign.id)
            )
    return _render_form(form, brand, None)


@bp.route("/brand/<brand_slug>/campaigns/<int:campaign_id>/edit", methods=["GET", "POST"])
@brand_member_required(BrandRole.MANAGER)
def brand_edit(brand: Brand, membership: BrandMember, campaign_id: int) -> Any:
    campaign = _own_campaign(brand, campaign_id)
    if campaign.status == CampaignStatus.ENDED:
        flash(_("An ended campaign cannot be edited."), "error")
        return redirect(
            url_for("campaigns.brand_detail", brand_slug=brand.slug, campaign_id=campaign.id)
        )
    form = CampaignForm(data=_form_data(campaign)) if request.method == "GET" else CampaignForm()
    _prepare_form(form, brand)
    if form.validate_on_submit():
        try:
            changes = update_campaign(
                db.session, brand, campaign, form.to_input(), actor_id=current_user.id
            )
        except CampaignError as exc:
            form.add_service_error(exc.field, str(exc))
        else:
            flash(
                _("The campaign is updated.") if changes else _("Nothing changed."),
                "success",
            )
            return redirect(
                url_for("campaigns.brand_detail", brand_slug=brand.slug, campaign_id=campaign.id)
            )
    return _render_form(form, brand, campaign)


def _render_detail(
    brand: Brand, membership: BrandMember, campaign: Campaign, error: str = "", status: int = 200
) -> Any:
    today = _today()
    can_edit = membership.role in _EDITORS
    moves = sorted(TRANSITIONS[campaign.status], key=list(CampaignStatus).index)
    return render_template(
        "campaigns/brand_detail.html",
        brand=brand,
        campaign=campaign,
        phase=phase(campaign, today),
        ended=ended_on(campaign, today),
        sheet=rate_sheet(db.session, campaign),
        covered=coverage_count(db.session, campaign.id),
        counts=member_counts(db.session, [campaign.id]).get(campaign.id, {}),
        min_tier=db.session.get(Tier, campaign.min_tier_id) if campaign.min_tier_id else None,
        history=campaign_history(db.session, campaign),
        moves=moves if can_edit else [],
        can_edit=can_edit,
        error=error,
    ), status


@bp.get("/brand/<brand_slug>/campaigns/<int:campaign_id>")
@brand_member_required()
def brand_detail(brand: Brand, membership: BrandMember, campaign_id: int) -> Any:
    return _render_detail(brand, membership, _own_campaign(brand, campaign_id))


@bp.post("/brand/<brand_slug>/campaigns/<int:campaign_id>/status")
@brand_member_required(BrandRole.MANAGER)
def brand_status(brand: Brand, membership: BrandMember, campaign_id: int) -> Any:
    campaign = _own_campaign(brand, campaign_id)
    raw = request.form.get("status", "")
    if raw not in {s.value for s in CampaignStatus}:
        abort(400)
    try:
        set_status(
            db.session,
            brand,
            campaign,
            CampaignStatus(raw),
            actor_id=current_user.id,
            now=utcnow(),
        )
    except CampaignError as exc:
        return _render_detail(brand, membership, campaign, str(exc), exc.status)
    messages = {
        CampaignStatus.ACTIVE: _("The campaign is live."),
        CampaignStatus.PAUSED: _("The campaign is paused: nobody can join and links stop."),
        CampaignStatus.ENDED: _("The campaign has ended. Its creators are told."),
    }
    flash(messages.get(campaign.status, _("Saved.")), "success")
    return redirect(
        url_for("campaigns.brand_detail", brand_slug=brand.slug, campaign_id=campaign.id)
    )


# --- brand: creators (search, invite, applications, members) ---------------------------------


def _member_tab(counts: dict[MemberStatus, int]) -> MemberStatus:
    raw = request.args.get("members", "")
    if raw in {s.value for s in MemberStatus}:
        return MemberStatus(raw)
    return MemberStatus.APPLIED if counts.get(MemberStatus.APPLIED) else MemberStatus.APPROVED


def _render_creators(
    brand: Brand, membership: BrandMember, campaign: Campaign, error: str = "", status: int = 200
) -> Any:
    form = CreatorSearchForm(formdata=request.args)
    form.min_tier_id.choices = _tier_choices(_("Any tier"))
    valid = form.validate()
    search = CreatorSearch(
        q=(form.q.data or "").strip() if valid else "",
        country=form.country.data or "" if valid else "",
        language=form.language.data or "" if valid else "",
        min_audience=(form.min_audience.data or 0) if valid else 0,
        min_tier_id=form.min_tier_id.data if valid else None,
    )
    page = page_arg()
    results, total = find_creators(db.session, campaign, search, page=page)
    counts = member_counts(db.session, [campaign.id]).get(campaign.id, {})
    tab = _member_tab(counts)
    mpage = page_arg("mpage")
    members, members_total = members_page(db.session, campaign.id, tab, page=mpage)
    return render_template(
        "campaigns/brand_creators.html",
        brand=brand,
        campaign=campaign,
        phase=phase(campaign, _today()),
        form=form,
        results=results,
        total=total,
        page=page,
        counts=counts,
        tab=tab,
        members=members,
        members_total=members_total,
        mpage=mpage,
        statuses=list(MemberStatus),
        can_edit=membership.role in _EDITORS,
        args={k: v for k, v in request.args.items() if k != "page"},
        margs={k: v for k, v in request.args.items() if k != "mpage"},
        here=request.args.to_dict(),
        error=error,
    ), status


@bp.get("/brand/<brand_slug>/campaigns/<int:campaign_id>/creators")
@brand_member_required()
def brand_creators(brand: Brand, membership: BrandMember, campaign_id: int) -> Any:
    return _render_creators(brand, membership, _own_campaign(brand, campaign_id))


def _back_to_creators(brand: Brand, campaign: Campaign) -> Any:
    # Back to the same search and tab: the action's URL carried the page's query string.
    args = {
        k: v
        for k, v in request.args.items()
        if k
        in {"q", "country", "language", "min_audience", "min_tier_id", "page", "members", "mpage"}
    }
    return redirect(
        url_for("campaigns.brand_creators", brand_slug=brand.slug, campaign_id=campaign.id, **args)
    )


@bp.post("/brand/<brand_slug>/campaigns/<int:campaign_id>/invite")
@brand_member_required(BrandRole.MANAGER)
def brand_invite(brand: Brand, membership: BrandMember, campaign_id: int) -> Any:
    campaign = _own_campaign(brand, campaign_id)
    raw = request.form.get("creator_id", "")
    if not raw.isdigit():
        abort(400)
    try:
        invite(db.session, campaign, int(raw), actor_id=current_user.id, now=utcnow())
    except CampaignError as exc:
        if exc.status == 404:
            abort(404)
        return _render_creators(brand, membership, campaign, str(exc), exc.status)
    flash(_("Invitation sent."), "success")
    return _back_to_creators(brand, campaign)


@bp.post("/brand/<brand_slug>/campaigns/<int:campaign_id>/members/<int:member_id>")
@brand_member_required(BrandRole.MANAGER)
def brand_decide(brand: Brand, membership: BrandMember, campaign_id: int, member_id: int) -> Any:
    campaign = _own_campaign(brand, campaign_id)
    decision = request.form.get("decision", "")
    try:
        member = decide(
            db.session, campaign, member_id, decision, actor_id=current_user.id, now=utcnow()
        )
    except CampaignError as exc:
        if exc.status in {400, 404}:
            abort(exc.status)
        return _render_creators(brand, membership, campaign, str(exc), exc.status)
    flash(
        {
            MemberStatus.APPROVED: _("Approved: the creator is in the campaign."),
            MemberStatus.REJECTED: _("Application declined."),
            MemberStatus.REMOVED: _("Removed from the campaign."),
        }.get(member.status, _("Saved.")),
        "success",
    )
    return _back_to_creators(brand, campaign)


# --- creator: discover, my campaigns, campaign page, join -------------------------------------


@bp.get("/creator/campaigns")
@creator_required()
def discover_page(creator: Creator) -> Any:
    today = _today()
    form = DiscoverForm(formdata=request.args)
    categories = discover_categories(db.session)
    form.category.choices = {"": _("Any category")} | {c: c for c in categories}
    form.validate()
    filters = DiscoverFilters(
        q=(form.q.data or "").strip() if not form.q.errors else "",
        category=form.category.data or "",
        min_rate_bps=form.min_rate_bps(),
        include_closed=bool(form.closed.data),
    )
    page = page_arg()
    cards, total = discover(db.session, creator, filters, today, page=page)
    mine = my_campaigns(db.session, creator, today)
    return render_template(
        "campaigns/discover.html",
        creator=creator,
        form=form,
        cards=cards,
        total=total,
        page=page,
        args={k: v for k, v in request.args.items() if k != "page"},
        invitations=[c for c in mine if c.member == MemberStatus.INVITED and c.phase in JOINABLE],
        notices=notices(mine, today),
        today=today,
    )


@bp.get("/creator/campaigns/mine")
@creator_required()
def mine_page(creator: Creator) -> Any:
    today = _today()
    mine = my_campaigns(db.session, creator, today)
    return render_template(
        "campaigns/mine.html",
        creator=creator,
        cards=mine,
        notices=notices(mine, today),
        today=today,
    )


def _visible(creator: Creator, campaign_id: int) -> tuple[Campaign, str, MemberStatus | None]:
    found = creator_campaign(db.session, creator, campaign_id)
    if found is None:
        abort(404)
    return found


def _render_campaign(
    creator: Creator,
    campaign: Campaign,
    brand_name: str,
    member: MemberStatus | None,
    *,
    form: JoinForm | None = None,
    error: str = "",
    status: int = 200,
) -> Any:
    today = _today()
    q = request.args.get("q", "").strip()[:80]
    page = page_arg()
    products, total = creator_products(db.session, campaign, creator, q=q, page=page)
    tier = creator.tier
    return render_template(
        "campaigns/detail.html",
        creator=creator,
        campaign=campaign,
        brand_name=brand_name,
        member=member,
        phase=phase(campaign, today),
        ended=ended_on(campaign, today),
        sheet=rate_sheet(db.session, campaign),
        min_tier=db.session.get(Tier, campaign.min_tier_id) if campaign.min_tier_id else None,
        bonus_bps=tier.bonus_bps if tier is not None and campaign.tier_bonus else 0,
        tier=tier,
        join_problem=join_problem(campaign, creator, member, tier_ranks(db.session), today),
        link_problem=campaign_open_to(db.session, campaign, creator, today),
        products=products,
        total=total,
        page=page,
        q=q,
        form=form or JoinForm(),
        error=error,
    ), status


@bp.get("/creator/campaigns/<int:campaign_id>")
@creator_required()
def creator_detail(creator: Creator, campaign_id: int) -> Any:
    campaign, brand_name, member = _visible(creator, campaign_id)
    return _render_campaign(creator, campaign, brand_name, member)


@bp.post("/creator/campaigns/<int:campaign_id>/join")
@creator_required()
def creator_join(creator: Creator, campaign_id: int) -> Any:
    campaign, brand_name, member = _visible(creator, campaign_id)
    form = JoinForm()
    if not form.validate_on_submit():
        return _render_campaign(creator, campaign, brand_name, member, form=form, status=422)
    try:
        joined = join(
            db.session,
            campaign,
            creator,
            note=form.note.data or "",
            actor_id=current_user.id,
            now=utcnow(),
        )
    except CampaignError as exc:
        return _render_campaign(
            creator, campaign, brand_name, member, form=form, error=str(exc), status=exc.status
        )
    if joined.status == MemberStatus.APPROVED:
        flash(_("You are in! Create links to the campaign's products below."), "success")
    else:
        flash(_("Application sent. The brand will answer soon."), "success")
    return redirect(url_for("campaigns.creator_detail", campaign_id=campaign.id))


@bp.post("/creator/campaigns/<int:campaign_id>/decline")
@creator_required()
def creator_decline(creator: Creator, campaign_id: int) -> Any:
    campaign, brand_name, member = _visible(creator, campaign_id)
    try:
        decline(db.session, campaign, creator, actor_id=current_user.id)
    except CampaignError as exc:
        return _render_campaign(
            creator, campaign, brand_name, member, error=str(exc), status=exc.status
        )
    flash(_("Invitation declined."), "success")
    return redirect(url_for("campaigns.discover_page"))
