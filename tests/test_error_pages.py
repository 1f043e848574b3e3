"""The app's own 403, 404 and 500 pages: the site's layout, plain words, the right status and
no stack trace; and Twilio's webhooks still never get an HTML error page."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from hotline.auth import totp
from tests.auth.conftest import Clock, create_account, sign_in
from tests.conftest import SAFE_SCHOOLS, TwilioClient


def fault() -> str:
    raise RuntimeError("secret detail of the fault")


def _page(response: TestResponse, status: int, title: str) -> str:
    assert (response.status_code, response.mimetype) == (status, "text/html")
    html = response.get_data(as_text=True)
    assert f"<h1>{title}</h1>" in html
    assert 'class="skip-link"' in html  # the site's layout, not Werkzeug's bare page
    for leak in ("Traceback", "Werkzeug", "RuntimeError", "secret detail"):
        assert leak not in html
    return html


@pytest.fixture
def signed_in(app: Flask, monkeypatch: pytest.MonkeyPatch) -> FlaskClient:
    clock = Clock(1_800_000_000.0)
    monkeypatch.setattr(totp, "clock", clock)
    account = create_account(app, "ann@riverbend.example.org", "investigator", ("riverbend_sd",))
    client = app.test_client()
    assert sign_in(client, account, clock).status_code == 302
    return client


def test_not_found_page(client: FlaskClient) -> None:
    _page(client.get("/no/such/page"), 404, "Page not found")


def test_not_found_page_signed_in_for_a_report_out_of_reach(signed_in: FlaskClient) -> None:
    html = _page(signed_in.get("/reports/424242"), 404, "Page not found")
    assert "Signed in as" in html


def test_forbidden_page(signed_in: FlaskClient) -> None:
    _page(signed_in.get("/dispatch"), 403, "Not allowed")  # dispatchers only


def test_server_error_page_hides_the_fault(app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    monkeypatch.setitem(app.view_functions, "auth.login", fault)
    _page(client.get("/login"), 500, "Something went wrong")


def test_voice_urls_never_get_an_html_error(app: Flask, twilio: TwilioClient, monkeypatch: pytest.MonkeyPatch) -> None:
    # An unrouted URL under /voice: plain text, as the voice blueprint answers.
    missing = twilio.post("/voice/no-such-hook", {"CallSid": "CA" + "0" * 32, "To": SAFE_SCHOOLS})
    assert (missing.status_code, missing.mimetype) == (404, "text/plain")
    # The blueprint's own HTTP errors stay plain text.
    malformed = twilio.post("/voice/incoming", {"CallSid": "bad", "To": SAFE_SCHOOLS})
    assert (malformed.status_code, malformed.mimetype) == (400, "text/plain")
    # A fault inside a webhook still answers the caller with TwiML, never a page.
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    monkeypatch.setitem(app.view_functions, "voice.incoming", fault)
    broken = twilio.post("/voice/incoming", {"CallSid": "CA" + "1" * 32, "To": SAFE_SCHOOLS})
    assert broken.status_code == 200 and broken.mimetype in ("text/xml", "application/xml")
    assert b"<Response>" in broken.data and b"<html" not in broken.data.lower()
