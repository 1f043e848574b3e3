"""The queue and the tipster's news: the "Tipster added information" mark, its filter and
its order, and acknowledging that clears the mark."""

from __future__ import annotations

import re
from datetime import timedelta

from flask import Flask
from sqlalchemy import update

from hotline.extensions import db
from hotline.followup import news
from hotline.models import Assignment, Report, utcnow
from hotline.states import Channel
from tests.review.conftest import Browser, add_report

ROW = re.compile(r'<tr class="report-row[^"]*" data-report-id="(\d+)">(.*?)</tr>', re.S)
MARK = "Tipster added information</span>"


def _rows(html: str) -> dict[int, str]:
    return {int(m.group(1)): m.group(2) for m in ROW.finditer(html)}


def _ids(html: str) -> list[int]:
    return [int(m.group(1)) for m in ROW.finditer(html)]


def _marked(html: str) -> set[int]:
    return {report_id for report_id, row in _rows(html).items() if MARK in row}


def _news(app: Flask, report_id: int, minutes_ago: int, agencies: list[str] | None = None) -> None:
    """The tipster added information `minutes_ago`, unacknowledged by `agencies` (default: all)."""
    with app.app_context():
        report = db.session.get(Report, report_id)
        assert report is not None
        news.tipster_added(db.session, report, channel=Channel.WEB, texts=1)
        at = utcnow() - timedelta(minutes=minutes_ago)
        report.tipster_added_at = at
        marked = update(Assignment).where(Assignment.report_id == report_id)
        db.session.execute(marked.values(tipster_news_at=None))
        if agencies is not None:
            marked = marked.where(Assignment.agency_id.in_(agencies))
        db.session.execute(marked.values(tipster_news_at=at))
        db.session.commit()


def test_the_mark_filter_and_order_of_tipster_news(rapp: Flask, ann: Browser) -> None:
    now = utcnow()
    critical = add_report(rapp, ["riverbend_sd"], urgency="critical", created_at=now - timedelta(days=2))
    older_news = add_report(rapp, ["riverbend_sd"], created_at=now - timedelta(days=3))
    newer_news = add_report(rapp, ["riverbend_sd", "safe_schools_unit"], created_at=now - timedelta(days=4))
    theirs = add_report(rapp, ["riverbend_sd", "safe_schools_unit"], urgency="high")
    _news(rapp, older_news, minutes_ago=60)
    _news(rapp, newer_news, minutes_ago=5)
    # News that only the other agency has not acknowledged is not Ann's to see marked.
    _news(rapp, theirs, minutes_ago=1, agencies=["safe_schools_unit"])

    html = ann.get("/queue").get_data(as_text=True)
    assert _ids(html) == [critical, theirs, newer_news, older_news]  # the usual order, unchanged
    assert _marked(html) == {older_news, newer_news}

    only = ann.get("/queue?news=1").get_data(as_text=True)
    assert _ids(only) == [newer_news, older_news] and _marked(only) == {older_news, newer_news}
    assert 'id="f-news" name="news" type="checkbox" value="1" checked' in only
    assert 'data-refresh-url="/queue/rows?news=1"' in only  # the 30-second refresh keeps the filter

    by_news = ann.get("/queue?sort=news").get_data(as_text=True)
    # Most recent tipster information first (the other agency's news still counts as news
    # on the report), then reports the tipster never added to.
    assert _ids(by_news)[:3] == [theirs, newer_news, older_news]
    assert set(_ids(by_news)[3:]) == {critical}
    assert _ids(ann.get("/queue/rows?news=1&sort=news").get_data(as_text=True)) == [newer_news, older_news]
    assert _ids(ann.get("/queue?sort=bogus").get_data(as_text=True)) == _ids(html)  # unknown: the default


def test_acknowledging_clears_the_mark_for_the_users_agencies(rapp: Flask, ann: Browser) -> None:
    report_id = add_report(rapp, ["riverbend_sd", "safe_schools_unit"])
    _news(rapp, report_id, minutes_ago=2)
    assert _marked(ann.get("/queue").get_data(as_text=True)) == {report_id}
    done = ann.post(f"/reports/{report_id}/acknowledge", {}, form_page=f"/reports/{report_id}")
    assert done.status_code == 302
    html = ann.get("/queue").get_data(as_text=True)
    assert _ids(html) == [report_id] and _marked(html) == set()
    assert _ids(ann.get("/queue?news=1").get_data(as_text=True)) == []
    with rapp.app_context():
        # The other agency has not acknowledged: its mark stays.
        assert [a.agency_id for a in news.marked(db.session, report_id)] == ["safe_schools_unit"]
