"""Promo-code pages: the brand's codes per campaign (usage, leaks by country, issue, edit,
disable) and the creator's own codes.

Views parse input, check permission (the decorators), call a service and render. A refused action
re-renders its page with the reason and a 4xx status, so nothing is committed.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from connect.brands.models import Brand, BrandMember, BrandRole
from connect.campaigns.models import Campaign, CampaignMember, MemberStatus
from connect.campaigns.routes import rate_label
from connect.campaigns.services import brand_campaign, percent
from connect.core.geo import country_names
from connect.core.pagination import page_arg
from connect.core.policy import brand_member_required, creator_required
from connect.core.time import utcnow
from connect.creators.models import Creator
from connect.extensions import db
from connect.promos.forms import (
    ChooseForm,
    DisableForm,
    EnableForm,
    IssueForm,
    SettingsForm,
    TermsForm,
)
from connect.promos.models import CodeOrigin, PromoCode
from connect.promos.services import (
    PromoError,
    approved_members,
    brand_campaigns_with_codes,
    brand_code,
    campaign_codes,
    choosable_campaigns,
    choose_code,
    creator_codes,
    disable_code,
    enable_code,
    issue_code,
    settings_for,
    update_code,
    update_settings,
    usage,
    usage_by_country,
)

bp = Blueprint("promos", __name__)

_EDITORS = {BrandRole.OWNER, BrandRole.MANAGER}


@bp.context_processor
def promo_helpers() -> dict[str, Any]:
    return {"pct": rate_label, "country_names": country_names(), "today": _today()}


def _today() -> date:
    return utcnow().date()


# --- brand -------------------------------------------------------------------------------------


def _own_campaign(brand: Brand, campaign_id: int) -> Campaign:
    campaign = brand_campaign(db.session, brand.id, campaign_id)
    if campaign is None:
        abort(404)
    return campaign


def _own_code(brand: Brand, code_id: int) -> PromoCode:
    promo = brand_code(db.session, brand.id, code_id)
    if promo is None:
        abort(404)
    return promo


@bp.get("/brand/<brand_slug>/promo-codes")
@brand_member_required()
def brand_index(brand: Brand, membership: BrandMember) -> Any:
    return render_template(
        "promos/brand_index.html",
        brand=brand,
        rows=brand_campaigns_with_codes(db.session, brand.id),
    )


def _render_campaign(
    brand: Brand,
    membership: BrandMember,
    campaign: Campaign,
    *,
    issue_form: IssueForm | None = None,
    settings_form: SettingsForm | None = None,
    status: int = 200,
) -> Any:
    page = page_arg()
    lines, total = campaign_codes(db.session, campaign, page=page)
    settings = settings_for(db.session, campaign.id)
    issue_form = issue_form or IssueForm(
        data={"valid_from": max(_today(), campaign.starts_on), "valid_until": campaign.ends_on}
    )
    issue_form.creator_id.choices = approved_members(db.session, campaign.id)
    settings_form = settings_form or SettingsForm(
        data={"creator_codes": settings.creator_codes, "discount": percent(settings.discount_bps)}
    )
    return render_template(
        "promos/brand_campaign.html",
        brand=brand,
        campaign=campaign,
        lines=lines,
        total=total,
        page=page,
        settings=settings,
        issue_form=issue_form,
        settings_form=settings_form,
        can_edit=membership.role in _EDITORS,
    ), status


@bp.get("/brand/<brand_slug>/promo-codes/campaigns/<int:campaign_id>")
@brand_member_required()
def brand_campaign_codes(brand: Brand, membership: BrandMember, campaign_id: int) -> Any:
    return _render_campaign(brand, membership, _own_campaign(brand, campaign_id))


@bp.post("/brand/<brand_slug>/promo-codes/campaigns/<int:campaign_id>/issue")
@brand_member_required(BrandRole.MANAGER)
def brand_issue(brand: Brand, membership: BrandMember, campaign_id: int) -> Any:
    campaign = _own_campaign(brand, campaign_id)
    form = IssueForm()
    form.creator_id.choices = approved_members(db.session, campaign.id)
    if form.validate_on_submit():
        try:
            promo = issue_code(
                db.session,
                campaign,
                form.creator_id.data,
                code=form.code.data or None,
                discount_bps=form.discount_bps,
                valid_from=form.valid_from.data,
                valid_until=form.valid_until.data,
                origin=CodeOrigin.BRAND,
                actor_id=current_user.id,
                today=_today(),
            )
        except PromoError as exc:
            form.add_service_error(exc.field, str(exc))
        else:
            flash(_("Code %(code)s issued.", code=promo.code), "success")
            return redirect(
                url_for(
                    "promos.brand_campaign_codes", brand_slug=brand.slug, campaign_id=campaign.id
                )
            )
    return _render_campaign(brand, membership, campaign, issue_form=form, status=422)


@bp.post("/brand/<brand_slug>/promo-codes/campaigns/<int:campaign_id>/settings")
@brand_member_required(BrandRole.MANAGER)
def brand_settings(brand: Brand, membership: BrandMember, campaign_id: int) -> Any:
    campaign = _own_campaign(brand, campaign_id)
    form = SettingsForm()
    if form.validate_on_submit():
        update_settings(
            db.session,
            campaign,
            creator_codes=bool(form.creator_codes.data),
            discount_bps=form.discount_bps,
            actor_id=current_user.id,
        )
        flash(_("Code settings saved."), "success")
        return redirect(
            url_for("promos.brand_campaign_codes", brand_slug=brand.slug, campaign_id=campaign.id)
        )
    return _render_campaign(brand, membership, campaign, settings_form=form, status=422)


def _render_code(
    brand: Brand,
    membership: BrandMember,
    promo: PromoCode,
    *,
    terms_form: TermsForm | None = None,
    disable_form: DisableForm | None = None,
    error: str = "",
    status: int = 200,
) -> Any:
    campaign = db.session.get(Campaign, promo.campaign_id)
    creator = db.session.get(Creator, promo.creator_id)
    terms_form = terms_form or TermsForm(
        data={
            "discount": percent(promo.discount_bps),
            "valid_from": promo.valid_from,
            "valid_until": promo.valid_until,
        }
    )
    return render_template(
        "promos/brand_code.html",
        brand=brand,
        promo=promo,
        campaign=campaign,
        creator=creator,
        usage=usage(db.session, [promo.id])[promo.id],
        countries=usage_by_country(db.session, promo),
        terms_form=terms_form,
        disable_form=disable_form or DisableForm(),
        enable_form=EnableForm(),
        can_edit=membership.role in _EDITORS,
        error=error,
    ), status


@bp.get("/brand/<brand_slug>/promo-codes/<int:code_id>")
@brand_member_required()
def brand_code_detail(brand: Brand, membership: BrandMember, code_id: int) -> Any:
    return _render_code(brand, membership, _own_code(brand, code_id))


def _back_to_code(brand: Brand, promo: PromoCode) -> Any:
    return redirect(url_for("promos.brand_code_detail", brand_slug=brand.slug, code_id=promo.id))


@bp.post("/brand/<brand_slug>/promo-codes/<int:code_id>/edit")
@brand_member_required(BrandRole.MANAGER)
def brand_code_edit(brand: Brand, membership: BrandMember, code_id: int) -> Any:
    promo = _own_code(brand, code_id)
    form = TermsForm()
    if form.validate_on_submit():
        try:
            changes = update_code(
                db.session,
                promo,
                discount_bps=form.discount_bps,
                valid_from=form.valid_from.data,
                valid_until=form.valid_until.data,
                actor_id=current_user.id,
            )
        except PromoError as exc:
            form.add_service_error(exc.field, str(exc))
        else:
            flash(_("The code is updated.") if changes else _("Nothing changed."), "success")
            return _back_to_code(brand, promo)
    return _render_code(brand, membership, promo, terms_form=form, status=422)


@bp.post("/brand/<brand_slug>/promo-codes/<int:code_id>/disable")
@brand_member_required(BrandRole.MANAGER)
def brand_code_disable(brand: Brand, membership: BrandMember, code_id: int) -> Any:
    promo = _own_code(brand, code_id)
    form = DisableForm()
    if form.validate_on_submit():
        try:
            disable_code(
                db.session, promo, reason=form.reason.data, actor_id=current_user.id, now=utcnow()
            )
        except PromoError as exc:
            return _render_code(
                brand, membership, promo, disable_form=form, error=str(exc), status=exc.status
            )
        flash(_("The code is disabled: orders carrying it earn nothing from now on."), "success")
        return _back_to_code(brand, promo)
    return _render_code(brand, membership, promo, disable_form=form, status=422)


@bp.post("/brand/<brand_slug>/promo-codes/<int:code_id>/enable")
@brand_member_required(BrandRole.MANAGER)
def brand_code_enable(brand: Brand, membership: BrandMember, code_id: int) -> Any:
    promo = _own_code(brand, code_id)
    if not EnableForm().validate_on_submit():
        abort(400)
    try:
        enable_code(db.session, promo, actor_id=current_user.id)
    except PromoError as exc:
        return _render_code(brand, membership, promo, error=str(exc), status=exc.status)
    flash(_("The code is active again."), "success")
    return _back_to_code(brand, promo)


# --- creator -----------------------------------------------------------------------------------


def _render_creator(
    creator: Creator,
    *,
    form: ChooseForm | None = None,
    form_campaign: int | None = None,
    status: int = 200,
) -> Any:
    return render_template(
        "promos/creator_codes.html",
        creator=creator,
        lines=creator_codes(db.session, creator),
        choosable=choosable_campaigns(db.session, creator, _today()),
        form=form or ChooseForm(),
        form_campaign=form_campaign,
    ), status


@bp.get("/creator/promo-codes")
@creator_required()
def creator_page(creator: Creator) -> Any:
    return _render_creator(creator)


@bp.post("/creator/promo-codes/campaigns/<int:campaign_id>")
@creator_required()
def creator_choose(creator: Creator, campaign_id: int) -> Any:
    campaign = db.session.scalar(
        select(Campaign)
        .join(CampaignMember, CampaignMember.campaign_id == Campaign.id)
        .where(
            Campaign.id == campaign_id,
            CampaignMember.creator_id == creator.id,
            CampaignMember.status == MemberStatus.APPROVED,
        )
    )
    if campaign is None:
        abort(404)  # not a campaign the creator belongs to: as good as missing
    form = ChooseForm()
    if form.validate_on_submit():
        try:
            promo = choose_code(
                db.session,
                campaign,
                creator,
                form.code.data or None,
                actor_id=current_user.id,
                today=_today(),
            )
        except PromoError as exc:
            if exc.field is None:
                form.form_errors.append(str(exc))
                return _render_creator(
                    creator, form=form, form_campaign=campaign.id, status=exc.status
                )
            form.add_service_error(exc.field, str(exc))
        else:
            flash(_("Your code %(code)s is ready to share.", code=promo.code), "success")
            return redirect(url_for("promos.creator_page"))
    return _render_creator(creator, form=form, form_campaign=campaign.id, status=422)
