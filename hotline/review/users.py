"""Administrators' pages: reviewers' accounts, and a read-only view of agencies and hotlines.

Accounts change through hotline.auth.accounts, the code `flask users` runs too, so the terminal
and the web apply the same rules. Every change is audited with the administrator as the actor.
Anyone else gets a 404 for every page here, audited like any other refused access.

An administrator reaches only the accounts whose agencies all lie within their own, and gives
only agencies they hold (hotline.auth.reach decides); an account out of reach is not listed
and answers 404 like one that does not exist, audited.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import flash, make_response, redirect, render_template, session, url_for
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from hotline.auth import accounts, audit, reach, throttle, totp
from hotline.auth.accounts import AccountError, OwnAccountError
from hotline.auth.models import ROLES, User
from hotline.auth.session import GENERATION
from hotline.extensions import db, queues, runtime
from hotline.models import utcnow
from hotline.review import bp
from hotline.review.access import admin_only, deny, signed_in
from hotline.review.forms import AccountCreateForm, AccountEditForm, sentence
from hotline.review.report import agency_names
from hotline.settings import Agency, Contact
from hotline.states import Urgency


def _no_store(body: str, status: int = 200) -> Response:
    """Answer with a page no browser or proxy may keep: it shows a password or secret once."""
    response = make_response(body, status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _audit(action: str, admin: User, target: User, **detail: Any) -> None:
    """Audit an account change by an administrator: who, on whose account, what changed."""
    audit.record(action, user=admin, target_type="user", target_id=target.id, detail={"email": target.email, **detail})


def _keep_own_session(admin: User, target: User) -> None:
    """Keep the administrator's current session valid after they changed their own account.

    The generation bump is meant to end the account's other sessions; this one is the
    administrator making the change and stays signed in.
    """
    if admin.id == target.id:
        session[GENERATION] = target.session_generation


def _target(user_id: int) -> User:
    """The account with this id if the signed-in administrator manages it; else an audited 404."""
    admin = signed_in()
    target = db.session.get(User, user_id)
    if target is None:
        deny(admin, "user", user_id, "missing")
    if not reach.manages(admin, target):
        deny(admin, "user", user_id, "out_of_reach")
    return target


def _refuse_grant(admin: User, target: User | None, exc: reach.OutOfReach, email: str) -> None:
    """Audit an attempt to give agencies the administrator does not hold (the caller answers)."""
    db.session.rollback()
    audit.record(
        "user.denied",
        user=admin,
        target_type="user",
        target_id=target.id if target else None,
        detail={"email": email, "agencies": exc.agencies, "reason": "agency_out_of_reach"},
    )
    db.session.commit()


def _agency_choices() -> list[Agency]:
    """The agencies the signed-in administrator may tick on the forms."""
    settings = runtime.get().settings
    allowed = set(reach.grantable(signed_in(), settings))
    return [a for a in settings.agencies if a.id in allowed]


def _back(target: User, message: str, category: str = "info") -> Response:
    flash(message, category)
    return redirect(url_for("review.user_page", user_id=target.id))


def _users_page(form: AccountCreateForm, status: int = 200) -> tuple[str, int]:
    """The list and the create form; the form's errors, if any, tied to their fields."""
    users = reach.managed_users(db.session, signed_in())
    html = render_template(
        "review/users.html",
        users=users,
        form=form,
        error=form.first_error(),
        roles=ROLES,
        agencies=_agency_choices(),
        names=agency_names(),
        now=utcnow(),
    )
    return html, status


def _failures(target: User) -> throttle.Failures | None:
    """The account's remembered failed sign-ins, or None if Redis cannot say right now."""
    return throttle.failures_of(queues.redis, target.email)


def _user_page(target: User, form: AccountEditForm, status: int = 200) -> tuple[str, int]:
    html = render_template(
        "review/user.html",
        target=target,
        form=form,
        error=form.first_error(),
        roles=ROLES,
        agencies=_agency_choices(),
        names=agency_names(),
        now=utcnow(),
        is_self=target.id == signed_in().id,
        throttled=_failures(target),
    )
    return html, status


@bp.get("/admin/users")
@admin_only
def users() -> tuple[str, int]:
    """List the accounts this administrator manages, with the form to create one."""
    return _users_page(AccountCreateForm(role="investigator"))


@bp.post("/admin/users")
@admin_only
def create_user() -> Response | tuple[str, int]:
    """Create an account; show its generated password and TOTP secret this once."""
    admin = signed_in()
    form = AccountCreateForm()
    email, role, agencies = form.text("email"), form.text("role"), form.values("agencies")
    if not form.has_agencies():
        return _users_page(form, 400)
    try:
        reach.check_grant(admin, runtime.get().settings, agencies)
    except reach.OutOfReach as exc:
        _refuse_grant(admin, None, exc, email)
        form.refuse("agencies", str(exc))
        return _users_page(form, 403)
    if not form.validate():
        return _users_page(form, 400)
    try:
        new = accounts.create_user(db.session, runtime.get().settings, email, role, agencies)
    except AccountError as exc:
        # The fields are checked above: what is left is an address already taken.
        db.session.rollback()
        form.refuse("email", sentence(exc))
        return _users_page(form, 400)
    except IntegrityError:
        # The same address created elsewhere between the check and the insert.
        db.session.rollback()
        form.refuse("email", f"A user with email {accounts.normalise_email(email)} already exists.")
        return _users_page(form, 400)
    user = new.user
    audit.record(
        "user.created",
        user=admin,
        target_type="user",
        target_id=user.id,
        detail={"email": user.email, "role": user.role, "agencies": user.agencies},
    )
    db.session.commit()
    # Rendered in the POST's own response, never put in the session or a flash message:
    # the cookie is signed, not encrypted, and would carry the password around.
    html = render_template(
        "review/user_created.html",
        target=user,
        names=agency_names(),
        password=new.password,
        secret=new.secret,
        uri=totp.provisioning_uri(new.secret, user.email),
    )
    return _no_store(html)


@bp.get("/admin/users/<int:user_id>")
@admin_only
def user_page(user_id: int) -> tuple[str, int]:
    """Show one account: its state, its role and agencies, and what can be done to it."""
    target = _target(user_id)
    return _user_page(target, AccountEditForm(role=target.role, agencies=list(target.agencies)))


@bp.post("/admin/users/<int:user_id>")
@admin_only
def update_user(user_id: int) -> Response | tuple[str, int]:
    """Change an account's role and agencies; its sessions end, so old rights do not linger."""
    admin = signed_in()
    target = _target(user_id)
    form = AccountEditForm()
    role, agencies = form.text("role"), form.values("agencies")
    try:
        accounts.check_own_change(admin, target, role=role, agencies=agencies)
    except OwnAccountError as exc:
        # The role is checked first: if it changed, that is what was refused.
        form.refuse("role" if role != target.role else "agencies", str(exc))
        return _user_page(target, form, 400)
    if not form.has_agencies():
        return _user_page(target, form, 400)
    try:
        reach.check_grant(admin, runtime.get().settings, agencies)
    except reach.OutOfReach as exc:
        _refuse_grant(admin, target, exc, target.email)
        form.refuse("agencies", str(exc))
        return _user_page(target, form, 403)
    if not form.validate():
        return _user_page(target, form, 400)
    try:
        changes = accounts.change_access(target, runtime.get().settings, role, agencies)
    except AccountError as exc:
        db.session.rollback()
        form.refuse("role", sentence(exc))
        return _user_page(target, form, 400)
    if not changes:
        return _back(target, "Nothing changed.")
    _audit("user.updated", admin, target, **changes)
    _keep_own_session(admin, target)
    db.session.commit()
    return _back(target, f"Saved {target.email}; their sessions have ended and they sign in again.")


@bp.post("/admin/users/<int:user_id>/disable")
@admin_only
def disable_user(user_id: int) -> Response:
    """Disable an account and end its sessions."""
    admin = signed_in()
    target = _target(user_id)
    try:
        accounts.check_own_change(admin, target, disable=True)
    except OwnAccountError as exc:
        return _back(target, str(exc), "error")
    if target.disabled:
        return _back(target, "This account is already disabled.")
    accounts.disable(target)
    _audit("user.disabled", admin, target)
    db.session.commit()
    return _back(target, f"Disabled {target.email}; their sessions have ended.")


@bp.post("/admin/users/<int:user_id>/enable")
@admin_only
def enable_user(user_id: int) -> Response:
    """Let a disabled account sign in again."""
    admin = signed_in()
    target = _target(user_id)
    if not target.disabled:
        return _back(target, "This account is not disabled.")
    accounts.enable(target)
    _audit("user.enabled", admin, target)
    db.session.commit()
    return _back(target, f"Enabled {target.email}; they can sign in again.")


@bp.post("/admin/users/<int:user_id>/reset-password")
@admin_only
def reset_password(user_id: int) -> Response:
    """Give an account a new generated password, shown this once; clears failed sign-ins."""
    admin = signed_in()
    target = _target(user_id)
    password = accounts.reset_password(target)
    _audit("user.password_reset", admin, target)
    _keep_own_session(admin, target)
    db.session.commit()
    throttle.clear_after_reset(queues.redis, target.email)
    return _no_store(render_template("review/user_password.html", target=target, password=password))


@bp.post("/admin/users/<int:user_id>/reset-totp")
@admin_only
def reset_totp(user_id: int) -> Response:
    """Give an account a new TOTP secret (lost phone); they enrol it at their next sign-in."""
    admin = signed_in()
    target = _target(user_id)
    # The new secret is not shown here: the enrolment page shows it to the user after their
    # password, so it need not pass through the administrator at all.
    accounts.reset_totp(target, runtime.get().settings)
    _audit("user.totp_reset", admin, target)
    _keep_own_session(admin, target)
    db.session.commit()
    return _back(target, f"Reset the authenticator of {target.email}; they set up a new one at their next sign-in.")


@bp.post("/admin/users/<int:user_id>/unlock")
@admin_only
def unlock_user(user_id: int) -> Response:
    """Forget an account's failed sign-in attempts, from every client, and so their delays."""
    admin = signed_in()
    target = _target(user_id)
    cleared = throttle.Throttle(queues.redis).clear(target.email)
    if not cleared:
        return _back(target, "This account has no failed sign-in attempts.")
    _audit("user.unlocked", admin, target, failed_attempts=cleared)
    db.session.commit()
    return _back(target, f"Unlocked {target.email}.")


def contact_channels(contact: Contact) -> list[str]:
    """Describe how a contact is reached; a webhook by its host alone, as its URL may hold a token."""
    channels = []
    if contact.email:
        channels.append(f"email {contact.email}")
    if contact.sms:
        channels.append(f"SMS {contact.sms}")
    if contact.webhook:
        channels.append(f"webhook to {urlsplit(contact.webhook).hostname or 'a URL'}")
    return channels


def wait_text(seconds: int) -> str:
    """Describe a deadline in the largest whole unit that fits: "5 min", "1 h", "1 day"."""
    for size, unit in ((86400, "day"), (3600, "h"), (60, "min")):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if unit == 'day' and count != 1 else ''}"
    return f"{seconds} s"


@bp.get("/admin/agencies")
@admin_only
def agencies() -> str:
    """Show the configured agencies, hotlines and routing rules, read-only."""
    settings = runtime.get().settings
    deadlines = {u: wait_text(getattr(settings.escalation, u)) for u in Urgency.most_urgent_first()}
    return render_template(
        "review/agencies.html",
        settings=settings,
        names=agency_names(),
        channels=contact_channels,
        deadlines=deadlines,
    )
