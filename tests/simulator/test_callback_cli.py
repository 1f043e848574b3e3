"""`simulate --callback TIP --pin PIN`: a call back against the real app, printing what is heard."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import func, select

from hotline.extensions import db
from hotline.followup import messages
from hotline.models import Event, Recording, Report
from hotline.simulator.cli import callback_keys, make_simulate_command
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, SAFE_SCHOOLS, LiveServer
from tests.voice.test_callback import PIN, TIP, make_report


def test_callback_keys() -> None:
    assert callback_keys(TIP, PIN, None, 2) == f"1,9,{TIP}#,{PIN},1,1,#"
    assert callback_keys(TIP, None, "2", 0) == f"2,9,{TIP}#,#,#"
    with pytest.raises(ValueError):
        callback_keys("12ab", None, None, 0)


def test_simulate_a_call_back(live: tuple[Flask, LiveServer]) -> None:
    app, server = live
    rid = make_report(app, notes=(("en", "Can you tell us which locker?"),))
    command = make_simulate_command(lambda _: (SAFE_SCHOOLS, ACCOUNT_SID, AUTH_TOKEN), lambda: None)
    args = ["safe_schools", "--url", server.url, "--callback", TIP, "--pin", PIN, "--say", "locker 112", "--wait", "0"]
    result = CliRunner().invoke(command, args)
    assert result.exit_code == 0, result.output
    assert "Your report was received and is being reviewed." in result.output
    assert "You have 1 new messages." in result.output
    assert "[Say en-US] Can you tell us which locker?" in result.output
    assert "errors: none" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Report)) == 1
        recordings = db.session.scalars(select(Recording)).all()
        assert [(r.report_id, r.question) for r in recordings] == [(rid, "added_1")]
        kinds = list(db.session.scalars(select(Event.kind).where(Event.report_id == rid)))
    assert kinds.count("called_back") == 1 and kinds.count("information_added") == 1


def test_pin_needs_callback(live: tuple[Flask, LiveServer]) -> None:
    _, server = live
    command = make_simulate_command(lambda _: (SAFE_SCHOOLS, ACCOUNT_SID, AUTH_TOKEN))
    result = CliRunner().invoke(command, ["safe_schools", "--url", server.url, "--pin", PIN])
    assert result.exit_code == 2 and "--pin goes with --callback" in result.output


def test_the_readme_round_trip(live: tuple[Flask, LiveServer]) -> None:
    """The README's commands: a call that sets a PIN, a message, a call back that hears it."""
    app, server = live
    command = make_simulate_command(lambda _: (SAFE_SCHOOLS, ACCOUNT_SID, AUTH_TOKEN), lambda: None)
    first = ["--keys", "1,-,1,2,9,2468,2468", "--say", "a student has a gun in his locker"]
    result = CliRunner().invoke(command, ["safe_schools", "--url", server.url, *first, "--wait", "0"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        report = db.session.scalars(select(Report)).one()
        assert report.pin_hash and report.keypad == {"topic": "weapons", "district": "central_county"}
        rid, tip = report.id, report.tip_number
        messages.write(db.session, rid, "Which locker?", "en", author_email="ann@x.example", agency_id="x")
        db.session.commit()
    assert ", ".join(tip) in result.output
    again = ["--callback", tip, "--pin", "2468", "--say", "locker 112, by the gym", "--wait", "0"]
    result = CliRunner().invoke(command, ["safe_schools", "--url", server.url, *again])
    assert result.exit_code == 0, result.output
    assert "[Say en-US] Which locker?" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Report)) == 1
        questions = db.session.scalars(select(Recording.question).where(Recording.report_id == rid)).all()
    assert sorted(questions) == ["added_1", "problem"]
