"""The on-call alert: tell the hotline's on-call person that a caller asked for a dispatcher
and nobody answered. One alert per unanswered transfer, recorded by the transfer's event id.

Sent by the on-call job (workers.reports.alert_on_call), queued by the dial webhook and, if
that was lost, by the sweep.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.extensions import db, runtime
from hotline.models import Event, Report
from hotline.pipeline.assign import notice_for
from hotline.pipeline.notify import Notice
from hotline.pipeline.services import services_of
from hotline.reports import events
from hotline.states import EventKind
from hotline.twilio_api import OutcomeUnknown, TwilioError

log = logging.getLogger("workers")  # the jobs' logger, like hotline.jobs.locks: one name in the worker's log


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


def alert(report_id: int) -> str:
    """Send the alert for each of the report's transfers that has none yet; returns the
    channel used, or why nothing was sent. Called with the report's on-call lock held."""
    report = db.session.get(Report, report_id)
    if report is None:
        return "missing"
    pending = unalerted_transfers(db.session, report_id)
    if not pending:
        return "already alerted"
    cfg = runtime.get().settings
    hotline = cfg.hotline(report.hotline_id)
    group = cfg.dispatcher_groups.get(hotline.dispatcher_group or "") if hotline else None
    if group is None or group.on_call is None:
        return "no on-call number"
    enabled = services_of().channels
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
