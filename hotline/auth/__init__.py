"""Reviewers' sign-in: accounts, password + TOTP, sessions, CSRF, security headers, audit log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Response, g, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect  # type: ignore[import-untyped]

# Imported for its side effect too: the tables join hotline.models.Base.metadata, which the
# migrations check and the test clean-up walk.
from hotline.auth import models as models
from hotline.auth.cli import audit_group, create_demo_users, users_group
from hotline.auth.session import current_user, load_user, login_required
from hotline.auth.views import bp

__all__ = ["bp", "create_demo_users", "csrf", "current_user", "init_auth", "login_required"]

csrf = CSRFProtect()

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


def init_auth(app: Flask) -> None:
    """Wire sign-in into the app; call after the voice blueprint is registered."""
    from hotline.extensions import runtime

    settings = runtime.get(app).settings
    https = settings.public_url.startswith("https://")
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=https,
        # Browsers drop the cookie when they close; the idle and absolute limits are
        # enforced on the server from timestamps inside the signed cookie.
        SESSION_PERMANENT=False,
        # Referrer-Policy: no-referrer means browsers send no Referer, which Flask-WTF's
        # strict HTTPS check demands; the session-bound token and SameSite do that job.
        WTF_CSRF_SSL_STRICT=False,
    )
    voice = app.blueprints.get("voice")
    if voice is None:
        # Registering CSRF first would make every Twilio webhook fail with 400.
        raise RuntimeError("init_auth() must run after the voice blueprint is registered")
    csrf.init_app(app)
    # Twilio cannot send a CSRF token; its webhooks prove themselves by signature instead.
    csrf.exempt(voice)

    app.register_blueprint(bp)
    app.before_request(load_user)
    app.after_request(_security_headers(https))
    app.context_processor(_template_context)
    app.register_error_handler(CSRFError, _csrf_error)
    app.cli.add_command(users_group)
    app.cli.add_command(audit_group)


def _template_context() -> dict[str, Any]:
    return {"current_user": current_user()}


def _csrf_error(exc: CSRFError) -> tuple[str, int]:
    """A missing or stale form token: say so plainly instead of a bare 400."""
    message = "This form has expired or was not sent from this site. Go back, reload the page and try again."
    return render_template("auth/error.html", title="Form expired", message=message), 400


def _security_headers(https: bool) -> Callable[[Response], Response]:
    """Build the after-request hook adding browser protections to every non-Twilio response."""

    def add_headers(response: Response) -> Response:
        if request.blueprint == "voice":
            return response
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "no-referrer")
        headers.setdefault("X-Frame-Options", "DENY")
        if https:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        # Pages shown to a signed-in user (or on the way to signing in) must not be kept by
        # the browser or a proxy, where the next person at the computer could read them.
        if g.get("user") is not None or request.blueprint == "auth":
            headers["Cache-Control"] = "no-store"
        return response

    return add_headers
