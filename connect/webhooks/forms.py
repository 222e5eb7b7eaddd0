from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectMultipleField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from connect.webhooks.services import EVENT_TYPES, PING

EVENT_LABELS = {
    "conversion.attributed": _l("An order is attributed to a creator"),
    "commission.approved": _l("A commission is approved"),
    "commission.reversed": _l("A commission is reversed by a refund"),
    "content.submitted": _l("A creator submits content for review"),
    "task.submitted": _l("A creator submits a paid task"),
    "sample.requested": _l("A creator requests a product sample"),
    PING: _l("Test event"),
}

# Reasons a URL or a request is refused (codes from connect.webhooks), in the reader's language.
ERRORS = {
    "length": _l("Give an https:// address of at most 2048 characters."),
    "invalid": _l("This is not a valid URL."),
    "scheme": _l("The address must start with https://."),
    "credentials": _l("The address may not carry a user name or password."),
    "resolve": _l("The host name cannot be resolved."),
    "private": _l(
        "The host resolves to a private or reserved address; "
        "webhooks go to public internet addresses only."
    ),
    "no_events": _l("Choose at least one event."),
    "unknown_event": _l("Choose events from the list."),
    "too_many": _l("A brand can have at most 20 endpoints."),
    "disabled": _l("Enable the endpoint before sending to it."),
}


class EventsField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _events_field() -> EventsField:
    return EventsField(
        _l("Events"),
        choices=lambda: {e: str(EVENT_LABELS[e]) for e in EVENT_TYPES},
        # No DataRequired: it would mark every checkbox `required`. The service refuses an
        # empty choice with "Choose at least one event."
    )


class EndpointForm(FlaskForm):
    url = StringField(
        _l("Endpoint URL"),
        validators=[DataRequired(), Length(max=2048)],
        description=_l("An https:// address on the public internet; redirects are not followed."),
    )
    description = StringField(_l("Description"), validators=[Optional(), Length(max=200)])
    events = _events_field()
    submit = SubmitField(_l("Add endpoint"))


class EventsForm(FlaskForm):
    events = _events_field()
    submit = SubmitField(_l("Save events"))
