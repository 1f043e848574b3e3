"""The periodic sweep: re-enqueue pending work, escalate overdue reports, apply retention."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from hotline.extensions import db
from hotline.models import Call, Recording, Report, utcnow
from hotline.pipeline.assign import due_assignments, escalate
from hotline.voice.calls import end_call
from workers.common import enqueue, event, job, log, queue_for, services, settings
from workers.recordings import FETCH, FINALIZE, SETTLED, TRANSCRIBE
from workers.reports import NOTIFY

SWEEP = "workers.sweeps.sweep"
# A call with no final status callback after this long is treated as ended, so its report
# still completes and gets routed even if Twilio's last callback never arrived.
STALE_CALL = timedelta(hours=3)


def reconcile() -> int:
    """Enqueue every piece of work the database says is pending; live jobs are not doubled."""
    count = 0
    for rec in db.session.scalars(
        select(Recording).where(Recording.status == "completed", Recording.fetch_state.not_in(SETTLED))
    ):
        report = db.session.get(Report, rec.report_id)
        urgency = report.urgency if report else "normal"
        count += enqueue(queue_for(urgency), FETCH, f"fetch-{rec.recording_sid}", rec.recording_sid)
    for rec in db.session.scalars(
        select(Recording).where(Recording.fetch_state == "stored", Recording.transcript_state == "none")
    ):
        report = db.session.get(Report, rec.report_id)
        urgency = report.urgency if report else "normal"
        count += enqueue(queue_for(urgency), TRANSCRIBE, f"transcribe-{rec.recording_sid}", rec.recording_sid)
    cutoff = utcnow() - STALE_CALL
    for call in db.session.scalars(select(Call).where(Call.ended_at.is_(None), Call.started_at < cutoff)):
        end_call(db.session, call, "lost", None)
    db.session.commit()
    for report_id in db.session.scalars(
        select(Report.id).where(Report.call_ended_at.is_not(None), Report.routed_at.is_(None))
    ):
        count += enqueue("default", FINALIZE, f"finalize-{report_id}-sweep", report_id)
    return count


def escalate_overdue() -> int:
    now = utcnow()
    overdue = due_assignments(db.session, now)
    jobs = []
    for assignment in overdue:
        level = escalate(db.session, settings(), assignment, now)
        jobs.append((assignment, level))
    db.session.commit()
    for assignment, level in jobs:
        report = db.session.get(Report, assignment.report_id)
        enqueue(
            queue_for(report.urgency if report else "normal"),
            NOTIFY,
            f"notify-{assignment.id}-{level}",
            assignment.id,
            level,
        )
    return len(jobs)


def apply_retention() -> int:
    """Crypto-shred recordings and transcripts past the retention period, unless on hold."""
    cutoff = utcnow() - timedelta(days=settings().retention.recordings_days)
    store = services().store
    shredded = 0
    for rec in db.session.scalars(
        select(Recording)
        .join(Report, Report.id == Recording.report_id)
        .where(
            Recording.created_at < cutoff,
            Recording.shredded_at.is_(None),
            Recording.blob_key.is_not(None),
            Report.legal_hold.is_(False),
        )
    ):
        for key in (rec.blob_key, rec.transcript_key):
            if key:
                store.shred(key)
        rec.shredded_at = utcnow()
        event(rec.report_id, "recording_shredded", recording_sid=rec.recording_sid)
        db.session.commit()
        shredded += 1
    return shredded


@job
def sweep() -> dict[str, int]:
    """Run every periodic duty once."""
    result = {"enqueued": reconcile(), "escalated": escalate_overdue(), "shredded": apply_retention()}
    if any(result.values()):
        log.info("sweep: %s", result)
    return result
