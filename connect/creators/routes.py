from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user

from connect.accounts.services import AccountError
from connect.core.policy import creator_required, public
from connect.creators.forms import CreatorSignupForm
from connect.creators.models import Creator, SocialPlatform
from connect.creators.services import SocialInput, register_creator
from connect.extensions import db, limiter
from connect.ledger.services import creator_balances
from connect.notifications.services import unread

bp = Blueprint("creators", __name__)


@bp.route("/signup", methods=["GET", "POST"])
@public
@limiter.limit("10 per hour", methods=["POST"])
def signup() -> Any:
    if current_user.is_authenticated:
        return redirect(url_for("accounts.index"))
    form = CreatorSignupForm()
    if form.validate_on_submit():
        social = [
            SocialInput(
                platform=SocialPlatform(entry.form.platform.data),
                handle=entry.form.handle.data.strip(),
                followers=entry.form.followers.data or 0,
            )
            for entry in form.social.entries
            if (entry.form.handle.data or "").strip()
        ]
        try:
            creator = register_creator(
                db.session,
                email=form.email.data,
                password=form.password.data,
                name=form.name.data,
                display_name=form.display_name.data,
                handle=form.handle.data,
                country=form.country.data,
                languages=form.languages.data,
                payout_currency=form.payout_currency.data,
                social=social,
            )
        except AccountError as exc:
            field = form[exc.field]
            field.errors = [*field.errors, str(exc)]
        else:
            login_user(creator.user)
            flash(_("Welcome! Your account is waiting for approval by our team."), "success")
            return redirect(url_for("creators.home"))
    status = 422 if form.errors else 200
    return render_template("creators/signup.html", form=form), status


@bp.get("/creator/")
@creator_required()
def home(creator: Creator) -> Any:
    balances = creator_balances(db.session, creator.id)
    notes = unread(db.session, creator.user_id)
    return render_template(
        "creators/home.html", creator=creator, balances=balances, notifications=notes
    )


@bp.get("/creator/profile")
@creator_required()
def profile(creator: Creator) -> Any:
    return render_template("creators/profile.html", creator=creator)
