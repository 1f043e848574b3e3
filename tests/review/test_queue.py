"""The queue: scoping, order, filters, pagination, the overdue mark and the live refresh."""

from __future__ import annotations

import re
from datetime import timedelta

from flask import Flask
from sqlalchemy import event

from hotline.auth.session import LAST_SEEN
from hotline.extensions import db
from hotline.models import utcnow
from tests.review.conftest import Login, add_report

ROW = re.compile(r'<tr class="report-row( overdue)?" data-report-id="(\d+)">')


def _ids(html: str) -> list[int]:
    return [int(m.group(2)) for m in ROW.finditer(html)]


def _overdue(html: str) -> set[int]:
    return {int(m.group(2)) for m in ROW.finditer(html) if m.group(1)}


def test_critical_first_then_oldest_first_only_the_users_agencies(rapp: Flask, login: Login) -> None:
    now = utcnow()
    old_normal = add_report(rapp, ["riverbend_sd"], urgency="normal", created_at=now - timedelta(days=3))
    new_critical = add_report(rapp, ["riverbend_sd"], urgency="critical", created_at=now - timedelta(hours=1))
    old_critical = add_report(
        rapp, ["riverbend_sd", "safe_schools_unit"], urgency="critical", created_at=now - timedelta(days=1)
    )
    high = add_report(rapp, ["riverbend_sd"], urgency="high", created_at=now - timedelta(hours=5))
    add_report(rapp, ["south_county_sd"], urgency="critical")  # another agency's
    ann = login("ann@riverbend.example.org")
    html = ann.get("/queue").get_data(as_text=True)
    assert _ids(html) == [old_critical, new_critical, high, old_normal]
    assert '<table id="queue"' in html and 'class="report-link"' in html
    assert '<span class="badge badge-critical">' in html and '<span class="badge badge-high">' in html
    assert '<span class="badge badge-normal">' in html
    assert '<form id="filters"' in html
    for name in ("status", "urgency", "hotline", "category"):
        assert f'<select id="f-{name}" name="{name}">' in html
    assert 'name="date_from"' in html and 'name="date_to"' in html


def test_overdue_rows_are_marked(rapp: Flask, login: Login) -> None:
    late = add_report(rapp, ["riverbend_sd"], due_in=timedelta(minutes=-10))
    on_time = add_report(rapp, ["riverbend_sd"], due_in=timedelta(hours=2))
    done = add_report(rapp, ["riverbend_sd"], due_in=timedelta(minutes=-10), acknowledged=True)
    # Overdue at another agency is not this user's deadline.
    elsewhere = add_report(rapp, ["riverbend_sd"], due_in=timedelta(hours=2))
    add_report(rapp, ["south_county_sd"], due_in=timedelta(minutes=-10))
    # Escalated twice: its next escalation step lies ahead, yet it is still overdue.
    escalated = add_report(rapp, ["riverbend_sd"], urgency="critical", due_in=timedelta(minutes=-7), escalated=2)
    # Referred elsewhere: no deadline left to meet.
    add_report(rapp, ["riverbend_sd"], status="referred", due_in=timedelta(minutes=-10))
    ann = login("ann@riverbend.example.org")
    html = ann.get("/queue").get_data(as_text=True)
    assert _overdue(html) == {late, escalated}
    assert "Overdue by 7 min" in html or "Overdue by 6 min" in html
    assert "Overdue by 10 min" in html or "Overdue by 9 min" in html
    assert "Due in 1 h 59 min" in html or "Due in 2 h" in html
    assert {on_time, done, elsewhere} <= set(_ids(html))
    assert "Acknowledged" in html


def test_filters(rapp: Flask, login: Login) -> None:
    now = utcnow()
    weapons = add_report(rapp, ["riverbend_sd"], urgency="critical", categories=["weapons", "other"])
    drugs = add_report(rapp, ["riverbend_sd"], urgency="high", categories=["drugs"], status="investigating")
    closed = add_report(rapp, ["riverbend_sd"], categories=["other"], status="closed")
    last_week = add_report(rapp, ["riverbend_sd"], categories=["bullying"], created_at=now - timedelta(days=7))
    prea = add_report(rapp, ["riverbend_sd"], hotline="prea", categories=["abuse"])
    ann = login("ann@riverbend.example.org")

    def ids(query: str) -> set[int]:
        return set(_ids(ann.get(f"/queue?{query}").get_data(as_text=True)))

    assert ids("") == {weapons, drugs, last_week, prea}  # open reports by default
    assert ids("status=all") == {weapons, drugs, closed, last_week, prea}
    assert ids("status=closed") == {closed}
    assert ids("status=investigating") == {drugs}
    assert ids("urgency=critical") == {weapons}
    assert ids("category=weapons") == {weapons}
    assert ids("category=other&status=all") == {weapons, closed}
    assert ids("hotline=prea") == {prea}
    day = (now - timedelta(days=7)).date().isoformat()
    assert ids(f"date_from={day}&date_to={day}") == {last_week}
    assert ids(f"date_from={(now - timedelta(days=1)).date().isoformat()}") == {weapons, drugs, prea}
    # Nonsense is ignored, not an error.
    assert ids("urgency=extreme&category=%25&date_from=yesterday&page=x") == ids("")
    html = ann.get("/queue?urgency=high").get_data(as_text=True)
    assert '<option value="high" selected>' in html


def test_pagination_keeps_the_filters(rapp: Flask, login: Login) -> None:
    start = utcnow() - timedelta(days=30)
    made = [
        add_report(rapp, ["riverbend_sd"], categories=["other"], created_at=start + timedelta(minutes=i))
        for i in range(120)
    ]
    add_report(rapp, ["riverbend_sd"], urgency="critical", categories=["weapons"])
    ann = login("ann@riverbend.example.org")
    first = ann.get("/queue?category=other").get_data(as_text=True)
    assert _ids(first) == made[:50]
    assert 'rel="prev"' not in first
    next_url = re.search(r'<a rel="next" href="([^"]+)"', first)
    assert next_url and "category=other" in next_url.group(1) and "page=2" in next_url.group(1)
    second = ann.get(next_url.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert _ids(second) == made[50:100]
    assert 'rel="prev"' in second
    third = ann.get("/queue?category=other&page=3").get_data(as_text=True)
    assert _ids(third) == made[100:] and 'rel="next"' not in third


def test_the_refresh_fragment_keeps_filters_and_page_and_not_the_session(rapp: Flask, login: Login) -> None:
    start = utcnow() - timedelta(days=30)
    made = [add_report(rapp, ["riverbend_sd"], created_at=start + timedelta(minutes=i)) for i in range(60)]
    ann = login("ann@riverbend.example.org")
    page = ann.get("/queue?urgency=normal&page=2").get_data(as_text=True)
    refresh = re.search(r'<table id="queue"[^>]*data-refresh-url="([^"]+)"', page)
    assert refresh and refresh.group(1).replace("&amp;", "&") == "/queue/rows?urgency=normal&page=2"
    assert '<script src="/static/review.js" defer></script>' in page
    with ann.client.session_transaction() as session:
        session[LAST_SEEN] = session[LAST_SEEN] - 600  # the user last did something 10 min ago
        seen = session[LAST_SEEN]
    fragment = ann.get("/queue/rows?urgency=normal&page=2")
    assert fragment.status_code == 200 and fragment.headers["Cache-Control"] == "no-store"
    body = fragment.get_data(as_text=True)
    assert _ids(body) == made[50:] and "<html" not in body
    # Polling is not activity: the idle timeout still counts from the last real request.
    with ann.client.session_transaction() as session:
        assert session[LAST_SEEN] == seen


def test_one_query_for_the_page_not_one_per_row(rapp: Flask, login: Login) -> None:
    for _ in range(30):
        add_report(rapp, ["riverbend_sd", "precinct_2_central"])
    ann = login("ann@riverbend.example.org", "investigator", ("riverbend_sd", "precinct_2_central"))
    statements: list[str] = []
    with rapp.app_context():
        engine = db.engine

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        html = ann.get("/queue").get_data(as_text=True)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(_ids(html)) == 30  # each report once, though routed to both of the user's agencies
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    # The user (sign-in), the page of reports, the page's assignments.
    assert len(selects) <= 3, selects


def test_an_empty_queue_says_so(rapp: Flask, login: Login) -> None:
    ann = login("ann@riverbend.example.org")
    html = ann.get("/queue").get_data(as_text=True)
    assert "No reports match." in html
