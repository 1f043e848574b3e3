"""Check a tip number and PIN, giving nothing away about which tip numbers exist.

Whether the number is unknown, belongs to another hotline, has no PIN, is locked, or the PIN
is wrong, the same work is done (one argon2 verification, one audit entry) and the same
answer comes back: None. Five wrong PINs on one report within 24 hours lock its follow-up
for 24 hours. The count is kept on the report (its timeline), never per caller: a caller's
number is never stored, and a web tipster's address neither.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from hotline.auth import audit
from hotline.models import Event, Report, utcnow
from hotline.reports import events
from hotline.security import pins
from hotline.states import EventKind

MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(hours=24)
LOCK_FOR = timedelta(hours=24)


@dataclass(frozen=True)
class Access:
    """What a matching tip number (and PIN) opens."""

    report_id: int
    # False when the report has no PIN and none was given: the tipster may add
    # information (they hold the tip number) but is shown no messages.
    messages: bool


def check(
    session: Session, tip_number: str, pin: str | None, *, channel: str, hotline_id: str | None = None
) -> Access | None:
    """Return what the tip number and PIN open, or None; the caller commits.

    `pin` None: the tipster says they chose no PIN. That opens a report with no PIN (to add
    information only) and nothing else. `hotline_id`: only that hotline's reports count
    (a call back on the Safe Schools line cannot open a PREA report).
    """
    report = session.scalar(select(Report).where(Report.tip_number == tip_number)) if tip_number.isdigit() else None
    if report is not None and hotline_id is not None and report.hotline_id != hotline_id:
        report = None
    stored = report.pin_hash if report is not None else None
    # Exactly one argon2 verification on every path: the time taken says nothing.
    matched = pins.pin_matches(stored or pins.dummy_hash(), pin or "")
    if tip_number.isdigit():
        _serialize(session, tip_number, report)
    now = utcnow()
    locked = report is not None and report.followup_locked_until is not None and report.followup_locked_until > now
    if report is not None and not locked:
        if stored is not None and pin is not None and matched:
            return Access(report.id, messages=True)
        if stored is None and pin is None:
            return Access(report.id, messages=False)
    _fail(session, report, channel, locked)
    return None


def _serialize(session: Session, tip_number: str, report: Report | None) -> None:
    """Decide one check of a tip number at a time, on the report as it is now.

    Parallel guesses must each see the failures counted before them and a lock set meanwhile,
    or all pass as "one of the first five". PostgreSQL: a transaction-level advisory lock on
    the tip number, so checks wait only for each other, never for a job writing the report.
    SQLite has one writer at a time: a no-op UPDATE takes its write lock now rather than at
    the audit entry. Held until the caller commits, taken after the argon2 verification, and
    taken for an unknown number too: the same work on every path.
    """
    if session.get_bind().dialect.name == "postgresql":
        digest = hashlib.sha256(f"followup-check:{tip_number}".encode()).digest()
        session.execute(select(func.pg_advisory_xact_lock(int.from_bytes(digest[:8], "big", signed=True))))
    else:
        session.execute(
            update(Report)
            .where(Report.tip_number == tip_number)
            .values(followup_locked_until=Report.followup_locked_until)
            .execution_options(synchronize_session=False)
        )
    if report is not None:
        session.refresh(report, ["followup_locked_until"])


def _fail(session: Session, report: Report | None, channel: str, locked: bool) -> None:
    """Write down a refused attempt (and a lock at the fifth in 24 hours)."""
    audit.append(
        session,
        "followup.refused",
        target_type="report" if report is not None else None,
        target_id=report.id if report is not None else None,
        detail={"channel": channel, "locked": locked},
        ip=None,  # never the tipster's address
    )
    if report is None:
        return
    events.record(session, report.id, EventKind.CALLBACK_FAILED, channel=channel, locked=locked)
    if locked:
        return
    now = utcnow()
    # Failures before the end of an earlier lock were paid for by that lock.
    since = now - FAILURE_WINDOW
    if report.followup_locked_until is not None and report.followup_locked_until > since:
        since = report.followup_locked_until
    failures = session.scalar(
        select(func.count())
        .select_from(Event)
        .where(
            Event.report_id == report.id,
            Event.kind == EventKind.CALLBACK_FAILED,
            Event.at > since,
        )
    )
    if (failures or 0) >= MAX_FAILURES:
        report.followup_locked_until = now + LOCK_FOR
        until = report.followup_locked_until.isoformat()
        events.record(session, report.id, EventKind.CALLBACK_LOCKED, failures=failures, until=until)
        audit.append(
            session,
            "followup.locked",
            target_type="report",
            target_id=report.id,
            detail={"failures": failures, "until": until},
            ip=None,
        )
