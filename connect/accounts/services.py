"""Accounts: registration, authentication, password reset, creator approval.

Services take explicit arguments, flush, and never commit: the request or the job does.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable
from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connect.accounts.models import ApiToken, Role, User
from connect.audit.services import record
from connect.core.security import hash_password, needs_rehash, verify_password
from connect.core.time import utcnow

log = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 10
# The most common leaked passwords of 10+ characters; a full list belongs in a breach-check service.
_COMMON = {
    "1234567890",
    "qwertyuiop",
    "password123",
    "password1234",
    "1q2w3e4r5t",
    "qwerty12345",
    "iloveyou123",
    "0987654321",
    "1111111111",
    "abcdefghij",
    "passw0rd123",
    "administrator",
}
# A password never used can match this: it keeps `authenticate` slow for unknown e-mails too.
_DUMMY_HASH: dict[str, str] = {}


class AccountError(ValueError):
    """A request the account rules refuse; the message is safe to show next to `field`."""

    def __init__(self, message: object, field: str = "email") -> None:
        super().__init__(message)
        self.field = field

    def __str__(self) -> str:
        return str(self.args[0])  # a lazy string, translated when shown


def normalize_email(raw: str) -> str:
    """The canonical, lower-case form of an address, or AccountError."""
    try:
        info = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise AccountError(str(exc)) from exc
    return info.normalized.lower()


def password_problem(password: str, email: str = "") -> str | None:
    """Why `password` is too weak, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return str(_l("Use at least %(n)s characters.", n=MIN_PASSWORD_LENGTH))
    if len(password) > 256:
        return str(_l("Use at most 256 characters."))
    if password.lower() in _COMMON or len(set(password)) < 5:
        return str(_l("This password is too common or too simple."))
    local = email.split("@", 1)[0].lower()
    if len(local) >= 4 and local in password.lower():
        return str(_l("Do not put your e-mail address in your password."))
    if password.isalpha() or password.isdigit():
        return str(_l("Mix letters with digits or symbols."))
    return None


def email_taken(session: Session, email: str) -> bool:
    return session.scalar(select(func.count()).where(User.email == email)) > 0


def create_user(session: Session, *, email: str, password: str, name: str, role: Role) -> User:
    email = normalize_email(email)
    problem = password_problem(password, email)
    if problem:
        raise AccountError(problem, field="password")
    if email_taken(session, email):
        raise AccountError(_l("An account with this e-mail address already exists."))
    user = User(email=email, password_hash=hash_password(password), name=name.strip(), role=role)
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active user with these credentials, or None. Takes the same time either way."""
    try:
        email = normalize_email(email)
    except AccountError:
        email = ""
    user = session.scalar(select(User).where(User.email == email)) if email else None
    if user is None:
        dummy = _DUMMY_HASH.setdefault("h", hash_password("not-a-real-password-0"))
        verify_password(dummy, password)
        return None
    if not verify_password(user.password_hash, password) or not user.is_active:
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    return user


def _reset_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="password-reset")


def make_reset_token(user: User) -> str:
    # The hash's tail ties the token to the current password: once used, it is dead.
    return _reset_serializer().dumps({"uid": user.id, "ph": user.password_hash[-16:]})


def user_for_reset_token(session: Session, token: str) -> User | None:
    try:
        data = _reset_serializer().loads(
            token, max_age=current_app.config["PASSWORD_RESET_MAX_AGE"]
        )
    except (SignatureExpired, BadSignature):
        return None
    if not isinstance(data, dict):
        return None
    user = session.get(User, data.get("uid"))
    if user is None or not user.is_active or user.password_hash[-16:] != data.get("ph"):
        return None
    return user


def request_password_reset(
    session: Session, email: str, reset_url_for: Callable[[str], str]
) -> None:
    """Send (in development: log) a reset link if the address has an account. Says nothing
    either way, so the form cannot be used to find out who has an account."""
    try:
        email = normalize_email(email)
    except AccountError:
        return
    user = session.scalar(select(User).where(User.email == email))
    if user is None or not user.is_active:
        return
    url = reset_url_for(make_reset_token(user))
    if current_app.config["MAIL_LOG_ONLY"]:
        log.warning("password reset link for user %s: %s", user.id, url)
    record(session, actor_id=user.id, action="user.password_reset_requested", target=user)


def set_password(session: Session, user: User, password: str) -> None:
    problem = password_problem(password, user.email)
    if problem:
        raise AccountError(problem, field="password")
    user.password_hash = hash_password(password)
    record(session, actor_id=user.id, action="user.password_changed", target=user)


TOKEN_PREFIX = "cxt_"  # noqa: S105 - a public marker, not a secret


def _token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def create_api_token(session: Session, user: User, name: str) -> tuple[ApiToken, str]:
    """A new token for `user`; the plain text is returned once and never stored."""
    name = name.strip()
    if not 1 <= len(name) <= 80:
        raise AccountError(_l("Give the token a name of 1 to 80 characters."), field="name")
    active = session.scalar(
        select(func.count()).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    )
    if active >= 10:
        raise AccountError(_l("Revoke a token first: ten active tokens at most."), field="name")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name, prefix=raw[:12], token_sha256=_token_digest(raw))
    session.add(token)
    session.flush()
    record(session, actor_id=user.id, action="api_token.create", target=token)
    return token, raw


def user_for_api_token(session: Session, raw: str, now: datetime) -> User | None:
    """The active owner of an unrevoked token, or None."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 100:
        return None
    token = session.scalar(select(ApiToken).where(ApiToken.token_sha256 == _token_digest(raw)))
    if token is None or token.revoked_at is not None:
        return None
    user = session.get(User, token.user_id)
    if user is None or not user.is_active:
        return None
    # Once a minute is precise enough and keeps API calls from writing on every request.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        token.last_used_at = now
    return user


def revoke_api_token(session: Session, user: User, token_id: int, now: datetime) -> ApiToken | None:
    token = session.scalar(
        select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user.id)
    )
    if token is None:
        return None
    if token.revoked_at is None:
        token.revoked_at = now
        record(session, actor_id=user.id, action="api_token.revoke", target=token)
    return token
