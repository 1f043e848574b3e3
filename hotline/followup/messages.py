"""Messages between investigators and the anonymous tipster (bodies sealed at rest)."""

from __future__ import annotations

import re

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hotline.models import TipsterMessage, utcnow
from hotline.states import MessageDirection

MAX_LENGTH = 500
LANGUAGES = ("en", "es")
# Characters no XML document may hold (a message is read out in TwiML) and other invisible
# controls, as pasted from a word processor or a terminal; a page or line break becomes a new line.
_BREAKS = re.compile(r"[\x0b\x0c\x85\u2028\u2029]")
_UNSPEAKABLE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff\r]")


def clean(body: str) -> str:
    """A message's text without control characters: safe to read out in TwiML and show."""
    return _UNSPEAKABLE.sub("", _BREAKS.sub("\n", body))


def thread(session: Session, report_id: int) -> list[TipsterMessage]:
    """Every message of a report, both ways, oldest first."""
    return list(
        session.scalars(select(TipsterMessage).where(TipsterMessage.report_id == report_id).order_by(TipsterMessage.id))
    )


def write(
    session: Session, report_id: int, body: str, language: str, *, author_email: str, agency_id: str
) -> TipsterMessage:
    """Add an investigator's message for the tipster; the caller checks access, audits and commits."""
    text = clean(body).strip()
    if not text:
        raise ValueError("write a message first")
    if len(text) > MAX_LENGTH:
        raise ValueError(f"a message to the tipster is at most {MAX_LENGTH} characters")
    if language not in LANGUAGES:
        raise ValueError("choose English or Spanish")
    message = TipsterMessage(
        report_id=report_id,
        direction=MessageDirection.TO_TIPSTER,
        language=language,
        body=text,
        author_email=author_email,
        agency_id=agency_id,
    )
    session.add(message)
    session.flush()
    return message


def reply(session: Session, report_id: int, body: str, language: str) -> TipsterMessage:
    """Add the tipster's reply (from /tip/check); nothing about the tipster is kept but the time."""
    message = TipsterMessage(
        report_id=report_id, direction=MessageDirection.FROM_TIPSTER, language=language, body=clean(body).strip()
    )
    session.add(message)
    session.flush()
    return message


def unheard(session: Session, report_id: int) -> list[TipsterMessage]:
    """Messages to the tipster not yet heard on the phone nor read on the web, oldest first."""
    return list(
        session.scalars(
            select(TipsterMessage)
            .where(
                TipsterMessage.report_id == report_id,
                TipsterMessage.direction == MessageDirection.TO_TIPSTER,
                TipsterMessage.heard_at.is_(None),
                TipsterMessage.read_at.is_(None),
            )
            .order_by(TipsterMessage.id)
        )
    )


def to_tipster(session: Session, report_id: int) -> list[TipsterMessage]:
    """Every message written to the tipster, oldest first."""
    return [m for m in thread(session, report_id) if m.direction == MessageDirection.TO_TIPSTER]


def mark_heard(session: Session, ids: list[int]) -> None:
    """Mark messages as heard on a call (the time only; once)."""
    if ids:
        session.execute(
            update(TipsterMessage)
            .where(TipsterMessage.id.in_(ids), TipsterMessage.heard_at.is_(None))
            .values(heard_at=utcnow())
            .execution_options(synchronize_session=False)
        )


def mark_read(session: Session, ids: list[int]) -> None:
    """Mark messages as read on the web (the time only; once)."""
    if ids:
        session.execute(
            update(TipsterMessage)
            .where(TipsterMessage.id.in_(ids), TipsterMessage.read_at.is_(None))
            .values(read_at=utcnow())
            .execution_options(synchronize_session=False)
        )
