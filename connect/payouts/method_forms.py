"""The creator's payout method forms. Field checks only; the rules (IBAN, BIC, SEPA zone, which
rails reach the creator) live in `connect.payouts.methods`, whose errors the views attach to
these fields."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Optional

from connect.accounts.forms import ValidEmail


class BankAccountForm(FlaskForm):
    """SEPA (prefix `sepa`) and other bank transfers (prefix `bank`): one page shows both."""

    account_holder = StringField(
        _l("Account holder"),
        validators=[DataRequired(), Length(max=140)],
        description=_l("The name on the account, as your bank writes it."),
    )
    # IBANs are at most 34 characters; people paste them with spaces.
    iban = StringField(_l("IBAN"), validators=[DataRequired(), Length(max=50)])
    bic = StringField(
        _l("BIC (SWIFT code)"),
        validators=[Optional(), Length(max=16)],
        description=_l("Leave empty to have it looked up from the IBAN."),
    )
    submit = SubmitField(_l("Save bank account"))


class PaypalForm(FlaskForm):
    email = EmailField(
        _l("PayPal e-mail address"), validators=[DataRequired(), Length(max=254), ValidEmail()]
    )
    submit = SubmitField(_l("Save PayPal address"))
