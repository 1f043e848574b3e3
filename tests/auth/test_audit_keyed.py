"""The audit chain is keyed (issue 8, item 10): someone with database access but without
HOTLINE_AUDIT_KEY cannot rewrite it, and anchors outside the database catch a cut-off tail."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from flask import Flask
from sqlalchemy import select, text

from hotline.auth import anchors, audit
from hotline.auth.models import AuditEntry, AuditHead
from hotline.extensions import db, runtime
from workers.sweeps import sweep


def _log(app: Flask, n: int) -> None:
    with app.app_context():
        for i in range(n):
            audit.append(db.session, "test.entry", target_type="thing", target_id=i)
            db.session.commit()


def _verify(app: Flask, *args: str) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["audit", "verify", *args])
    return result.exit_code, result.output


def _rechain_from(app: Flask, seq: int, link: str) -> None:
    """What an attacker with database access does: recompute every link after an edit.

    link: "sha256" (the chain as it was before it had a key) or "guessed-key" (an HMAC
    under a key other than the app's).
    """
    with app.app_context():
        entries = db.session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
        prev = entries[seq - 2].hash if seq > 1 else audit.GENESIS
        for entry in entries[seq - 1 :]:
            entry.prev_hash = prev
            body = audit.canonical(entry)
            if link == "sha256":
                entry.hash = hashlib.sha256(body).hexdigest()
            else:
                entry.hash = hmac.new(b"guessed-key", body, hashlib.sha256).hexdigest()
            prev = entry.hash
        head = db.session.get(AuditHead, 1)
        assert head is not None
        head.last_hash = prev
        db.session.commit()


def test_an_edited_entry_with_a_recomputed_chain_fails_without_the_key(app: Flask) -> None:
    _log(app, 4)
    assert _verify(app)[0] == 0
    for link in ("sha256", "guessed-key"):
        with app.app_context():
            db.session.execute(
                text("UPDATE audit_log SET target_id = :t WHERE seq = 2"), {"t": f"rewritten with {link}"}
            )
            db.session.commit()
        _rechain_from(app, 2, link)
        code, output = _verify(app)
        assert code == 1 and "entry #1" not in output and "content does not match its HMAC" in output, output


def test_the_sweep_anchors_the_chain_and_verify_catches_a_truncated_tail(app: Flask) -> None:
    _log(app, 5)
    path = anchors.default_path(runtime.get(app).settings.instance_path)
    with app.app_context():
        sweep()
        sweep()  # nothing new since: no new line
    [line] = path.read_text().splitlines()
    assert line.split()[1] == "5"
    code, output = _verify(app, "--anchors", str(path))
    assert code == 0 and "agrees with 1 anchor(s)" in output, output

    # Delete the newest entries and move the head back: the chain that is left is valid...
    with app.app_context():
        third = db.session.scalars(select(AuditEntry).where(AuditEntry.seq == 3)).one()
        db.session.execute(text("DELETE FROM audit_log WHERE seq > 3"))
        db.session.execute(text("UPDATE audit_head SET seq = 3, last_hash = :h"), {"h": third.hash})
        db.session.commit()
        assert audit.verify(db.session, audit.current_key()).ok
    # ...but not against the anchor, which `audit verify` reads from the instance path too.
    for args in (("--anchors", str(path)), ()):
        code, output = _verify(app, *args)
        assert code == 1 and "an anchor names #5 (truncated)" in output, output


def test_an_anchor_catches_history_rewritten_even_with_the_key(app: Flask, tmp_path: Path) -> None:
    _log(app, 3)
    with app.app_context():
        written = anchors.write_anchor(db.session, tmp_path / "copy.log")
    assert written is not None and written[0] == 3
    with app.app_context():
        db.session.execute(text("UPDATE audit_log SET target_id = 'rewritten' WHERE seq = 3"))
        db.session.commit()
        # Someone who also stole the key recomputes the chain: only the anchor still knows.
        key = audit.current_key()
        entries = db.session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
        entries[2].hash = audit.entry_hash(entries[2], key)
        db.session.execute(text("UPDATE audit_head SET last_hash = :h"), {"h": entries[2].hash})
        db.session.commit()
        assert audit.verify(db.session, key).ok
    code, output = _verify(app, "--anchors", str(tmp_path / "copy.log"))
    assert code == 1 and "entry #3" in output and "differs from its anchor" in output, output


def test_a_damaged_anchor_file_is_reported(app: Flask, tmp_path: Path) -> None:
    bad = tmp_path / "anchors.log"
    bad.write_text("2026-01-01T00:00:00Z 3 not-an-hmac\n")
    code, output = _verify(app, "--anchors", str(bad))
    assert code == 1 and "not an anchor line" in output
