"""The one call driver the tests, the simulator and the benchmarks share, on both transports:
the real app in process (WSGI test client) and served on a port (HTTP)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import select

from hotline.extensions import db
from hotline.models import Call, Report
from hotline.simulator import AppTwilio, CallDriver, HttpTransport, Line, Twilio, WsgiTransport
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_URL, SAFE_SCHOOLS, LiveServer
from tests.voice.driver import VoiceCall

CALLER = "+13145550199"


def _whole_call(driver: CallDriver) -> None:
    """A Safe Schools call in English, every question skipped; each answer checked as Twilio would."""
    assert driver.start().status == 200
    for keys in ("1", None, "6", "#", "#", "#", "#", "#", "3", "9"):
        # None: silence at the call-back offer.
        reply = driver.press(keys) if keys is not None else driver.silence()
        assert reply.status == 200, (keys, driver.reply)
        assert driver.root is not None
    assert driver.press("", "#").status == 200
    driver.verb("Hangup")
    assert driver.hang_up().status == 204


def _report_keypad(app: Flask, call_sid: str) -> dict[str, Any]:
    with app.app_context():
        call = db.session.scalar(select(Call).where(Call.call_sid == call_sid))
        assert call is not None and call.status == "completed"
        report = db.session.get(Report, call.report_id)
        assert report is not None
        return report.keypad


def test_a_call_in_process_is_signed_and_followed(app: Flask) -> None:
    twilio = AppTwilio(Twilio(AUTH_TOKEN, WsgiTransport(app.test_client())), PUBLIC_URL)
    driver = CallDriver(twilio, Line(ACCOUNT_SID, CALLER, SAFE_SCHOOLS))
    _whole_call(driver)
    assert _report_keypad(app, driver.call_sid) == {"district": "riverbend", "topic": "other"}


def test_a_wrong_token_is_refused(app: Flask) -> None:
    twilio = AppTwilio(Twilio("0" * 32, WsgiTransport(app.test_client())), PUBLIC_URL)
    assert CallDriver(twilio, Line(ACCOUNT_SID, CALLER, SAFE_SCHOOLS)).start().status == 403


def test_a_call_over_http(live: tuple[Flask, LiveServer]) -> None:
    app, server = live
    transport = HttpTransport()
    try:
        driver = CallDriver(
            AppTwilio(Twilio(AUTH_TOKEN, transport), server.url), Line(ACCOUNT_SID, CALLER, SAFE_SCHOOLS)
        )
        _whole_call(driver)
    finally:
        transport.close()
    assert _report_keypad(app, driver.call_sid) == {"district": "riverbend", "topic": "other"}


def test_the_tests_voice_call_runs_on_the_simulators_twilio(app: Flask) -> None:
    call = VoiceCall(AppTwilio(Twilio(AUTH_TOKEN, WsgiTransport(app.test_client())), PUBLIC_URL), SAFE_SCHOOLS)
    call.start()
    assert call.press("1").has("Gather")
    assert call.hang_up() == 204
