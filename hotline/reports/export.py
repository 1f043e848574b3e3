"""Reports as plain data for export: never caller identity, never audio or PINs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from hotline.models import Report


def _iso(value: Any) -> str | None:
    return value.isoformat(timespec="seconds") + "Z" if value is not None else None


def report_dict(report: Report) -> dict[str, Any]:
    """Describe one report (its recordings and events must be loaded)."""
    return {
        "id": report.reference,
        "hotline": report.hotline_id,
        "tip_number": report.tip_number,
        "created_at": _iso(report.created_at),
        "call_ended_at": _iso(report.call_ended_at),
        "status": report.status,
        "urgency": report.urgency,
        "categories": list(report.categories),
        "language": report.language,
        "keypad": dict(report.keypad),
        "pin_set": report.pin_hash is not None,
        "questions": [
            {
                "key": r.question,
                "recording_sid": r.recording_sid,
                "state": r.status,
                "pipeline": r.fetch_state,
                "duration": r.duration,
            }
            for r in report.recordings
        ],
        "timeline": [
            {"at": _iso(e.at), "event": e.kind, **({"detail": e.detail} if e.detail else {})} for e in report.events
        ],
    }


def iter_reports(session: Session, batch: int = 200) -> Iterator[dict[str, Any]]:
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
        for report in rows:
            yield report_dict(report)
        last_id = rows[-1].id
