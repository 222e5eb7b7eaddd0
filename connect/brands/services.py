"""Brands: tenant-scoped reads. Every query takes the brand id explicitly."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connect.brands.models import Brand, Product, ProductStatus
from connect.campaigns.models import Campaign


def brand_overview(session: Session, brand: Brand) -> dict[str, int]:
    products = session.scalar(
        select(func.count()).where(
            Product.brand_id == brand.id, Product.status == ProductStatus.ACTIVE
        )
    )
    campaigns = session.scalar(select(func.count()).where(Campaign.brand_id == brand.id))
    return {"products": products or 0, "campaigns": campaigns or 0}


def products_page(
    session: Session, brand_id: int, *, page: int, per_page: int = 50, query: str = ""
) -> tuple[list[Product], int]:
    stmt = select(Product).where(Product.brand_id == brand_id)
    if query:
        like = f"%{query.lower()}%"
        stmt = stmt.where(func.lower(Product.title).like(like) | func.lower(Product.sku).like(like))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(
        stmt.order_by(Product.title, Product.id).limit(per_page).offset((page - 1) * per_page)
    )
    return list(rows), total
