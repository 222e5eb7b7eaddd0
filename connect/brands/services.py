"""Brands: the workspace (profile, tracking settings, domains, team, API keys) and the catalogue.

Services take the brand (or its id) and the acting user explicitly, check the business rules,
flush, write the audit log, and never commit: the request (or the job) does. Every query is scoped
by brand id, so another brand's row is simply not found.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from connect.accounts.models import Role, User
from connect.accounts.services import AccountError, normalize_email
from connect.audit.services import record
from connect.brands.models import (
    Brand,
    BrandApiKey,
    BrandDomain,
    BrandMember,
    BrandRole,
    BrandStatus,
    Product,
    ProductStatus,
    new_verification_token,
)
from connect.campaigns.models import Campaign
from connect.core.geo import is_country
from connect.core.money import MoneyError, exponent, is_currency, parse_major
from connect.core.signing import key_digest
from connect.core.time import utcnow
from connect.tracking.services import forget_brand_links
from connect.tracking.urls import (
    UnsafeDestination,
    check_destination,
    host_allowed,
    normalize_domain,
)


class BrandError(ValueError):
    """A change the brand rules refuse. The message is safe to show next to `field` ("" = the
    page); `status` is the HTTP status a view answers with (422 invalid, 403, 404, 409)."""

    def __init__(self, message: object, field: str = "", status: int = 422) -> None:
        super().__init__(message)
        self.field = field
        self.status = status


ROLE_RANK = {BrandRole.VIEWER: 0, BrandRole.MANAGER: 1, BrandRole.OWNER: 2}


def can_edit(membership: BrandMember) -> bool:
    """Owners and managers change the workspace and the catalogue; viewers only look."""
    return ROLE_RANK[membership.role] >= ROLE_RANK[BrandRole.MANAGER]


def _changes(obj: Any, values: dict[str, Any]) -> dict[str, list[Any]]:
    """Set `values` on `obj`; the ones that differ, as {name: [old, new]} for the audit log."""
    changed: dict[str, list[Any]] = {}
    for name, new in values.items():
        old = getattr(obj, name)
        if old != new:
            changed[name] = [old, new]
            setattr(obj, name, new)
    return changed


# -- overview ---------------------------------------------------------------------------------


def brand_overview(session: Session, brand: Brand) -> dict[str, int]:
    products = session.scalar(
        select(func.count()).where(
            Product.brand_id == brand.id, Product.status == ProductStatus.ACTIVE
        )
    )
    campaigns = session.scalar(select(func.count()).where(Campaign.brand_id == brand.id))
    members = session.scalar(select(func.count()).where(BrandMember.brand_id == brand.id))
    return {"products": products or 0, "campaigns": campaigns or 0, "members": members or 0}


# -- profile and tracking settings ------------------------------------------------------------

CLICK_PARAM_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$")
_PERCENT_RE = re.compile(r"^\d{1,3}(?:\.\d{1,2})?$")


def clean_website(text: str) -> str:
    """ "" or an absolute http(s) URL of at most 255 characters; ValueError otherwise."""
    url = (text or "").strip()
    if not url:
        return ""
    parts = urlsplit(url)
    if (
        parts.scheme not in {"http", "https"}
        or not parts.hostname
        or "@" in parts.netloc
        or len(url) > 255
        or re.search(r"[\x00-\x20\x7f]", url)
    ):
        raise ValueError(_l("Enter the shop's address, e.g. https://shop.example.com."))
    return url


def parse_percent(text: str) -> int:
    """A commission typed as a percentage (`7.25`, `7,25 %`) in basis points (725); no floats.

    ValueError for anything else, for more than two decimals, or above 100 %."""
    value = (text or "").strip().removesuffix("%").strip().replace(",", ".")
    if not _PERCENT_RE.fullmatch(value):
        raise ValueError(_l("Enter a percentage such as 5 or 7.25 (two decimals at most)."))
    bps = int(Decimal(value).scaleb(2))  # exact: at most two decimals
    if bps > 10_000:
        raise ValueError(_l("A commission cannot be more than 100 %."))
    return bps


def format_percent(bps: int) -> str:
    """Basis points as the percentage a person types back: 725 → "7.25", 500 → "5"."""
    return format(Decimal(bps).scaleb(-2).normalize(), "f")


def update_profile(
    session: Session, brand: Brand, *, name: str, website: str, currency: str, actor_id: int
) -> dict[str, list[Any]]:
    """Change the brand's name, website and reporting currency; returns what changed."""
    name = " ".join((name or "").split())
    if not 1 <= len(name) <= 120:
        raise BrandError(_l("Give the brand a name of 1 to 120 characters."), "name")
    try:
        website = clean_website(website)
    except ValueError as exc:
        raise BrandError(exc.args[0], "website") from None
    currency = (currency or "").strip().upper()
    if not is_currency(currency):
        raise BrandError(_l("Choose a currency from the list (ISO 4217)."), "currency")
    changed = _changes(brand, {"name": name, "website": website, "currency": currency})
    if changed:
        session.flush()
        record(
            session,
            actor_id=actor_id,
            action="brand.profile.update",
            target=brand,
            data={"changes": changed},
        )
    return changed


def update_tracking(
    session: Session,
    brand: Brand,
    *,
    click_param: str,
    return_window_days: int,
    default_rate_bps: int,
    actor_id: int,
) -> dict[str, list[Any]]:
    """Change the click-id parameter, the return window and the default commission rate."""
    click_param = (click_param or "").strip()
    if not CLICK_PARAM_RE.fullmatch(click_param):
        raise BrandError(
            _l("Start with a letter; then letters, digits or _ (40 characters at most)."),
            "click_param",
        )
    if not isinstance(return_window_days, int) or not 0 <= return_window_days <= 365:
        raise BrandError(_l("Enter a number of days from 0 to 365."), "return_window_days")
    if not isinstance(default_rate_bps, int) or not 0 <= default_rate_bps <= 10_000:
        raise BrandError(_l("Enter a percentage from 0 to 100."), "default_rate")
    changed = _changes(
        brand,
        {
            "click_param": click_param,
            "return_window_days": return_window_days,
            "default_rate_bps": default_rate_bps,
        },
    )
    if changed:
        session.flush()
        if "click_param" in changed:
            forget_brand_links(session, brand.id)
        record(
            session,
            actor_id=actor_id,
            action="brand.tracking.update",
            target=brand,
            data={"changes": changed},
        )
    return changed


# -- verified domains -------------------------------------------------------------------------

DOMAIN_HELP = _l("Enter a domain name such as shop.example.com.")
#: Pending and verified together; a claim blocks the domain for other brands until rejected.
MAX_DOMAINS = 20


def domain_from_input(raw: str) -> str:
    """The canonical domain of what a person typed: a bare host, or a URL whose host is taken."""
    text = (raw or "").strip()
    if "://" in text:
        try:
            host = urlsplit(text).hostname or ""
        except ValueError:
            host = ""
        text = host
    try:
        return normalize_domain(text)
    except UnsafeDestination:
        raise BrandError(DOMAIN_HELP, "domain") from None


def verified_domains(session: Session, brand_id: int) -> list[str]:
    """The brand's verified domains: the only hosts its product URLs and links may point to."""
    return list(
        session.scalars(
            select(BrandDomain.domain).where(
                BrandDomain.brand_id == brand_id, BrandDomain.verified_at.is_not(None)
            )
        )
    )


def _overlapping_verified(session: Session, brand_id: int, host: str) -> str | None:
    """Another brand's verified domain equal to, above or below `host`, if any.

    A verified domain covers its subdomains (`host_allowed`), so overlapping claims would let two
    brands redirect to the same host."""
    parents = [host.split(".", i)[-1] for i in range(1, host.count("."))]
    return session.scalar(
        select(BrandDomain.domain)
        .where(
            BrandDomain.brand_id != brand_id,
            BrandDomain.verified_at.is_not(None),
            or_(
                BrandDomain.domain == host,
                BrandDomain.domain.in_(parents),
                BrandDomain.domain.like("%." + host),
            ),
        )
        .limit(1)
    )


def add_domain(session: Session, brand: Brand, raw: str, actor_id: int) -> BrandDomain:
    """Claim a domain for the brand. It stays pending until an admin checks its DNS TXT record."""
    host = domain_from_input(raw)
    holder = session.scalar(select(BrandDomain.brand_id).where(BrandDomain.domain == host))
    if holder == brand.id:
        raise BrandError(_l("%(host)s is already on your list.", host=host), "domain", 409)
    if holder is not None:
        raise BrandError(
            _l(
                "%(host)s is registered by another brand. If it is yours, contact support.",
                host=host,
            ),
            "domain",
            409,
        )
    other = _overlapping_verified(session, brand.id, host)
    if other is not None:
        raise BrandError(
            _l(
                "%(host)s overlaps %(other)s, a domain verified by another brand.",
                host=host,
                other=other,
            ),
            "domain",
            409,
        )
    held = session.scalar(select(func.count()).where(BrandDomain.brand_id == brand.id)) or 0
    if held >= MAX_DOMAINS:
        raise BrandError(
            _l("A brand has %(n)s domains at most; remove one you no longer use.", n=MAX_DOMAINS),
            "domain",
            409,
        )
    domain = BrandDomain(
        brand_id=brand.id, domain=host, verification_token=new_verification_token()
    )
    try:
        with session.begin_nested():  # two brands claiming the same domain at once
            session.add(domain)
            session.flush()
    except IntegrityError:
        raise BrandError(
            _l("%(host)s was just registered by someone else.", host=host), "domain", 409
        ) from None
    record(
        session,
        actor_id=actor_id,
        action="brand_domain.add",
        target=domain,
        data={"brand_id": brand.id, "domain": host},
    )
    return domain


@dataclass(frozen=True)
class RemovedDomain:
    domain: str
    #: Active products whose URL no remaining verified domain covers (their links stop).
    orphaned_products: int


def remove_domain(
    session: Session, brand: Brand, domain_id: int, actor_id: int
) -> RemovedDomain | None:
    """Remove one of the brand's domains; None if the brand has no such domain."""
    domain = session.scalar(
        select(BrandDomain).where(BrandDomain.id == domain_id, BrandDomain.brand_id == brand.id)
    )
    if domain is None:
        return None
    name, was_verified = domain.domain, domain.verified_at is not None
    record(
        session,
        actor_id=actor_id,
        action="brand_domain.remove",
        target=domain,
        data={"brand_id": brand.id, "domain": name, "was_verified": was_verified},
    )
    session.delete(domain)
    session.flush()
    session.expire(brand, ["domains"])
    if was_verified:
        forget_brand_links(session, brand.id)
    orphaned = 0
    if was_verified:
        remaining = verified_domains(session, brand.id)
        urls = session.scalars(
            select(Product.url).where(
                Product.brand_id == brand.id, Product.status == ProductStatus.ACTIVE
            )
        )
        orphaned = sum(1 for url in urls if not _url_covered(url, remaining))
    return RemovedDomain(name, orphaned)


def _url_covered(url: str, domains: Sequence[str]) -> bool:
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return False
    return host_allowed(host, domains)


def verify_domain(
    session: Session, domain_id: int, actor: User, now: datetime | None = None
) -> BrandDomain:
    """An admin confirms the brand published `connect-verification=<token>` in the domain's DNS.

    From then on the domain is a redirect target for the brand's links. Verifying twice changes
    nothing. Refused for anyone but an admin, and when another brand holds a verified domain
    that overlaps this one."""
    if actor.role != Role.ADMIN:
        raise BrandError(_l("Only an admin can verify a domain."), status=403)
    domain = session.scalar(
        select(BrandDomain).where(BrandDomain.id == domain_id).with_for_update()
    )
    if domain is None:
        raise BrandError(_l("No such domain."), status=404)
    if domain.verified_at is not None:
        return domain
    other = _overlapping_verified(session, domain.brand_id, domain.domain)
    if other is not None:
        raise BrandError(
            _l(
                "%(host)s overlaps %(other)s, verified by another brand.",
                host=domain.domain,
                other=other,
            ),
            "domain",
            409,
        )
    domain.verified_at = now or utcnow()
    session.flush()
    # Links refused for want of this domain (and cached as such) redirect from now on.
    forget_brand_links(session, domain.brand_id)
    record(
        session,
        actor_id=actor.id,
        action="brand_domain.verify",
        target=domain,
        data={"brand_id": domain.brand_id, "domain": domain.domain},
    )
    return domain


def reject_domain(session: Session, domain_id: int, actor: User, note: str = "") -> str:
    """An admin turns down a pending claim (not the brand's, or never published); it is removed
    so the rightful owner can add it. Returns the domain name."""
    if actor.role != Role.ADMIN:
        raise BrandError(_l("Only an admin can reject a domain."), status=403)
    domain = session.get(BrandDomain, domain_id)
    if domain is None:
        raise BrandError(_l("No such domain."), status=404)
    if domain.verified_at is not None:
        raise BrandError(_l("A verified domain is removed by its brand, not rejected."), status=409)
    record(
        session,
        actor_id=actor.id,
        action="brand_domain.reject",
        target=domain,
        data={"brand_id": domain.brand_id, "domain": domain.domain, "note": note[:500]},
    )
    name = domain.domain
    session.delete(domain)
    session.flush()
    return name


def pending_domains(session: Session, limit: int = 200) -> list[BrandDomain]:
    """Domains waiting for an admin, oldest first, with their brand loaded."""
    return list(
        session.scalars(
            select(BrandDomain)
            .options(joinedload(BrandDomain.brand))
            .where(BrandDomain.verified_at.is_(None))
            .order_by(BrandDomain.created_at, BrandDomain.id)
            .limit(limit)
        )
    )


# -- team -------------------------------------------------------------------------------------


def team(session: Session, brand_id: int) -> list[BrandMember]:
    """The brand's members, owners first, then by name."""
    rank = case(
        (BrandMember.role == BrandRole.OWNER, 0),
        (BrandMember.role == BrandRole.MANAGER, 1),
        else_=2,
    )
    return list(
        session.scalars(
            select(BrandMember)
            .join(User, User.id == BrandMember.user_id)
            .options(joinedload(BrandMember.user))
            .where(BrandMember.brand_id == brand_id)
            .order_by(rank, User.name, User.id)
        )
    )


def _may_grant(actor: BrandMember, role: BrandRole) -> None:
    if not can_edit(actor):
        raise BrandError(_l("Viewers cannot change the team."), status=403)
    if role == BrandRole.OWNER and actor.role != BrandRole.OWNER:
        raise BrandError(_l("Only an owner can make someone an owner."), "role", 403)


def _member(session: Session, brand_id: int, member_id: int) -> BrandMember:
    member = session.scalar(
        select(BrandMember).where(BrandMember.id == member_id, BrandMember.brand_id == brand_id)
    )
    if member is None:
        raise BrandError(_l("No such team member."), status=404)
    return member


def _keep_an_owner(session: Session, brand_id: int, member: BrandMember) -> None:
    """Refuse to take the owner role from the brand's last owner.

    The brand row is locked first, so two owners demoting each other at once cannot both pass."""
    session.execute(select(Brand.id).where(Brand.id == brand_id).with_for_update())
    owners = session.scalar(
        select(func.count()).where(
            BrandMember.brand_id == brand_id,
            BrandMember.role == BrandRole.OWNER,
            BrandMember.id != member.id,
        )
    )
    if not owners:
        raise BrandError(
            _l("The brand must keep at least one owner: make someone else owner first."),
            "role",
            409,
        )


def add_member(
    session: Session, brand: Brand, *, email: str, role: BrandRole, actor: BrandMember
) -> BrandMember:
    """Add an existing brand staff account to the team with `role`."""
    _may_grant(actor, role)
    try:
        address = normalize_email(email)
    except AccountError:
        raise BrandError(_l("Enter a valid e-mail address."), "email") from None
    user = session.scalar(select(User).where(User.email == address))
    if user is None or user.role != Role.BRAND or not user.is_active:
        # One message for "no such user" and "not brand staff": e-mails do not leak roles.
        raise BrandError(
            _l(
                "There is no brand staff account with this e-mail. "
                "Ask them to get a brand account from the Connect team first."
            ),
            "email",
        )
    if session.scalar(
        select(exists().where(BrandMember.brand_id == brand.id, BrandMember.user_id == user.id))
    ):
        raise BrandError(_l("%(email)s is already on the team.", email=address), "email", 409)
    member = BrandMember(brand_id=brand.id, user_id=user.id, role=role)
    try:
        with session.begin_nested():
            session.add(member)
            session.flush()
    except IntegrityError:
        raise BrandError(
            _l("%(email)s is already on the team.", email=address), "email", 409
        ) from None
    record(
        session,
        actor_id=actor.user_id,
        action="brand_member.add",
        target=member,
        data={"brand_id": brand.id, "user_id": user.id, "role": role.value},
    )
    return member


def change_role(
    session: Session, brand: Brand, member_id: int, role: BrandRole, actor: BrandMember
) -> BrandMember:
    member = _member(session, brand.id, member_id)
    _may_grant(actor, role)
    if member.role == role:
        return member
    if member.role == BrandRole.OWNER:
        if actor.role != BrandRole.OWNER:
            raise BrandError(_l("Only an owner can change an owner's role."), "role", 403)
        _keep_an_owner(session, brand.id, member)
    old = member.role
    member.role = role
    session.flush()
    record(
        session,
        actor_id=actor.user_id,
        action="brand_member.role",
        target=member,
        data={"brand_id": brand.id, "user_id": member.user_id, "role": [old.value, role.value]},
    )
    return member


def remove_member(session: Session, brand: Brand, member_id: int, actor: BrandMember) -> None:
    member = _member(session, brand.id, member_id)
    if not can_edit(actor):
        raise BrandError(_l("Viewers cannot change the team."), status=403)
    if member.role == BrandRole.OWNER:
        if actor.role != BrandRole.OWNER:
            raise BrandError(_l("Only an owner can remove an owner."), status=403)
        _keep_an_owner(session, brand.id, member)
    record(
        session,
        actor_id=actor.user_id,
        action="brand_member.remove",
        target=member,
        data={"brand_id": brand.id, "user_id": member.user_id, "role": member.role.value},
    )
    session.delete(member)
    session.flush()


# -- catalogue: field rules shared by the product form and the CSV import ---------------------

SKU_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._:/#+\-]{0,63}$")
_PRICE_RE = re.compile(r"^\d{1,13}(?:\.\d+)?$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_PRICE_MINOR = 10**10
_COUNTRY_SPLIT = re.compile(r"[|,;\s]+")


def clean_sku(text: str) -> str:
    sku = (text or "").strip()
    if not sku:
        raise ValueError(_l("is required"))
    if not SKU_RE.fullmatch(sku):
        raise ValueError(
            _l(
                "must start with a letter or digit and use only letters, digits, spaces and "
                ". _ : / # + - (64 characters at most)"
            )
        )
    return sku


def clean_title(text: str) -> str:
    title = " ".join((text or "").split())
    if not title:
        raise ValueError(_l("is required"))
    if len(title) > 255:
        raise ValueError(_l("is longer than 255 characters"))
    if _CONTROL.search(title):
        raise ValueError(_l("contains control characters"))
    return title


def clean_currency(text: str) -> str:
    currency = (text or "").strip().upper()
    if not currency:
        raise ValueError(_l("is required"))
    if not is_currency(currency):
        raise ValueError(
            _l(
                "%(code)s is not an ISO 4217 currency code (e.g. EUR, USD)",
                code=repr(currency[:10]),
            )
        )
    return currency


def clean_price(text: str, currency: str) -> int:
    """A price in major units (`49.99`) as minor units of `currency`."""
    value = (text or "").strip()
    if not value:
        raise ValueError(_l("is required"))
    if "," in value and "." not in value and re.fullmatch(r"\d+,\d+", value):
        raise ValueError(_l("use a dot for decimals: %(value)s", value=value.replace(",", ".")))
    if not _PRICE_RE.fullmatch(value):
        raise ValueError(
            _l("%(value)s is not a price; write it like 49.99", value=repr(value[:20]))
        )
    try:
        minor = parse_major(value, currency)
    except MoneyError:
        places = exponent(currency)
        raise ValueError(
            _l(
                "%(currency)s prices have %(places)s decimal places at most",
                currency=currency,
                places=places,
            )
        ) from None
    if minor > MAX_PRICE_MINOR:
        raise ValueError(_l("is implausibly large"))
    return minor


def clean_url(text: str, domains: Sequence[str]) -> str:
    url = (text or "").strip()
    if not url:
        raise ValueError(_l("is required"))
    try:
        return check_destination(url, domains)
    except UnsafeDestination as exc:
        if not domains:
            raise ValueError(
                _l("the brand has no verified domain yet: add one under Domains first")
            ) from None
        raise ValueError(str(exc)) from None


def clean_image_url(text: str) -> str:
    url = (text or "").strip()
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        host = None
    if (
        len(url) > 2048
        or not url.isascii()
        or re.search(r"[\x00-\x20\x7f\\]", url)
        or parts.scheme != "https"
        or not host
        or "@" in parts.netloc
    ):
        raise ValueError(_l("must be an https:// address of an image"))
    return url


def clean_category(text: str) -> str:
    category = " ".join((text or "").split())
    if len(category) > 80:
        raise ValueError(_l("is longer than 80 characters"))
    if _CONTROL.search(category):
        raise ValueError(_l("contains control characters"))
    return category


def clean_countries(text: str | Iterable[str]) -> list[str]:
    """ISO 3166 alpha-2 codes, separated by `|`, spaces or commas; upper-cased, deduplicated,
    in the order given. Empty means everywhere."""
    parts = _COUNTRY_SPLIT.split(text) if isinstance(text, str) else list(text)
    codes: list[str] = []
    unknown: list[str] = []
    for part in parts:
        code = part.strip().upper()
        if not code:
            continue
        if not is_country(code):
            unknown.append(code[:10])
        elif code not in codes:
            codes.append(code)
    if unknown:
        raise ValueError(
            _l(
                "not ISO 3166 country codes: %(codes)s (use e.g. FR ES PL)",
                codes=", ".join(unknown[:5]),
            )
        )
    return codes


@dataclass(frozen=True)
class ProductInput:
    sku: str
    title: str
    url: str
    price_minor: int
    currency: str
    category: str = ""
    image_url: str = ""
    countries: tuple[str, ...] = ()

    def values(self) -> dict[str, Any]:
        """Column values of the product (the sku excluded: it never changes)."""
        return {
            "title": self.title,
            "url": self.url,
            "price_minor": self.price_minor,
            "currency": self.currency,
            "category": self.category,
            "image_url": self.image_url,
            "countries": list(self.countries),
        }


# -- catalogue: products ----------------------------------------------------------------------


def product_of(session: Session, brand_id: int, product_id: int) -> Product | None:
    """The brand's product, or None: another brand's product is never found."""
    return session.scalar(
        select(Product).where(Product.id == product_id, Product.brand_id == brand_id)
    )


def _check_url(session: Session, brand_id: int, url: str) -> None:
    try:
        clean_url(url, verified_domains(session, brand_id))
    except ValueError as exc:
        raise BrandError(exc.args[0], "url") from None


def create_product(session: Session, brand: Brand, data: ProductInput, actor_id: int) -> Product:
    _check_url(session, brand.id, data.url)
    if session.scalar(
        select(exists().where(Product.brand_id == brand.id, Product.sku == data.sku))
    ):
        raise BrandError(_l("A product with this SKU exists already."), "sku", 409)
    product = Product(brand_id=brand.id, sku=data.sku, **data.values())
    try:
        with session.begin_nested():
            session.add(product)
            session.flush()
    except IntegrityError:
        raise BrandError(_l("A product with this SKU exists already."), "sku", 409) from None
    record(
        session,
        actor_id=actor_id,
        action="product.create",
        target=product,
        data={"brand_id": brand.id, "sku": data.sku},
    )
    return product


def update_product(
    session: Session, product: Product, data: ProductInput, actor_id: int
) -> dict[str, list[Any]]:
    """Change a product's fields (its SKU never changes: orders and rates refer to it)."""
    if data.url != product.url:
        _check_url(session, product.brand_id, data.url)
    changed = _changes(product, data.values())
    if changed:
        session.flush()
        record(
            session,
            actor_id=actor_id,
            action="product.update",
            target=product,
            data={"brand_id": product.brand_id, "sku": product.sku, "changes": changed},
        )
    return changed


def set_product_status(
    session: Session, product: Product, status: ProductStatus, actor_id: int
) -> bool:
    """Archive (or restore) a product; True if its status changed. An archived product stays
    for the orders and reports that refer to it, but is no longer offered to creators."""
    if product.status == status:
        return False
    if status == ProductStatus.ACTIVE:
        _check_url(session, product.brand_id, product.url)
    old = product.status
    product.status = status
    session.flush()
    record(
        session,
        actor_id=actor_id,
        action="product.archive" if status == ProductStatus.ARCHIVED else "product.restore",
        target=product,
        data={"brand_id": product.brand_id, "sku": product.sku, "status": [old, status]},
    )
    return True


def products_page(
    session: Session,
    brand_id: int,
    *,
    page: int,
    per_page: int = 50,
    query: str = "",
    category: str | None = None,
    status: ProductStatus | None = None,
) -> tuple[list[Product], int]:
    """One page of the brand's catalogue: `query` matches title or SKU (case-insensitive),
    `category` exactly, `status` exactly; None means any."""
    stmt = select(Product).where(Product.brand_id == brand_id)
    if query:
        escaped = query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        like = f"%{escaped}%"
        stmt = stmt.where(
            func.lower(Product.title).like(like, escape="\\")
            | func.lower(Product.sku).like(like, escape="\\")
        )
    if category is not None:
        stmt = stmt.where(Product.category == category)
    if status is not None:
        stmt = stmt.where(Product.status == status)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(
        stmt.order_by(Product.title, Product.id).limit(per_page).offset((page - 1) * per_page)
    )
    return list(rows), total


def categories_of(session: Session, brand_id: int) -> list[str]:
    """The categories the brand's products use, for the filter."""
    return list(
        session.scalars(
            select(Product.category)
            .where(Product.brand_id == brand_id, Product.category != "")
            .distinct()
            .order_by(Product.category)
            .limit(500)
        )
    )


# -- integration ------------------------------------------------------------------------------


def sample_product(session: Session, brand_id: int) -> Product | None:
    """A real product of the brand for the integration examples, if it has one."""
    return session.scalar(
        select(Product)
        .where(Product.brand_id == brand_id, Product.status == ProductStatus.ACTIVE)
        .order_by(Product.id)
        .limit(1)
    )


# -- API keys ---------------------------------------------------------------------------------

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


# -- integration examples ---------------------------------------------------------------------

_CURL_EXAMPLE = """\
# Your API key, from the API keys page. Keep it on your server, never in a browser.
export CONNECT_API_KEY='cxk_…'

BODY=$(cat <<JSON
{"order_id": "SO-1001", "ordered_at": "$(date -u +%Y-%m-%dT%H:%M:%SZ)", "currency": "{currency}",
 "lines": [{"sku": "{sku}", "quantity": 1, "unit_price": {unit_price}}]}
JSON
)
TS=$(date +%s)
KEY_HASH=$(printf '%s' "$CONNECT_API_KEY" | openssl dgst -sha256 | sed 's/^.*= //')
SIG=$(printf '%s.%s' "$TS" "$BODY" \\
  | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$KEY_HASH" | sed 's/^.*= //')

curl -sS -X POST '{endpoint}' \\
  -H "Authorization: Bearer $CONNECT_API_KEY" \\
  -H 'Content-Type: application/json' \\
  -H "X-Connect-Timestamp: $TS" \\
  -H "X-Connect-Signature: v1=$SIG" \\
  --data-binary "$BODY"
"""

_PYTHON_EXAMPLE = """\
import hashlib
import hmac
import json
import os
import time
import urllib.request
from datetime import datetime, timezone

API_KEY = os.environ["CONNECT_API_KEY"]  # from the API keys page; keep it on your server
ENDPOINT = "{endpoint}"


def send_order(order: dict) -> dict:
    body = json.dumps(order).encode()
    timestamp = str(int(time.time()))
    signing_key = hashlib.sha256(API_KEY.encode()).digest()
    signature = hmac.new(signing_key, timestamp.encode() + b"." + body, hashlib.sha256)
    request = urllib.request.Request(
        ENDPOINT,
        data=body,
        method="POST",
        headers={{
            "Authorization": "Bearer " + API_KEY,
            "Content-Type": "application/json",
            "X-Connect-Timestamp": timestamp,
            "X-Connect-Signature": "v1=" + signature.hexdigest(),
        }},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


order = {{
    "order_id": "SO-1001",  # your order id: sending it again never counts twice
    "ordered_at": datetime.now(timezone.utc).isoformat(),
    "currency": "{currency}",
    "lines": [{{"sku": "{sku}", "quantity": 1, "unit_price": {unit_price}}}],
}}
# The {click_param} value your landing page stored when the buyer arrived (None if none).
click_id = None
if click_id:
    order["click_id"] = click_id
print(send_order(order))
"""


def integration_examples(
    *, endpoint: str, sku: str, unit_price: int, currency: str, click_param: str
) -> dict[str, str]:
    """The curl and Python examples of the integration page, for this brand's endpoint.

    They hold no secret: the key is read from the environment."""
    values = {
        "endpoint": endpoint,
        # Only SKU characters: the value lands inside shell and Python string literals.
        "sku": re.sub(r"[^A-Za-z0-9 ._:/#+\-]", "", sku) or "SKU-1",
        "unit_price": int(unit_price),
        "currency": currency,
        "click_param": click_param,
    }
    curl = _CURL_EXAMPLE
    for name, value in values.items():
        curl = curl.replace("{" + name + "}", str(value))
    return {"curl": curl, "python": _PYTHON_EXAMPLE.format(**values)}
