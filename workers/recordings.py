"""Recording jobs: fetch one recording (hotline.pipeline.fetching), transcribe it
(hotline.pipeline.transcribing). Each holds its lock for the whole run, then queues what follows."""

from __future__ import annotations

from hotline.jobs.declarations import FETCH, FINALIZE, TRANSCRIBE
from hotline.jobs.locks import exclusive
from hotline.pipeline import fetching, transcribing
from workers.common import job


@job
def fetch_recording(recording_sid: str) -> str:
    """Download, encrypt, store and verify one recording; then delete it at Twilio."""
    with exclusive(FETCH.id(recording_sid)) as held:
        rec = fetching.fetch(recording_sid, held)
    if rec is None:
        return "missing"
    fetching.queue_next(rec)
    return rec.fetch_state


@job
def transcribe_recording(recording_sid: str) -> str:
    """Transcribe a stored recording offline; the transcript is encrypted like the audio."""
    with exclusive(TRANSCRIBE.id(recording_sid)) as held:  # the transcript is two objects, like the audio
        rec = transcribing.transcribe(recording_sid, held)
    if rec is None:
        return "not-stored"
    FINALIZE.enqueue(FINALIZE.id(rec.report_id, recording_sid), rec.report_id)
    return rec.transcript_state
