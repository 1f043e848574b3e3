"""Read a stored transcript: decrypted into memory only, never written anywhere."""

from __future__ import annotations

import logging

from hotline.crypto.envelope import DecryptionError
from hotline.extensions import runtime
from hotline.models import Recording
from hotline.pipeline.services import services_for
from hotline.storage.base import BlobNotFound
from hotline.storage.keys import transcript_aad

log = logging.getLogger(__name__)


def read_transcript(rec: Recording) -> str | None:
    """The recording's transcript, or None if there is none or it cannot be read (logged)."""
    if rec.transcript_key is None or rec.shredded_at is not None:
        return None
    store = services_for(runtime.get().settings).store
    try:
        return store.get_decrypted(rec.transcript_key, transcript_aad(rec)).decode("utf-8", "replace")
    except (BlobNotFound, DecryptionError) as exc:
        # Logged without content: only which object failed and how.
        log.error("transcript %s unreadable: %s", rec.recording_sid, type(exc).__name__)
        return None
