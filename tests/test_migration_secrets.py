"""Migration 0008 seals what earlier revisions stored in plain text, moves TOTP secrets to the
key ring and re-chains the audit log under HOTLINE_AUDIT_KEY, keeping every value."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from alembic import command
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select, text

from hotline import create_app
from hotline.auth import audit, totp
from hotline.auth.models import User
from hotline.cli.database import alembic_config, upgrade
from hotline.db import make_engine
from hotline.extensions import db
from hotline.models import Call, Report
from hotline.review.models import Note
from tests.conftest import RedisServer, make_settings

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def _old_totp(master: bytes, secret: str, email: str) -> str:
    """How revision 0004's code sealed a TOTP secret."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"totp").derive(master)
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, secret.encode(), b"hotline/totp/v1:" + email.encode())
    return base64.b64encode(nonce + sealed).decode()


@pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")), reason="uses its own SQLite file")
def test_upgrade_seals_old_rows_and_rechains_the_audit_log(tmp_path: Path, redis_server: RedisServer) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    settings = make_settings(tmp_path, url, redis_server.url)
    upgrade(url, "0004")
    engine = make_engine(url)
    at = datetime(2026, 1, 1, 12, 0, 0)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO reports (id, hotline_id, tip_number, created_at, status, urgency, categories, keypad,"
                " legal_hold) VALUES (1, 'prea', '12345678', :at, 'new', 'high', '[]',"
                ' \'{"inmate_number": "4815162"}\', 0)'
            ),
            {"at": at},
        )
        conn.execute(
            text(
                "INSERT INTO calls (call_sid, report_id, hotline_id, status, step, turn, retries, mode, phase,"
                " pending, flags, last_response, started_at) VALUES ('CA1', 1, 'prea', 'in-progress',"
                " 'number_step', 3, 0, '', 'confirm', '4815162', '{}', '<Say>You entered 4, 8</Say>', :at)"
            ),
            {"at": at},
        )
        conn.execute(
            text(
                "INSERT INTO notes (report_id, author_email, body, created_at)"
                " VALUES (1, 'pat@prea.example.org', 'cell block D', :at)"
            ),
            {"at": at},
        )
        conn.execute(
            text(
                "INSERT INTO users (email, role, agencies, password_hash, totp_secret, failed_attempts,"
                " session_generation, disabled, created_at)"
                " VALUES ('pat@prea.example.org', 'investigator', '[\"prea_unit\"]', 'x', :s, 0, 0, 0, :at)"
            ),
            {"s": _old_totp(settings.master_key, SECRET, "pat@prea.example.org"), "at": at},
        )
        prev = audit.GENESIS
        for seq in (1, 2):
            fields = dict(seq=seq, at=at, action="test", user_id=None, user_email=None, ip=None)
            fields |= dict(target_type=None, target_id=str(seq), detail={}, prev_hash=prev)
            digest = hashlib.sha256(audit.canonical(SimpleNamespace(**fields))).hexdigest()  # type: ignore[arg-type]
            conn.execute(
                text(
                    "INSERT INTO audit_log (seq, at, action, target_id, detail, prev_hash, hash)"
                    " VALUES (:seq, :at, 'test', :t, '{}', :p, :h)"
                ),
                {"seq": seq, "at": at, "t": str(seq), "p": prev, "h": digest},
            )
            prev = digest
        conn.execute(text("INSERT INTO audit_head (id, seq, last_hash) VALUES (1, 2, :h)"), {"h": prev})

    upgrade(url, settings=settings)

    with engine.connect() as conn:
        dump = " ".join(
            str(value)
            for table in ("reports", "calls", "notes", "users")
            for row in conn.execute(text(f"SELECT * FROM {table}"))
            for value in row
        )
    for plain in ("4815162", "inmate_number", "You entered", "cell block", SECRET):
        assert plain not in dump, plain
    engine.dispose()
    app = create_app(settings)
    with app.app_context():
        assert db.session.scalars(select(Report)).one().keypad == {"inmate_number": "4815162"}
        call = db.session.scalars(select(Call)).one()
        assert (call.pending, call.last_response) == ("4815162", "<Say>You entered 4, 8</Say>")
        assert db.session.scalars(select(Note)).one().body == "cell block D"
        user = db.session.scalars(select(User)).one()
        assert totp.decrypt_secret(user.totp_secret, user.email) == SECRET
        result = audit.verify(db.session, audit.current_key())
        assert result.ok and result.count == 2, result.problem
    db.dispose()

    # And back: plain values, the old TOTP scheme and the unkeyed chain.
    config = alembic_config(url)
    config.attributes["hotline_settings"] = settings
    command.downgrade(config, "0004")
    engine = make_engine(url)
    with engine.connect() as conn:
        keypad = conn.execute(text("SELECT keypad FROM reports")).scalar_one()
        assert json.loads(keypad) == {"inmate_number": "4815162"}
        assert conn.execute(text("SELECT pending FROM calls")).scalar_one() == "4815162"
        assert conn.execute(text("SELECT body FROM notes")).scalar_one() == "cell block D"
        stored = conn.execute(text("SELECT totp_secret FROM users")).scalar_one()
        raw = base64.b64decode(stored)
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"totp").derive(settings.master_key)
        aad = b"hotline/totp/v1:pat@prea.example.org"
        assert AESGCM(key).decrypt(raw[:12], raw[12:], aad).decode() == SECRET
        last = conn.execute(text("SELECT hash FROM audit_log WHERE seq = 2")).scalar_one()
    assert last == prev  # the SHA-256 chain it started with
    engine.dispose()
