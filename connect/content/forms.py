from __future__ import annotations

from urllib.parse import urlsplit

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    HiddenField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from connect.content.models import ContentKind
from connect.core.geo import country_choices, is_country, is_language, language_choices

MEDIA_ACCEPT = "image/jpeg,image/png,image/webp,video/mp4,video/webm"


def optional_int(value: object) -> int | None:
    return int(value) if value not in (None, "", "None") else None  # type: ignore[call-overload]


def _countries() -> dict[str, str]:
    return {code: name for code, name in country_choices().items() if code}


KINDS = [
    SelectChoice(ContentKind.VIDEO.value, _l("Video")),
    SelectChoice(ContentKind.POST.value, _l("Post")),
    SelectChoice(ContentKind.REVIEW.value, _l("Review")),
    SelectChoice(ContentKind.LIVE.value, _l("Live stream")),
]


class ContentForm(FlaskForm):
    kind = SelectField(_l("Kind"), choices=KINDS, validators=[DataRequired()])
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)])
    body = TextAreaField(
        _l("Text"),
        description=_l("What you say about the products. Shown on your public page."),
        validators=[Optional(), Length(max=10_000)],
        render_kw={"rows": 8},
    )
    language = SelectField(
        _l("Language"), choices=language_choices, validate_choice=False, validators=[DataRequired()]
    )
    countries = SelectMultipleField(
        _l("Target countries"),
        description=_l("Buyers in these countries see it first. None: everywhere."),
        choices=_countries,
        validate_choice=False,
        render_kw={"size": 6},
    )
    external_url = StringField(
        _l("Link to the post"),
        description=_l("Where the piece is published (Instagram, TikTok, YouTube, VK...)."),
        validators=[Optional(), Length(max=2048)],
        render_kw={"inputmode": "url", "placeholder": "https://"},
    )
    campaign_id = SelectField(_l("Campaign (optional)"), coerce=optional_int, validate_choice=False)
    product_ids = SelectMultipleField(
        _l("Featured products"),
        description=_l("Each gets its own tracked link when the piece is published."),
        coerce=int,
        validate_choice=False,
        render_kw={"size": 8},
    )
    #: The type is checked by content (connect.content.media); `accept` only helps the picker.
    media = FileField(_l("Photo or video"), render_kw={"accept": MEDIA_ACCEPT})
    remove_media = BooleanField(_l("Remove the current photo or video"))
    submit = SubmitField(_l("Save"))

    def validate_language(self, field: SelectField) -> None:
        if not is_language(field.data or ""):
            raise ValidationError(_l("Choose a language."))

    def validate_countries(self, field: SelectMultipleField) -> None:
        if any(not is_country(c) for c in field.data or []):
            raise ValidationError(_l("Choose countries from the list."))

    def validate_external_url(self, field: StringField) -> None:
        value = (field.data or "").strip()
        if not value:
            return
        try:
            parts = urlsplit(value)
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValidationError(_l("Give the full address, starting with https://"))


class PublishForm(FlaskForm):
    submit = SubmitField(_l("Publish"))


class BrandDecisionForm(FlaskForm):
    decision = HiddenField(validators=[DataRequired()])
    reason = StringField(_l("Reason (sent to the creator)"), validators=[Length(max=500)])

    def validate_decision(self, field: HiddenField) -> None:
        if field.data not in ("approve", "reject"):
            raise ValidationError(_l("Choose approve or reject."))


class FlagDecisionForm(FlaskForm):
    decision = HiddenField(validators=[DataRequired()])
    note = StringField(_l("Note"), validators=[Length(max=500)])

    def validate_decision(self, field: HiddenField) -> None:
        if field.data not in ("clear", "uphold"):
            raise ValidationError(_l("Choose clear or uphold."))
