"""Actions on a report: each one changes the report, adds a timeline event and an audit entry."""

from __future__ import annotations

import re
from datetime import timedelta

from flask import Flask
from sqlalchemy import select

from hotline.extensions import db
from hotline.models import Assignment, Event, Report, utcnow
from hotline.pipeline.assign import due_assignments
from hotline.review.models import Note, ReportLink
from tests.review.conftest import Browser, Login, add_report, audit_entries


def _report(app: Flask, report_id: int) -> Report:
    with app.app_context():
        report = db.session.get(Report, report_id)
        assert report is not None
        db.session.expunge(report)
        return report


def _kinds(app: Flask, report_id: int) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Event.kind).where(Event.report_id == report_id).order_by(Event.id)))


def _flash(response_html: str) -> str:
    """The flashed message's text (inside div.flash once the layout wraps messages in it)."""
    found = re.search(r'<(p|div) class="[^"]*\bnotice\b[^"]*"[^>]*>(.*?)</\1>', response_html, re.S)
    return found.group(2).strip() if found else ""


def _act(user: Browser, report_id: int, action: str, data: dict[str, str]) -> str:
    """Submit a report form, follow the redirect back and return the flash message."""
    page = f"/reports/{report_id}"
    response = user.post(f"{page}/{action}", data, form_page=page)
    assert response.status_code == 302 and response.headers["Location"] == page, response.status_code
    return _flash(user.get(page).get_data(as_text=True))


def test_acknowledge_stops_escalation_for_the_users_agencies(rapp: Flask, report_id: int, login: Login) -> None:
    ann = login("ann@riverbend.example.org", "investigator", ("riverbend_sd",))
    page = ann.get(f"/reports/{report_id}").get_data(as_text=True)
    assert '<form id="ack-form"' in page and ">Acknowledge</button>" in page
    assert _act(ann, report_id, "acknowledge", {}) == f"Acknowledged {_report(rapp, report_id).reference}."
    with rapp.app_context():
        rows = {a.agency_id: a for a in db.session.scalars(select(Assignment).where(Assignment.report_id == report_id))}
        assert rows["riverbend_sd"].acknowledged_by == ann.account.email
        # The other agencies still have to acknowledge it themselves.
        assert rows["safe_schools_unit"].acknowledged_at is None
        overdue = {a.agency_id for a in due_assignments(db.session, utcnow() + timedelta(days=30))}
        assert "riverbend_sd" not in overdue and "safe_schools_unit" in overdue
    assert _report(rapp, report_id).status == "acknowledged"
    assert "acknowledged" in _kinds(rapp, report_id)
    [entry] = audit_entries(rapp, "report.acknowledged")
    assert entry.detail == {"agencies": ["riverbend_sd"]}
    assert _act(ann, report_id, "acknowledge", {}) == "This report was already acknowledged."
    assert len(audit_entries(rapp, "report.acknowledged")) == 1


def test_assign_only_to_colleagues_of_the_agency(rapp: Flask, report_id: int, login: Login) -> None:
    ann = login("ann@riverbend.example.org")
    login("bob@riverbend.example.org")
    login("zed@southcounty.example.org", "investigator", ("south_county_sd",))
    page = ann.get(f"/reports/{report_id}").get_data(as_text=True)
    form = page.split('<form id="assign-form"')[1].split("</form>")[0]
    assert "bob@riverbend.example.org" in form and "zed@southcounty.example.org" not in form
    assert _act(ann, report_id, "assign", {"assignee": "zed@southcounty.example.org"}) == (
        "Choose someone from your agency."
    )
    assert _report(rapp, report_id).assignee is None
    assert _act(ann, report_id, "assign", {"assignee": "bob@riverbend.example.org"}) == (
        "Assigned to bob@riverbend.example.org."
    )
    assert _report(rapp, report_id).assignee == "bob@riverbend.example.org"
    assert "assigned" in _kinds(rapp, report_id)
    [entry] = audit_entries(rapp, "report.assigned")
    assert entry.detail == {"from": None, "to": "bob@riverbend.example.org"}
    html = ann.get(f"/reports/{report_id}").get_data(as_text=True)
    assert f"Assigned to bob@riverbend.example.org by {ann.account.email}" in html


def test_closing_requires_a_disposition(rapp: Flask, report_id: int, login: Login) -> None:
    ann = login("ann@riverbend.example.org")
    page = ann.get(f"/reports/{report_id}").get_data(as_text=True)
    assert '<select id="status" name="status">' in page and '<select id="disposition" name="disposition">' in page
    assert ">Update status</button>" in page
    message = _act(ann, report_id, "status", {"status": "closed", "disposition": ""})
    assert message == "Choose a disposition to close the report."
    assert _report(rapp, report_id).status != "closed"
    assert _act(ann, report_id, "status", {"status": "investigating"}) == "Status is now Investigating."
    assert _act(ann, report_id, "status", {"status": "closed", "disposition": "unfounded"}) == "Status is now Closed."
    report = _report(rapp, report_id)
    assert (report.status, report.disposition) == ("closed", "unfounded") and report.closed_at is not None
    assert _kinds(rapp, report_id).count("status_changed") == 2
    entries = audit_entries(rapp, "report.status_changed")
    assert [e.detail["to"] for e in entries] == ["investigating", "closed"]
    assert entries[-1].detail["disposition"] == "unfounded"
    # Reopening clears how it was closed; the timeline keeps the history.
    _act(ann, report_id, "status", {"status": "investigating"})
    report = _report(rapp, report_id)
    assert (report.status, report.disposition, report.closed_at) == ("investigating", None, None)
    assert _act(ann, report_id, "status", {"status": "bogus"}) == "Choose a status from the list."


def test_notes_join_the_timeline_in_order(rapp: Flask, report_id: int, login: Login) -> None:
    ann = login("ann@riverbend.example.org")
    assert _act(ann, report_id, "notes", {"note": "Called the school <b>office</b>."}) == "Note added."
    assert _act(ann, report_id, "notes", {"note": "   "}) == "Write something in the note first."
    html = ann.get(f"/reports/{report_id}").get_data(as_text=True)
    timeline = html.split('<ol id="timeline"')[1].split("</ol>")[0]
    items = re.findall(r"<li class=\"timeline-([a-z_]+)\"", timeline)
    assert items[-1] == "note"  # the newest thing on the report
    assert "Called the school &lt;b&gt;office&lt;/b&gt;." in timeline  # escaped, never markup
    assert f"Note by {ann.account.email}" in timeline
    with rapp.app_context():
        note = db.session.scalars(select(Note)).one()
    [entry] = audit_entries(rapp, "note.added")
    assert entry.target_id == str(note.id) and "office" not in str(entry.detail)
    assert "note_added" in _kinds(rapp, report_id)
    assert ann.get(f"/reports/{report_id}/notes/{note.id}").status_code == 200


def test_links_only_to_reports_the_user_can_see(rapp: Flask, report_id: int, login: Login) -> None:
    ann = login("ann@riverbend.example.org")
    mine = add_report(rapp, ["riverbend_sd"])
    theirs = add_report(rapp, ["south_county_sd"])
    their_ref = _report(rapp, theirs).reference
    assert "among the reports you can see" in _act(ann, report_id, "links", {"reference": their_ref})
    [denied] = audit_entries(rapp, "report.denied")
    assert denied.detail["reason"] == "link_target" and denied.target_id == str(theirs)
    my_ref = _report(rapp, mine).reference
    assert _act(ann, report_id, "links", {"reference": my_ref}) == f"Linked to {my_ref}."
    assert _act(ann, report_id, "links", {"reference": str(mine)}) == f"{my_ref} is already linked."
    assert _act(ann, report_id, "links", {"reference": "R-1999-" + my_ref[-5:]}).startswith("There is no report")
    with rapp.app_context():
        assert len(db.session.scalars(select(ReportLink)).all()) == 1
    # Both reports show the link and the event.
    html = ann.get(f"/reports/{mine}").get_data(as_text=True)
    own_ref = _report(rapp, report_id).reference
    assert f">{own_ref}</a>" in html and f"Linked to {own_ref}" in html
    assert "linked" in _kinds(rapp, report_id)
    assert len(audit_entries(rapp, "report.linked")) == 1
    # The precinct sees this report but not Ann's other one: the link is there, not whose it is.
    pete = login("pete@precinct2.example.org", "investigator", ("precinct_2_central",))
    theirs_page = pete.get(f"/reports/{report_id}").get_data(as_text=True)
    assert "Linked to a related report of another agency" in theirs_page
    assert my_ref not in theirs_page and ann.account.email not in theirs_page


def test_legal_hold_is_for_admins_only(rapp: Flask, report_id: int, login: Login) -> None:
    ann = login("ann@riverbend.example.org")
    assert '<form id="hold-form"' not in ann.get(f"/reports/{report_id}").get_data(as_text=True)
    page = f"/reports/{report_id}"
    refused = ann.post(f"{page}/hold", {"hold": "place"}, form_page=page)
    assert refused.status_code == 403
    assert not _report(rapp, report_id).legal_hold
    root = login("root@riverbend.example.org", "admin", ("riverbend_sd",))
    assert '<form id="hold-form"' in root.get(page).get_data(as_text=True)
    assert _act(root, report_id, "hold", {"hold": "place"}) == "Legal hold placed."
    assert _report(rapp, report_id).legal_hold
    assert _act(root, report_id, "hold", {"hold": "lift"}) == "Legal hold lifted."
    assert not _report(rapp, report_id).legal_hold
    kinds = _kinds(rapp, report_id)
    assert "legal_hold_placed" in kinds and "legal_hold_lifted" in kinds
    assert [e.detail["hold"] for e in audit_entries(rapp, "report.legal_hold")] == [True, False]


def test_forms_without_a_csrf_token_are_refused(rapp: Flask, report_id: int, login: Login) -> None:
    ann = login("ann@riverbend.example.org")
    response = ann.client.post(f"/reports/{report_id}/notes", data={"note": "forged"})
    assert response.status_code == 400
    with rapp.app_context():
        assert db.session.scalars(select(Note)).all() == []


def _overdue_agencies(app: Flask) -> set[str]:
    with app.app_context():
        return {a.agency_id for a in due_assignments(db.session, utcnow() + timedelta(days=30))}


def test_working_on_a_report_acknowledges_it_and_closing_stops_all_escalation(
    rapp: Flask, report_id: int, login: Login
) -> None:
    ann = login("ann@riverbend.example.org")
    assert _overdue_agencies(rapp) == {"riverbend_sd", "safe_schools_unit", "precinct_2_central"}
    # Moving it to investigating is handling it: acknowledged for Ann's agency, not the others.
    assert _act(ann, report_id, "status", {"status": "investigating"}) == "Status is now Investigating."
    assert _overdue_agencies(rapp) == {"safe_schools_unit", "precinct_2_central"}
    assert _report(rapp, report_id).status == "investigating"
    [entry] = audit_entries(rapp, "report.status_changed")
    assert entry.detail["acknowledged_for"] == ["riverbend_sd"]
    # Closed: nobody is woken for it any more, whoever had not acknowledged.
    _act(ann, report_id, "status", {"status": "closed", "disposition": "founded"})
    assert _overdue_agencies(rapp) == set()
    # Reopened: the agencies that never acknowledged are due again.
    _act(ann, report_id, "status", {"status": "investigating"})
    assert _overdue_agencies(rapp) == {"safe_schools_unit", "precinct_2_central"}


def test_the_report_page_keeps_the_original_deadline_after_escalations(rapp: Flask, login: Login) -> None:
    late = add_report(rapp, ["riverbend_sd"], urgency="critical", due_in=timedelta(minutes=-20), escalated=3)
    ann = login("ann@riverbend.example.org")
    html = ann.get(f"/reports/{late}").get_data(as_text=True)
    assert "<strong>not acknowledged</strong>, was due" in html
    assert "escalated 3 times" in html
