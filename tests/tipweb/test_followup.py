"""/tip/check: the same answer for every failure, the lockout, messages read, replies that land
on the same report."""

from __future__ import annotations

import re
from datetime import timedelta

from flask import Flask
from rq import Queue
from sqlalchemy import select

from hotline.auth.models import AuditEntry
from hotline.extensions import db, queues
from hotline.followup import messages
from hotline.models import Assignment, Event, Report, TipsterMessage, utcnow
from hotline.queueing import DEFAULT
from hotline.states import EventKind
from tests.tipweb.conftest import Tipster
from tests.tipweb.test_submit import file_tip, the_report

PIN = "482913"
REFUSED = "We could not open a tip with that number and PIN."


def tip_with_pin(tipster: Tipster) -> str:
    tip = file_tip(tipster)
    saved = tipster.post("/tip/pin", {"choice": "pin", "pin": PIN, "pin2": PIN}, token=True)
    assert saved.status_code == 200
    return tip


def check(tipster: Tipster, tip: str, secret: str) -> tuple[int, str]:
    tipster.get("/tip/check")
    response = tipster.post("/tip/check", {"tip": tip, "secret": secret})
    # The page without its CSRF token, which differs from one page to the next, and without the
    # tip number typed, which is shown again in its field.
    page = re.sub(r'name="csrf_token" value="[^"]+"', "", response.get_data(as_text=True))
    return response.status_code, page.replace(f'value="{tip}"', 'value="TIP"')


def events_of(app: Flask, report_id: int) -> list[tuple[str, dict]]:  # type: ignore[type-arg]
    with app.app_context():
        return [(e.kind, e.detail) for e in db.session.scalars(select(Event).where(Event.report_id == report_id))]


def test_unknown_number_wrong_pin_and_no_pin_get_the_same_page(app: Flask, tipster: Tipster) -> None:
    tip = tip_with_pin(tipster)
    no_pin_tip = file_tip(tipster)
    unknown = "12345678" if tip != "12345678" else "12345679"
    answers = [check(tipster, unknown, PIN), check(tipster, tip, "000000"), check(tipster, no_pin_tip, "1234")]
    assert answers[0] == answers[1] == answers[2]
    status, page = answers[0]
    assert status == 400 and REFUSED in page
    # Each refusal is audited, never with an address.
    with app.app_context():
        refusals = list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == "followup.refused")))
        assert len(refusals) == 3 and all(a.ip is None for a in refusals)


def test_five_wrong_pins_lock_the_tip_for_a_day(app: Flask, tipster: Tipster) -> None:
    tip = tip_with_pin(tipster)
    for _ in range(5):
        assert check(tipster, tip, "999999")[0] == 400
    status, page = check(tipster, tip, PIN)
    assert status == 400 and REFUSED in page
    report = the_report(app, tip)
    assert report.followup_locked_until is not None
    assert report.followup_locked_until > utcnow() + timedelta(hours=23)
    kinds = [k for k, _ in events_of(app, report.id)]
    assert kinds.count(EventKind.CALLBACK_FAILED) == 6 and kinds.count(EventKind.CALLBACK_LOCKED) == 1


def test_messages_are_shown_once_new_and_marked_read(app: Flask, tipster: Tipster) -> None:
    tip = tip_with_pin(tipster)
    report = the_report(app, tip)
    with app.app_context():
        messages.write(
            db.session, report.id, "Which locker number?", "en", author_email="ann@x.example", agency_id="riverbend_sd"
        )
        messages.write(
            db.session,
            report.id,
            "¿Vio el arma usted mismo?",
            "es",
            author_email="ann@x.example",
            agency_id="riverbend_sd",
        )
        db.session.commit()
    status, page = check(tipster, tip, PIN)
    assert status == 200
    assert "Which locker number?" in page and "¿Vio el arma usted mismo?" in page
    assert page.count(">New<") == 2
    assert '<li class="tip-message" lang="es">' in page
    with app.app_context():
        read = list(db.session.scalars(select(TipsterMessage.read_at).where(TipsterMessage.report_id == report.id)))
        assert all(r is not None for r in read)
    assert (EventKind.MESSAGES_READ, {"count": 2}) in events_of(app, report.id)
    # Opened again: the same messages, none new, no second "read" line.
    status, page = check(tipster, tip, PIN)
    assert page.count(">New<") == 0 and "Which locker number?" in page
    assert [k for k, _ in events_of(app, report.id)].count(EventKind.MESSAGES_READ) == 1


def test_a_reply_lands_on_the_same_report(app: Flask, tipster: Tipster) -> None:
    tip = tip_with_pin(tipster)
    report = the_report(app, tip)
    with app.app_context():
        db.session.add(Assignment(report_id=report.id, agency_id="riverbend_sd", due_at=utcnow()))
        db.session.commit()
    assert check(tipster, tip, PIN)[0] == 200
    sent = tipster.post("/tip/check/reply", {"body": "Locker 214, by the gym."}, token=True)
    assert sent.status_code == 200
    assert "Thank you. What you added was received." in sent.get_data(as_text=True)
    with app.app_context():
        assert len(list(db.session.scalars(select(Report)))) == 1
        replies = list(db.session.scalars(select(TipsterMessage).where(TipsterMessage.report_id == report.id)))
        assert [(m.direction, m.body, m.author_email) for m in replies] == [
            ("from_tipster", "Locker 214, by the gym.", None)
        ]
        assignment = db.session.scalar(select(Assignment).where(Assignment.report_id == report.id))
        assert assignment is not None and assignment.tipster_news_at is not None
        assert db.session.get(Report, report.id).tipster_added_at is not None  # type: ignore[union-attr]
        job_ids = Queue(DEFAULT, connection=queues.redis).job_ids
    kinds = dict(events_of(app, report.id))
    assert kinds[EventKind.TIPSTER_REPLIED]["message"] == replies[0].id
    assert kinds[EventKind.INFORMATION_ADDED] == {"channel": "web", "recordings": 0, "texts": 1, "attachments": 0}
    assert f"finalize-{report.id}-reply{replies[0].id}" in job_ids


def test_reply_checks_and_expired_token(app: Flask, tipster: Tipster) -> None:
    tip = tip_with_pin(tipster)
    check(tipster, tip, PIN)
    long = tipster.post("/tip/check/reply", {"body": "x" * 2001}, token=True)
    assert long.status_code == 400
    assert "This answer is too long: at most 2000 characters." in long.get_data(as_text=True)
    assert "x" * 2001 in long.get_data(as_text=True)  # kept for editing
    forged = tipster.post("/tip/check/reply", {"body": "hello", "token": "not-a-token"})
    assert forged.status_code == 400
    html = forged.get_data(as_text=True)
    assert "This page has expired." in html and 'name="draft" value="hello"' in html
    report = the_report(app, tip)
    with app.app_context():
        assert list(db.session.scalars(select(TipsterMessage).where(TipsterMessage.report_id == report.id))) == []


def test_status_sentence_only(app: Flask, tipster: Tipster) -> None:
    tip = tip_with_pin(tipster)
    report = the_report(app, tip)
    with app.app_context():
        row = db.session.get(Report, report.id)
        assert row is not None
        row.status, row.assignee = "closed", "ann@x.example"
        db.session.commit()
    _status, page = check(tipster, tip, PIN)
    assert "Your report has been closed. Thank you." in page
    assert "ann@x.example" not in page and "critical" not in page and "weapons" not in page
