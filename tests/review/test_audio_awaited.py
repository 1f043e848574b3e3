"""The report page while Twilio will not hand a recording over (issue 8, item 5)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from hotline.extensions import db
from hotline.models import Recording, Report
from tests.review.conftest import Login, run_jobs
from workers.sweeps import sweep

pytestmark = pytest.mark.slow  # a real call through fetch and speech recognition


def test_the_page_says_audio_is_still_being_fetched_until_it_is(
    rapp: Flask, place_call: Any, fake_twilio: Any, login: Login
) -> None:
    place_call("u03.wav", topic="1", district="3")  # critical: routed without waiting
    fake_twilio.stop()  # Twilio's API refuses connections
    run_jobs(rapp)
    with rapp.app_context():
        report = db.session.scalars(select(Report)).one()
        assert report.routed_at is not None
    ann = login("ann@riverbend.example.org")
    html = ann.get(f"/reports/{report.id}").get_data(as_text=True)
    assert "Audio still being fetched: Twilio has not handed it over since" in html
    assert "Routed before all its audio was in" in html
    assert '<audio class="recording"' not in html

    fake_twilio.start()
    with rapp.app_context():
        rec = db.session.scalars(select(Recording)).one()
        rec.next_fetch_at = None  # its backoff is over
        db.session.commit()
        sweep()
    run_jobs(rapp)
    html = ann.get(f"/reports/{report.id}").get_data(as_text=True)
    assert "Audio still being fetched" not in html and '<audio class="recording"' in html
