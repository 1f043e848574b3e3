"""Report jobs: classify and route a finished report, notify its agencies."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.extensions import db
from hotline.jobs.declarations import NOTIFY
from hotline.models import Assignment, Event, Notification, Recording, Report, utcnow
from hotline.pipeline.assign import assign, deadline, notice_for, plan_notifications
from hotline.pipeline.classify import classify
from hotline.pipeline.notify import Channel, Notice, SmsChannel
from hotline.reports import events
from hotline.reports.service import SETTLED
from hotline.states import EventKind, FetchState, NotificationStatus, RecordingStatus, TranscriptState, Urgency
from hotline.storage.keys import transcript_aad
from hotline.twilio_api import OutcomeUnknown, TwilioError
from workers.common import exclusive, job, log, services, settings

# An SMS whose POST had an unknown outcome is looked up at Twilio; only a lookup at least
# this long after the attempt that does not find it lets it be sent again. Twilio creates
# the Message before it answers, so by then a message it has is listed.
LOOKUP_AFTER = timedelta(seconds=60)


def is_complete(report: Report, recordings: list[Recording], grace: timedelta, now: datetime) -> bool:
    """A report is complete when the call has ended and every recording has settled.

    Twilio can send a recording's callback after the call's final status: a recording still
    in progress holds the report back for `grace` after the call ended, then it is routed
    on what there is (a recording landing later re-classifies it, see finalize_report).
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
    cfg = settings()
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


def plan(assignment: Assignment) -> bool:
    """Create the notification rows of the assignment's current level; True if any is unsent."""
    if assignment.level > 0 and assignment.acknowledged_at is not None:
        return False  # notify_assignment would not send them either
    return bool(plan_notifications(db.session, settings(), assignment, assignment.level, services().channels))


def enqueue_notify(assignment: Assignment, urgency: str) -> bool:
    """Queue the notices of the assignment's current level (one live job per level)."""
    level = assignment.level
    return NOTIFY.enqueue(NOTIFY.id(assignment.id, level), assignment.id, level, urgency=urgency)


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
        if not _send(note, enabled[note.channel], notice):
            failures.append(note.channel)
        db.session.commit()
    sent = sum(1 for n in pending if n.status == NotificationStatus.SENT)
    if sent:
        events.record(
            db.session,
            report.id,
            EventKind.NOTIFIED,
            agency=assignment.agency_id,
            level=level,
            channels=sorted({n.channel for n in pending if n.status == NotificationStatus.SENT}),
        )
        db.session.commit()
    if failures:
        raise RuntimeError(f"notification channels failed: {sorted(set(failures))}")
    return sent


def _send(note: Notification, channel: Channel, notice: Notice) -> bool:
    """Send one notice at most once; False if it should be tried again later.

    An SMS is marked "unknown" and committed before its POST, so a worker killed mid-send
    leaves a notice that is looked up at Twilio, never blindly sent twice.
    """
    if note.message_sid:
        note.status = NotificationStatus.SENT  # Twilio has it: never again
        return True
    sms = channel if isinstance(channel, SmsChannel) else None
    if sms is not None and note.status == NotificationStatus.UNKNOWN:
        try:
            found = sms.find(note.target, notice, _claimed_sids(note))
        except TwilioError as exc:
            log.warning("notification %s: could not look it up at Twilio: %s", note.id, exc)
            return False
        if found:
            note.status, note.message_sid, note.sent_at, note.error = NotificationStatus.SENT, found, utcnow(), None
            return True
        if note.attempted_at is not None and utcnow() - note.attempted_at < LOOKUP_AFTER:
            return False  # too soon to be sure Twilio does not have it
    if sms is not None:
        note.status, note.attempted_at = NotificationStatus.UNKNOWN, utcnow()
        db.session.commit()
    try:
        ref = channel.send(note.target, notice)
    except OutcomeUnknown as exc:
        note.status, note.error = NotificationStatus.UNKNOWN, f"{exc}"[:300]
        log.warning("notification %s via sms: outcome unknown (%s); looked up before any resend", note.id, exc)
        return False
    except TwilioError as exc:
        note.error, note.error_code = f"{exc}"[:300], str(exc.code) if exc.code else None
        if not exc.retryable:  # e.g. 400 21211, an invalid number: trying again cannot help
            note.status = NotificationStatus.REJECTED
            log.error("notification %s via %s refused for good: %s", note.id, note.channel, exc)
            return True
        note.status = NotificationStatus.FAILED
        log.warning("notification %s via %s failed: %s", note.id, note.channel, exc)
        return False
    except Exception as exc:  # noqa: BLE001 - each channel fails in its own way; retried
        # An SMS that failed in some other way (say, an unreadable 201) may have been sent.
        note.status, note.error = (
            NotificationStatus.UNKNOWN if sms else NotificationStatus.FAILED,
            f"{type(exc).__name__}: {exc}"[:300],
        )
        log.warning("notification %s via %s failed: %s", note.id, note.channel, exc)
        return False
    note.status, note.sent_at, note.error, note.error_code = NotificationStatus.SENT, utcnow(), None, None
    note.message_sid = ref or None
    return True


def _claimed_sids(note: Notification) -> set[str]:
    """MessageSids other notices to the same number hold: the same text may be two notices."""
    rows = db.session.scalars(
        select(Notification.message_sid).where(
            Notification.target == note.target,
            Notification.channel == note.channel,
            Notification.message_sid.is_not(None),
            Notification.id != note.id,
        )
    )
    return {sid for sid in rows if sid}


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
            outcome: dict[str, object] = {}
            try:
                outcome["message_sid"] = channel.send(group.on_call, notice)
            except OutcomeUnknown as exc:
                # Maybe delivered: recorded as sent (at most once), loudly, rather than twice.
                outcome["outcome"] = "unknown"
                log.error("on-call alert for %s: outcome unknown (%s)", report.reference, exc)
            except TwilioError as exc:
                if exc.retryable:
                    raise
                outcome.update(outcome="rejected", error_code=exc.code)  # retrying cannot help
                log.error("on-call alert for %s refused by Twilio: %s", report.reference, exc)
            events.record(
                db.session, report.id, EventKind.ON_CALL_ALERTED, channel=channel.name, transfer=transfer, **outcome
            )
            db.session.commit()
        return channel.name
