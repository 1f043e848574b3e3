"""States as types: the report status transition table, the one event recorder, the
timeline's labels for every event kind, and the queue ordered by urgency rank."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from hotline.auth.models import ROLES, AuditEntry, User
from hotline.extensions import db
from hotline.models import Assignment, Event, Report, utcnow
from hotline.reports import events, status
from hotline.reports.transitions import REVIEW_STATUSES, SYSTEM_TRANSITIONS, advance, may_move
from hotline.review import queue
from hotline.review.report import EVENT_LABELS, event_label
from hotline.states import EventKind, ReportStatus, Urgency
from tests.auth.conftest import create_account
from tests.review.conftest import add_report


def _user(email: str) -> User:
    found = db.session.scalar(select(User).where(User.email == email))
    assert found is not None
    return found


def _events(report_id: int) -> list[tuple[str, dict[str, object]]]:
    rows = db.session.execute(select(Event.kind, Event.detail).where(Event.report_id == report_id).order_by(Event.id))
    return [(kind, detail) for kind, detail in rows]


# The transition table, without a database.


@pytest.mark.parametrize("role", ROLES)
def test_every_role_may_move_a_report_from_any_status_to_any_review_status(role: str) -> None:
    for old in ReportStatus:
        for new in REVIEW_STATUSES:
            assert may_move(role, old, new), (role, old, new)


@pytest.mark.parametrize("old", list(ReportStatus))
def test_nobody_moves_a_report_back_into_a_call_or_to_a_status_that_does_not_exist(old: ReportStatus) -> None:
    for role in ROLES:
        assert not may_move(role, old, ReportStatus.IN_CALL)
        assert not may_move(role, old, "archived")
    assert not may_move("visitor", old, ReportStatus.NEW)


def test_the_system_moves_a_report_only_where_its_table_says() -> None:
    report = Report(status=ReportStatus.IN_CALL)
    assert advance(report, ReportStatus.NEW) and report.status == ReportStatus.NEW
    assert advance(report, ReportStatus.ACKNOWLEDGED) and report.status == ReportStatus.ACKNOWLEDGED
    # Already acknowledged (or further on): the end of the call does not move it back.
    assert not advance(report, ReportStatus.NEW)
    report.status = ReportStatus.INVESTIGATING
    assert not advance(report, ReportStatus.ACKNOWLEDGED)
    assert report.status == "investigating"
    assert set(SYSTEM_TRANSITIONS) == {ReportStatus.IN_CALL, ReportStatus.NEW}


def test_urgency_rank_not_alphabet() -> None:
    assert Urgency.most_urgent_first() == (Urgency.CRITICAL, Urgency.HIGH, Urgency.NORMAL)
    assert Urgency.CRITICAL.rank > Urgency.HIGH.rank > Urgency.NORMAL.rank
    # Members are their text: rows and comparisons written with strings keep working.
    assert Urgency.CRITICAL == "critical" and ReportStatus("closed") is ReportStatus.CLOSED


def test_every_event_kind_has_a_label() -> None:
    assert set(EVENT_LABELS) == set(EventKind)
    # A kind no longer declared (an old row) still shows, by its name.
    assert event_label("something_retired", {}) == "Something retired"


# Status changes through the service, on a real database.


def test_change_status_applies_the_table_and_records_the_event(app: Flask) -> None:
    create_account(app, "inv@example.org", "investigator", ("riverbend_sd",))
    create_account(app, "other@example.org", "investigator", ("south_county_sd",))
    report_id = add_report(app, ["riverbend_sd"])
    with app.app_context():
        report = db.session.get(Report, report_id)
        assert report is not None
        inv = _user("inv@example.org")
        change = status.change_status(db.session, report, "investigating", by=inv)
        assert change is not None and change.previous == "new" and change.acknowledged_for == ["riverbend_sd"]
        db.session.commit()
        assert report.status == ReportStatus.INVESTIGATING
        assert _events(report_id) == [
            ("acknowledged", {"by": "inv@example.org", "agencies": ["riverbend_sd"]}),
            ("status_changed", {"by": "inv@example.org", "from": "new", "to": "investigating", "disposition": None}),
        ]
        # The same status again changes nothing and records nothing.
        assert status.change_status(db.session, report, "investigating", by=inv) is None

        with pytest.raises(status.DispositionNeeded):
            status.change_status(db.session, report, "closed", by=inv)
        with pytest.raises(status.DispositionNeeded):
            status.change_status(db.session, report, "closed", by=inv, disposition="lost")
        with pytest.raises(status.ForbiddenTransition):
            status.change_status(db.session, report, "in_call", by=inv)
        with pytest.raises(status.UnknownStatus):
            status.change_status(db.session, report, "archived", by=inv)
        # Someone whose agencies the report did not go to may not move it.
        with pytest.raises(status.ForbiddenTransition):
            status.change_status(db.session, report, "closed", by=_user("other@example.org"), disposition="prank")
        assert report.status == ReportStatus.INVESTIGATING

        closed = status.change_status(db.session, report, "closed", by=inv, disposition="prank")
        assert closed is not None and report.closed_at is not None and report.disposition == "prank"
        # Closed again with another disposition: a change of its own.
        assert status.change_status(db.session, report, "closed", by=inv, disposition="duplicate") is not None
        # Reopened: the disposition and the closing time go.
        assert status.change_status(db.session, report, "new", by=inv) is not None
        assert report.disposition is None and report.closed_at is None
        db.session.commit()


def test_the_cli_changes_status_through_the_same_rules(app: Flask) -> None:
    create_account(app, "inv@example.org", "investigator", ("riverbend_sd",))
    report_id = add_report(app, ["riverbend_sd"])
    with app.app_context():
        report = db.session.get(Report, report_id)
        assert report is not None
        ref = report.reference
    runner = app.test_cli_runner()

    refused = runner.invoke(args=["reports", "status", ref, "closed", "--user", "inv@example.org"])
    assert refused.exit_code != 0 and "disposition" in refused.output
    back = runner.invoke(args=["reports", "status", ref, "in_call", "--user", "inv@example.org"])
    assert back.exit_code != 0 and "may not move" in back.output
    nobody = runner.invoke(args=["reports", "status", ref, "closed", "--user", "nobody@example.org"])
    assert nobody.exit_code != 0 and "no user" in nobody.output

    done = runner.invoke(
        args=["reports", "status", ref, "closed", "--user", "INV@example.org", "--disposition", "unfounded"]
    )
    assert done.exit_code == 0, done.output
    assert f"{ref}: new -> closed (unfounded) by inv@example.org" in done.output
    with app.app_context():
        report = db.session.get(Report, report_id)
        assert report is not None and report.status == "closed" and report.disposition == "unfounded"
        assert [kind for kind, _ in _events(report_id)] == ["acknowledged", "status_changed"]
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "report.status_changed"))
        assert entry is not None and entry.detail["via"] == "cli" and entry.detail["to"] == "closed"


# The event recorder.


def test_record_writes_events_in_the_order_recorded_and_refuses_undeclared_kinds(app: Flask) -> None:
    report_id = add_report(app, ["riverbend_sd"])
    with app.app_context():
        events.record(db.session, report_id, EventKind.LINKED, by="a@example.org", reference="R-2026-00001")
        events.record(db.session, report_id, EventKind.CALL_ENDED, status="completed", duration=None)
        # Detail keys may be any name, even the recorder's own parameters' names.
        events.record(db.session, report_id, EventKind.KEYPAD, kind="x", session=1, report_id=2)
        with pytest.raises(ValueError):
            events.record(db.session, report_id, "linkd")  # type: ignore[arg-type]
        db.session.commit()
        assert _events(report_id) == [
            ("linked", {"by": "a@example.org", "reference": "R-2026-00001"}),
            ("call_ended", {"status": "completed", "duration": None}),
            ("keypad", {"kind": "x", "session": 1, "report_id": 2}),
        ]


# The queue's order.


def test_queue_lists_by_urgency_rank_then_oldest_across_pages(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    create_account(app, "inv@example.org", "investigator", ("riverbend_sd",))
    now = utcnow()
    made: dict[str, list[int]] = {}
    # Oldest first within each urgency; the normal ones are the oldest of all.
    for age, urgency in enumerate(["normal", "normal", "high", "high", "critical", "critical"]):
        made.setdefault(urgency, []).append(
            add_report(app, ["riverbend_sd"], urgency=urgency, created_at=now - timedelta(hours=10 - age))
        )
    add_report(app, ["south_county_sd"], urgency="critical")  # another agency's
    expected = made["critical"] + made["high"] + made["normal"]
    with app.test_request_context("/queue"), app.app_context():
        user = _user("inv@example.org")
        rows, more = queue.query_page(user, queue.Filters())
        assert [r.report.id for r in rows] == expected and not more
        # Pages cut across urgencies, or start past one: each page carries on where the
        # previous one stopped.
        for size in (1, 2, 4, 5):
            monkeypatch.setattr(queue, "PAGE_SIZE", size)
            listed: list[int] = []
            for page in range(1, 8):
                rows, more = queue.query_page(user, queue.Filters(page=page))
                listed += [r.report.id for r in rows]
                assert more == (len(listed) < len(expected)), (size, page)
            assert listed == expected, size
        only_high, _ = queue.query_page(user, queue.Filters(urgency="high"))
        assert [r.report.id for r in only_high] == made["high"]
        assert db.session.scalar(select(Assignment.id).limit(1)) is not None
