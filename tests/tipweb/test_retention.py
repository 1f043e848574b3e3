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
