"""Report jobs: classify and route a finished report, notify its agencies."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.extensions import db
from hotline.models import Assignment, Event, Recording, Report, utcnow
from hotline.pipeline.assign import assign, deadline, notice_for, plan_notifications
from hotline.pipeline.classify import classify
from hotline.pipeline.notify import Notice
from workers.common import enqueue, event, exclusive, job, log, queue_for, services, settings
from workers.recordings import SETTLED, transcript_aad

NOTIFY = "workers.reports.notify_assignment"
ON_CALL = "workers.reports.alert_on_call"


def is_complete(report: Report, recordings: list[Recording], grace: timedelta, now: datetime) -> bool:
    """A report is complete when the call has ended and every recording has settled.

    Twilio can send a recording's callback after the call's final status: a recording still
    in progress holds the report back for `grace` after the call ended, then it is routed
    on what there is (a recording landing later re-classifies it, see finalize_report).
    """
    if report.call_ended_at is None:
        return False
    for rec in recordings:
        if rec.status == "in-progress":
            if now < report.call_ended_at + grace:
                return False
            continue
        if rec.status != "completed":
            continue  # absent or failed at Twilio: nothing to fetch
        if rec.fetch_state not in SETTLED:
            return False
        if rec.fetch_state == "stored" and rec.transcript_state == "none":
            return False
    return True


def unclassified(rec: Recording) -> bool:
    """A readable transcript not yet taken into its report's classification."""
    return rec.transcript_state == "done" and rec.classified_at is None and rec.shredded_at is None


@job
def finalize_report(report_id: int) -> str:
    """Classify and route a complete report, re-classify it when a transcript lands late,
    then queue its notifications (safe to repeat)."""
    report = db.session.get(Report, report_id)
    if report is None:
        return "missing"
    recordings = list(db.session.scalars(select(Recording).where(Recording.report_id == report_id)))
    cfg = settings()
    now = utcnow()
    if report.routed_at is None:
        if not is_complete(report, recordings, timedelta(seconds=cfg.pipeline.recording_grace_seconds), now):
            return "waiting"
        _classify(report, recordings, "classified")
        assign(db.session, cfg, report)
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


def _classify(report: Report, recordings: list[Recording], kind: str) -> bool:
    """Fold the transcripts not yet classified into urgency and categories; True if changed.

    Classification only adds: keypad choices and earlier results go in as the starting
    point, so reading only the new transcripts gives the same result as reading them all.
    """
    cfg = settings()
    store = services().store
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
    if changed or kind == "classified":
        event(
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
    cfg = settings()
    before = {a.agency_id: a for a in db.session.scalars(select(Assignment).where(Assignment.report_id == report.id))}
    if not _classify(report, recordings, "reclassified"):
        return
    # New assignments are due from now, at the new urgency (assign sets that).
    added = [a.agency_id for a in assign(db.session, cfg, report) if a.agency_id not in before]
    if added:
        event(report.id, "routed", agencies=added, late=True)
    # Agencies already told keep their one notice; a report that became more urgent must
    # not wait out the old, longer deadline before escalating.
    sooner = now + deadline(cfg, report.urgency)
    for assignment in before.values():
        if assignment.acknowledged_at is None and assignment.due_at > sooner:
            assignment.due_at = sooner


def plan(assignment: Assignment) -> bool:
    """Create the notification rows of the assignment's current level; True if any is unsent."""
    if assignment.level > 0 and assignment.acknowledged_at is not None:
        return False  # notify_assignment would not send them either
    return bool(plan_notifications(db.session, settings(), assignment, assignment.level, services().channels))


def enqueue_notify(assignment: Assignment, urgency: str) -> bool:
    """Queue the notices of the assignment's current level (one live job per level)."""
    level = assignment.level
    return enqueue(queue_for(urgency), NOTIFY, f"notify-{assignment.id}-{level}", assignment.id, level)


@job
def notify_assignment(assignment_id: int, level: int) -> int:
    """Send the notices for an assignment at an escalation level; each one at most once."""
    assignment = db.session.get(Assignment, assignment_id)
    if assignment is None:
        return 0
    if level > 0 and assignment.acknowledged_at is not None:
        return 0  # acknowledged in the meantime: no need to escalate
    report = db.session.get(Report, assignment.report_id)
    assert report is not None
    cfg = settings()
    enabled = services().channels
    pending = plan_notifications(db.session, cfg, assignment, level, enabled)
    db.session.commit()
    notice = notice_for(cfg, report, level)
    failures = []
    for note in pending:
        try:
            enabled[note.channel].send(note.target, notice)
        except Exception as exc:  # noqa: BLE001 - each channel fails in its own way; retried
            note.status, note.error = "failed", f"{type(exc).__name__}: {exc}"[:300]
            failures.append(note.channel)
            log.warning("notification %s via %s failed: %s", note.id, note.channel, exc)
        else:
            note.status, note.sent_at, note.error = "sent", utcnow(), None
        db.session.commit()
    sent = sum(1 for n in pending if n.status == "sent")
    if sent:
        event(
            report.id,
            "notified",
            agency=assignment.agency_id,
            level=level,
            channels=sorted({n.channel for n in pending if n.status == "sent"}),
        )
        db.session.commit()
    if failures:
        raise RuntimeError(f"notification channels failed: {sorted(set(failures))}")
    return sent


def unalerted_transfers(session: Session, report_id: int) -> list[int]:
    """Ids of the report's unanswered-transfer events that no on-call alert has answered."""
    events = list(
        session.scalars(
            select(Event)
            .where(Event.report_id == report_id, Event.kind.in_(("transfer_failed", "on_call_alerted")))
            .order_by(Event.id)
        )
    )
    answered = {e.detail.get("transfer") for e in events if e.kind == "on_call_alerted"}
    return [e.id for e in events if e.kind == "transfer_failed" and e.id not in answered]


@job
def alert_on_call(report_id: int) -> str:
    """Tell the hotline's on-call person that a caller asked for a dispatcher and nobody answered.

    Queued by the dial webhook and, if that was lost, by the sweep: one alert per unanswered
    transfer, recorded by the transfer's event id, so the two never both send it.
    """
    with exclusive(f"oncall-{report_id}"):  # the webhook's job and the sweep's may run at once
        report = db.session.get(Report, report_id)
        if report is None:
            return "missing"
        pending = unalerted_transfers(db.session, report_id)
        if not pending:
            return "already alerted"
        cfg = settings()
        hotline = cfg.hotline(report.hotline_id)
        group = cfg.dispatcher_groups.get(hotline.dispatcher_group or "") if hotline else None
        if group is None or group.on_call is None:
            return "no on-call number"
        enabled = services().channels
        channel = enabled.get("sms") or enabled["log"]
        name = hotline.name.get("en", hotline.id) if hotline else report.hotline_id
        # Content-free, like every notice: which line and which report, never who or what.
        notice = Notice(
            report.reference,
            "transfer",
            name,
            notice_for(cfg, report, 0).link,
            0,
            text_override=f"A {name} caller asked for a dispatcher and nobody answered. Report {report.reference}.",
        )
        for transfer in pending:
            channel.send(group.on_call, notice)
            event(report.id, "on_call_alerted", channel=channel.name, transfer=transfer)
            db.session.commit()
        return channel.name
