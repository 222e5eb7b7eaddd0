"""What a creator may pick when making a link: products, campaigns and content open to them."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from connect.brands.models import Brand, BrandStatus, Product, ProductStatus
from connect.campaigns.services import linkable_campaigns
from connect.content.models import Content, ContentStatus
from connect.creators.models import Creator


def product_choices(session: Session, creator: Creator) -> dict[str, str]:
    rows = session.execute(
        select(Product.id, Product.title, Brand.name)
        .join(Brand, Brand.id == Product.brand_id)
        .where(Brand.status == BrandStatus.APPROVED, Product.status == ProductStatus.ACTIVE)
        .order_by(Brand.name, Product.title)
    )
    return {"": "—"} | {str(pid): f"{brand} · {title}" for pid, title, brand in rows}


def campaign_choices(session: Session, creator: Creator, today: date) -> dict[str, str]:
    rows = linkable_campaigns(session, creator, today)
    return {"": "—"} | {str(cid): f"{brand} · {name}" for cid, name, brand in rows}


def content_choices(session: Session, creator: Creator) -> dict[str, str]:
    rows = session.execute(
        select(Content.id, Content.title)
        .where(
            Content.creator_id == creator.id,
            Content.status.in_([ContentStatus.DRAFT, ContentStatus.PUBLISHED]),
        )
        .order_by(Content.id.desc())
    )
    return {"": "—"} | {str(cid): title for cid, title in rows}
