"""Brand workspace and catalogue forms. Field rules are the services' own (`clean_*`), so the
product form and the CSV import can never disagree about what is valid."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import (
    EmailField,
    IntegerField,
    SelectField,
    StringField,
    SubmitField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Regexp,
    ValidationError,
)

from connect.brands.catalog_import import MAX_BYTES
from connect.brands.models import BrandRole
from connect.brands.services import (
    CLICK_PARAM_RE,
    ProductInput,
    clean_category,
    clean_countries,
    clean_currency,
    clean_image_url,
    clean_price,
    clean_sku,
    clean_title,
    clean_url,
    clean_website,
    parse_percent,
)
from connect.core.geo import currency_choices
from connect.core.money import is_currency


def _rule(clean: Callable[..., Any], *args: Any) -> Callable[[FlaskForm, Any], None]:
    """A WTForms validator from a `clean_*` function: its ValueError becomes the field error."""

    def validator(form: FlaskForm, field: Any) -> None:
        try:
            clean(field.data or "", *args)
        except ValueError as exc:
            raise ValidationError(_capitalized(str(exc))) from None

    return validator


def _capitalized(message: str) -> str:
    """A `clean_*` message as a sentence; one starting with a name (a domain, a code) keeps it."""
    if message == _("is required"):
        return _("This field is required.")
    first = message.split(" ", 1)[0]
    if "." not in first and not first.isupper():
        message = message[:1].upper() + message[1:]
    return message if message.endswith(".") else message + "."


def role_choices() -> dict[str, str]:
    return {
        BrandRole.VIEWER.value: _("Viewer: sees everything, changes nothing"),
        BrandRole.MANAGER.value: _("Manager: runs the catalogue, campaigns and settings"),
        BrandRole.OWNER.value: _("Owner: also manages owners"),
    }


# -- workspace --------------------------------------------------------------------------------


class ProfileForm(FlaskForm):
    name = StringField(_l("Brand name"), validators=[DataRequired(), Length(max=120)])
    website = StringField(
        _l("Website"),
        description=_l("The shop's home page, e.g. https://shop.example.com"),
        render_kw={"inputmode": "url"},
        validators=[Length(max=255), _rule(clean_website)],
    )
    currency = SelectField(
        _l("Reporting currency"),
        description=_l("Budgets and reports are shown in this currency."),
        choices=currency_choices,
        validate_choice=False,
    )
    submit = SubmitField(_l("Save profile"))

    def validate_currency(self, field: SelectField) -> None:
        if not is_currency(field.data or ""):
            raise ValidationError(_l("Choose a currency from the list."))


class TrackingForm(FlaskForm):
    click_param = StringField(
        _l("Click-id parameter"),
        description=_l(
            "Added to your product URLs with the click id, e.g. ?cx_click=…; "
            "start with a letter, then letters, digits or _."
        ),
        validators=[
            DataRequired(),
            Regexp(
                CLICK_PARAM_RE.pattern,
                message=_l(
                    "Start with a letter; then letters, digits or _ (40 characters at most)."
                ),
            ),
        ],
    )
    return_window_days = IntegerField(
        _l("Return window (days)"),
        description=_l(
            "Commissions become payable this many days after the order, once returns are over."
        ),
        validators=[
            InputRequired(_l("Enter a number of days from 0 to 365.")),
            NumberRange(min=0, max=365, message=_l("Enter a number of days from 0 to 365.")),
        ],
    )
    default_rate = StringField(
        _l("Default commission (%)"),
        description=_l(
            "Paid on sales no campaign rate covers, e.g. 5 or 7.25 (two decimals at most)."
        ),
        render_kw={"inputmode": "decimal"},
        validators=[DataRequired(), _rule(parse_percent)],
    )
    submit = SubmitField(_l("Save tracking settings"))


class DomainForm(FlaskForm):
    domain = StringField(
        _l("Domain"),
        description=_l("Your shop's host name, e.g. shop.example.com. Subdomains are included."),
        validators=[DataRequired(), Length(max=253)],
    )
    submit = SubmitField(_l("Add domain"))


class InviteForm(FlaskForm):
    email = EmailField(
        _l("E-mail of their Connect brand account"),
        validators=[DataRequired(), Length(max=254)],
    )
    role = SelectField(_l("Role"), choices=role_choices, default=BrandRole.VIEWER.value)
    submit = SubmitField(_l("Add to the team"))


class RoleForm(FlaskForm):
    role = SelectField(_l("Role"), choices=role_choices)


# -- catalogue --------------------------------------------------------------------------------


class ProductForm(FlaskForm):
    """Edit a product. `verified_domains` must be set before validating."""

    verified_domains: list[str] = []

    title = StringField(_l("Title"), validators=[Length(max=255), _rule(clean_title)])
    url = StringField(
        _l("Product page"),
        description=_l("An address on one of your verified domains."),
        render_kw={"inputmode": "url"},
        validators=[Length(max=2048)],
    )
    price = StringField(
        _l("Price"),
        description=_l("In the currency's units, e.g. 49.99"),
        render_kw={"inputmode": "decimal"},
    )
    currency = SelectField(_l("Currency"), choices=currency_choices, validate_choice=False)
    category = StringField(
        _l("Category"),
        description=_l("Used for per-category campaign rates, e.g. audio"),
        validators=[_rule(clean_category)],
    )
    image_url = StringField(
        _l("Image"),
        description=_l("An https:// address of the product photo (optional)."),
        render_kw={"inputmode": "url"},
        validators=[Length(max=2048), _rule(clean_image_url)],
    )
    countries = StringField(
        _l("Countries where it sells"),
        description=_l(
            "ISO 3166 codes separated by spaces, e.g. FR ES PL; empty means everywhere."
        ),
        validators=[Length(max=1000), _rule(clean_countries)],
    )
    submit = SubmitField(_l("Save product"))

    def validate_url(self, field: StringField) -> None:
        _rule(clean_url, self.verified_domains)(self, field)

    def validate_currency(self, field: SelectField) -> None:
        _rule(clean_currency)(self, field)

    def validate_price(self, field: StringField) -> None:
        try:
            currency = clean_currency(self.currency.data or "")
        except ValueError:
            currency = ""
        if currency or not (field.data or "").strip():
            _rule(clean_price, currency or "USD")(self, field)

    def product_input(self, sku: str) -> ProductInput:
        """The cleaned values of a validated form."""
        currency = clean_currency(self.currency.data)
        return ProductInput(
            sku=sku,
            title=clean_title(self.title.data),
            url=self.url.data.strip(),
            price_minor=clean_price(self.price.data, currency),
            currency=currency,
            category=clean_category(self.category.data),
            image_url=clean_image_url(self.image_url.data),
            countries=tuple(clean_countries(self.countries.data or "")),
        )


class NewProductForm(ProductForm):
    sku = StringField(
        _l("SKU"),
        description=_l(
            "Your stock-keeping unit, as your orders report it. It cannot change later."
        ),
        validators=[Length(max=64), _rule(clean_sku)],
    )
    submit = SubmitField(_l("Add product"))


class ProductImportForm(FlaskForm):
    file = FileField(
        _l("CSV file"),
        render_kw={"accept": ".csv,text/csv"},
        validators=[
            FileRequired(_l("Choose a file.")),
            FileAllowed(["csv"], _l("Upload a .csv file.")),
        ],
    )
    submit = SubmitField(_l("Upload and import"))

    #: Set by a successful validation: the file's bytes (the import checks what they hold).
    payload: bytes = b""

    def validate_file(self, field: FileField) -> None:
        limit = max_upload_bytes()
        data = field.data.stream.read(limit + 1)
        if len(data) > limit:
            raise ValidationError(
                _(
                    "The file is larger than %(mb)s MB; split it into smaller files.",
                    mb=limit // (1024 * 1024),
                )
            )
        self.payload = data


def max_upload_bytes() -> int:
    return int(current_app.config.get("PRODUCT_IMPORT_MAX_BYTES") or MAX_BYTES)
