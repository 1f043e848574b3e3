"""Where a recording's audio and transcript are stored, and what their encryption is bound to.

The associated data (AAD) names the recording: an object copied or moved under another
recording's key fails to decrypt instead of being served as that recording. The jobs that
write these objects and the pages and exports that read them use these functions, so the
names are written once.
"""

from __future__ import annotations

from typing import Protocol


class StoredRecording(Protocol):
    """What naming needs of a recording (a `hotline.models.Recording` row has it)."""

    @property
    def report_id(self) -> int: ...

    @property
    def recording_sid(self) -> str: ...


def audio_key(rec: StoredRecording) -> str:
    return f"recordings/{rec.report_id}/{rec.recording_sid}.wav"


def audio_aad(rec: StoredRecording) -> bytes:
    return f"recording:{rec.recording_sid}".encode()


def transcript_key(rec: StoredRecording) -> str:
    return f"transcripts/{rec.report_id}/{rec.recording_sid}.txt"


def transcript_aad(rec: StoredRecording) -> bytes:
    return f"transcript:{rec.recording_sid}".encode()


class StoredAttachment(Protocol):
    """What naming needs of a web tipster's attachment (a `hotline.models.Attachment` row)."""

    @property
    def id(self) -> int: ...

    @property
    def report_id(self) -> int: ...


def attachment_key(att: StoredAttachment) -> str:
    return f"attachments/{att.report_id}/{att.id}.bin"


def attachment_aad(att: StoredAttachment) -> bytes:
    return f"attachment:{att.report_id}:{att.id}".encode()
