"""Tier forms: the admin's ladder editor and settings, and the creator's leaderboard choice.

Forms check what a person typed; `connect.tiers.services` is the authority on the ladder (unique
names and ranks, thresholds rising with rank) and raises with the field at fault.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

from connect.core.geo import currency_choices
from connect.tiers.services import MAX_BONUS_BPS, MAX_GRACE_DAYS, MAX_RANK


class TierForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=40)])
    rank = IntegerField(
        _l("Rank"),
        description=_l("Position on the ladder: higher is better."),
        validators=[InputRequired(), NumberRange(min=1, max=MAX_RANK)],
    )
    min_sales = StringField(
        _l("Trailing 90-day attributed sales"),
        description=_l("In the reference currency, e.g. 5000 or 5000.50."),
        validators=[DataRequired(), Length(max=20)],
    )
    min_earnings = StringField(
        _l("Trailing 90-day approved earnings"),
        description=_l("In the reference currency. Either figure qualifies."),
        validators=[DataRequired(), Length(max=20)],
    )
    min_audience = IntegerField(
        _l("Minimum audience"),
        validators=[InputRequired(), NumberRange(min=0, max=10**12)],
    )
    bonus_bps = IntegerField(
        _l("Bonus (basis points)"),
        description=_l("Added to the commission rate: 100 basis points = 1 %."),
        validators=[InputRequired(), NumberRange(min=0, max=MAX_BONUS_BPS)],
    )
    sample_limit = IntegerField(
        _l("Open product samples"),
        validators=[InputRequired(), NumberRange(min=0, max=1000)],
    )


class SettingsForm(FlaskForm):
    reference_currency = SelectField(
        _l("Reference currency"), choices=currency_choices, validate_choice=False
    )
    demotion_grace_days = IntegerField(
        _l("Demotion grace (days)"),
        description=_l("How long a creator below their tier keeps it before moving down."),
        validators=[InputRequired(), NumberRange(min=0, max=MAX_GRACE_DAYS)],
    )


class ActionForm(FlaskForm):
    """A button that changes something: the CSRF token is all it carries."""


class LeaderboardOptInForm(FlaskForm):
    show = BooleanField(_l("Show me on the public leaderboard"))
