"""Who is signed in: the session cookie's contents, idle timeout, and the login_required guard."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable
from typing import ParamSpec, TypeVar, overload
from urllib.parse import urlsplit

from flask import abort, flash, g, redirect, request, session, url_for
from werkzeug.wrappers import Response

from hotline.auth.models import User
from hotline.extensions import db

P = ParamSpec("P")
R = TypeVar("R")

IDLE_TIMEOUT_SECONDS = 30 * 60
# Even an active session ends after a working day, so a forgotten browser does not stay in.
ABSOLUTE_TIMEOUT_SECONDS = 12 * 60 * 60
EXPIRED_MESSAGE = "Your session expired after 30 minutes without activity. Please sign in again."

# Keys in the signed cookie. Only ids and timestamps: nothing secret, it is readable.
UID = "uid"
GENERATION = "gen"
LAST_SEEN = "seen"
SIGNED_IN_AT = "since"


def now() -> float:
    """Return the current Unix time (a function so tests can move the clock)."""
    return time.time()


def current_user() -> User | None:
    """Return the signed-in user of this request, or None."""
    user: User | None = g.get("user")
    return user


def start_session(user: User) -> None:
    """Sign a user in: a fresh session, so nothing from before sign-in carries over."""
    session.clear()
    t = now()
    session[UID] = user.id
    session[GENERATION] = user.session_generation
    session[LAST_SEEN] = t
    session[SIGNED_IN_AT] = t
    g.user = user


def end_session() -> None:
    """Forget everything in this browser's session."""
    session.clear()
    g.user = None


def load_user() -> None:
    """Before each request: resolve the session to a user, enforcing timeouts and revocation."""
    g.user = None
    # Twilio's webhooks and static files never carry a reviewer's session: skip the query.
    if request.blueprint == "voice" or request.endpoint == "static":
        return
    uid = session.get(UID)
    if uid is None:
        return
    t = now()
    seen = float(session.get(LAST_SEEN, 0))
    since = float(session.get(SIGNED_IN_AT, 0))
    if t - seen > IDLE_TIMEOUT_SECONDS or t - since > ABSOLUTE_TIMEOUT_SECONDS:
        session.clear()
        flash(EXPIRED_MESSAGE, "info")
        return
    user = db.session.get(User, uid)
    # A sign-out elsewhere, a disable or a TOTP reset bumps the generation: this cookie is void.
    if user is None or user.disabled or user.session_generation != session.get(GENERATION):
        session.clear()
        return
    session[LAST_SEEN] = t
    g.user = user


@overload
def login_required(roles: Callable[P, R]) -> Callable[P, R | Response]: ...


@overload
def login_required(roles: Iterable[str] | None = None) -> Callable[[Callable[P, R]], Callable[P, R | Response]]: ...


def login_required(
    roles: Iterable[str] | Callable[P, R] | None = None,
) -> Callable[P, R | Response] | Callable[[Callable[P, R]], Callable[P, R | Response]]:
    """Guard a view: anonymous users go to /login, users without one of `roles` get 403.

    Use as `@login_required`, `@login_required()` or `@login_required(roles={"admin"})`.
    """
    if callable(roles):
        return _guard(roles, None)
    allowed = frozenset(roles) if roles is not None else None

    def decorator(view: Callable[P, R]) -> Callable[P, R | Response]:
        return _guard(view, allowed)

    return decorator


def _guard(view: Callable[P, R], allowed: frozenset[str] | None) -> Callable[P, R | Response]:
    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | Response:
        user = current_user()
        if user is None:
            # Only a GET can be replayed after sign-in; a POST's form would be lost anyway.
            target = request.full_path.rstrip("?") if request.method == "GET" else None
            return redirect(url_for("auth.login", next=target))
        if allowed is not None and user.role not in allowed:
            abort(403)
        return view(*args, **kwargs)

    return wrapper


def safe_next(target: str | None) -> str | None:
    """Accept only a local path as the place to return to, never another site."""
    if not target or len(target) > 2000:
        return None
    # Browsers drop tabs and newlines from a Location and read "\" as "/", so "/\t/evil" or
    # "/\\evil" would become "//evil", another site: refuse anything but plain characters.
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in target) or "\\" in target:
        return None
    parts = urlsplit(target)
    if not target.startswith("/") or target.startswith("//") or parts.scheme or parts.netloc:
        return None
    return target
