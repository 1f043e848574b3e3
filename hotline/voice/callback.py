"""The database side of a call back: the engine's FollowupPort, and moving the call onto the
earlier report it opened.

A call starts a provisional report (its own tip number, the language chosen, maybe a
transfer). When the caller opens an earlier report, the call is re-pointed to it, the
provisional report's events move there and the provisional report is deleted: a call back
makes no second report. From then on the call's state never writes the earlier report's
keypad, language, urgency, categories, end time or status (see calls.save_state and
hotline.reports.service.end_call).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from hotline.flows.followup import CB_ADDED, CB_REPORT, Note, Opened
from hotline.followup import access, messages, news
from hotline.models import Call, Event, Recording, Report, TipsterMessage
from hotline.reports import events
from hotline.review.models import Note as DispatcherNote
from hotline.states import Channel, EventKind, MessageDirection, ReportStatus


class PhoneFollowup:
    """The FollowupPort of one call: checks and reads in the request's session, never commits."""

    def __init__(self, session: Session, hotline_id: str) -> None:
        self.session = session
        self.hotline_id = hotline_id

    def check(self, tip_number: str, pin: str | None) -> Opened | None:
        """One argon2 verification and one audit entry on every path (hotline.followup.access)."""
        opened = access.check(self.session, tip_number, pin, channel=Channel.PHONE, hotline_id=self.hotline_id)
        if opened is None:
            return None
        report = self.session.get(Report, opened.report_id)
        if report is None or report.status == ReportStatus.IN_CALL:
            # A report whose own call is still going (this very call's, say) cannot take a call back.
            return None
        return Opened(opened.report_id, opened.messages)

    def unheard(self, report_id: int) -> list[Note]:
        # Cleaned again when read out: a stored control character would make the TwiML ill-formed.
        return [Note(m.id, m.language, messages.clean(m.body)) for m in messages.unheard(self.session, report_id)]

    def messages(self, report_id: int, ids: Sequence[int]) -> list[Note]:
        found = self.session.scalars(
            select(TipsterMessage)
            .where(
                TipsterMessage.report_id == report_id,
                TipsterMessage.direction == MessageDirection.TO_TIPSTER,
                TipsterMessage.id.in_(list(ids)),
            )
            .order_by(TipsterMessage.id)
        )
        return [Note(m.id, m.language, messages.clean(m.body)) for m in found]

    def closed(self, report_id: int) -> bool:
        report = self.session.get(Report, report_id)
        return report is not None and report.status == ReportStatus.CLOSED


def is_call_back(call: Call) -> bool:
    """Whether this call opened an earlier report (and so now belongs to it)."""
    return bool(call.flags.get(CB_REPORT))


def added(call: Call) -> int:
    """How many recordings the caller added on this call back."""
    value = str(call.flags.get(CB_ADDED) or "0")
    return int(value) if value.isdigit() else 0


def move_to(session: Session, call: Call, report_id: int, *, messages_allowed: bool) -> None:
    """Re-point the call to the earlier report it opened; drop its provisional report.

    The provisional report holds only what happened before the offer (the call's start, the
    language key, maybe a transfer): those events move to the earlier report.
    """
    provisional = call.report
    if provisional.id == report_id:  # pragma: no cover - PhoneFollowup refuses a live report
        return
    earlier = session.get(Report, report_id)
    if earlier is None:  # pragma: no cover - checked in this very transaction
        raise RuntimeError(f"report {report_id} vanished during a call back")
    session.flush()
    # Its timeline, and a note a dispatcher may have written on the call before the offer.
    for table in (Event, DispatcherNote):
        session.execute(
            update(table)
            .where(table.report_id == provisional.id)
            .values(report_id=report_id)
            .execution_options(synchronize_session=False)
        )
    call.report = earlier
    session.flush()
    session.execute(delete(Report).where(Report.id == provisional.id).execution_options(synchronize_session=False))
    session.expunge(provisional)
    events.record(session, report_id, EventKind.CALLED_BACK, channel=Channel.PHONE, messages=messages_allowed)


def heard(session: Session, call: Call, ids: list[int]) -> None:
    """Mark the messages read out as heard (with the TwiML that reads them), once."""
    messages.mark_heard(session, ids)
    events.record(session, call.report_id, EventKind.MESSAGES_HEARD, count=len(ids))


def end(session: Session, call: Call) -> None:
    """The end of a call back: tell the report's agencies of what the caller added, if anything.

    Counted from the call's state and from the report's recordings made since the call
    began: a message taken through the error path during the call back is information too.
    """
    since = session.scalar(
        select(func.count())
        .select_from(Recording)
        .where(Recording.report_id == call.report_id, Recording.created_at >= call.started_at)
    )
    count = max(added(call), since or 0)
    if count:
        news.tipster_added(session, call.report, channel=Channel.PHONE, recordings=count)


def added_late(session: Session, call: Call, recording: Recording) -> None:
    """A recording of this call back stored only after the call ended (the caller hung up
    mid-recording, or its action failed and Twilio retried the callback): `end` could not
    count it, so it is announced now, once (called when the recording becomes completed)."""
    if is_call_back(call) and call.ended_at is not None and recording.created_at > call.ended_at:
        news.tipster_added(session, call.report, channel=Channel.PHONE, recordings=1)
