"""Report status changes: the declared table of who may move a report from which status to which.

The review app's status form and `flask reports status` both go through change_status; the
call's end and an acknowledgement move a report on their own through advance(). Like
hotline.auth.accounts, these functions change the report and record its timeline event but
neither audit nor commit: the caller knows who acted (a signed-in user or the terminal).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.auth.models import User
from hotline.models import Assignment, Report, utcnow
from hotline.pipeline.assign import acknowledge
from hotline.reports import events
from hotline.reports.transitions import REVIEW_STATUSES, may_move
from hotline.states import Disposition, EventKind, ReportStatus


class StatusError(ValueError):
    """A status change that is not allowed; the message says why, for a person."""


class UnknownStatus(StatusError):
    """Not a status at all."""


class ForbiddenTransition(StatusError):
    """A status, but not one this user may move this report to from where it is."""


class DispositionNeeded(StatusError):
    """Closing without saying how the report ended."""


@dataclass(frozen=True)
class StatusChange:
    """What a change did, for the caller's audit entry and message."""

    previous: str
    status: ReportStatus
    disposition: Disposition | None
    acknowledged_for: list[str]

    def audit_detail(self) -> dict[str, Any]:
        return {
            "from": self.previous,
            "to": self.status,
            "disposition": self.disposition,
            "acknowledged_for": self.acknowledged_for,
        }


def user_agencies_of(session: Session, user: User, report_id: int) -> list[str]:
    """The user's agencies this report was routed to (the ones they act for)."""
    return list(
        session.scalars(
            select(Assignment.agency_id)
            .where(Assignment.report_id == report_id, Assignment.agency_id.in_(list(user.agencies)))
            .order_by(Assignment.agency_id)
        )
    )


def acknowledge_for(session: Session, user: User, report: Report) -> list[str]:
    """Acknowledge the report for each of the user's agencies it went to; those it changed."""
    return [a for a in user_agencies_of(session, user, report.id) if acknowledge(session, report, user.email, a)]


def change_status(
    session: Session, report: Report, new: str, *, by: User, disposition: str | None = None
) -> StatusChange | None:
    """Move the report to `new` on behalf of `by`; None if that changes nothing.

    Closing needs a disposition; any other status drops it (a disposition only describes how
    a report was closed). Working on a report (or closing it) acknowledges it for the user's
    agencies, so nobody is woken for a report someone is already handling.
    """
    try:
        status = ReportStatus(new)
    except ValueError:
        raise UnknownStatus(f"{new!r} is not a status; choose one of {', '.join(REVIEW_STATUSES)}") from None
    if by.disabled or not user_agencies_of(session, by, report.id) or not may_move(by.role, report.status, status):
        raise ForbiddenTransition(f"{by.email} may not move {report.reference} from {report.status} to {status}")
    chosen: Disposition | None = None
    if status == ReportStatus.CLOSED:
        try:
            chosen = Disposition(disposition or "")
        except ValueError:
            raise DispositionNeeded(f"closing needs a disposition: one of {', '.join(Disposition)}") from None
    if status == report.status and chosen == report.disposition:
        return None
    previous = report.status
    acknowledged = acknowledge_for(session, by, report) if status != ReportStatus.NEW else []
    report.status, report.disposition = status, chosen
    report.closed_at = utcnow() if status == ReportStatus.CLOSED else None
    detail = {"by": by.email, "from": previous, "to": status, "disposition": chosen}
    events.record(session, report.id, EventKind.STATUS_CHANGED, **detail)
    return StatusChange(previous, status, chosen, acknowledged)
