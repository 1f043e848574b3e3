"""The review app's forms, declared with Flask-WTF: what each POST may carry, how it is
cleaned, and the checks that belong to one field, each error kept on its field so the page
can tie it to that field (aria-invalid, aria-describedby).

CSRF is the app's, not the forms' (see hotline.auth.forms.Form).
Rules that need the signed-in user or the database (reach, own account, colleagues) stay in
the views and services; their messages are put on the field they concern.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from wtforms import Field, StringField  # type: ignore[import-untyped]
from wtforms.validators import DataRequired, Length, ValidationError  # type: ignore[import-untyped]

from hotline.auth import accounts
from hotline.auth.accounts import AccountError
from hotline.auth.forms import Form
from hotline.extensions import runtime
from hotline.followup import messages

MAX_NOTE_CHARS = 10_000
NO_AGENCY = "Tick at least one agency."


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def sentence(exc: AccountError) -> str:
    """Make a sentence of the shared code's message, which is written for a terminal line."""
    text = str(exc)
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _account_check(check: Callable[[Any], Any]) -> Callable[[Any, Any], None]:
    """A field validator from one of hotline.auth.accounts' checks: its message on the field."""

    def validate(form: Any, field: Any) -> None:
        try:
            # A field not sent is None: checked as the empty text the views used to read.
            check(field.data if field.data is not None else "")
        except AccountError as exc:
            raise ValidationError(sentence(exc)) from exc

    return validate


class ListField(Field):  # type: ignore[misc]
    """Every value sent under the name (ticked checkboxes), as a list of strings; the choices
    are checked by a validator, so an unknown one gets the account rules' own message."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("default", list)
        super().__init__(*args, **kwargs)

    def process_formdata(self, valuelist: Sequence[str]) -> None:
        self.data = list(valuelist)


# ---- Administrators' account forms ----------------------------------------------------


def _agencies_known(form: Any, field: Any) -> None:
    try:
        accounts.check_agencies(runtime.get().settings, field.data)
    except AccountError as exc:
        raise ValidationError(sentence(exc)) from exc


class AccountEditForm(Form):
    """Role and agencies of an account (the user page); also pre-fills the form on GET."""

    role = StringField("Role", validators=[_account_check(accounts.check_role)])
    agencies = ListField("Agencies", validators=[_agencies_known])

    def has_agencies(self) -> bool:
        """At least one agency ticked; if not, the message is put on the agencies."""
        if self.values("agencies"):
            return True
        self.refuse("agencies", NO_AGENCY)
        return False


class AccountCreateForm(AccountEditForm):
    """A new account: its email as well."""

    email = StringField("Email", filters=[_strip], validators=[_account_check(accounts.check_email)])


# ---- Report actions and call notes: errors are flashed after the redirect ----------------


class NoteForm(Form):
    note = StringField(
        "Note",
        filters=[_strip],
        validators=[
            DataRequired("Write something in the note first."),
            Length(max=MAX_NOTE_CHARS, message=f"A note can be at most {MAX_NOTE_CHARS} characters."),
        ],
    )


class CallNoteForm(Form):
    note = StringField(
        "Note",
        filters=[_strip],
        validators=[
            DataRequired(f"Write a note of 1 to {MAX_NOTE_CHARS} characters."),
            Length(max=MAX_NOTE_CHARS, message=f"Write a note of 1 to {MAX_NOTE_CHARS} characters."),
        ],
    )


class AssignForm(Form):
    # An address, compared as stored (lower case); empty means nobody.
    assignee = StringField("Assign to", filters=[_strip, _lower])


class StatusForm(Form):
    # Which statuses and dispositions are allowed is the status service's rule.
    status = StringField("Status")
    disposition = StringField("Disposition")


class LinkForm(Form):
    reference = StringField("Link a related report")


class HoldForm(Form):
    hold = StringField("Hold")

    def place(self) -> bool:
        return self.text("hold") == "place"


# ---- Messages to the anonymous tipster: errors shown on the report page, on their field ----

# The languages a message can be written in, as the select offers them (hotline.followup.messages).
MESSAGE_LANGUAGES = {"en": "English", "es": "Spanish"}
MAX_MESSAGE_CHARS = messages.MAX_LENGTH
MESSAGE_LENGTH = f"Write a message of 1 to {MAX_MESSAGE_CHARS} characters."


def _one_newline(value: Any) -> Any:
    """Browsers send a new line as CR LF but count it as one character against maxlength."""
    return value.replace("\r\n", "\n").replace("\r", "\n") if isinstance(value, str) else value


def _known_language(form: Any, field: Any) -> None:
    if field.data not in MESSAGE_LANGUAGES:
        raise ValidationError("Choose English or Spanish.")


class TipsterMessageForm(Form):
    body = StringField(
        "Message to the tipster",
        filters=[_one_newline, _strip],
        validators=[DataRequired(MESSAGE_LENGTH), Length(max=MAX_MESSAGE_CHARS, message=MESSAGE_LENGTH)],
    )
    language = StringField("Language", filters=[_strip], validators=[_known_language])
