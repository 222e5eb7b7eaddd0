"""The dashboards' date range filter (GET: it changes nothing, so no CSRF token)."""

from __future__ import annotations

from datetime import date

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField
from wtforms.validators import Optional

from connect.dashboards.services import (
    MAX_RANGE_DAYS,
    DateRange,
    RangeError,
    default_range,
    make_range,
)


class RangeForm(FlaskForm):
    class Meta:
        csrf = False

    start = DateField(_l("From"), validators=[Optional()])
    end = DateField(_l("To"), validators=[Optional()])

    def period(self, today: date) -> DateRange | None:
        """The range asked for (the last 30 days when none is given), or None with the
        reason on the form's fields."""
        if not self.validate():
            for f in (self.start, self.end):
                if f.errors:
                    f.errors = [_("Enter a date as YYYY-MM-DD.")]
            return None
        fallback = default_range(today)
        start, end = self.start.data, self.end.data
        if start is None and end is None:
            start, end = fallback.start, fallback.end
        elif start is None:
            start = end - (fallback.end - fallback.start)
        elif end is None:
            end = min(today, start + (fallback.end - fallback.start))
        try:
            period = make_range(start, end, today)
        except RangeError as exc:
            message = {
                "end_before_start": _("The end date is before the start date."),
                "in_future": _("The range starts in the future."),
                "too_long": _("Choose at most %(days)s days.", days=MAX_RANGE_DAYS),
            }[str(exc)]
            self.end.errors = [*self.end.errors, message]
            return None
        # The inputs show the range in effect, the default one included.
        self.start.data, self.end.data = period.start, period.end
        return period
