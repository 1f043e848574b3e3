"""Operational alerts for administrators: once per outage, never once per recording.

Why here and this way: the people who can fix a Twilio outage or a rotated auth token are
the administrators, not the agencies' contacts. Each alert is an error in the log (what
monitoring watches), one e-mail to every active administrator when e-mail notices are on,
and a `system_alerts` row, which is what makes it once per outage across sweeps, workers
and restarts. The text names no report, caller or agency: only how long and how many.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from hotline.auth.models import User
from hotline.extensions import db, runtime
from hotline.models import Recording, SystemAlert, utcnow
from hotline.pipeline.notify import Notice
from hotline.pipeline.services import services_of
from hotline.reports.service import SETTLED

log = logging.getLogger("workers")  # the sweep's logger: it raises and clears these alerts

TWILIO_FETCH = "twilio_fetch"


def alert_fetch_outage() -> SystemAlert | None:
    """Raise the alert when downloads have failed longer than the threshold; clear it after."""
    now = utcnow()
    oldest, waiting = db.session.execute(
        select(func.min(Recording.failing_since), func.count(Recording.id)).where(
            Recording.failing_since.is_not(None), Recording.fetch_state.not_in(SETTLED)
        )
    ).one()
    current = db.session.scalar(
        select(SystemAlert).where(SystemAlert.kind == TWILIO_FETCH, SystemAlert.resolved_at.is_(None)).limit(1)
    )
    if oldest is None:
        if current is not None:
            current.resolved_at = now
            db.session.commit()
            log.warning("recording downloads from Twilio work again (alert %s resolved)", current.id)
        return None
    if current is not None or now - oldest < timedelta(minutes=runtime.get().settings.pipeline.fetch_alert_minutes):
        return None
    last_error = db.session.scalar(
        select(Recording.last_error)
        .where(Recording.failing_since.is_not(None), Recording.fetch_state.not_in(SETTLED))
        .order_by(Recording.updated_at.desc())
        .limit(1)
    )
    alert = SystemAlert(
        kind=TWILIO_FETCH,
        started_at=oldest,
        raised_at=now,
        detail={"recordings": waiting, "last_error": (last_error or "")[:200]},
    )
    try:
        db.session.add(alert)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # another worker's sweep raised this very alert
        return None
    text = (
        f"Recording downloads from Twilio have failed since {oldest:%Y-%m-%d %H:%M} UTC; "
        f"{waiting} recording(s) waiting. They stay at Twilio and are retried (up to an hour "
        "apart); their reports are routed marked 'audio still being fetched'. Check Twilio's "
        f"status and TWILIO_AUTH_TOKEN. Last error: {(last_error or '')[:200]}"
    )
    log.error("ALERT %s", text)
    _email_admins(text)
    return alert


def _email_admins(text: str) -> None:
    channel = services_of().channels.get("email")
    if channel is None:
        return
    notice = Notice("", "alert", "hotline", runtime.get().settings.public_url, text_override=text)
    for email in db.session.scalars(select(User.email).where(User.role == "admin", User.disabled.is_(False))):
        try:
            channel.send(email, notice)
        except Exception as exc:  # noqa: BLE001 - the log line above already carries the alert
            log.warning("could not e-mail the outage alert to an administrator: %s", exc)
