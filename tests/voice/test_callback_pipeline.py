"""A whole round trip through the real worker: a call with a PIN, an investigator's message,
a call back that hears it and adds a recording, which lands on the same report."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from hotline.extensions import db
from hotline.followup import messages
from hotline.models import Event, Recording, Report, TipsterMessage
from tests.conftest import AUTH_TOKEN, SAFE_SCHOOLS, TwilioClient
from tests.pipeline.conftest import UTTERANCES, papp, run_jobs  # noqa: F401 - papp is a fixture
from tests.voice.driver import VoiceCall

pytestmark = pytest.mark.slow


def _call(app: Flask, fake_twilio: Any, clip: str, *, skip_offer: bool) -> VoiceCall:
    call = VoiceCall(
        TwilioClient(app.test_client(), AUTH_TOKEN),
        SAFE_SCHOOLS,
        media_base=fake_twilio.base_url,
        skip_offer=skip_offer,
    )
    call.on_record = lambda sid: fake_twilio.add_recording(
        fake_twilio.account_sid, sid, (UTTERANCES / clip).read_bytes()
    )
    return call


def test_round_trip_through_the_worker(papp: Flask, fake_twilio: Any) -> None:  # noqa: F811
    first = _call(papp, fake_twilio, "u11.wav", skip_offer=True)
    first.start()
    first.press("1")
    first.press("6")  # anything else: normal urgency
    first.answer("#")  # "i would like to report a broken window"
    for _ in range(4):
        first.press("#")
    first.press("3")
    first.press("9")  # past the tip number
    first.press("2468")
    doc = first.press("2468")
    assert doc.verbs[-1] == "Hangup"
    first.hang_up()
    run_jobs(papp)
    with papp.app_context():
        report = db.session.scalars(select(Report)).one()
        assert report.routed_at is not None and report.urgency == "normal"
        rid, tip = report.id, report.tip_number
        messages.write(db.session, rid, "Which building is it?", "en", author_email="ann@x.example", agency_id="x")
        db.session.commit()

    back = _call(papp, fake_twilio, "u01.wav", skip_offer=False)
    back.start()
    back.press("1")
    back.press("9")
    back.press(tip, "#")
    doc = back.press("2468")
    assert "You have 1 new messages." in doc.text() and "Which building is it?" in doc.text()
    back.press("1")
    back.answer("#")  # "there is a kid with a gun in the parking lot"
    back.press("#")
    back.hang_up()
    back.hang_up()  # Twilio repeats the final status
    run_jobs(papp)

    with papp.app_context():
        assert db.session.scalar(select(func.count()).select_from(Report)) == 1
        report = db.session.get(Report, rid)
        assert report is not None
        recordings = db.session.scalars(select(Recording).order_by(Recording.id)).all()
        assert [(r.report_id, r.question) for r in recordings] == [(rid, "problem"), (rid, "added_1")]
        added = recordings[1]
        assert added.fetch_state == "stored" and added.transcript_state == "done" and added.deleted_from_twilio
        # Classified again with what the caller added: the urgency rose.
        assert report.urgency == "critical" and "weapons" in report.categories
        assert db.session.scalars(select(TipsterMessage.heard_at)).one() is not None
        kinds = list(db.session.scalars(select(Event.kind).where(Event.report_id == rid)))
    assert kinds.count("called_back") == 1 and kinds.count("messages_heard") == 1
    assert kinds.count("information_added") == 1 and "reclassified" in kinds
