"""Sign-in: password then TOTP, enrolment with a QR code, generic errors, lockout, replay."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from hotline.auth.models import User
from hotline.auth.session import safe_next
from hotline.extensions import db
from hotline.models import utcnow
from tests.auth.conftest import Account, Clock, create_account, password_step, sign_in, submit

LOCKED = "Too many failed attempts. Try again after "


def user_row(app: Flask, email: str) -> User:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        assert user is not None
        return user


def test_first_sign_in_enrols_with_a_qr_code(app: Flask, client: FlaskClient, account: Account, clock: Clock) -> None:
    first = password_step(client, account)
    assert first.status_code == 302
    assert first.headers["Location"] == "/enrol"
    page = client.get("/enrol").get_data(as_text=True)
    assert "<svg" in page and 'class="qr"' in page
    # The secret is also shown as text, in groups of four, for typing by hand.
    assert account.secret[:4] + " " + account.secret[4:8] in page
    assert "<script" not in page and "style=" not in page
    wrong = submit(client, "/enrol", {"code": "000000"})
    assert wrong.status_code == 200
    assert "not correct" in wrong.get_data(as_text=True)
    assert user_row(app, account.email).totp_enrolled_at is None
    done = submit(client, "/enrol", {"code": account.code(clock)})
    assert done.status_code == 302
    assert done.headers["Location"] == "/queue"
    home = client.get("/home")
    assert home.status_code == 200
    assert account.email in home.get_data(as_text=True)
    assert user_row(app, account.email).totp_enrolled_at is not None


def test_enrolled_user_signs_in_with_password_and_code(client: FlaskClient, enrolled: Account, clock: Clock) -> None:
    first = password_step(client, enrolled)
    assert first.headers["Location"] == "/login/totp"
    # Enrolment is over: the QR page no longer shows the secret.
    assert client.get("/enrol").headers["Location"] == "/login/totp"
    clock.next_step()
    done = submit(client, "/login/totp", {"code": enrolled.code(clock)})
    assert done.headers["Location"] == "/queue"
    assert client.get("/").headers["Location"] == "/queue"


def test_code_page_needs_the_password_first(client: FlaskClient, enrolled: Account) -> None:
    assert client.get("/login/totp").headers["Location"] == "/login"
    assert client.get("/enrol").headers["Location"] == "/login"
    assert client.get("/home").headers["Location"].startswith("/login")


def test_errors_do_not_reveal_whether_the_email_exists(client: FlaskClient, enrolled: Account) -> None:
    wrong_password = password_step(client, enrolled, "not-the-password").get_data(as_text=True)
    unknown = submit(client, "/login", {"email": "ghost@example.org", "password": "whatever"}).get_data(as_text=True)
    message = "The email or password is incorrect."
    assert message in wrong_password and message in unknown


def test_disabled_account_cannot_sign_in(app: Flask, client: FlaskClient, enrolled: Account) -> None:
    app.test_cli_runner().invoke(args=["users", "disable", enrolled.email])
    response = password_step(client, enrolled)
    assert response.status_code == 200
    assert "The email or password is incorrect." in response.get_data(as_text=True)


def test_five_wrong_passwords_lock_the_account(
    app: Flask, client: FlaskClient, enrolled: Account, clock: Clock
) -> None:
    for _ in range(4):
        assert "incorrect" in password_step(client, enrolled, "wrong").get_data(as_text=True)
    fifth = password_step(client, enrolled, "wrong")
    assert fifth.status_code == 429
    text = fifth.get_data(as_text=True)
    assert LOCKED in text and "UTC." in text
    locked_until = user_row(app, enrolled.email).locked_until
    assert locked_until is not None
    assert timedelta(minutes=14) < locked_until - utcnow() <= timedelta(minutes=15)
    # Even the right password is refused while locked.
    right = password_step(client, enrolled)
    assert right.status_code == 429 and LOCKED in right.get_data(as_text=True)
    # Once the lock has passed, the right password and code work again.
    with app.app_context():
        db.session.execute(
            update(User).where(User.email == enrolled.email).values(locked_until=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
    assert sign_in(client, enrolled, clock).headers["Location"] == "/queue"


def test_wrong_codes_count_towards_the_lockout(
    app: Flask, client: FlaskClient, enrolled: Account, clock: Clock
) -> None:
    password_step(client, enrolled, "wrong")
    password_step(client, enrolled, "wrong")
    password_step(client, enrolled)
    for _ in range(2):
        page = submit(client, "/login/totp", {"code": "123456"})
        assert "not correct" in page.get_data(as_text=True)
    locked = submit(client, "/login/totp", {"code": "123456"})
    assert locked.headers["Location"] == "/login"
    assert LOCKED in client.get("/login").get_data(as_text=True)
    # The half-finished sign-in is gone: no more guesses without the password again.
    assert client.get("/login/totp").headers["Location"] == "/login"


def test_success_resets_the_failure_count(app: Flask, client: FlaskClient, enrolled: Account, clock: Clock) -> None:
    for _ in range(4):
        password_step(client, enrolled, "wrong")
    assert sign_in(client, enrolled, clock).status_code == 302
    assert user_row(app, enrolled.email).failed_attempts == 0


def test_a_code_works_only_once(app: Flask, client: FlaskClient, enrolled: Account, clock: Clock) -> None:
    clock.next_step()
    code = enrolled.code(clock)
    password_step(client, enrolled)
    assert submit(client, "/login/totp", {"code": code}).headers["Location"] == "/queue"
    submit(client, "/logout", {}, form_page="/home")
    # Same 30-second window, same code, another browser: refused.
    other = app.test_client()
    password_step(other, enrolled)
    replay = submit(other, "/login/totp", {"code": code})
    assert replay.status_code == 200
    assert "already been used" in replay.get_data(as_text=True)
    # An older code from the window before is refused too, but the next one works.
    previous = pyotp.TOTP(enrolled.secret).at(clock() - 30)
    assert submit(other, "/login/totp", {"code": previous}).status_code == 200
    clock.next_step()
    assert submit(other, "/login/totp", {"code": enrolled.code(clock)}).headers["Location"] == "/queue"


def test_codes_tolerate_one_step_of_clock_drift(client: FlaskClient, enrolled: Account, clock: Clock) -> None:
    clock.next_step()
    clock.next_step()
    password_step(client, enrolled)
    ahead = pyotp.TOTP(enrolled.secret).at(clock() + 30)
    assert submit(client, "/login/totp", {"code": ahead[:3] + " " + ahead[3:]}).headers["Location"] == "/queue"


def test_next_is_followed_only_within_the_site(client: FlaskClient, enrolled: Account, clock: Clock) -> None:
    assert client.get("/home?x=1").headers["Location"] == "/login?next=/home?x%3D1"
    token_page = "/login?next=/home?x%3D1"
    submit(client, "/login", {"email": enrolled.email, "password": enrolled.password, "next": "/home?x=1"}, token_page)
    clock.next_step()
    assert submit(client, "/login/totp", {"code": enrolled.code(clock)}).headers["Location"] == "/home?x=1"
    submit(client, "/logout", {}, form_page="/home")
    submit(client, "/login", {"email": enrolled.email, "password": enrolled.password, "next": "//evil.example"})
    clock.next_step()
    assert submit(client, "/login/totp", {"code": enrolled.code(clock)}).headers["Location"] == "/queue"


@pytest.mark.parametrize(
    "target",
    ["//evil.example", "/\t/evil.example", "/\n/evil.example", "/\\evil.example", "https://evil.example/", "/a b", ""],
)
def test_next_never_leaves_the_site(target: str) -> None:
    assert safe_next(target) is None


def test_next_keeps_local_paths() -> None:
    assert safe_next("/reports/42?tab=audio") == "/reports/42?tab=audio"


def test_old_password_hashes_are_upgraded_at_sign_in(app: Flask, client: FlaskClient, clock: Clock) -> None:
    account = create_account(app, "old@example.org")
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(account.password)
    with app.app_context():
        db.session.execute(update(User).where(User.email == account.email).values(password_hash=weak))
        db.session.commit()
    assert sign_in(client, account, clock).headers["Location"] == "/queue"
    upgraded = user_row(app, account.email).password_hash
    assert upgraded != weak and upgraded.startswith("$argon2id$")
