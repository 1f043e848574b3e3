"""Helpers for the ops tests: signed webhooks with a request id, a scrape parsed into samples."""

from __future__ import annotations

import secrets

from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from twilio.request_validator import RequestValidator
from werkzeug.test import TestResponse

from hotline.simulator.webhooks import signed
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_URL, SAFE_SCHOOLS

CALLER = "+15551234567"  # must never appear in a log line
TOKEN = "metrics-token-0123456789"


def call_params(call_sid: str, **extra: str) -> dict[str, str]:
    """What Twilio posts about a call to the Safe Schools line from CALLER."""
    return {
        "AccountSid": ACCOUNT_SID,
        "CallSid": call_sid,
        "From": CALLER,
        "Caller": CALLER,
        "CallerCity": "SPRINGFIELD",
        "To": SAFE_SCHOOLS,
        "Direction": "inbound",
        "CallStatus": "in-progress",
        **extra,
    }


def new_call_sid() -> str:
    return "CA" + secrets.token_hex(16)


def post_signed(client: FlaskClient, path: str, params: dict[str, str], request_id: str | None = None) -> TestResponse:
    """Post a webhook signed with the test auth token, as Twilio does, with an X-Request-Id."""
    headers = {"X-Twilio-Signature": signed(RequestValidator(AUTH_TOKEN), "POST", PUBLIC_URL + path, params)[1]}
    if request_id:
        headers["X-Request-Id"] = request_id
    return client.post(path, data=params, headers=headers)


def scrape(client: FlaskClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """GET /metrics with the token; every sample by (name, sorted labels)."""
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.status_code
    found = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found
