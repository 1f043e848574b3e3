"""Sessions (idle timeout, rotation, revocation), CSRF, security headers, login_required."""

from __future__ import annotations

import time

import pytest
from flask import Flask
from flask.testing import FlaskClient

from hotline.auth import CONTENT_SECURITY_POLICY, login_required
from hotline.auth.session import LAST_SEEN
from tests.auth.conftest import Account, Clock, create_account, password_step, sign_in, submit
from tests.conftest import SAFE_SCHOOLS, TwilioClient
from tests.voice.driver import VoiceCall

COOKIE = "session"


def test_session_cookie_flags(client: FlaskClient, enrolled: Account, clock: Clock) -> None:
    sign_in(client, enrolled, clock)
    response = client.get("/home")
    assert response.status_code == 200
    set_cookie = response.headers["Set-Cookie"]
    # The tests' public URL is https, so the cookie is Secure as well.
    for flag in ("HttpOnly", "SameSite=Lax", "Secure"):
        assert flag in set_cookie


def test_idle_timeout_sends_back_to_login(client: FlaskClient, enrolled: Account, clock: Clock) -> None:
    sign_in(client, enrolled, clock)
    with client.session_transaction() as sess:
        sess[LAST_SEEN] = time.time() - 29 * 60
    # Still inside 30 minutes: allowed, and the visit refreshes the timer.
    assert client.get("/home").status_code == 200
    with client.session_transaction() as sess:
        assert sess[LAST_SEEN] > time.time() - 60
        sess[LAST_SEEN] = time.time() - 31 * 60
    expired = client.get("/home")
    assert expired.status_code == 302
    assert expired.headers["Location"].startswith("/login")
    page = client.get("/login").get_data(as_text=True)
    assert "Your session expired after 30 minutes without activity" in page
    assert client.get("/home").status_code == 302


def test_sign_in_starts_a_fresh_session(client: FlaskClient, enrolled: Account, clock: Clock) -> None:
    with client.session_transaction() as sess:
        sess["planted"] = "by someone else"
    sign_in(client, enrolled, clock)
    with client.session_transaction() as sess:
        assert "planted" not in sess
        assert sess["uid"]


def test_logout_voids_the_old_cookie(client: FlaskClient, enrolled: Account, clock: Clock) -> None:
    sign_in(client, enrolled, clock)
    stolen = client.get_cookie(COOKIE)
    assert stolen is not None
    out = submit(client, "/logout", {}, form_page="/home")
    assert out.headers["Location"] == "/login"
    assert "You have signed out." in client.get("/login").get_data(as_text=True)
    assert client.get("/home").status_code == 302
    # Replaying the cookie captured before sign-out does not get back in.
    client.set_cookie(COOKIE, stolen.value, domain=stolen.domain)
    assert client.get("/home").status_code == 302


def test_disable_ends_open_sessions(app: Flask, client: FlaskClient, enrolled: Account, clock: Clock) -> None:
    sign_in(client, enrolled, clock)
    assert client.get("/home").status_code == 200
    app.test_cli_runner().invoke(args=["users", "disable", enrolled.email])
    assert client.get("/home").status_code == 302


def test_reset_totp_ends_sessions_and_requires_enrolling_again(
    app: Flask, client: FlaskClient, enrolled: Account, clock: Clock
) -> None:
    sign_in(client, enrolled, clock)
    result = app.test_cli_runner().invoke(args=["users", "reset-totp", enrolled.email])
    assert client.get("/home").status_code == 302
    new_secret = next(line for line in result.output.splitlines() if line.startswith("TOTP secret: "))
    enrolled.secret = new_secret.removeprefix("TOTP secret: ")
    assert password_step(client, enrolled).headers["Location"] == "/enrol"
    clock.next_step()
    assert submit(client, "/enrol", {"code": enrolled.code(clock)}).headers["Location"] == "/queue"


def test_post_forms_need_the_csrf_token(app: Flask, client: FlaskClient, enrolled: Account, clock: Clock) -> None:
    assert app.config["WTF_CSRF_ENABLED"]
    refused = client.post("/login", data={"email": enrolled.email, "password": enrolled.password})
    assert refused.status_code == 400
    assert "This form has expired" in refused.get_data(as_text=True)
    sign_in(client, enrolled, clock)
    # A cross-site page cannot sign the user out (or post anything else) without the token.
    assert client.post("/logout").status_code == 400
    assert client.get("/home").status_code == 200


def test_voice_webhooks_need_no_csrf_token(app: Flask, twilio: TwilioClient) -> None:
    call = VoiceCall(twilio, SAFE_SCHOOLS)
    response = twilio.post("/voice/incoming", {**call.base(), "CallStatus": "ringing"})
    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    # Browser headers are for pages; TwiML answers stay as the voice blueprint made them.
    assert "Content-Security-Policy" not in response.headers
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("path", ["/login", "/static/app.css"])
def test_security_headers_on_pages(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY and "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_signed_in_pages_are_not_cached(client: FlaskClient, enrolled: Account, clock: Clock) -> None:
    assert client.get("/login").headers["Cache-Control"] == "no-store"
    sign_in(client, enrolled, clock)
    page = client.get("/home")
    assert page.headers["Cache-Control"] == "no-store"
    text = page.get_data(as_text=True)
    # The base layout: product name, who is signed in, a sign-out button, no inline code.
    assert ">hotline</a>" in text and enrolled.email in text and "Sign out" in text
    assert "<script" not in text and "style=" not in text


def test_root_redirects(client: FlaskClient, enrolled: Account, clock: Clock) -> None:
    assert client.get("/").headers["Location"] == "/login"
    sign_in(client, enrolled, clock)
    assert client.get("/").headers["Location"] == "/queue"


def test_login_required_checks_roles(app: Flask, clock: Clock) -> None:
    @login_required(roles={"admin"})
    def admin_only() -> str:
        return "admin page"

    @login_required()
    def anyone() -> str:
        return "any page"

    app.add_url_rule("/test-admin", view_func=admin_only)
    app.add_url_rule("/test-anyone", view_func=anyone)
    investigator = create_account(app, "inv@example.org", "investigator")
    admin = create_account(app, "adm@example.org", "admin")
    client = app.test_client()
    assert client.get("/test-admin").headers["Location"] == "/login?next=/test-admin"
    sign_in(client, investigator, clock)
    assert client.get("/test-anyone").get_data(as_text=True) == "any page"
    assert client.get("/test-admin").status_code == 403
    other = app.test_client()
    sign_in(other, admin, clock)
    assert other.get("/test-admin").get_data(as_text=True) == "admin page"
