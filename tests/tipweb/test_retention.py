"""A web tip's attachments are crypto-shredded with its report's retention, unless on hold."""

from __future__ import annotations

import io
from datetime import timedelta

from flask import Flask
from sqlalchemy import select

from hotline.extensions import db, runtime
from hotline.models import Attachment, Report, utcnow
from hotline.pipeline.services import services_of
from hotline.retention import shred_attachments
from tests.tipweb.conftest import Tipster, jpeg_with_gps, tip_number_in
from tests.tipweb.test_submit import WEAPON_TIP


def file_with_photo(tipster: Tipster) -> str:
    tipster.get("/tip/safe_schools")
    response = tipster.post("/tip/safe_schools", {**WEAPON_TIP, "files": [(io.BytesIO(jpeg_with_gps()), "a.jpg")]})
    return tip_number_in(response)


def test_attachments_are_shredded_after_retention_unless_on_hold(app: Flask, tipster: Tipster) -> None:
    old, held = file_with_photo(tipster), file_with_photo(tipster)
    with app.app_context():
        long_ago = utcnow() - timedelta(days=400)
        for tip in (old, held):
            report = db.session.scalar(select(Report).where(Report.tip_number == tip))
            assert report is not None
            report.created_at, report.retain_until = long_ago, long_ago + timedelta(days=365)
            report.legal_hold = tip == held
        db.session.commit()
        store = services_of().store
        assert shred_attachments(db.session, store, runtime.get().settings, utcnow()) == 1
        rows = {
            r.tip_number: a
            for a, r in db.session.execute(select(Attachment, Report).join(Report, Report.id == Attachment.report_id))
        }
        assert rows[old].shredded_at is not None and not store.exists(rows[old].blob_key or "")
        assert rows[held].shredded_at is None and store.exists(rows[held].blob_key or "")
        assert shred_attachments(db.session, store, runtime.get().settings, utcnow()) == 0


def test_the_sweep_destroys_a_web_tips_files_answers_and_replies_once_expired(app: Flask, tipster: Tipster) -> None:
    from hotline.followup import messages
    from hotline.models import Event, TipsterMessage
    from hotline.pipeline.sweep import apply_retention
    from hotline.states import EventKind

    old, fresh = file_with_photo(tipster), file_with_photo(tipster)
    with app.app_context():
        reports = {tip: db.session.scalar(select(Report).where(Report.tip_number == tip)) for tip in (old, fresh)}
        for report in reports.values():
            assert report is not None and report.written
            messages.reply(db.session, report.id, "the car is a red sedan", "en")
        long_ago = utcnow() - timedelta(days=400)
        expired_report = reports[old]
        assert expired_report is not None
        expired_report.created_at, expired_report.retain_until = long_ago, long_ago + timedelta(days=365)
        db.session.commit()
        old_id, fresh_id = expired_report.id, reports[fresh].id  # type: ignore[union-attr]

        apply_retention()
        apply_retention()  # a second sweep finds nothing more to do

        db.session.expire_all()
        cleared, kept = db.session.get(Report, old_id), db.session.get(Report, fresh_id)
        assert cleared is not None and cleared.written is None
        assert kept is not None and kept.written
        bodies = {
            m.report_id: m.body
            for m in db.session.scalars(select(TipsterMessage).where(TipsterMessage.report_id.in_([old_id, fresh_id])))
        }
        assert bodies == {old_id: "", fresh_id: "the car is a red sedan"}
        files = {a.report_id: a.shredded_at for a in db.session.scalars(select(Attachment))}
        assert files[old_id] is not None and files[fresh_id] is None
        marks = db.session.scalars(select(Event.report_id).where(Event.kind == EventKind.TIPSTER_TEXT_SHREDDED)).all()
        assert marks == [old_id]
