"""Which accounts and audit entries an administrator may manage and read.

An account's agencies decide which reports it reads, so whoever can create an account, reset
its password or TOTP, or give it an agency, can read what that agency reads. An
administrator therefore manages only accounts whose agencies all lie within their own, and
grants only agencies they hold themselves. An exclusive agency (one a hotline routes to
alone: the PREA unit, the outside agency) is named in the refusal, since only an
administrator of that agency may grant it.

The terminal (`flask users ...`) is the superuser path for bootstrapping and does not go
through here.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, String, and_, cast, false, or_, select
from sqlalchemy.orm import Session

from hotline.auth.models import AuditEntry, User
from hotline.models import Assignment
from hotline.settings import Settings


class OutOfReach(ValueError):
    """Agencies an administrator asked to grant but does not hold; the message says which."""

    def __init__(self, message: str, agencies: list[str]) -> None:
        super().__init__(message)
        self.agencies = agencies


def exclusive_agencies(settings: Settings) -> frozenset[str]:
    """Agencies some hotline routes to exclusively (PREA unit, outside agency)."""
    return frozenset(a for h in settings.hotlines for a in h.exclusive_agencies)


def within(admin: User, agencies: Iterable[str]) -> bool:
    """Tell whether every one of these agencies is one of the administrator's own."""
    return set(agencies) <= set(admin.agencies)


def manages(admin: User, target: User) -> bool:
    """Tell whether the administrator may see and change this account."""
    return within(admin, target.agencies)


def check_grant(admin: User, settings: Settings, agencies: Iterable[str]) -> None:
    """Raise OutOfReach if the administrator may not give an account these agencies."""
    names = {a.id: a.name for a in settings.agencies}
    # Ids that are not agencies at all are for accounts.check_agencies to name.
    outside = sorted(a for a in set(agencies) - set(admin.agencies) if a in names)
    if not outside:
        return
    exclusive = [a for a in outside if a in exclusive_agencies(settings)]
    if exclusive:
        listed = ", ".join(names.get(a, a) for a in exclusive)
        raise OutOfReach(f"Only an administrator of {listed} can give access to it.", outside)
    listed = ", ".join(names.get(a, a) for a in outside)
    raise OutOfReach(f"You can only give agencies you administer yourself, not {listed}.", outside)


def grantable(admin: User, settings: Settings) -> list[str]:
    """The agency ids the administrator may give, in configuration order."""
    return [a.id for a in settings.agencies if a.id in admin.agencies]


def managed_users(session: Session, admin: User) -> list[User]:
    """The accounts the administrator manages, by email."""
    # Agencies are a JSON list, compared in Python: the accounts table is small.
    return [u for u in session.scalars(select(User).order_by(User.email)) if manages(admin, u)]


def audit_clause(session: Session, admin: User) -> ColumnElement[bool]:
    """A WHERE clause for the audit entries the administrator may read.

    Those by accounts they manage (their own included), those about such accounts, those
    about reports routed to one of their agencies, and those of nobody about nothing (a
    failed sign-in with an unknown address, a terminal export): every administrator watches
    for password spraying. Not, say, the PREA unit's activity for a school district's.
    """
    if not admin.agencies:
        return false()
    ids = [u.id for u in managed_users(session, admin)]
    reports = select(cast(Assignment.report_id, String)).where(Assignment.agency_id.in_(list(admin.agencies)))
    return or_(
        AuditEntry.user_id.in_(ids),
        and_(AuditEntry.user_id.is_(None), AuditEntry.target_type.is_(None)),
        and_(AuditEntry.target_type == "user", AuditEntry.target_id.in_([str(i) for i in ids])),
        and_(AuditEntry.target_type == "report", AuditEntry.target_id.in_(reports)),
    )
