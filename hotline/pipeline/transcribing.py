"""Transcribing a stored recording offline; the transcript is encrypted like the audio.

The transcribe job (workers.recordings.transcribe_recording) holds the recording's
transcript lock around `transcribe` and then queues the report's finalize.
"""

from __future__ import annotations

from hotline.extensions import db, runtime
from hotline.jobs.locks import Busy, Held
from hotline.models import Recording, Report
from hotline.pipeline.fetching import find_recording
from hotline.pipeline.services import services_of
from hotline.reports import events
from hotline.speech.audio import InvalidAudio
from hotline.states import EventKind, FetchState, TranscriptState
from hotline.storage.base import StorageUnavailable
from hotline.storage.keys import audio_aad, transcript_aad, transcript_key


def transcribe(recording_sid: str, held: Held) -> Recording | None:
    """Transcribe the recording once it is stored; None if it is not (or does not exist)."""
    rec = find_recording(recording_sid)
    if rec is None or rec.fetch_state != FetchState.STORED or rec.blob_key is None:
        return None
    if rec.transcript_state == TranscriptState.NONE:
        _transcribe(rec, rec.blob_key, held)
    return rec


def _untranscribable(rec: Recording, error: str) -> None:
    """A recording that cannot be transcribed is still a report: mark it and go on."""
    rec.transcript_state, rec.last_error = TranscriptState.FAILED, error[:300]
    events.record(
        db.session, rec.report_id, EventKind.TRANSCRIPTION_FAILED, recording_sid=rec.recording_sid, error=error[:200]
    )


def _transcribe(rec: Recording, blob_key: str, held: Held) -> None:
    """Retry by raising; any error counts, so a missing or undecryptable blob ends `failed`."""
    svc = services_of()
    report = db.session.get(Report, rec.report_id)
    language = (report.language if report else None) or "en"
    if rec.transcript_attempts >= runtime.get().settings.pipeline.transcribe_attempts:
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
    except StorageUnavailable as exc:
        # The object store down or misconfigured: not this recording's fault. Uncounted, as
        # for downloads: RQ retries with backoff, then the sweep, until the store is back.
        rec.transcript_attempts -= 1
        rec.last_error = f"{type(exc).__name__}: {exc}"[:300]
        db.session.commit()
        raise
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        if rec.transcript_attempts >= runtime.get().settings.pipeline.transcribe_attempts:
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
