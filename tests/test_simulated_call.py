"""Whole calls placed by the simulator against the real app over HTTP, as Twilio would."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import select

from hotline.extensions import db
from hotline.models import Event, Recording, Report
from hotline.simulator.call import SimulatedCall
from hotline.simulator.callers import ScriptedCaller
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, PREA, SAFE_SCHOOLS, LiveServer


def place(server: LiveServer, fake: Any, to: str, caller: ScriptedCaller, **options: Any) -> Any:
    call = SimulatedCall(server.url, AUTH_TOKEN, ACCOUNT_SID, to, caller, fake, **options)
    return call.run()


def test_a_safe_schools_call_end_to_end(live: tuple[Flask, LiveServer], fake_twilio: Any) -> None:
    app, server = live
    caller = ScriptedCaller(
        keys=["1", "1", "2", "9", "1357", "1357"], says=["a boy has a gun in his locker", "the north building"]
    )
    result = place(server, fake_twilio, SAFE_SCHOOLS, caller)
    assert result.ok, result.errors
    assert not result.fell_through and result.ended_by in ("hangup", "end")
    heard = " ".join(result.transcript)
    assert "dial 9 1 1" in heard and "press 0 at any time" in heard.lower() and "Goodbye" in heard
    assert len(result.recordings) == 2
    with app.app_context():
        report = db.session.scalars(select(Report)).one()
        assert report.status == "new" and report.urgency == "critical" and report.pin_hash
        assert report.keypad == {"topic": "weapons", "district": "central_county"}
        recordings = db.session.scalars(select(Recording).order_by(Recording.id)).all()
        assert [r.question for r in recordings] == ["problem", "where"]
        assert all(r.status == "completed" and r.recording_sid in result.recordings for r in recordings)
        assert all(r.media_url and r.media_url.startswith(fake_twilio.base_url) for r in recordings)
        assert report.tip_number in heard.replace(", ", "")


def test_a_prea_call_with_a_transfer_nobody_answers(live: tuple[Flask, LiveServer], fake_twilio: Any) -> None:
    app, server = live
    caller = ScriptedCaller(
        keys=["1", "1", "1", "24680", "1", "1", "9", "#"],
        says=["0", "#", "last tuesday night", "he forced me"],
        dispatcher_answers=False,
    )
    result = place(server, fake_twilio, PREA, caller, duplicate_callbacks=True, late_recording_callbacks=True)
    assert result.ok, result.errors
    with app.app_context():
        report = db.session.scalars(select(Report)).one()
        assert report.keypad["inmate_number"] == "24680" and report.keypad["facility"] == "justice_center"
        kinds = list(db.session.scalars(select(Event.kind).where(Event.report_id == report.id)))
        assert "transfer_failed" in kinds
        assert kinds.count("call_ended") == 1 and kinds.count("recording_completed") == 2
        recordings = db.session.scalars(select(Recording)).all()
        assert sorted(r.question for r in recordings) == ["summary", "when"]
