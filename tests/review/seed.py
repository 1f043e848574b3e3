"""A routed report written straight into the database and the encrypted store.

The review tests need a report the way the pipeline leaves it: recordings fetched, encrypted,
stored and transcribed, the report classified, routed and its agencies notified. Running the
pipeline for that (webhooks, fetch from a stand-in Twilio, pocketsphinx) costs seconds per
test; the pipeline's own tests cover that path end to end. Here the rows it writes are
inserted directly, and the audio and transcripts go through the app's own store with the
same keys and associated data the recording jobs use, so playback and the report page still
decrypt real ciphertext of real WAV files.
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Flask

from hotline.extensions import db, runtime
from hotline.followup import messages
from hotline.models import Assignment, Attachment, Call, Event, Recording, Report, utcnow
from hotline.pipeline.assign import deadline
from hotline.pipeline.services import services_for
from hotline.security.pins import hash_pin
from hotline.states import (
    CallStatus,
    Channel,
    EventKind,
    FetchState,
    RecordingStatus,
    ReportStatus,
    TranscriptState,
    Urgency,
)

# Where the recording jobs put a recording and its transcript, and what they bind them to.
from hotline.storage.keys import (
    attachment_aad,
    attachment_key,
    audio_aad,
    audio_key,
    transcript_aad,
    transcript_key,
)
from tests.conftest import ACCOUNT_SID
from tests.pipeline.conftest import UTTERANCES

# The last TwiML the call was sent (kept sealed, for a retried webhook to get it again).
_GOODBYE = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Say language="en-US" voice="Polly.Joanna">Thank you for '
    "helping keep our schools safe. Your message will be shared only with the school and police staff who need "
    "it. Goodbye.</Say><Hangup /></Response>"
)
# Tip numbers are unique; real ones are random 8-digit numbers, these are simply counted.
_tips = itertools.count(50_000_000)  # apart from add_report's and the queue-at-scale test's


@dataclass(frozen=True)
class Answer:
    """One recorded answer: the flow's question, the caller's clip, what pocketsphinx heard in it."""

    question: str
    clip: str
    transcript: str


# A Safe Schools call answering u01 then u11, and what pocketsphinx hears in those clips.
GUN_IN_THE_PARKING_LOT = Answer("problem", "u01.wav", "there is the kid with a gun in the parking lot")
BROKEN_WINDOW = Answer("where", "u11.wav", "i would like to report a broken window")


def seed_report(
    app: Flask,
    answers: tuple[Answer, ...] = (GUN_IN_THE_PARKING_LOT, BROKEN_WINDOW),
    *,
    hotline: str = "safe_schools",
    keypad: dict[str, Any] | None = None,
    urgency: Urgency = Urgency.CRITICAL,
    categories: tuple[str, ...] = ("weapons",),
    agencies: tuple[str, ...] = ("safe_schools_unit", "riverbend_sd", "precinct_2_central"),
    skipped: tuple[str, ...] = ("who", "when", "vehicle"),
) -> int:
    """Write one report as the pipeline leaves it after a completed, routed call; its id."""
    keypad = {"district": "riverbend", "topic": "other"} if keypad is None else keypad
    settings = runtime.get(app).settings
    with app.app_context():
        store = services_for(settings).store
        # Every row is stamped a little later than the one before, as the real run does:
        # the timeline sorts by time.
        start = utcnow() - timedelta(minutes=5)
        ticks = itertools.count(1)

        def at() -> Any:
            return start + timedelta(milliseconds=10 * next(ticks))

        report = Report(
            hotline_id=hotline,
            tip_number=str(next(_tips)),
            status=ReportStatus.IN_CALL,
            urgency=Urgency.NORMAL,
            categories=[],
            keypad=keypad,
            language="en",
            created_at=at(),
        )
        db.session.add(report)
        db.session.flush()
        call = Call(
            call_sid="CA" + uuid.uuid4().hex,
            report_id=report.id,
            hotline_id=hotline,
            step="welcome",
            language="en",
            started_at=report.created_at,
        )
        db.session.add(call)
        events: list[tuple[EventKind, dict[str, Any]]] = [(EventKind.CALL_STARTED, {})]
        events += [(EventKind.KEYPAD, {"step": "welcome", "value": "en"})]
        if "topic" in keypad:
            events += [(EventKind.KEYPAD, {"step": "topic", "value": keypad["topic"]})]

        recordings: list[tuple[Recording, Answer]] = []
        for answer in answers:
            sid = "RE" + uuid.uuid4().hex
            rec = Recording(
                recording_sid=sid,
                report_id=report.id,
                question=answer.question,
                status=RecordingStatus.COMPLETED,
                duration=7,
                media_url=f"http://127.0.0.1:9/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{sid}",
                created_at=at(),
            )
            db.session.add(rec)
            recordings.append((rec, answer))
            events += [
                (EventKind.ANSWER_RECORDED, {"question": answer.question, "recording_sid": sid}),
                (EventKind.RECORDING_COMPLETED, {"question": answer.question, "recording_sid": sid, "duration": 7}),
            ]
        events += [(EventKind.SKIPPED, {"step": step}) for step in skipped]
        if "district" in keypad:
            events += [(EventKind.KEYPAD, {"step": "district", "value": keypad["district"]})]
        events += [
            (EventKind.SKIPPED, {"step": "pin"}),
            (EventKind.CALL_ENDED, {"status": "completed", "duration": 95}),
        ]
        for kind, detail in events:
            db.session.add(Event(report_id=report.id, kind=kind, detail=detail, at=at()))
        call.status, call.step, call.ended_at, call.duration = CallStatus.COMPLETED, "thanks", at(), 95
        call.turn, call.flags, call.last_response = 11, {"category": keypad.get("topic", "other")}, _GOODBYE
        report.status, report.call_ended_at = ReportStatus.NEW, call.ended_at
        db.session.flush()

        # The recording jobs: fetch, encrypt, store, verify, delete at Twilio; transcribe.
        for rec, answer in recordings:
            audio = (UTTERANCES / answer.clip).read_bytes()
            rec.blob_key = audio_key(rec)
            rec.sha256 = store.put_and_verify(rec.blob_key, audio, audio_aad(rec))
            rec.fetch_state, rec.attempts, rec.stored_at, rec.deleted_from_twilio = FetchState.STORED, 1, at(), True
            db.session.add(
                Event(
                    report_id=report.id,
                    kind=EventKind.RECORDING_STORED,
                    at=rec.stored_at,
                    detail={"recording_sid": rec.recording_sid, "bytes": len(audio)},
                )
            )
            db.session.add(
                Event(
                    report_id=report.id,
                    kind=EventKind.RECORDING_DELETED_AT_TWILIO,
                    at=at(),
                    detail={"recording_sid": rec.recording_sid},
                )
            )
        for rec, answer in recordings:
            rec.transcript_key = transcript_key(rec)
            store.put_and_verify(rec.transcript_key, answer.transcript.encode(), transcript_aad(rec))
            rec.transcript_state, rec.transcript_attempts = TranscriptState.DONE, 1
            words = len(answer.transcript.split())
            db.session.add(
                Event(
                    report_id=report.id,
                    kind=EventKind.TRANSCRIBED,
                    at=at(),
                    detail={"recording_sid": rec.recording_sid, "words": words, "seconds": 2.5},
                )
            )

        # finalize_report: classify, route, notify.
        classified = at()
        for rec, _ in recordings:
            rec.classified_at = classified
        report.urgency, report.categories = urgency, list(categories)
        db.session.add(
            Event(
                report_id=report.id,
                kind=EventKind.CLASSIFIED,
                at=classified,
                detail={"urgency": urgency, "categories": list(categories), "keywords_matched": 1},
            )
        )
        report.routed_at = at()
        due = report.routed_at + deadline(settings, urgency)
        for agency in agencies:
            db.session.add(Assignment(report_id=report.id, agency_id=agency, created_at=report.routed_at, due_at=due))
        db.session.add(Event(report_id=report.id, kind=EventKind.ROUTED, at=at(), detail={"agencies": list(agencies)}))
        for agency in agencies:
            db.session.add(
                Event(
                    report_id=report.id,
                    kind=EventKind.NOTIFIED,
                    at=at(),
                    detail={"agency": agency, "level": 0, "channels": ["log"]},
                )
            )
        db.session.commit()
        return report.id


# ---- Issue 10: follow-up with the tipster (PIN, messages both ways), web tips, attachments ----

# The smallest valid PNG (1x1, one transparent pixel) and a one-page PDF: real file bytes.
TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000185d9fa6f0000000049454e44ae426082"
)
TINY_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Count 0/Kids[]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


def set_pin(app: Flask, report_id: int, pin: str = "4321") -> None:
    """Give the report a follow-up PIN, hashed as the call flow stores it."""
    with app.app_context():
        report = db.session.get(Report, report_id)
        assert report is not None
        report.pin_hash = hash_pin(pin)
        db.session.commit()


def seed_web_report(
    app: Flask,
    written: dict[str, str],
    *,
    hotline: str = "safe_schools",
    agencies: tuple[str, ...] = ("safe_schools_unit", "riverbend_sd"),
    language: str = "en",
    pin: str | None = "4321",
) -> int:
    """A web tip as the form and the pipeline leave it: written answers, classified, routed."""
    settings = runtime.get(app).settings
    with app.app_context():
        now = utcnow()
        report = Report(
            hotline_id=hotline,
            tip_number=str(next(_tips)),
            status=ReportStatus.NEW,
            urgency=Urgency.HIGH,
            categories=["drugs"],
            keypad={},
            language=language,
            channel=Channel.WEB,
            written=written,
            pin_hash=hash_pin(pin) if pin else None,
            created_at=now - timedelta(minutes=2),
            routed_at=now - timedelta(minutes=1),
        )
        db.session.add(report)
        db.session.flush()
        db.session.add(Event(report_id=report.id, kind=EventKind.WEB_TIP_RECEIVED, at=report.created_at, detail={}))
        due = now + deadline(settings, Urgency.HIGH)
        for agency in agencies:
            db.session.add(Assignment(report_id=report.id, agency_id=agency, created_at=report.routed_at, due_at=due))
        db.session.add(
            Event(report_id=report.id, kind=EventKind.ROUTED, at=report.routed_at, detail={"agencies": list(agencies)})
        )
        db.session.commit()
        return report.id


def add_message(
    app: Flask,
    report_id: int,
    body: str,
    *,
    from_tipster: bool = False,
    language: str = "en",
    author: str = "ann@riverbend.example.org",
    agency: str = "riverbend_sd",
    heard_at: datetime | None = None,
    read_at: datetime | None = None,
) -> int:
    """A message of the thread, written through hotline.followup.messages; its id."""
    with app.app_context():
        if from_tipster:
            message = messages.reply(db.session, report_id, body, language)
        else:
            message = messages.write(db.session, report_id, body, language, author_email=author, agency_id=agency)
        message.heard_at, message.read_at = heard_at, read_at
        db.session.commit()
        return message.id


def add_attachment(
    app: Flask,
    report_id: int,
    data: bytes,
    content_type: str,
    *,
    message_id: int | None = None,
    shredded: bool = False,
) -> int:
    """A file the tipster sent, encrypted into the app's store under its key and AAD; its id."""
    with app.app_context():
        att = Attachment(
            report_id=report_id,
            message_id=message_id,
            content_type=content_type,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
        )
        db.session.add(att)
        db.session.flush()
        if shredded:
            att.shredded_at = utcnow()
        else:
            att.blob_key = attachment_key(att)
            services_for(runtime.get(app).settings).store.put_and_verify(att.blob_key, data, attachment_aad(att))
        db.session.commit()
        return att.id
