"""What an investigator does to a report: acknowledge, assign, change status, note, link,
legal hold. Each is a POST form (CSRF-checked by Flask-WTF), adds an Event to the report's
timeline, adds an audit entry last, commits once, and redirects back to the report page."""

from __future__ import annotations

import re

from flask import abort, flash, redirect, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from hotline.auth import audit, login_required
from hotline.auth.models import User
from hotline.extensions import db
from hotline.models import Event, Report, utcnow
from hotline.pipeline.assign import acknowledge
from hotline.review import bp
from hotline.review.access import ADMINS, can_see, report_or_404, signed_in, user_agencies_of
from hotline.review.models import DISPOSITIONS, STATUSES, Note, ReportLink
from hotline.review.report import colleagues

MAX_NOTE_CHARS = 10_000
# "R-2026-00042", "r-2026-42" or just "42"; the year, when given, must match.
_REFERENCE = re.compile(r"^\s*(?:R-(\d{4})-)?0*(\d{1,12})\s*$", re.IGNORECASE)


def _acknowledge_for(user: User, report: Report) -> list[str]:
    """Acknowledge the report for each of the user's agencies it went to; those it changed."""
    return [a for a in user_agencies_of(user, report.id) if acknowledge(db.session, report, user.email, a)]


def _back(report: Report, message: str, category: str = "info") -> Response:
    flash(message, category)
    return redirect(url_for("review.report", report_id=report.id))


@bp.post("/reports/<int:report_id>/acknowledge")
@login_required
def acknowledge_report(report_id: int) -> Response:
    """Acknowledge for each of the user's agencies the report went to; stops their escalation."""
    user = signed_in()
    report = report_or_404(report_id)
    done = _acknowledge_for(user, report)
    if not done:
        return _back(report, "This report was already acknowledged.")
    audit.record("report.acknowledged", user=user, target_type="report", target_id=report.id, detail={"agencies": done})
    db.session.commit()
    return _back(report, f"Acknowledged {report.reference}.")


@bp.post("/reports/<int:report_id>/assign")
@login_required
def assign_report(report_id: int) -> Response:
    """Give the report to a colleague of the agency (or to nobody)."""
    user = signed_in()
    report = report_or_404(report_id)
    assignee = request.form.get("assignee", "").strip().lower() or None
    if assignee is not None and assignee not in colleagues(user, user_agencies_of(user, report.id)):
        return _back(report, "Choose someone from your agency.", "error")
    if assignee == report.assignee:
        return _back(report, "Nothing changed.")
    previous, report.assignee = report.assignee, assignee
    db.session.add(Event(report_id=report.id, kind="assigned", detail={"by": user.email, "to": assignee}))
    audit.record(
        "report.assigned",
        user=user,
        target_type="report",
        target_id=report.id,
        detail={"from": previous, "to": assignee},
    )
    db.session.commit()
    return _back(report, f"Assigned to {assignee}." if assignee else "The report is now unassigned.")


@bp.post("/reports/<int:report_id>/status")
@login_required
def change_status(report_id: int) -> Response:
    """Move the report through the review states; closing needs a disposition."""
    user = signed_in()
    report = report_or_404(report_id)
    status = request.form.get("status", "")
    disposition = request.form.get("disposition", "") or None
    if status not in STATUSES:
        return _back(report, "Choose a status from the list.", "error")
    if status == "closed":
        if disposition not in DISPOSITIONS:
            return _back(report, "Choose a disposition to close the report.", "error")
    else:
        # A disposition only describes how a report was closed.
        disposition = None
    if status == report.status and disposition == report.disposition:
        return _back(report, "Nothing changed.")
    previous = report.status
    acknowledged: list[str] = []
    if status != "new":
        # Working on a report (or closing it) acknowledges it for the user's agencies, so
        # nobody is woken for a report that someone is already handling.
        acknowledged = _acknowledge_for(user, report)
    report.status, report.disposition = status, disposition
    report.closed_at = utcnow() if status == "closed" else None
    detail = {"by": user.email, "from": previous, "to": status, "disposition": disposition}
    db.session.add(Event(report_id=report.id, kind="status_changed", detail=detail))
    audit.record(
        "report.status_changed",
        user=user,
        target_type="report",
        target_id=report.id,
        detail={"from": previous, "to": status, "disposition": disposition, "acknowledged_for": acknowledged},
    )
    db.session.commit()
    return _back(report, f"Status is now {STATUSES[status]}.")


@bp.post("/reports/<int:report_id>/notes")
@login_required
def add_note(report_id: int) -> Response:
    """Add a note to the report's timeline."""
    user = signed_in()
    report = report_or_404(report_id)
    body = request.form.get("note", "").strip()
    if not body:
        return _back(report, "Write something in the note first.", "error")
    if len(body) > MAX_NOTE_CHARS:
        return _back(report, f"A note can be at most {MAX_NOTE_CHARS} characters.", "error")
    note = Note(report_id=report.id, author_id=user.id, author_email=user.email, body=body)
    db.session.add(note)
    db.session.flush()
    db.session.add(Event(report_id=report.id, kind="note_added", detail={"by": user.email, "note_id": note.id}))
    # The audit entry says a note was added, never what it says.
    audit.record("note.added", user=user, target_type="note", target_id=note.id, detail={"report_id": report.id})
    db.session.commit()
    return _back(report, "Note added.")


@bp.post("/reports/<int:report_id>/links")
@login_required
def link_report(report_id: int) -> Response:
    """Link a related report, given by its reference; only reports the user can see."""
    user = signed_in()
    report = report_or_404(report_id)
    entered = request.form.get("reference", "")
    match = _REFERENCE.match(entered)
    other = db.session.get(Report, int(match.group(2))) if match else None
    if other is not None and match and match.group(1) and int(match.group(1)) != other.created_at.year:
        other = None
    if other is None or not can_see(user, other.id):
        if match:
            # Trying references one cannot see is the same probing as guessing URLs.
            audit.record(
                "report.denied",
                user=user,
                target_type="report",
                target_id=match.group(2),
                detail={"path": request.path, "method": request.method, "reason": "link_target"},
            )
            db.session.commit()
        return _back(report, f"There is no report {entered.strip()[:40]!r} among the reports you can see.", "error")
    if other.id == report.id:
        return _back(report, "A report cannot be linked to itself.", "error")
    low, high = sorted((report.id, other.id))
    exists = db.session.scalar(select(ReportLink.id).where(ReportLink.low_id == low, ReportLink.high_id == high))
    if exists is not None:
        return _back(report, f"{other.reference} is already linked.")
    db.session.add(ReportLink(low_id=low, high_id=high, created_by=user.email))
    # Both timelines say so: whoever opens either report sees the connection.
    db.session.add(Event(report_id=report.id, kind="linked", detail={"by": user.email, "reference": other.reference}))
    db.session.add(Event(report_id=other.id, kind="linked", detail={"by": user.email, "reference": report.reference}))
    audit.record(
        "report.linked", user=user, target_type="report", target_id=report.id, detail={"linked_report_id": other.id}
    )
    db.session.commit()
    return _back(report, f"Linked to {other.reference}.")


@bp.post("/reports/<int:report_id>/hold")
@login_required
def legal_hold(report_id: int) -> Response:
    """Place or lift a legal hold (admins only): held recordings survive retention."""
    user = signed_in()
    # Scope first, role second: someone outside the agency learns nothing, not even a 403.
    report = report_or_404(report_id)
    if user.role not in ADMINS:
        abort(403)
    place = request.form.get("hold") == "place"
    if place == report.legal_hold:
        return _back(report, "Nothing changed.")
    report.legal_hold = place
    kind = "legal_hold_placed" if place else "legal_hold_lifted"
    db.session.add(Event(report_id=report.id, kind=kind, detail={"by": user.email}))
    audit.record("report.legal_hold", user=user, target_type="report", target_id=report.id, detail={"hold": place})
    db.session.commit()
    return _back(report, "Legal hold placed." if place else "Legal hold lifted.")
