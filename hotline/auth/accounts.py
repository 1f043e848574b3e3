"""Account changes shared by `flask users` and the administrators' pages.

These functions check their input and change the User, but neither audit nor commit: the
caller knows who acted (the terminal or a signed-in administrator), writes the audit entry
and commits once. Bad input raises AccountError, whose message is meant for a person.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.auth import totp
from hotline.auth.models import ROLES, User
from hotline.auth.passwords import generate_password, hash_password
from hotline.settings import Settings


class AccountError(ValueError):
    """Input an account cannot be created or changed with; the message says why."""


class OwnAccountError(AccountError):
    """An administrator changing their own access: another administrator must do it."""


OWN_ROLE = "You cannot change your own role. Ask another administrator."
# Agencies decide which reports an account can read: an administrator widening their own
# would reach content (PREA reports, say) without anyone else agreeing to it.
OWN_AGENCIES = "You cannot change your own agencies. Ask another administrator."
OWN_DISABLE = "You cannot disable your own account. Ask another administrator."


@dataclass(frozen=True)
class NewUser:
    """What a freshly created account's owner needs once: never stored in the clear."""

    user: User
    password: str
    secret: str


def normalise_email(email: str) -> str:
    """Return the stored form of an email address: trimmed and lower-cased."""
    return email.strip().lower()


def check_email(email: str) -> str:
    """Return the stored form of an email address, or raise if it is not one."""
    email = normalise_email(email)
    if "@" not in email or len(email) > 254:
        raise AccountError(f"not an email address: {email!r}")
    return email


def check_role(role: str) -> str:
    """Return the role if it is one of ROLES."""
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    return role


def check_agencies(settings: Settings, agencies: Iterable[str]) -> list[str]:
    """Return the agency ids sorted and without repeats, if all are in the configuration."""
    wanted = list(agencies)
    known = {a.id for a in settings.agencies}
    unknown = [a for a in wanted if a not in known]
    if unknown:
        raise AccountError(
            f"unknown agency id(s) {', '.join(unknown)}; the agencies in the configuration are: "
            f"{', '.join(sorted(known))}"
        )
    if not wanted:
        raise AccountError("give at least one --agency")
    return sorted(set(wanted))


def find_user(session: Session, email: str) -> User | None:
    """Return the account with this email (in any case), or None."""
    return session.scalar(select(User).where(User.email == normalise_email(email)))


def create_user(session: Session, settings: Settings, email: str, role: str, agencies: list[str]) -> NewUser:
    """Create an account with a generated password and TOTP secret; the caller commits."""
    email = check_email(email)
    check_role(role)
    chosen = check_agencies(settings, agencies)
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise AccountError(f"a user with email {email} already exists")
    password = generate_password()
    secret = totp.new_secret()
    user = User(
        email=email,
        role=role,
        agencies=chosen,
        password_hash=hash_password(password),
        totp_secret=totp.encrypt_secret(secret, email),
    )
    session.add(user)
    session.flush()
    return NewUser(user, password, secret)


def disable(user: User) -> None:
    """Disable an account and end its sessions."""
    user.disabled = True
    user.session_generation += 1


def enable(user: User) -> None:
    """Let a disabled account sign in again (its old sessions stay void)."""
    user.disabled = False


def reset_password(user: User) -> str:
    """Give the account a new generated password; return the password.

    The caller also clears the account's sign-in throttle (hotline.auth.throttle), in Redis.
    """
    password = generate_password()
    user.password_hash = hash_password(password)
    user.session_generation += 1
    return password


def reset_totp(user: User, settings: Settings) -> str:
    """Give the account a new TOTP secret to enrol at next sign-in; return the secret."""
    secret = totp.new_secret()
    user.totp_secret = totp.encrypt_secret(secret, user.email)
    user.totp_enrolled_at = None
    user.last_totp_step = None
    # Whoever holds the old phone may be signed in: end those sessions too.
    user.session_generation += 1
    return secret


def check_own_change(
    actor: User | None,
    target: User,
    *,
    role: str | None = None,
    agencies: Iterable[str] | None = None,
    disable: bool = False,
) -> None:
    """Refuse an administrator's change to their own role, agencies or enabled state.

    `actor` is who acts: None from the terminal, where whoever holds the server's shell is
    not one of the accounts and may change any of them.
    """
    if actor is None or actor.id != target.id:
        return
    if role is not None and role != target.role:
        raise OwnAccountError(OWN_ROLE)
    if agencies is not None and sorted(set(agencies)) != sorted(target.agencies):
        raise OwnAccountError(OWN_AGENCIES)
    if disable:
        raise OwnAccountError(OWN_DISABLE)


def change_access(user: User, settings: Settings, role: str, agencies: Iterable[str]) -> dict[str, Any]:
    """Set the account's role and agencies; return what changed (empty if nothing did).

    A change ends the account's sessions, so nothing opened under the old rights lives on.
    """
    check_role(role)
    chosen = check_agencies(settings, agencies)
    changes: dict[str, Any] = {}
    if role != user.role:
        changes["role"] = {"from": user.role, "to": role}
    if chosen != sorted(user.agencies):
        changes["agencies"] = {
            "added": sorted(set(chosen) - set(user.agencies)),
            "removed": sorted(set(user.agencies) - set(chosen)),
        }
    if changes:
        user.role = role
        user.agencies = chosen
        user.session_generation += 1
    return changes
