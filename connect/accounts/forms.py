from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    PasswordField,
    StringField,
    SubmitField,
)
from wtforms.validators import (
    DataRequired,
    EqualTo,
    InputRequired,
    Length,
    ValidationError,
)

from connect.accounts.services import AccountError, normalize_email, password_problem


class StrongPassword:
    def __call__(self, form: FlaskForm, field: PasswordField) -> None:
        email = form.email.data if "email" in form else getattr(form, "owner_email", "")
        problem = password_problem(field.data or "", email or "")
        if problem:
            raise ValidationError(problem)


class ValidEmail:
    def __call__(self, form: FlaskForm, field: EmailField) -> None:
        try:
            normalize_email(field.data or "")
        except AccountError as exc:
            # The detail is email_validator's own (English) explanation.
            raise ValidationError(f"{_('Enter a valid e-mail address.')} {exc}") from exc


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])
    submit = SubmitField(_l("Log in"))


class ForgotPasswordForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254), ValidEmail()])
    submit = SubmitField(_l("Send me a reset link"))


class ResetPasswordForm(FlaskForm):
    def __init__(self, *args: object, owner_email: str = "", **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.owner_email = owner_email

    password = PasswordField(_l("New password"), validators=[DataRequired(), StrongPassword()])
    confirm = PasswordField(
        _l("Repeat password"),
        validators=[DataRequired(), EqualTo("password", message=_l("Passwords do not match."))],
    )
    submit = SubmitField(_l("Set new password"))


class ActionForm(FlaskForm):
    """An empty form: a CSRF-protected button for a POST action (log out, approve, ...)."""


class NoteActionForm(FlaskForm):
    note = StringField(_l("Note"), validators=[InputRequired(), Length(min=3, max=500)])
