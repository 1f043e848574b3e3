"""Retention per hotline: when a report's recordings and transcripts may be destroyed.

Each hotline keeps its reports for its own `retention_days` (PREA: at least ten years). A
report is stamped with `retain_until` when it is created, from its hotline's retention then;
the sweep destroys its recordings only once both that date and its hotline's current
retention have passed, so raising a retention keeps old reports longer and lowering one
never shortens what an earlier report was promised.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import has_app_context
from sqlalchemy import ColumnElement, and_, event, or_, select
from sqlalchemy.orm import Session

from hotline.extensions import runtime
from hotline.models import Attachment, Report, utcnow
from hotline.settings import Settings
from hotline.storage.encrypted import EncryptedStore


def retain_until(settings: Settings, hotline_id: str, created_at: datetime) -> datetime:
    return created_at + timedelta(days=settings.retention_days(hotline_id))


def _stamp_new_reports(session: Session, _context: Any, _instances: Any) -> None:
    """Every new report, whichever code path made it, gets its hotline's retention."""
    if not has_app_context():
        return  # no settings here; the sweep then goes by the hotline's current retention
    settings = runtime.get().settings
    for obj in session.new:
        if isinstance(obj, Report) and obj.retain_until is None:
            if obj.created_at is None:
                obj.created_at = utcnow()
            obj.retain_until = retain_until(settings, obj.hotline_id, obj.created_at)


def install() -> None:
    """Stamp reports as they are flushed (once per process)."""
    if not event.contains(Session, "before_flush", _stamp_new_reports):
        event.listen(Session, "before_flush", _stamp_new_reports)


def expired(settings: Settings, now: datetime) -> ColumnElement[bool]:
    """Reports past both their own retain_until and their hotline's current retention."""
    known = [h.id for h in settings.hotlines]
    by_hotline = [
        and_(
            Report.hotline_id == hotline_id,
            Report.created_at < now - timedelta(days=settings.retention_days(hotline_id)),
        )
        for hotline_id in known
    ]
    longest = now - timedelta(days=settings.longest_retention_days())
    by_hotline.append(and_(Report.hotline_id.not_in(known), Report.created_at < longest))
    return and_(or_(Report.retain_until.is_(None), Report.retain_until < now), or_(*by_hotline))


def shred_attachments(session: Session, store: EncryptedStore, settings: Settings, now: datetime) -> int:
    """Crypto-shred the web tipster's attachments of expired reports not on hold, like their
    recordings; commits each one. Returns how many were shredded."""
    shredded = 0
    expired_files = session.scalars(
        select(Attachment)
        .join(Report, Report.id == Attachment.report_id)
        .where(
            expired(settings, now),
            Attachment.shredded_at.is_(None),
            Attachment.blob_key.is_not(None),
            Report.legal_hold.is_(False),
        )
    ).all()
    for att in expired_files:
        if att.blob_key:
            store.shred(att.blob_key)
        att.shredded_at = utcnow()
        session.commit()
        shredded += 1
    return shredded


def shred_tipster_text(session: Session, settings: Settings, now: datetime) -> int:
    """Destroy a web tip's written answers and the tipster's replies once the report has expired
    (they are to a web tip what transcripts are to a call); commits each report. Returns how
    many reports were cleared (each once: the timeline says it was done)."""
    from hotline.models import Event, TipsterMessage
    from hotline.reports import events
    from hotline.states import EventKind, MessageDirection

    replies = select(TipsterMessage.report_id).where(TipsterMessage.direction == MessageDirection.FROM_TIPSTER)
    done = select(Event.report_id).where(Event.kind == EventKind.TIPSTER_TEXT_SHREDDED)
    cleared = 0
    for report in session.scalars(
        select(Report).where(
            expired(settings, now),
            Report.legal_hold.is_(False),
            or_(Report.written.is_not(None), Report.id.in_(replies)),
            Report.id.not_in(done),
        )
    ).all():
        report.written = None
        for message in session.scalars(
            select(TipsterMessage).where(
                TipsterMessage.report_id == report.id, TipsterMessage.direction == MessageDirection.FROM_TIPSTER
            )
        ):
            message.body = ""
        events.record(session, report.id, EventKind.TIPSTER_TEXT_SHREDDED)
        session.commit()
        cleared += 1
    return cleared
