"""Recording jobs."""

from __future__ import annotations


def fetch_recording(recording_sid: str) -> None:
    """Fetch, encrypt and store a recording (the pipeline arrives with the next issue)."""
    raise NotImplementedError(f"fetch-{recording_sid}: the recording pipeline is not built yet")
