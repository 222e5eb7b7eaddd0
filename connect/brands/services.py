"""Brands: tenant-scoped reads. Every query takes the brand id explicitly."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connect.audit.services import record
from connect.brands.models import Brand, BrandApiKey, BrandStatus, Product, ProductStatus
from connect.campaigns.models import Campaign
from connect.core.signing import key_digest


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


API_KEY_PREFIX = "cxk_"


def create_api_key(
    session: Session, brand: Brand, name: str, actor_id: int
) -> tuple[BrandApiKey, str]:
    """A new conversions API key; the plain text is returned once and never stored."""
    name = name.strip()
    if not 1 <= len(name) <= 80:
        raise ValueError("Give the key a name of 1 to 80 characters.")
    raw = API_KEY_PREFIX + secrets.token_urlsafe(32)
    key = BrandApiKey(
        brand_id=brand.id,
        name=name,
        prefix=raw[:12],
        key_sha256=key_digest(raw),
        created_by_id=actor_id,
    )
    session.add(key)
    session.flush()
    record(
        session,
        actor_id=actor_id,
        action="brand_api_key.create",
        target=key,
        data={"brand_id": brand.id},
    )
    return key, raw


def revoke_api_key(
    session: Session, brand_id: int, key_id: int, actor_id: int, now: datetime
) -> BrandApiKey | None:
    key = session.scalar(
        select(BrandApiKey).where(BrandApiKey.id == key_id, BrandApiKey.brand_id == brand_id)
    )
    if key is not None and key.revoked_at is None:
        key.revoked_at = now
        record(
            session,
            actor_id=actor_id,
            action="brand_api_key.revoke",
            target=key,
            data={"brand_id": brand_id},
        )
    return key


def api_keys(session: Session, brand_id: int) -> list[BrandApiKey]:
    return list(
        session.scalars(
            select(BrandApiKey)
            .where(BrandApiKey.brand_id == brand_id)
            .order_by(BrandApiKey.id.desc())
        )
    )


def key_for(session: Session, raw: str) -> BrandApiKey | None:
    """The live key matching a presented raw key (of an approved brand), or None."""
    if not raw.startswith(API_KEY_PREFIX) or len(raw) > 100:
        return None
    key = session.scalar(select(BrandApiKey).where(BrandApiKey.key_sha256 == key_digest(raw)))
    if key is None or key.revoked_at is not None:
        return None
    status = session.scalar(select(Brand.status).where(Brand.id == key.brand_id))
    return key if status == BrandStatus.APPROVED else None
