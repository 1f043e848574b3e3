"""The dispatchers' console: live and recent calls, and notes on calls a dispatcher took.

It shows a call's hotline, times and transfer state, never who called: caller numbers are
dropped before anything is stored, so there is nothing to show. A hotline reserved for
certain agencies (PREA) appears only to dispatchers of those agencies, so that nobody else
learns a call was made.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import flash, redirect, render_template, url_for
from sqlalchemy import or_, select
from werkzeug.wrappers import Response

from hotline.auth import audit, login_required
from hotline.auth.models import User
from hotline.extensions import db, runtime
from hotline.models import Call, Event, utcnow
from hotline.reports import events
from hotline.review import bp
from hotline.review.access import can_see, deny, signed_in
from hotline.review.forms import CallNoteForm
from hotline.review.models import Note
from hotline.review.queue import keep_idle_clock
from hotline.states import EventKind

DISPATCHERS = frozenset({"dispatcher"})
RECENT = timedelta(hours=24)
# A call whose final status callback never came is not "live" forever.
LIVE_AT_MOST = timedelta(hours=4)
MAX_ROWS = 100
_TRANSFER_EVENTS = (
    EventKind.TRANSFER_ANSWERED,
    EventKind.TRANSFER_COMPLETED,
    EventKind.TRANSFER_FAILED,
    EventKind.DISPATCHER_REQUESTED,
)
# transfer_answered is written while a transfer is live (the dispatcher pressed 1); every
# transfer then ends in transfer_completed or transfer_failed.
_OUTCOMES = (EventKind.TRANSFER_ANSWERED, EventKind.TRANSFER_COMPLETED, EventKind.TRANSFER_FAILED)


@dataclass(frozen=True)
class CallRow:
    call: Call
    hotline: str
    state: str
    live: bool
    # A dispatcher answered the transfer: that dispatcher may attach a note.
    taken: bool
    report_ref: str | None


def hotlines_for(user: User) -> list[str]:
    """Hotlines whose calls this dispatcher may see."""
    mine = set(user.agencies)
    hotlines = runtime.get().settings.hotlines
    return [h.id for h in hotlines if not h.exclusive_agencies or mine & set(h.exclusive_agencies)]


def _state(call: Call, kinds: list[str]) -> str:
    """Say where the call is, from its mode and its transfer events (newest last)."""
    transfers = [k for k in kinds if k in _OUTCOMES]
    last = transfers[-1] if transfers else None
    if call.ended_at is None:
        if call.mode == "transfer":
            return "Transfer answered" if last == EventKind.TRANSFER_ANSWERED else "Transfer ringing"
        if last == EventKind.TRANSFER_COMPLETED:
            return "Transfer answered"
        if last == EventKind.TRANSFER_FAILED:
            return "In progress (transfer not answered)"
        return "In progress"
    if call.mode == "transfer":
        # The caller hung up while bridged to the dispatcher, before the Dial action came.
        return "Ended (transfer answered)" if last == EventKind.TRANSFER_ANSWERED else "Abandoned during transfer"
    if last == EventKind.TRANSFER_COMPLETED:
        return "Ended (transfer answered)"
    if last == EventKind.TRANSFER_FAILED:
        return "Ended (transfer not answered)"
    return "Ended"


def console_rows(user: User) -> list[CallRow]:
    """Live calls first, then those ended in the last day; one query for their events."""
    now = utcnow()
    lines = hotlines_for(user)
    if not lines:
        return []
    calls = list(
        db.session.scalars(
            select(Call)
            .where(
                Call.hotline_id.in_(lines),
                or_(
                    Call.ended_at.is_(None) & (Call.started_at >= now - LIVE_AT_MOST),
                    Call.ended_at >= now - RECENT,
                ),
            )
            .order_by(Call.started_at.desc())
            .limit(MAX_ROWS)
        )
    )
    kinds: dict[int, list[str]] = {}
    if calls:
        events = db.session.execute(
            select(Event.report_id, Event.kind)
            .where(Event.report_id.in_([c.report_id for c in calls]), Event.kind.in_(_TRANSFER_EVENTS))
            .order_by(Event.id)
        )
        for report_id, kind in events:
            kinds.setdefault(report_id, []).append(kind)
    names = {h.id: h.name.get("en") or h.id for h in runtime.get().settings.hotlines}
    rows = []
    for call in calls:
        report_kinds = kinds.get(call.report_id, [])
        rows.append(
            CallRow(
                call=call,
                hotline=names.get(call.hotline_id, call.hotline_id),
                state=_state(call, report_kinds),
                live=call.ended_at is None,
                taken=EventKind.TRANSFER_COMPLETED in report_kinds or EventKind.TRANSFER_ANSWERED in report_kinds,
                # The report itself only for dispatchers of an agency it was routed to.
                report_ref=call.report.reference if can_see(user, call.report_id) else None,
            )
        )
    rows.sort(key=lambda r: not r.live)  # stable: live first, each part newest first
    return rows


@bp.get("/dispatch")
@login_required(roles=DISPATCHERS)
def dispatch() -> str:
    """The console page; review.js refreshes its table every 30 seconds."""
    return render_template("review/dispatch.html", rows=console_rows(signed_in()))


@bp.get("/dispatch/rows")
@login_required(roles=DISPATCHERS)
def dispatch_rows() -> str:
    keep_idle_clock()
    return render_template("review/_dispatch_rows.html", rows=console_rows(signed_in()))


@bp.post("/dispatch/calls/<int:call_id>/notes")
@login_required(roles=DISPATCHERS)
def call_note(call_id: int) -> Response:
    """Attach a note to a call the dispatcher took; it joins the report's timeline."""
    user = signed_in()
    call = db.session.get(Call, call_id)
    if call is None or call.hotline_id not in hotlines_for(user):
        deny(user, "call", call_id, "missing" if call is None else "not_assigned")
    taken = db.session.scalar(
        select(Event.id)
        .where(
            Event.report_id == call.report_id,
            Event.kind.in_((EventKind.TRANSFER_ANSWERED, EventKind.TRANSFER_COMPLETED)),
        )
        .limit(1)
    )
    if taken is None:
        flash("Notes can only be added to calls a dispatcher answered.", "error")
        return redirect(url_for("review.dispatch"))
    form = CallNoteForm()
    if not form.validate():
        flash(form.first_error() or "", "error")
        return redirect(url_for("review.dispatch"))
    body = form.text("note")
    note = Note(report_id=call.report_id, call_id=call.id, author_id=user.id, author_email=user.email, body=body)
    db.session.add(note)
    db.session.flush()
    events.record(
        db.session, call.report_id, EventKind.CALL_NOTE_ADDED, by=user.email, note_id=note.id, call_id=call.id
    )
    audit.record("call.note_added", user=user, target_type="call", target_id=call.id, detail={"note_id": note.id})
    db.session.commit()
    flash("Note added to the call.", "info")
    return redirect(url_for("review.dispatch"))
