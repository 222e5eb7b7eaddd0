from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length


def optional_int(value: object) -> int | None:
    return int(value) if value not in (None, "", "None") else None


class LinkForm(FlaskForm):
    product_id = SelectField(_l("Product"), coerce=optional_int, validators=[DataRequired()])
    campaign_id = SelectField(_l("Campaign (optional)"), coerce=optional_int)
    content_id = SelectField(_l("Content piece (optional)"), coerce=optional_int)
    submit = SubmitField(_l("Create link"))


class ApiTokenForm(FlaskForm):
    name = StringField(_l("Token name"), validators=[DataRequired(), Length(max=80)])
    submit = SubmitField(_l("Create token"))
