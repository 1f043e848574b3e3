"""The bookkeeping of a recording's status callback and of a message left through the error path.

The webhooks parse the request and answer it; these functions store what it says. They
neither commit nor enqueue: the view commits first, then enqueues the jobs the outcome
names, so a job always finds the rows it is given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from hotline.hotlines import Line
from hotline.models import Call
from hotline.reports import events, service
from hotline.states import CallStatus, EventKind, RecordingStatus, recording_event
from hotline.voice import callback, calls

# A recording made outside any question of the flow (a message through the error path).
MESSAGE = "message"


@dataclass(frozen=True)
class Callback:
    """What a recording status callback changed, for the jobs to enqueue after the commit."""

    report_id: int
    urgency: str
    # This request made and ended the call itself: its report needs its finalize job.
    ended_here: bool
    # The recording became completed just now: it needs its fetch job.
    fetch: bool


def salvaged_call(session: Session, line: Line, call_sid: str) -> tuple[Call, bool]:
    """Make a report of a message left through the error path, the call's own state gone.

    The salvage TwiML hangs up after the message, and the call's final status may already
    have come and been dropped (there was no call row then): end the call here, or its
    report would wait for the stale-call sweep before it is routed. Returns the call and
    whether this request ended it (and so must enqueue the report's finalize job).
    """
    call = calls.create_call(session, call_sid, line.config.id, line.flow.start)
    if call.ended_at is not None:
        return call, False  # a twin callback made and ended it first
    calls.without_flow(session, call, EventKind.SALVAGED_CALL)
    return call, service.end_call(session, call, CallStatus.COMPLETED, None)


# Information added on a call back: "added_1", "added_2", ... (see the followup step).
_ADDED = re.compile(r"^added_[0-9]{1,4}$")


def question_of(line: Line, step_id: str) -> str:
    """The question a recording answers: its record step's key, else a message.

    A call back's recording names its followup step and question: "callback.added_2".
    """
    base, _, question = step_id.partition(".")
    step = line.flow.steps.get(base)
    if step is not None and step.type == "followup" and _ADDED.match(question):
        return question
    return (step.key or step.id) if step is not None and step.type == "record" and not question else MESSAGE


def record_status(
    session: Session, line: Line, step_id: str, status: RecordingStatus, params: dict[str, Any]
) -> Callback:
    """Store a finished recording's status callback (completed, absent or failed).

    A repeated callback changes nothing and writes no event (see calls.mark_recording).
    """
    call = calls.find_call(session, params["CallSid"])
    ended_here = False
    if call is None:
        call, ended_here = salvaged_call(session, line, params["CallSid"])
    question = question_of(line, step_id)
    recording = calls.upsert_recording(session, call.report_id, question, params)
    session.flush()  # the row must exist for the conditional update below
    error_code = (params.get("ErrorCode") or "")[:16] or None
    # False: already handled, a repeated callback changes nothing.
    changed = calls.mark_recording(session, recording, status, error_code)
    if changed:
        sid = params["RecordingSid"]
        if status == RecordingStatus.COMPLETED:
            events.record(
                session,
                call.report_id,
                recording_event(status),
                question=question,
                recording_sid=sid,
                duration=recording.duration,
            )
            callback.added_late(session, call, recording)
        else:
            events.record(session, call.report_id, recording_event(status), recording_sid=sid)
    return Callback(
        report_id=call.report_id,
        urgency=call.report.urgency,
        ended_here=ended_here,
        fetch=changed and status == RecordingStatus.COMPLETED,
    )
