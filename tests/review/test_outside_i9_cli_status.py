"""Outside attack on `flask reports status` (new in issue 9): a user who cannot see the
report is refused and the refusal is audited as the web audits it; a reference too large
for the database is a clear error, not a traceback."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from sqlalchemy import select

from hotline.auth.models import AuditEntry
from hotline.extensions import db
from hotline.models import Event, Report, utcnow
from hotline.pipeline.assign import due_assignments
from tests.auth.conftest import create_account
from tests.review.conftest import add_report


def _reference(app: Flask, report_id: int) -> str:
    with app.app_context():
        report = db.session.get(Report, report_id)
        assert report is not None
        return report.reference


def test_a_user_who_cannot_see_the_report_is_refused_and_the_refusal_audited(app: Flask) -> None:
    create_account(app, "zed@southcounty.example.org", "admin", ("south_county_sd",))
    report_id = add_report(app, ["riverbend_sd"])
    ref = _reference(app, report_id)
    result = app.test_cli_runner().invoke(
        args=["reports", "status", ref, "closed", "--user", "zed@southcounty.example.org", "--disposition", "prank"]
    )
    assert result.exit_code != 0 and "may not move" in result.output
    with app.app_context():
        report = db.session.get(Report, report_id)
        assert report is not None and report.status == "new" and report.disposition is None
        assert not list(db.session.scalars(select(Event).where(Event.report_id == report_id)))
        # The web audits a report out of reach as report.denied; the terminal did not.
        denied = list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == "report.denied")))
        assert [(e.target_type, e.target_id) for e in denied] == [("report", str(report_id))]
        assert denied[0].detail["via"] == "cli" and denied[0].detail["reason"] == "not_assigned"
        assert not list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == "report.status_changed")))


def test_a_disabled_account_cannot_change_a_status_from_the_terminal(app: Flask) -> None:
    create_account(app, "ann@riverbend.example.org", "investigator", ("riverbend_sd",))
    report_id = add_report(app, ["riverbend_sd"])
    runner = app.test_cli_runner()
    assert runner.invoke(args=["users", "disable", "ann@riverbend.example.org"]).exit_code == 0
    result = runner.invoke(
        args=["reports", "status", _reference(app, report_id), "investigating", "--user", "ann@riverbend.example.org"]
    )
    assert result.exit_code != 0
    with app.app_context():
        report = db.session.get(Report, report_id)
        assert report is not None and report.status == "new"


def test_a_report_number_too_large_for_the_database_is_a_clear_error(app: Flask) -> None:
    create_account(app, "ann@riverbend.example.org", "investigator", ("riverbend_sd",))
    for ref in ("99999999999999999999", "R-2026-99999999999999"):
        result = app.test_cli_runner().invoke(
            args=["reports", "status", ref, "investigating", "--user", "ann@riverbend.example.org"]
        )
        assert result.exit_code == 2, (ref, result.output, result.exception)
        assert "no report" in result.output


def test_a_reference_in_other_digits_is_a_clear_error(app: Flask) -> None:
    create_account(app, "ann@riverbend.example.org", "investigator", ("riverbend_sd",))
    for ref in ("²", "R-2026-²", "١"):
        result = app.test_cli_runner().invoke(
            args=["reports", "status", ref, "investigating", "--user", "ann@riverbend.example.org"]
        )
        assert result.exit_code == 2, (ref, result.output, result.exception)


def _overdue(app: Flask) -> set[int]:
    with app.app_context():
        return {a.report_id for a in due_assignments(db.session, utcnow() + timedelta(days=30))}


def test_closing_or_acknowledging_from_the_terminal_stops_escalation(app: Flask) -> None:
    create_account(app, "ann@riverbend.example.org", "investigator", ("riverbend_sd",))
    closed = add_report(app, ["riverbend_sd"], due_in=-timedelta(minutes=5))
    acked = add_report(app, ["riverbend_sd"], due_in=-timedelta(minutes=5))
    moved_back = add_report(app, ["riverbend_sd"], due_in=-timedelta(minutes=5))
    assert {closed, acked, moved_back} <= _overdue(app)
    runner = app.test_cli_runner()
    user = ["--user", "ann@riverbend.example.org"]
    done = runner.invoke(args=["reports", "status", str(closed), "closed", "--disposition", "prank", *user])
    assert done.exit_code == 0, done.output
    assert runner.invoke(args=["reports", "ack", str(acked), *user]).exit_code == 0
    # A move back to "new" acknowledges nothing: it still escalates.
    assert runner.invoke(args=["reports", "status", str(moved_back), "new", *user]).exit_code == 0
    overdue = _overdue(app)
    assert closed not in overdue and acked not in overdue and moved_back in overdue
    with app.app_context():
        report = db.session.get(Report, closed)
        assert report is not None and (report.status, report.disposition) == ("closed", "prank")
