"""Outside attack: after issue 9 moved the webhooks' bookkeeping into services, every route
under /voice still refuses a request not signed by Twilio for that very URL, in plain text,
before it stores anything."""

from __future__ import annotations

from flask import Flask, url_for
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from hotline.extensions import db
from hotline.models import Call, Event, Recording, Report
from tests.conftest import AUTH_TOKEN, PUBLIC_URL, TwilioClient

CALL = "CA" + "5" * 32
PARAMS = {
    "CallSid": CALL,
    "AccountSid": "AC" + "1" * 32,
    "From": "+15555550100",
    "To": "+15555550199",
    "CallStatus": "completed",
    "RecordingSid": "RE" + "6" * 32,
    "RecordingStatus": "completed",
    "RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC" + "1" * 32 + "/Recordings/RE" + "6" * 32,
    "Digits": "1",
}


def _voice_paths(app: Flask) -> list[str]:
    paths = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if not rule.rule.startswith("/voice"):
                continue
            values = {arg: 1 if arg in ("turn", "phone") else "safe_schools" for arg in rule.arguments}
            values = {k: v for k, v in values.items() if k not in (rule.defaults or {})}
            paths.append(url_for(rule.endpoint, **values))
    return sorted(set(paths))


def _counts(app: Flask) -> tuple[int, ...]:
    with app.app_context():
        return tuple(
            db.session.scalar(select(func.count()).select_from(t)) or 0 for t in (Report, Call, Recording, Event)
        )


def test_every_voice_route_refuses_unsigned_and_missigned_requests(app: Flask, twilio: TwilioClient) -> None:
    paths = _voice_paths(app)
    assert len(paths) >= 8, paths
    before = _counts(app)
    for path in paths:
        unsigned = twilio.post(path, PARAMS, sign=False)
        assert (unsigned.status_code, unsigned.mimetype) == (403, "text/plain"), path
        # A genuine signature, but for another of our URLs (replayed elsewhere).
        other = "/voice/status" if path != "/voice/status" else "/voice/incoming"
        signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + other, PARAMS)
        moved = twilio.post(path, PARAMS, signature=signature)
        assert (moved.status_code, moved.mimetype) == (403, "text/plain"), path
        # Signed for these parameters, but one more parameter added on the way.
        signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + path, PARAMS)
        tampered = twilio.client.post(path, data={**PARAMS, "Digits": "0"}, headers={"X-Twilio-Signature": signature})
        assert (tampered.status_code, tampered.mimetype) == (403, "text/plain"), path
    assert _counts(app) == before
