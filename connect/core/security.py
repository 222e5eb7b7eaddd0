"""Password hashing, keyed hashes, and safe redirect targets."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app


def _hasher() -> PasswordHasher:
    hasher = current_app.extensions.get("connect_hasher")
    if hasher is None:
        if current_app.config["TESTING"]:
            # Cheap parameters keep the suite fast; still argon2id, still salted.
            hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        else:
            hasher = PasswordHasher()  # argon2-cffi's RFC 9106 low-memory profile
        current_app.extensions["connect_hasher"] = hasher
    return hasher


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher().check_needs_rehash(password_hash)


# Sent with every response: by the Flask app's after_request hook and by the redirect fast path.
SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    (
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data: https:; style-src 'self'; "
        "script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    ),
)


def keyed_hash(value: str, purpose: str) -> str:
    """HMAC-SHA256 of `value` under IP_HASH_KEY, separated by purpose (`ip`, `email`, ...)."""
    return keyed_hash_with(current_app.config["IP_HASH_KEY"], value, purpose)


def keyed_hash_with(key: str, value: str, purpose: str) -> str:
    """`keyed_hash` for code that runs outside an app context (the redirect fast path)."""
    return hmac.new(key.encode(), f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


class SealError(RuntimeError):
    """A sealed value that none of the configured DATA_KEYS opens."""


def _sealer() -> MultiFernet:
    keys = tuple(current_app.config["DATA_KEYS"])
    cached = current_app.extensions.get("connect_sealer")
    if cached is None or cached[0] != keys:
        # Fernet wants 32 random bytes: derived from each configured key (32+ characters).
        fernets = [
            Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"connect-seal:" + k.encode()).digest()))
            for k in keys
        ]
        cached = (keys, MultiFernet(fernets))
        current_app.extensions["connect_sealer"] = cached
    return cached[1]


def seal(value: str) -> str:
    """`value` encrypted and authenticated (Fernet) under the newest of DATA_KEYS, for secrets
    the platform must read back (webhook signing secrets): a copy of the database alone does
    not reveal them. The empty string stays empty."""
    return _sealer().encrypt(value.encode()).decode() if value else ""


def unseal(token: str) -> str:
    """The value `seal` sealed, under any of DATA_KEYS (so keys can be rotated)."""
    if not token:
        return ""
    try:
        return _sealer().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SealError(
            "a sealed value opens with none of DATA_KEYS: was a key removed too early?"
        ) from None


def safe_next(target: str | None, default: str) -> str:
    """A same-site path to go to after login, or `default`. Never an absolute or odd URL."""
    if not target or len(target) > 512:
        return default
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target
