"""The periodic sweep's duties: re-enqueue the work the database says is pending, escalate
overdue assignments, apply retention, raise the fetch-outage alert, anchor the audit log.

Run by the sweep job (workers.sweeps.sweep), one per interval (see hotline.worker_loop).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import and_, exists, or_, select

from hotline.auth.anchors import default_path, write_anchor
from hotline.extensions import db, runtime
from hotline.jobs.declarations import FETCH, FINALIZE, ON_CALL, TRANSCRIBE
from hotline.jobs.recover import recover_recordings
from hotline.models import Assignment, Call, Event, Notification, Recording, Report, utcnow
from hotline.pipeline.alerts import alert_fetch_outage
from hotline.pipeline.assign import due_assignments, escalate
from hotline.pipeline.delivery import enqueue_notify, plan
from hotline.pipeline.on_call import unalerted_transfers
from hotline.pipeline.services import services_of
from hotline.reports import events
from hotline.reports.service import SETTLED, end_call, urgency_of
from hotline.retention import expired, shred_attachments, shred_tipster_text
from hotline.states import Channel, EventKind, FetchState, NotificationStatus, RecordingStatus, TranscriptState

log = logging.getLogger("workers")  # the jobs' logger, like hotline.jobs.locks: one name in the worker's log

# A call with no final status callback after this long is treated as ended, so its report
# still completes and gets routed even if Twilio's last callback never arrived.
STALE_CALL = timedelta(hours=3)
# Unanswered transfers this recent still get their on-call alert if it was lost.
ON_CALL_WINDOW = timedelta(hours=24)


def reconcile() -> int:
    """Enqueue every piece of work the database says is pending; live jobs are not doubled."""
    count = recover_recordings().changed
    now = utcnow()
    for rec in db.session.scalars(
        select(Recording).where(
            Recording.status == RecordingStatus.COMPLETED,
            Recording.fetch_state.not_in(SETTLED),
            # Twilio failing: wait out the recording's backoff (RQ's own retries come first).
            or_(Recording.next_fetch_at.is_(None), Recording.next_fetch_at <= now),
        )
    ):
        count += FETCH.enqueue(FETCH.id(rec.recording_sid), rec.recording_sid, urgency=_urgency(rec.report_id))
    if runtime.get().settings.pipeline.delete_from_twilio:
        # A delete that failed at Twilio: the fetch job, run again, only retries the delete.
        for rec in db.session.scalars(
            select(Recording).where(
                Recording.fetch_state == FetchState.STORED, Recording.deleted_from_twilio.is_(False)
            )
        ):
            count += FETCH.enqueue(FETCH.id(rec.recording_sid), rec.recording_sid, urgency=_urgency(rec.report_id))
    for rec in db.session.scalars(
        select(Recording).where(
            Recording.fetch_state == FetchState.STORED, Recording.transcript_state == TranscriptState.NONE
        )
    ):
        count += TRANSCRIBE.enqueue(
            TRANSCRIBE.id(rec.recording_sid), rec.recording_sid, urgency=_urgency(rec.report_id)
        )
    cutoff = utcnow() - STALE_CALL
    for call in db.session.scalars(select(Call).where(Call.ended_at.is_(None), Call.started_at < cutoff)):
        end_call(db.session, call, "lost", None)
    db.session.commit()
    for report_id in db.session.scalars(
        select(Report.id).where(
            or_(Report.call_ended_at.is_not(None), Report.channel == Channel.WEB), Report.routed_at.is_(None)
        )
    ):
        count += FINALIZE.enqueue(FINALIZE.id(report_id, "sweep"), report_id)
    # The tipster added information that has no round of notices yet (its FINALIZE lost, or
    # a call back's recording that never settled, given up after the grace): finalize opens
    # it. A round is an event at or after the news (see hotline.followup.news).
    rounded = exists().where(
        Event.report_id == Report.id,
        Event.kind == EventKind.NEW_INFORMATION_NOTIFIED,
        Event.at >= Report.tipster_added_at,
    )
    marked = exists().where(Assignment.report_id == Report.id, Assignment.tipster_news_at.is_not(None))
    for report_id in db.session.scalars(
        select(Report.id).where(Report.tipster_added_at.is_not(None), Report.routed_at.is_not(None), marked, ~rounded)
    ):
        count += FINALIZE.enqueue(FINALIZE.id(report_id, "sweep"), report_id)
    return count + resend_notices() + alert_on_call_again()


def _urgency(report_id: int) -> str:
    return urgency_of(db.session, report_id)


def resend_notices() -> int:
    """Queue the notices still unsent at each assignment's current level.

    Covers a notify job whose RQ retries ran out and one that was never queued because
    Redis was down after the commit that planned its notices (routing or escalation).
    """
    count = 0
    rows = db.session.scalars(
        select(Assignment)
        .join(
            Notification,
            and_(
                Notification.assignment_id == Assignment.id,
                Notification.round == Assignment.round,
                Notification.level == Assignment.level,
            ),
        )
        .where(
            # Not "rejected" (Twilio refused it for good) and not "sent"; an "unknown" SMS is
            # looked up at Twilio by the job before any resend.
            Notification.status.in_(
                (NotificationStatus.PENDING, NotificationStatus.FAILED, NotificationStatus.UNKNOWN)
            ),
            # An acknowledged escalation is not sent (send_notices skips it).
            or_(Assignment.level == 0, Assignment.acknowledged_at.is_(None)),
        )
        .distinct()
    )
    for assignment in rows:
        count += enqueue_notify(assignment, _urgency(assignment.report_id))
    return count


def alert_on_call_again() -> int:
    """Queue the on-call alert for a recent unanswered transfer that has none yet.

    The webhook queues it at once; this catches the alert lost when Redis was down then.
    Only recent transfers are looked at, so the query stays small; see ON_CALL_WINDOW.
    """
    since = utcnow() - ON_CALL_WINDOW
    rows = db.session.execute(
        select(Event.report_id, Report.hotline_id)
        .join(Report, Report.id == Event.report_id)
        .where(Event.kind == "transfer_failed", Event.at >= since)
        .distinct()
    )
    # A hotline with nobody on call has no alert to send: do not queue one every sweep.
    report_ids = {report_id for report_id, hotline_id in rows if _on_call_number(hotline_id)}
    count = 0
    for report_id in sorted(report_ids):
        if unalerted_transfers(db.session, report_id):
            count += ON_CALL.enqueue(ON_CALL.id("sweep", report_id), report_id)
    return count


def _on_call_number(hotline_id: str) -> str | None:
    cfg = runtime.get().settings
    hotline = cfg.hotline(hotline_id)
    group = cfg.dispatcher_groups.get(hotline.dispatcher_group or "") if hotline else None
    return group.on_call if group else None


def escalate_overdue() -> int:
    now = utcnow()
    overdue = due_assignments(db.session, now)
    for assignment in overdue:
        escalate(db.session, runtime.get().settings, assignment, now)
        plan(assignment)  # in the same commit: resend_notices finds them if the enqueue fails
    db.session.commit()
    for assignment in overdue:
        enqueue_notify(assignment, _urgency(assignment.report_id))
    return len(overdue)


def apply_retention() -> int:
    """Crypto-shred recordings and transcripts of reports past their hotline's retention, unless on hold."""
    store = services_of().store
    shredded = 0
    for rec in db.session.scalars(
        select(Recording)
        .join(Report, Report.id == Recording.report_id)
        .where(
            expired(runtime.get().settings, utcnow()),
            Recording.shredded_at.is_(None),
            Recording.blob_key.is_not(None),
            Report.legal_hold.is_(False),
        )
    ):
        for key in (rec.blob_key, rec.transcript_key):
            if key:
                store.shred(key)
        rec.shredded_at = utcnow()
        events.record(db.session, rec.report_id, EventKind.RECORDING_SHREDDED, recording_sid=rec.recording_sid)
        db.session.commit()
        shredded += 1
    # A web tip's files and text go with the same retention as a call's audio and transcripts.
    settings, now = runtime.get().settings, utcnow()
    shredded += shred_attachments(db.session, store, settings, now)
    shred_tipster_text(db.session, settings, now)
    return shredded


def anchor_audit_log() -> bool:
    """Record the audit chain's head outside the database (see hotline.auth.anchors)."""
    try:
        written = write_anchor(db.session, default_path(runtime.get().settings.instance_path))
    except OSError as exc:
        # The other duties must not stop over a full disk here; the gap shows in the file.
        log.error("audit anchor not written: %s", exc)
        return False
    finally:
        db.session.rollback()
    return written is not None


def run() -> dict[str, int]:
    """Run every periodic duty once; what was done, by duty."""
    result = {"enqueued": reconcile(), "escalated": escalate_overdue(), "shredded": apply_retention()}
    alert_fetch_outage()
    # Logged by itself when written; not counted, so a sweep with nothing else to do stays quiet.
    anchor_audit_log()
    if any(result.values()):
        log.info("sweep: %s", result)
    return result
