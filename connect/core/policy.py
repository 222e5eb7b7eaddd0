"""Who may do what. Every view declares its rule with one of these decorators; the access-matrix
test fails for any route that has none.

Tenant rule: a brand's staff reach a brand only through their membership, and a creator only their
own rows. A row of another tenant answers 404, not 403, so ids and slugs do not leak.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort, g, redirect, request, url_for
from flask_login import current_user
from redis.exceptions import RedisError
from sqlalchemy import select

from connect.accounts.models import Role, User
from connect.brands.models import Brand, BrandMember, BrandRole
from connect.brands.services import key_for
from connect.core.jobs import redis_connection
from connect.core.signing import SignatureError, verify
from connect.core.time import utcnow
from connect.creators.models import Creator, CreatorStatus
from connect.extensions import db

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger(__name__)

_BRAND_ROLE_RANK = {BrandRole.VIEWER: 0, BrandRole.MANAGER: 1, BrandRole.OWNER: 2}


def public(view: F) -> F:
    """Open to everyone, signed in or not."""
    view.access_rule = "public"  # type: ignore[attr-defined]
    return view


def _login_redirect() -> Any:
    return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))


def login_required(view: F) -> F:
    """Any signed-in user."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return _login_redirect()
        return view(*args, **kwargs)

    wrapper.access_rule = "login"  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def role_required(*roles: Role) -> Callable[[F], F]:
    """Signed in with one of `roles`; anyone else gets 403."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return _login_redirect()
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        wrapper.access_rule = "role:" + ",".join(sorted(roles))  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorator


def creator_required(approved: bool = False) -> Callable[[F], F]:
    """A creator; the view gets `creator` (their own profile, never anyone else's)."""

    def decorator(view: F) -> F:
        @role_required(Role.CREATOR)
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            creator = db.session.scalar(select(Creator).where(Creator.user_id == current_user.id))
            if creator is None:
                abort(403)
            if approved and creator.status != CreatorStatus.APPROVED:
                abort(403)
            g.creator = creator
            return view(*args, creator=creator, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def brand_member_required(min_role: BrandRole = BrandRole.VIEWER) -> Callable[[F], F]:
    """A member of the brand named by the `brand_slug` URL part, with at least `min_role`.

    The view gets `brand` and `membership` instead of the slug. Not a member: 404.
    """

    def decorator(view: F) -> F:
        @role_required(Role.BRAND)
        @wraps(view)
        def wrapper(*args: Any, brand_slug: str, **kwargs: Any) -> Any:
            row = db.session.execute(
                select(Brand, BrandMember)
                .join(BrandMember, BrandMember.brand_id == Brand.id)
                .where(Brand.slug == brand_slug, BrandMember.user_id == current_user.id)
            ).first()
            if row is None:
                abort(404)
            brand, membership = row
            if _BRAND_ROLE_RANK[membership.role] < _BRAND_ROLE_RANK[min_role]:
                abort(403)
            g.brand = brand
            return view(*args, brand=brand, membership=membership, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def brands_of(user: User) -> list[Brand]:
    """The brands a user is staff of, by name."""
    return list(
        db.session.scalars(
            select(Brand)
            .join(BrandMember, BrandMember.brand_id == Brand.id)
            .where(BrandMember.user_id == user.id)
            .order_by(Brand.name)
        )
    )


def api_token_required(view: F) -> F:
    """A creator's API token in `Authorization: Bearer ...`; sets `g.api_user`, `g.api_creator`."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from connect.accounts.services import user_for_api_token

        scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
        user = (
            user_for_api_token(db.session, raw.strip(), utcnow())
            if scheme.lower() == "bearer"
            else None
        )
        creator = (
            db.session.scalar(select(Creator).where(Creator.user_id == user.id))
            if user is not None and user.role == Role.CREATOR
            else None
        )
        if creator is None:
            body = {"error": "unauthorized", "message": "A valid creator API token is required."}
            return body, 401, {"WWW-Authenticate": 'Bearer realm="connect"'}
        g.api_user, g.api_creator = user, creator
        return view(*args, **kwargs)

    wrapper.access_rule = "api_token"  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def brand_api_required(view: F) -> F:
    """A brand API key (`Authorization: Bearer cxk_...`) and a fresh, valid, unreplayed
    signature of the body (see `connect.core.signing`). Sets `g.api_brand_id`."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        def refuse(status: int, error: str, message: str) -> Any:
            headers = {"WWW-Authenticate": 'Bearer realm="connect"'} if status == 401 else {}
            return {"error": error, "message": message}, status, headers

        scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
        key = key_for(db.session, raw.strip()) if scheme.lower() == "bearer" else None
        if key is None:
            return refuse(401, "unauthorized", "A valid brand API key is required.")
        signature = request.headers.get("X-Connect-Signature", "")
        try:
            verify(
                key.key_sha256,
                request.headers.get("X-Connect-Timestamp", ""),
                signature,
                request.get_data(cache=True),
            )
        except SignatureError as exc:
            return refuse(401, "bad_signature", str(exc))
        if not _first_sighting(signature):
            return refuse(
                409,
                "replayed",
                "This exact request was already received; "
                "sign a retry with a fresh timestamp (order ids keep it idempotent).",
            )
        now = utcnow()
        if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
            key.last_used_at = now
        g.api_brand_id = key.brand_id
        return view(*args, **kwargs)

    wrapper.access_rule = "brand_api_key"  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def _first_sighting(signature: str) -> bool:
    """True the first time a signature is seen within the timestamp tolerance window."""
    key = "connect:seen-signature:" + hashlib.sha256(signature.encode()).hexdigest()
    try:
        return bool(redis_connection().set(key, 1, nx=True, ex=900))
    except (RedisError, RuntimeError):
        # Replays change nothing anyway (idempotency keys); a Redis outage must not stop sales.
        log.warning("replay check skipped: Redis unavailable")
        return True
