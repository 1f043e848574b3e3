"""The states a report, a call, a recording and a notification go through, as types.

StrEnum members are their strings: the columns stay String (no migration), rows written
before these types existed read back as equal values, and a member compares equal to its
text, so `report.status == "closed"` and `ReportStatus.CLOSED` mean the same thing.
"""

from __future__ import annotations

from enum import StrEnum


class ReportStatus(StrEnum):
    """A report's review state; "in_call" until the caller hangs up."""

    IN_CALL = "in_call"
    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    INVESTIGATING = "investigating"
    REFERRED = "referred"
    CLOSED = "closed"


# Settled: nobody is waiting on an agency any more, so no acknowledgement deadline runs.
SETTLED_STATUSES: tuple[ReportStatus, ...] = (ReportStatus.CLOSED, ReportStatus.REFERRED)


class Disposition(StrEnum):
    """How a closed report ended."""

    FOUNDED = "founded"
    UNFOUNDED = "unfounded"
    PRANK = "prank"
    DUPLICATE = "duplicate"
    REFERRED_ELSEWHERE = "referred_elsewhere"


class Urgency(StrEnum):
    """How fast a report needs a human; `rank` orders them (never the text's alphabet)."""

    CRITICAL = "critical"
    HIGH = "high"
    NORMAL = "normal"

    @property
    def rank(self) -> int:
        """Higher is more urgent: critical 2, high 1, normal 0."""
        return URGENCY_RANK[self]

    @classmethod
    def most_urgent_first(cls) -> tuple[Urgency, ...]:
        return tuple(sorted(cls, key=lambda u: u.rank, reverse=True))


URGENCY_RANK: dict[str, int] = {Urgency.NORMAL: 0, Urgency.HIGH: 1, Urgency.CRITICAL: 2}


# The queue orders reports with the (urgency, created_at, id) index, one index scan that stops
# once a page is full. That is rank order only because the stored texts sort most urgent
# first; a new level whose text broke this would silently misorder the queue, so the module
# refuses to load instead (and a test says so).
URGENCY_TEXT_SORTS_BY_RANK = sorted(Urgency, key=str) == list(Urgency.most_urgent_first())
if not URGENCY_TEXT_SORTS_BY_RANK:  # pragma: no cover - a guard on future edits
    raise RuntimeError("urgency values must sort alphabetically from most to least urgent")


def rank_of(urgency: str) -> int:
    """The rank of a stored urgency; an unknown value ranks lowest, like "normal"."""
    return URGENCY_RANK.get(urgency, 0)


class CallStatus(StrEnum):
    """Twilio's CallStatus values a call row holds."""

    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    BUSY = "busy"
    FAILED = "failed"
    NO_ANSWER = "no-answer"
    CANCELED = "canceled"


TERMINAL_CALL_STATUSES: frozenset[str] = frozenset(
    {CallStatus.COMPLETED, CallStatus.BUSY, CallStatus.FAILED, CallStatus.NO_ANSWER, CallStatus.CANCELED}
)


class RecordingStatus(StrEnum):
    """Twilio's RecordingStatus values."""

    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    ABSENT = "absent"
    FAILED = "failed"


class FetchState(StrEnum):
    """A recording's download: waiting -> pending -> stored; dead or refused when given up."""

    WAITING = "waiting"
    PENDING = "pending"
    QUEUED = "queued"
    STORED = "stored"
    DEAD = "dead"
    REFUSED = "refused"


# A download that has ended, one way or the other: nothing more is fetched.
SETTLED_FETCH: frozenset[str] = frozenset({FetchState.STORED, FetchState.DEAD, FetchState.REFUSED})


class TranscriptState(StrEnum):
    """A recording's transcription: none -> done | failed | unsupported."""

    NONE = "none"
    DONE = "done"
    FAILED = "failed"
    UNSUPPORTED = "unsupported"


class NotificationStatus(StrEnum):
    """A notice to one contact (see hotline.models.Notification)."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    REJECTED = "rejected"
    UNKNOWN = "unknown"


class EventKind(StrEnum):
    """The kinds of line on a report's timeline (hotline.reports.events records them)."""

    # The call, from the flow engine's effects and the voice webhooks.
    CALL_STARTED = "call_started"
    CALL_ENDED = "call_ended"
    KEYPAD = "keypad"
    DEFAULT_CHOICE = "default_choice"
    SKIPPED = "skipped"
    PIN_SET = "pin_set"
    ANSWER_RECORDED = "answer_recorded"
    DISPATCHER_REQUESTED = "dispatcher_requested"
    TRANSFER_COMPLETED = "transfer_completed"
    TRANSFER_FAILED = "transfer_failed"
    TRANSFER_RETRIED = "transfer_retried"
    TRANSFER_PICKED_UP = "transfer_picked_up"
    TRANSFER_ANSWERED = "transfer_answered"
    ON_CALL_ALERTED = "on_call_alerted"
    SALVAGED_CALL = "salvaged_call"
    RECOVERED_CALL = "recovered_call"
    CALL_END_RECOVERED = "call_end_recovered"
    # Recordings and transcripts.
    RECORDING_COMPLETED = "recording_completed"
    RECORDING_ABSENT = "recording_absent"
    RECORDING_FAILED = "recording_failed"
    RECORDING_RECOVERED = "recording_recovered"
    RECORDING_CALLBACK_MISSED = "recording_callback_missed"
    RECORDING_STORED = "recording_stored"
    RECORDING_DEAD = "recording_dead"
    RECORDING_REFUSED = "recording_refused"
    RECORDING_DELETED_AT_TWILIO = "recording_deleted_at_twilio"
    RECORDING_SHREDDED = "recording_shredded"
    RECORDING_DOWNLOADED = "recording_downloaded"
    TRANSCRIBED = "transcribed"
    TRANSCRIPTION_FAILED = "transcription_failed"
    TRANSCRIPTION_UNSUPPORTED = "transcription_unsupported"
    # Classification, routing and notification.
    CLASSIFIED = "classified"
    RECLASSIFIED = "reclassified"
    ROUTED = "routed"
    ROUTED_AWAITING_AUDIO = "routed_awaiting_audio"
    NOTIFIED = "notified"
    ESCALATED = "escalated"
    ACKNOWLEDGED = "acknowledged"
    # Review.
    ASSIGNED = "assigned"
    STATUS_CHANGED = "status_changed"
    NOTE_ADDED = "note_added"
    CALL_NOTE_ADDED = "call_note_added"
    LINKED = "linked"
    LEGAL_HOLD_PLACED = "legal_hold_placed"
    LEGAL_HOLD_LIFTED = "legal_hold_lifted"
    # Two-way follow-up with the anonymous tipster (hotline.followup).
    CALLED_BACK = "called_back"
    CALLBACK_FAILED = "callback_failed"
    CALLBACK_LOCKED = "callback_locked"
    # A caller keyed a tip number that opened nothing; what they say makes a new tip.
    CALLBACK_UNMATCHED = "callback_unmatched"
    MESSAGES_HEARD = "messages_heard"
    INFORMATION_ADDED = "information_added"
    MESSAGE_WRITTEN = "message_written"
    MESSAGES_READ = "messages_read"
    TIPSTER_REPLIED = "tipster_replied"
    WEB_TIP_RECEIVED = "web_tip_received"
    ATTACHMENT_ADDED = "attachment_added"
    ATTACHMENT_DOWNLOADED = "attachment_downloaded"
    NEW_INFORMATION_NOTIFIED = "new_information_notified"
    TIPSTER_TEXT_SHREDDED = "tipster_text_shredded"


def recording_event(status: str) -> EventKind:
    """The event of a recording's status (from Twilio) or of its giving up (dead, refused)."""
    return EventKind(f"recording_{status}")


class Channel(StrEnum):
    """How a report reached the hotline."""

    PHONE = "phone"
    WEB = "web"


class MessageDirection(StrEnum):
    """Which way a message between investigators and the anonymous tipster went."""

    TO_TIPSTER = "to_tipster"
    FROM_TIPSTER = "from_tipster"
