from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from connect.accounts.models import Role
from connect.accounts.services import AccountError
from connect.admin.forms import CreatorStatusForm, HoldDecisionForm
from connect.admin.services import audit_page, creators_page, queue_counts
from connect.audit.services import record
from connect.brands import services as brand_services
from connect.brands.models import Brand
from connect.brands.services import BrandError, pending_domains
from connect.conversions.models import Commission, CommissionStatus, Order
from connect.conversions.services import ConversionError, reject_hold, release_hold
from connect.core.pagination import page_arg
from connect.core.policy import role_required
from connect.core.time import utcnow
from connect.creators.models import Creator, CreatorStatus
from connect.creators.services import set_creator_status
from connect.extensions import db

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/")
@role_required(Role.ADMIN)
def home() -> Any:
    return render_template("admin/home.html", counts=queue_counts(db.session))


@bp.get("/creators")
@role_required(Role.ADMIN)
def creators() -> Any:
    raw = request.args.get("status", "pending")
    if raw not in {"all", *CreatorStatus}:
        abort(400)
    status = None if raw == "all" else CreatorStatus(raw)
    page = page_arg()
    rows, total = creators_page(db.session, status=status, page=page)
    return render_template(
        "admin/creators.html",
        creators=rows,
        total=total,
        page=page,
        status=raw,
        statuses=["all", *CreatorStatus],
    )


@bp.get("/creators/<int:creator_id>")
@role_required(Role.ADMIN)
def creator(creator_id: int) -> Any:
    found = db.get_or_404(Creator, creator_id)
    return render_template("admin/creator.html", creator=found, form=CreatorStatusForm())


@bp.post("/creators/<int:creator_id>/status")
@role_required(Role.ADMIN)
def creator_status(creator_id: int) -> Any:
    found = db.get_or_404(Creator, creator_id)
    form = CreatorStatusForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        set_creator_status(
            db.session,
            found,
            CreatorStatus(form.status.data),
            actor=current_user,
            now=utcnow(),
            note=form.note.data or "",
        )
    except AccountError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.creator", creator_id=found.id))
    flash(_("%(name)s is now %(status)s.", name=found.display_name, status=found.status), "success")
    return redirect(url_for("admin.creators"))


@bp.get("/brands")
@role_required(Role.ADMIN)
def brands() -> Any:
    rows = db.session.scalars(select(Brand).order_by(Brand.name))
    return render_template("admin/brands.html", brands=list(rows))


@bp.get("/audit")
@role_required(Role.ADMIN)
def audit() -> Any:
    return render_template("admin/audit.html", events=audit_page(db.session, page=page_arg()))


@bp.get("/holds")
@role_required(Role.ADMIN)
def holds() -> Any:
    rows = db.session.execute(
        select(Commission, Order.external_id, Creator.handle)
        .join(Order, Order.id == Commission.order_id)
        .join(Creator, Creator.id == Commission.creator_id)
        .where(Commission.status == CommissionStatus.HELD)
        .order_by(Commission.id)
        .limit(200)
    ).all()
    return render_template("admin/holds.html", rows=rows, form=HoldDecisionForm())


@bp.post("/holds/<int:commission_id>")
@role_required(Role.ADMIN)
def decide_hold(commission_id: int) -> Any:
    commission = db.get_or_404(Commission, commission_id)
    form = HoldDecisionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        if form.decision.data == "release":
            release_hold(db.session, commission)
        else:
            reject_hold(db.session, commission, form.note.data or "rejected on review")
    except ConversionError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.holds"))
    record(
        db.session,
        actor_id=current_user.id,
        action=f"commission.hold_{form.decision.data}",
        target=commission,
        data={"note": form.note.data or ""},
    )
    flash(_("Decision recorded."), "success")
    return redirect(url_for("admin.holds"))


# -- brand domains waiting for verification ---------------------------------------------------


@bp.get("/domains")
@role_required(Role.ADMIN)
def domains() -> Any:
    return render_template("brands/admin_domains.html", domains=pending_domains(db.session))


@bp.post("/domains/<int:domain_id>/verify")
@role_required(Role.ADMIN)
def verify_domain(domain_id: int) -> Any:
    try:
        domain = brand_services.verify_domain(db.session, domain_id, current_user)
    except BrandError as exc:
        if exc.status == 404:
            abort(404)
        flash(str(exc), "error")
    else:
        flash(
            _("%(domain)s is verified: links may lead there now.", domain=domain.domain), "success"
        )
    return redirect(url_for("admin.domains"))


@bp.post("/domains/<int:domain_id>/reject")
@role_required(Role.ADMIN)
def reject_domain(domain_id: int) -> Any:
    try:
        name = brand_services.reject_domain(
            db.session, domain_id, current_user, note=request.form.get("note", "")
        )
    except BrandError as exc:
        if exc.status == 404:
            abort(404)
        flash(str(exc), "error")
    else:
        flash(_("The claim on %(domain)s is rejected and removed.", domain=name), "success")
    return redirect(url_for("admin.domains"))
