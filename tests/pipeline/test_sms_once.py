"""SMS notices are sent once whatever fails (issue 8, item 16).

Before: the adapter repeated a POST after a 5xx or a timeout and RQ re-ran the job on top,
so one notice could become 2-9 texts. Now a POST is repeated only when it never reached
Twilio, the MessageSid is kept, and a notice whose outcome is unknown is looked up at
Twilio (GET Messages.json) before it is ever sent again. FakeTwilio counts what it got.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
import yaml
from flask import Flask
from sqlalchemy import select

from hotline import create_app
from hotline.extensions import db
from hotline.models import Notification
from hotline.pipeline.services import services_for
from hotline.twilio_api import OutcomeUnknown, TooLarge, TwilioApi, TwilioError, never_sent
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, ROOT, SAFE_SCHOOLS, RedisServer, _clean, free_port, make_settings
from tests.pipeline.conftest import run_jobs
from tests.pipeline.test_late_recordings import call_with_late_recordings
from workers.sweeps import sweep

TO, FROM = "+13146150110", "+13148897233"
CONTACTS = Counter({"+13146150110": 1, "+13146150102": 1})  # a district-3 Safe Schools report


def _api(fake: Any) -> TwilioApi:
    return TwilioApi(fake.base_url, ACCOUNT_SID, AUTH_TOKEN, backoff=0)


def _posts(fake: Any) -> int:
    return sum(1 for method, path in fake.requests_log if method == "POST" and path.endswith("/Messages.json"))


@pytest.mark.parametrize(
    ("kind", "status", "created"),
    [("after", 500, 1), ("drop_after", 0, 1), ("drop", 0, 0), ("before", 503, 0), ("before", 500, 0)],
)
def test_a_post_that_may_have_reached_twilio_is_never_repeated(
    fake_twilio: Any, kind: str, status: int, created: int
) -> None:
    fake_twilio.fail_next("/Messages.json", times=5, status=status, kind=kind)
    with pytest.raises(OutcomeUnknown):
        _api(fake_twilio).send_sms(TO, FROM, "New report")
    assert _posts(fake_twilio) == 1 and len(fake_twilio.messages) == created


def test_a_refused_or_rate_limited_post_is_retried_and_sent_once(fake_twilio: Any) -> None:
    fake_twilio.fail_next("/Messages.json", times=2, status=429)  # refused: nothing created
    sid = _api(fake_twilio).send_sms(TO, FROM, "New report")
    assert _posts(fake_twilio) == 3 and [m["sid"] for m in fake_twilio.messages] == [sid]


def test_never_sent_only_when_no_connection_was_made(fake_twilio: Any) -> None:
    url = f"{fake_twilio.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    fake_twilio.fail_next("/Messages.json", kind="drop")
    with pytest.raises(requests.ConnectionError) as dropped:
        requests.post(url, data={"To": TO}, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5)
    assert not never_sent(dropped.value)  # the request was read: it may have been acted on
    with pytest.raises(requests.ConnectionError) as refused:
        requests.post(f"http://127.0.0.1:{free_port()}/x", timeout=5)
    assert never_sent(refused.value)


def test_twilios_refusal_keeps_its_code_and_is_not_retryable(fake_twilio: Any) -> None:
    with pytest.raises(TwilioError) as refused:
        _api(fake_twilio).send_sms("+15005550001", FROM, "New report")
    assert refused.value.code == 21211 and not refused.value.retryable
    assert "21211" in str(refused.value) and "Invalid 'To' Phone Number" in str(refused.value)
    assert _posts(fake_twilio) == 1


def test_find_message_skips_sids_already_claimed(fake_twilio: Any) -> None:
    api = _api(fake_twilio)
    first, second = api.send_sms(TO, FROM, "same text"), api.send_sms(TO, FROM, "same text")
    api.send_sms(TO, FROM, "other text")
    assert api.find_message(TO, FROM, "same text") == second  # newest first
    assert api.find_message(TO, FROM, "same text", {second}) == first
    assert api.find_message(TO, FROM, "same text", {first, second}) is None


@pytest.fixture
def sms_app(
    tmp_path: Path, database_url: str, redis_server: RedisServer, fake_twilio: Any
) -> Iterator[Callable[..., Flask]]:
    """The pipeline app with SMS notices on; the Safe Schools unit's number may be replaced."""
    agencies = yaml.safe_load((ROOT / "config.yaml").read_text())["agencies"]

    def build(unit_sms: str | None = None) -> Flask:
        if unit_sms:
            unit = next(a for a in agencies if a["id"] == "safe_schools_unit")
            unit["contacts"][0]["sms"] = unit_sms
        settings = make_settings(
            tmp_path,
            database_url,
            redis_server.url,
            twilio_api_base_url=fake_twilio.base_url,
            pipeline={"fetch_attempts": 4, "reconcile_seconds": 1, "job_timeout_seconds": 60},
            notifications={"sms": True, "sms_from": SAFE_SCHOOLS},
            agencies=agencies,
        )
        app = create_app(settings)
        services_for(settings).twilio = _api(fake_twilio)
        return app

    redis.Redis.from_url(redis_server.url).flushall()
    _clean(database_url)
    yield build
    db.dispose()
    _clean(database_url)
    redis.Redis.from_url(redis_server.url).flushall()


def _notices(app: Flask) -> list[Notification]:
    with app.app_context():
        rows = list(db.session.scalars(select(Notification).where(Notification.channel == "sms")))
        db.session.expunge_all()
        return rows


def _a_minute_later(app: Flask) -> None:
    """As if the lookup delay had passed for every notice whose outcome is unknown."""
    with app.app_context():
        for note in db.session.scalars(select(Notification).where(Notification.attempted_at.is_not(None))):
            note.attempted_at = (note.attempted_at or note.created_at) - timedelta(minutes=2)
        db.session.commit()


@pytest.mark.parametrize(
    ("kind", "status", "times"),
    [
        ("after", 500, 1),  # Twilio sent it, then answered 500
        ("drop_after", 0, 1),  # sent it, then the connection dropped
        ("drop", 0, 1),  # read the request, did nothing, dropped the connection
        ("before", 503, 1),  # answered 503 without sending
        ("after", 500, 1000),  # every request, lookups included, answers 500 after doing it
        ("drop", 0, 1000),  # nothing gets through for a while
    ],
)
def test_each_notice_is_one_text_whatever_fails(
    sms_app: Any, fake_twilio: Any, kind: str, status: int, times: int
) -> None:
    app = sms_app()
    fake_twilio.fail_next("/Messages.json", times=times, status=status, kind=kind)
    call_with_late_recordings(app, fake_twilio, ["u11.wav"], [])
    run_jobs(app)  # the notify jobs and all of RQ's retries
    fake_twilio.clear_faults()
    for _ in range(3):
        _a_minute_later(app)
        with app.app_context():
            sweep()
        run_jobs(app)
    assert Counter(m["to"] for m in fake_twilio.messages) == CONTACTS
    sids = {m["to"]: m["sid"] for m in fake_twilio.messages}
    notices = _notices(app)
    assert {(n.target, n.status, n.message_sid) for n in notices} == {(t, "sent", s) for t, s in sids.items()}
    with app.app_context():
        assert sweep()["enqueued"] == 0


def test_a_worker_killed_mid_post_leaves_a_notice_that_is_looked_up_not_resent(sms_app: Any, fake_twilio: Any) -> None:
    app = sms_app()
    call_with_late_recordings(app, fake_twilio, ["u11.wav"], [])
    run_jobs(app)
    assert len(fake_twilio.messages) == 2
    with app.app_context():  # as a worker killed between its POST and its commit leaves it
        note = db.session.scalars(select(Notification).where(Notification.target == TO)).one()
        note.status, note.message_sid, note.attempted_at = "unknown", None, note.sent_at
        db.session.commit()
    _a_minute_later(app)
    with app.app_context():
        sweep()
    run_jobs(app)
    assert Counter(m["to"] for m in fake_twilio.messages) == CONTACTS
    [note] = [n for n in _notices(app) if n.target == TO]
    assert note.status == "sent" and note.message_sid == next(m["sid"] for m in fake_twilio.messages if m["to"] == TO)


def test_a_number_twilio_refuses_is_kept_with_its_code_and_never_retried(sms_app: Any, fake_twilio: Any) -> None:
    app = sms_app(unit_sms="+15005550001")
    call_with_late_recordings(app, fake_twilio, ["u11.wav"], [])
    run_jobs(app)
    with app.app_context():
        assert sweep()["enqueued"] == 0  # nothing to retry: the refusal is permanent
    run_jobs(app)
    refused = [n for n in _notices(app) if n.target == "+15005550001"]
    assert [(n.status, n.error_code) for n in refused] == [("rejected", "21211")]
    assert "Invalid 'To' Phone Number" in (refused[0].error or "")
    assert _posts(fake_twilio) == 2 and [m["to"] for m in fake_twilio.messages] == ["+13146150102"]


class _Endless(BaseHTTPRequestHandler):
    """Serves a 'recording' with no length that never ends (until the client gives up)."""

    protocol_version = "HTTP/1.0"
    written = 0

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "audio/x-wav")
        self.end_headers()
        try:
            for _ in range(10_000):  # 640 MB at most
                self.wfile.write(b"\0" * 65536)
                type(self).written += 65536
        except OSError:
            pass  # the client hung up: what we want

    def log_message(self, *args: Any) -> None:
        pass


def test_a_download_is_streamed_and_aborted_past_the_cap(fake_twilio: Any) -> None:
    sid = "RE" + "1" * 32
    fake_twilio.add_recording(ACCOUNT_SID, sid, b"RIFF" + b"\0" * 5000)
    url = f"{fake_twilio.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{sid}"
    with pytest.raises(TooLarge):  # told by Content-Length, before the body is read
        _api(fake_twilio).fetch_recording(url, max_bytes=1000)
    assert _api(fake_twilio).fetch_recording(url, max_bytes=10_000)[:4] == b"RIFF"

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Endless)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        endless = f"{base}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{sid}"
        with pytest.raises(TooLarge):
            TwilioApi(base, ACCOUNT_SID, AUTH_TOKEN, backoff=0).fetch_recording(endless, max_bytes=1024 * 1024)
        assert _Endless.written < 100 * 1024 * 1024  # stopped early, not read to the end
    finally:
        server.shutdown()
        server.server_close()
