"""The creator's payout method in the portal: Stripe Connect Express onboarding, a SEPA bank
account, another bank account (paid from a file), or PayPal."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from connect.core.policy import creator_required
from connect.creators.models import Creator
from connect.extensions import db
from connect.payouts.gateway import (
    PERMANENT_ERRORS,
    StripeGateway,
    StripeNotConfigured,
    gateway,
)
from connect.payouts.method_forms import BankAccountForm, PaypalForm
from connect.payouts.methods import (
    MethodError,
    choose_stripe,
    mask_iban,
    method_of,
    parse_bank_account,
    rail_options,
    record_stripe_state,
    set_bank_account,
    set_paypal,
)
from connect.payouts.models import PayoutMethod, Rail
from connect.payouts.services import _method_problem

bp = Blueprint("payout_methods", __name__)
log = logging.getLogger(__name__)

PAGE = "payout_methods.page"
_BANK_PREFIX = {Rail.SEPA: "sepa", Rail.CSV: "bank"}


def _stripe_configured() -> bool:
    return bool(current_app.config["STRIPE_SECRET_KEY"])


def _back(code: int = 303) -> Any:
    """To the payout-method page: 303 after a POST, 302 after a GET."""
    return redirect(url_for(PAGE), code)


def _render(
    creator: Creator,
    *,
    sepa: BankAccountForm | None = None,
    bank: BankAccountForm | None = None,
    paypal: PaypalForm | None = None,
    status: int = 200,
) -> Any:
    method = method_of(db.session, creator.id)
    holder = method.account_holder if method is not None else ""
    email = method.paypal_email if method is not None else ""
    return render_template(
        "payouts/method.html",
        creator=creator,
        method=method,
        masked_iban=mask_iban(method.iban) if method is not None and method.iban else "",
        problem=_method_problem(creator, method, creator.payout_currency) if method else "",
        options=rail_options(creator, stripe_configured=_stripe_configured()),
        sepa_form=sepa
        or BankAccountForm(prefix="sepa", formdata=None, data={"account_holder": holder}),
        bank_form=bank
        or BankAccountForm(prefix="bank", formdata=None, data={"account_holder": holder}),
        paypal_form=paypal or PaypalForm(prefix="paypal", formdata=None, data={"email": email}),
    ), status


@bp.get("/creator/payout-method")
@creator_required()
def page(creator: Creator) -> Any:
    return _render(creator)


# --- bank accounts and PayPal ---------------------------------------------------------------


def _refused(creator: Creator, rail: Rail) -> str:
    """Why `rail` is not offered to the creator, in the reader's language ("" when it is)."""
    option = rail_options(creator, stripe_configured=_stripe_configured())[rail]
    return "" if option.available else str(option.reason)


def _save_bank(creator: Creator, rail: Rail) -> Any:
    reason = _refused(creator, rail)
    if reason:
        flash(reason, "error")
        return _back()
    prefix = _BANK_PREFIX[rail]
    form = BankAccountForm(prefix=prefix)
    if form.validate_on_submit():
        try:
            account = parse_bank_account(
                form.iban.data,
                form.bic.data or "",
                form.account_holder.data,
                sepa=rail == Rail.SEPA,
            )
            set_bank_account(db.session, creator, account, rail=rail, actor_id=current_user.id)
        except MethodError as exc:
            if exc.field is None:
                flash(str(exc), "error")
                return _back()
            field = getattr(form, exc.field)
            field.errors = [*field.errors, str(exc)]
        else:
            flash(
                _("You will be paid to %(iban)s.", iban=mask_iban(account.iban)),
                "success",
            )
            return _back()
    return _render(creator, **{prefix: form}, status=422)


@bp.post("/creator/payout-method/sepa")
@creator_required()
def sepa(creator: Creator) -> Any:
    return _save_bank(creator, Rail.SEPA)


@bp.post("/creator/payout-method/bank")
@creator_required()
def bank(creator: Creator) -> Any:
    return _save_bank(creator, Rail.CSV)


@bp.post("/creator/payout-method/paypal")
@creator_required()
def paypal(creator: Creator) -> Any:
    form = PaypalForm(prefix="paypal")
    if form.validate_on_submit():
        try:
            method = set_paypal(db.session, creator, form.email.data, actor_id=current_user.id)
        except MethodError as exc:
            form.email.errors = [*form.email.errors, str(exc)]
        else:
            flash(
                _("You will be paid by PayPal at %(email)s.", email=method.paypal_email), "success"
            )
            return _back()
    return _render(creator, paypal=form, status=422)


# --- Stripe Connect Express onboarding ------------------------------------------------------


def _onboarding_link(stripe: StripeGateway, method: PayoutMethod) -> str:
    return stripe.onboarding_link(
        method.stripe_account_id,
        refresh_url=url_for("payout_methods.stripe_refresh", _external=True),
        return_url=url_for("payout_methods.stripe_return", _external=True),
    )


def _stripe_refused(exc: Exception, code: int = 303) -> Any:
    log.warning("Stripe refused a payout-method call: %s", exc)
    flash(_("Stripe refused to set up your account. Please contact support."), "error")
    return _back(code)


def _not_configured(code: int = 303) -> Any:
    flash(_("Stripe payouts are not set up on Connect yet; choose another method."), "error")
    return _back(code)


@bp.post("/creator/payout-method/stripe")
@creator_required()
def stripe_start(creator: Creator) -> Any:
    reason = _refused(creator, Rail.STRIPE)
    if reason:
        flash(reason, "error")
        return _back()
    try:
        stripe = gateway()
        method = choose_stripe(
            db.session, creator, stripe, email=creator.user.email, actor_id=current_user.id
        )
        if method.payouts_enabled:
            flash(_("Stripe pays you out again: your account is ready."), "success")
            return _back()
        # A 303 after the account is stored: it is committed even if the link fails below.
        return redirect(_onboarding_link(stripe, method), 303)
    except StripeNotConfigured:
        return _not_configured()
    except PERMANENT_ERRORS as exc:
        return _stripe_refused(exc)


def _own_stripe_method(creator: Creator) -> PayoutMethod | None:
    method = method_of(db.session, creator.id)
    if method is None or not method.stripe_account_id:
        flash(_("You have no Stripe account with us yet."), "error")
        return None
    return method


@bp.get("/creator/payout-method/stripe/return")
@creator_required()
def stripe_return(creator: Creator) -> Any:
    """Where Stripe sends the creator after onboarding (finished or not): ask Stripe."""
    method = _own_stripe_method(creator)
    if method is None:
        return _back(302)
    try:
        state = gateway().account_state(method.stripe_account_id)
    except StripeNotConfigured:
        return _not_configured(302)
    except PERMANENT_ERRORS as exc:
        return _stripe_refused(exc, 302)
    record_stripe_state(db.session, method, state, actor_id=current_user.id)
    if state.payouts_enabled:
        flash(_("Your Stripe account is ready: Stripe pays you out."), "success")
    elif state.details_submitted:
        flash(_("Stripe is checking your details; payouts start once it has."), "info")
    else:
        flash(_("Your Stripe onboarding is not finished yet."), "info")
    return _back(302)


@bp.get("/creator/payout-method/stripe/refresh")
@creator_required()
def stripe_refresh(creator: Creator) -> Any:
    """Where Stripe sends the creator when an onboarding link expired or was used: a new one."""
    method = _own_stripe_method(creator)
    if method is None:
        return _back(302)
    try:
        return redirect(_onboarding_link(gateway(), method))
    except StripeNotConfigured:
        return _not_configured(302)
    except PERMANENT_ERRORS as exc:
        return _stripe_refused(exc, 302)
