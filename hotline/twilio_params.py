"""Reading the values Twilio posts to the webhooks, which arrive as form strings."""

from __future__ import annotations


def whole_number(value: str | None) -> int | None:
    """A whole-number parameter (CallDuration, RecordingDuration), or None if absent or not a number.

    Twilio's callbacks are retried and sometimes partial: a malformed value is recorded as
    unknown rather than failing the webhook that carries it.
    """
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
