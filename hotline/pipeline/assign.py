"""Route a finished report to agencies, escalate what nobody acknowledges, record acknowledgements."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hotline.models import Assignment, Notification, Report, utcnow
from hotline.pipeline.notify import Channel, Notice, targets
from hotline.pipeline.routing import route
from hotline.reports import events
from hotline.reports.transitions import advance
from hotline.settings import Settings

# SETTLED_STATUSES re-exported: the review pages import it from here.
from hotline.states import SETTLED_STATUSES as SETTLED_STATUSES
from hotline.states import EventKind, NotificationStatus, ReportStatus


def deadline(settings: Settings, urgency: str) -> timedelta:
    return timedelta(seconds=getattr(settings.escalation, urgency, settings.escalation.normal))


def acknowledgement_due(settings: Settings, assignment: Assignment, urgency: str) -> datetime:
    """When the agency had to acknowledge.

    Before the first escalation that is `due_at` (which a rise in urgency may have brought
    forward). After it, `due_at` is the next escalation step and moves on at each one, so
    the deadline was routing time plus the urgency's window: a report stays overdue however
    often it has been escalated.
    """
    if assignment.level == 0:
        return assignment.due_at
    return min(assignment.due_at, assignment.created_at + deadline(settings, urgency))


def assign(session: Session, settings: Settings, report: Report) -> list[Assignment]:
    """Create one assignment per routed agency (idempotent); return the report's assignments."""
    choices = {k: str(v) for k, v in report.keypad.items()}
    agencies = route(settings, report.hotline_id, choices, report.categories)
    existing = {a.agency_id: a for a in session.scalars(select(Assignment).where(Assignment.report_id == report.id))}
    due = utcnow() + deadline(settings, report.urgency)
    for agency in agencies:
        if agency not in existing:
            assignment = Assignment(report_id=report.id, agency_id=agency, due_at=due, level=0)
            session.add(assignment)
            existing[agency] = assignment
    if report.routed_at is None:
        report.routed_at = utcnow()
        events.record(session, report.id, EventKind.ROUTED, agencies=agencies)
    session.flush()
    return list(existing.values())


def link_for(settings: Settings, report: Report) -> str:
    return f"{settings.public_url}/reports/{report.id}"


def notice_for(settings: Settings, report: Report, level: int, round_: int = 0) -> Notice:
    """The notice of a report at an escalation level, in a round (0: the report itself)."""
    hotline = settings.hotline(report.hotline_id)
    name = hotline.name.get("en", hotline.id) if hotline else report.hotline_id
    return Notice(report.reference, report.urgency, name, link_for(settings, report), level, round=round_)


def plan_notifications(
    session: Session, settings: Settings, assignment: Assignment, level: int, enabled: dict[str, Channel]
) -> list[Notification]:
    """Create (once) the notification rows for an assignment at a level of its current
    round; return the unsent ones."""
    agency = next((a for a in settings.agencies if a.id == assignment.agency_id), None)
    wanted: list[tuple[str, str]] = []
    if agency is not None and agency.contacts:
        contact = agency.contacts[min(level, len(agency.contacts) - 1)]
        wanted.extend(targets(contact, enabled))
    if level > 0:
        # Escalations also wake the on-call dispatcher of the report's hotline.
        report = session.get(Report, assignment.report_id)
        hotline = settings.hotline(report.hotline_id) if report else None
        group = settings.dispatcher_groups.get(hotline.dispatcher_group or "") if hotline else None
        if group and group.on_call:
            wanted.append(("sms" if "sms" in enabled else "log", group.on_call))
    for channel, target in dict.fromkeys(wanted):
        exists = session.scalar(
            select(Notification.id).where(
                Notification.assignment_id == assignment.id,
                Notification.round == assignment.round,
                Notification.level == level,
                Notification.channel == channel,
                Notification.target == target,
            )
        )
        if exists is None:
            try:
                with session.begin_nested():
                    session.add(
                        Notification(
                            assignment_id=assignment.id,
                            round=assignment.round,
                            level=level,
                            channel=channel,
                            target=target,
                        )
                    )
            except IntegrityError:
                pass  # another worker planned it first
    return list(
        session.scalars(
            select(Notification)
            .where(
                Notification.assignment_id == assignment.id,
                Notification.round == assignment.round,
                Notification.level == level,
                # A notice Twilio refused for good (e.g. 21211) waits for an admin, not a retry.
                Notification.status.not_in((NotificationStatus.SENT, NotificationStatus.REJECTED)),
            )
            .order_by(Notification.id)
        )
    )


def due_assignments(session: Session, now: datetime, limit: int = 500) -> list[Assignment]:
    return list(
        session.scalars(
            select(Assignment)
            .join(Report, Report.id == Assignment.report_id)
            .where(
                Assignment.acknowledged_at.is_(None),
                Assignment.due_at <= now,
                Report.status.not_in(SETTLED_STATUSES),
            )
            .order_by(Assignment.due_at)
            .limit(limit)
        )
    )


def escalate(session: Session, settings: Settings, assignment: Assignment, now: datetime) -> int:
    """Move an overdue assignment one level up and set its next deadline; return the new level."""
    report = session.get(Report, assignment.report_id)
    assert report is not None
    assignment.level += 1
    assignment.due_at = now + deadline(settings, report.urgency)
    events.record(session, report.id, EventKind.ESCALATED, agency=assignment.agency_id, level=assignment.level)
    return assignment.level


def acknowledge(session: Session, report: Report, user: str, agency_id: str | None = None) -> int:
    """Acknowledge a report for one agency (or all of its agencies); stops their escalation
    and clears their "Tipster added information" mark (they have seen the news)."""
    query = select(Assignment).where(Assignment.report_id == report.id, Assignment.acknowledged_at.is_(None))
    if agency_id:
        query = query.where(Assignment.agency_id == agency_id)
    open_ones = list(session.scalars(query))
    now = utcnow()
    for assignment in open_ones:
        assignment.acknowledged_at, assignment.acknowledged_by = now, user
        assignment.tipster_news_at = None
    if open_ones:
        advance(report, ReportStatus.ACKNOWLEDGED)
        events.record(session, report.id, EventKind.ACKNOWLEDGED, by=user, agencies=[a.agency_id for a in open_ones])
    return len(open_ones)
