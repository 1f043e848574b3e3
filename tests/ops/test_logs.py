"""Logs: JSON lines carrying the request id (also into the jobs a webhook queues), and never a
caller's number nor what a tipster wrote."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from rq.job import Job

from hotline.extensions import queues
from hotline.models import Call, Report
from hotline.ops import logs
from tests.ops.conftest import CALLER, call_params, new_call_sid, post_signed
from tests.tipweb.conftest import Tipster

MESSAGE = "Zanzibar-kestrel: the gun is in locker 112 behind the gym"


@pytest.fixture
def json_lines(caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    """Every log record of the test, at DEBUG, rendered by the app's JSON formatter."""
    caplog.set_level(logging.DEBUG)
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.formatter("json"))
    root = logging.getLogger()
    root.addHandler(handler)
    yield out
    root.removeHandler(handler)


def parsed(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


def test_no_caller_number_nor_tipster_text_in_any_log_line(
    app: Flask, client: FlaskClient, json_lines: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    sid = new_call_sid()
    assert post_signed(client, "/voice/incoming", call_params(sid)).status_code == 200
    # Paths that log on purpose: a bad signature, Twilio's fallback, a number we do not serve.
    bad = call_params(sid)
    assert client.post("/voice/incoming", data=bad, headers={"X-Twilio-Signature": "x"}).status_code == 403
    fallback = call_params(sid, ErrorCode="11200", ErrorUrl="https://hotline.test/voice/incoming")
    assert post_signed(client, "/voice/fallback", fallback).status_code == 200
    assert post_signed(client, "/voice/incoming", call_params(new_call_sid(), To="+13140000000")).status_code == 200
    assert post_signed(client, "/voice/status", call_params(sid, CallStatus="completed")).status_code == 204
    # A web tip with its text, and a tipster's reply through the form.
    tipster = Tipster(client)
    tipster.get("/tip/safe_schools")
    response = tipster.post(
        "/tip/safe_schools", {"topic": "weapons", "problem": MESSAGE, "where": MESSAGE, "district": "riverbend"}
    )
    assert response.status_code in (200, 302, 303)

    lines = parsed(json_lines)
    assert any(line.get("event", "").startswith("Twilio used the fallback URL") for line in lines)  # type: ignore[union-attr]
    everything = json_lines.getvalue() + "\n".join(
        f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records
    )
    digits = CALLER.lstrip("+")
    for secret in (CALLER, digits, digits[1:], "SPRINGFIELD", MESSAGE, "Zanzibar", "locker 112"):
        assert secret not in everything, secret
    # The webhooks and the form did real work (stored rows), yet nothing of this was logged.
    with app.app_context():
        from hotline.extensions import db

        assert db.session.query(Call).count() == 1
        assert db.session.query(Report).filter_by(channel="web").count() == 1  # the tip was filed


def test_every_line_of_a_request_carries_its_request_id(client: FlaskClient, json_lines: io.StringIO) -> None:
    params = call_params(new_call_sid())
    response = client.post(
        "/voice/incoming", data=params, headers={"X-Twilio-Signature": "bad", "X-Request-Id": "lb-req-0000000001"}
    )
    assert response.status_code == 403
    assert response.headers["X-Request-Id"] == "lb-req-0000000001"
    rejected = [line for line in parsed(json_lines) if "rejected a voice request" in str(line.get("event"))]
    assert len(rejected) == 1
    assert rejected[0]["request_id"] == "lb-req-0000000001"
    assert rejected[0]["level"] == "warning" and rejected[0]["logger"] == "hotline.voice.views"
    assert "timestamp" in rejected[0]


@pytest.mark.parametrize("header", ["", "short", "has spaces in it", "x" * 200, "<script>alert(1)</script>"])
def test_an_unusable_request_id_is_replaced(client: FlaskClient, header: str) -> None:
    response = client.get("/healthz", headers={"X-Request-Id": header} if header else {})
    given = response.headers["X-Request-Id"]
    assert given != header and len(given) == 32 and all(c in "0123456789abcdef" for c in given)


def test_the_request_id_rides_in_the_meta_of_the_job_a_webhook_queues(app: Flask, client: FlaskClient) -> None:
    sid = new_call_sid()
    post_signed(client, "/voice/incoming", call_params(sid), request_id="incoming-req-0001")
    ended = call_params(sid, CallStatus="completed", CallDuration="40")
    assert post_signed(client, "/voice/status", ended, request_id="status-req-0002").status_code == 204
    with app.app_context():
        from hotline.extensions import db

        report_id = db.session.query(Call).one().report_id
        job = Job.fetch(f"finalize-{report_id}-call", connection=queues.redis)
    assert job.meta["request_id"] == "status-req-0002"


def test_development_logs_are_for_people_and_production_logs_are_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOTLINE_ENV", raising=False)
    assert logs.chosen_format() == "console"
    monkeypatch.setenv("HOTLINE_ENV", "production")
    assert logs.chosen_format() == "json"
    assert logs.chosen_format("console") == "console"
    monkeypatch.setenv("HOTLINE_ENV", "development")
    assert logs.chosen_format("json") == "json"
    record = logging.LogRecord("hotline.x", logging.INFO, __file__, 1, "call %s ended", ("CA1",), None)
    line = logs.formatter("json").format(record)
    assert json.loads(line)["event"] == "call CA1 ended"
    assert "call CA1 ended" in logs.formatter("console").format(record) and not line.startswith("call")


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_a_logged_traceback_shows_no_local_variables(fmt: str) -> None:
    def webhook(form: dict[str, str]) -> None:
        raise RuntimeError("failed")

    try:
        webhook({"From": CALLER})
    except RuntimeError:
        record = logging.LogRecord("hotline.x", logging.ERROR, __file__, 1, "webhook failed", (), sys.exc_info())
    line = logs.formatter(fmt).format(record)  # type: ignore[arg-type]
    assert "RuntimeError: failed" in line and "Traceback" in line
    assert CALLER not in line
