"""Fetching a recording: download from Twilio, check, encrypt, store, verify, then delete
Twilio's copy; transient Twilio failures wait with a backoff, permanent ones dead-letter.

The fetch job (workers.recordings.fetch_recording) holds the recording's lock around `fetch`
and queues what comes next with `queue_next` once the lock is released.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select

from hotline.extensions import db, runtime
from hotline.jobs.declarations import FINALIZE, TRANSCRIBE
from hotline.jobs.locks import Busy, Held
from hotline.models import Recording, Report, utcnow
from hotline.pipeline.services import services_of
from hotline.reports import events
from hotline.reports.service import SETTLED, urgency_of
from hotline.speech.audio import check_wav
from hotline.states import EventKind, FetchState, TranscriptState, recording_event
from hotline.storage.base import StorageUnavailable
from hotline.storage.keys import audio_aad, audio_key
from hotline.twilio_api import ForbiddenUrl, TwilioError

log = logging.getLogger("workers")  # the jobs' logger, like hotline.jobs.locks: one name in the worker's log

# Gaps between tries while Twilio is unreachable: doubling from a minute, at most an hour.
BACKOFF_FIRST, BACKOFF_MAX = timedelta(minutes=1), timedelta(hours=1)


def find_recording(recording_sid: str) -> Recording | None:
    return db.session.scalar(select(Recording).where(Recording.recording_sid == recording_sid))


def fetch(recording_sid: str, held: Held) -> Recording | None:
    """Store the recording unless it has settled, then delete it at Twilio if due.

    Called with the recording's fetch lock held, taken before the row is read: a second
    run sees what the first one stored, never stores it again, and never deletes the
    Twilio copy mid-write. None if there is no such recording.
    """
    rec = find_recording(recording_sid)
    if rec is None:
        log.warning("fetch %s: no such recording row", recording_sid)
        return None
    if rec.fetch_state not in SETTLED:
        _fetch_and_store(rec, held)
    if (
        rec.fetch_state == FetchState.STORED
        and not rec.deleted_from_twilio
        and runtime.get().settings.pipeline.delete_from_twilio
    ):
        _delete_at_twilio(rec)
    return rec


def queue_next(rec: Recording) -> None:
    """After a fetch: transcribe what was stored, or let the report decide without it."""
    if rec.fetch_state != FetchState.STORED:
        FINALIZE.enqueue(FINALIZE.id(rec.report_id, rec.recording_sid), rec.report_id)
    elif rec.transcript_state == TranscriptState.NONE:
        # Not when the sweep re-runs this job only to retry the delete at Twilio.
        TRANSCRIBE.enqueue(
            TRANSCRIBE.id(rec.recording_sid), rec.recording_sid, urgency=urgency_of(db.session, rec.report_id)
        )


def _delete_at_twilio(rec: Recording) -> None:
    """Delete Twilio's copy; on failure the sweep runs this job again until it goes."""
    try:
        services_of().twilio.delete_recording(rec.media_url or "")
    except TwilioError as exc:
        log.warning("could not delete %s at Twilio yet: %s", rec.recording_sid, exc)
        return
    rec.deleted_from_twilio = True
    events.record(db.session, rec.report_id, EventKind.RECORDING_DELETED_AT_TWILIO, recording_sid=rec.recording_sid)
    db.session.commit()


def _give_up(rec: Recording, state: FetchState, error: str) -> None:
    """Dead-letter (or refuse) a recording: an admin sees it; the report goes on without it."""
    rec.fetch_state, rec.last_error = state, error[:300]
    events.record(
        db.session, rec.report_id, recording_event(state), recording_sid=rec.recording_sid, error=rec.last_error
    )
    db.session.commit()


def _transient(rec: Recording, exc: TwilioError) -> bool:
    """Whether a Twilio failure may clear by itself (or by an admin's fix), so is not counted.

    Network errors, timeouts, 5xx and 429 are. A 404 is, while the call is still going (the
    media may not be there yet); after the call ended it means the recording is gone. A
    401/403 is permanent only if Twilio accepts our credentials elsewhere (the Account
    resource): then it is this recording Twilio refuses. If it refuses the credentials too,
    the auth token is wrong or was rotated: a misconfiguration that must not dead-letter
    every recording made meanwhile; they wait, and the outage alert tells an admin.
    """
    if exc.retryable:
        return True
    if exc.status == 404:
        report = db.session.get(Report, rec.report_id)
        return report is not None and report.call_ended_at is None
    if exc.status in (401, 403):
        try:
            return not services_of().twilio.credentials_accepted()
        except TwilioError:
            return True  # Twilio unreachable for the check as well
    return False


def _retry_later(rec: Recording, error: str) -> None:
    """Record a transient failure: uncounted, next try after a growing, capped backoff."""
    now = utcnow()
    rec.attempts -= 1  # counted before the try (so a crash counts); this one does not
    rec.transient_failures += 1
    rec.failing_since = rec.failing_since or now
    gap = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** min(rec.transient_failures - 1, 16))
    rec.next_fetch_at = now + gap
    rec.fetch_state, rec.last_error = "retrying", error[:300]
    db.session.commit()
    # The report need not wait for Twilio: finalize decides whether to route it now.
    FINALIZE.enqueue(FINALIZE.id(rec.report_id, rec.recording_sid), rec.report_id)


def _fetch_and_store(rec: Recording, held: Held) -> None:
    """Download, check, encrypt, store and verify; retry by raising, dead-letter at the limit."""
    svc = services_of()
    if not rec.media_url:
        _give_up(rec, FetchState.DEAD, "no RecordingUrl was ever received")
        return
    if rec.attempts >= runtime.get().settings.pipeline.fetch_attempts:
        # Each counted attempt is committed before it starts, and one that fails ends here
        # below; so these began and never ended: their worker died (killed, out of memory).
        # Another run would die the same way and hold the report for ever.
        _give_up(rec, FetchState.DEAD, f"{rec.attempts} attempts never finished: the worker died each time")
        return
    rec.attempts += 1
    db.session.commit()
    key = audio_key(rec)
    try:
        audio = svc.twilio.fetch_recording(rec.media_url)
        check_wav(audio, max_seconds=runtime.get().settings.pipeline.max_recording_seconds)
        held.check()  # a twin may be writing this object now: leave it to that run
        digest = svc.store.put_and_verify(key, audio, audio_aad(rec))
    except Busy:
        raise  # not this recording's fault: not counted towards dead-lettering
    except ForbiddenUrl as exc:
        # A forged or misrouted callback: never fetch, never retry.
        _give_up(rec, FetchState.REFUSED, str(exc))
        return
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, StorageUnavailable) or (isinstance(exc, TwilioError) and _transient(rec, exc)):
            # Twilio or the object store down or erring: the audio is kept for days at Twilio,
            # so retried for days, uncounted
            # (from the first failure, so that `reports retry` gives a dead one a new window).
            if utcnow() - (rec.failing_since or utcnow()) > timedelta(
                days=runtime.get().settings.pipeline.fetch_retry_days
            ):
                _give_up(
                    rec,
                    FetchState.DEAD,
                    f"still failing after {runtime.get().settings.pipeline.fetch_retry_days} days: {error}",
                )
                return
            _retry_later(rec, error)
            raise  # RQ retries with backoff; after that the sweep, at next_fetch_at
        # A permanent answer (404 after the call, 401/403 with working credentials), a bad
        # WAV, the disk, a failed verification: counted, so a fault that never clears ends
        # dead-lettered (visible, retryable) instead of retried for ever.
        if rec.attempts >= runtime.get().settings.pipeline.fetch_attempts:
            _give_up(rec, FetchState.DEAD, error)
            return
        rec.fetch_state, rec.last_error = "retrying", error[:300]
        db.session.commit()
        raise  # RQ retries with backoff
    rec.blob_key, rec.sha256, rec.stored_at = key, digest, utcnow()
    rec.fetch_state, rec.last_error = FetchState.STORED, None
    rec.failing_since = rec.next_fetch_at = None
    events.record(
        db.session, rec.report_id, EventKind.RECORDING_STORED, recording_sid=rec.recording_sid, bytes=len(audio)
    )
    db.session.commit()
