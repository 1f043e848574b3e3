"""Database tables (SQLAlchemy 2.0 typed ORM)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from hotline.crypto.columns import SealedJSON, SealedPending, SealedText
from hotline.states import (
    CallStatus,
    Channel,
    FetchState,
    NotificationStatus,
    RecordingStatus,
    ReportStatus,
    TranscriptState,
    Urgency,
)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[str]: JSON}


class Report(Base):
    """One tip: everything a caller left in one call. Never holds caller identity."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    hotline_id: Mapped[str] = mapped_column(String(64), index=True)
    tip_number: Mapped[str] = mapped_column(String(16), unique=True)
    pin_hash: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # Stored as their text (hotline.states): a String column, compared with the enums' members.
    status: Mapped[str] = mapped_column(String(32), default=ReportStatus.IN_CALL.value)
    urgency: Mapped[str] = mapped_column(String(16), default=Urgency.NORMAL.value)
    categories: Mapped[list[str]] = mapped_column(default=list)
    language: Mapped[str | None] = mapped_column(String(8))
    # Sealed: keypad answers include inmate numbers (hotline.crypto.columns).
    keypad: Mapped[dict[str, Any]] = mapped_column(SealedJSON("reports", "keypad"), default=dict)
    call_ended_at: Mapped[datetime | None]
    routed_at: Mapped[datetime | None]
    legal_hold: Mapped[bool] = mapped_column(default=False)
    # When its recordings and transcripts may be destroyed: created_at plus its hotline's
    # retention when it was made (hotline/retention.py). None: by the hotline's current one.
    retain_until: Mapped[datetime | None] = mapped_column(index=True)
    # Review state: who in the agency is working it (their email), and how it was closed.
    assignee: Mapped[str | None] = mapped_column(String(254))
    disposition: Mapped[str | None] = mapped_column(String(32))
    closed_at: Mapped[datetime | None]
    # "phone" or "web" (hotline.states.Channel).
    channel: Mapped[str] = mapped_column(String(8), default=Channel.PHONE.value)
    # A web tip's written answers, question key -> text (a call's are recordings). Sealed; None on calls.
    written: Mapped[dict[str, Any] | None] = mapped_column(SealedJSON("reports", "written"))
    # Follow-up by tip number and PIN is refused until then (five wrong PINs in 24 hours).
    followup_locked_until: Mapped[datetime | None]
    # When the tipster last added information (a call back, a web reply): the queue sorts on it.
    tipster_added_at: Mapped[datetime | None]

    recordings: Mapped[list[Recording]] = relationship(back_populates="report", order_by="Recording.id", lazy="raise")
    events: Mapped[list[Event]] = relationship(order_by="Event.id", lazy="raise")

    @property
    def reference(self) -> str:
        """The reference staff use, e.g. R-2026-00042."""
        return f"R-{self.created_at:%Y}-{self.id:05d}"


class Call(Base):
    """Live state of a call between webhooks, keyed by Twilio's CallSid."""

    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), unique=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    hotline_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32), default=CallStatus.IN_PROGRESS.value)
    step: Mapped[str] = mapped_column(String(64))
    turn: Mapped[int] = mapped_column(default=0)
    language: Mapped[str | None] = mapped_column(String(8))
    retries: Mapped[int] = mapped_column(default=0)
    mode: Mapped[str] = mapped_column(String(16), default="")
    phase: Mapped[str] = mapped_column(String(16), default="")
    return_step: Mapped[str | None] = mapped_column(String(64))
    # A digit entry awaiting confirmation, or a PIN's hash awaiting re-entry; cleared after.
    # Digits are sealed, like the answer they become (an inmate number, say).
    pending: Mapped[str] = mapped_column(SealedPending("calls", "pending"), default="")
    flags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The TwiML last sent: a retried request gets exactly the same answer again. Sealed:
    # a confirmation step reads the caller's digits back. Deferred: only a retried request
    # reads it, so the other turns do not pay for its decryption.
    last_response: Mapped[str | None] = mapped_column(SealedText("calls", "last_response"), deferred=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    duration: Mapped[int | None]

    report: Mapped[Report] = relationship(lazy="joined", innerjoin=True)


class Recording(Base):
    """One recorded answer to one question."""

    __tablename__ = "recordings"

    id: Mapped[int] = mapped_column(primary_key=True)
    recording_sid: Mapped[str] = mapped_column(String(64), unique=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    question: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=RecordingStatus.IN_PROGRESS.value)
    duration: Mapped[int | None]
    media_url: Mapped[str | None] = mapped_column(String(500))
    error_code: Mapped[str | None] = mapped_column(String(16))
    # Pipeline progress: waiting -> pending -> queued -> stored; dead after repeated failures.
    fetch_state: Mapped[str] = mapped_column(String(16), default=FetchState.WAITING.value, index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(300))
    blob_key: Mapped[str | None] = mapped_column(String(200))
    sha256: Mapped[str | None] = mapped_column(String(64))
    stored_at: Mapped[datetime | None]
    deleted_from_twilio: Mapped[bool] = mapped_column(default=False)
    # Twilio unreachable or erring (network, 5xx, 429): retried with growing backoff for
    # `pipeline.fetch_retry_days`, not counted in `attempts`. `failing_since` starts the
    # outage clock (report page, admin alert); the sweep re-queues at `next_fetch_at`.
    transient_failures: Mapped[int] = mapped_column(default=0)
    failing_since: Mapped[datetime | None]
    next_fetch_at: Mapped[datetime | None]
    # none -> done | failed | unsupported; the text itself is encrypted in the blob store.
    transcript_state: Mapped[str] = mapped_column(String(16), default=TranscriptState.NONE.value)
    transcript_key: Mapped[str | None] = mapped_column(String(200))
    # Kept apart from `attempts` (downloads), which `reports dead` shows to admins.
    transcript_attempts: Mapped[int] = mapped_column(default=0)
    # When this transcript was taken into the report's classification: a transcript done
    # after routing (a late recording) has none yet, and re-classifies the report.
    classified_at: Mapped[datetime | None]
    shredded_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    report: Mapped[Report] = relationship(back_populates="recordings", lazy="raise")


class Event(Base):
    """A line on a report's timeline."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_report_at", "report_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(48))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Assignment(Base):
    """A report routed to one agency; escalates until someone there acknowledges it."""

    __tablename__ = "assignments"
    __table_args__ = (UniqueConstraint("report_id", "agency_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    agency_id: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    # 0 = first notice; each escalation moves one contact down the agency's chain.
    level: Mapped[int] = mapped_column(default=0)
    due_at: Mapped[datetime] = mapped_column(index=True)
    # Each time the tipster adds information the agency is told again, as of a new report:
    # a new round of notices (0 = the report itself), acknowledgement and escalation.
    round: Mapped[int] = mapped_column(default=0)
    # Set when the tipster added information this agency has not acknowledged yet.
    tipster_news_at: Mapped[datetime | None]


class Notification(Base):
    """One content-free message to one contact; unique so a retried job sends it once."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("assignment_id", "round", "level", "channel", "target", name="uq_notifications_once"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"), index=True)
    # The assignment's round it belongs to (Assignment.round).
    round: Mapped[int] = mapped_column(default=0)
    level: Mapped[int]
    channel: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(300))
    # pending | sent | failed (retried by the sweep) | rejected (permanent, e.g. Twilio 21211:
    # never retried) | unknown (an SMS whose POST may have reached Twilio: looked up before
    # any resend, see hotline.pipeline.delivery).
    status: Mapped[str] = mapped_column(String(16), default=NotificationStatus.PENDING.value)
    error: Mapped[str | None] = mapped_column(String(300))
    # Twilio's error code (e.g. "21211") when it refused the SMS; its message is in `error`.
    error_code: Mapped[str | None] = mapped_column(String(16))
    # The SMS's MessageSid: a notice that has one is never sent again.
    message_sid: Mapped[str | None] = mapped_column(String(64))
    # When the last send began: an "unknown" notice is looked up at Twilio after this.
    attempted_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class SystemAlert(Base):
    """An operational problem administrators were told about, once per occurrence.

    One row per outage (e.g. kind "twilio_fetch", started_at = when the oldest failing
    download began failing); `resolved_at` is set when it clears. The unique key keeps two
    sweeps running at once from raising the same alert twice.
    """

    __tablename__ = "system_alerts"
    __table_args__ = (UniqueConstraint("kind", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime]
    raised_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class TipsterMessage(Base):
    """A message between investigators and the anonymous tipster, either way. Body sealed.

    To the tipster: written in the review app in a language of the flow, read by <Say> on a
    call back (`heard_at`) or shown at /tip/check (`read_at`). From the tipster: a reply
    typed at /tip/check. Only times are kept about the tipster, nothing that identifies them.
    """

    __tablename__ = "tipster_messages"
    __table_args__ = (Index("ix_tipster_messages_report", "report_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"))
    direction: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(8))
    body: Mapped[str] = mapped_column(SealedText("tipster_messages", "body"))
    # The investigator who wrote it, and for which of the report's agencies; None from the tipster.
    author_email: Mapped[str | None] = mapped_column(String(254))
    agency_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    heard_at: Mapped[datetime | None]
    read_at: Mapped[datetime | None]


class Attachment(Base):
    """A file the tipster attached on the web: an image (re-encoded, metadata gone) or a PDF.

    The bytes are encrypted in the blob store like audio; the name shown is made up here,
    never the tipster's file name, which can carry a name or a place.
    """

    __tablename__ = "attachments"
    __table_args__ = (Index("ix_attachments_report", "report_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"))
    # The reply it came with; None for files sent with the tip itself.
    message_id: Mapped[int | None] = mapped_column(ForeignKey("tipster_messages.id"))
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    blob_key: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    shredded_at: Mapped[datetime | None]

    @property
    def filename(self) -> str:
        extension = {"image/jpeg": "jpg", "image/png": "png", "application/pdf": "pdf"}.get(self.content_type, "bin")
        return f"attachment-{self.id}.{extension}"
