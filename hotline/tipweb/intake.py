"""What the web form does to the reports: file a tip, set its PIN, open it, add a reply.

Every step writes its timeline event and an audit entry without any address (ip=None): the
tipster is anonymous. Callers commit, then queue FINALIZE (commit first, enqueue after).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hotline.auth import audit
from hotline.followup import messages, news
from hotline.models import Report
from hotline.reports import events
from hotline.security import pins
from hotline.states import URGENCY_RANK, Channel, EventKind, ReportStatus, Urgency, rank_of
from hotline.storage.encrypted import EncryptedStore
from hotline.tipweb import uploads
from hotline.tipweb.questions import Question
from hotline.voice.calls import new_tip_number


@dataclass(frozen=True)
class Answers:
    """What the tipster filled in: text by question key, menu and digit answers by key."""

    written: dict[str, str]
    keypad: dict[str, str]


def classify_choices(questions: list[Question], keypad: dict[str, str]) -> tuple[str, list[str]]:
    """Urgency and categories from the chosen menu options' `set`, as a call's keypad gives them."""
    urgency, categories = Urgency.NORMAL.value, []
    for question in questions:
        chosen = question.sets.get(keypad.get(question.key, ""), {})
        category = chosen.get("category")
        if category and category not in categories:
            categories.append(category)
        level = chosen.get("urgency")
        if level in URGENCY_RANK and URGENCY_RANK[level] > rank_of(urgency):
            urgency = level
    return urgency, categories


def file_tip(
    session: Session,
    blobs: EncryptedStore,
    hotline_id: str,
    language: str,
    questions: list[Question],
    answers: Answers,
    files: list[uploads.CleanFile],
) -> Report:
    """Make the web tip's report, with its attachments; the caller commits."""
    urgency, categories = classify_choices(questions, answers.keypad)
    for _ in range(5):
        report = Report(
            hotline_id=hotline_id,
            tip_number=new_tip_number(),
            channel=Channel.WEB.value,
            status=ReportStatus.NEW.value,
            language=language,
            keypad=dict(answers.keypad),
            written=dict(answers.written),
            urgency=urgency,
            categories=categories,
            call_ended_at=None,
        )
        session.add(report)
        try:
            session.flush()  # the first write of the transaction: a clash loses nothing else
            break
        except IntegrityError:
            session.rollback()
    else:
        raise RuntimeError("could not allocate a unique tip number")
    events.record(
        session,
        report.id,
        EventKind.WEB_TIP_RECEIVED,
        language=language,
        questions=sorted(answers.written),
        choices=dict(answers.keypad),
        attachments=len(files),
    )
    _attach(session, blobs, report.id, files, None)
    audit.append(session, "tip.web_received", target_type="report", target_id=report.id, ip=None)
    return report


def _attach(
    session: Session, blobs: EncryptedStore, report_id: int, files: list[uploads.CleanFile], message_id: int | None
) -> None:
    if not files:
        return
    rows = uploads.store(session, blobs, report_id, files, message_id)
    detail: dict[str, Any] = {"count": len(rows), "attachments": [r.id for r in rows]}
    if message_id is not None:
        detail["message"] = message_id
    events.record(session, report_id, EventKind.ATTACHMENT_ADDED, **detail)


def find(session: Session, tip_number: str) -> Report | None:
    return session.scalar(select(Report).where(Report.tip_number == tip_number))


def set_secret(session: Session, report: Report, secret: str, kind: str) -> bool:
    """Hash and keep the tip's PIN or passphrase (normalized); False if it already has one."""
    if report.pin_hash is not None:
        return False
    # Conditional: of two choices sent at once (a double click), only the first is kept.
    kept = session.execute(
        update(Report)
        .where(Report.id == report.id, Report.pin_hash.is_(None))
        .values(pin_hash=pins.hash_pin(secret))
        .execution_options(synchronize_session=False)
    )
    if getattr(kept, "rowcount", 0) != 1:
        return False
    events.record(session, report.id, EventKind.PIN_SET, key=kind, channel=Channel.WEB.value)
    audit.append(session, "tip.pin_set", target_type="report", target_id=report.id, detail={"kind": kind}, ip=None)
    return True


def opened(session: Session, report: Report) -> tuple[list[Any], int]:
    """The tip was opened with its number and PIN: its messages, and how many were new (now read)."""
    shown = messages.to_tipster(session, report.id)
    fresh = [m.id for m in shown if m.read_at is None]
    events.record(session, report.id, EventKind.CALLED_BACK, channel=Channel.WEB.value)
    if fresh:
        messages.mark_read(session, fresh)
        events.record(session, report.id, EventKind.MESSAGES_READ, count=len(fresh))
    audit.append(session, "followup.opened", target_type="report", target_id=report.id, ip=None)
    return shown, len(fresh)


def add_reply(
    session: Session,
    blobs: EncryptedStore,
    report: Report,
    body: str,
    language: str,
    files: list[uploads.CleanFile],
) -> int:
    """The tipster's reply (text and files) onto the same report; returns the message id."""
    text = body.strip()
    message = messages.reply(session, report.id, text, language)
    events.record(session, report.id, EventKind.TIPSTER_REPLIED, message=message.id, attachments=len(files))
    _attach(session, blobs, report.id, files, message.id)
    news.tipster_added(session, report, channel=Channel.WEB.value, texts=1 if text else 0, attachments=len(files))
    audit.append(session, "tip.reply", target_type="report", target_id=report.id, ip=None)
    return message.id
