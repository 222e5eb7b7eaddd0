"""Tier pages: the admin's ladder editor, the public leaderboard and the creator's opt-in."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from redis import Redis
from sqlalchemy import select

from connect.accounts.models import Role
from connect.campaigns.services import discover_categories
from connect.core.geo import country_choices, is_country
from connect.core.jobs import enqueue_after_commit, redis_connection
from connect.core.money import MoneyError, exponent, parse_major
from connect.core.policy import creator_required, public, role_required
from connect.core.time import utcnow
from connect.creators.models import Creator
from connect.extensions import db
from connect.tiers.forms import ActionForm, LeaderboardOptInForm, SettingsForm, TierForm
from connect.tiers.models import Tier
from connect.tiers.services import (
    TierError,
    TierInput,
    cached_leaderboard,
    ladder_overview,
    ladder_settings,
    request_recompute,
    restore_tier,
    retire_tier,
    save_settings,
    save_tier,
    set_leaderboard_optin,
    unlocked_campaigns,
)

bp = Blueprint("tiers", __name__)


def _major(minor: int, currency: str) -> str:
    digits = exponent(currency)
    return f"{minor / 10**digits:.{digits}f}" if digits else str(minor)


@bp.get("/admin/tiers")
@role_required(Role.ADMIN)
def ladder() -> Any:
    settings = ladder_settings(db.session)
    form = SettingsForm(
        reference_currency=settings.reference_currency,
        demotion_grace_days=settings.demotion_grace_days,
    )
    return _ladder_page(form)


def _ladder_page(form: SettingsForm, status: int = 200) -> Any:
    return render_template(
        "tiers/ladder.html",
        rows=ladder_overview(db.session),
        settings=ladder_settings(db.session),
        form=form,
        action=ActionForm(),
    ), status


@bp.post("/admin/tiers/settings")
@role_required(Role.ADMIN)
def settings() -> Any:
    form = SettingsForm()
    if form.validate_on_submit():
        try:
            save_settings(
                db.session,
                reference_currency=form.reference_currency.data or "",
                grace_days=form.demotion_grace_days.data,
                actor_id=current_user.id,
            )
        except TierError as exc:
            form[exc.field or "reference_currency"].errors = [str(exc)]
            db.session.rollback()
        else:
            flash(_("Saved. The next recompute uses the new settings."), "success")
            return redirect(url_for("tiers.ladder"))
    return _ladder_page(form, 422)


@bp.post("/admin/tiers/recompute")
@role_required(Role.ADMIN)
def recompute_now() -> Any:
    if not ActionForm().validate_on_submit():
        abort(400)
    request_recompute(db.session, actor_id=current_user.id)
    enqueue_after_commit(db.session, "workers.jobs.recompute_tiers", queue_name="periodic")
    flash(_("The tier recompute is queued; creators move within a few minutes."), "info")
    return redirect(url_for("tiers.ladder"))


def _tier_input(form: TierForm, currency: str) -> TierInput | None:
    """The form's values, thresholds in minor units; None (with field errors) if they are not
    amounts in `currency`."""
    amounts: dict[str, int] = {}
    for name in ("min_sales", "min_earnings"):
        try:
            amounts[name] = parse_major(form[name].data.replace(",", ""), currency)
        except MoneyError:
            form[name].errors = [
                _("Enter an amount in %(currency)s, such as 5000.", currency=currency)
            ]
    if len(amounts) < 2:
        return None
    return TierInput(
        name=form.name.data,
        rank=form.rank.data,
        min_sales_minor=amounts["min_sales"],
        min_earnings_minor=amounts["min_earnings"],
        min_audience=form.min_audience.data,
        bonus_bps=form.bonus_bps.data,
        sample_limit=form.sample_limit.data,
    )


_FORM_FIELD = {"min_sales_minor": "min_sales", "min_earnings_minor": "min_earnings"}


def _edit(tier: Tier | None) -> Any:
    currency = ladder_settings(db.session).reference_currency
    if tier is None:
        form = TierForm()
    else:
        form = TierForm(
            obj=tier,
            min_sales=_major(tier.min_sales_minor, currency),
            min_earnings=_major(tier.min_earnings_minor, currency),
        )
    error = ""
    if form.validate_on_submit():
        data = _tier_input(form, currency)
        if data is not None:
            try:
                saved = save_tier(db.session, tier, data, actor_id=current_user.id)
            except TierError as exc:
                db.session.rollback()
                if exc.field:
                    form[_FORM_FIELD.get(exc.field, exc.field)].errors = [str(exc)]
                else:
                    error = str(exc)
            else:
                flash(
                    _("%(name)s is saved. Creators move at the next recompute.", name=saved.name),
                    "success",
                )
                return redirect(url_for("tiers.ladder"))
    failed = request.method == "POST"
    unlocked = unlocked_campaigns(db.session, tier) if tier is not None else []
    return render_template(
        "tiers/form.html",
        form=form,
        tier=tier,
        currency=currency,
        error=error,
        unlocked=unlocked,
        action=ActionForm(),
    ), (422 if failed else 200)


@bp.route("/admin/tiers/new", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def new() -> Any:
    return _edit(None)


@bp.route("/admin/tiers/<int:tier_id>", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def edit(tier_id: int) -> Any:
    return _edit(db.get_or_404(Tier, tier_id))


@bp.post("/admin/tiers/<int:tier_id>/retire")
@role_required(Role.ADMIN)
def retire(tier_id: int) -> Any:
    tier = db.get_or_404(Tier, tier_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        retire_tier(db.session, tier, actor_id=current_user.id, now=utcnow())
    except TierError as exc:
        flash(str(exc), "error")
    else:
        flash(
            _("%(name)s is retired. Its creators move at the next recompute.", name=tier.name),
            "success",
        )
    return redirect(url_for("tiers.ladder"))


@bp.post("/admin/tiers/<int:tier_id>/restore")
@role_required(Role.ADMIN)
def restore(tier_id: int) -> Any:
    tier = db.get_or_404(Tier, tier_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        restore_tier(db.session, tier, actor_id=current_user.id)
    except TierError as exc:
        flash(str(exc), "error")
    else:
        flash(_("%(name)s is back on the ladder.", name=tier.name), "success")
    return redirect(url_for("tiers.ladder"))


# --- the leaderboard ---------------------------------------------------------------------------


def _cache() -> Redis | None:
    try:
        return redis_connection()
    except RuntimeError:  # no Redis configured: compute the board on every request
        return None


@bp.get("/leaderboard")
@public
def board() -> Any:
    country = request.args.get("country", "").strip().upper()
    category = request.args.get("category", "").strip()
    categories = discover_categories(db.session)
    errors = []
    if country and not is_country(country):
        errors.append(_("Choose a country from the list."))
        country = ""
    if category and category not in categories:
        errors.append(_("Choose a category from the list."))
        category = ""
    rows = cached_leaderboard(db.session, _cache(), utcnow(), country=country, category=category)
    me = None
    if current_user.is_authenticated and current_user.role == Role.CREATOR:
        me = db.session.scalar(select(Creator).where(Creator.user_id == current_user.id))
    return render_template(
        "tiers/leaderboard.html",
        rows=rows,
        country=country,
        category=category,
        countries={c: n for c, n in country_choices().items() if c},
        categories=categories,
        errors=errors,
        creator=me,
    ), (400 if errors else 200)


@bp.post("/creator/leaderboard")
@creator_required()
def optin(creator: Creator) -> Any:
    form = LeaderboardOptInForm()
    if not form.validate_on_submit():
        abort(400)
    set_leaderboard_optin(db.session, creator, bool(form.show.data), _cache())
    if form.show.data:
        flash(_("You are shown on the public leaderboard."), "success")
    else:
        flash(_("You are no longer shown on the public leaderboard."), "success")
    return redirect(url_for("creators.profile"))
