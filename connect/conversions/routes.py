from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from pydantic import ValidationError
from sqlalchemy import func, select

from connect.brands.models import Brand, BrandMember, BrandRole
from connect.brands.services import api_keys, create_api_key, revoke_api_key
from connect.conversions.forms import ApiKeyForm
from connect.conversions.models import Commission, Order, OrderLine
from connect.conversions.openapi import openapi_document
from connect.conversions.schemas import OrderIn, RefundIn
from connect.conversions.services import (
    ConversionError,
    order_json,
    record_order,
    record_refund,
    refund_json,
)
from connect.core.pagination import page_arg
from connect.core.policy import brand_api_required, brand_member_required, creator_required, public
from connect.core.time import utcnow
from connect.creators.models import Creator
from connect.extensions import csrf, db, limiter

bp = Blueprint("conversions", __name__)


def _invalid(exc: ValidationError) -> tuple[dict[str, Any], int]:
    errors = [
        {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
        for e in exc.errors(include_url=False, include_input=False)
    ]
    return {"error": "invalid", "message": "The request body is not valid.", "errors": errors}, 422


def _json_body() -> Any:
    body = request.get_json(silent=True)
    if body is None:
        abort(400, "Send a JSON body with Content-Type: application/json.")
    return body


def _refused(exc: ConversionError) -> tuple[dict[str, Any], int]:
    return {"error": exc.code, "message": str(exc)}, exc.status


@bp.post("/api/v1/conversions")
@csrf.exempt
@limiter.limit("600 per minute", key_func=lambda: f"brand:{g.get('api_brand_id')}")
@brand_api_required
def api_record_order() -> Any:
    try:
        data = OrderIn.model_validate(_json_body())
    except ValidationError as exc:
        return _invalid(exc)
    try:
        order, created = record_order(db.session, g.api_brand_id, data, utcnow())
    except ConversionError as exc:
        return _refused(exc)
    return order_json(db.session, order), 201 if created else 200


@bp.get("/api/v1/conversions/<order_ref>")
@brand_api_required
def api_get_order(order_ref: str) -> Any:
    order = db.session.scalar(
        select(Order).where(Order.brand_id == g.api_brand_id, Order.external_id == order_ref)
    )
    if order is None:
        return {"error": "not_found", "message": f"unknown order {order_ref}"}, 404
    return order_json(db.session, order)


@bp.post("/api/v1/conversions/<order_ref>/refunds")
@csrf.exempt
@limiter.limit("600 per minute", key_func=lambda: f"brand:{g.get('api_brand_id')}")
@brand_api_required
def api_record_refund(order_ref: str) -> Any:
    try:
        data = RefundIn.model_validate(_json_body())
    except ValidationError as exc:
        return _invalid(exc)
    try:
        refund, created = record_refund(db.session, g.api_brand_id, order_ref, data, utcnow())
    except ConversionError as exc:
        return _refused(exc)
    order = db.session.get(Order, refund.order_id)
    body = refund_json(refund, order) | {"order": order_json(db.session, order)}
    return body, 201 if created else 200


@bp.get("/api/v1/openapi.json")
@public
def openapi() -> Any:
    return openapi_document(request.host_url.rstrip("/"))


# --- portal: the brand's keys and orders, the creator's commissions -------------------------


@bp.route("/brand/<brand_slug>/api-keys", methods=["GET", "POST"])
@brand_member_required(BrandRole.MANAGER)
def brand_api_keys(brand: Brand, membership: BrandMember) -> Any:
    form = ApiKeyForm()
    new_key = None
    if form.validate_on_submit():
        _, new_key = create_api_key(db.session, brand, form.name.data, current_user.id)
    status = 422 if form.errors else 200
    return render_template(
        "conversions/api_keys.html",
        brand=brand,
        form=form,
        keys=api_keys(db.session, brand.id),
        new_key=new_key,
    ), status


@bp.post("/brand/<brand_slug>/api-keys/<int:key_id>/revoke")
@brand_member_required(BrandRole.MANAGER)
def revoke_brand_api_key(brand: Brand, membership: BrandMember, key_id: int) -> Any:
    if revoke_api_key(db.session, brand.id, key_id, current_user.id, utcnow()) is None:
        abort(404)
    flash(_("The key is revoked; requests signed with it are refused from now on."), "success")
    return redirect(url_for("conversions.brand_api_keys", brand_slug=brand.slug))


@bp.get("/brand/<brand_slug>/orders")
@brand_member_required()
def brand_orders(brand: Brand, membership: BrandMember) -> Any:
    page = page_arg()
    total = db.session.scalar(select(func.count()).where(Order.brand_id == brand.id)) or 0
    orders = db.session.scalars(
        select(Order)
        .where(Order.brand_id == brand.id)
        .order_by(Order.ordered_at.desc(), Order.id.desc())
        .limit(50)
        .offset((page - 1) * 50)
    ).all()
    totals = dict(
        db.session.execute(
            select(OrderLine.order_id, func.sum(OrderLine.quantity * OrderLine.unit_price_minor))
            .where(OrderLine.order_id.in_([o.id for o in orders]))
            .group_by(OrderLine.order_id)
        ).all()
    )
    # Who each attributed order credits: the brand's own orders name only creators it pays.
    handles = dict(
        db.session.execute(
            select(Creator.id, Creator.handle).where(
                Creator.id.in_({o.creator_id for o in orders if o.creator_id})
            )
        ).all()
    )
    return render_template(
        "conversions/brand_orders.html",
        brand=brand,
        orders=orders,
        totals=totals,
        handles=handles,
        total=total,
        page=page,
    )


@bp.get("/creator/commissions")
@creator_required()
def creator_commissions(creator: Creator) -> Any:
    page = page_arg()
    total = db.session.scalar(select(func.count()).where(Commission.creator_id == creator.id)) or 0
    rows = db.session.execute(
        select(Commission, Order.external_id, Order.ordered_at)
        .join(Order, Order.id == Commission.order_id)
        .where(Commission.creator_id == creator.id)
        .order_by(Commission.id.desc())
        .limit(50)
        .offset((page - 1) * 50)
    ).all()
    return render_template(
        "conversions/creator_commissions.html", rows=rows, total=total, page=page
    )
