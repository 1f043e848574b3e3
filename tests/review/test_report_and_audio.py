"""The report page and its recordings: prompts, decrypted transcripts, audio with Range."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Flask
from sqlalchemy import select

from hotline.extensions import db, runtime
from hotline.models import Event, Recording, Report
from hotline.pipeline.services import services_for
from tests.pipeline.conftest import UTTERANCES
from tests.review.conftest import Browser, Login, audit_entries


def _recordings(app: Flask, report_id: int) -> list[Recording]:
    with app.app_context():
        rows = list(
            db.session.scalars(select(Recording).where(Recording.report_id == report_id).order_by(Recording.id))
        )
        for row in rows:
            db.session.expunge(row)
        return rows


def _audio_url(report_id: int, rec: Recording) -> str:
    return f"/reports/{report_id}/recordings/{rec.recording_sid}/audio"


def test_the_page_shows_prompts_audio_transcripts_and_keypad(rapp: Flask, report_id: int, ann: Browser) -> None:
    page = ann.get(f"/reports/{report_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    with rapp.app_context():
        report = db.session.get(Report, report_id)
        assert report is not None
        reference = report.reference
    assert f'<h1 id="report-ref">{reference}</h1>' in html
    # The questions the caller heard, in their language, from the hotline's flow.
    assert "After the tone, tell us what the problem is" in html
    assert "Where is it taking place?" in html
    assert html.count('<section class="question"') == 2
    for rec in _recordings(rapp, report_id):
        assert f'<audio class="recording" controls preload="metadata" src="{_audio_url(report_id, rec)}"' in html
    # Transcripts are decrypted for the page (pocketsphinx heard "gun" in u01).
    transcripts = re.findall(r'<div class="transcript">\s*(.*?)\s*</div>', html, re.S)
    assert len(transcripts) == 2 and "gun" in transcripts[0]
    assert "Riverbend School District" in html  # keypad district shown by name
    assert "English" in html
    # The timeline names each stage once, in words: the caller's answer, Twilio's recording,
    # and which agency was notified by which channel.
    timeline = html.split('<ol id="timeline"')[1].split("</ol>")[0]
    assert timeline.count("Caller answered problem") == 1
    assert timeline.count("Recording ready at Twilio: problem") == 1
    assert "Riverbend School District notified by log" in timeline
    assert page.headers["Cache-Control"] == "no-store"
    [view] = audit_entries(rapp, "report.view")
    assert view.user_email == ann.account.email and view.target_id == str(report_id)


def test_the_timeline_reads_in_time_order(rapp: Flask, report_id: int, ann: Browser) -> None:
    html = ann.get(f"/reports/{report_id}").get_data(as_text=True)
    items = re.findall(r'<li class="timeline-([a-z_]+)"', html)
    assert items[0] == "call_started"
    for kind in ("recording_stored", "transcribed", "routed", "call_ended"):
        assert kind in items
    routed = re.search(r"Routed to ([^<]+)<", html)
    assert routed and "Riverbend School District" in routed.group(1)
    stamps = re.findall(r'<li class="timeline-[a-z_]+"[^>]*>\s*<time datetime="([^"]+)"', html)
    assert stamps == sorted(stamps)


def test_range_requests_return_exact_slices_of_the_decrypted_audio(rapp: Flask, report_id: int, ann: Browser) -> None:
    rec = _recordings(rapp, report_id)[0]
    audio = (UTTERANCES / "u01.wav").read_bytes()
    with rapp.app_context():
        store = services_for(runtime.get(rapp).settings).store
        assert rec.blob_key is not None
        assert store.get_decrypted(rec.blob_key, f"recording:{rec.recording_sid}".encode()) == audio
    url = _audio_url(report_id, rec)

    whole = ann.get(url)
    assert whole.status_code == 200 and whole.data == audio
    assert whole.mimetype == "audio/wav"
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert whole.headers["Cache-Control"] == "no-store"
    assert "Content-Disposition" not in whole.headers

    first = ann.get(url, headers={"Range": "bytes=0-99"})
    assert first.status_code == 206 and first.data == audio[:100]
    assert first.headers["Content-Range"] == f"bytes 0-99/{len(audio)}"
    assert first.headers["Cache-Control"] == "no-store"

    middle = ann.get(url, headers={"Range": "bytes=1000-"})
    assert middle.status_code == 206 and middle.data == audio[1000:]
    assert middle.headers["Content-Range"] == f"bytes 1000-{len(audio) - 1}/{len(audio)}"

    tail = ann.get(url, headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.data == audio[-10:]

    beyond = ann.get(url, headers={"Range": f"bytes={len(audio) + 5}-"})
    assert beyond.status_code == 416 and beyond.headers["Content-Range"] == f"bytes */{len(audio)}"

    # One playback, however many range requests it takes: audited once, not for every seek.
    plays = audit_entries(rapp, "recording.play")
    assert [p.target_id for p in plays] == [rec.recording_sid]


def test_playback_is_audited_whatever_range_starts_it(rapp: Flask, report_id: int, ann: Browser, login: Login) -> None:
    rec = _recordings(rapp, report_id)[0]
    bob = login("bob@riverbend.example.org")
    # Skipping byte 0 does not skip the audit log.
    assert bob.get(_audio_url(report_id, rec), headers={"Range": "bytes=1-"}).status_code == 206
    [play] = audit_entries(rapp, "recording.play")
    assert (play.user_email, play.target_id) == (bob.account.email, rec.recording_sid)
    # Each download is audited, ranged or not.
    for _ in range(2):
        got = bob.get(_audio_url(report_id, rec) + "?download=1", headers={"Range": "bytes=5-"})
        assert got.status_code == 206
    assert len(audit_entries(rapp, "recording.download")) == 2


def test_nothing_decrypted_is_written_to_disk(rapp: Flask, report_id: int, ann: Browser) -> None:
    storage = runtime.get(rapp).settings.storage_path
    before = {p: p.stat().st_mtime for p in Path(storage).rglob("*")}
    rec = _recordings(rapp, report_id)[0]
    ann.get(_audio_url(report_id, rec))
    after = {p: p.stat().st_mtime for p in Path(storage).rglob("*")}
    assert before == after


def test_download_is_an_attachment_on_the_timeline_and_audited(rapp: Flask, report_id: int, ann: Browser) -> None:
    rec = _recordings(rapp, report_id)[0]
    response = ann.get(_audio_url(report_id, rec) + "?download=1")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert ".wav" in response.headers["Content-Disposition"]
    assert response.data == (UTTERANCES / "u01.wav").read_bytes()
    [entry] = audit_entries(rapp, "recording.download")
    assert entry.user_email == ann.account.email
    with rapp.app_context():
        kinds = list(db.session.scalars(select(Event.kind).where(Event.report_id == report_id)))
    assert "recording_downloaded" in kinds
    html = ann.get(f"/reports/{report_id}").get_data(as_text=True)
    assert f"Recording downloaded by {ann.account.email}" in html


def test_a_recording_of_another_report_is_not_served(rapp: Flask, report_id: int, ann: Browser) -> None:
    rec = _recordings(rapp, report_id)[0]
    with rapp.app_context():
        other = Report(hotline_id="safe_schools", tip_number="99999999", keypad={}, categories=[])
        db.session.add(other)
        db.session.commit()
        other_id = other.id
    # The user can see report_id but the sid is asked for under a report they cannot see,
    # and under their own report with a sid that is not its own.
    assert ann.get(f"/reports/{other_id}/recordings/{rec.recording_sid}/audio").status_code == 404
    assert ann.get(f"/reports/{report_id}/recordings/RE{'0' * 32}/audio").status_code == 404
    assert len(audit_entries(rapp, "report.denied")) == 2
