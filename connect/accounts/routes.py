from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from connect.accounts.forms import ActionForm, ForgotPasswordForm, LoginForm, ResetPasswordForm
from connect.accounts.models import Role
from connect.accounts.services import (
    authenticate,
    normalize_email,
    request_password_reset,
    set_password,
    user_for_reset_token,
)
from connect.core.policy import login_required, public
from connect.core.security import safe_next
from connect.creators.services import remember_visitor
from connect.extensions import db, limiter
from connect.tracking.capture import VISITOR_COOKIE, VISITOR_RE

bp = Blueprint("accounts", __name__)

HOME_BY_ROLE = {
    Role.CREATOR: "creators.home",
    Role.BRAND: "brands.home",
    Role.FINANCE: "finance.home",
    Role.ADMIN: "admin.home",
}


def home_url() -> str:
    return url_for(HOME_BY_ROLE[current_user.role])


def _login_rate() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _login_email_key() -> str:
    # A second limit per target address stops one account being guessed from many IPs.
    try:
        return "login-email:" + normalize_email(request.form.get("email", ""))
    except ValueError:
        return "login-email:invalid"


@bp.get("/")
@public
def index() -> Any:
    if current_user.is_authenticated:
        return redirect(home_url())
    return render_template("index.html")


@bp.route("/login", methods=["GET", "POST"])
@public
@limiter.limit(_login_rate, methods=["POST"])
@limiter.limit(_login_rate, methods=["POST"], key_func=_login_email_key)
def login() -> Any:
    if current_user.is_authenticated:
        return redirect(home_url())
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(db.session, form.email.data, form.password.data)
        if user is not None:
            login_user(user)
            visitor = request.cookies.get(VISITOR_COOKIE, "")
            if user.role == Role.CREATOR and VISITOR_RE.match(visitor):
                remember_visitor(db.session, user.id, visitor)
            return redirect(safe_next(request.args.get("next"), home_url()))
        form.password.errors.append(_("Wrong e-mail or password."))
    status = 422 if form.errors else 200
    return render_template("accounts/login.html", form=form), status


@bp.post("/logout")
@login_required
def logout() -> Any:
    form = ActionForm()
    if form.validate_on_submit():
        logout_user()
        flash(_("You are logged out."), "info")
    return redirect(url_for("accounts.login"))


@bp.route("/password/forgot", methods=["GET", "POST"])
@public
@limiter.limit("5 per minute", methods=["POST"])
def forgot_password() -> Any:
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        request_password_reset(
            db.session,
            form.email.data,
            lambda token: url_for("accounts.reset_password", token=token, _external=True),
        )
        flash(_("If this address has an account, a reset link is on its way."), "info")
        return redirect(url_for("accounts.login"))
    status = 422 if form.errors else 200
    return render_template("accounts/forgot.html", form=form), status


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@public
@limiter.limit("10 per minute", methods=["POST"])
def reset_password(token: str) -> Any:
    user = user_for_reset_token(db.session, token)
    if user is None:
        flash(_("This reset link is invalid or has expired. Ask for a new one."), "error")
        return redirect(url_for("accounts.forgot_password"))
    form = ResetPasswordForm(owner_email=user.email)
    if form.validate_on_submit():
        set_password(db.session, user, form.password.data)
        flash(_("Your password is changed. Log in with it."), "success")
        return redirect(url_for("accounts.login"))
    status = 422 if form.errors else 200
    return render_template("accounts/reset.html", form=form), status


@bp.get("/healthz")
@public
@limiter.exempt
def healthz() -> Any:
    db.session.execute(db.text("SELECT 1"))
    return {"status": "ok"}
