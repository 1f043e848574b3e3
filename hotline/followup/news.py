"""The tipster added information to a report: mark it for its agencies and tell them.

Each time, every agency the report is routed to gets a new round (Assignment.round): its
acknowledgement is asked for again with the same deadline rules as a new report, and its
contacts get a content-free notice "New information on report R-...". The queue marks the
report ("Tipster added information") until the agency acknowledges it.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hotline.models import Assignment, Report, utcnow
from hotline.reports import events
from hotline.states import EventKind


def tipster_added(
    session: Session, report: Report, *, channel: str, recordings: int = 0, texts: int = 0, attachments: int = 0
) -> None:
    """Record that the tipster added information and mark it for the report's agencies.

    The caller commits. Telling the agencies (a new round of notices) is
    `hotline.followup.news` 's job once the information is in (see open_round).
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
