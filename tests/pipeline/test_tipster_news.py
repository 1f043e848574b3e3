"""The tipster adds information: a call back's recordings and web replies land on the same,
already-routed report, re-classify it, and open one new round of notices per piece of news.

Through the real pipeline: signed Twilio webhooks, the local Twilio stand-in, a real RQ
worker on real Redis, real speech recognition on the test clips (see tests/data/utterances).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from hotline.extensions import db, runtime
from hotline.followup import messages, news
from hotline.jobs.declarations import FINALIZE, NOTIFY
from hotline.models import Assignment, Call, Event, Notification, Recording, Report, utcnow
from hotline.pipeline.assign import acknowledge
from hotline.pipeline.notify import Notice, WebhookChannel
from hotline.settings import load_settings
from hotline.simulator.webhooks import new_sid, recording_params
from hotline.states import Channel, EventKind, ReportStatus
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, SAFE_SCHOOLS, TwilioClient
from tests.pipeline.conftest import UTTERANCES, run_jobs
from tests.pipeline.servers import http_receiver
from tests.pipeline.test_classify_route_notify import BASE, ROOT
from workers.sweeps import sweep

RIVERBEND = ["precinct_2_central", "riverbend_sd", "safe_schools_unit"]  # district 3, any topic
DRUGS = [*RIVERBEND, "drug_task_force"]  # district 3 and the drugs category


def call_back(app: Flask, fake: Any, report_id: int, clips: list[str], *, end: bool = True) -> str:
    """What a call back that adds information does, through Twilio's signed webhooks.

    The call back's Call row points at the earlier report; the adder calls
    news.tipster_added in its transaction and queues FINALIZE (the contract); each recording
    then reaches the app by its status callback, and the call ends with its final status.
    """
    call_sid = new_sid("CA")
    with app.app_context():
        report = db.session.get(Report, report_id)
        assert report is not None
        db.session.add(Call(call_sid=call_sid, report_id=report_id, hotline_id="safe_schools", step="problem"))
        news.tipster_added(db.session, report, channel=Channel.PHONE, recordings=len(clips))
        db.session.commit()
        FINALIZE.enqueue(FINALIZE.id(report_id, "news"), report_id)
    twilio = TwilioClient(app.test_client(), AUTH_TOKEN)
    for clip in clips:
        sid = new_sid("RE")
        fake.add_recording(ACCOUNT_SID, sid, (UTTERANCES / clip).read_bytes())
        url = f"{fake.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{sid}"
        params = recording_params(ACCOUNT_SID, call_sid, sid, url, "completed", 6)
        assert twilio.post("/voice/recording/safe_schools/problem", params).status_code == 204
    if end:
        end_call(app, call_sid)
    return call_sid


def end_call(app: Flask, call_sid: str) -> None:
    """Twilio's final status callback for the call back."""
    twilio = TwilioClient(app.test_client(), AUTH_TOKEN)
    ended = {
        "CallSid": call_sid,
        "AccountSid": ACCOUNT_SID,
        "From": "+15550000000",
        "To": SAFE_SCHOOLS,
        "Direction": "inbound",
        "CallStatus": "completed",
        "CallDuration": "60",
    }
    assert twilio.post("/voice/status", ended).status_code == 204


def new_information_notices(caplog: pytest.LogCaptureFixture, reference: str) -> list[str]:
    """The log channel's notices about new information on the report (one per contact)."""
    return [r.getMessage() for r in caplog.records if f"New information on report {reference}" in r.getMessage()]


def sent(app: Flask, round_: int, level: int = 0) -> Counter[str]:
    """Notices sent per agency in a round at a level."""
    with app.app_context():
        rows = db.session.execute(
            select(Assignment.agency_id)
            .join(Notification, Notification.assignment_id == Assignment.id)
            .where(Notification.status == "sent", Notification.round == round_, Notification.level == level)
        )
        return Counter(agency for (agency,) in rows)


def kinds(app: Flask) -> Counter[str]:
    with app.app_context():
        return Counter(db.session.scalars(select(Event.kind)))


def run_everything_again(app: Flask) -> None:
    """Finalize and notify queued again (new job ids), and a sweep: as retries would."""
    with app.app_context():
        report_id = db.session.scalars(select(Report.id)).one()
        FINALIZE.enqueue(FINALIZE.id(report_id, "again"), report_id)
        for a in db.session.scalars(select(Assignment)):
            NOTIFY.enqueue(NOTIFY.id(a.id, f"again-{a.round}"), a.id, 0, a.round)
            NOTIFY.enqueue(NOTIFY.id(a.id, "again-legacy"), a.id, 0)  # a job queued before rounds
        sweep()
    run_jobs(app)


@pytest.mark.slow
def test_a_call_back_recording_lands_on_the_routed_report_raises_urgency_and_notifies_once(
    papp: Flask, place_call: Any, fake_twilio: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    place_call("u11.wav")  # "a broken window": topic 6, district 3, normal
    run_jobs(papp)
    with papp.app_context():
        report = db.session.scalars(select(Report)).one()
        assert report.urgency == "normal" and report.routed_at is not None
        reference, report_id = report.reference, report.id
        acknowledge(db.session, report, "det.smith")  # the first round is done with
        db.session.commit()
    assert sent(papp, 0) and not new_information_notices(caplog, reference)

    call_back(papp, fake_twilio, report_id, ["u01.wav"])  # "a kid with a gun in the parking lot"
    run_jobs(papp)

    with papp.app_context():
        assert db.session.scalar(select(func.count(Report.id))) == 1  # no second report
        report = db.session.scalars(select(Report)).one()
        late = db.session.scalars(select(Recording).order_by(Recording.id.desc())).first()
        assert late is not None and late.report_id == report.id
        assert late.fetch_state == "stored" and late.deleted_from_twilio and late.transcript_state == "done"
        assert late.classified_at is not None
        assert report.urgency == "critical" and "weapons" in report.categories
        window = timedelta(seconds=runtime.get().settings.escalation.critical)
        for a in db.session.scalars(select(Assignment)):
            assert (a.round, a.level, a.acknowledged_at) == (1, 0, None)
            assert a.tipster_news_at is not None
            assert timedelta(0) < a.due_at - utcnow() <= window  # the critical deadline, from now
        notified = db.session.scalars(select(Event.detail).where(Event.kind == EventKind.NEW_INFORMATION_NOTIFIED))
        assert [sorted(d["agencies"]) for d in notified] == [RIVERBEND]
    assert sent(papp, 1) == sent(papp, 0)  # the same contacts and channels as for the report
    lines = new_information_notices(caplog, reference)
    assert len(lines) == len(RIVERBEND) and all("Safe Schools" in line and "gun" not in line for line in lines)
    assert kinds(papp)[EventKind.RECLASSIFIED] == 1

    run_everything_again(papp)
    assert len(new_information_notices(caplog, reference)) == len(RIVERBEND)  # nothing sent twice
    assert kinds(papp)[EventKind.NEW_INFORMATION_NOTIFIED] == 1 and kinds(papp)[EventKind.RECLASSIFIED] == 1
    with papp.app_context():
        assert {a.round for a in db.session.scalars(select(Assignment))} == {1}

    # A second call back with nothing alarming: a round of its own; urgency does not fall.
    # While the call back goes on, more may come: its round waits for its end.
    sid = call_back(papp, fake_twilio, report_id, ["u12.wav"], end=False)  # "please call me back tomorrow morning"
    run_jobs(papp)
    with papp.app_context():
        assert {a.round for a in db.session.scalars(select(Assignment))} == {1}
    end_call(papp, sid)
    run_jobs(papp)
    with papp.app_context():
        report = db.session.scalars(select(Report)).one()
        assert report.urgency == "critical" and "weapons" in report.categories
        assert {a.round for a in db.session.scalars(select(Assignment))} == {2}
    assert len(new_information_notices(caplog, reference)) == 2 * len(RIVERBEND)
    assert kinds(papp)[EventKind.NEW_INFORMATION_NOTIFIED] == 2
    assert sum(sent(papp, 2).values()) == sum(sent(papp, 0).values())


def web_report(app: Flask, text: str) -> int:
    """A web tip as the web form leaves it: channel web, written answers, no call; FINALIZE queued."""
    with app.app_context():
        report = Report(
            hotline_id="safe_schools",
            tip_number="70000001",
            channel=Channel.WEB,
            status=ReportStatus.NEW,
            urgency="normal",
            categories=["other"],
            keypad={"topic": "other", "district": "riverbend"},
            language="en",
            written={"problem": text, "where": "behind the gym"},
        )
        db.session.add(report)
        db.session.flush()
        db.session.commit()
        FINALIZE.enqueue(FINALIZE.id(report.id, "web"), report.id)
        return report.id


def tipster_replies(app: Flask, report_id: int, text: str) -> None:
    """What /tip/check does when the tipster replies: the reply, the news, then FINALIZE."""
    with app.app_context():
        report = db.session.get(Report, report_id)
        assert report is not None
        messages.reply(db.session, report_id, text, "en")
        news.tipster_added(db.session, report, channel=Channel.WEB, texts=1)
        db.session.commit()
        FINALIZE.enqueue(FINALIZE.id(report_id, f"reply-{utcnow():%H%M%S%f}"), report_id)


def test_a_web_report_is_classified_from_its_text_and_a_reply_reclassifies_it(
    papp: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    report_id = web_report(papp, "He is selling drugs in the bathroom")
    run_jobs(papp)
    with papp.app_context():
        report = db.session.get(Report, report_id)
        assert report is not None and report.routed_at is not None
        assert report.categories == ["drugs"] and report.urgency == "high"
        agencies = sorted(db.session.scalars(select(Assignment.agency_id)))
        classified = db.session.scalars(select(Event.detail).where(Event.kind == EventKind.CLASSIFIED)).one()
        reference = report.reference
        acknowledge(db.session, report, "det.smith")
        db.session.commit()
    assert agencies == sorted(DRUGS) and classified["keywords_matched"] == 1
    assert kinds(papp)[EventKind.TRANSCRIBED] == 0 and set(sent(papp, 0)) == set(DRUGS)

    tipster_replies(papp, report_id, "I saw he has a gun in his bag too")
    run_jobs(papp)
    with papp.app_context():
        report = db.session.get(Report, report_id)
        assert report is not None and report.urgency == "critical"
        assert set(report.categories) == {"drugs", "weapons"}
        reclassified = db.session.scalars(select(Event.detail).where(Event.kind == EventKind.RECLASSIFIED)).one()
        assert {a.round for a in db.session.scalars(select(Assignment))} == {1}
    assert reclassified["keywords_matched"] == 1  # the reply's "gun"; the form's "drugs" counted once, before
    assert len(new_information_notices(caplog, reference)) == len(DRUGS)

    run_everything_again(papp)
    assert kinds(papp)[EventKind.RECLASSIFIED] == 1 and kinds(papp)[EventKind.NEW_INFORMATION_NOTIFIED] == 1
    assert len(new_information_notices(caplog, reference)) == len(DRUGS)


def test_news_on_a_closed_report_reopens_it_and_the_sweep_escalates_the_round(papp: Flask) -> None:
    report_id = web_report(papp, "a fight behind the gym")  # violence: critical
    run_jobs(papp)
    with papp.app_context():
        report = db.session.get(Report, report_id)
        assert report is not None and report.urgency == "critical"
        acknowledge(db.session, report, "det.smith")
        report.status, report.disposition, report.closed_at = ReportStatus.CLOSED, "unfounded", utcnow()
        db.session.commit()
    tipster_replies(papp, report_id, "It happened again today")
    run_jobs(papp)
    with papp.app_context():
        report = db.session.get(Report, report_id)
        assert report is not None and report.status == ReportStatus.NEW and report.disposition is None
        change = db.session.scalars(select(Event.detail).where(Event.kind == EventKind.STATUS_CHANGED)).one()
        assert change == {"by": news.REOPENED_BY, "from": "closed", "to": "new"}
        assert sweep()["escalated"] == 0  # the new round's deadline has not passed
        db.session.execute(update(Assignment).values(due_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        assert sweep()["escalated"] == len(RIVERBEND)
    run_jobs(papp)
    escalated = sent(papp, 1, level=1)
    assert set(escalated) == set(RIVERBEND)
    with papp.app_context():
        texts = {n.target: n for n in db.session.scalars(select(Notification).where(Notification.level == 1))}
        assert all(n.round == 1 for n in texts.values())
        report = db.session.get(Report, report_id)
        assert report is not None
        assert acknowledge(db.session, report, "det.smith") == len(RIVERBEND)
        db.session.commit()
        assert news.marked(db.session, report_id) == []  # acknowledging cleared the mark
        db.session.execute(update(Assignment).values(due_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        assert sweep()["escalated"] == 0


def test_the_sweep_opens_a_round_whose_finalize_was_lost(papp: Flask) -> None:
    report_id = web_report(papp, "a fight behind the gym")
    run_jobs(papp)
    with papp.app_context():
        report = db.session.get(Report, report_id)
        assert report is not None
        messages.reply(db.session, report_id, "more about it", "en")
        news.tipster_added(db.session, report, channel=Channel.WEB, texts=1)
        db.session.commit()  # and Redis was down: no FINALIZE queued
        assert sweep()["enqueued"] == 1
    run_jobs(papp)
    assert kinds(papp)[EventKind.NEW_INFORMATION_NOTIFIED] == 1
    assert set(sent(papp, 1)) == set(RIVERBEND)
    with papp.app_context():
        assert sweep()["enqueued"] == 0  # the round is open: nothing left to do for the news


NEWS = Notice("R-2026-00042", "critical", "Safe Schools hotline", "https://h.test/reports/42", round=1)


def test_a_round_notice_says_there_is_new_information_and_nothing_of_it() -> None:
    assert (
        NEWS.text()
        == "New information on report R-2026-00042 (Safe Schools hotline, critical): https://h.test/reports/42"
    )
    escalated = dataclasses.replace(NEWS, level=1)
    assert escalated.text().startswith("ESCALATION 1: still unacknowledged. New information on report R-2026-00042")
    settings = load_settings(ROOT / "config.yaml", environ={}, overrides={**BASE, "webhook_secret": "shh"})
    with http_receiver() as (url, received):
        WebhookChannel(settings).send(url, NEWS)
    [(_headers, body)] = received
    assert json.loads(body) == {
        "event": "report.new_information",
        "report": "R-2026-00042",
        "urgency": "critical",
        "hotline": "Safe Schools hotline",
        "link": "https://h.test/reports/42",
        "level": 0,
        "round": 1,
    }
