"""Sample pages: the creator asks, follows and cancels or extends; the brand decides, ships and
records delivery.

Views parse input, check permission (the decorators), call a service and render. A refused action
re-renders its page with the reason and a 4xx status, so nothing is committed. Another tenant's
request answers 404. Lists never show an address; the detail page shows it to the requesting
creator, and to the brand only while it needs it to ship (`BRAND_SEES_ADDRESS`).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_pgettext
from flask_login import current_user

from connect.brands.models import Brand, BrandMember, BrandRole
from connect.campaigns.models import Campaign, MemberStatus
from connect.campaigns.services import creator_campaign, my_campaigns
from connect.core.geo import country_names
from connect.core.policy import brand_member_required, creator_required
from connect.core.time import utcnow
from connect.creators.models import Creator
from connect.extensions import db
from connect.samples.forms import ActionForm, DecisionForm, SampleRequestForm, ShipmentForm
from connect.samples.models import SampleRequest, SampleStatus
from connect.samples.services import (
    BRAND_SEES_ADDRESS,
    OPEN,
    SampleError,
    allowance,
    approve_request,
    brand_request,
    brand_requests,
    cancel_request,
    creator_request,
    creator_requests,
    decline_request,
    extend_deadline,
    record_delivery,
    record_shipment,
    request_problem,
    request_sample,
    requestable_products,
    status_counts,
)

bp = Blueprint("samples", __name__)

_EDITORS = {BrandRole.OWNER, BrandRole.MANAGER}

STATUS_LABELS = {
    SampleStatus.REQUESTED: lazy_pgettext("sample status", "requested"),
    SampleStatus.APPROVED: lazy_pgettext("sample status", "approved"),
    SampleStatus.DECLINED: lazy_pgettext("sample status", "declined"),
    SampleStatus.SHIPPED: lazy_pgettext("sample status", "shipped"),
    SampleStatus.DELIVERED: lazy_pgettext("sample status", "delivered, content due"),
    SampleStatus.FULFILLED: lazy_pgettext("sample status", "content published"),
    SampleStatus.OVERDUE: lazy_pgettext("sample status", "overdue"),
    SampleStatus.CANCELLED: lazy_pgettext("sample status", "cancelled"),
}


@bp.context_processor
def sample_helpers() -> dict[str, Any]:
    return {
        "sample_status": lambda s: str(STATUS_LABELS.get(SampleStatus(s), s)),
        "country_names": country_names(),
    }


# --- creator ---------------------------------------------------------------------------------


@bp.get("/creator/samples")
@creator_required()
def creator_list(creator: Creator) -> Any:
    now = utcnow()
    campaigns = [
        card
        for card in my_campaigns(db.session, creator, now.date())
        if card.member == MemberStatus.APPROVED
    ]
    return render_template(
        "samples/creator_list.html",
        rows=creator_requests(db.session, creator.id),
        places=allowance(db.session, creator, now),
        campaigns=campaigns,
        open_statuses=OPEN,
    )


def _render_new(
    creator: Creator, campaign_id: int, form: SampleRequestForm, error: str = "", status: int = 200
) -> Any:
    found = creator_campaign(db.session, creator, campaign_id)
    if found is None:
        abort(404)
    campaign, brand_name, _member = found
    now = utcnow()
    problem = request_problem(db.session, creator, campaign, None, now)
    products = requestable_products(db.session, campaign)
    form.product_id.choices = {"": "—"} | {str(p.id): f"{p.title} · {p.sku}" for p in products}
    if status == 200 and (form.errors or form.form_errors):
        status = 422
    return render_template(
        "samples/creator_new.html",
        campaign=campaign,
        brand_name=brand_name,
        form=form,
        problem=problem,
        places=allowance(db.session, creator, now),
        error=error,
    ), status


@bp.route("/creator/campaigns/<int:campaign_id>/samples/new", methods=["GET", "POST"])
@creator_required()
def creator_new(creator: Creator, campaign_id: int) -> Any:
    if request.method == "GET":
        form = SampleRequestForm(
            data={
                "shipping_country": creator.country,
                "recipient_name": creator.display_name,
                "product_id": request.args.get("product", type=int),
            }
        )
        return _render_new(creator, campaign_id, form)
    form = SampleRequestForm()
    if creator_campaign(db.session, creator, campaign_id) is None:
        abort(404)
    if not form.validate_on_submit():
        return _render_new(creator, campaign_id, form)
    try:
        sample = request_sample(
            db.session,
            creator,
            campaign_id,
            form.product_id.data,
            form.to_input(),
            actor_id=current_user.id,
            now=utcnow(),
        )
    except SampleError as exc:
        db.session.rollback()
        if exc.status == 404:
            abort(404)
        if exc.field:
            form.add_service_error(exc.field, str(exc))
            return _render_new(creator, campaign_id, form, status=exc.status)
        return _render_new(creator, campaign_id, form, error=str(exc), status=exc.status)
    flash(_("Sample requested. The brand will answer soon."), "success")
    return redirect(url_for("samples.creator_detail", sample_id=sample.id))


def _own(creator: Creator, sample_id: int) -> SampleRequest:
    sample = creator_request(db.session, creator.id, sample_id)
    if sample is None:
        abort(404)
    return sample


def _render_creator_detail(
    creator: Creator, sample: SampleRequest, error: str = "", status: int = 200
) -> Any:
    return render_template(
        "samples/creator_detail.html",
        sample=sample,
        campaign_name=_campaign_name(sample),
        now=utcnow(),
        form=ActionForm(),
        error=error,
    ), status


def _campaign_name(sample: SampleRequest) -> str:
    campaign = db.session.get(Campaign, sample.campaign_id)
    return campaign.name if campaign else ""


@bp.get("/creator/samples/<int:sample_id>")
@creator_required()
def creator_detail(creator: Creator, sample_id: int) -> Any:
    return _render_creator_detail(creator, _own(creator, sample_id))


@bp.post("/creator/samples/<int:sample_id>/cancel")
@creator_required()
def creator_cancel(creator: Creator, sample_id: int) -> Any:
    sample = _own(creator, sample_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        cancel_request(db.session, creator, sample.id, actor_id=current_user.id, now=utcnow())
    except SampleError as exc:
        db.session.rollback()
        return _render_creator_detail(creator, _own(creator, sample_id), str(exc), exc.status)
    flash(_("Request cancelled. Your address was erased."), "success")
    return redirect(url_for("samples.creator_detail", sample_id=sample.id))


@bp.post("/creator/samples/<int:sample_id>/extend")
@creator_required()
def creator_extend(creator: Creator, sample_id: int) -> Any:
    sample = _own(creator, sample_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        extend_deadline(db.session, creator, sample.id, actor_id=current_user.id, now=utcnow())
    except SampleError as exc:
        db.session.rollback()
        return _render_creator_detail(creator, _own(creator, sample_id), str(exc), exc.status)
    flash(_("The deadline is extended by 7 days."), "success")
    return redirect(url_for("samples.creator_detail", sample_id=sample.id))


# --- brand -----------------------------------------------------------------------------------


@bp.get("/brand/<brand_slug>/samples")
@brand_member_required()
def brand_list(brand: Brand, membership: BrandMember) -> Any:
    raw = request.args.get("status", "")
    status = SampleStatus(raw) if raw in {s.value for s in SampleStatus} else None
    return render_template(
        "samples/brand_list.html",
        brand=brand,
        rows=brand_requests(db.session, brand.id, status=status),
        counts=status_counts(db.session, brand.id),
        status=status,
        statuses=list(SampleStatus),
    )


def _brand_own(brand: Brand, sample_id: int) -> SampleRequest:
    sample = brand_request(db.session, brand.id, sample_id)
    if sample is None:
        abort(404)
    return sample


def _render_brand_detail(
    brand: Brand,
    membership: BrandMember,
    sample: SampleRequest,
    *,
    decision: DecisionForm | None = None,
    shipment: ShipmentForm | None = None,
    error: str = "",
    status: int = 200,
) -> Any:
    creator = db.session.get(Creator, sample.creator_id)
    return render_template(
        "samples/brand_detail.html",
        brand=brand,
        sample=sample,
        creator=creator,
        campaign_name=_campaign_name(sample),
        show_address=sample.status in BRAND_SEES_ADDRESS and sample.has_address,
        can_edit=membership.role in _EDITORS,
        decision=decision or DecisionForm(),
        shipment=shipment or ShipmentForm(),
        form=ActionForm(),
        error=error,
    ), status


@bp.get("/brand/<brand_slug>/samples/<int:sample_id>")
@brand_member_required()
def brand_detail(brand: Brand, membership: BrandMember, sample_id: int) -> Any:
    return _render_brand_detail(brand, membership, _brand_own(brand, sample_id))


def _refused(
    brand: Brand, membership: BrandMember, sample_id: int, exc: SampleError, **forms: Any
) -> Any:
    db.session.rollback()
    if exc.status == 404:
        abort(404)
    sample = _brand_own(brand, sample_id)
    form = forms.get("decision") or forms.get("shipment")
    if exc.field and form is not None and exc.field in form:
        form.add_service_error(exc.field, str(exc))
        return _render_brand_detail(brand, membership, sample, status=exc.status, **forms)
    return _render_brand_detail(
        brand, membership, sample, error=str(exc), status=exc.status, **forms
    )


def _back(brand: Brand, sample_id: int) -> Any:
    return redirect(url_for("samples.brand_detail", brand_slug=brand.slug, sample_id=sample_id))


@bp.post("/brand/<brand_slug>/samples/<int:sample_id>/decision")
@brand_member_required(BrandRole.MANAGER)
def brand_decide(brand: Brand, membership: BrandMember, sample_id: int) -> Any:
    sample = _brand_own(brand, sample_id)
    form = DecisionForm()
    if not form.validate_on_submit():
        return _render_brand_detail(brand, membership, sample, decision=form, status=422)
    try:
        if form.decision.data == "approve":
            approve_request(db.session, brand.id, sample.id, actor_id=current_user.id, now=utcnow())
            flash(_("Approved. Ship the sample and record its tracking number."), "success")
        else:
            decline_request(
                db.session,
                brand.id,
                sample.id,
                form.reason.data or "",
                actor_id=current_user.id,
                now=utcnow(),
            )
            flash(_("Declined. The creator sees your reason; the address was erased."), "success")
    except SampleError as exc:
        return _refused(brand, membership, sample_id, exc, decision=form)
    return _back(brand, sample_id)


@bp.post("/brand/<brand_slug>/samples/<int:sample_id>/shipment")
@brand_member_required(BrandRole.MANAGER)
def brand_ship(brand: Brand, membership: BrandMember, sample_id: int) -> Any:
    sample = _brand_own(brand, sample_id)
    form = ShipmentForm()
    if not form.validate_on_submit():
        return _render_brand_detail(brand, membership, sample, shipment=form, status=422)
    try:
        record_shipment(
            db.session,
            brand.id,
            sample.id,
            form.carrier.data or "",
            form.tracking_number.data or "",
            actor_id=current_user.id,
            now=utcnow(),
        )
    except SampleError as exc:
        return _refused(brand, membership, sample_id, exc, shipment=form)
    flash(_("Shipment recorded. The creator can follow the tracking number."), "success")
    return _back(brand, sample_id)


@bp.post("/brand/<brand_slug>/samples/<int:sample_id>/delivered")
@brand_member_required(BrandRole.MANAGER)
def brand_delivered(brand: Brand, membership: BrandMember, sample_id: int) -> Any:
    sample = _brand_own(brand, sample_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        record_delivery(db.session, brand.id, sample.id, actor_id=current_user.id, now=utcnow())
    except SampleError as exc:
        return _refused(brand, membership, sample_id, exc)
    flash(_("Delivery recorded. The creator's content is due in 14 days."), "success")
    return _back(brand, sample_id)
