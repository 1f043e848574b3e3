"""Links between related reports: finding the other report by its reference, and linking."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.auth.models import User
from hotline.models import Report
from hotline.reports import events
from hotline.review.models import ReportLink
from hotline.states import EventKind

# "R-2026-00042", "r-2026-42" or just "42"; the year, when given, must match.
_REFERENCE = re.compile(r"^\s*(?:R-(\d{4})-)?0*(\d{1,12})\s*$", re.IGNORECASE)


class LinkError(ValueError):
    """A link that cannot be made; the message says why, for a person."""


@dataclass(frozen=True)
class Lookup:
    """What a typed reference names: the number it gives (if it reads as one) and the report."""

    number: str | None
    report: Report | None


def find_by_reference(session: Session, entered: str) -> Lookup:
    """Find the report a reference (or bare number) names; its year, when given, must match."""
    match = _REFERENCE.match(entered)
    if match is None:
        return Lookup(None, None)
    # int() reads any script's digits ("٤٢", "４２"): the number is kept in ASCII, so the
    # audit entry of a refused reference names the id an audit search looks for.
    number = int(match.group(2))
    other = session.get(Report, number)
    if other is not None and match.group(1) and int(match.group(1)) != other.created_at.year:
        other = None
    return Lookup(str(number), other)


def link(session: Session, report: Report, other: Report, *, by: User) -> bool:
    """Link two reports, both timelines saying so; False if they already were linked.

    The caller has checked that `by` may see both. Neither audits nor commits.
    """
    if other.id == report.id:
        raise LinkError("A report cannot be linked to itself.")
    low, high = sorted((report.id, other.id))
    exists = session.scalar(select(ReportLink.id).where(ReportLink.low_id == low, ReportLink.high_id == high))
    if exists is not None:
        return False
    session.add(ReportLink(low_id=low, high_id=high, created_by=by.email))
    # Both timelines say so: whoever opens either report sees the connection.
    events.record(session, report.id, EventKind.LINKED, by=by.email, reference=other.reference)
    events.record(session, other.id, EventKind.LINKED, by=by.email, reference=report.reference)
    return True
