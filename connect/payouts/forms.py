from __future__ import annotations

import csv
import io

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired, FileSize
from wtforms import DateField, SubmitField
from wtforms.validators import DataRequired, ValidationError


class BatchForm(FlaskForm):
    period_start = DateField(_l("Period start"), validators=[DataRequired()])
    period_end = DateField(_l("Period end"), validators=[DataRequired()])
    submit = SubmitField(_l("Build batch"))

    def validate_period_end(self, field: DateField) -> None:
        if self.period_start.data and field.data and field.data < self.period_start.data:
            raise ValidationError(_l("The period ends before it starts."))


class ReturnsForm(FlaskForm):
    file = FileField(
        _l("Bank return file (CSV: payout_id, reason)"),
        validators=[FileRequired(), FileSize(max_size=256 * 1024)],
    )
    submit = SubmitField(_l("Record returns"))


def parse_returns(data: bytes) -> dict[int, str]:
    """payout id -> reason from a bank return CSV; ValueError with a clear message (a lazy
    string, translated when shown) otherwise. The reasons are stored: they stay as written."""
    if len(data) > 256 * 1024:
        raise ValueError(_l("The return file is larger than 256 KB."))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(_l("The return file is not UTF-8 text.")) from exc
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "payout_id" not in reader.fieldnames:
        raise ValueError(_l("The return file needs a payout_id column (and optionally reason)."))
    returns = {}
    for n, row in enumerate(reader, start=2):
        raw = (row.get("payout_id") or "").strip()
        if not raw.isdigit():
            raise ValueError(
                _l("Row %(row)s: payout_id %(value)s is not a number.", row=n, value=repr(raw))
            )
        returns[int(raw)] = (row.get("reason") or "returned by the bank").strip()[:200]
    if not returns:
        raise ValueError(_l("The return file lists no payouts."))
    return returns
