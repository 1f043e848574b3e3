"""Sign-in pages: password, then a TOTP code (or TOTP enrolment on first sign-in), sign-out."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from markupsafe import Markup
from sqlalchemy import or_, select, update
from werkzeug.wrappers import Response

from hotline.auth import audit, throttle, totp
from hotline.auth.forms import CodeForm, LoginForm
from hotline.auth.models import User
from hotline.auth.passwords import hash_password, needs_rehash, verify_password
from hotline.auth.session import current_user, end_session, login_required, now, safe_next, start_session
from hotline.extensions import db, queues
from hotline.models import utcnow

bp = Blueprint("auth", __name__)

# Between a correct password and the code: long enough to open an app, short enough that a
# half-finished sign-in on a shared computer does not linger.
PENDING_SECONDS = 5 * 60
PENDING = "pending"

# One answer for a wrong password, an unknown or disabled address and a throttled attempt
# (same page, same status), so none of them tells an attacker which addresses have accounts.
BAD_CREDENTIALS = (
    "The email or password is incorrect, or there have been too many attempts. Check them and try again in a minute."
)
BAD_CODE = "That code is not correct, or it has already been used. Wait for the next code and try again."
WAIT_CODE = "Too many attempts. Wait a minute, then enter the newest code."
START_AGAIN = "Please sign in again."
UNAVAILABLE = "Sign-in is unavailable for a moment. Please try again in a minute."


def normalise_email(email: str) -> str:
    """Return the stored form of an email address: trimmed and lower-cased."""
    return email.strip().lower()


def _gate(email: str) -> throttle.SignIn:
    """The throttle's decisions for this address from this request's client."""
    return throttle.SignIn(queues.redis, email, request.remote_addr)


def home_url() -> str:
    """Where a signed-in user lands: the report queue."""
    return url_for("review.queue")


@bp.get("/")
def index() -> Response:
    """Send visitors to the queue, or to sign in."""
    if current_user() is None:
        return redirect(url_for("auth.login"))
    return redirect(home_url())


@bp.get("/home")
@login_required
def home() -> str:
    """The signed-in user's account: role and agencies."""
    return render_template("auth/home.html")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str | tuple[str, int]:
    """First factor: email and password."""
    if current_user() is not None:
        return redirect(home_url())
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("auth/login.html", next=next_url, email="")
    form = LoginForm()
    email = normalise_email(form.text("email"))[:254]
    password = form.text("password")
    gate = _gate(email)
    try:
        claim = gate.claim()
    except throttle.Unavailable:
        return _login_page(email, next_url, UNAVAILABLE, 503)
    user = db.session.scalar(select(User).where(User.email == email)) if email else None
    # The address tried helps spot password spraying; only if it looks like one, in case a
    # password was typed into the wrong box.
    tried = email if user is None and "@" in email else None
    if not claim.allowed:
        # Run a hash anyway: a throttled answer takes as long as a checked one.
        verify_password(None, password)
        audit.record(
            "login.throttled",
            user=user,
            detail={"stage": "password", "email": tried, "wait_seconds": claim.wait_seconds},
        )
        db.session.commit()
        return _login_page(email, next_url, BAD_CREDENTIALS, 200)
    # Always run the hash, even without an account, so timing does not reveal accounts.
    password_ok = verify_password(user.password_hash if user else None, password)
    if user is None or user.disabled or not password_ok:
        detail: dict[str, Any] = {"stage": "password"}
        if user is None:
            detail["email"] = tried
        elif user.disabled:
            detail["reason"] = "disabled"
        else:
            detail["attempt"] = claim.failures
        audit.record("login.failed", user=user, detail=detail)
        db.session.commit()
        return _login_page(email, next_url, BAD_CREDENTIALS, 200)
    gate.password_right(claim)
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    # A fresh session from here on: nothing an attacker planted before sign-in survives.
    session.clear()
    session[PENDING] = {"uid": user.id, "gen": user.session_generation, "at": now(), "next": next_url}
    db.session.commit()
    if user.totp_enrolled_at is None:
        return redirect(url_for("auth.enrol"))
    return redirect(url_for("auth.login_totp"))


def _login_page(email: str, next_url: str | None, error: str, status: int) -> tuple[str, int]:
    return render_template("auth/login.html", next=next_url, email=email, error=error), status


def _pending_user() -> User | None:
    """The user who gave the right password in this browser a moment ago, if still valid."""
    pending = session.get(PENDING)
    if not isinstance(pending, dict) or now() - float(pending.get("at", 0)) > PENDING_SECONDS:
        return None
    user = db.session.get(User, pending.get("uid"))
    if user is None or user.disabled or user.session_generation != pending.get("gen"):
        return None
    return user


def _restart(message: str = START_AGAIN) -> Response:
    session.pop(PENDING, None)
    flash(message, "error")
    return redirect(url_for("auth.login"))


def _secret(user: User) -> str:
    return totp.decrypt_secret(user.totp_secret, user.email)


def _accept_code(user: User, code: str) -> bool:
    """Check a code and mark its time step spent, so the same code never works twice."""
    step = totp.matching_step(_secret(user), code, user.last_totp_step)
    if step is None:
        return False
    # Conditional on the stored step, so two requests racing with one code cannot both win.
    claimed = db.session.execute(
        update(User)
        .where(User.id == user.id, or_(User.last_totp_step.is_(None), User.last_totp_step < step))
        .values(last_totp_step=step)
    )
    return getattr(claimed, "rowcount", 0) == 1


def _finish(user: User, claim: throttle.Claim) -> Response:
    """Second factor passed: start the real session."""
    pending = session.get(PENDING) or {}
    target = safe_next(pending.get("next")) or home_url()
    _gate(user.email).completed(claim)
    start_session(user)
    audit.record("login.success", user=user)
    db.session.commit()
    return redirect(target)


def _code_step(user: User, template: str, context: dict[str, Any]) -> Response | str | tuple[str, int]:
    """Shared POST handling of a TOTP code for sign-in and enrolment."""
    if request.method == "GET":
        return render_template(template, **context)
    try:
        claim = _gate(user.email).claim()
    except throttle.Unavailable:
        return render_template(template, error=UNAVAILABLE, **context), 503
    if not claim.allowed:
        # The password was right, so saying "wait" here tells nobody anything new.
        audit.record("login.throttled", user=user, detail={"stage": "totp", "wait_seconds": claim.wait_seconds})
        db.session.commit()
        return render_template(template, error=WAIT_CODE, **context), 200
    if _accept_code(user, CodeForm().text("code")):
        if user.totp_enrolled_at is None:
            user.totp_enrolled_at = utcnow()
            audit.record("totp.enrolled", user=user)
        return _finish(user, claim)
    audit.record("login.failed", user=user, detail={"stage": "totp", "attempt": claim.failures})
    db.session.commit()
    return render_template(template, error=BAD_CODE, **context), 200


@bp.route("/login/totp", methods=["GET", "POST"])
def login_totp() -> Response | str | tuple[str, int]:
    """Second factor: the 6-digit code from the authenticator app."""
    user = _pending_user()
    if user is None:
        return _restart()
    if user.totp_enrolled_at is None:
        return redirect(url_for("auth.enrol"))
    return _code_step(user, "auth/totp.html", {})


@bp.route("/enrol", methods=["GET", "POST"])
def enrol() -> Response | str | tuple[str, int]:
    """First sign-in: show the TOTP secret as a QR code; a valid code completes enrolment."""
    user = _pending_user()
    if user is None:
        return _restart()
    if user.totp_enrolled_at is not None:
        return redirect(url_for("auth.login_totp"))
    secret = _secret(user)
    uri = totp.provisioning_uri(secret, user.email)
    # segno builds the SVG from the URI alone (no user-supplied markup), so it is safe as is.
    qr = Markup(totp.qr_svg(uri))  # noqa: S704
    grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    return _code_step(user, "auth/enrol.html", {"qr": qr, "secret": grouped})


@bp.post("/logout")
def logout() -> Response:
    """Sign out: end this session and void every other cookie of this account."""
    user = current_user()
    if user is not None:
        user.session_generation += 1
        audit.record("logout", user=user)
        db.session.commit()
    end_session()
    flash("You have signed out.", "info")
    return redirect(url_for("auth.login"))
