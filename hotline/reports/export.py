"""Reports as plain data for export: never caller identity, never audio or PINs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from hotline.models import Assignment, Notification, Recording, Report
from hotline.states import NotificationStatus

# Reads a recording's transcript (decrypting it) or returns None; None means "not asked for".
TranscriptReader = Callable[[Recording], str | None]


def _iso(value: Any) -> str | None:
    return value.isoformat(timespec="seconds") + "Z" if value is not None else None


def _question(rec: Recording, read_transcript: TranscriptReader | None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "key": rec.question,
        "recording_sid": rec.recording_sid,
        "state": rec.status,
        "pipeline": rec.fetch_state,
        "duration": rec.duration,
        "stored_at": _iso(rec.stored_at),
        "deleted_from_twilio": rec.deleted_from_twilio,
        "transcript_state": rec.transcript_state,
        "shredded_at": _iso(rec.shredded_at),
    }
    if read_transcript is not None:
        item["transcript"] = read_transcript(rec) if rec.transcript_state == "done" else None
    return item


def _route(assignment: Assignment, notices_sent: int) -> dict[str, Any]:
    return {
        "agency": assignment.agency_id,
        "routed_at": _iso(assignment.created_at),
        "escalation_level": assignment.level,
        "notices_sent": notices_sent,
        "acknowledged_at": _iso(assignment.acknowledged_at),
        "acknowledged_by": assignment.acknowledged_by,
    }


def report_dict(
    report: Report,
    routes: list[dict[str, Any]] | None = None,
    read_transcript: TranscriptReader | None = None,
) -> dict[str, Any]:
    """Describe one report (its recordings and events must be loaded)."""
    return {
        "id": report.reference,
        "hotline": report.hotline_id,
        "tip_number": report.tip_number,
        "created_at": _iso(report.created_at),
        "call_ended_at": _iso(report.call_ended_at),
        "routed_at": _iso(report.routed_at),
        "status": report.status,
        "disposition": report.disposition,
        "urgency": report.urgency,
        "categories": list(report.categories),
        "language": report.language,
        "keypad": dict(report.keypad),
        "pin_set": report.pin_hash is not None,
        "legal_hold": report.legal_hold,
        "questions": [_question(r, read_transcript) for r in report.recordings],
        "routes": routes or [],
        "timeline": [
            {"at": _iso(e.at), "event": e.kind, **({"detail": e.detail} if e.detail else {})} for e in report.events
        ],
    }


def _routes_of(session: Session, report_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Each report's assignments with how many notices went out for them, in two queries."""
    assignments = session.scalars(
        select(Assignment).where(Assignment.report_id.in_(report_ids)).order_by(Assignment.id)
    ).all()
    rows = session.execute(
        select(Notification.assignment_id, func.count())
        .where(
            Notification.assignment_id.in_([a.id for a in assignments]), Notification.status == NotificationStatus.SENT
        )
        .group_by(Notification.assignment_id)
    )
    sent = {assignment_id: count for assignment_id, count in rows}
    routes: dict[int, list[dict[str, Any]]] = {}
    for a in assignments:
        routes.setdefault(a.report_id, []).append(_route(a, sent.get(a.id, 0)))
    return routes


def iter_reports(
    session: Session, batch: int = 200, read_transcript: TranscriptReader | None = None
) -> Iterator[dict[str, Any]]:
    """Yield every report, oldest first, in batches to keep memory flat."""
    last_id = 0
    while True:
        rows = session.scalars(
            select(Report)
            .where(Report.id > last_id)
            .order_by(Report.id)
            .limit(batch)
            .options(selectinload(Report.recordings), selectinload(Report.events))
        ).all()
        if not rows:
            return
        routes = _routes_of(session, [r.id for r in rows])
        for report in rows:
            yield report_dict(report, routes.get(report.id), read_transcript)
        last_id = rows[-1].id
