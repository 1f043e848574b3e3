"""Finalizing a report: once it is complete, classify it and route it to its agencies;
when a transcript lands after routing, re-classify it; then queue its notices.

Run by the finalize job (workers.reports.finalize_report), queued after each recording
settles and by the sweep; safe to repeat.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from hotline.extensions import db, runtime
from hotline.models import Assignment, Recording, Report, utcnow
from hotline.pipeline.assign import assign, deadline
from hotline.pipeline.classify import classify
from hotline.pipeline.delivery import enqueue_notify, plan
from hotline.pipeline.services import services_of
from hotline.reports import events
from hotline.reports.service import SETTLED
from hotline.states import EventKind, FetchState, RecordingStatus, TranscriptState, Urgency
from hotline.storage.keys import transcript_aad


def is_complete(report: Report, recordings: list[Recording], grace: timedelta, now: datetime) -> bool:
    """A report is complete when the call has ended and every recording has settled.

    Twilio can send a recording's callback after the call's final status: a recording still
    in progress holds the report back for `grace` after the call ended, then it is routed
    on what there is (a recording landing later re-classifies it, see finalize).
    A recording Twilio will not hand over yet (an outage, retried for days) holds the report
    for the same grace, and a critical one not at all: its deadline matters more than the
    audio. It is routed marked "awaiting audio"; the audio, when it comes, re-classifies it.
    """
    if report.call_ended_at is None:
        return False
    for rec in recordings:
        if rec.status == RecordingStatus.IN_PROGRESS:
            if now < report.call_ended_at + grace:
                return False
            continue
        if rec.status != RecordingStatus.COMPLETED:
            continue  # absent or failed at Twilio: nothing to fetch
        if awaiting_twilio(rec):
            if report.urgency != Urgency.CRITICAL and now < report.call_ended_at + grace:
                return False
            continue
        if rec.fetch_state not in SETTLED:
            return False
        if rec.fetch_state == FetchState.STORED and rec.transcript_state == TranscriptState.NONE:
            return False
    return True


def awaiting_twilio(rec: Recording) -> bool:
    """A completed recording whose download keeps failing transiently (Twilio unreachable)."""
    return rec.status == RecordingStatus.COMPLETED and rec.fetch_state not in SETTLED and rec.failing_since is not None


def unclassified(rec: Recording) -> bool:
    """A readable transcript not yet taken into its report's classification."""
    return rec.transcript_state == TranscriptState.DONE and rec.classified_at is None and rec.shredded_at is None


def finalize(report_id: int) -> str:
    """Classify and route a complete report, re-classify it when a transcript lands late,
    then queue its notifications (safe to repeat)."""
    report = db.session.get(Report, report_id)
    if report is None:
        return "missing"
    recordings = list(db.session.scalars(select(Recording).where(Recording.report_id == report_id)))
    cfg = runtime.get().settings
    now = utcnow()
    if report.routed_at is None:
        if not is_complete(report, recordings, timedelta(seconds=cfg.pipeline.recording_grace_seconds), now):
            return "waiting"
        _classify(report, recordings, EventKind.CLASSIFIED)
        assign(db.session, cfg, report)
        waiting = [rec.recording_sid for rec in recordings if awaiting_twilio(rec)]
        if waiting:
            # Said on the timeline: routed before all its audio was in, not as if complete.
            events.record(db.session, report.id, EventKind.ROUTED_AWAITING_AUDIO, recordings=waiting)
    elif any(unclassified(rec) for rec in recordings):
        _reclassify(report, recordings, now)
    assignments = list(db.session.scalars(select(Assignment).where(Assignment.report_id == report_id)))
    # Planned in the routing transaction: if Redis is down after the commit, the unsent
    # rows are what the sweep finds and sends.
    due = [a for a in assignments if plan(a)]
    db.session.commit()
    for assignment in due:
        enqueue_notify(assignment, report.urgency)
    return "routed"


def _classify(report: Report, recordings: list[Recording], kind: EventKind) -> bool:
    """Fold the transcripts not yet classified into urgency and categories; True if changed.

    Classification only adds: keypad choices and earlier results go in as the starting
    point, so reading only the new transcripts gives the same result as reading them all.
    """
    cfg = runtime.get().settings
    store = services_of().store
    fresh = [rec for rec in recordings if unclassified(rec)]
    texts = [
        (report.language or "en", store.get_decrypted(rec.transcript_key, transcript_aad(rec)).decode())
        for rec in fresh
        if rec.transcript_key
    ]
    result = classify(report.categories, report.urgency, texts, cfg.classification.keywords, cfg.classification.urgency)
    changed = (result.urgency, list(result.categories)) != (report.urgency, list(report.categories))
    report.urgency, report.categories = result.urgency, list(result.categories)
    now = utcnow()
    for rec in fresh:
        rec.classified_at = now
    if changed or kind == EventKind.CLASSIFIED:
        events.record(
            db.session,
            report.id,
            kind,
            urgency=result.urgency,
            categories=list(result.categories),
            # How many, never which: the words are the caller's, and events are not encrypted.
            keywords_matched=sum(len(words) for words in result.matched.values()),
        )
    return changed


def _reclassify(report: Report, recordings: list[Recording], now: datetime) -> None:
    """A transcript landed after routing: route to any agency it adds, tighten deadlines."""
    cfg = runtime.get().settings
    before = {a.agency_id: a for a in db.session.scalars(select(Assignment).where(Assignment.report_id == report.id))}
    if not _classify(report, recordings, EventKind.RECLASSIFIED):
        return
    # New assignments are due from now, at the new urgency (assign sets that).
    added = [a.agency_id for a in assign(db.session, cfg, report) if a.agency_id not in before]
    if added:
        events.record(db.session, report.id, EventKind.ROUTED, agencies=added, late=True)
    # Agencies already told keep their one notice; a report that became more urgent must
    # not wait out the old, longer deadline before escalating.
    sooner = now + deadline(cfg, report.urgency)
    for assignment in before.values():
        if assignment.acknowledged_at is None and assignment.due_at > sooner:
            assignment.due_at = sooner
