"""Recording jobs: fetch from Twilio, encrypt, store, verify, delete from Twilio, transcribe."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from hotline.extensions import db
from hotline.jobs.declarations import FETCH, FINALIZE, TRANSCRIBE
from hotline.models import Recording, Report, utcnow
from hotline.reports import events
from hotline.reports.service import SETTLED, urgency_of
from hotline.speech.audio import InvalidAudio, check_wav
from hotline.states import EventKind, FetchState, TranscriptState, recording_event
from hotline.storage.keys import audio_aad, audio_key, transcript_aad, transcript_key
from hotline.twilio_api import ForbiddenUrl, TwilioError
from workers.common import Busy, Held, exclusive, job, log, services, settings

# Gaps between tries while Twilio is unreachable: doubling from a minute, at most an hour.
BACKOFF_FIRST, BACKOFF_MAX = timedelta(minutes=1), timedelta(hours=1)


def _recording(recording_sid: str) -> Recording | None:
    return db.session.scalar(select(Recording).where(Recording.recording_sid == recording_sid))


def _urgency(rec: Recording) -> str:
    return urgency_of(db.session, rec.report_id)


@job
def fetch_recording(recording_sid: str) -> str:
    """Download, encrypt, store and verify one recording; then delete it at Twilio."""
    # Held across the whole job and taken before the row is read: a second run sees what the
    # first one stored, never stores it again, and never deletes the Twilio copy mid-write.
    with exclusive(FETCH.id(recording_sid)) as held:
        rec = _recording(recording_sid)
        if rec is None:
            log.warning("fetch %s: no such recording row", recording_sid)
            return "missing"
        if rec.fetch_state not in SETTLED:
            _fetch_and_store(rec, held)
        if (
            rec.fetch_state == FetchState.STORED
            and not rec.deleted_from_twilio
            and settings().pipeline.delete_from_twilio
        ):
            _delete_at_twilio(rec)
    if rec.fetch_state != FetchState.STORED:
        FINALIZE.enqueue(FINALIZE.id(rec.report_id, recording_sid), rec.report_id)
    elif rec.transcript_state == TranscriptState.NONE:
        # Not when the sweep re-runs this job only to retry the delete at Twilio.
        TRANSCRIBE.enqueue(TRANSCRIBE.id(recording_sid), recording_sid, urgency=_urgency(rec))
    return rec.fetch_state


def _delete_at_twilio(rec: Recording) -> None:
    """Delete Twilio's copy; on failure the sweep runs this job again until it goes."""
    try:
        services().twilio.delete_recording(rec.media_url or "")
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
            return not services().twilio.credentials_accepted()
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
    # The report need not wait for Twilio: finalize_report decides whether to route it now.
    FINALIZE.enqueue(FINALIZE.id(rec.report_id, rec.recording_sid), rec.report_id)


def _fetch_and_store(rec: Recording, held: Held) -> None:
    """Download, check, encrypt, store and verify; retry by raising, dead-letter at the limit."""
    svc = services()
    if not rec.media_url:
        _give_up(rec, FetchState.DEAD, "no RecordingUrl was ever received")
        return
    if rec.attempts >= settings().pipeline.fetch_attempts:
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
        check_wav(audio, max_seconds=settings().pipeline.max_recording_seconds)
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
        if isinstance(exc, TwilioError) and _transient(rec, exc):
            # Twilio down or erring: kept for days at Twilio, so retried for days, uncounted
            # (from the first failure, so that `reports retry` gives a dead one a new window).
            if utcnow() - (rec.failing_since or utcnow()) > timedelta(days=settings().pipeline.fetch_retry_days):
                _give_up(
                    rec, FetchState.DEAD, f"still failing after {settings().pipeline.fetch_retry_days} days: {error}"
                )
                return
            _retry_later(rec, error)
            raise  # RQ retries with backoff; after that the sweep, at next_fetch_at
        # A permanent answer (404 after the call, 401/403 with working credentials), a bad
        # WAV, the disk, a failed verification: counted, so a fault that never clears ends
        # dead-lettered (visible, retryable) instead of retried for ever.
        if rec.attempts >= settings().pipeline.fetch_attempts:
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


@job
def transcribe_recording(recording_sid: str) -> str:
    """Transcribe a stored recording offline; the transcript is encrypted like the audio."""
    with exclusive(TRANSCRIBE.id(recording_sid)) as held:  # the transcript is two objects, like the audio
        rec = _recording(recording_sid)
        if rec is None or rec.fetch_state != FetchState.STORED or rec.blob_key is None:
            return "not-stored"
        if rec.transcript_state == TranscriptState.NONE:
            _transcribe(rec, rec.blob_key, held)
    FINALIZE.enqueue(FINALIZE.id(rec.report_id, recording_sid), rec.report_id)
    return rec.transcript_state


def _untranscribable(rec: Recording, error: str) -> None:
    """A recording that cannot be transcribed is still a report: mark it and go on."""
    rec.transcript_state, rec.last_error = TranscriptState.FAILED, error[:300]
    events.record(
        db.session, rec.report_id, EventKind.TRANSCRIPTION_FAILED, recording_sid=rec.recording_sid, error=error[:200]
    )


def _transcribe(rec: Recording, blob_key: str, held: Held) -> None:
    """Retry by raising; any error counts, so a missing or undecryptable blob ends `failed`."""
    svc = services()
    report = db.session.get(Report, rec.report_id)
    language = (report.language if report else None) or "en"
    if rec.transcript_attempts >= settings().pipeline.transcribe_attempts:
        # As for downloads: these attempts began and never ended (the worker died decoding).
        _untranscribable(rec, f"{rec.transcript_attempts} attempts never finished: the worker died each time")
        db.session.commit()
        return
    rec.transcript_attempts += 1
    db.session.commit()
    try:
        audio = svc.store.get_decrypted(blob_key, audio_aad(rec))
        transcript = svc.transcriber.transcribe(audio, language=language)
        key = transcript_key(rec)
        held.check()  # decoding takes long: a twin may have taken over meanwhile
        if not transcript.unsupported_language:
            svc.store.put_and_verify(key, transcript.text.encode(), transcript_aad(rec))
    except Busy:
        raise
    except InvalidAudio as exc:
        _untranscribable(rec, f"InvalidAudio: {exc}")  # the same audio fails the same way
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        if rec.transcript_attempts >= settings().pipeline.transcribe_attempts:
            _untranscribable(rec, error)
        else:
            rec.last_error = error[:300]
            db.session.commit()
            raise  # RQ retries with backoff; after that the sweep
    else:
        if transcript.unsupported_language:
            rec.transcript_state = TranscriptState.UNSUPPORTED
            events.record(
                db.session,
                rec.report_id,
                EventKind.TRANSCRIPTION_UNSUPPORTED,
                recording_sid=rec.recording_sid,
                language=language,
            )
        else:
            rec.transcript_key, rec.transcript_state = key, TranscriptState.DONE
            # The event says that it happened, never what was said.
            events.record(
                db.session,
                rec.report_id,
                EventKind.TRANSCRIBED,
                recording_sid=rec.recording_sid,
                words=len(transcript.words),
                seconds=round(transcript.audio_seconds, 1),
            )
    db.session.commit()
