"""`flask users ...`: accounts are created with a generated password and an encrypted TOTP secret."""

from __future__ import annotations

import pyotp
from flask import Flask
from sqlalchemy import select

from hotline.auth import create_demo_users, totp
from hotline.auth.models import User
from hotline.auth.throttle import Throttle
from hotline.extensions import db, queues, runtime
from tests.auth.conftest import create_account


def test_create_prints_credentials_once_and_stores_them_safely(app: Flask) -> None:
    account = create_account(app, "Bob@Example.ORG", "dispatcher", ("prea_unit",))
    assert account.email == "bob@example.org"
    assert len(account.secret) == 32
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "bob@example.org"))
        assert user is not None
        assert user.role == "dispatcher"
        assert user.agencies == ["prea_unit"]
        assert user.password_hash.startswith("$argon2id$")
        assert account.password not in user.password_hash
        # Encrypted at rest: the base32 secret is not in the row, yet it decrypts.
        assert account.secret not in user.totp_secret
        assert totp.decrypt_secret(user.totp_secret, user.email) == account.secret
        assert user.totp_enrolled_at is None


def test_create_prints_an_otpauth_uri(app: Flask) -> None:
    result = app.test_cli_runner().invoke(
        args=["users", "create", "--email", "c@example.org", "--role", "admin", "--agency", "prea_unit"]
    )
    uri = next(line for line in result.output.splitlines() if line.startswith("otpauth URI: "))
    parsed = pyotp.parse_uri(uri.removeprefix("otpauth URI: "))
    assert isinstance(parsed, pyotp.TOTP)
    assert parsed.issuer == "hotline"


def test_unknown_agency_and_role_are_refused_clearly(app: Flask) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["users", "create", "--email", "d@example.org", "--role", "admin", "--agency", "no_such_agency"]
    )
    assert result.exit_code != 0
    assert "unknown agency id(s) no_such_agency" in result.output
    assert "prea_unit" in result.output  # the valid choices are listed
    result = runner.invoke(
        args=["users", "create", "--email", "d@example.org", "--role", "janitor", "--agency", "prea_unit"]
    )
    assert result.exit_code != 0
    assert "janitor" in result.output
    with app.app_context():
        assert db.session.scalar(select(User).where(User.email == "d@example.org")) is None


def test_duplicate_email_is_refused_whatever_the_case(app: Flask) -> None:
    create_account(app, "e@example.org")
    result = app.test_cli_runner().invoke(
        args=["users", "create", "--email", "E@Example.org", "--role", "admin", "--agency", "prea_unit"]
    )
    assert result.exit_code != 0
    assert "already exists" in result.output


def test_list_disable_and_reset(app: Flask) -> None:
    create_account(app, "f@example.org")
    runner = app.test_cli_runner()
    listing = runner.invoke(args=["users", "list"]).output
    assert "f@example.org\tinvestigator\tprecinct_1_north\tnot enrolled" in listing
    assert runner.invoke(args=["users", "disable", "f@example.org"]).exit_code == 0
    assert "disabled" in runner.invoke(args=["users", "list"]).output
    reset = runner.invoke(args=["users", "reset-totp", "f@example.org"])
    assert reset.exit_code == 0
    assert "TOTP secret: " in reset.output
    missing = runner.invoke(args=["users", "disable", "nobody@example.org"])
    assert missing.exit_code != 0
    assert "no user with email" in missing.output


def test_demo_users_one_per_role_and_idempotent(app: Flask) -> None:
    settings = runtime.get(app).settings
    created = create_demo_users(settings)
    assert sorted(role for _, role, _, _ in created) == ["admin", "dispatcher", "investigator"]
    for email, _role, password, secret in created:
        assert "@" in email and password and len(secret) == 32
    assert create_demo_users(settings) == []
    with app.app_context():
        assert len(db.session.scalars(select(User)).all()) == 3


def test_reset_password_and_unlock_clear_failed_sign_ins(app: Flask) -> None:
    create_account(app, "g@example.org")
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "g@example.org"))
        assert user is not None
        old_hash = user.password_hash
        limiter = Throttle(queues.redis)
        for _ in range(3):
            limiter.claim("g@example.org", "203.0.113.1")
    result = app.test_cli_runner().invoke(args=["users", "reset-password", "g@example.org"])
    assert result.exit_code == 0 and "password: " in result.output
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "g@example.org"))
        assert user is not None and user.password_hash != old_hash
        assert limiter.failures("g@example.org").count == 0
        limiter.claim("g@example.org", "203.0.113.1")
    result = app.test_cli_runner().invoke(args=["users", "unlock", "G@example.org"])
    assert result.exit_code == 0 and "cleared 1 failed attempt(s)" in result.output
    with app.app_context():
        assert limiter.failures("g@example.org").count == 0
