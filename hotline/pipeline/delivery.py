"""Delivering an assignment's notices: plan the rows of its current level, queue the
notify job, and send each notice at most once (an SMS with an unknown outcome is looked up
at Twilio before any resend).

Planned by finalize and the sweep's escalation, sent by the notify job
(workers.reports.notify_assignment).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select

from hotline.extensions import db, runtime
from hotline.jobs.declarations import NOTIFY
from hotline.models import Assignment, Notification, Report, utcnow
from hotline.pipeline.assign import notice_for, plan_notifications
from hotline.pipeline.notify import Channel, Notice, SmsChannel
from hotline.pipeline.services import services_of
from hotline.reports import events
from hotline.states import EventKind, NotificationStatus
from hotline.twilio_api import OutcomeUnknown, TwilioError

log = logging.getLogger("workers")  # the jobs' logger, like hotline.jobs.locks: one name in the worker's log

# An SMS whose POST had an unknown outcome is looked up at Twilio; only a lookup at least
# this long after the attempt that does not find it lets it be sent again. Twilio creates
# the Message before it answers, so by then a message it has is listed.
LOOKUP_AFTER = timedelta(seconds=60)


def plan(assignment: Assignment) -> bool:
    """Create the notification rows of the assignment's current level; True if any is unsent."""
    if assignment.level > 0 and assignment.acknowledged_at is not None:
        return False  # send_notices would not send them either
    return bool(
        plan_notifications(db.session, runtime.get().settings, assignment, assignment.level, services_of().channels)
    )


def enqueue_notify(assignment: Assignment, urgency: str) -> bool:
    """Queue the notices of the assignment's current round and level (one live job each)."""
    level, round_ = assignment.level, assignment.round
    # Round 0 keeps the ids jobs had before rounds existed ("notify-<assignment>-<level>").
    step = level if round_ == 0 else f"{level}-r{round_}"
    return NOTIFY.enqueue(NOTIFY.id(assignment.id, step), assignment.id, level, round_, urgency=urgency)


def send_notices(assignment_id: int, level: int, round_: int | None = None) -> int:
    """Send the notices for an assignment at an escalation level of a round (None: the
    current one); each one at most once."""
    assignment = db.session.get(Assignment, assignment_id)
    if assignment is None:
        return 0
    if (round_ is not None and round_ != assignment.round) or level > assignment.level:
        return 0  # a newer round (the tipster added information) replaces what was left unsent
    current = assignment.round  # read before the commits below: the notices are this round's
    if level > 0 and assignment.acknowledged_at is not None:
        return 0  # acknowledged in the meantime: no need to escalate
    report = db.session.get(Report, assignment.report_id)
    assert report is not None
    cfg = runtime.get().settings
    enabled = services_of().channels
    pending = plan_notifications(db.session, cfg, assignment, level, enabled)
    db.session.commit()
    notice = notice_for(cfg, report, level, current)
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
            **({"round": current} if current else {}),
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
