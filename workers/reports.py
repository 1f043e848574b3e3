"""Report jobs: classify and route a finished report, notify its agencies."""

from __future__ import annotations

from sqlalchemy import select

from hotline.extensions import db
from hotline.models import Assignment, Recording, Report, utcnow
from hotline.pipeline.assign import assign, notice_for, plan_notifications
from hotline.pipeline.classify import classify
from hotline.pipeline.notify import Notice
from workers.common import enqueue, event, job, log, queue_for, services, settings
from workers.recordings import SETTLED, transcript_aad

NOTIFY = "workers.reports.notify_assignment"


def is_complete(report: Report, recordings: list[Recording]) -> bool:
    """A report is complete when the call has ended and every recording has settled."""
    if report.call_ended_at is None:
        return False
    for rec in recordings:
        if rec.status != "completed":
            continue  # absent or failed at Twilio: nothing to fetch
        if rec.fetch_state not in SETTLED:
            return False
        if rec.fetch_state == "stored" and rec.transcript_state == "none":
            return False
    return True


@job
def finalize_report(report_id: int) -> str:
    """Classify and route a complete report, then queue its notifications (safe to repeat)."""
    report = db.session.get(Report, report_id)
    if report is None:
        return "missing"
    recordings = list(db.session.scalars(select(Recording).where(Recording.report_id == report_id)))
    if report.routed_at is None:
        if not is_complete(report, recordings):
            return "waiting"
        cfg = settings()
        svc = services()
        texts = []
        for rec in recordings:
            if rec.transcript_state == "done" and rec.transcript_key:
                text = svc.store.get_decrypted(rec.transcript_key, transcript_aad(rec)).decode()
                texts.append((report.language or "en", text))
        result = classify(
            report.categories, report.urgency, texts, cfg.classification.keywords, cfg.classification.urgency
        )
        report.urgency, report.categories = result.urgency, list(result.categories)
        event(
            report.id,
            "classified",
            urgency=result.urgency,
            categories=list(result.categories),
            keywords=sorted(result.matched),
        )
        assign(db.session, cfg, report)
        db.session.commit()
    assignments = db.session.scalars(select(Assignment).where(Assignment.report_id == report_id)).all()
    for assignment in assignments:
        enqueue(
            queue_for(report.urgency),
            NOTIFY,
            f"notify-{assignment.id}-{assignment.level}",
            assignment.id,
            assignment.level,
        )
    return "routed"


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


@job
def alert_on_call(report_id: int) -> str:
    """Tell the hotline's on-call person that a caller asked for a dispatcher and nobody answered."""
    report = db.session.get(Report, report_id)
    if report is None:
        return "missing"
    cfg = settings()
    hotline = cfg.hotline(report.hotline_id)
    group = cfg.dispatcher_groups.get(hotline.dispatcher_group or "") if hotline else None
    if group is None or group.on_call is None:
        return "no on-call number"
    enabled = services().channels
    channel = enabled.get("sms") or enabled["log"]
    name = hotline.name.get("en", hotline.id) if hotline else report.hotline_id
    # Content-free, like every notice: which line and which report, never who or what.
    channel.send(
        group.on_call,
        Notice(
            report.reference,
            "transfer",
            name,
            notice_for(cfg, report, 0).link,
            0,
            text_override=f"A {name} caller asked for a dispatcher and nobody answered. Report {report.reference}.",
        ),
    )
    event(report.id, "on_call_alerted", channel=channel.name)
    db.session.commit()
    return channel.name
