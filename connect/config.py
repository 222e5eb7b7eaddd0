"""Settings from the environment, parsed and validated once at start-up.

Every setting has one source: an environment variable. Secrets have development defaults so the
first run needs no set-up, and `validate()` refuses to start production with any of them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEV_SECRET_KEY = "dev-only-secret-key-change-me"  # noqa: S105 - refused in production below
DEV_IP_HASH_KEY = "dev-only-ip-hash-key-change-me"
DEV_STRIPE_WEBHOOK_SECRET = "whsec_dev_only"  # noqa: S105
DEV_DATA_KEY = "dev-only-data-key-change-me"


class ConfigError(RuntimeError):
    """A setting is missing or unsafe; the app must not start."""


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be a boolean (true/false), got {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


def default_database_url(instance_path: str) -> str:
    return "sqlite:///" + str(Path(instance_path) / "connect.sqlite3")


@dataclass(frozen=True)
class Settings:
    env: str
    secret_key: str
    ip_hash_key: str
    #: Keys that seal secrets stored in the database (core/security.seal), newest first: a new
    #: key goes in front, the old one stays behind it until every value is sealed again.
    data_keys: tuple[str, ...]
    database_url: str | None
    redis_url: str | None
    s3_endpoint_url: str | None
    s3_bucket: str
    s3_region: str
    stripe_secret_key: str | None
    stripe_api_base: str | None
    stripe_webhook_secret: str
    mail_log_only: bool
    login_rate_limit: str
    link_base_url: str
    geo_country_header: str
    trusted_proxy_count: int
    click_retention_months: int

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            env=os.environ.get("CONNECT_ENV", "development"),
            secret_key=os.environ.get("SECRET_KEY", DEV_SECRET_KEY),
            ip_hash_key=os.environ.get("IP_HASH_KEY", DEV_IP_HASH_KEY),
            data_keys=tuple(
                k.strip() for k in os.environ.get("DATA_KEYS", DEV_DATA_KEY).split(",") if k.strip()
            ),
            database_url=os.environ.get("DATABASE_URL") or None,
            redis_url=os.environ.get("REDIS_URL") or None,
            s3_endpoint_url=os.environ.get("S3_ENDPOINT_URL") or None,
            s3_bucket=os.environ.get("S3_BUCKET", "connect"),
            s3_region=os.environ.get("S3_REGION", "us-east-1"),
            stripe_secret_key=os.environ.get("STRIPE_SECRET_KEY") or None,
            stripe_api_base=os.environ.get("STRIPE_API_BASE") or None,
            stripe_webhook_secret=os.environ.get(
                "STRIPE_WEBHOOK_SECRET", DEV_STRIPE_WEBHOOK_SECRET
            ),
            mail_log_only=env_bool("MAIL_LOG_ONLY", True),
            login_rate_limit=os.environ.get("LOGIN_RATE_LIMIT", "10 per minute"),
            link_base_url=os.environ.get("LINK_BASE_URL", ""),
            geo_country_header=os.environ.get("GEO_COUNTRY_HEADER", ""),
            trusted_proxy_count=env_int("TRUSTED_PROXY_COUNT", 0),
            click_retention_months=env_int("CLICK_RETENTION_MONTHS", 25),
        )

    def validate(self) -> None:
        if self.env not in {"development", "testing", "production"}:
            raise ConfigError(
                f"CONNECT_ENV must be development, testing or production, not {self.env!r}"
            )
        if self.env != "production":
            return
        unsafe = {
            "SECRET_KEY": self.secret_key in {DEV_SECRET_KEY, ""} or len(self.secret_key) < 32,
            "IP_HASH_KEY": self.ip_hash_key in {DEV_IP_HASH_KEY, ""} or len(self.ip_hash_key) < 32,
            "DATA_KEYS": not self.data_keys
            or any(k == DEV_DATA_KEY or len(k) < 32 for k in self.data_keys),
            "STRIPE_WEBHOOK_SECRET": self.stripe_webhook_secret in {DEV_STRIPE_WEBHOOK_SECRET, ""},
        }
        bad = sorted(name for name, is_bad in unsafe.items() if is_bad)
        if bad:
            raise ConfigError(
                "production refuses default or short secrets (at least 32 characters): "
                + ", ".join(bad)
            )
        if not self.database_url:
            raise ConfigError("production needs DATABASE_URL (PostgreSQL)")
        if not self.redis_url:
            raise ConfigError("production needs REDIS_URL")


def flask_config(settings: Settings, instance_path: str) -> dict[str, object]:
    """The Flask config mapping derived from settings."""
    database_url = settings.database_url or default_database_url(instance_path)
    if database_url.startswith("postgres://"):
        database_url = "postgresql+psycopg://" + database_url.removeprefix("postgres://")
    elif database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url.removeprefix("postgresql://")
    testing = settings.env == "testing"
    return {
        "CONNECT_ENV": settings.env,
        "TESTING": testing,
        "SECRET_KEY": settings.secret_key,
        "IP_HASH_KEY": settings.ip_hash_key,
        "DATA_KEYS": settings.data_keys,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": settings.redis_url,
        # Lua scripts on the click buffer; `connect dev` turns them off on fakeredis.
        "REDIS_SCRIPTING": os.environ.get("REDIS_SCRIPTING", "1") != "0",
        "S3_ENDPOINT_URL": settings.s3_endpoint_url,
        "S3_BUCKET": settings.s3_bucket,
        "S3_REGION": settings.s3_region,
        "STRIPE_SECRET_KEY": settings.stripe_secret_key,
        "STRIPE_API_BASE": settings.stripe_api_base,
        "STRIPE_WEBHOOK_SECRET": settings.stripe_webhook_secret,
        "MAIL_LOG_ONLY": settings.mail_log_only,
        "LOGIN_RATE_LIMIT": settings.login_rate_limit,
        "RATELIMIT_STORAGE_URI": settings.redis_url or "memory://",
        "RATELIMIT_HEADERS_ENABLED": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": settings.env == "production",
        "REMEMBER_COOKIE_SECURE": settings.env == "production",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "WTF_CSRF_TIME_LIMIT": 8 * 3600,
        "BABEL_DEFAULT_LOCALE": "en",
        "BABEL_DEFAULT_TIMEZONE": "UTC",
        "PASSWORD_RESET_MAX_AGE": 3600,
        # Short links are served from here (e.g. https://cnct.example); empty: the request host.
        "LINK_BASE_URL": settings.link_base_url,
        # A header set by the trusted proxy or CDN with the visitor's country (CF-IPCountry).
        "GEO_COUNTRY_HEADER": settings.geo_country_header if settings.trusted_proxy_count else "",
        "TRUSTED_PROXY_COUNT": settings.trusted_proxy_count,
        # Per process, used only while Redis is unreachable (or absent: the SQLite first run).
        "LINK_CACHE_SECONDS": 10.0,
        # Redis copy of each link's target; changes drop it at commit, the TTL is a safety net.
        "LINK_REDIS_CACHE_SECONDS": 300,
        "CLICK_RETENTION_MONTHS": settings.click_retention_months,
        # Webhooks to private addresses and over plain http: only tests, with a local receiver.
        "WEBHOOKS_ALLOW_PRIVATE": testing,
        # Smallest payout per currency in minor units; others default to 50.00 in their units.
        "PAYOUT_MINIMUMS": {},
        # "s3" or "local"; empty: S3 when S3_ENDPOINT_URL is set, else <instance>/storage.
        "STORAGE_BACKEND": os.environ.get("STORAGE_BACKEND", ""),
        "IMPORT_MAX_BYTES": 20 * 1024 * 1024,
        "COMPLIANCE_RULES_PATH": os.environ.get("COMPLIANCE_RULES_PATH", ""),
        "MEDIA_MAX_IMAGE_BYTES": env_int("MEDIA_MAX_IMAGE_BYTES", 10 * 1024 * 1024),
        "MEDIA_MAX_VIDEO_BYTES": env_int("MEDIA_MAX_VIDEO_BYTES", 200 * 1024 * 1024),
        # Refused before the body is read, so a huge upload never reaches the disk.
        "MAX_CONTENT_LENGTH": 25 * 1024 * 1024,
        # The platform's own account, the debtor of SEPA files.
        "PAYOUT_DEBTOR_NAME": os.environ.get("PAYOUT_DEBTOR_NAME", "Connect Platform"),
        "PAYOUT_DEBTOR_IBAN": os.environ.get("PAYOUT_DEBTOR_IBAN", "DE89370400440532013000"),
        "PAYOUT_DEBTOR_BIC": os.environ.get("PAYOUT_DEBTOR_BIC", "COBADEFFXXX"),
        "PAYOUT_DEBTOR_COUNTRY": os.environ.get("PAYOUT_DEBTOR_COUNTRY", "DE"),
    }


def engine_options(database_url: str) -> dict[str, object]:
    """SQLAlchemy engine options for the final database URL."""
    options: dict[str, object] = {"pool_pre_ping": True}
    if database_url.startswith("postgresql"):
        # Dates are cut in UTC whatever the server's zone: reports and retention agree.
        options["connect_args"] = {"options": "-c timezone=UTC"}
    return options
