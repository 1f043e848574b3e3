"""Encrypted columns: SQLAlchemy types that seal values on the way in and open them on the way out.

Code that reads `report.keypad` or `note.body` sees plain values; the database sees only
envelopes (hotline.crypto.fields). The associated data names the table and column, so a
value copied into another column does not decrypt. (A TypeDecorator never sees the row, so
it cannot bind a cell to its row; TOTP secrets, which must not move between accounts, are
sealed by hotline.auth.totp with the account's address as associated data instead.)

The cipher is the current app's (`install`), or, outside an app context (start-up helpers,
migrations), the one installed last.
"""

from __future__ import annotations

import json
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import JSON, String, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from hotline.crypto.envelope import MalformedEnvelope
from hotline.crypto.fields import FieldCipher

_EXTENSION = "hotline.field_cipher"
_last: list[FieldCipher] = []


def install(extensions: dict[str, Any], cipher: FieldCipher) -> None:
    """Make cipher the one this app (its `extensions`) seals and opens columns with."""
    extensions[_EXTENSION] = cipher
    _last[:] = [cipher]


def current() -> FieldCipher:
    """The cipher of the current app, or of the app created last."""
    if has_app_context():
        cipher = current_app.extensions.get(_EXTENSION)
        if isinstance(cipher, FieldCipher):
            return cipher
    if not _last:
        raise RuntimeError("no key ring installed: create the app (hotline.create_app) first")
    return _last[0]


def aad(table: str, column: str) -> bytes:
    """The associated data of a sealed column."""
    return f"hotline/column/v1:{table}.{column}".encode()


class _Sealed:
    """What every sealed column type knows: where it lives and its associated data."""

    table: str
    column: str
    _aad: bytes

    def _place(self, table: str, column: str) -> None:
        self.table, self.column = table, column
        self._aad = aad(table, column)

    @staticmethod
    def kept(value: str) -> bool:
        """Whether a stored value is left unsealed on purpose (`flask keys rotate` skips it)."""
        return False


class SealedText(_Sealed, TypeDecorator[str]):
    """A text column stored sealed."""

    impl = Text
    cache_ok = True

    def __init__(self, table: str, column: str) -> None:
        super().__init__()
        self._place(table, column)

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else current().seal(value.encode("utf-8"), self._aad)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else current().open(value, self._aad).decode("utf-8")


class SealedPending(_Sealed, TypeDecorator[str]):
    """A call's pending digit entry (VARCHAR(200)): typed digits sealed, the rest kept as is.

    It is empty most of the time, and holds either digits to read back (sealed: an inmate
    number, say) or the argon2 hash of a PIN awaiting re-entry, which is one-way already
    and would not fit the column once sealed.
    """

    impl = String
    cache_ok = True

    def __init__(self, table: str, column: str) -> None:
        super().__init__(200)
        self._place(table, column)

    @staticmethod
    def kept(value: str) -> bool:
        """Whether a stored value is left unsealed on purpose (nothing, or a PIN's hash)."""
        return not value or value.startswith("$argon2")

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None or self.kept(value):
            return value
        return current().seal(value.encode("utf-8"), self._aad)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None or self.kept(value):
            return value
        return current().open(value, self._aad).decode("utf-8")


class SealedJSON(_Sealed, TypeDecorator[Any]):
    """A JSON column (a dict of keypad answers) whose whole value is stored as one sealed string.

    The column stays JSON (a JSON string holding the envelope), so no table is rebuilt.
    """

    # None is SQL NULL, not the JSON text "null": a column left empty holds no sealed cell.
    impl = JSON(none_as_null=True)
    cache_ok = True

    def __init__(self, table: str, column: str) -> None:
        super().__init__()
        self._place(table, column)

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        text = json.dumps(value, sort_keys=True, separators=(",", ":"))
        return current().seal(text.encode("utf-8"), self._aad)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            raise MalformedEnvelope(f"{self.table}.{self.column} is not sealed (run `flask db upgrade`)")
        return json.loads(current().open(value, self._aad))
