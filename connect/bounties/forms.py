"""Task forms: the brand's task editor and decisions, the creator's application and submission.

Forms check what a person typed; `connect.bounties.services` decides what the platform accepts
(the brand's own campaigns and content, slots, deadlines) and raises with a field.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, ValidationError

from connect.bounties.models import TaskKind
from connect.bounties.services import TaskInput
from connect.campaigns.forms import optional_int
from connect.campaigns.markdown import MAX_BRIEF
from connect.core.geo import country_choices, currency_choices, is_country
from connect.core.money import MoneyError, is_currency, parse_major


def _countries() -> dict[str, str]:
    return {code: name for code, name in country_choices().items() if code}


def kind_labels() -> dict[str, str]:
    return {
        TaskKind.VIDEO.value: str(_l("Video")),
        TaskKind.POST.value: str(_l("Post")),
        TaskKind.REVIEW.value: str(_l("Review")),
        TaskKind.LIVE.value: str(_l("Live")),
        TaskKind.TRANSLATION.value: str(_l("Translation of an existing piece")),
    }


class TaskForm(FlaskForm):
    campaign_id = SelectField(_l("Campaign"), coerce=optional_int)
    kind = SelectField(_l("Deliverable"), choices=kind_labels)
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=120)])
    brief = TextAreaField(
        _l("Brief"),
        description=_l("What to make, and what to avoid. Markdown; HTML is shown as text."),
        validators=[Length(max=MAX_BRIEF)],
        render_kw={"rows": 8},
    )
    currency = SelectField(_l("Fee currency"), choices=currency_choices, validate_choice=False)
    fee = StringField(_l("Fee per approved piece"), validators=[DataRequired(), Length(max=24)])
    slots = IntegerField(
        _l("Slots"),
        description=_l("How many creators you will pay."),
        default=1,
        validators=[InputRequired(), NumberRange(min=1, max=10_000)],
    )
    deadline = DateField(
        _l("Deadline"),
        description=_l("Last day to apply and to submit a first version."),
        validators=[DataRequired()],
    )
    countries = SelectMultipleField(
        _l("Creator countries"),
        description=_l("None selected: creators in every country."),
        choices=_countries,
        validate_choice=False,
        render_kw={"size": 8},
    )
    min_tier_id = SelectField(_l("Minimum tier"), coerce=optional_int)
    source_content_id = SelectField(
        _l("Piece to translate"),
        description=_l("Translation tasks only."),
        coerce=optional_int,
    )
    submit = SubmitField(_l("Save task"))

    def validate_campaign_id(self, field: SelectField) -> None:
        if field.data is None:
            raise ValidationError(_l("Choose one of your campaigns."))

    def validate_countries(self, field: SelectMultipleField) -> None:
        if len(field.data or []) > 250 or not all(is_country(c) for c in field.data or []):
            raise ValidationError(_l("Choose countries from the list."))

    def validate_currency(self, field: SelectField) -> None:
        if not is_currency(field.data or ""):
            raise ValidationError(_l("Choose a currency from the list."))

    def validate_fee(self, field: StringField) -> None:
        if not is_currency(self.currency.data or ""):
            return
        try:
            amount = parse_major(field.data or "", self.currency.data)
        except MoneyError as exc:
            raise ValidationError(_l("Enter an amount such as 150 or 99.50.")) from exc
        if amount <= 0:
            raise ValidationError(_l("The fee must be more than zero."))
        if amount >= 10**12:
            raise ValidationError(_l("This fee is too large."))

    def to_input(self) -> TaskInput:
        """The validated form as service input (call after `validate_on_submit`)."""
        return TaskInput(
            campaign_id=self.campaign_id.data,
            kind=TaskKind(self.kind.data),
            title=self.title.data or "",
            brief=(self.brief.data or "").replace("\r\n", "\n"),
            fee_minor=parse_major(self.fee.data, self.currency.data),
            currency=self.currency.data,
            slots=self.slots.data,
            deadline=self.deadline.data,
            countries=list(self.countries.data or []),
            min_tier_id=self.min_tier_id.data,
            source_content_id=self.source_content_id.data,
        )

    def add_service_error(self, name: str | None, message: str) -> None:
        target: Any = self[name] if name and name in self else None
        if target is None:
            self.form_errors.append(message)
        else:
            target.errors = [*target.errors, message]


class TaskStatusForm(FlaskForm):
    status = HiddenField(validators=[DataRequired()])


class AssignForm(FlaskForm):
    handle = StringField(
        _l("Creator handle"),
        description=_l("An approved member of the campaign."),
        validators=[DataRequired(), Length(max=40)],
    )
    submit = SubmitField(_l("Assign"))


class DecisionForm(FlaskForm):
    decision = HiddenField(validators=[DataRequired()])


class ReviewForm(FlaskForm):
    decision = HiddenField(validators=[DataRequired()])
    reason = TextAreaField(
        _l("Reason (required to reject)"),
        validators=[Length(max=500)],
        render_kw={"rows": 2},
    )


class ApplyForm(FlaskForm):
    note = TextAreaField(
        _l("A note for the brand (optional)"),
        validators=[Length(max=500)],
        render_kw={"rows": 3},
    )
    submit = SubmitField(_l("Apply"))


class SubmitForm(FlaskForm):
    content_id = SelectField(_l("Your content piece"), coerce=optional_int)
    submit = SubmitField(_l("Submit for review"))

    def validate_content_id(self, field: SelectField) -> None:
        if field.data is None:
            raise ValidationError(_l("Choose one of your pieces that fits this task."))
