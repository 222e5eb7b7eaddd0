"""Sample forms: the creator's request (with the shipping address), the brand's decision and
shipment. Forms check what a person typed; `connect.samples.services` is the authority on what
the platform accepts and raises with a field."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import RadioField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from connect.core.geo import country_choices, is_country
from connect.samples.services import AddressInput


def _int_or_none(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


class _ServiceErrors:
    def add_service_error(self, name: str | None, message: str) -> None:
        target: Any = self[name] if name and name in self else None  # type: ignore[index,operator]
        if target is None:
            self.form_errors.append(message)  # type: ignore[attr-defined]
        else:
            target.errors = [*target.errors, message]


class SampleRequestForm(_ServiceErrors, FlaskForm):
    product_id = SelectField(_l("Product"), coerce=_int_or_none, validate_choice=False)
    shipping_country = SelectField(_l("Country"), choices=country_choices, validate_choice=False)
    recipient_name = StringField(
        _l("Recipient's name"), validators=[DataRequired(), Length(max=120)]
    )
    address_line1 = StringField(_l("Street address"), validators=[DataRequired(), Length(max=200)])
    address_line2 = StringField(
        _l("Apartment, suite, building (optional)"), validators=[Optional(), Length(max=200)]
    )
    city = StringField(_l("City"), validators=[DataRequired(), Length(max=100)])
    region = StringField(
        _l("State, province or region (optional)"), validators=[Optional(), Length(max=100)]
    )
    postal_code = StringField(_l("Postal code"), validators=[DataRequired(), Length(max=20)])
    phone = StringField(
        _l("Phone for the carrier (optional)"), validators=[Optional(), Length(max=40)]
    )
    submit = SubmitField(_l("Request the sample"))

    def validate_product_id(self, field: SelectField) -> None:
        if field.data is None:
            raise ValidationError(_l("Choose a product."))

    def validate_shipping_country(self, field: SelectField) -> None:
        if not is_country(field.data or ""):
            raise ValidationError(_l("Choose a country from the list."))

    def to_input(self) -> AddressInput:
        return AddressInput(
            shipping_country=self.shipping_country.data or "",
            recipient_name=self.recipient_name.data or "",
            address_line1=self.address_line1.data or "",
            address_line2=self.address_line2.data or "",
            city=self.city.data or "",
            region=self.region.data or "",
            postal_code=self.postal_code.data or "",
            phone=self.phone.data or "",
        )


class ActionForm(FlaskForm):
    """A button that changes something: CSRF and nothing else."""


class DecisionForm(_ServiceErrors, FlaskForm):
    decision = RadioField(
        _l("Decision"),
        choices=lambda: {"approve": _("Approve"), "decline": _("Decline")},
        validators=[DataRequired()],
    )
    reason = TextAreaField(
        _l("Reason (shown to the creator when you decline)"),
        validators=[Optional(), Length(max=500)],
        render_kw={"rows": 2},
    )
    submit = SubmitField(_l("Save decision"))


class ShipmentForm(_ServiceErrors, FlaskForm):
    carrier = StringField(_l("Carrier"), validators=[DataRequired(), Length(max=80)])
    tracking_number = StringField(
        _l("Tracking number"), validators=[DataRequired(), Length(max=100)]
    )
    submit = SubmitField(_l("Record shipment"))
