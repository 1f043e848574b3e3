"""What an investigator does to a report: acknowledge, assign, change status, note, link,
legal hold. Each is a POST form (CSRF-checked by Flask-WTF), adds an Event to the report's
timeline, adds an audit entry last, commits once, and redirects back to the report page."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from werkzeug.wrappers import Response

from hotline.auth import audit, login_required
from hotline.extensions import db
from hotline.models import Report
from hotline.reports import events, links, status
from hotline.review import bp
from hotline.review.access import ADMINS, can_see, report_or_404, signed_in, user_agencies_of
from hotline.review.forms import AssignForm, HoldForm, LinkForm, NoteForm, StatusForm
from hotline.review.models import STATUSES, Note
from hotline.review.report import colleagues
from hotline.states import EventKind


def _back(report: Report, message: str, category: str = "info") -> Response:
    flash(message, category)
    return redirect(url_for("review.report", report_id=report.id))


@bp.post("/reports/<int:report_id>/acknowledge")
@login_required
def acknowledge_report(report_id: int) -> Response:
    """Acknowledge for each of the user's agencies the report went to; stops their escalation."""
    user = signed_in()
    report = report_or_404(report_id)
    done = status.acknowledge_for(db.session, user, report)
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
    assignee = AssignForm().text("assignee") or None
    if assignee is not None and assignee not in colleagues(user, user_agencies_of(user, report.id)):
        return _back(report, "Choose someone from your agency.", "error")
    if assignee == report.assignee:
        return _back(report, "Nothing changed.")
    previous, report.assignee = report.assignee, assignee
    events.record(db.session, report.id, EventKind.ASSIGNED, by=user.email, to=assignee)
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
    form = StatusForm()
    try:
        change = status.change_status(
            db.session,
            report,
            form.text("status"),
            by=user,
            disposition=form.text("disposition") or None,
        )
    except status.DispositionNeeded:
        return _back(report, "Choose a disposition to close the report.", "error")
    except status.StatusError:
        # Unknown, or not one this user may choose from here: the form lists those they may.
        return _back(report, "Choose a status from the list.", "error")
    if change is None:
        return _back(report, "Nothing changed.")
    audit.record(
        "report.status_changed",
        user=user,
        target_type="report",
        target_id=report.id,
        detail=change.audit_detail(),
    )
    db.session.commit()
    return _back(report, f"Status is now {STATUSES[change.status]}.")


@bp.post("/reports/<int:report_id>/notes")
@login_required
def add_note(report_id: int) -> Response:
    """Add a note to the report's timeline."""
    user = signed_in()
    report = report_or_404(report_id)
    form = NoteForm()
    if not form.validate():
        return _back(report, form.first_error() or "", "error")
    body = form.text("note")
    note = Note(report_id=report.id, author_id=user.id, author_email=user.email, body=body)
    db.session.add(note)
    db.session.flush()
    events.record(db.session, report.id, EventKind.NOTE_ADDED, by=user.email, note_id=note.id)
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
    entered = LinkForm().text("reference")
    found = links.find_by_reference(db.session, entered)
    other = found.report
    if other is None or not can_see(user, other.id):
        if found.number is not None:
            # Trying references one cannot see is the same probing as guessing URLs.
            audit.record(
                "report.denied",
                user=user,
                target_type="report",
                target_id=found.number,
                detail={"path": request.path, "method": request.method, "reason": "link_target"},
            )
            db.session.commit()
        return _back(report, f"There is no report {entered.strip()[:40]!r} among the reports you can see.", "error")
    try:
        linked = links.link(db.session, report, other, by=user)
    except links.LinkError as exc:
        return _back(report, str(exc), "error")
    if not linked:
        return _back(report, f"{other.reference} is already linked.")
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
    place = HoldForm().place()
    if place == report.legal_hold:
        return _back(report, "Nothing changed.")
    report.legal_hold = place
    kind = EventKind.LEGAL_HOLD_PLACED if place else EventKind.LEGAL_HOLD_LIFTED
    events.record(db.session, report.id, kind, by=user.email)
    audit.record("report.legal_hold", user=user, target_type="report", target_id=report.id, detail={"hold": place})
    db.session.commit()
    return _back(report, "Legal hold placed." if place else "Legal hold lifted.")
