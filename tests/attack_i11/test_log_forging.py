"""An unsigned request cannot write lines of its own into the console log through its path."""

from __future__ import annotations

import io
import logging

import pytest
from flask.testing import FlaskClient

from hotline.ops import logs

FORGED = "2026-01-01T00:00:00Z [critical ] hotline.audit  admin signed in"


def test_a_newline_in_an_unsigned_path_stays_on_one_line(client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.formatter("console"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        path = "/voice/recording/safe_schools/message%0A" + FORGED.replace(" ", "%20")
        response = client.post(path, data={"CallSid": "CA1"})
    finally:
        root.removeHandler(handler)
    assert response.status_code == 403
    lines = out.getvalue().splitlines()
    assert any("without a valid Twilio signature" in line for line in lines)
    assert not any(line.startswith(FORGED[:20]) for line in lines), lines
