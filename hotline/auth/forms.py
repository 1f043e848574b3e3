"""Sign-in forms, declared with Flask-WTF, and the base of every form of the app.

The sign-in forms only read and clean what was sent: every wrong answer gets one message
(the views' BAD_CREDENTIALS, BAD_CODE), on purpose not tied to which field was wrong, so the
pages tie it to all their fields.
"""

from __future__ import annotations

from typing import Any

from flask import request
from flask_wtf import FlaskForm  # type: ignore[import-untyped]
from flask_wtf.form import SUBMIT_METHODS  # type: ignore[import-untyped]
from wtforms import PasswordField, StringField  # type: ignore[import-untyped]


class Form(FlaskForm):  # type: ignore[misc]
    """A form of the app. CSRF is not checked here: `CSRFProtect` (hotline.auth) checks every
    POST before any view runs and answers a bad token with its own page; a second check in
    the form would change that answer."""

    class Meta:
        csrf = False

        def wrap_formdata(self, form: Any, formdata: Any) -> Any:
            """Read the request's form fields only, as the views did with request.form.

            Flask-WTF would also read uploaded files and JSON bodies, whose values are not
            text (a file, a number, a list): the fields' checks would fail on them with a 500.
            """
            if formdata is not None and not hasattr(formdata, "getlist"):  # Flask-WTF's "from the request"
                return request.form if request.method in SUBMIT_METHODS and request.form else None
            return formdata

    def text(self, name: str) -> str:
        """A text field's cleaned value ("" when not sent)."""
        value = self[name].data
        return value if isinstance(value, str) else ""

    def values(self, name: str) -> list[str]:
        """A list field's values."""
        return [str(v) for v in self[name].data or []]

    def first_error(self) -> str | None:
        """The first field's first error, for a flashed message or the page's summary."""
        for field in self:
            if field.errors:
                return str(field.errors[0])
        return None

    def refuse(self, name: str, message: str) -> str:
        """Put a rule's message (checked outside the form) on its field; return it."""
        self[name].errors = [*self[name].errors, message]
        return message


class LoginForm(Form):
    email = StringField("Email")
    password = PasswordField("Password")


class CodeForm(Form):
    code = StringField("6-digit code")
