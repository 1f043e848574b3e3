"""The investigators' review app: the report queue, report pages, actions, dispatch, and the
administrators' pages (audit log, accounts, configuration).

Every route needs a signed-in user; every report-bearing route is scoped by
`hotline.review.access` to reports routed to one of the user's agencies.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Flask

# Imported for its side effect: the review tables and the queue's indexes join
# hotline.models.Base.metadata, which the migrations check and the test clean-up walk.
from hotline.review import models as models

bp = Blueprint("review", __name__)

# The view modules register their routes on `bp` when imported, so they come after it.
from hotline.review import access, actions, admin, audio, dispatch, queue, report, tipster, users  # noqa: E402

# Runs after the app's own before_request hooks, so the signed-in user is known.
bp.before_request(access.ids_in_range)

__all__ = [
    "access",
    "actions",
    "admin",
    "audio",
    "bp",
    "dispatch",
    "init_review",
    "queue",
    "report",
    "tipster",
    "users",
]


def init_review(app: Flask) -> None:
    """Register the review blueprint; call after init_auth (it relies on its CSRF and guard)."""
    if "auth" not in app.blueprints:
        # Without sign-in every review route would redirect to a login page that is not there.
        raise RuntimeError("init_review() must run after init_auth()")
    app.register_blueprint(bp)
    app.add_template_filter(_when, "when")
    app.add_template_filter(_duration, "duration")
    app.add_template_filter(_machine_time, "machine_time")


def _when(value: datetime | None) -> str:
    """Times are stored as naive UTC; show them as such, to the minute."""
    return f"{value:%Y-%m-%d %H:%M} UTC" if value is not None else ""


def _machine_time(value: datetime) -> str:
    """A naive UTC time for `<time datetime>`: to the second, as the HTML standard's
    valid global date and time string allows at most three fraction digits."""
    return f"{value:%Y-%m-%dT%H:%M:%S}Z"


def _duration(seconds: Any) -> str:
    """A recording or call length as m:ss."""
    if seconds is None:
        return ""
    total = int(seconds)
    return f"{total // 60}:{total % 60:02d}"
