from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, Length


class ApiKeyForm(FlaskForm):
    name = StringField(_l("Key name"), validators=[DataRequired(), Length(max=80)])
    submit = SubmitField(_l("Create key"))
