"""Connect: a creator affiliate platform. `create_app` wires the pieces together, nothing more."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from flask import Flask, g
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

from connect.config import Settings, engine_options, flask_config
from connect.core.security import SECURITY_HEADERS
from connect.core.templating import register_template_helpers
from connect.extensions import babel, csrf, db, limiter, login_manager, migrate

ROOT = Path(__file__).resolve().parent.parent
SUPPORTED_LOCALES = ("en", "es", "fr", "pl", "ru", "pt_BR")


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    settings = Settings.from_env()
    settings.validate()
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=os.environ.get("CONNECT_INSTANCE_PATH", str(ROOT / "instance")),
    )
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.from_mapping(flask_config(settings, app.instance_path))
    if overrides:
        app.config.from_mapping(overrides)
    app.config.setdefault(
        "SQLALCHEMY_ENGINE_OPTIONS", engine_options(app.config["SQLALCHEMY_DATABASE_URI"])
    )

    register_logging(app)
    register_extensions(app)
    register_template_helpers(app)
    register_blueprints(app)
    register_request_hooks(app)
    register_cli(app)
    from connect.tracking.fastpath import RedirectFastPath

    # Outermost but for ProxyFix: /r/<code> is answered before Flask builds a request.
    app.wsgi_app = RedirectFastPath(app, app.wsgi_app)  # type: ignore[method-assign]
    if app.config["TRUSTED_PROXY_COUNT"]:
        n = app.config["TRUSTED_PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    return app


def register_logging(app: Flask) -> None:
    if not app.debug and not app.testing:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )


def register_extensions(app: Flask) -> None:
    import connect.models  # noqa: F401 - every model registered before the metadata is used

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    limiter.init_app(app)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(ROOT / "connect" / "translations"))
    babel.init_app(app, locale_selector=select_locale)

    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    # Off: "strong" logs users out whenever their IP changes (phones change networks all day)
    # and "basic" only manages a freshness flag nothing here uses; both also rewrite anonymous
    # sessions, which puts a Set-Cookie on publicly cached pages. Session cookies are HttpOnly,
    # SameSite=Lax and Secure in production.
    login_manager.session_protection = None

    @login_manager.user_loader
    def load_user(user_id: str) -> Any:
        from connect.accounts.models import User

        try:
            return db.session.get(User, int(user_id))
        except ValueError:
            return None


def select_locale() -> str | None:
    """User setting, else `lang` cookie, else Accept-Language: connect/accounts/language.py."""
    from connect.accounts.language import select_locale as choose

    return choose()


def register_blueprints(app: Flask) -> None:
    from connect.accounts.language import bp as language_bp
    from connect.accounts.routes import bp as accounts_bp
    from connect.admin.routes import bp as admin_bp
    from connect.bounties.routes import bp as bounties_bp
    from connect.brands.routes import bp as brands_bp
    from connect.campaigns.routes import bp as campaigns_bp
    from connect.content.routes import bp as content_bp
    from connect.conversions.import_routes import bp as imports_bp
    from connect.conversions.routes import bp as conversions_bp
    from connect.core.errors import register_error_handlers
    from connect.creators.routes import bp as creators_bp
    from connect.dashboards.routes import bp as dashboards_bp
    from connect.finance.routes import bp as finance_bp
    from connect.ledger.routes import bp as statements_bp
    from connect.payouts.method_routes import bp as payout_methods_bp
    from connect.payouts.routes import bp as payouts_bp
    from connect.promos.routes import bp as promos_bp
    from connect.samples.routes import bp as samples_bp
    from connect.tiers.routes import bp as tiers_bp
    from connect.tracking.routes import bp as tracking_bp
    from connect.tracking.routes import init_tracking
    from connect.webhooks.routes import bp as webhooks_bp

    blueprints = (
        payouts_bp,
        payout_methods_bp,
        promos_bp,
        accounts_bp,
        language_bp,
        admin_bp,
        brands_bp,
        campaigns_bp,
        content_bp,
        conversions_bp,
        imports_bp,
        creators_bp,
        dashboards_bp,
        finance_bp,
        statements_bp,
        tiers_bp,
        tracking_bp,
        samples_bp,
        bounties_bp,
        webhooks_bp,
    )
    for bp in blueprints:
        app.register_blueprint(bp)
    register_error_handlers(app)
    init_tracking(app)


def register_request_hooks(app: Flask) -> None:
    @app.after_request
    def commit_successful_request(response: Any) -> Any:
        # The request owns the transaction: a response below 400 commits what the services
        # flushed; anything else is rolled back when the session is removed at teardown.
        # `registry.has()`: a request that never touched the database (the redirect on a cache
        # hit) must not open a session just to commit nothing.
        if response.status_code < 400 and db.session.registry.has():
            db.session.commit()
        return response

    @app.after_request
    def security_headers(response: Any) -> Any:
        for name, value in SECURITY_HEADERS:
            response.headers.setdefault(name, value)
        return response

    @app.context_processor
    def inject_globals() -> dict[str, Any]:
        return {"supported_locales": SUPPORTED_LOCALES, "current_brand": g.get("brand")}


def register_cli(app: Flask) -> None:
    from connect.cli import register_commands

    register_commands(app)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    # WAL lets the web and the worker read while one writes; foreign keys are off by default.
    module = type(dbapi_connection).__module__
    if module.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()
