"""The app's own pages for 403, 404 and 500: the site's layout, plain words, no stack trace.

Twilio's webhooks keep their own handler (`hotline.voice.views.voice_error`): a caller must
never be answered with an HTML page. Blueprint handlers win over these for errors raised in
their views; an unrouted URL under the voice prefix has no blueprint, so it is answered in
plain text here too.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, render_template, request
from werkzeug.exceptions import HTTPException

from hotline.extensions import db

log = logging.getLogger(__name__)

VOICE_PREFIX = "/voice/"

# Title and explanation of each status; nothing about the request is echoed back.
PAGES: dict[int, tuple[str, str]] = {
    403: ("Not allowed", "Your account is not allowed to open this page. If you need it, ask an administrator."),
    404: ("Page not found", "There is no page at this address, or it is not one you can see."),
    500: (
        "Something went wrong",
        "The server could not finish this request. Nothing you did caused it; it has been logged. "
        "Try again in a moment.",
    ),
}


def init_errors(app: Flask) -> None:
    """Register the error pages on the app (after the voice blueprint's own handler)."""
    for code in PAGES:
        app.register_error_handler(code, error_page)
    # Any other HTTP error (405 for a webhook fetched with GET, say) keeps Werkzeug's answer,
    # except under the voice prefix, where it must not be an HTML page either.
    app.register_error_handler(HTTPException, other_error)


def _roll_back() -> None:
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - the database may be what failed; the page falls back
        log.warning("rollback before the error page failed")


def other_error(exc: HTTPException) -> Response | HTTPException:
    """An HTTP error without a page of its own: plain text under /voice/, else as it was."""
    if not request.path.startswith(VOICE_PREFIX):
        return exc
    response = exc.get_response()  # keeps its headers (a 405's Allow)
    response.set_data(exc.name)
    response.mimetype = "text/plain"
    return Response(response.get_data(), status=response.status_code, headers=response.headers)


def error_page(exc: HTTPException) -> Response:
    """Render the page for the error's status, with that status."""
    code = exc.code or 500
    title, message = PAGES.get(code, PAGES[500])
    if request.path.startswith(VOICE_PREFIX):
        return Response(title, status=code, mimetype="text/plain")
    if code >= 500:
        # The fault may have left the session's transaction failed; the layout reads the
        # signed-in user through it, so start afresh rather than fall back to bare text.
        _roll_back()
    try:
        body = render_template("errors/error.html", title=title, message=message, code=code)
    except Exception:  # the failure may be in what the layout needs
        log.exception("rendering the %s page failed", code)
        return Response(f"{title}. {message}", status=code, mimetype="text/plain")
    return Response(body, status=code, mimetype="text/html")
