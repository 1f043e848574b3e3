"""Scoping: a user sees a report only if it was routed to one of their agencies. Everything
else is a 404, exactly like a report that does not exist, and the attempt is audited."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from hotline.extensions import db
from hotline.models import Assignment, Recording, Report
from hotline.review.models import Note
from tests.review.conftest import Browser, Login, add_report, audit_entries


def _fixtures(app: Flask, report_id: int) -> tuple[str, int]:
    """A recording sid and a note id that belong to the report."""
    with app.app_context():
        sid = db.session.scalars(select(Recording.recording_sid).where(Recording.report_id == report_id)).first()
        note = Note(report_id=report_id, author_email="ann@riverbend.example.org", body="seen the caretaker")
        db.session.add(note)
        db.session.commit()
        assert sid is not None
        return sid, note.id


def _routes(report_id: int, sid: str, note_id: int) -> list[tuple[str, str, dict[str, str]]]:
    base = f"/reports/{report_id}"
    return [
        ("GET", base, {}),
        ("GET", f"{base}/recordings/{sid}/audio", {}),
        ("GET", f"{base}/recordings/{sid}/audio?download=1", {}),
        ("GET", f"{base}/notes/{note_id}", {}),
        ("POST", f"{base}/acknowledge", {}),
        ("POST", f"{base}/assign", {"assignee": ""}),
        ("POST", f"{base}/status", {"status": "closed", "disposition": "prank"}),
        ("POST", f"{base}/notes", {"note": "sneaky"}),
        ("POST", f"{base}/links", {"reference": "1"}),
        ("POST", f"{base}/hold", {"hold": "place"}),
    ]


@pytest.mark.parametrize("role", ["investigator", "admin"])
def test_every_route_is_404_and_audited_for_another_agency(
    rapp: Flask, report_id: int, login: Login, role: str
) -> None:
    sid, note_id = _fixtures(rapp, report_id)
    # South County is not where this Riverbend report went; an admin role changes nothing.
    eve = login("eve@southcounty.example.org", role, ("south_county_sd", "precinct_4_south"))
    routes = _routes(report_id, sid, note_id)
    for method, path, data in routes:
        response = eve.get(path) if method == "GET" else eve.post(path, data)
        assert response.status_code == 404, (method, path, response.status_code)
        assert b"seen the caretaker" not in response.data
    denied = audit_entries(rapp, "report.denied")
    assert len(denied) == len(routes)
    assert all(d.user_email == eve.account.email and d.detail["reason"] == "not_assigned" for d in denied)
    assert {d.detail["path"] for d in denied} == {path.split("?")[0] for _, path, _ in routes}
    with rapp.app_context():
        report = db.session.get(Report, report_id)
        assert report is not None
        assert report.status != "closed" and not report.legal_hold
        assert db.session.scalars(select(Note.body)).all() == ["seen the caretaker"]
        assert all(a.acknowledged_at is None for a in db.session.scalars(select(Assignment)))
    assert not audit_entries(rapp, "report.view")
    # Nor does it appear in their queue or in its refresh, with any filter.
    for path in ("/queue", "/queue/rows", "/queue?status=all", "/queue/rows?status=all&urgency=critical"):
        listing = eve.get(path)
        assert listing.status_code == 200
        assert f'data-report-id="{report_id}"' not in listing.get_data(as_text=True), path


def test_made_up_ids_are_404_and_audited(rapp: Flask, report_id: int, login: Login) -> None:
    sid, note_id = _fixtures(rapp, report_id)
    ann = login("ann@riverbend.example.org")
    assert ann.get("/reports/999999").status_code == 404
    assert ann.get(f"/reports/{report_id}/notes/999999").status_code == 404
    assert ann.get(f"/reports/{report_id}/recordings/RE{'f' * 32}/audio").status_code == 404
    reasons = [(d.target_type, d.detail["reason"]) for d in audit_entries(rapp, "report.denied")]
    assert reasons == [("report", "missing"), ("note", "missing"), ("recording", "missing")]
    # The same user sees the real ones.
    assert ann.get(f"/reports/{report_id}").status_code == 200
    assert ann.get(f"/reports/{report_id}/notes/{note_id}").status_code == 200
    assert ann.get(f"/reports/{report_id}/recordings/{sid}/audio").status_code == 200


def test_a_note_of_another_report_is_not_shown_under_ones_own(rapp: Flask, report_id: int, login: Login) -> None:
    other = add_report(rapp, ["south_county_sd"])
    with rapp.app_context():
        note = Note(report_id=other, author_email="x@southcounty.example.org", body="south secret")
        db.session.add(note)
        db.session.commit()
        note_id = note.id
    ann = login("ann@riverbend.example.org")
    response = ann.get(f"/reports/{report_id}/notes/{note_id}")
    assert response.status_code == 404 and b"south secret" not in response.data
    assert [d.target_type for d in audit_entries(rapp, "report.denied")] == ["note"]


def test_prea_reports_only_reach_the_prea_unit_and_the_outside_agency(rapp: Flask, login: Login) -> None:
    prea = add_report(rapp, ["prea_unit", "dhs_outside"], hotline="prea", urgency="high", categories=["sexual_abuse"])
    school = add_report(rapp, ["safe_schools_unit", "riverbend_sd"])
    unit = login("pat@prea.example.org", "investigator", ("prea_unit",))
    outside = login("dee@dhs.example.org", "investigator", ("dhs_outside",))
    # Even an admin of every school and police agency sees nothing of PREA.
    jail_admin = login(
        "boss@county.example.org",
        "admin",
        ("safe_schools_unit", "precinct_1_north", "precinct_2_central", "precinct_4_south", "dispatch"),
    )
    for user in (unit, outside):
        assert user.get(f"/reports/{prea}").status_code == 200
        queue = user.get("/queue").get_data(as_text=True)
        assert f'data-report-id="{prea}"' in queue and f'data-report-id="{school}"' not in queue
    assert jail_admin.get(f"/reports/{prea}").status_code == 404
    queue = jail_admin.get("/queue").get_data(as_text=True)
    assert f'data-report-id="{prea}"' not in queue and f'data-report-id="{school}"' in queue


def test_anonymous_visitors_are_sent_to_sign_in(rapp: Flask, report_id: int) -> None:
    client = rapp.test_client()
    for path in ("/queue", "/queue/rows", f"/reports/{report_id}", "/dispatch", "/admin/audit"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path


def test_role_pages_need_the_role(rapp: Flask, login: Login) -> None:
    ann: Browser = login("ann@riverbend.example.org")
    assert ann.get("/dispatch").status_code == 403
    # The audit log answers like something that is not there, and the attempt is audited.
    assert ann.get("/admin/audit").status_code == 404
    assert ann.get("/admin/audit/export?format=csv").status_code == 404
    denied = [e for e in audit_entries(rapp, "report.denied") if e.target_type == "admin_page"]
    assert [e.target_id for e in denied] == ["review.audit_log", "review.audit_export"]
    assert all(e.user_email == ann.account.email for e in denied)
