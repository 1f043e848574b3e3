"""Recover recordings whose callbacks were lost: run by the sweep and by `flask reports recover`."""

from __future__ import annotations

import logging
from datetime import timedelta

import requests
from redis.exceptions import RedisError

from hotline.extensions import db, queues, runtime
from hotline.jobs.declarations import FETCH, FINALIZE
from hotline.jobs.locks import Busy, exclusive
from hotline.models import utcnow
from hotline.pipeline.recovery import (
    Recovered,
    adopt_from_twilio,
    complete_overdue,
    end_finished_calls,
    window_start,
)
from hotline.pipeline.services import services_of
from hotline.twilio_api import TwilioError

log = logging.getLogger("workers")


def recover_recordings(force: bool = False, days: int | None = None) -> Recovered:
    """Repair lost recording callbacks, then (every `twilio_reconcile_seconds`, or when
    forced) adopt every recording Twilio holds that the database does not know."""
    cfg = runtime.get().settings.pipeline
    now = utcnow()
    grace = timedelta(seconds=cfg.recording_callback_grace_seconds)
    found = complete_overdue(db.session, now, grace)
    if force or (cfg.twilio_reconcile_seconds and _due("twilio-reconcile", cfg.twilio_reconcile_seconds)):
        try:
            with exclusive("twilio-reconcile"):
                since = window_start(now, days or cfg.twilio_lookback_days)
                found.add(adopt_from_twilio(db.session, runtime.get().lines, services_of().twilio, since, now, grace))
                found.add(end_finished_calls(db.session, services_of().twilio, now, grace))
        except (TwilioError, requests.RequestException, Busy) as exc:
            # Twilio down (or another worker at it): the next pass lists again.
            log.warning("could not list recordings at Twilio: %s", exc)
            if force:
                raise
    if found.changed:
        log.warning(
            "recovered recordings: %d adopted from Twilio, %d with a lost callback", found.adopted, found.completed
        )
    for recording_sid, urgency in found.fetch:
        FETCH.enqueue(FETCH.id(recording_sid), recording_sid, urgency=urgency)
    for report_id in found.finalize:
        FINALIZE.enqueue(FINALIZE.id(report_id, "call"), report_id)
    return found


def _due(name: str, every: int) -> bool:
    """True once per `every` seconds across all workers (a Redis key that expires)."""
    try:
        return bool(queues.redis.set(f"due:{name}", "1", nx=True, ex=every))
    except (RedisError, OSError):
        return False
