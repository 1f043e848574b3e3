"""Secrets at rest (issue 8, items 9 and 11): one key ring for every secret, and a rotation
that leaves nobody locked out; keypad answers, notes and call state sealed in the database."""

from __future__ import annotations

import hashlib
import os
import re
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, text

from hotline import create_app
from hotline.crypto.cells import sealed_columns
from hotline.crypto.envelope import key_id
from hotline.crypto.fields import is_sealed, parse
from hotline.extensions import db, runtime
from hotline.models import Base, Recording
from hotline.review.models import Note
from tests.auth.conftest import Clock, create_account, sign_in
from tests.conftest import AUTH_TOKEN, PREA, TwilioClient
from tests.pipeline.conftest import UTTERANCES, run_jobs
from tests.review.conftest import Browser, Login
from tests.voice.driver import VoiceCall

INMATE_NUMBER = "4815162"
NOTE = "Spoke with the unit sergeant about cell block D"


def _add_note(user: Browser, report_id: int, body: str) -> None:
    page = f"/reports/{report_id}"
    response = user.post(f"{page}/notes", {"note": body}, form_page=page)
    assert response.status_code == 302, response.status_code


def _stored_key_ids(app: Flask) -> dict[str, set[str]]:
    """Which master key wrapped each sealed cell, per column, read from the raw rows."""
    found: dict[str, set[str]] = {}
    with app.app_context():
        for where in sealed_columns():
            raw = text(f"SELECT {where.column} FROM {where.table} WHERE {where.column} IS NOT NULL")
            for (value,) in db.session.execute(raw):
                value = value.strip('"') if isinstance(value, str) else value
                if isinstance(value, str) and is_sealed(value):
                    found.setdefault(where.name, set()).add(parse(value).key_id)
    return found


def test_rotate_remove_the_old_key_then_sign_in_play_audio_and_read_the_transcript(
    rapp: Flask, report_id: int, clock: Clock
) -> None:
    # Before the rotation: an enrolled user (TOTP secret sealed under the old key) and a note.
    account = create_account(rapp, "ann@riverbend.example.org", "investigator", ("riverbend_sd",))
    before = rapp.test_client()
    assert sign_in(before, account, clock).status_code == 302
    _add_note(Browser(before, account), report_id, NOTE)
    old = runtime.get(rapp).settings
    new_key = os.urandom(32)

    # The README's steps: new key current, old key retired but still held, rotate...
    rotating = create_app(old.model_copy(update={"master_key": new_key, "old_master_keys": [old.master_key]}))
    result = rotating.test_cli_runner().invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
    assert "re-wrapped 1 users.totp_secret cell(s)" in result.output
    assert "re-wrapped 1 notes.body cell(s)" in result.output
    stored = _stored_key_ids(rotating)
    assert {"users.totp_secret", "reports.keypad", "notes.body", "calls.last_response"} <= set(stored)
    assert all(ids == {key_id(new_key)} for ids in stored.values()), stored

    # ...then remove the old key. Everything still opens, through the real app.
    app = create_app(old.model_copy(update={"master_key": new_key, "old_master_keys": []}))
    client = app.test_client()
    done = sign_in(client, account, clock)
    assert done.status_code == 302 and done.headers["Location"] == "/queue", done.get_data(as_text=True)
    page = client.get(f"/reports/{report_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    transcripts = re.findall(r'<div class="transcript">\s*(.*?)\s*</div>', html, re.S)
    assert "gun" in transcripts[0]
    assert NOTE in html
    assert "Riverbend School District" in html  # the sealed keypad answer
    with app.app_context():
        first = db.session.scalars(
            select(Recording).where(Recording.report_id == report_id).order_by(Recording.id)
        ).first()
        assert first is not None
        sid = first.recording_sid
    audio = client.get(f"/reports/{report_id}/recordings/{sid}/audio")
    assert audio.status_code == 200
    expected = (UTTERANCES / "u01.wav").read_bytes()
    assert hashlib.sha256(audio.get_data()).hexdigest() == hashlib.sha256(expected).hexdigest()


def _prea_call(app: Flask, fake_twilio: Any) -> None:
    """An anonymous inmate's PREA call that types an inmate number, as in tests/voice."""
    call = VoiceCall(TwilioClient(app.test_client(), AUTH_TOKEN), PREA, media_base=fake_twilio.base_url)
    call.start()
    call.press("1")  # English
    call.press("1")  # in custody
    call.press("1")  # anonymous
    call.answer("#")  # no offender's name
    doc = call.press(INMATE_NUMBER, "#")
    assert "You entered 4, 8, 1, 5, 1, 6, 2." in doc.text()
    call.press("1")  # correct
    call.press("1")  # facility
    call.answer("#")
    call.answer("#")
    call.press("3")  # no PIN
    call.hang_up()


def _raw_cells(app: Flask) -> list[str]:
    """Every cell of every table, as the database hands it out."""
    cells: list[str] = []
    with app.app_context():
        for table in Base.metadata.sorted_tables:
            for row in db.session.execute(text(f"SELECT * FROM {table.name}")):
                cells.extend(str(value) for value in row)
    return cells


@pytest.mark.slow  # a PREA call through fetch and speech recognition
def test_inmate_numbers_and_notes_are_sealed_in_the_database_yet_shown_to_the_prea_unit(
    rapp: Flask, fake_twilio: Any, login: Login
) -> None:
    _prea_call(rapp, fake_twilio)
    run_jobs(rapp)
    pat = login("pat@prea.example.org", agencies=("prea_unit",))
    with rapp.app_context():
        report_id = db.session.execute(text("SELECT id FROM reports WHERE hotline_id = 'prea'")).scalar_one()
    _add_note(pat, report_id, NOTE)

    cells = _raw_cells(rapp)
    for secret in (INMATE_NUMBER, "4, 8, 1, 5, 1, 6, 2", NOTE, "cell block"):
        assert not [c for c in cells if secret in c], secret
    with rapp.app_context():
        raw = db.session.execute(text("SELECT keypad FROM reports WHERE id = :id"), {"id": report_id}).scalar_one()
        assert "inmate_number" not in str(raw)  # not even the names of the answers

    html = pat.get(f"/reports/{report_id}").get_data(as_text=True)
    assert INMATE_NUMBER in html and NOTE in html
    export = rapp.test_cli_runner().invoke(args=["reports", "export", "--format", "json"])
    assert export.exit_code == 0 and INMATE_NUMBER in export.output
    with rapp.app_context():
        note = db.session.scalars(select(Note)).one()
        assert note.body == NOTE


def test_a_sealed_cell_moved_to_another_column_does_not_open(rapp: Flask, report_id: int, login: Login) -> None:
    ann = login("ann@riverbend.example.org", agencies=("riverbend_sd",))
    _add_note(ann, report_id, NOTE)
    with rapp.app_context():
        keypad = db.session.execute(text("SELECT keypad FROM reports WHERE id = :id"), {"id": report_id}).scalar_one()
        token = keypad if isinstance(keypad, str) and not keypad.startswith('"') else str(keypad).strip('"')
        db.session.execute(text("UPDATE notes SET body = :t"), {"t": token})
        db.session.commit()
    # The associated data names the column: a keypad envelope is no note.
    assert ann.get(f"/reports/{report_id}").status_code == 500
