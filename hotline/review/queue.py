"""The report queue: the user's agencies' reports, critical first, then oldest first.

Reports with information the tipster added that one of the user's agencies has not
acknowledged are marked "Tipster added information"; `news=1` shows only those and
`sort=news` puts the most recent tipster information first.

The page and its 30-second refresh (review.js fetching `/queue/rows` with the same query
string) share one query, so a refresh keeps the user's filters and page. The listing is one
indexed query (EXISTS on assignments by agency, ordered by the urgency/created index) plus one
query for the page's assignments: never a query per row.

Urgencies are ordered by their rank (hotline.states.Urgency). The stored texts sort in rank
order, which hotline.states checks when it loads, so the listing reads the (urgency,
created_at, id) index in order and stops when the page is full.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask import current_app, render_template, request, session, url_for
from sqlalchemy import Select, String, cast, select
from sqlalchemy.orm import defer

from hotline.auth import login_required
from hotline.auth.models import User
from hotline.auth.session import LAST_SEEN
from hotline.extensions import db, runtime
from hotline.models import Assignment, Report, utcnow
from hotline.pipeline.assign import SETTLED_STATUSES, acknowledgement_due
from hotline.review import bp
from hotline.review.access import signed_in, visible_clause
from hotline.review.models import STATUSES
from hotline.states import ReportStatus, Urgency

PAGE_SIZE = 50
URGENCIES: tuple[Urgency, ...] = Urgency.most_urgent_first()
# Status filter values beyond the statuses themselves; "open" (everything but closed) is
# what an investigator normally wants to see, so it is the default.
STATUS_CHOICES = {"open": "Open (not closed)", "all": "All", **STATUSES}
# The orders the queue offers; "" is the default (most urgent, then oldest, first).
SORT_CHOICES = {"": "Most urgent first", "news": "Most recent tipster information first"}


@dataclass(frozen=True)
class Filters:
    """The queue's filters, validated: anything unknown is ignored rather than an error."""

    status: str = "open"
    urgency: str = ""
    hotline: str = ""
    category: str = ""
    date_from: date | None = None
    date_to: date | None = None
    news: bool = False
    sort: str = ""
    page: int = 1

    def args(self, page: int | None = None) -> dict[str, Any]:
        """The query string that reproduces these filters (for links and the refresh)."""
        wanted = self.page if page is None else page
        values = {
            "status": self.status if self.status != "open" else "",
            "urgency": self.urgency,
            "hotline": self.hotline,
            "category": self.category,
            "date_from": self.date_from.isoformat() if self.date_from else "",
            "date_to": self.date_to.isoformat() if self.date_to else "",
            "news": "1" if self.news else "",
            "sort": self.sort,
            "page": str(wanted) if wanted != 1 else "",
        }
        return {k: v for k, v in values.items() if v}


def categories() -> list[str]:
    """Every category classification can give, for the filter and to validate it."""
    return sorted(runtime.get().settings.classification.urgency)


def hotline_names() -> dict[str, str]:
    """Hotline id -> its English name, as staff know it."""
    return {h.id: h.name.get("en") or h.id for h in runtime.get().settings.hotlines}


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def parse_filters(args: Any) -> Filters:
    """Read filters from a query string, dropping values that are not among the choices."""
    status = args.get("status") or "open"
    urgency = args.get("urgency") or ""
    hotline = args.get("hotline") or ""
    category = args.get("category") or ""
    sort = args.get("sort") or ""
    try:
        page = max(1, min(int(args.get("page") or 1), 100_000))
    except ValueError:
        page = 1
    return Filters(
        status=status if status in STATUS_CHOICES else "open",
        urgency=urgency if urgency in URGENCIES else "",
        hotline=hotline if hotline in hotline_names() else "",
        category=category if category in categories() else "",
        date_from=_date(args.get("date_from")),
        date_to=_date(args.get("date_to")),
        news=args.get("news") == "1",
        sort=sort if sort in SORT_CHOICES else "",
        page=page,
    )


@dataclass(frozen=True)
class Row:
    """One line of the queue."""

    report: Report
    hotline: str
    # The earliest deadline among the user's agencies' unacknowledged assignments.
    due_at: datetime | None
    overdue: bool
    acknowledged: bool
    # The tipster added information one of the user's agencies has not acknowledged.
    news: bool = False

    @property
    def deadline_text(self) -> str:
        if self.report.status in SETTLED_STATUSES:
            return ""  # a closed or referred report has no deadline left to meet
        if self.due_at is None:
            return "Acknowledged" if self.acknowledged else ""
        left = self.due_at - utcnow()
        if left.total_seconds() < 0:
            return f"Overdue by {_span(-left)}"
        return f"Due in {_span(left)}"


def _span(delta: timedelta) -> str:
    """A short human length of time: 45 s, 12 min, 3 h 5 min, 2 d 4 h."""
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def query_page(user: User, filters: Filters) -> tuple[list[Row], bool]:
    """Return the rows of the requested page and whether another page follows."""
    if not user.agencies:
        return [], False
    query = select(Report).where(visible_clause(user))
    if filters.status == "open":
        query = query.where(Report.status != ReportStatus.CLOSED)
    elif filters.status != "all":
        query = query.where(Report.status == filters.status)
    if filters.urgency:
        query = query.where(Report.urgency == filters.urgency)
    if filters.hotline:
        query = query.where(Report.hotline_id == filters.hotline)
    if filters.category:
        # Categories are a JSON list; matching its text form with the quotes included works
        # the same on SQLite and PostgreSQL. The value was checked against the known
        # categories (slugs), so it cannot carry LIKE wildcards or quotes.
        query = query.where(cast(Report.categories, String).like(f'%"{filters.category}"%'))
    if filters.news:
        # Few reports carry news: start from those (an index on agency and news time) rather
        # than test every visible report for it.
        query = query.where(
            Report.id.in_(
                select(Assignment.report_id).where(
                    Assignment.agency_id.in_(list(user.agencies)),
                    Assignment.tipster_news_at.is_not(None),
                )
            )
        )
    if filters.date_from:
        query = query.where(Report.created_at >= datetime.combine(filters.date_from, datetime.min.time()))
    # The last day a date can name has no day after it to end on (and nothing is after it).
    if filters.date_to and filters.date_to < date.max:
        end = datetime.combine(filters.date_to + timedelta(days=1), datetime.min.time())
        query = query.where(Report.created_at < end)
    reports = list(db.session.scalars(by_rank(query, filters)))
    more = len(reports) > PAGE_SIZE
    reports = reports[:PAGE_SIZE]
    # The page's assignments for the user's agencies, in one query.
    due: dict[int, datetime] = {}
    acked: dict[int, bool] = {}
    news: set[int] = set()
    if reports:
        settings = runtime.get().settings
        by_id = {r.id: r for r in reports}
        assignments = db.session.scalars(
            select(Assignment).where(
                Assignment.report_id.in_(list(by_id)),
                Assignment.agency_id.in_(list(user.agencies)),
            )
        )
        for a in assignments:
            if a.acknowledged_at is None:
                due_at = acknowledgement_due(settings, a, by_id[a.report_id].urgency)
                due[a.report_id] = min(due_at, due.get(a.report_id, due_at))
            acked[a.report_id] = acked.get(a.report_id, True) and a.acknowledged_at is not None
            if a.tipster_news_at is not None:
                news.add(a.report_id)
    names = hotline_names()
    now = utcnow()
    rows = [
        Row(
            report=r,
            hotline=names.get(r.hotline_id, r.hotline_id),
            due_at=due.get(r.id),
            overdue=r.id in due and due[r.id] < now and r.status not in SETTLED_STATUSES,
            acknowledged=acked.get(r.id, False),
            news=r.id in news,
        )
        for r in reports
    ]
    return rows, more


def by_rank(query: Select[Report], filters: Filters) -> Select[Report]:
    """The page of `query` in queue order: most urgent first by rank, then oldest first
    (or, with sort=news, the most recent tipster information first).

    Ordering on the stored urgency is rank order: hotline.states refuses to load unless the
    urgencies' texts sort most urgent first. So the page is one scan of the (urgency,
    created_at, id) index that stops when the page is full; a CASE on the rank would sort
    every visible report on each load, and a branch per urgency reads a page from each.
    """
    if filters.sort == "news":
        # Reports the tipster never added to (NULL) come last, oldest first, on both databases.
        order = (Report.tipster_added_at.desc().nulls_last(), Report.id.desc())
    else:
        order = (Report.urgency, Report.created_at, Report.id)  # type: ignore[assignment]
    return (
        query.options(defer(Report.keypad), defer(Report.written))  # never shown here: leave them sealed
        .order_by(*order)
        .offset((filters.page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE + 1)  # one extra row tells whether there is a next page
    )


def _context(user: User) -> dict[str, Any]:
    filters = parse_filters(request.args)
    rows, more = query_page(user, filters)
    return {
        "filters": filters,
        "rows": rows,
        "next_url": url_for("review.queue", **filters.args(filters.page + 1)) if more else None,
        "prev_url": url_for("review.queue", **filters.args(filters.page - 1)) if filters.page > 1 else None,
        "refresh_url": url_for("review.queue_rows", **filters.args()),
        "status_choices": STATUS_CHOICES,
        "sort_choices": SORT_CHOICES,
        "urgencies": URGENCIES,
        "hotlines": hotline_names(),
        "categories": categories(),
    }


@bp.get("/queue")
@login_required
def queue() -> str:
    """The queue page with filters and pagination."""
    return render_template("review/queue.html", **_context(signed_in()))


@bp.get("/queue/rows")
@login_required
def queue_rows() -> str:
    """The table body alone, for review.js to swap in every 30 seconds."""
    keep_idle_clock()
    return render_template("review/_queue_rows.html", **_context(signed_in()))


def keep_idle_clock() -> None:
    """Do not let an automatic refresh count as activity.

    Sign-in ends a session after 30 idle minutes, measured from the last request; a page
    that polls every 30 seconds would otherwise keep an unattended screen signed in for
    good. The cookie as the browser sent it still holds the last real activity: put it back.
    """
    original = current_app.session_interface.open_session(current_app, request)
    if original is not None and LAST_SEEN in original:
        session[LAST_SEEN] = original[LAST_SEEN]
