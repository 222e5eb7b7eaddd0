"""Promo-code forms. They check what a person typed (syntax, ranges); the services decide what
the platform accepts (code rules, membership, uniqueness) and raise with a field name."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from connect.campaigns.services import CampaignError, parse_percent
from connect.promos.codes import MAX_LENGTH


class _WithServiceErrors(FlaskForm):
    def add_service_error(self, field: str | None, message: str) -> None:
        """Show a service refusal on its field (or on the form as a whole)."""
        target = getattr(self, field, None) if field else None
        if target is None:
            self.form_errors.append(message)
        else:
            target.errors = [*target.errors, message]


class _Terms(_WithServiceErrors):
    discount = StringField(
        _l("Buyer discount (%)"),
        description=_l("Applied by your checkout; shown to the creator."),
        validators=[DataRequired(), Length(max=12)],
    )
    valid_from = DateField(_l("Valid from"), validators=[DataRequired()])
    valid_until = DateField(
        _l("Valid until"),
        description=_l("Inclusive. Leave empty to keep the code valid until you disable it."),
        validators=[Optional()],
    )

    def validate_discount(self, field: StringField) -> None:
        self.discount_bps = _percent(field.data or "")


def _percent(text: str) -> int:
    try:
        bps = parse_percent(text)
    except CampaignError as exc:
        raise ValidationError(str(exc)) from exc
    if not 1 <= bps <= 10_000:
        raise ValidationError(_l("The discount is between 0.01 and 100 percent."))
    return bps


class IssueForm(_Terms):
    creator_id = SelectField(_l("Creator"), coerce=int, validate_choice=False)
    code = StringField(
        _l("Code"),
        description=_l("Leave empty for a generated code."),
        validators=[Length(max=MAX_LENGTH * 2)],
    )


class TermsForm(_Terms):
    pass


class DisableForm(_WithServiceErrors):
    reason = StringField(
        _l("Reason"),
        description=_l("For example: found on a coupon site."),
        validators=[DataRequired(), Length(max=200)],
    )


class EnableForm(FlaskForm):
    """Only the CSRF token."""


class SettingsForm(_WithServiceErrors):
    creator_codes = BooleanField(_l("Members may choose their own code"))
    discount = StringField(
        _l("Discount of creator-chosen codes (%)"), validators=[DataRequired(), Length(max=12)]
    )

    def validate_discount(self, field: StringField) -> None:
        self.discount_bps = _percent(field.data or "")


class ChooseForm(_WithServiceErrors):
    code = StringField(
        _l("Your code"),
        description=_l("Leave empty for a generated code."),
        validators=[Length(max=MAX_LENGTH * 2)],
    )
