"""Campaign forms: the brand's campaign editor, creator search, and the creator's filters.

Forms check what a person typed (syntax, ranges); `connect.campaigns.services` is the authority on
what the platform accepts (the brand's own SKUs, budget against spend) and raises with a field.
"""

from __future__ import annotations

import re
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    FieldList,
    FormField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms import Form as NoCsrfForm
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from connect.campaigns.markdown import MAX_BRIEF
from connect.campaigns.models import Visibility
from connect.campaigns.services import CampaignError, CampaignInput, parse_percent
from connect.core.geo import country_choices, currency_choices, is_country, language_choices
from connect.core.money import MoneyError, is_currency, parse_major

MAX_RATE_ROWS = 200
MAX_COVERED_SKUS = 5000
_SKU_SPLIT = re.compile(r"[\s,;]+")


def optional_int(value: object) -> int | None:
    return int(value) if value not in (None, "", "None") else None  # type: ignore[call-overload]


def _countries() -> dict[str, str]:
    return {code: name for code, name in country_choices().items() if code}


def _percent_or_error(text: str) -> int:
    try:
        return parse_percent(text)
    except CampaignError as exc:
        raise ValidationError(str(exc)) from exc


class ProductRateForm(NoCsrfForm):
    # No Optional(): it would stop the chain before the both-or-neither check on empty input.
    sku = StringField(_l("SKU"), validators=[Length(max=64)])
    rate = StringField(_l("Rate (%)"), validators=[Length(max=12)])

    def validate_rate(self, field: StringField) -> None:
        if bool((self.sku.data or "").strip()) != bool((field.data or "").strip()):
            raise ValidationError(_l("Give both the SKU and the rate, or neither."))
        if field.data and field.data.strip():
            _percent_or_error(field.data)


class CategoryRateForm(NoCsrfForm):
    category = StringField(_l("Category"), validators=[Length(max=80)])
    rate = StringField(_l("Rate (%)"), validators=[Length(max=12)])

    def validate_rate(self, field: StringField) -> None:
        if bool((self.category.data or "").strip()) != bool((field.data or "").strip()):
            raise ValidationError(_l("Give both the category and the rate, or neither."))
        if field.data and field.data.strip():
            _percent_or_error(field.data)


class CampaignForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    brief = TextAreaField(
        _l("Brief"),
        description=_l(
            "Markdown: **bold**, *italic*, lists, [links](https://…), tables. "
            "HTML is shown as text."
        ),
        validators=[Length(max=MAX_BRIEF)],
        render_kw={"rows": 10},
    )
    starts_on = DateField(_l("Starts on"), validators=[DataRequired()])
    ends_on = DateField(
        _l("Ends on"),
        description=_l("Leave empty to run until you end it."),
        validators=[Optional()],
    )
    countries = SelectMultipleField(
        _l("Target countries"),
        description=_l("None selected: creators in every country."),
        choices=_countries,
        validate_choice=False,
        render_kw={"size": 10},
    )
    min_tier_id = SelectField(_l("Minimum tier"), coerce=optional_int)
    visibility = RadioField(
        _l("Who can join"),
        choices=lambda: {
            Visibility.OPEN.value: _("Open: any creator in the target countries and tiers"),
            Visibility.INVITE.value: _("Invite-only: creators you invite"),
        },
        default=Visibility.OPEN.value,
    )
    approval_required = BooleanField(
        _l("Review applications (open campaigns): creators apply and you approve them")
    )
    default_rate = StringField(
        _l("Default commission (%)"),
        description=_l("For every covered product without its own rate, e.g. 8 or 12.5."),
        validators=[DataRequired(), Length(max=12)],
    )
    tier_bonus = BooleanField(_l("Add the creator's tier bonus"), default=True)
    currency = SelectField(_l("Budget currency"), choices=currency_choices, validate_choice=False)
    budget = StringField(
        _l("Budget"),
        description=_l("The most this campaign pays in commissions. Empty: no cap."),
        validators=[Optional(), Length(max=24)],
    )
    attribution_window_days = IntegerField(
        _l("Attribution window (days)"),
        default=30,
        validators=[InputRequired(), NumberRange(min=1, max=365)],
    )
    product_rates = FieldList(FormField(ProductRateForm), min_entries=3, max_entries=MAX_RATE_ROWS)
    category_rates = FieldList(
        FormField(CategoryRateForm), min_entries=3, max_entries=MAX_RATE_ROWS
    )
    covered_categories = SelectMultipleField(
        _l("Covered categories"),
        description=_l("Every active product in these categories."),
        validate_choice=False,
        render_kw={"size": 6},
    )
    covered_skus = TextAreaField(
        _l("Covered SKUs"),
        description=_l(
            "One per line (or separated by commas). "
            "No categories and no SKUs: your whole catalogue."
        ),
        validators=[Length(max=200_000)],
        render_kw={"rows": 4},
    )
    submit = SubmitField(_l("Save campaign"))

    def validate_ends_on(self, field: DateField) -> None:
        if field.data and self.starts_on.data and field.data < self.starts_on.data:
            raise ValidationError(_l("The end date must be on or after the start date."))

    def validate_countries(self, field: SelectMultipleField) -> None:
        if len(field.data or []) > 250 or not all(is_country(c) for c in field.data or []):
            raise ValidationError(_l("Choose countries from the list."))

    def validate_default_rate(self, field: StringField) -> None:
        _percent_or_error(field.data or "")

    def validate_currency(self, field: SelectField) -> None:
        if not is_currency(field.data or ""):
            raise ValidationError(_l("Choose a currency from the list."))

    def validate_budget(self, field: StringField) -> None:
        if not (field.data or "").strip() or not is_currency(self.currency.data or ""):
            return
        try:
            amount = parse_major(field.data, self.currency.data)
        except MoneyError as exc:
            raise ValidationError(str(exc)) from exc
        if amount <= 0:
            raise ValidationError(_l("The budget must be more than zero."))

    def validate_product_rates(self, field: FieldList) -> None:
        skus = [e.form.sku.data.strip() for e in field.entries if (e.form.sku.data or "").strip()]
        if len(skus) != len(set(skus)):
            raise ValidationError(_l("Each SKU may have one rate."))

    def validate_category_rates(self, field: FieldList) -> None:
        cats = [
            e.form.category.data.strip()
            for e in field.entries
            if (e.form.category.data or "").strip()
        ]
        if len(cats) != len(set(cats)):
            raise ValidationError(_l("Each category may have one rate."))

    def validate_covered_skus(self, field: TextAreaField) -> None:
        skus = self.skus()
        if len(skus) > MAX_COVERED_SKUS:
            raise ValidationError(
                _l("List at most %(n)s SKUs; cover whole categories instead.", n=MAX_COVERED_SKUS)
            )
        if any(len(s) > 64 for s in skus):
            raise ValidationError(_l("A SKU has at most 64 characters."))

    def skus(self) -> list[str]:
        text = self.covered_skus.data or ""
        return list(dict.fromkeys(s for s in _SKU_SPLIT.split(text) if s))

    def to_input(self) -> CampaignInput:
        """The validated form as service input (call after `validate_on_submit`)."""
        budget = (self.budget.data or "").strip()
        return CampaignInput(
            name=self.name.data or "",
            brief=(self.brief.data or "").replace("\r\n", "\n"),
            starts_on=self.starts_on.data,
            ends_on=self.ends_on.data,
            countries=list(self.countries.data or []),
            min_tier_id=self.min_tier_id.data,
            visibility=Visibility(self.visibility.data),
            approval_required=bool(self.approval_required.data),
            default_rate_bps=parse_percent(self.default_rate.data),
            tier_bonus=bool(self.tier_bonus.data),
            budget_minor=parse_major(budget, self.currency.data) if budget else None,
            currency=self.currency.data,
            attribution_window_days=self.attribution_window_days.data,
            product_rates={
                e.form.sku.data.strip(): parse_percent(e.form.rate.data)
                for e in self.product_rates.entries
                if (e.form.sku.data or "").strip()
            },
            category_rates={
                e.form.category.data.strip(): parse_percent(e.form.rate.data)
                for e in self.category_rates.entries
                if (e.form.category.data or "").strip()
            },
            covered_skus=self.skus(),
            covered_categories=list(self.covered_categories.data or []),
        )

    def add_service_error(self, name: str | None, message: str) -> None:
        target: Any = self[name] if name and name in self else None
        if target is None:
            self.form_errors.append(message)
        else:
            target.errors = [*target.errors, message]


class StatusForm(FlaskForm):
    status = SelectField(validate_choice=False)


class JoinForm(FlaskForm):
    note = TextAreaField(
        _l("A note for the brand (optional)"),
        description=_l("Why you and your audience fit this campaign."),
        validators=[Optional(), Length(max=500)],
    )
    submit = SubmitField(_l("Apply"))


class CreatorSearchForm(FlaskForm):
    """The brand's creator search (GET; no CSRF: it changes nothing)."""

    class Meta:
        csrf = False

    q = StringField(_l("Name or handle"), validators=[Optional(), Length(max=80)])
    country = SelectField(_l("Country"), choices=country_choices, validate_choice=False)
    language = SelectField(
        _l("Language"),
        choices=lambda: {"": "—"} | language_choices(),
        validate_choice=False,
    )
    min_audience = IntegerField(
        _l("Audience at least"), validators=[Optional(), NumberRange(min=0, max=5_000_000_000)]
    )
    min_tier_id = SelectField(_l("Tier at least"), coerce=optional_int)


class DiscoverForm(FlaskForm):
    """The creator's campaign filters (GET; no CSRF)."""

    class Meta:
        csrf = False

    q = StringField(_l("Search"), validators=[Optional(), Length(max=80)])
    category = SelectField(_l("Category"), validate_choice=False)
    min_rate = StringField(_l("Commission at least (%)"), validators=[Optional(), Length(max=12)])
    closed = BooleanField(_l("Also show paused, ended and exhausted campaigns"))

    def validate_min_rate(self, field: StringField) -> None:
        if field.data and field.data.strip():
            _percent_or_error(field.data)

    def min_rate_bps(self) -> int | None:
        raw = (self.min_rate.data or "").strip()
        return parse_percent(raw) if raw and not self.min_rate.errors else None
