"""The audit log: who did what, chained by hash; `flask audit verify` finds edits and deletions."""

from __future__ import annotations

import itertools
import json
import threading

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from hotline import create_app
from hotline.auth import audit
from hotline.auth.models import AuditEntry
from hotline.extensions import db
from hotline.settings import Settings
from tests.auth.conftest import Account, Clock, Held, password_step, sign_in, submit


def actions(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))


def test_sign_in_events_are_recorded(app: Flask, client: FlaskClient, account: Account, clock: Clock) -> None:
    password_step(client, account, "wrong")
    sign_in(client, account, clock)  # first sign-in: enrolment
    submit(client, "/logout", {}, form_page="/home")
    assert actions(app) == ["user.created", "login.failed", "totp.enrolled", "login.success", "logout"]
    with app.app_context():
        entries = db.session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
        created, failed, *_rest, logout = entries
        assert created.user_id is None and created.detail["via"] == "cli"
        assert failed.user_email == account.email and failed.detail == {"stage": "password", "attempt": 1}
        assert failed.ip == "127.0.0.1"
        assert logout.user_id == failed.user_id
        assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
        assert all(e.prev_hash == p.hash for p, e in itertools.pairwise(entries))


def test_throttling_and_unknown_emails_are_recorded(
    app: Flask, client: FlaskClient, account: Account, held: Held
) -> None:
    submit(client, "/login", {"email": "ghost@example.org", "password": "guess"})
    for _ in range(6):
        password_step(client, account, "wrong")
    log = actions(app)
    assert log.count("login.failed") == 6 and log[-1] == "login.throttled"
    with app.app_context():
        ghost = db.session.scalar(select(AuditEntry).where(AuditEntry.seq == 2))
        assert ghost is not None and ghost.user_id is None and ghost.detail["email"] == "ghost@example.org"


def test_no_secrets_in_the_log(app: Flask, client: FlaskClient, account: Account, clock: Clock) -> None:
    password_step(client, account, "my-wrong-password")
    sign_in(client, account, clock)
    exported = app.test_cli_runner().invoke(args=["audit", "export", "--format", "jsonl"]).output
    for secret in (account.password, account.secret, "my-wrong-password", account.code(clock)):
        assert secret not in exported
    lines = [json.loads(line) for line in exported.splitlines()]
    assert [e["seq"] for e in lines] == list(range(1, len(lines) + 1))
    assert lines[0]["action"] == "user.created" and lines[0]["at"].endswith("Z")
    with app.app_context(), pytest.raises(ValueError, match="secrets"):
        audit.record("oops", detail={"password": "x"})
    with app.app_context(), pytest.raises(ValueError, match="secrets"):
        audit.record("oops", detail={"totpCode": "123456"})


def test_verify_passes_then_detects_an_edited_row(app: Flask, client: FlaskClient, account: Account) -> None:
    for _ in range(3):
        password_step(client, account, "wrong")
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "4 entries" in ok.output
    with app.app_context():
        db.session.execute(text("UPDATE audit_log SET user_email = 'someone-else@example.org' WHERE seq = 3"))
        db.session.commit()
    bad = runner.invoke(args=["audit", "verify"])
    assert bad.exit_code == 1
    assert "entry #3" in bad.output and "edited" in bad.output


def test_verify_detects_deleted_rows(app: Flask, client: FlaskClient, account: Account) -> None:
    for _ in range(3):
        password_step(client, account, "wrong")
    runner = app.test_cli_runner()
    with app.app_context():
        db.session.execute(text("DELETE FROM audit_log WHERE seq = 2"))
        db.session.commit()
    middle = runner.invoke(args=["audit", "verify"])
    assert middle.exit_code == 1 and "entry #3" in middle.output
    with app.app_context():
        db.session.execute(text("DELETE FROM audit_log WHERE seq >= 2"))
        db.session.commit()
    # Cutting the newest entries off the end leaves a valid-looking chain; the head knows.
    tail = runner.invoke(args=["audit", "verify"])
    assert tail.exit_code == 1 and "head names #4" in tail.output


def test_concurrent_appends_keep_one_chain(app: Flask) -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            with app.app_context():
                for i in range(5):
                    audit.record("test.concurrent", target_type="thread", target_id=f"{n}-{i}")
                    db.session.commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with app.app_context():
        result = audit.verify(db.session, audit.current_key())
    assert result.ok, result.problem
    assert result.count == 20


def _failed_sign_in_ip(app: Flask) -> str | None:
    client = app.test_client()
    # As the app sees a request relayed by a proxy at 10.0.0.2 for a client at 203.0.113.7.
    client.environ_base.update({"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "203.0.113.7"})
    submit(client, "/login", {"email": "ghost@example.org", "password": "guess"})
    with app.app_context():
        entry = db.session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).one()
        return entry.ip


def test_the_client_address_is_taken_from_trusted_proxies_only(app: Flask, settings: Settings) -> None:
    # Without trusted proxies a client could write any address into the log with a header.
    assert _failed_sign_in_ip(app) == "10.0.0.2"
    proxied = create_app(settings.model_copy(update={"trusted_proxies": 1}))
    assert _failed_sign_in_ip(proxied) == "203.0.113.7"
