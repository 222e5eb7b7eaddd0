from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    FieldList,
    FormField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
)
from wtforms import Form as NoCsrfForm
from wtforms.validators import (
    DataRequired,
    EqualTo,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)

from connect.accounts.forms import StrongPassword, ValidEmail
from connect.core.geo import (
    country_choices,
    currency_choices,
    is_country,
    is_language,
    language_choices,
)
from connect.core.money import is_currency
from connect.creators.models import SocialPlatform

HANDLE_RE = r"^[a-z0-9](?:[a-z0-9_-]{1,38}[a-z0-9])$"


class SocialAccountForm(NoCsrfForm):
    platform = SelectField(
        _l("Platform"),
        choices={"": "—"} | {p.value: p.value.capitalize() for p in SocialPlatform},
        validators=[Optional()],
    )
    handle = StringField(_l("Handle"), validators=[Optional(), Length(max=100)])
    followers = IntegerField(
        _l("Followers"), validators=[Optional(), NumberRange(min=0, max=5_000_000_000)]
    )

    def validate_handle(self, field: StringField) -> None:
        if bool(self.platform.data) != bool((field.data or "").strip()):
            raise ValidationError(_l("Give both the platform and the handle, or neither."))


class CreatorSignupForm(FlaskForm):
    name = StringField(_l("Your name"), validators=[DataRequired(), Length(max=120)])
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254), ValidEmail()])
    password = PasswordField(_l("Password"), validators=[DataRequired(), StrongPassword()])
    confirm = PasswordField(
        _l("Repeat password"),
        validators=[DataRequired(), EqualTo("password", message=_l("Passwords do not match."))],
    )
    display_name = StringField(_l("Creator name"), validators=[DataRequired(), Length(max=80)])
    handle = StringField(
        _l("Page address"),
        description=_l("3-40 characters: lower-case letters, digits, - and _"),
        validators=[
            DataRequired(),
            Regexp(HANDLE_RE, message=_l("Use 3-40 lower-case letters, digits, - or _.")),
        ],
    )
    country = SelectField(_l("Country"), choices=country_choices, validate_choice=False)
    languages = SelectMultipleField(
        _l("Languages you create in"), choices=language_choices, validate_choice=False
    )
    payout_currency = SelectField(
        _l("Payout currency"), choices=currency_choices, validate_choice=False
    )
    social = FieldList(FormField(SocialAccountForm), min_entries=3, max_entries=5)
    submit = SubmitField(_l("Create my creator account"))

    def validate_country(self, field: SelectField) -> None:
        if not is_country(field.data or ""):
            raise ValidationError(_l("Choose your country from the list."))

    def validate_languages(self, field: SelectMultipleField) -> None:
        if not field.data:
            raise ValidationError(_l("Choose at least one language."))
        if len(field.data) > 10 or not all(is_language(code) for code in field.data):
            raise ValidationError(_l("Choose languages from the list (ten at most)."))

    def validate_payout_currency(self, field: SelectField) -> None:
        if not is_currency(field.data or ""):
            raise ValidationError(_l("Choose a currency from the list."))

    def validate_social(self, field: FieldList) -> None:
        if not any((entry.form.handle.data or "").strip() for entry in field.entries):
            raise ValidationError(_l("Add at least one social account."))
