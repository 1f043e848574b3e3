"""Sign-in: password then TOTP, enrolment with a QR code, generic errors, throttling, replay."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyotp
import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from werkzeug.test import TestResponse

from hotline import create_app
from hotline.auth import passwords, throttle
from hotline.auth.models import AuditEntry, User
from hotline.auth.session import safe_next
from hotline.auth.views import BAD_CREDENTIALS, UNAVAILABLE, WAIT_CODE
from hotline.extensions import db, queues
from tests.auth.conftest import Account, Clock, Held, create_account, password_step, sign_in, submit
from tests.auth.test_audit import actions
from tests.conftest import free_port, make_settings


class CountingHasher(PasswordHasher):
    """argon2's own hasher, counting verifications: a throttled answer must cost one too."""

    calls = 0

    def verify(self, hash: Any, password: Any) -> bool:
        self.calls += 1
        return super().verify(hash, password)


def throttled_waits(app: Flask) -> list[int]:
    with app.app_context():
        query = select(AuditEntry.detail).where(AuditEntry.action == "login.throttled").order_by(AuditEntry.seq)
        return [d["wait_seconds"] for d in db.session.scalars(query)]


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
    assert BAD_CREDENTIALS in wrong_password and BAD_CREDENTIALS in unknown


def test_disabled_account_cannot_sign_in(app: Flask, client: FlaskClient, enrolled: Account) -> None:
    app.test_cli_runner().invoke(args=["users", "disable", enrolled.email])
    response = password_step(client, enrolled)
    assert response.status_code == 200
    assert BAD_CREDENTIALS in response.get_data(as_text=True)


def _answer(response: TestResponse, email: str) -> tuple[int, str]:
    """Status and page, without what differs by design: the form token and the address typed back."""
    body = re.sub(r'name="csrf_token" value="[^"]+"', "", response.get_data(as_text=True))
    return response.status_code, body.replace(f'value="{email}"', 'value=""')


def test_throttled_unknown_disabled_and_wrong_answer_alike(
    app: Flask, enrolled: Account, held: Held, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashes = CountingHasher()
    monkeypatch.setattr(passwords, "_HASHER", hashes)
    disabled = create_account(app, "off@example.org")
    app.test_cli_runner().invoke(args=["users", "disable", disabled.email])
    client = app.test_client()
    wrong = _answer(password_step(client, enrolled, "wrong"), enrolled.email)
    unknown = _answer(submit(client, "/login", {"email": "ghost@example.org", "password": "x"}), "ghost@example.org")
    off = _answer(password_step(client, disabled), disabled.email)
    for _ in range(4):
        password_step(client, enrolled, "wrong")
    # The sixth attempt waits: even the right password gets the same answer, unchecked.
    throttled_right = _answer(password_step(client, enrolled), enrolled.email)
    assert wrong == unknown == off == throttled_right
    assert wrong[0] == 200 and BAD_CREDENTIALS in wrong[1]
    # Each of them cost one argon2 verification (a dummy hash when there is nothing to check).
    assert hashes.calls == 8
    assert client.get("/login/totp").headers["Location"] == "/login"


def test_each_failure_after_five_waits_twice_as_long(
    app: Flask, client: FlaskClient, enrolled: Account, clock: Clock, held: Held
) -> None:
    for _ in range(5):
        assert BAD_CREDENTIALS in password_step(client, enrolled, "wrong").get_data(as_text=True)
    # 1 s to wait after the fifth failure: the right password is not even looked at.
    assert password_step(client, enrolled).status_code == 200
    held.t += 1
    password_step(client, enrolled, "wrong")  # checked: the sixth failure, 2 s to wait now
    held.t += 1.5
    assert password_step(client, enrolled).status_code == 200
    held.t += 0.5
    assert password_step(client, enrolled).headers["Location"] == "/login/totp"
    log = actions(app)
    assert log.count("login.failed") == 6 and log.count("login.throttled") == 2
    assert throttled_waits(app) == [1, 1]


def test_delays_stop_growing_at_fifteen_minutes(app: Flask, held: Held) -> None:
    with app.app_context():
        limiter = throttle.Throttle(queues.redis)
        for _ in range(40):
            assert limiter.claim("x@example.org", "198.51.100.9").allowed
            held.t += throttle.MAX_DELAY
        assert limiter.claim("x@example.org", "198.51.100.9").allowed
        assert limiter.claim("x@example.org", "198.51.100.9").wait == throttle.MAX_DELAY


def test_the_owner_from_another_client_is_not_slowed(app: Flask, enrolled: Account, clock: Clock, held: Held) -> None:
    attacker = app.test_client()
    attacker.environ_base["REMOTE_ADDR"] = "203.0.113.66"
    for _ in range(12):
        password_step(attacker, enrolled, "guess")
    # The attacker's own client waits; the owner's does not.
    assert password_step(attacker, enrolled).status_code == 200
    owner = app.test_client()
    owner.environ_base["REMOTE_ADDR"] = "198.51.100.2"
    assert sign_in(owner, enrolled, clock).headers["Location"] == "/queue"


def test_one_client_is_limited_across_accounts(app: Flask, enrolled: Account, clock: Clock, held: Held) -> None:
    sprayer = app.test_client()
    sprayer.environ_base["REMOTE_ADDR"] = "2001:db8:1:2::7"
    for n in range(throttle.CLIENT_FREE):
        submit(sprayer, "/login", {"email": f"user{n}@example.org", "password": "Winter2026!"})
    # Another address of the same IPv6 /64 is the same client, and now waits.
    sprayer.environ_base["REMOTE_ADDR"] = "2001:db8:1:2::8"
    assert password_step(sprayer, enrolled).status_code == 200
    assert actions(app)[-1] == "login.throttled"
    owner = app.test_client()
    owner.environ_base["REMOTE_ADDR"] = "2001:db8:1:3::1"
    assert sign_in(owner, enrolled, clock).headers["Location"] == "/queue"


def test_clients_are_addresses_and_ipv6_networks() -> None:
    assert throttle.client_of("203.0.113.5") == "203.0.113.5"
    assert throttle.client_of("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert throttle.client_of("::ffff:203.0.113.5") == "203.0.113.5"
    assert throttle.client_of(None) == throttle.client_of("junk") == "unknown"


def test_wrong_codes_are_throttled_too(
    app: Flask, client: FlaskClient, enrolled: Account, clock: Clock, held: Held
) -> None:
    password_step(client, enrolled, "wrong")
    password_step(client, enrolled)
    for _ in range(4):
        page = submit(client, "/login/totp", {"code": "123456"})
        assert "not correct" in page.get_data(as_text=True)
    clock.next_step()
    # Five failures (one password, four codes): the right code now waits its turn.
    waiting = submit(client, "/login/totp", {"code": enrolled.code(clock)})
    assert waiting.status_code == 200 and WAIT_CODE in waiting.get_data(as_text=True)
    held.t += 1
    assert submit(client, "/login/totp", {"code": enrolled.code(clock)}).headers["Location"] == "/queue"


def test_success_clears_this_clients_failures(app: Flask, client: FlaskClient, enrolled: Account, clock: Clock) -> None:
    for _ in range(4):
        password_step(client, enrolled, "wrong")
    with app.app_context():
        assert throttle.Throttle(queues.redis).failures(enrolled.email).count == 4
    assert sign_in(client, enrolled, clock).status_code == 302
    with app.app_context():
        assert throttle.Throttle(queues.redis).failures(enrolled.email).count == 0


def test_sign_in_fails_closed_without_redis(tmp_path: Path, database_url: str, enrolled: Account) -> None:
    # A port nobody listens on: the throttle cannot count, so no password is checked.
    dead = create_app(make_settings(tmp_path, database_url, f"redis://127.0.0.1:{free_port()}/0"))
    dead.testing = True
    client = dead.test_client()
    response = password_step(client, enrolled)
    assert response.status_code == 503 and UNAVAILABLE in response.get_data(as_text=True)
    assert client.get("/login/totp").headers["Location"] == "/login"


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
