from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField
from wtforms.validators import AnyOf, DataRequired, Length

from connect.creators.models import CreatorStatus


class CreatorStatusForm(FlaskForm):
    status = HiddenField(
        validators=[DataRequired(), AnyOf([s.value for s in CreatorStatus if s != "pending"])]
    )
    note = StringField(_l("Note (kept in the audit log)"), validators=[Length(max=300)])


class HoldDecisionForm(FlaskForm):
    decision = HiddenField(validators=[DataRequired(), AnyOf(["release", "reject"])])
    note = StringField(_l("Note (kept in the audit log)"), validators=[Length(max=200)])
