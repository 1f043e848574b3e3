"""One report: each question with its recording and transcript, the keypad answers, the
timeline, and the forms for the actions. Every view of it is audited."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from flask import render_template
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload
from werkzeug.wrappers import Response

from hotline.auth import audit, login_required
from hotline.auth.models import User
from hotline.extensions import db, runtime
from hotline.followup import messages
from hotline.models import Assignment, Attachment, Call, Recording, Report, TipsterMessage, utcnow
from hotline.pipeline.assign import acknowledgement_due
from hotline.reports.transcripts import read_transcript
from hotline.review import bp
from hotline.review.access import deny, report_or_404, signed_in, visible_clause
from hotline.review.forms import MESSAGE_LANGUAGES, TipsterMessageForm
from hotline.review.models import DISPOSITIONS, STATUSES, Note, ReportLink
from hotline.states import (
    SETTLED_FETCH,
    Channel,
    EventKind,
    FetchState,
    MessageDirection,
    RecordingStatus,
    TranscriptState,
)

CHANNELS = {Channel.PHONE.value: "Phone", Channel.WEB.value: "Web form"}
NO_PIN = (
    "The tipster chose no PIN: they can add information with the tip number, "
    "but cannot hear or read messages, so none can be written."
)


@dataclass(frozen=True)
class Question:
    """A recorded answer as the page shows it."""

    recording: Recording
    prompt: str
    transcript: str | None
    # Why there is no transcript or audio to show, in words, when there is none.
    transcript_note: str
    playable: bool
    fetching: bool = False


@dataclass(frozen=True)
class TimelineItem:
    at: datetime
    label: str
    kind: str
    author: str = ""
    body: str = ""
    anchor: str = ""


def _prompt(report: Report, question: str) -> str:
    """The words the caller heard before answering, in the caller's language."""
    if question == "message":
        return "Message left after a technical problem"
    line = runtime.get().lines.by_id(report.hotline_id)
    if line is None:
        return question
    step = next((s for s in line.flow.steps.values() if s.type == "record" and (s.key or s.id) == question), None)
    if step is None:
        return question
    language = report.language or line.flow.default_language
    return step.prompt.get(language) or step.prompt.get(line.flow.default_language) or question


def _transcript(rec: Recording) -> tuple[str | None, str]:
    """Decrypt a transcript into memory; say why when there is none to show."""
    if rec.shredded_at is not None:
        return None, "Deleted at the end of the retention period."
    if rec.transcript_state == TranscriptState.UNSUPPORTED:
        return None, "No transcript: there is no recogniser for this language. Listen to the recording."
    if rec.transcript_state == TranscriptState.FAILED:
        return None, "The recording could not be transcribed. Listen to the recording."
    if rec.transcript_state != TranscriptState.DONE or rec.transcript_key is None:
        return None, "Not transcribed yet."
    text = read_transcript(rec)
    if text is None:
        return None, "The transcript could not be read. An administrator has been told in the log."
    return text, "" if text.strip() else "The recogniser heard no words."


def _keypad(report: Report) -> list[tuple[str, str]]:
    """Keypad answers with readable names for configured choices (district, facility)."""
    hotline = runtime.get().settings.hotline(report.hotline_id)
    answers = []
    for key, value in sorted(report.keypad.items()):
        shown = str(value)
        choices = hotline.choices.get(key, []) if hotline else []
        choice = next((c for c in choices if c.id == value), None)
        if choice is not None:
            shown = choice.name.get("en") or choice.id
        answers.append((key.replace("_", " ").capitalize(), shown.replace("_", " ")))
    return answers


def _language(report: Report) -> str:
    line = runtime.get().lines.by_id(report.hotline_id)
    if report.language is None:
        return "Not chosen"
    return line.flow.voice(report.language).label if line else report.language


@dataclass(frozen=True)
class ThreadItem:
    """A message of the thread with the tipster, as the panel shows it."""

    message: TipsterMessage
    to_tipster: bool
    language: str
    agency: str
    # "Waiting" / "Heard on the phone at ..." / "Read on the web at ..."; empty for replies.
    state: str
    state_at: datetime | None
    attachments: list[Attachment]


def _state(message: TipsterMessage) -> tuple[str, datetime | None]:
    """Whether and how the tipster got a message; the first way they got it counts."""
    got = [
        (at, how) for at, how in ((message.heard_at, "Heard on the phone"), (message.read_at, "Read on the web")) if at
    ]
    if not got:
        return "Waiting", None
    at, how = min(got, key=lambda pair: pair[0])
    return how, at


def thread_items(report: Report, attachments: list[Attachment]) -> list[ThreadItem]:
    """The report's messages both ways, oldest first, each reply with its attachments."""
    by_message: dict[int, list[Attachment]] = {}
    for att in attachments:
        if att.message_id is not None:
            by_message.setdefault(att.message_id, []).append(att)
    names = agency_names()
    items = []
    for message in messages.thread(db.session, report.id):
        to_tipster = message.direction == MessageDirection.TO_TIPSTER
        state, at = _state(message) if to_tipster else ("", None)
        items.append(
            ThreadItem(
                message=message,
                to_tipster=to_tipster,
                language=MESSAGE_LANGUAGES.get(message.language, message.language),
                agency=names.get(message.agency_id, message.agency_id) if message.agency_id else "",
                state=state,
                state_at=at,
                attachments=by_message.get(message.id, []),
            )
        )
    return items


def _written_label(report: Report, key: str) -> str:
    """The question a web tip's written answer replies to, from the hotline's flow; else its key."""
    line = runtime.get().lines.by_id(report.hotline_id)
    if line is None:
        return key
    step = next((s for s in line.flow.steps.values() if (s.key or s.id) == key and s.prompt), None)
    if step is None:
        return key
    language = report.language or line.flow.default_language
    return step.prompt.get(language) or step.prompt.get(line.flow.default_language) or key


def written_answers(report: Report) -> list[tuple[str, str, str]]:
    """A web tip's written answers: (key, question, text), in the order they were given."""
    return [(key, _written_label(report, key), str(text)) for key, text in (report.written or {}).items()]


def message_language(report: Report) -> str:
    """The language a new message defaults to: the report's, when the tipster can be told in it."""
    return report.language if report.language in MESSAGE_LANGUAGES else "en"


K = EventKind
# Words for each kind of timeline event, from its detail. Every EventKind has one (a test
# says so); a kind stored by an older version and no longer declared shows its name.
EVENT_LABELS: dict[EventKind, Callable[[dict[str, Any]], str]] = {
    K.CALL_STARTED: lambda d: "Call started",
    K.CALL_ENDED: lambda d: f"Call ended ({d.get('status', '')})",
    K.KEYPAD: lambda d: f"Caller chose {str(d.get('value', '')).replace('_', ' ')} ({d.get('step', '')})",
    K.DEFAULT_CHOICE: lambda d: f"No choice made at {d.get('step', '')}; the default was used",
    K.SKIPPED: lambda d: f"Caller skipped {d.get('step', '')}",
    K.PIN_SET: lambda d: "Caller set a PIN for follow-up",
    K.DISPATCHER_REQUESTED: lambda d: "Caller asked for a dispatcher",
    K.TRANSFER_COMPLETED: lambda d: "Transfer to a dispatcher answered",
    K.TRANSFER_FAILED: lambda d: "Transfer to a dispatcher not answered",
    K.TRANSFER_PICKED_UP: lambda d: (
        "A dispatcher's " + ("voicemail picked up" if d.get("machine") else "phone picked up")
    ),
    K.TRANSFER_RETRIED: lambda d: "Nobody took the transfer yet; ringing the phones not yet tried",
    K.ON_CALL_ALERTED: lambda d: "On-call dispatcher alerted",
    K.SALVAGED_CALL: lambda d: "Message taken after a technical problem",
    K.CALL_END_RECOVERED: lambda d: "End of call confirmed with Twilio (its notice was lost)",
    K.RECOVERED_CALL: lambda d: "Call recovered from Twilio after a technical problem",
    K.RECORDING_RECOVERED: lambda d: f"Recording recovered from Twilio ({d.get('duration') or '?'} s)",
    K.RECORDING_CALLBACK_MISSED: lambda d: "Recording ready at Twilio (its notice never came; fetched anyway)",
    K.ANSWER_RECORDED: lambda d: f"Caller answered {d.get('question', '')}",
    K.RECORDING_COMPLETED: lambda d: (
        f"Recording ready at Twilio: {d.get('question', '')} ({d.get('duration') or '?'} s)"
    ),
    K.RECORDING_ABSENT: lambda d: "Recording was empty",
    K.RECORDING_FAILED: lambda d: "Recording failed at Twilio",
    K.RECORDING_STORED: lambda d: "Recording encrypted and stored",
    K.RECORDING_DEAD: lambda d: "Recording could not be downloaded",
    K.ROUTED_AWAITING_AUDIO: lambda d: "Routed before all its audio was in (audio still being fetched from Twilio)",
    K.RECORDING_REFUSED: lambda d: "Recording refused (unexpected source)",
    K.RECORDING_DELETED_AT_TWILIO: lambda d: "Recording deleted at Twilio",
    K.RECORDING_SHREDDED: lambda d: "Recording deleted (retention)",
    K.RECORDING_DOWNLOADED: lambda d: f"Recording downloaded by {d.get('by', '')}",
    K.TRANSCRIBED: lambda d: f"Transcribed ({d.get('words', 0)} words)",
    K.TRANSCRIPTION_FAILED: lambda d: "Transcription failed",
    K.TRANSCRIPTION_UNSUPPORTED: lambda d: "No transcription for this language",
    K.CLASSIFIED: lambda d: "Classified",
    K.RECLASSIFIED: lambda d: f"Classified again after new information: {d.get('urgency', '')}",
    K.ROUTED: lambda d: (
        ("Also routed to " if d.get("late") else "Routed to ")
        + ", ".join(_agency_name(a) for a in d.get("agencies", []))
    ),
    K.NOTIFIED: lambda d: (
        f"{_agency_name(str(d.get('agency', '')))} notified"
        + (f" by {', '.join(d.get('channels', []))}" if d.get("channels") else "")
    ),
    K.ESCALATED: lambda d: f"Escalated: {_agency_name(str(d.get('agency', '')))}, level {d.get('level', '')}",
    K.ACKNOWLEDGED: lambda d: (
        "Acknowledged by " + f"{d.get('by', '')} for " + ", ".join(_agency_name(a) for a in d.get("agencies", []))
    ),
    K.ASSIGNED: lambda d: (
        f"Assigned to {d.get('to')} by {d.get('by', '')}" if d.get("to") else f"Unassigned by {d.get('by', '')}"
    ),
    K.STATUS_CHANGED: lambda d: (
        f"Status {STATUSES.get(str(d.get('from')), d.get('from'))} → "
        + f"{STATUSES.get(str(d.get('to')), d.get('to'))} by {d.get('by', '')}"
        + (f" ({DISPOSITIONS.get(str(d.get('disposition')), '')})" if d.get("disposition") else "")
    ),
    K.LINKED: lambda d: f"Linked to {d.get('reference', '')} by {d.get('by', '')}",
    K.LEGAL_HOLD_PLACED: lambda d: f"Legal hold placed by {d.get('by', '')}",
    K.LEGAL_HOLD_LIFTED: lambda d: f"Legal hold lifted by {d.get('by', '')}",
    K.TRANSFER_ANSWERED: lambda d: "Transfer answered",
    K.NOTE_ADDED: lambda d: "Note added",
    K.CALL_NOTE_ADDED: lambda d: "Call note added",
    K.CALLED_BACK: lambda d: "Caller called back" + (" (on the web)" if d.get("channel") == "web" else ""),
    K.CALLBACK_FAILED: lambda d: (
        "Follow-up refused: wrong PIN" + (" (on the web)" if d.get("channel") == "web" else "")
    ),
    K.CALLBACK_UNMATCHED: lambda d: "Caller gave a tip number that opened no report; taken as a new tip",
    K.CALLBACK_LOCKED: lambda d: f"Follow-up locked for 24 hours after {d.get('failures', 5)} wrong PINs",
    K.MESSAGES_HEARD: lambda d: f"Caller heard {_count(d.get('count', 0), 'message')}",
    K.INFORMATION_ADDED: lambda d: (
        "Caller added information"
        + (f" ({_count(d.get('recordings', 0), 'recording')})" if d.get("recordings") else "")
        + (" on the web" if d.get("channel") == "web" else "")
    ),
    K.MESSAGE_WRITTEN: lambda d: f"Message to the tipster written by {d.get('by', '')}",
    K.MESSAGES_READ: lambda d: f"Tipster read {_count(d.get('count', 0), 'message')} on the web",
    K.TIPSTER_REPLIED: lambda d: "Tipster replied on the web",
    K.WEB_TIP_RECEIVED: lambda d: "Tip received through the web form",
    K.ATTACHMENT_ADDED: lambda d: f"Tipster attached {_count(d.get('count', 1), 'file')}",
    K.ATTACHMENT_DOWNLOADED: lambda d: f"Attachment downloaded by {d.get('by', '')}",
    K.TIPSTER_TEXT_SHREDDED: lambda d: "Written answers and replies deleted (retention)",
    K.NEW_INFORMATION_NOTIFIED: lambda d: "Agencies told of new information from the tipster",
}


def _count(n: object, noun: str) -> str:
    number = n if isinstance(n, int) else 0
    return f"{number} {noun}" + ("" if number == 1 else "s")


def event_label(kind: str, detail: dict[str, Any]) -> str:
    """Words for a timeline event; unknown kinds fall back to their name."""
    label = EVENT_LABELS.get(cast(EventKind, kind))
    return (label(detail) if label else "") or kind.replace("_", " ").capitalize()


def _agency_name(agency_id: str) -> str:
    agency = next((a for a in runtime.get().settings.agencies if a.id == agency_id), None)
    return agency.name if agency else agency_id


def agency_names() -> dict[str, str]:
    return {a.id: a.name for a in runtime.get().settings.agencies}


def timeline(report: Report, notes: list[Note], visible_links: set[str]) -> list[TimelineItem]:
    """Events and notes in time order; a note is shown itself rather than as its event.

    A link to a report the viewer cannot see is shown without its reference or who made it:
    both belong to another agency's case.
    """
    items = [
        TimelineItem(
            at=e.at,
            label="Linked to a related report of another agency"
            if e.kind == EventKind.LINKED and e.detail.get("reference") not in visible_links
            else event_label(e.kind, e.detail),
            kind=e.kind,
        )
        for e in report.events
        if e.kind not in (EventKind.NOTE_ADDED, EventKind.CALL_NOTE_ADDED)
    ]
    for note in notes:
        label = "Dispatcher's note on the call" if note.call_id is not None else "Note"
        items.append(
            TimelineItem(
                at=note.created_at,
                label=label,
                kind="note",
                author=note.author_email,
                body=note.body,
                anchor=f"note-{note.id}",
            )
        )
    return sorted(items, key=lambda i: i.at)


def colleagues(user: User, report_agencies: list[str]) -> list[str]:
    """Active users who share one of the user's agencies that this report was routed to."""
    shared = set(report_agencies)
    users = db.session.scalars(select(User).where(User.disabled.is_(False)).order_by(User.email))
    # Agencies are a JSON list; the users table is small, so filtering here is simplest.
    return [u.email for u in users if shared & set(u.agencies)]


def linked_reports(user: User, report: Report) -> list[Report]:
    """Reports linked to this one that the user may also see."""
    pairs = db.session.execute(
        select(ReportLink.low_id, ReportLink.high_id).where(
            or_(ReportLink.low_id == report.id, ReportLink.high_id == report.id)
        )
    ).all()
    other_ids = {low if high == report.id else high for low, high in pairs}
    if not other_ids:
        return []
    query = select(Report).where(Report.id.in_(other_ids), visible_clause(user)).order_by(Report.id)
    return list(db.session.scalars(query))


@bp.get("/reports/<int:report_id>")
@login_required
def report(report_id: int) -> str:
    """The report page; the view itself is an audited event."""
    html, _ = render_report(report_or_404(report_id))
    return html


def render_report(found: Report, message_form: TipsterMessageForm | None = None, status: int = 200) -> tuple[str, int]:
    """Render a report the signed-in user may see, auditing the view, and commit.

    message_form: the tipster-message form as it was sent, to show again with its errors.
    """
    user = signed_in()
    full = db.session.scalars(
        select(Report)
        .where(Report.id == found.id)
        .options(selectinload(Report.recordings), selectinload(Report.events))
        .execution_options(populate_existing=True)
    ).one()
    notes = list(db.session.scalars(select(Note).where(Note.report_id == full.id).order_by(Note.id)))
    assignments = list(
        db.session.scalars(
            select(Assignment)
            .where(Assignment.report_id == full.id, Assignment.agency_id.in_(list(user.agencies)))
            .order_by(Assignment.agency_id)
        )
    )
    questions = []
    for rec in full.recordings:
        text, why = _transcript(rec)
        questions.append(
            Question(
                recording=rec,
                prompt=_prompt(full, rec.question),
                transcript=text,
                transcript_note=why,
                playable=rec.fetch_state == FetchState.STORED and rec.blob_key is not None and rec.shredded_at is None,
                # Made at Twilio, not yet stored here (queued, or Twilio failing): on its way.
                fetching=rec.status == RecordingStatus.COMPLETED and rec.fetch_state not in SETTLED_FETCH,
            )
        )
    call = db.session.scalar(select(Call).where(Call.report_id == full.id).limit(1))
    links = linked_reports(user, full)
    hotline = runtime.get().settings.hotline(full.hotline_id)
    attachments = list(
        db.session.scalars(select(Attachment).where(Attachment.report_id == full.id).order_by(Attachment.id))
    )
    if message_form is None:
        message_form = TipsterMessageForm(formdata=None, data={"language": message_language(full)})
    audit.record("report.view", user=user, target_type="report", target_id=full.id)
    db.session.commit()
    html = render_template(
        "review/report.html",
        report=full,
        hotline_name=(hotline.name.get("en") if hotline else None) or full.hotline_id,
        channel=CHANNELS.get(full.channel, full.channel),
        is_web=full.channel == Channel.WEB,
        questions=questions,
        keypad=_keypad(full),
        language=_language(full),
        written=written_answers(full),
        tip_attachments=[a for a in attachments if a.message_id is None],
        thread=thread_items(full, attachments),
        message_form=message_form,
        message_languages=MESSAGE_LANGUAGES,
        message_max=messages.MAX_LENGTH,
        no_pin=NO_PIN if full.pin_hash is None else "",
        call=call,
        assignments=assignments,
        ack_due={a.id: acknowledgement_due(runtime.get().settings, a, full.urgency) for a in assignments},
        now=utcnow(),
        agency_names=agency_names(),
        can_acknowledge=any(a.acknowledged_at is None for a in assignments),
        colleagues=colleagues(user, [a.agency_id for a in assignments]),
        timeline=timeline(full, notes, {r.reference for r in links}),
        links=links,
        statuses=STATUSES,
        dispositions=DISPOSITIONS,
        is_admin=user.role == "admin",
    )
    return html, status


@bp.get("/reports/<int:report_id>/notes/<int:note_id>")
@login_required
def note(report_id: int, note_id: int) -> str | Response:
    """One note on its own (a link to it can be shared with colleagues of the agency)."""
    user = signed_in()
    found = report_or_404(report_id, target_type="note", target_id=note_id)
    item = db.session.get(Note, note_id)
    if item is None or item.report_id != found.id:
        deny(user, "note", note_id, "missing")
    audit.record("note.view", user=user, target_type="note", target_id=item.id, detail={"report_id": found.id})
    db.session.commit()
    return render_template("review/note.html", report=found, note=item)
