"""Report rules shared by the webhooks, the jobs, the sweep and the reconciler.

Here rather than in a view or a job: the webhook that hears a call end, the reconciler that
finds it ended at Twilio and the sweep that gives up on a silent one all end it the same way.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from hotline.models import Call, Report, utcnow
from hotline.reports import events
from hotline.reports.transitions import advance
from hotline.states import SETTLED_FETCH, EventKind, ReportStatus, Urgency
from hotline.twilio_params import whole_number
from hotline.voice import callback

# Recording fetch states after which nothing more is downloaded.
SETTLED = SETTLED_FETCH


def urgency_of(session: Session, report_id: int) -> str:
    """A report's urgency ("normal" if it is gone), e.g. to pick the queue for its jobs."""
    report = session.get(Report, report_id)
    return report.urgency if report is not None else Urgency.NORMAL


def end_call(session: Session, call: Call, status: str, duration: str | None) -> bool:
    """Mark a call finished; return False if it already was (a repeated callback)."""
    if call.ended_at is not None:
        return False
    call.ended_at = utcnow()
    call.status = status
    call.duration = whole_number(duration)
    report = call.report
    if callback.is_call_back(call):
        # The earlier report's own call ended long ago: its end time and status stay.
        events.record(session, report.id, EventKind.CALL_ENDED, status=status, duration=call.duration, callback=True)
        callback.end(session, call)
        return True
    report.call_ended_at = call.ended_at
    advance(report, ReportStatus.NEW)  # from "in_call" only
    events.record(session, report.id, EventKind.CALL_ENDED, status=status, duration=call.duration)
    return True
