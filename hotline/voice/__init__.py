"""Twilio's webhooks: POST only, every request signed, no login, no CSRF."""

from hotline.extensions import db, runtime
from hotline.voice.views import bp


@bp.before_request
def _bound_database_time() -> None:
    """Twilio waits 15 s: a slow or locked database must leave time for the error answer."""
    db.start_deadline(runtime.get().settings.voice.db_budget_seconds)


@bp.teardown_request
def _end_database_deadline(_exc: BaseException | None) -> None:
    db.end_deadline()


__all__ = ["bp"]
