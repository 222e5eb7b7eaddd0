"""Small builders for test data. They flush; the test decides when to commit."""

from __future__ import annotations

import itertools

from connect.accounts.models import Role, User
from connect.accounts.services import create_user
from connect.brands.models import Brand, BrandDomain, BrandMember, BrandRole, BrandStatus, Product
from connect.core.time import utcnow
from connect.creators.models import Creator, CreatorStatus, SocialAccount, SocialPlatform
from connect.extensions import db

PASSWORD = "correct-horse-42"
_seq = itertools.count(1)


def user(role: Role, email: str | None = None, name: str = "Test User") -> User:
    n = next(_seq)
    return create_user(
        db.session,
        email=email or f"{role.value}{n}@example.com",
        password=PASSWORD,
        name=name,
        role=role,
    )


def creator(
    handle: str | None = None,
    country: str = "FR",
    status: CreatorStatus = CreatorStatus.APPROVED,
    currency: str = "EUR",
) -> Creator:
    n = next(_seq)
    handle = handle or f"creator{n}"
    u = user(Role.CREATOR, email=f"{handle}@example.com", name=handle.title())
    c = Creator(
        user_id=u.id,
        display_name=handle.title(),
        handle=handle,
        country=country,
        languages=["fr"],
        payout_currency=currency,
        status=status,
        audience_size=1000,
        social_accounts=[
            SocialAccount(platform=SocialPlatform.INSTAGRAM, handle=handle, followers=1000)
        ],
    )
    db.session.add(c)
    db.session.flush()
    return c


def brand(slug: str, staff_email: str | None = None, role: BrandRole = BrandRole.OWNER) -> Brand:
    b = Brand(name=slug.title(), slug=slug, status=BrandStatus.APPROVED, currency="EUR")
    b.domains = [BrandDomain(domain=f"shop.{slug}.example", verified_at=utcnow())]
    db.session.add(b)
    db.session.flush()
    if staff_email:
        staff = user(Role.BRAND, email=staff_email)
        db.session.add(BrandMember(brand_id=b.id, user_id=staff.id, role=role))
        db.session.flush()
    return b


def product(b: Brand, sku: str, title: str | None = None, price: int = 1999) -> Product:
    p = Product(
        brand_id=b.id,
        sku=sku,
        title=title or f"Product {sku}",
        url=f"https://shop.{b.slug}.example/p/{sku}",
        price_minor=price,
        currency=b.currency,
        category="audio",
    )
    db.session.add(p)
    db.session.flush()
    return p
