"""Tables of the review app: investigators' notes and links between related reports.

Also declares the indexes the queue needs on the pipeline's tables; an Index built from
columns attaches itself to their table, so the migrations check sees them in the metadata.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hotline.crypto.columns import SealedText
from hotline.models import Assignment, Base, Report, utcnow

# The review states an investigator can set, in workflow order, with their labels.
STATUSES: dict[str, str] = {
    "new": "New",
    "acknowledged": "Acknowledged",
    "investigating": "Investigating",
    "referred": "Referred",
    "closed": "Closed",
}
# How a closed report ended; closing without one is refused.
DISPOSITIONS: dict[str, str] = {
    "founded": "Founded",
    "unfounded": "Unfounded",
    "prank": "Prank",
    "duplicate": "Duplicate",
    "referred_elsewhere": "Referred elsewhere",
}


class Note(Base):
    """Free text an investigator (or the dispatcher who took the call) adds to a report."""

    __tablename__ = "notes"
    __table_args__ = (Index("ix_notes_report_id", "report_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"))
    # Set when a dispatcher wrote it from the console about the call they answered.
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"))
    # No foreign key to users, like the audit log: a note must outlive its author's account.
    author_id: Mapped[int | None]
    author_email: Mapped[str] = mapped_column(String(254))
    body: Mapped[str] = mapped_column(SealedText("notes", "body"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReportLink(Base):
    """Two related reports; stored once with the lower id first, so a pair cannot repeat."""

    __tablename__ = "report_links"
    __table_args__ = (
        UniqueConstraint("low_id", "high_id", name="uq_report_links_pair"),
        CheckConstraint("low_id < high_id", name="ck_report_links_order"),
        Index("ix_report_links_high_id", "high_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    low_id: Mapped[int] = mapped_column(ForeignKey("reports.id"))
    high_id: Mapped[int] = mapped_column(ForeignKey("reports.id"))
    created_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# The queue joins assignments on agency first; with report_id in the index the join needs
# no table lookups. Reports are listed most urgent first (by rank, one branch per urgency:
# hotline.review.queue.by_rank), then oldest first: this index serves each branch's order.
ix_assignments_agency_report = Index("ix_assignments_agency_report", Assignment.agency_id, Assignment.report_id)
ix_reports_urgency_created = Index("ix_reports_urgency_created", Report.urgency, Report.created_at, Report.id)
# "Tipster added information" (queue filter news=1): the few assignments with news, per agency.
ix_assignments_agency_news = Index("ix_assignments_agency_news", Assignment.agency_id, Assignment.tipster_news_at)
# sort=news: most recent tipster information first. SQLite walks this index backwards (its
# DESC puts NULLs last, as asked); PostgreSQL sorts the visible reports' top page instead.
ix_reports_tipster_added = Index("ix_reports_tipster_added", Report.tipster_added_at, Report.id)
