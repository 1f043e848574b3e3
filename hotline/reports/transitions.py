"""The declared table of report status transitions: who may move a report from which status
to which, and the moves the system makes by itself (hotline.reports.status applies them)."""

from __future__ import annotations

from collections.abc import Mapping

from hotline.auth.models import ROLES
from hotline.models import Report
from hotline.states import ReportStatus

S = ReportStatus
# The statuses a person may set, in workflow order (the form lists them so).
REVIEW_STATUSES: tuple[ReportStatus, ...] = (S.NEW, S.ACKNOWLEDGED, S.INVESTIGATING, S.REFERRED, S.CLOSED)
# Anyone who can see a report may move it, whatever their role: reviewing is the job of
# every account an agency has. Keyed by (from, to) so a rule can narrow one move later.
EVERYONE: frozenset[str] = frozenset(ROLES)
TRANSITIONS: Mapping[tuple[ReportStatus, ReportStatus], frozenset[str]] = {
    # From any status, including a call still in progress, to any status a person sets;
    # nobody moves a report back to "in_call", which only a live call is.
    (old, new): EVERYONE
    for old in ReportStatus
    for new in REVIEW_STATUSES
}
# Moves the system makes by itself: the caller hangs up, an agency acknowledges.
SYSTEM_TRANSITIONS: Mapping[ReportStatus, frozenset[ReportStatus]] = {
    S.IN_CALL: frozenset({S.NEW, S.ACKNOWLEDGED}),
    S.NEW: frozenset({S.ACKNOWLEDGED}),
}


def may_move(role: str, old: str, new: str) -> bool:
    """Whether someone with this role may move a report from `old` to `new`."""
    try:
        return role in TRANSITIONS.get((ReportStatus(old), ReportStatus(new)), frozenset())
    except ValueError:
        return False


def advance(report: Report, new: ReportStatus) -> bool:
    """Make a move the system makes by itself, if the report is where it applies."""
    try:
        allowed = new in SYSTEM_TRANSITIONS.get(ReportStatus(report.status), frozenset())
    except ValueError:
        return False
    if allowed:
        report.status = new
    return allowed
