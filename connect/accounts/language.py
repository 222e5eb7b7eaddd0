"""The portal language: which one a request gets, the switcher that changes it, and the
translated labels of stored status values.

Order: the signed-in user's setting (`User.locale`, follows them to every device), else the `lang`
cookie (an anonymous visitor's choice), else the best match for the browser's Accept-Language,
else English. POST /language stores a choice: in `User.locale` when signed in, in the cookie
otherwise.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, has_request_context, redirect, request
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.datastructures import LanguageAccept
from wtforms import HiddenField, SelectChoice, SelectField, SubmitField

from connect import SUPPORTED_LOCALES
from connect.core.policy import public
from connect.core.security import safe_next

bp = Blueprint("language", __name__)

DEFAULT_LOCALE = "en"
LANG_COOKIE = "lang"
LANG_COOKIE_MAX_AGE = 365 * 24 * 3600

# Each language named in itself: a reader who cannot read the current page still finds theirs.
LANGUAGE_NAMES: dict[str, str] = {
    "en": "English",
    "es": "Español",
    "fr": "Français",
    "pl": "Polski",
    "ru": "Русский",
    "pt_BR": "Português (Brasil)",
}


def browser_locale(accept: LanguageAccept) -> str | None:
    """The supported locale the browser prefers most, or None.

    Tags are taken in the browser's order of preference; each matches exactly (`pt-BR` ->
    pt_BR) or by its language alone (`fr-CA` -> fr, `pt-PT` -> pt_BR). Werkzeug's best_match
    would answer English for `fr-CA,en;q=0.9`, because an exact match anywhere beats a
    language-only match of the first choice.
    """
    exact = {code.lower().replace("_", "-"): code for code in SUPPORTED_LOCALES}
    by_language: dict[str, str] = {}
    for code in SUPPORTED_LOCALES:
        by_language.setdefault(code.split("_")[0].lower(), code)
    for tag, quality in sorted(accept, key=lambda item: -item[1]):  # stable: ties keep order
        tag = tag.strip().lower().replace("_", "-")
        if quality <= 0 or tag == "*":
            continue
        if tag in exact:
            return exact[tag]
        if tag.split("-")[0] in by_language:
            return by_language[tag.split("-")[0]]
    return None


def select_locale() -> str | None:
    """Flask-Babel's locale selector (see the module docstring for the order)."""
    if not has_request_context():
        return None  # a job or a CLI command: Flask-Babel's default locale
    if current_user and current_user.is_authenticated and current_user.locale in SUPPORTED_LOCALES:
        return current_user.locale
    cookie = request.cookies.get(LANG_COOKIE)
    if cookie in SUPPORTED_LOCALES:
        return cookie
    return browser_locale(request.accept_languages) or DEFAULT_LOCALE


class LanguageForm(FlaskForm):
    # SelectField validates the value against its choices: only SUPPORTED_LOCALES is ever stored.
    locale = SelectField(
        _l("Language"), choices=[SelectChoice(c, LANGUAGE_NAMES[c]) for c in SUPPORTED_LOCALES]
    )
    next = HiddenField()
    submit = SubmitField(_l("Change language"))


@bp.app_context_processor
def language_choices() -> dict[str, Any]:
    """`language_choices` for the switcher in base.html: (code, name) in SUPPORTED_LOCALES order."""
    return {"language_choices": [(c, LANGUAGE_NAMES[c]) for c in SUPPORTED_LOCALES]}


# Stored values (enums) as the reader's words: `{{ creator.status|status_label("creator") }}`.
# The context tells translators what the word describes (gender and number differ: a creator is
# "aprobado", a commission "aprobada"). A value without a label is shown as it is.
_STATUS_LABELS = {
    "creator": {
        "pending": lazy_pgettext("creator status", "awaiting approval"),
        "approved": lazy_pgettext("creator status", "approved"),
        "suspended": lazy_pgettext("creator status", "suspended"),
    },
    "brand": {
        "pending": lazy_pgettext("brand status", "awaiting approval"),
        "approved": lazy_pgettext("brand status", "approved"),
        "suspended": lazy_pgettext("brand status", "suspended"),
    },
    "link": {
        "active": lazy_pgettext("link status", "active"),
        "disabled": lazy_pgettext("link status", "disabled"),
    },
    "product": {
        "active": lazy_pgettext("product status", "active"),
        "archived": lazy_pgettext("product status", "archived"),
    },
    "order": {
        "received": lazy_pgettext("order status", "received"),
        "attributed": lazy_pgettext("order status", "attributed"),
        "unattributed": lazy_pgettext("order status", "not attributed"),
    },
    # How an order found its creator (orders.attributed_by).
    "attribution": {
        "click": lazy_pgettext("attribution source", "click on a link"),
        "promo_code": lazy_pgettext("attribution source", "promo code"),
        "visitor": lazy_pgettext("attribution source", "earlier click by the buyer"),
    },
    "commission": {
        "pending": lazy_pgettext("commission status", "pending"),
        "held": lazy_pgettext("commission status", "on hold"),
        "approved": lazy_pgettext("commission status", "approved"),
        "paid": lazy_pgettext("commission status", "paid"),
        "reversed": lazy_pgettext("commission status", "reversed"),
        "rejected": lazy_pgettext("commission status", "rejected"),
    },
    "import": {
        "queued": lazy_pgettext("import status", "queued"),
        "running": lazy_pgettext("import status", "running"),
        "done": lazy_pgettext("import status", "done"),
        "failed": lazy_pgettext("import status", "failed"),
    },
    "import_kind": {
        "orders": lazy_pgettext("import kind", "orders"),
        "refunds": lazy_pgettext("import kind", "refunds"),
    },
    "brand_role": {
        "owner": lazy_pgettext("brand role", "owner"),
        "manager": lazy_pgettext("brand role", "manager"),
        "viewer": lazy_pgettext("brand role", "viewer"),
    },
    "batch": {
        "building": lazy_pgettext("payout batch status", "building"),
        "review": lazy_pgettext("payout batch status", "in review"),
        "approved": lazy_pgettext("payout batch status", "approved"),
        "executing": lazy_pgettext("payout batch status", "executing"),
        "done": lazy_pgettext("payout batch status", "done"),
        "cancelled": lazy_pgettext("payout batch status", "cancelled"),
    },
    "payout": {
        "planned": lazy_pgettext("payout status", "planned"),
        "sending": lazy_pgettext("payout status", "sending"),
        "exported": lazy_pgettext("payout status", "exported"),
        "paid": lazy_pgettext("payout status", "paid"),
        "failed": lazy_pgettext("payout status", "failed"),
        "cancelled": lazy_pgettext("payout status", "cancelled"),
    },
}


@bp.app_template_filter("status_label")
def status_label(value: object, kind: str) -> str:
    """The translated label of a stored value of `kind` (a key of _STATUS_LABELS)."""
    label = _STATUS_LABELS.get(kind, {}).get(str(value))
    return str(value) if label is None else str(label)


@bp.post("/language")
@public
def set_language() -> Any:
    # CSRFProtect checks the token before this runs (missing or wrong: 400); the form checks it
    # again and checks the locale against SUPPORTED_LOCALES.
    form = LanguageForm()
    if not form.validate_on_submit():
        abort(400)
    locale = form.locale.data
    response = redirect(safe_next(request.form.get("next"), "/"))
    if current_user.is_authenticated:
        # Committed by the app's after_request hook (a redirect is below 400).
        current_user.locale = locale
    else:
        response.set_cookie(
            LANG_COOKIE,
            locale,
            max_age=LANG_COOKIE_MAX_AGE,
            secure=request.is_secure,
            httponly=True,
            samesite="Lax",
        )
    return response
