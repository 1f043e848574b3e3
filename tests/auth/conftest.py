"""Fixtures for the sign-in tests: the app with auth wired in, users made through the CLI,
and a browser-like helper that fills in forms with their CSRF tokens."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from hotline.auth import init_auth, throttle, totp

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def app(app: Flask) -> Flask:
    """The shared app, with sign-in wired in until create_app does it itself."""
    if "auth" not in app.blueprints:
        init_auth(app)
    return app


class Clock:
    """A settable clock for TOTP time steps, so tests never wait 30 seconds."""

    def __init__(self, start: float) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    def next_step(self) -> None:
        """Move to the start of the next 30-second step."""
        self.t = (int(self.t) // totp.STEP_SECONDS + 1) * totp.STEP_SECONDS


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    c = Clock(1_800_000_000.0)
    monkeypatch.setattr(totp, "clock", c)
    yield c


class Held:
    """The throttle's clock, held still: delays pass when a test moves it, never by waiting."""

    def __init__(self, start: float) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Held:
    h = Held(1_900_000_000.0)
    monkeypatch.setattr(throttle, "clock", h)
    return h


@dataclass
class Account:
    email: str
    password: str
    secret: str

    def code(self, clock: Clock) -> str:
        """The current TOTP code, as the user's phone shows it."""
        return pyotp.TOTP(self.secret).at(clock())


def create_account(app: Flask, email: str, role: str = "investigator", agencies: tuple[str, ...] = ()) -> Account:
    """Create a user the way an administrator does: through `flask users create`."""
    args = ["users", "create", "--email", email, "--role", role]
    for agency in agencies or ("precinct_1_north",):
        args += ["--agency", agency]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    password = re.search(r"^password: (\S+)$", result.output, re.M)
    secret = re.search(r"^TOTP secret: (\S+)$", result.output, re.M)
    assert password and secret, result.output
    return Account(email.lower(), password.group(1), secret.group(1))


def csrf_token(client: FlaskClient, path: str) -> str:
    """Fetch a page and read its form's CSRF token, as a browser would submit it."""
    page = client.get(path)
    match = _TOKEN.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {path}: {page.status_code}"
    return match.group(1)


def submit(client: FlaskClient, path: str, data: dict[str, str], form_page: str | None = None) -> TestResponse:
    """POST a form with the token from the page that shows it."""
    token = csrf_token(client, form_page or path)
    return client.post(path, data={**data, "csrf_token": token})


def password_step(client: FlaskClient, account: Account, password: str | None = None) -> TestResponse:
    """Send email and password."""
    return submit(client, "/login", {"email": account.email, "password": password or account.password})


def sign_in(client: FlaskClient, account: Account, clock: Clock) -> TestResponse:
    """A complete sign-in, enrolling first if needed; moves the clock to a fresh code."""
    first = password_step(client, account)
    assert first.status_code == 302, first.get_data(as_text=True)
    step = first.headers["Location"]
    clock.next_step()
    return submit(client, step, {"code": account.code(clock)})


@pytest.fixture
def account(app: Flask) -> Account:
    return create_account(app, "Ann.Reviewer@Example.org")


@pytest.fixture
def enrolled(app: Flask, client: FlaskClient, account: Account, clock: Clock) -> Account:
    """An account that has completed enrolment, signed out again."""
    done = sign_in(client, account, clock)
    assert done.status_code == 302, done.get_data(as_text=True)
    submit(client, "/logout", {}, form_page="/home")
    return account
