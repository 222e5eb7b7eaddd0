from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import current_user

from connect.accounts.models import Role
from connect.brands.models import Brand, BrandMember
from connect.brands.services import brand_overview, products_page
from connect.core.pagination import page_arg
from connect.core.policy import brand_member_required, brands_of, role_required
from connect.extensions import db

bp = Blueprint("brands", __name__, url_prefix="/brand")


@bp.get("/")
@role_required(Role.BRAND)
def home() -> Any:
    brands = brands_of(current_user)
    if len(brands) == 1:
        return redirect(url_for("brands.overview", brand_slug=brands[0].slug))
    return render_template("brands/home.html", brands=brands)


@bp.get("/<brand_slug>/")
@brand_member_required()
def overview(brand: Brand, membership: BrandMember) -> Any:
    stats = brand_overview(db.session, brand)
    return render_template("brands/overview.html", brand=brand, membership=membership, stats=stats)


@bp.get("/<brand_slug>/products")
@brand_member_required()
def products(brand: Brand, membership: BrandMember) -> Any:
    page = page_arg()
    query = request.args.get("q", "").strip()[:100]
    rows, total = products_page(db.session, brand.id, page=page, query=query)
    return render_template(
        "brands/products.html", brand=brand, products=rows, total=total, page=page, q=query
    )
