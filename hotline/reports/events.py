"""Record a line on a report's timeline: the one way every part of the app writes an event."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from hotline.models import Event
from hotline.states import EventKind

# A Core INSERT, not an ORM object: nothing reads an event back in the transaction that
# writes it, and on the webhooks the unit of work (identity map, flush planning) cost more
# than the statement. Written at once, so events keep the order they were recorded in.
_INSERT_EVENT = insert(cast(Table, Event.__table__))


def record(session: Session, report_id: int, kind: EventKind, /, **detail: Any) -> None:
    """Append an event of this kind to the report's timeline, inside the caller's transaction."""
    # EventKind(...) refuses a kind nobody declared: a typo fails here, not on the timeline.
    session.execute(_INSERT_EVENT, {"report_id": report_id, "kind": str(EventKind(kind)), "detail": detail})
