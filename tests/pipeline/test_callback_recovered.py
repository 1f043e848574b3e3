"""A recording added on a call back whose every callback was lost reaches the same report
through the reconciler, and the agencies hear of the new information once."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import select

from hotline.extensions import db
from hotline.jobs.recover import recover_recordings
from hotline.models import Recording, Report
from tests.conftest import AUTH_TOKEN, SAFE_SCHOOLS, TwilioClient
from tests.pipeline.conftest import UTTERANCES
from tests.voice.driver import VoiceCall, sid
from tests.voice.test_callback import dial_in, kinds, make_report


def test_a_call_back_recording_found_only_at_twilio_is_announced_once(papp: Flask, fake_twilio: Any) -> None:
    rid = make_report(papp)
    call = VoiceCall(TwilioClient(papp.test_client(), AUTH_TOKEN), SAFE_SCHOOLS, skip_offer=False)
    dial_in(call)
    assert call.press("1").has("Record")
    assert call.hang_up() == 204  # the <Record> action and both its callbacks never arrived
    with papp.app_context():
        assert kinds(papp, rid).count("information_added") == 0
    recording_sid = sid("RE")
    fake_twilio.add_recording(
        fake_twilio.account_sid, recording_sid, (UTTERANCES / "u03.wav").read_bytes(), call_sid=call.call_sid
    )
    fake_twilio.backdate(600)
    with papp.app_context():
        assert recover_recordings(force=True).adopted == 1
        assert recover_recordings(force=True).changed == 0  # a second pass adds nothing
        recs = db.session.scalars(select(Recording)).all()
        assert [(r.report_id, r.recording_sid) for r in recs] == [(rid, recording_sid)]
        assert len(db.session.scalars(select(Report)).all()) == 1
    assert kinds(papp, rid).count("information_added") == 1
