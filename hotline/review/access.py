"""Who may see which report: only reports routed to one of the user's agencies.

Every view that takes a report id goes through `report_or_404`, so there is one place where
scoping is decided. Roles never widen it: an admin sees content only through the agencies
on their account, like everyone else. PREA reports are only ever assigned to the PREA unit
and the outside agency (routing refuses anything else), so the same rule keeps them there.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NoReturn, ParamSpec, TypeVar

from flask import abort, request
from sqlalchemy import Select, exists, select
from werkzeug.wrappers import Response

from hotline.auth import audit, login_required
from hotline.auth.models import User
from hotline.auth.session import current_user
from hotline.extensions import db
from hotline.models import Assignment, Report

P = ParamSpec("P")
R = TypeVar("R")

ADMINS = frozenset({"admin"})
# The largest id the tables hold: ids are INTEGER, 32-bit on PostgreSQL. A bigger number in a
# URL names nothing, and handed to the database it fails (SQLite: OverflowError) as a 500.
MAX_ID = 2**31 - 1
# What each id in a review URL names, for the audit entry of a miss.
_ID_TARGETS = {"report_id": "report", "note_id": "note", "call_id": "call", "user_id": "user"}


def signed_in() -> User:
    """The signed-in user of a view already guarded by login_required."""
    user = current_user()
    if user is None:  # only reachable if a view forgot its guard: fail closed
        abort(404)
    return user


def visible_clause(user: User) -> Any:
    """A WHERE clause true for reports routed to one of the user's agencies."""
    # EXISTS rather than a join: a report routed to two of the user's agencies is one row.
    return exists().where(Assignment.report_id == Report.id, Assignment.agency_id.in_(list(user.agencies)))


def visible_reports(user: User) -> Select[Report]:
    """SELECT of the reports the user may see."""
    return select(Report).where(visible_clause(user))


def can_see(user: User, report_id: int) -> bool:
    """Tell whether a report id is one the user may see (false for ids that do not exist)."""
    if not user.agencies:
        return False
    found = db.session.scalar(
        select(Assignment.id)
        .where(Assignment.report_id == report_id, Assignment.agency_id.in_(list(user.agencies)))
        .limit(1)
    )
    return found is not None


def deny(user: User, target_type: str, target_id: str | int, reason: str) -> NoReturn:
    """Audit a refused access and answer 404, the same as for something that does not exist.

    The audit entry is committed on its own before the 404: the refusal is what matters,
    and nothing else has been changed in this request.
    """
    db.session.rollback()
    audit.record(
        "report.denied",
        user=user,
        target_type=target_type,
        # The column holds 128 characters; a made-up id in a URL (a recording sid) may be longer.
        target_id=str(target_id)[:128],
        detail={"path": request.path, "method": request.method, "reason": reason},
    )
    db.session.commit()
    abort(404)


def report_or_404(report_id: int, *, target_type: str = "report", target_id: str | int | None = None) -> Report:
    """Load a report the signed-in user may see, or audit the attempt and 404."""
    user = signed_in()
    report = db.session.get(Report, report_id)
    if report is None:
        deny(user, target_type, target_id if target_id is not None else report_id, "missing")
    if not can_see(user, report_id):
        deny(user, target_type, target_id if target_id is not None else report_id, "not_assigned")
    return report


def user_agencies_of(user: User, report_id: int) -> list[str]:
    """The user's agencies this report was routed to (the ones they act for)."""
    return list(
        db.session.scalars(
            select(Assignment.agency_id)
            .where(Assignment.report_id == report_id, Assignment.agency_id.in_(list(user.agencies)))
            .order_by(Assignment.agency_id)
        )
    )


def admin_only(view: Callable[P, R]) -> Callable[P, R | Response]:
    """Guard a view: sign-in first, then anyone but an administrator gets an audited 404."""

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        user = signed_in()
        if user.role not in ADMINS:
            # A 404 rather than a 403: a reviewer learns nothing about what lives here.
            deny(user, "admin_page", request.endpoint or request.path, "not_admin")
        return view(*args, **kwargs)

    return login_required(wrapper)


def ids_in_range() -> None:
    """Before a review view: an id too large for the database is a miss, audited and 404.

    Only for a signed-in user: anyone else is sent to sign in by the view's guard, before
    any id reaches the database.
    """
    user = current_user()
    if user is None or not request.view_args:
        return
    for name, value in request.view_args.items():
        if isinstance(value, int) and not 0 <= value <= MAX_ID:
            # The column holds 128 characters; the full path is in the entry's detail.
            deny(user, _ID_TARGETS.get(name, name), str(value)[:64], "missing")
