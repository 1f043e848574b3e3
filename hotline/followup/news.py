"""The tipster added information to a report: mark it for its agencies and tell them.

Each time, every agency the report is routed to gets a new round (Assignment.round): its
acknowledgement is asked for again with the same deadline rules as a new report, and its
contacts get a content-free notice "New information on report R-...". The queue marks the
report ("Tipster added information") until the agency acknowledges it.

Bookkeeping, so that each piece of news opens exactly one round however often finalize
runs: `tipster_added` stamps `report.tipster_added_at`; `open_round` records the round in a
NEW_INFORMATION_NOTIFIED event whose `news_at` is that stamp. News is pending while the
latest such event is older than the stamp. News that comes again before its round opened
(a second recording of the same call back) joins the round: one notice per round.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hotline.models import Assignment, Event, Report, utcnow
from hotline.pipeline.assign import deadline
from hotline.reports import events
from hotline.settings import Settings
from hotline.states import SETTLED_STATUSES, EventKind, ReportStatus

# Who moved a settled report back to "new", on its timeline.
REOPENED_BY = "new information from the tipster"


class RoundRace(RuntimeError):
    """Another run opened this round first; raised so the job is retried and finds it done."""


def tipster_added(
    session: Session, report: Report, *, channel: str, recordings: int = 0, texts: int = 0, attachments: int = 0
) -> None:
    """Record that the tipster added information and mark it for the report's agencies.

    The caller commits, then enqueues FINALIZE for the report: finalize opens the new round
    (`open_round`) once the information is in (recordings transcribed or given up).
    """
    now = utcnow()
    report.tipster_added_at = now
    events.record(
        session,
        report.id,
        EventKind.INFORMATION_ADDED,
        channel=channel,
        recordings=recordings,
        texts=texts,
        attachments=attachments,
    )
    session.execute(
        update(Assignment)
        .where(Assignment.report_id == report.id)
        .values(tipster_news_at=now)
        .execution_options(synchronize_session=False)
    )


def marked(session: Session, report_id: int) -> list[Assignment]:
    """The report's assignments with tipster news not yet acknowledged."""
    return list(
        session.scalars(
            select(Assignment).where(Assignment.report_id == report_id, Assignment.tipster_news_at.is_not(None))
        )
    )


def last_round_news(session: Session, report_id: int) -> datetime | None:
    """The news the report's latest round was opened for (None: no round yet)."""
    detail = session.scalar(
        select(Event.detail)
        .where(Event.report_id == report_id, Event.kind == EventKind.NEW_INFORMATION_NOTIFIED)
        .order_by(Event.id.desc())
        .limit(1)
    )
    stamp = detail.get("news_at") if detail else None
    return datetime.fromisoformat(stamp) if isinstance(stamp, str) else None


def pending(session: Session, report: Report) -> bool:
    """Whether the tipster's latest information still waits for its round of notices."""
    if report.tipster_added_at is None or report.routed_at is None:
        return False
    done = last_round_news(session, report.id)
    return done is None or done < report.tipster_added_at


def open_round(session: Session, settings: Settings, report: Report, now: datetime) -> list[Assignment]:
    """Open a new round for each agency the report reached before the news; once per news.

    Each gets round + 1, level 0, its acknowledgement asked for again and a deadline from
    the report's urgency (which the news may have raised). An agency the news itself
    brought in (routed after it) has its first notices already. A closed or referred report
    goes back to "new": the tipster said more, so someone must look again, and escalation
    only runs on reports that are not settled. The caller plans the notices and commits.
    """
    news_at = report.tipster_added_at
    if news_at is None or not pending(session, report):
        return []
    opened = []
    due = now + deadline(settings, report.urgency)
    for assignment in session.scalars(
        select(Assignment).where(Assignment.report_id == report.id).order_by(Assignment.agency_id)
    ):
        if assignment.created_at > news_at:
            continue
        # Guarded on the round read: of two runs at once, the second changes nothing and retries.
        changed = session.execute(
            update(Assignment)
            .where(Assignment.id == assignment.id, Assignment.round == assignment.round)
            .values(
                round=assignment.round + 1,
                level=0,
                acknowledged_at=None,
                acknowledged_by=None,
                due_at=due,
                tipster_news_at=assignment.tipster_news_at or news_at,
            )
            .execution_options(synchronize_session=False)
        )
        if changed.rowcount != 1:  # type: ignore[attr-defined]
            raise RoundRace(f"report {report.id}: a round was opened by another run")
        session.refresh(assignment)
        opened.append(assignment)
    if not opened:
        return []
    if report.status in SETTLED_STATUSES:
        previous = report.status
        report.status, report.disposition, report.closed_at = ReportStatus.NEW, None, None
        detail = {"by": REOPENED_BY, "from": previous, "to": ReportStatus.NEW}
        events.record(session, report.id, EventKind.STATUS_CHANGED, **detail)
    events.record(
        session,
        report.id,
        EventKind.NEW_INFORMATION_NOTIFIED,
        news_at=news_at.isoformat(),
        agencies=[a.agency_id for a in opened],
        rounds={a.agency_id: a.round for a in opened},
        urgency=report.urgency,
    )
    return opened
