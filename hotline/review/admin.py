"""Administrators' view of the audit log: search it, and export what was found (audited).

An administrator reads only the entries hotline.auth.reach allows them: those by or about the
accounts they manage, and those about reports routed to their agencies. The whole log stays
available from the terminal (`flask audit export`).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask import Response, render_template, request, stream_with_context, url_for
from sqlalchemy import Select, select

from hotline.auth import audit, reach
from hotline.auth.models import AuditEntry, User
from hotline.extensions import db
from hotline.models import utcnow
from hotline.review import bp
from hotline.review.access import admin_only, signed_in

PAGE_SIZE = 100
EXPORT_BATCH = 500
CSV_FIELDS = (
    "seq",
    "at",
    "action",
    "user_id",
    "user_email",
    "ip",
    "target_type",
    "target_id",
    "detail",
    "prev_hash",
    "hash",
)


@dataclass(frozen=True)
class AuditFilters:
    user: str = ""
    action: str = ""
    # What was acted on: "report 42", "R-2026-00042", "recording RE...", or an id alone.
    target: str = ""
    date_from: date | None = None
    date_to: date | None = None
    # Show entries older than this sequence number (the next page of a newest-first list).
    before: int | None = None

    def args(self, before: int | None = None) -> dict[str, Any]:
        values = {
            "user": self.user,
            "action": self.action,
            "target": self.target,
            "date_from": self.date_from.isoformat() if self.date_from else "",
            "date_to": self.date_to.isoformat() if self.date_to else "",
            "before": str(before) if before else "",
        }
        return {k: v for k, v in values.items() if v}


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def parse(args: Any) -> AuditFilters:
    try:
        before = int(args.get("before") or 0) or None
    except ValueError:
        before = None
    return AuditFilters(
        user=(args.get("user") or "").strip().lower()[:254],
        action=(args.get("action") or "").strip()[:64],
        target=" ".join((args.get("target") or "").split())[:140],
        date_from=_date(args.get("date_from")),
        date_to=_date(args.get("date_to")),
        before=before,
    )


_REFERENCE = re.compile(r"^R-\d{4}-0*(\d+)$", re.IGNORECASE)


def _target(value: str) -> tuple[str | None, str]:
    """Split "report 42" into its type and id; a report reference names the report's id."""
    found = _REFERENCE.match(value)
    if found:
        return "report", found.group(1)
    kind, _, ident = value.partition(" ")
    return (kind.lower(), ident) if ident else (None, kind)


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def filtered(filters: AuditFilters, admin: User) -> Select[AuditEntry]:
    """Entries the administrator may read matching the filters: user by email (part of it),
    action by name or prefix."""
    query = select(AuditEntry).where(reach.audit_clause(db.session, admin))
    if filters.user:
        if filters.user.isdigit():
            query = query.where(AuditEntry.user_id == int(filters.user))
        else:
            query = query.where(AuditEntry.user_email.like(f"%{_escape_like(filters.user)}%", escape="\\"))
    if filters.action:
        # "report." finds every report action; "report.view" finds exactly that one.
        if filters.action.endswith("."):
            query = query.where(AuditEntry.action.like(f"{_escape_like(filters.action)}%", escape="\\"))
        else:
            query = query.where(AuditEntry.action == filters.action)
    if filters.target:
        target_type, target_id = _target(filters.target)
        query = query.where(AuditEntry.target_id == target_id)
        if target_type:
            query = query.where(AuditEntry.target_type == target_type)
    if filters.date_from:
        query = query.where(AuditEntry.at >= datetime.combine(filters.date_from, datetime.min.time()))
    if filters.date_to:
        query = query.where(AuditEntry.at < datetime.combine(filters.date_to + timedelta(days=1), datetime.min.time()))
    return query


@bp.get("/admin/audit")
@admin_only
def audit_log() -> str:
    """Search the audit log, newest first, 100 entries a page."""
    filters = parse(request.args)
    query = filtered(filters, signed_in())
    if filters.before:
        query = query.where(AuditEntry.seq < filters.before)
    entries = list(db.session.scalars(query.order_by(AuditEntry.seq.desc()).limit(PAGE_SIZE + 1)))
    more = len(entries) > PAGE_SIZE
    entries = entries[:PAGE_SIZE]
    return render_template(
        "review/audit.html",
        filters=filters,
        entries=entries,
        next_url=url_for("review.audit_log", **filters.args(entries[-1].seq)) if more else None,
        first_url=url_for("review.audit_log", **filters.args()) if filters.before else None,
        csv_url=url_for("review.audit_export", format="csv", **filters.args()),
        jsonl_url=url_for("review.audit_export", format="jsonl", **filters.args()),
    )


def _cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas: logged values (tried emails) come from outside."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _rows(filters: AuditFilters, admin: User, fmt: str) -> Iterator[str]:
    """Yield the export in batches, oldest first, so a long log does not fill memory."""
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_FIELDS)
        yield buffer.getvalue()
    last = 0
    while True:
        batch = list(
            db.session.scalars(
                filtered(filters, admin).where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(EXPORT_BATCH)
            )
        )
        if not batch:
            return
        for entry in batch:
            data = audit.as_dict(entry)
            if fmt == "csv":
                buffer = io.StringIO()
                data["detail"] = json.dumps(data["detail"], sort_keys=True)
                csv.writer(buffer).writerow([_cell(data[f]) for f in CSV_FIELDS])
                yield buffer.getvalue()
            else:
                yield json.dumps(data, sort_keys=True) + "\n"
        last = batch[-1].seq


@bp.get("/admin/audit/export")
@admin_only
def audit_export() -> Response:
    """Download the matching entries as CSV or JSON Lines; the export itself is audited."""
    user = signed_in()
    filters = parse(request.args)
    fmt = "csv" if request.args.get("format") == "csv" else "jsonl"
    criteria = {k: v for k, v in filters.args().items() if k != "before"}
    audit.record("audit.exported", user=user, detail={"format": fmt, "filters": criteria})
    db.session.commit()
    stamp = f"{utcnow():%Y%m%d-%H%M%S}"
    mimetype = "text/csv" if fmt == "csv" else "application/x-ndjson"
    response = Response(stream_with_context(_rows(filters, user, fmt)), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="audit-{stamp}.{fmt}"'
    response.headers["Cache-Control"] = "no-store"
    return response
