"""secrets at rest: seal keypad answers, notes and call state; TOTP secrets under the key ring;
the audit chain becomes an HMAC chain

Revision ID: 0008
Revises: 0007

Rows already there are converted in place, which needs the keys: the app's settings when run
by `flask db upgrade` (passed in the Alembic config's attributes), else the environment
(load_settings). A database without rows needs none.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from alembic import context, op
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Sealed by a column type since this revision (hotline.crypto.columns): table, column, and
# whether the stored value is JSON (keypad answers: the column stays JSON and holds the
# envelope as a JSON string, so no table has to be rebuilt).
SEALED = (
    ("reports", "keypad", True),
    ("calls", "pending", False),
    ("calls", "last_response", False),
    ("notes", "body", False),
)
GENESIS = "0" * 64


def _is_sealed(value: str) -> bool:
    from hotline.crypto.fields import is_sealed

    return is_sealed(value)


class _Keys:
    """The settings' keys, loaded only when a row needs them."""

    def __init__(self) -> None:
        self._settings: Any = None

    @property
    def settings(self) -> Any:
        if self._settings is None:
            self._settings = context.config.attributes.get("hotline_settings")
            if self._settings is None:
                from hotline.settings import load_settings

                self._settings = load_settings()
        return self._settings

    def cipher(self) -> Any:
        from hotline.crypto.envelope import MasterKeyRing
        from hotline.crypto.fields import FieldCipher

        return FieldCipher(MasterKeyRing(self.settings.master_key, self.settings.old_master_keys))

    def masters(self) -> list[bytes]:
        return [self.settings.master_key, *self.settings.old_master_keys]

    def audit(self) -> bytes:
        return str(self.settings.audit_key).encode("utf-8")


def _table(name: str, *columns: sa.ColumnClause[Any]) -> sa.TableClause:
    return sa.table(name, sa.column("id"), *columns)


def _rows(name: str, *columns: str) -> list[Any]:
    t = _table(name, *(sa.column(c) for c in columns))
    return list(op.get_bind().execute(sa.select(t).order_by(t.c.id)))


def _set(name: str, row_id: int, **values: Any) -> None:
    t = _table(name, *(sa.column(c) for c in values))
    op.get_bind().execute(sa.update(t).where(t.c.id == row_id).values(**values))


def _kept(column: str, value: str) -> bool:
    # As hotline.crypto.columns.SealedPending: nothing pending, or a PIN's (one-way) hash.
    return column == "pending" and (not value or value.startswith("$argon2"))


def _convert_cells(change: Callable[[str, bytes], str | None]) -> None:
    """Apply change(plaintext or envelope, associated data) to every cell of SEALED."""
    from hotline.crypto.columns import aad

    bind = op.get_bind()
    for name, column, is_json in SEALED:
        t = _table(name, sa.column(column, sa.JSON() if is_json else sa.Text()))
        cell = t.c[column]
        for row_id, value in bind.execute(sa.select(t.c.id, cell).where(cell.is_not(None)).order_by(t.c.id)).all():
            if is_json and not isinstance(value, str):
                # Not sealed yet: the answers themselves, as hotline.crypto.columns.SealedJSON writes them.
                value = json.dumps(value, sort_keys=True, separators=(",", ":"))
            elif _kept(column, value):
                continue
            new = change(value, aad(name, column))
            if new is not None:
                out: Any = json.loads(new) if is_json and not _is_sealed(new) else new
                bind.execute(sa.update(t).where(t.c.id == row_id).values({column: out}))


# The TOTP scheme before this revision: AES-GCM under an HKDF of the master key, no key id.
def _v1_key(master: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"totp").derive(master)


def _v1_aad(email: str) -> bytes:
    return b"hotline/totp/v1:" + email.encode("utf-8")


def _v1_open(masters: list[bytes], stored: str, email: str) -> str:
    raw = base64.b64decode(stored)
    for master in masters:
        try:
            return AESGCM(_v1_key(master)).decrypt(raw[:12], raw[12:], _v1_aad(email)).decode("ascii")
        except InvalidTag:
            continue
    raise RuntimeError(f"the TOTP secret of {email} opens with none of the configured master keys")


def _rechain(key: bytes | None) -> None:
    """Recompute every entry's link: HMAC under key, or plain SHA-256 (the old chain) if None."""
    from hotline.auth.audit import canonical

    log = sa.table(
        "audit_log",
        sa.column("id"),
        sa.column("seq"),
        sa.column("at", sa.DateTime()),
        sa.column("action"),
        sa.column("user_id"),
        sa.column("user_email"),
        sa.column("ip"),
        sa.column("target_type"),
        sa.column("target_id"),
        sa.column("detail", sa.JSON()),
        sa.column("prev_hash"),
        sa.column("hash"),
    )
    bind = op.get_bind()
    prev = GENESIS
    for row in bind.execute(sa.select(log).order_by(log.c.seq)).all():
        entry = SimpleNamespace(**{**row._mapping, "prev_hash": prev})
        body = canonical(entry)  # type: ignore[arg-type]
        digest = hmac.new(key, body, hashlib.sha256).hexdigest() if key else hashlib.sha256(body).hexdigest()
        bind.execute(sa.update(log).where(log.c.id == row.id).values(prev_hash=prev, hash=digest))
        prev = digest
    head = sa.table("audit_head", sa.column("id"), sa.column("last_hash"))
    bind.execute(sa.update(head).values(last_hash=prev))


def upgrade() -> None:
    keys = _Keys()
    cipher: list[Any] = []

    def seal(value: str, aad: bytes) -> str | None:
        if _is_sealed(value):
            return None
        if not cipher:
            cipher.append(keys.cipher())
        return str(cipher[0].seal(value.encode("utf-8"), aad))

    _convert_cells(seal)
    from hotline.auth.totp import aad as totp_aad

    for row in _rows("users", "email", "totp_secret"):
        if not cipher:
            cipher.append(keys.cipher())
        secret = _v1_open(keys.masters(), row.totp_secret, row.email)
        _set("users", row.id, totp_secret=cipher[0].seal(secret.encode("ascii"), totp_aad(row.email)))
    if _rows("audit_log"):
        _rechain(keys.audit())


def downgrade() -> None:
    keys = _Keys()
    cipher: list[Any] = []

    def unseal(value: str, aad: bytes) -> str | None:
        if not _is_sealed(value):
            return None
        if not cipher:
            cipher.append(keys.cipher())
        return str(cipher[0].open(value, aad).decode("utf-8"))

    _convert_cells(unseal)
    from hotline.auth.totp import aad as totp_aad

    for row in _rows("users", "email", "totp_secret"):
        if not cipher:
            cipher.append(keys.cipher())
        secret = cipher[0].open(row.totp_secret, totp_aad(row.email))
        nonce = os.urandom(12)
        sealed = AESGCM(_v1_key(keys.settings.master_key)).encrypt(nonce, secret, _v1_aad(row.email))
        _set("users", row.id, totp_secret=base64.b64encode(nonce + sealed).decode("ascii"))
    if _rows("audit_log"):
        _rechain(None)
